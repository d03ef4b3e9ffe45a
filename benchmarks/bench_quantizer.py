"""Benchmark theory.Quantizer and theory.fit against plain baselines in the same run.

1. Applying a 16-level quantizer (``q(x)`` and ``q.encode(x)``) to 10^7
   float32 values with numpy, JAX (jitted, ``block_until_ready``) and torch,
   each as a ratio to the plain primitive on the same data: ``np.searchsorted``
   + gather, ``jnp.searchsorted`` + gather (jitted), ``torch.bucketize`` +
   gather.  Best of several repeats, run alternately with the baseline (the
   machine is shared, so load hits both alike); a ratio near 1 means the Quantizer adds
   no overhead over the primitive it wraps.
2. Fitting each method of ``theory.METHODS`` (``fit(x, method, bits=4)``) to
   10^7 Gaussian weights, as a ratio to ``np.sort`` of the same data (fitting
   on data sorts once, then evaluates rho in O(K log n) per candidate).

Usage: ``.venv/bin/python benchmarks/bench_quantizer.py [--n 10000000] [--repeats 7] [--write docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time

import numpy as np


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def paired(fn, baseline, repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` for ``fn`` and ``baseline``, run alternately so both see the same machine load."""
    a, b = [], []
    for _ in range(repeats):
        a.append(_time(fn))
        b.append(_time(baseline))
    return min(a), min(b)


def bench_apply(x: np.ndarray, repeats: int) -> list[tuple[str, float, float]]:
    import jax
    import jax.numpy as jnp
    import torch

    import theory

    q = theory.make("uniform", 16, "gaussian")
    t32, lv32 = q.thresholds.astype(np.float32), q.levels.astype(np.float32)
    rows = []

    # numpy
    rows.append(("numpy q(x)", *paired(lambda: q(x), lambda: lv32[np.searchsorted(t32, x, side="right")], repeats)))
    rows.append(("numpy q.encode(x)", *paired(lambda: q.encode(x), lambda: np.searchsorted(t32, x, side="right").astype(np.uint8), repeats)))

    # JAX, jitted
    xj = jax.device_put(jnp.asarray(x))
    tj, lj = jnp.asarray(t32), jnp.asarray(lv32)
    fq, fe = jax.jit(q), jax.jit(q.encode)
    fb = jax.jit(lambda v: lj[jnp.searchsorted(tj, v, side="right")])
    fbe = jax.jit(lambda v: jnp.searchsorted(tj, v, side="right").astype(jnp.int32))
    for f in (fq, fe, fb, fbe):
        f(xj).block_until_ready()  # compile outside the timing
    rows.append(("JAX jit(q)(x)", *paired(lambda: fq(xj).block_until_ready(), lambda: fb(xj).block_until_ready(), repeats)))
    rows.append(("JAX jit(q.encode)(x)", *paired(lambda: fe(xj).block_until_ready(), lambda: fbe(xj).block_until_ready(), repeats)))

    # torch
    xt = torch.from_numpy(x)
    tt, lt = torch.from_numpy(t32.copy()), torch.from_numpy(lv32.copy())
    rows.append(("torch q(x)", *paired(lambda: q(xt), lambda: lt[torch.bucketize(xt, tt, right=True)], repeats)))
    rows.append(("torch q.encode(x)", *paired(lambda: q.encode(xt), lambda: torch.bucketize(xt, tt, right=True, out_int32=True), repeats)))
    return rows


def bench_fit(x: np.ndarray, repeats: int) -> list[tuple[str, float, float]]:
    import theory

    rows = []
    for method in theory.METHODS:
        rows.append((method, *paired(lambda method=method: theory.fit(x, method, bits=4), lambda: np.sort(x), max(2, repeats // 2))))
    return rows


def table(n: int, apply_rows, fit_rows, command: str, load: tuple[float, float]) -> str:
    import jax
    import torch

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{stamp}, {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average {load[0]:.1f} at start, "
        f"{load[1]:.1f} at end), Python {platform.python_version()}, numpy {np.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__}; n = {n:.0e} float32 values, 16-level quantizer, best of repeats run alternately "
        "with the baseline. On this loaded machine, ratios within about 0.3 of 1 are run-to-run noise: "
        "the Quantizer calls the same primitive as its baseline.",
        "",
        f"Command: `{command}`",
        "",
        "| operation | corrquant (ms) | plain baseline (ms) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, t, b in apply_rows:
        lines.append(f"| {name} | {1e3 * t:.1f} | {1e3 * b:.1f} | {t / b:.2f} |")
    lines += [
        "",
        "Baselines: `np.searchsorted` + gather, jitted `jnp.searchsorted` + gather, `torch.bucketize` + gather.",
        "",
        f"| fit(x, method, bits=4) on {n:.0e} Gaussian weights | time (s) | np.sort(x) (s) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for method, t, t_sort in fit_rows:
        lines.append(f"| {method} | {t:.3g} | {t_sort:.3g} | {t / t_sort:.2g} |")
    return "\n".join(lines) + "\n"


def write_section(path: str, body: str) -> None:
    """Replace (or append) the ``## Quantizer`` section of ``path``, leaving other sections alone."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    section = "## Quantizer\n\n" + body
    pattern = re.compile(r"^## Quantizer\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", default=None, help="Markdown file whose '## Quantizer' section is replaced")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    x = np.random.default_rng(args.seed).standard_normal(args.n).astype(np.float32)
    apply_rows = bench_apply(x, args.repeats)
    fit_rows = bench_fit(x, args.repeats)
    command = ".venv/bin/python " + " ".join(["benchmarks/bench_quantizer.py"] + sys.argv[1:])
    out = table(args.n, apply_rows, fit_rows, command, (load0, os.getloadavg()[0]))
    print(out)
    if args.write:
        write_section(args.write, out)


if __name__ == "__main__":
    main()
