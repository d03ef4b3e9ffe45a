"""How much top-1 moves between near-identical grids of ONE layer: the noise floor of a peers-table cell.

Usage: ``python benchmarks/grid_spread.py [--model mlp] [--layer layers.5] [--bits 4] [--granularity channel]
[--n 10000] [--span 0.03] [--count 13] [--recipes affine+unbiased+fp16 ...] [--json docs/grid_spread.json]``

Every Conv/Linear weight of the committed ``--model`` is quantized with corrquant's min-max grid
(``minmax+fp16``, as in ``benchmarks/bench_peers.py``), in the same groups as there.  Then only
``--layer`` is replaced by ``--count`` min-max grids whose range is scaled by ``1 + d``, ``d`` evenly
from ``-span`` to ``+span`` (theory's ``minmax`` grid of ``(1 + d) w`` applied to ``w``: step
``(max - min)(1 + d) / (K - 1)``, the same integer zero point, the nearest level with the ends
clipped: the same kind of grid, rho within a fraction of a percent of min-max's), and
top-1 is taken on the first ``--n`` Fashion-MNIST test images.  The spread of those accuracies is
how far the particular rounding errors of that layer move top-1 when rho hardly moves; a
difference between two recipes inside it is a tie that the test set's paired standard error does
not see (that error is over images, for one fixed set of quantized weights).  Each of
``--recipes`` (``bench_peers`` syntax) runs on every layer, and again with ``--layer`` on the
min-max grid, to say which layer carries a difference.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import sys
import time

import numpy as np
import torch

import deepnets
import theory
from bench_peers import correct, layer_plan, paired_se, parse_tiers, run_corrquant, write_record


def scaled_minmax(w: np.ndarray, bits: int, g: int | None, d: float) -> np.ndarray:
    """``w`` on theory's min-max grid of ``(1 + d) w`` (the range and step scaled by ``1 + d``, the same integer
    zero point), per output channel (``g`` None) or in groups of ``g``: the nearest level, the ends clipped."""
    gran = theory.PerChannel(0) if g is None else theory.PerGroup(g)
    w64 = w.astype(np.float64)
    return theory.Recipe("minmax", bits).fit((1.0 + d) * w64, gran)(w64).astype(np.float32)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mlp", help="committed model (deepnets.MODELS; default mlp)")
    ap.add_argument("--layer", default="layers.5", help="the layer whose grid is varied (default layers.5, the MLP's classifier)")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--granularity", default="channel", help="channel or group:G (as bench_peers)")
    ap.add_argument("--n", type=int, default=10_000, help="test images (default all 10,000)")
    ap.add_argument("--span", type=float, default=0.03, help="largest relative change of the range (default 0.03)")
    ap.add_argument("--count", type=int, default=13, help="grids (default 13)")
    ap.add_argument("--recipes", nargs="*", default=["affine+unbiased+fp16", "lloyd_max+unbiased+fp16+bc"])
    ap.add_argument("--json", default=None, help="write the record here (docs/grid_spread.json)")
    a = ap.parse_args(argv)
    if a.count < 2 or not 0 < a.span < 0.5:
        ap.error("--count must be at least 2 and --span in (0, 0.5)")
    torch.set_num_threads(1)
    start = time.perf_counter()
    x, y = deepnets.test_subset("fashion_mnist", a.n)
    model = deepnets.load_pretrained(a.model, "fashion_mnist")
    plan, _ = layer_plan(model, a.granularity)
    layer = next((p for p in plan if p[0] == a.layer), None)
    if layer is None:
        ap.error(f"--layer {a.layer!r} is not a Conv/Linear layer of {a.model}: {[p[0] for p in plan]}")
    shape = tuple(x.shape[1:])
    base, _, _ = run_corrquant(model, plan, (parse_tiers("minmax+fp16", a.bits), False, shape))
    hit0 = correct(base, x, y)
    w = dict(model.named_parameters())[f"{a.layer}.weight"].detach().cpu().numpy()
    grids = []
    for d in np.linspace(-a.span, a.span, a.count):
        qw = scaled_minmax(w, a.bits, layer[2], float(d))
        m = copy.deepcopy(base)
        with torch.no_grad():
            dict(m.named_parameters())[f"{a.layer}.weight"].copy_(torch.from_numpy(qw))
        top1 = 100.0 * float(correct(m, x, y).float().mean())
        grids.append({"d": float(d), "rho": float(theory.rho(w.astype(np.float64), qw)), "top1": top1})
        print(f"range x {1 + d:.3f}: rho {grids[-1]['rho']:.5f} top1 {top1:.2f}", flush=True)
    acc = [g["top1"] for g in grids]
    recipes = []
    for r in a.recipes:
        for where in ("every layer", f"every layer but {a.layer} (min-max there)"):
            override = None if where == "every layer" else {a.layer: parse_tiers("minmax+fp16", a.bits)}
            qm, _, _ = run_corrquant(model, plan, (parse_tiers(r, a.bits), "+bc" in r, shape), override)
            hit = correct(qm, x, y)
            rho = theory.rho(w.astype(np.float64), dict(qm.named_parameters())[f"{a.layer}.weight"].detach().numpy())
            recipes.append({"recipe": r, "where": where, "top1": 100.0 * float(hit.float().mean()),
                            "diff_vs_minmax": 100.0 * float(hit.float().mean() - hit0.float().mean()),
                            "paired_se": paired_se(hit, hit0), "layer_rho": float(rho)})
            print(f"{r} on {where}: top1 {recipes[-1]['top1']:.2f}", flush=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    record = {"command": "python benchmarks/grid_spread.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": now, "seconds": round(time.perf_counter() - start, 1), "n": int(y.shape[0]), "model": a.model,
              "layer": a.layer, "bits": a.bits, "granularity": a.granularity,
              "float_top1": 100.0 * float(correct(model, x, y).float().mean()),
              "minmax_top1": 100.0 * float(hit0.float().mean()), "grids": grids,
              "spread": {"mean": statistics.mean(acc), "sd": statistics.stdev(acc), "min": min(acc), "max": max(acc)},
              "recipes": recipes}
    s = record["spread"]
    md = (f"{a.model} {a.granularity} {a.bits} bits, {record['n']:,} images: min-max everywhere {record['minmax_top1']:.2f}; "
          f"{a.count} min-max grids of {a.layer} (range x 1 +- {a.span}): top-1 {s['min']:.2f}..{s['max']:.2f}, "
          f"mean {s['mean']:.2f}, sd {s['sd']:.2f}\n"
          + "".join(f"- {r['recipe']} on {r['where']}: {r['top1']:.2f} ({r['diff_vs_minmax']:+.2f} +- {r['paired_se']:.2f}; "
                    f"rho of {a.layer} {r['layer_rho']:.5f})\n" for r in recipes))
    write_record(record, md, a.json, None)
    return record


if __name__ == "__main__":
    main()
