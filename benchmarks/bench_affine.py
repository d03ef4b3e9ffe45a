"""Speed of theory.affine.affine_rows (blocked refinement) against the whole-layer iteration it replaced.

Usage: ``.venv/bin/python benchmarks/bench_affine.py [--bits 4] [--layers 3] [--repeats 1] [--seed 0]``

The weights are the ``--layers`` largest Conv/Linear layers of ``deepnets.zoo.resnet50_shaped(seed)``
(random weights, no download), one row per output channel, as ``quantize(model, QuantConfig("affine",
bits))`` fits them.  The baseline is the previous algorithm, kept verbatim in
tests/test_theory_affine_blocked.py; both run in this process, alternately, on the same rows, and the
outputs are checked equal bit for bit before any time is printed.  Each time is the best of
``--repeats``; the ratio old / new is what to read (the machine is shared, absolute seconds move).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ holds the reference

from deepnets.quantize import weight_layers
from deepnets.zoo import resnet50_shaped
from tests.test_theory_affine_blocked import affine_rows as reference
from theory.affine import affine_rows


def _best(fn, repeats: int):
    dt, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        dt = min(dt, time.perf_counter() - t)
    return out, dt


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.bits < 1 or a.bits > 8 or a.layers < 1 or a.repeats < 1:
        ap.error("--bits must be in 1..8, --layers and --repeats at least 1")
    torch.set_num_threads(1)  # a shared machine
    K = 2**a.bits
    with torch.no_grad():
        layers = [(n, m.weight.reshape(m.weight.shape[0], -1).numpy().copy()) for n, m in weight_layers(resnet50_shaped(a.seed))]
    layers = sorted(layers, key=lambda nw: -nw[1].size)[: a.layers]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"{stamp}; command: .venv/bin/python benchmarks/bench_affine.py {argv_s}".rstrip() + f"; load {os.getloadavg()[0]:.1f}")
    tot_old = tot_new = 0.0
    for name, rows in layers:
        (t_new, lv_new), dt_new = _best(lambda r=rows: affine_rows(r, K), a.repeats)
        (t_old, lv_old), dt_old = _best(lambda r=rows: reference(r, K), a.repeats)
        if not (np.array_equal(t_new, t_old) and np.array_equal(lv_new, lv_old)):
            raise SystemExit(f"{name}: the blocked fit differs from the reference")
        tot_old, tot_new = tot_old + dt_old, tot_new + dt_new
        print(f"{name} {rows.shape[0]}x{rows.shape[1]}, {a.bits} bits: old {dt_old:.2f} s, new {dt_new:.2f} s, "
              f"old / new = {dt_old / dt_new:.2f} (bitwise equal)")
    print(f"{len(layers)} largest layers: old {tot_old:.2f} s, new {tot_new:.2f} s, old / new = {tot_old / tot_new:.2f}")


if __name__ == "__main__":
    main()
