"""Report stage 3: post-training quantization of the committed classifiers (``deepnets.report_section``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    import deepnets

    res = deepnets.report_section(quick=quick, seed=seed, out_dir=out_dir, progress=True)
    return {k: res[k] for k in ("rows", "figures", "headline", "tensor_rows", "tensor_headline", "bn_comparison", "bn_comparison_tensor", "gain_comparison", "dataset", "models", "granularity", "csv")}


def accuracy_pivot(rows: list[dict], model: str) -> tuple[list[str], list[list[Any]]]:
    """Top-1 per method (rows) and bit width (columns) for one model; the float model as its own row."""
    rs = [r for r in rows if r["model"] == model]
    bits = sorted({r["bits"] for r in rs if r["method"] != "float" and r["bits"] is not None})
    methods = list(dict.fromkeys(r["method"] for r in rs if r["method"] != "float"))
    table = []
    for m in methods:
        by_bits = {r["bits"]: r for r in rs if r["method"] == m}
        table.append([m] + [(f"{by_bits[b]['top1']:.2f} ({by_bits[b]['ratio']:.1f}x)" if b in by_bits else "-") for b in bits])
    flt = [r for r in rs if r["method"] == "float"]
    if flt:
        table.append(["float32"] + [f"{flt[0]['top1']:.2f}"] + [""] * (len(bits) - 1))
    return ["method"] + [f"{b} bits" for b in bits], table


def _comparison(rows: list[dict], title: str, lead: str, base: str, variant: str) -> list:
    if not rows:
        return []
    better = sum(r["base_top1"] > r["variant_top1"] for r in rows)
    worse = sum(r["base_top1"] < r["variant_top1"] for r in rows)
    gain = max(rows, key=lambda r: r["variant_top1"] - r["base_top1"])
    return [("h", 3, title),
            ("p", f"{lead} gives the higher top-1 in {better} of {len(rows)} (model, method, bits) pairs and the lower in "
                  f"{worse}; the largest difference in favour of {variant}: {gain['variant_top1'] - gain['base_top1']:+.2f} points "
                  f"({gain['model']}, {gain['method']}, {gain['bits']} bits)."),
            ("table", ["model", "method", "bits", f"top-1 {base}", f"top-1 {variant}", f"mean rho {base}", f"mean rho {variant}", "float top-1"],
             [[r["model"], r["method"], r["bits"], r["base_top1"], r["variant_top1"], r["base_mean_rho"], r["variant_mean_rho"],
               r["float_top1"]] for r in rows])]


def _fmt_bits(b: Any) -> str:
    return "none" if b is None else str(b)


def blocks(res: dict[str, Any]) -> list:
    rows, hl = res["rows"], res["headline"]
    n = next((r["n"] for r in rows if r.get("n")), 0)
    b: list = [("h", 2, "3. Quantizing trained classifiers without retraining")]
    b.append(("p", f"Committed {', '.join(res['models'])} on {res['dataset']} ({n:,} test images), every weight layer "
                   f"quantized {res['granularity']} by each method with no retraining (BatchNorm folded first, biases float). "
                   "Compression = float32 safetensors file size / packed file size, both measured on disk (packed codes at "
                   "the real bit width + codebooks + float biases). `torch_*` rows are PyTorch's own int8 weight quantization "
                   "on the same model and data."))
    b.append(("h", 3, "Headline: smallest bit width within 1 point of float top-1"))
    b.append(("table", ["model", "method", "bits", "top-1", "drop (points)", "compression", "mean rho"],
              [[r["model"], r["method"], _fmt_bits(r["bits"]), r["top1"], r["drop"], (f"{r['ratio']:.2f}x" if r["bits"] else "-"),
                r["mean_rho"]] for r in hl["smallest_bits_within"]]))
    ex = hl["exponential_vs_minmax"]
    if ex:
        w, t, l = hl["wins_ties_losses"]
        b.append(("p", f"Max-rho exponential levels against min-max uniform at 3 and 4 bits: {w} wins, {t} ties, {l} losses "
                       "(one test image = "
                       f"{next(iter(ex.values()))['resolution_points']:.2f} points)."))
        b.append(("table", ["model@bits", "exponential top-1", "min-max top-1", "exponential mean rho", "min-max mean rho"],
                  [[k, v["exponential_top1"], v["minmax_top1"], v["exponential_mean_rho"], v["minmax_mean_rho"]] for k, v in ex.items()]))
    th = res.get("tensor_headline")
    if th:
        w, t, l = th["wins_ties_losses"]
        b.append(("h", 3, "Per tensor (one quantizer per layer, as in the papers): smallest bit width within 1 point"))
        b.append(("p", f"The fitted methods with one quantizer per weight tensor. Max-rho exponential against min-max at 3 and 4 "
                       f"bits: {w} wins, {t} ties, {l} losses."))
        b.append(("table", ["model", "method", "bits", "top-1", "drop (points)", "compression", "mean rho"],
                  [[r["model"], r["method"], _fmt_bits(r["bits"]), r["top1"], r["drop"], (f"{r['ratio']:.2f}x" if r["bits"] else "-"),
                    r["mean_rho"]] for r in th["smallest_bits_within"]]))
        for m in res["models"]:
            h, t = accuracy_pivot(res["tensor_rows"], m)
            b.append(("h", 3, f"{m}, per tensor: top-1 (%) and measured compression"))
            b.append(("table", h, t))
    for m in res["models"]:
        h, t = accuracy_pivot(rows, m)
        b.append(("h", 3, f"{m}, per channel: top-1 (%) and measured compression per method and bit width"))
        b.append(("table", h, t))
    b += _comparison(res.get("bn_comparison") or [], "BatchNorm folded before quantizing vs quantizing the raw conv weights",
                     "Models with BatchNorm, per output channel. Folding multiplies each output channel by one number, and a "
                     "per-channel quantizer fitted to each channel alone is equivariant to that, so differences come only from "
                     "fits that are not exactly scale-equivariant (a level shape shared across channels, finite search grids, "
                     "min-max's integer zero point). Folding (the deployment case, used everywhere above)", "folded", "unfolded")
    b += _comparison(res.get("bn_comparison_tensor") or [], "The same per tensor, where folding changes what is quantized",
                     "One quantizer per weight tensor: folding puts BatchNorm's per-channel scales into the weights, so "
                     "channels of different size share one set of levels. Folded", "folded", "unfolded")
    b += _comparison(res.get("gain_comparison") or [], "Least-squares gain vs unbiased gain",
                     "The rho-optimal levels scaled by least squares (used everywhere above; the weights shrink by rho^2 in "
                     "regression) or so that E[w q] = E[w^2] (`gain=\"unbiased\"`; same codes, same rho). In a Hopfield "
                     "network the scale is irrelevant; in a classifier the float biases make it matter. Least squares",
                     "least squares", "unbiased")
    for f in res["figures"]:
        cap = "Top-1 accuracy against bits per weight, per model and method." if "bits" in Path(f).name else \
              "Top-1 drop against 1 - mean per-layer rho (log-log), one panel per model: how closely all methods share one curve tests rho as the quantity that decides the loss."
        b.append(("img", f, cap))
    b.append(("p", f"Full table (CSV): `{Path(res['csv']).name}` in the output folder."))
    return b
