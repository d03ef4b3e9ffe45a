"""Report stage 3: post-training quantization of the committed classifiers (:func:`deepnets.sweep`).

The stage picks the models and data, sets the sizes (:data:`SIZES`), runs the sweeps, writes
the table and figures, and renders them.  Test images: the first ``n_test`` of the test split
(:func:`deepnets.data.test_subset`, also the bridge stage's), accuracies in percent.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

#: The sizes of the stage, per mode.  ``n_test``: test images (None: all); ``bits``: widths of the main
#: sweep (per channel, every method); ``tensor_bits``: the per-tensor sweep; ``bn_bits``: BatchNorm folded vs
#: not; ``unbiased_bits``: the gain comparison; ``option_bits``: the recipe options of issue 13 (:data:`OPTIONS`,
#: per channel and per group); ``models``: "first and one with BatchNorm" or "all".
SIZES = {
    "quick": {"n_test": 1000, "bits": (2, 3, 4, 8), "tensor_bits": (3, 4), "bn_bits": (3, 4), "unbiased_bits": (3,),
              "option_bits": (2, 3), "models": "first_and_bn"},
    "full": {"n_test": None, "bits": tuple(range(1, 9)), "tensor_bits": tuple(range(2, 9)), "bn_bits": (3, 4, 5),
             "unbiased_bits": (3, 4), "option_bits": (2, 3, 4), "models": "all"},
}

#: The recipe options swept per channel and per group (issue 13): methods, the sweep's keyword options, granularities.
#: ``affine`` with the gain about the group mean and the lean float16 codebook (one scale and one shift per group,
#: the bits of the asymmetric toolkits), beside Lloyd-Max with one shared shape (one scale per group).
OPTIONS = {"methods": ("affine", "lloyd_max"), "kw": {"gain": "unbiased", "codebook": "float16"},
           "granularity": ("channel", "group:64")}

#: The fitted methods (the ones with a rho-optimal or min-max fit, no fixed width).
FITTED = ("minmax", "uniform", "exponential", "lloyd_max")

KEEP = ("rows", "figures", "headline", "tensor_rows", "tensor_headline", "bn_comparison", "bn_comparison_tensor",
        "gain_comparison", "option_rows", "option_headline", "dataset", "models", "granularity", "csv")


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    res = section(quick=quick, out_dir=out_dir, progress=True)
    return {k: res[k] for k in KEEP}


def _has_bn(model: Any) -> bool:
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _has_weights(zoo_models: Any, name: str, dataset: str) -> bool:
    try:
        zoo_models.load_pretrained(name, dataset)
        return True
    except (ValueError, FileNotFoundError, OSError, KeyError):
        return False


def pick_models(quick: bool) -> tuple[str, list[str]]:
    """Fashion-MNIST when its data and committed weights are present, else the digits; the models with weights
    (quick: the first and, where there is one, a model with BatchNorm)."""
    from deepnets import data, models as zoo_models

    dataset, names = "digits", []
    try:
        data.get_dataset("fashion_mnist", "test")
        names = [n for n in zoo_models.MODELS if _has_weights(zoo_models, n, "fashion_mnist")]
        dataset = "fashion_mnist" if names else "digits"
    except (ValueError, FileNotFoundError, OSError):
        pass
    if dataset == "digits":
        names = [n for n in zoo_models.MODELS if _has_weights(zoo_models, n, "digits")]
    if not names:
        raise ValueError(f"no committed weights for any of {list(zoo_models.MODELS)} on fashion_mnist or digits")
    if SIZES["quick" if quick else "full"]["models"] == "first_and_bn":
        with_bn = [n for n in names[1:] if _has_bn(zoo_models.load_pretrained(n, dataset))]
        names = names[:1] + (with_bn[:1] or names[1:2])
    return dataset, names


def _finished(sweep: Any) -> list[dict]:
    """The rows as dicts; an interrupted sweep stops the report (Ctrl-C keeps its meaning)."""
    if sweep.interrupted:
        raise KeyboardInterrupt
    return [r.to_dict() for r in sweep]


def section(quick: bool = True, out_dir: str | os.PathLike = "out/deepnets", progress: bool = False) -> dict:
    """Sweep the committed models, write table and figures, and summarize.

    Nothing here is random (quantization and evaluation are deterministic), so there is no seed.

    **Returns:** ``{"rows", "csv", "markdown_path", "figures", "headline", "tensor_rows", "tensor_headline",
    "bn_comparison", "bn_comparison_tensor", "gain_comparison", "dataset", "models", "granularity"}``
    (rows as dicts, :meth:`deepnets.SweepRow.to_dict`); ``tensor_rows``: the fitted methods with one
    quantizer per weight tensor; the comparisons (:func:`compare_rows`) pair the main rows (per channel,
    BatchNorm folded, least-squares gain) with BatchNorm unfolded (models that have BatchNorm), the
    same per tensor (folded vs unfolded), and the main rows with ``gain="unbiased"``.
    """
    import deepnets
    from deepnets import models as zoo_models
    from deepnets.baselines import BASELINES
    from deepnets.plots import per_model_figure, plot_accuracy_vs_bits, plot_accuracy_vs_rho

    if not isinstance(quick, bool):
        raise ValueError(f"quick must be a bool, got {quick!r}")
    size = SIZES["quick" if quick else "full"]
    os.makedirs(out_dir, exist_ok=True)
    dataset, names = pick_models(quick)
    n = size["n_test"]

    def sweep(models: Any, methods: Any, bits: Any, granularity: str, **kw: Any) -> list[dict]:
        kw.setdefault("fold_bn", True)  # the deployment case; deepnets.sweep folds only when asked
        return _finished(deepnets.sweep(models, list(methods), list(bits), dataset, granularity, limit=n,
                                        progress=progress, **kw))

    # affine runs in the option sweep below, with the gain it is meant for (keeps this stage's time)
    rows = sweep(names, [m for m in deepnets.METHODS if m != "affine"] + list(BASELINES), size["bits"], "channel")
    # BatchNorm folded (the deployment case, above) against quantizing the raw conv weights
    bn_models = {m: zoo_models.load_pretrained(m, dataset) for m in names}
    bn_models = {m: net for m, net in bn_models.items() if _has_bn(net)}
    # one quantizer per weight tensor (per layer, as in Malsagov et al. 2019 and Pushkareva & Karandashev 2020)
    tensor_rows = sweep(names, FITTED, size["tensor_bits"], "tensor")
    bn_bits = list(size["bn_bits"])
    bn_runs = {(g, fold): sweep(bn_models, FITTED, bn_bits, g, fold_bn=fold)
               for g, fold in (("channel", False), ("tensor", False))} if bn_models else {}
    bn_runs[("tensor", True)] = [r for r in tensor_rows if r["model"] in bn_models and r["bits"] in bn_bits]
    # levels scaled so that E[w q] = E[w^2] (no rho^2 shrink) against the least-squares scale above
    unbiased = sweep(names, FITTED, size["unbiased_bits"], "channel", gain="unbiased")
    # the recipe options (issue 13) per channel and per group: smallest bits within 1 point for each granularity
    option_runs = {g: sweep(names, OPTIONS["methods"], size["option_bits"], g, **OPTIONS["kw"]) for g in OPTIONS["granularity"]}
    csv_path = deepnets.write_csv(rows, os.path.join(out_dir, "deepnets_sweep.csv"))
    md_path = os.path.join(out_dir, "deepnets_sweep.md")
    Path(md_path).write_text(to_markdown(rows))
    figs = [per_model_figure(rows, plot_accuracy_vs_bits, os.path.join(out_dir, "deepnets_accuracy_vs_bits.png")),
            per_model_figure(rows, plot_accuracy_vs_rho, os.path.join(out_dir, "deepnets_accuracy_vs_rho.png"))]
    return {"rows": rows, "csv": csv_path, "markdown_path": md_path, "figures": figs,
            "headline": headline(rows), "tensor_rows": tensor_rows, "tensor_headline": headline(tensor_rows),
            "bn_comparison": compare_rows(rows, bn_runs.get(("channel", False), [])),
            "bn_comparison_tensor": compare_rows(bn_runs.get(("tensor", True), []), bn_runs.get(("tensor", False), [])),
            "gain_comparison": compare_rows(rows, unbiased),
            "option_rows": [r for g in OPTIONS["granularity"] for r in option_runs[g]],
            "option_headline": {g: smallest_bits_within_rows(option_runs[g]) for g in OPTIONS["granularity"]},
            "dataset": dataset, "models": names,
            "granularity": "channel"}


# -- summaries and rendering -----------------------------------------------------------------
def headline(rows: list[dict], points: float = 1.0) -> dict:
    """Smallest bits within ``points`` per (model, method), and max-rho exponential vs minmax at 3-4 bits.

    **Returns:** ``{"smallest_bits_within", "exponential_vs_minmax", "wins_ties_losses",
    "exponential_beats_minmax_at_3_4_bits"}``.  Each comparison carries both top-1s, both mean
    rhos and ``resolution_points = 100 / n`` (one test image), since on small test sets a
    difference of one image decides "beats"; the overall flag is True only if exponential's
    top-1 is strictly higher in every (model, 3|4 bits) pair.
    """
    from deepnets import smallest_bits_within

    best = smallest_bits_within(rows, points)
    beats = {}
    for r in rows:
        if r["method"] == "exponential" and r["bits"] in (3, 4):
            mm = [s for s in rows if s["model"] == r["model"] and s["method"] == "minmax" and s["bits"] == r["bits"]]
            if mm:
                m = mm[0]
                beats[f"{r['model']}@{r['bits']}bits"] = {
                    "exponential_top1": r["top1"], "minmax_top1": m["top1"], "beats": r["top1"] > m["top1"],
                    "exponential_mean_rho": r["mean_rho"], "minmax_mean_rho": m["mean_rho"],
                    "resolution_points": 100.0 / r["n"] if r.get("n") else math.nan,
                }
    d = [v["exponential_top1"] - v["minmax_top1"] for v in beats.values()]
    wtl = [sum(x > 0 for x in d), sum(x == 0 for x in d), sum(x < 0 for x in d)]
    return {"smallest_bits_within": best, "exponential_vs_minmax": beats, "wins_ties_losses": wtl,
            "exponential_beats_minmax_at_3_4_bits": bool(beats) and all(v["beats"] for v in beats.values())}


def smallest_bits_within_rows(rows: list[dict], points: float = 1.0) -> list[dict]:
    """:func:`deepnets.smallest_bits_within` of one sweep, each row with the sweep's granularity and options."""
    from deepnets import smallest_bits_within

    gran = next((r["granularity"] for r in rows if r["method"] != "float"), None)
    return [{**r, "granularity": gran, "options": dict(OPTIONS["kw"])} for r in smallest_bits_within(rows, points)]


