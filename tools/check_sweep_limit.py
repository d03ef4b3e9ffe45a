"""Does the study's sweep limit decide anything?  The stability protocol stops a probe after ``max_sweeps``
(100 in the committed studies); a probe still flipping then is scored by its overlap at that moment.  This
check runs the same networks with the limit raised and records, per (N, alpha), the retrieved fraction under
both limits and the largest overlap of any probe that hit the lower one.

``python tools/check_sweep_limit.py --out docs/hopfield_sweep_limit.json``
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hopfield.network import hebb_counts, probe_network


def check(N: int, alpha: float, key: jax.Array, low: int, high: int, m_star: float) -> dict:
    p = int(round(alpha * N))
    kx, kd = jax.random.split(key)
    xi = jnp.where(jax.random.bernoulli(kx, 0.5, (p, N)), 1.0, -1.0).astype(jnp.float32)
    C = hebb_counts(xi)
    r = {ms: probe_network(C, 0, p, xi, key=kd, max_sweeps=ms) for ms in (low, high)}
    at = r[low]["status"] != 0
    return dict(N=N, alpha=alpha, p=p, retrieved_low=float(np.mean(r[low]["m"] >= m_star)),
                retrieved_high=float(np.mean(r[high]["m"] >= m_star)), at_limit_low=float(at.mean()),
                at_limit_high=float(np.mean(r[high]["status"] != 0)),
                m_max_at_limit=float(r[low]["m"][at].max()) if at.any() else None,
                same_final_states_elsewhere=bool(np.array_equal(np.asarray(r[low]["states"])[~at],
                                                                np.asarray(r[high]["states"])[~at])))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.145, 0.15, 0.155])
    ap.add_argument("--low", type=int, default=100)
    ap.add_argument("--high", type=int, default=1000)
    ap.add_argument("--m-star", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    t = time.perf_counter()
    rows = [check(N, al, jax.random.fold_in(jax.random.fold_in(jax.random.key(a.seed), N), int(al * 1e4)), a.low, a.high,
                  a.m_star) for N in a.sizes for al in a.alphas]
    rec = dict(command="python tools/check_sweep_limit.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
               date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               low=a.low, high=a.high, m_star=a.m_star, seconds=round(time.perf_counter() - t, 1), rows=rows)
    with open(a.out, "w") as f:
        json.dump(rec, f, indent=1)
    for r in rows:
        print(r)
    return rec


if __name__ == "__main__":
    main()
