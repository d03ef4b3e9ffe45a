"""The two shape searches side by side on the committed models: top-1, rho and time, exact vs histogram.

Usage: ``.venv/bin/python benchmarks/bench_search.py [--models mlp vgg resnet mobilenet] [--bits 2 3 4]
[--methods uniform exponential lloyd_max ternary affine] [--n 10000] [--json docs/search.json]``

For every committed model (``deepnets.load_pretrained(model, "fashion_mnist")``), bit width and
method, ``deepnets.quantize`` runs per output channel with ``search="exact"`` and with
``search="histogram"`` (``theory.Recipe``) in the same process, on the same weights; both are
evaluated on the same first ``--n`` Fashion-MNIST test images.  Reported per pair: top-1 of each,
their difference with the paired standard error ``sqrt(b + c - (b - c)**2 / n) / n`` (b, c: images
only one of the two gets right), the parameter-weighted mean rho of the quantized layers (the
report's exact rho of the real weights) and the quantize wall-clock of each (1 torch thread).
The histogram search reads tensors of at least ``theory.fitting.HIST_MIN_WEIGHTS`` weights as
histograms; smaller ones are searched exactly by both, so the column "histogram layers" says how
many weights of each model the option touches at all.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import torch

import deepnets
import theory
from deepnets.quantize import weight_layers

from bench_peers import correct, paired_se, write_record


def _mean_rho(report) -> float:
    live = [r for r in report if not r.skipped]
    return sum(r.rho * r.params for r in live) / sum(r.params for r in live)


def run(a) -> dict:
    torch.set_num_threads(1)
    x, y = deepnets.test_subset("fashion_mnist", a.n)
    rows = []
    for mname in a.models:
        model = deepnets.load_pretrained(mname, "fashion_mnist")
        sizes = [m.weight.numel() for _, m in weight_layers(model)]
        touched = sum(s for s in sizes if s >= theory.fitting.HIST_MIN_WEIGHTS) / sum(sizes)
        for bits in a.bits:
            for method in a.methods:
                if method == "ternary" and bits != 2:
                    continue
                out = {}
                for search in ("exact", "histogram"):
                    recipe = theory.Recipe(method, None if method == "ternary" else bits, search=search)
                    t = time.perf_counter()
                    qm, report = deepnets.quantize(model, deepnets.QuantConfig(recipe, granularity="channel"))
                    dt = time.perf_counter() - t
                    out[search] = (correct(qm, x, y), _mean_rho(report), dt)
                (ce, re, te), (ch, rh, th) = out["exact"], out["histogram"]
                row = {"model": mname, "bits": 2 if method == "ternary" else bits, "method": method,
                       "hist_weights": round(touched, 3), "top1_exact": 100.0 * float(ce.float().mean()),
                       "top1_hist": 100.0 * float(ch.float().mean()), "se": paired_se(ch, ce),
                       "rho_exact": re, "rho_hist": rh, "s_exact": round(te, 3), "s_hist": round(th, 3)}
                row["diff"] = row["top1_hist"] - row["top1_exact"]
                rows.append(row)
                print(f"{mname:9s} {row['bits']}b {method:12s} top1 {row['top1_exact']:6.2f} -> {row['top1_hist']:6.2f} "
                      f"({row['diff']:+.2f} +- {row['se']:.2f})  rho {re:.6f} -> {rh:.6f}  {te:.2f}s -> {th:.2f}s", flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    return {"date": f"{stamp:%Y-%m-%d %H:%M} UTC", "n": int(y.shape[0]),
            "command": "python benchmarks/bench_search.py " + " ".join(sys.argv[1:]), "rows": rows}


def render(rec: dict) -> str:
    lines = [f"Exact vs histogram shape search, per output channel, first {rec['n']} Fashion-MNIST test images; "
             f"{rec['date']}; command `{rec['command']}`.", "",
             "| model | bits | method | weights read as histograms | top-1 exact | top-1 histogram | diff +- paired SE | "
             "mean rho exact | mean rho histogram | quantize s exact | quantize s histogram |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rec["rows"]:
        lines.append(f"| {r['model']} | {r['bits']} | {r['method']} | {100 * r['hist_weights']:.1f}% | {r['top1_exact']:.2f} | "
                     f"{r['top1_hist']:.2f} | {r['diff']:+.2f} +- {r['se']:.2f} | {r['rho_exact']:.6f} | {r['rho_hist']:.6f} | "
                     f"{r['s_exact']:.2f} | {r['s_hist']:.2f} |")
    d = [abs(r["diff"]) / r["se"] for r in rec["rows"] if r["se"] > 0]
    lines += ["", f"Largest |diff| / SE: {max(d):.1f} over {len(rec['rows'])} pairs; "
              f"{sum(x > 2 for x in d)} beyond 2 SE." if d else ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(deepnets.MODELS))
    ap.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--methods", nargs="+", default=["uniform", "exponential", "lloyd_max", "ternary", "affine"])
    ap.add_argument("--n", type=int, default=10000, help="test images (default all 10,000)")
    ap.add_argument("--json", default=None, help="write the record here")
    ap.add_argument("--markdown", default=None, help="write the table here")
    a = ap.parse_args(argv)
    rec = run(a)
    write_record(rec, render(rec), a.json, a.markdown)
    return rec


if __name__ == "__main__":
    main()
