"""Time and peak memory to quantize and pack a 25M-parameter ResNet-50-shaped model, per method.

Usage: ``.venv/bin/python benchmarks/bench_deepnets.py [--bits 4] [--seed 0] [--methods ...]``

Random weights (no download): ``deepnets.zoo.resnet50_shaped(seed)``, 25,557,032 parameters.  Every method runs per output channel at ``--bits`` (sign and
ternary at 1 and 2 bits) in ONE process, and times are printed as ratios to min-max
round-to-nearest on the same model in the same run (absolute times depend on the machine;
ratios within one run do much less).  Peak memory is
``tracemalloc``'s peak of Python and numpy allocations during the step (torch tensor
storage is not traced; the model itself is ~100 MB of float32), taken from a second,
traced call so that tracing does not slow the timed one.  Save/load throughput
is packed-file MB per second.  Each time is the best of ``--repeats`` runs.  Torch threads are set to 1 (shared machine).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import tempfile
import time
import tracemalloc

import torch

from deepnets.baselines import int8_per_channel
from deepnets.quantize import FIXED_BITS, METHODS, QuantConfig, quantize
from deepnets.storage import load, save, save_float
from deepnets.zoo import resnet50_shaped


def _measure(fn, repeats: int = 1):
    """(result, best-of-``repeats`` seconds untraced, tracemalloc peak MiB of one more, traced call)."""
    dt = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        dt = min(dt, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=4, help="bits per weight for the K-level methods (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per step; the minimum is reported (default 2)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), help="methods to time (default all; minmax always runs first)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = resnet50_shaped(a.seed)
    n = sum(p.numel() for p in model.parameters())
    methods = ["minmax"] + [m for m in a.methods if m != "minmax"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fbytes = save_float(model, os.path.join(tmp, "float.safetensors"))
        for m in methods:
            bits = FIXED_BITS.get(m, a.bits)
            cfg = QuantConfig(m, bits, "channel")
            (qm, _), tq, mq = _measure(lambda cfg=cfg: quantize(model, cfg), a.repeats)
            path = os.path.join(tmp, f"{m}.safetensors")
            sizes, ts, ms = _measure(lambda qm=qm, path=path: save(qm, path), a.repeats)
            loaded, tl, ml = _measure(lambda path=path: load(path, model), a.repeats)
            x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                assert torch.equal(loaded(x), qm(x)), f"{m}: load is not bitwise exact"
            mb = sizes["file"] / 2**20
            rows.append(dict(method=m, bits=bits, tq=tq, mq=mq, ts=ts, ms=ms, tl=tl, save_mbs=mb / ts, load_mbs=mb / tl,
                             mb=mb, ratio=fbytes / sizes["file"]))
            print(f"done {m}: quantize {tq:.1f}s", file=sys.stderr, flush=True)
            del qm, loaded
        (_, _, tsize), tt, mt = _measure(lambda: int8_per_channel(model, tmp), a.repeats)
    base = rows[0]
    print(f"# {n / 1e6:.1f}M-parameter ResNet-50-shaped model, per-channel, float32 file {fbytes / 2**20:.1f} MiB")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, 1 torch thread, "
          f"{os.cpu_count()} CPUs (shared), best of {a.repeats}")
    print("| method | bits | quantize s | x minmax | peak MiB (tracemalloc) | x minmax | pack+save s | save MB/s | load MB/s | file MiB | ratio vs float32 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['bits']} | {r['tq']:.1f} | {r['tq'] / base['tq']:.2f} | {r['mq']:.0f} | {r['mq'] / base['mq']:.2f} | "
              f"{r['ts']:.2f} | {r['save_mbs']:.1f} | {r['load_mbs']:.1f} | {r['mb']:.1f} | {r['ratio']:.2f} |")
    print(f"| torch_int8_channel (torch.ao observer + fake-quant, incl. save) | 8 | {tt:.1f} | {tt / base['tq']:.2f} | {mt:.0f} | "
          f"{mt / base['mq']:.2f} | | | | {tsize / 2**20:.1f} | {fbytes / tsize:.2f} |")


if __name__ == "__main__":
    main()