def compare_rows(base: list[dict], variant: list[dict]) -> list[dict]:
    """Pair rows of the same (model, method, bits) from two sweeps: top-1 and mean rho of each.

    **Returns:** rows ``{"model", "method", "bits", "base_top1", "variant_top1", "base_mean_rho",
    "variant_mean_rho", "float_top1"}``, in the order of ``variant``.
    """
    out = []
    for v in variant:
        if v["method"] == "float":
            continue
        b = [r for r in base if (r["model"], r["method"], r["bits"]) == (v["model"], v["method"], v["bits"])]
        if b:
            out.append({"model": v["model"], "method": v["method"], "bits": v["bits"], "base_top1": b[0]["top1"],
                        "variant_top1": v["top1"], "base_mean_rho": b[0]["mean_rho"], "variant_mean_rho": v["mean_rho"],
                        "float_top1": v["float_top1"]})
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.5f}" if abs(v) < 1.5 else f"{v:.2f}"
    return "" if v is None else str(v)


#: The columns of the sweep's Markdown table.
MD_COLUMNS = ["model", "method", "bits", "granularity", "bn_folded", "top1", "top5", "drop", "mean_rho", "packed_bytes",
              "float_bytes", "ratio", "bound_ratio"]


def to_markdown(rows: list[dict], columns: list[str] | None = None) -> str:
    """A Markdown table of sweep rows (dicts), default columns :data:`MD_COLUMNS`."""
    cols = columns or MD_COLUMNS
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


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
