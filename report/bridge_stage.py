"""Report stage 4: the Hopfield result used to predict and allocate bits for classifiers (:mod:`deepnets.bridge`).

The stage sets the sizes (:data:`SIZES`), picks models and data, runs
:func:`deepnets.bridge.analyse_model` per model, draws the figures and renders the numbers.
Test images: the first ``n_test`` of the test split (:func:`deepnets.data.test_subset`, the
deepnets stage's definition); calibration images: a seeded draw from the training split
(:func:`deepnets.data.calibration_subset`).
Accuracies, drops and agreements in percent.  Every prediction is reported beside its baselines
(the bit width alone, the mean and the parameter-weighted weight rho, parameter counts, and the
measured one-layer sensitivities as the expensive upper baseline), scored from the same records
with bootstrap intervals over the test images (:mod:`deepnets.bridge.scoring`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: The sizes of the stage, per mode.  Full mode is a few minutes on 2 shared CPU cores (the baselines and the
#: bootstrap read the records; the one-layer measurements and propagation gains add forward passes on the
#: calibration images only, and identical allocations are evaluated once).
SIZES = {
    "quick": {"models": ("mlp",), "datasets": ("digits",), "n_cal": 256, "n_test": 360, "n_sign": 200,
              "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("exponential", 3), ("lloyd_max", 4), ("minmax", 4)),
              "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (1, 2, 3, 4))
              + (("sign", 1), ("ternary", 2), ("exponential", 3)),
              "avg_bits": (2.0, 2.5, 3.0, 4.0), "alloc_method": "lloyd_max", "n_boot": 200},
    "full": {"models": ("mlp", "vgg", "resnet", "mobilenet"), "datasets": ("fashion_mnist", "digits"), "n_cal": 256,
             "n_test": 1000, "n_sign": 128,
             "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("uniform", 4), ("exponential", 3), ("lloyd_max", 2),
                      ("minmax", 4)),
             "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (2, 3, 4))
             + (("sign", 1), ("ternary", 2), ("exponential", 2), ("exponential", 3), ("exponential", 4)),
             "avg_bits": (2.0, 2.5, 3.0), "alloc_method": "lloyd_max", "n_boot": 1000},
}

KEEP = ("datasets", "models", "sources", "n_cal", "n_test", "n_sign", "alloc_method", "n_boot", "sign_change_summary",
        "end_to_end_summary", "end_to_end_scores", "allocation_scores", "layer_ranking", "gains", "headline", "figures",
        "sign_changes", "end_to_end", "allocation")


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    res = section(quick=quick, seed=seed, out_dir=out_dir)
    return {k: res[k] for k in KEEP if k in res}


def _pick_dataset(name: str, preferred: tuple[str, ...]) -> str | None:
    """The first dataset in ``preferred`` with committed weights for ``name`` (None if none)."""
    from deepnets import models

    for ds in preferred:
        if models.weights_path(name, ds).is_file():
            return ds
    return None


def section(quick: bool = True, seed: int = 0, out_dir: str | Path = "out/bridge") -> dict:
    """The bridge section: records (as dicts), their summaries, ``headline``, ``figures`` (paths).

    quick: one small model (mlp) on the 8x8 digits; full: every default model on the default
    dataset (about 3 minutes on 2 CPU cores).  torch and numpy's BLAS run single-threaded inside
    (the matrices here are small; threads only contend); both are restored afterwards.
    """
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    if not isinstance(quick, bool):
        raise ValueError(f"quick must be a bool, got {quick!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {seed!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _section(SIZES["quick" if quick else "full"], int(seed), Path(out_dir))
    finally:
        torch.set_num_threads(threads)


def _section(cfg: dict, seed: int, out: Path) -> dict:
    from tqdm.auto import tqdm

    from deepnets import bridge, data, models

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    per_model, sources, datasets, data_cache = {}, {}, {}, {}
    for n in tqdm(cfg["models"], desc="bridge (models)", leave=False):
        ds = _pick_dataset(n, cfg["datasets"])
        if ds is None:
            sources[n] = "skipped: no committed weights"
            continue
        if ds not in data_cache:
            data_cache[ds] = (data.calibration_subset(ds, cfg["n_cal"], seed), *data.test_subset(ds, cfg["n_test"]))
        x_cal, x_test, y_test = data_cache[ds]
        model, sources[n], datasets[n] = models.load_pretrained(n, ds), "pretrained", ds
        r = bridge.analyse_model(model, n, x_cal, x_test, y_test, list(cfg["sign"]), list(cfg["e2e"]), cfg["alloc_method"],
                                 cfg["avg_bits"], seed=seed, x_sign=x_test[: cfg["n_sign"]])
        if r.interrupted:
            raise KeyboardInterrupt
        per_model[n] = r
    if not per_model:
        raise ValueError("no model has committed weights in deepnets/weights; train them first (python -m deepnets.train)")
    sc = [r for m in per_model.values() for r in m.sign_changes]
    ee = [r for m in per_model.values() for r in m.end_to_end]
    al = [r for m in per_model.values() for r in m.allocation]
    nb = cfg["n_boot"]
    res = {"datasets": datasets, "models": list(per_model), "sources": sources, "n_cal": cfg["n_cal"],
           "n_test": min(cfg["n_test"], min(x.shape[0] for _, x, _ in data_cache.values())), "n_sign": cfg["n_sign"],
           "alloc_method": cfg["alloc_method"],
           "sign_changes": [r.to_dict() for r in sc], "sign_change_summary": bridge.sign_change_summary(sc),
           "end_to_end": [r.to_dict() for r in ee], "end_to_end_summary": bridge.end_to_end_summary(ee),
           "end_to_end_scores": bridge.end_to_end_scores(ee, nb, seed), "n_boot": nb,
           "allocation": [r.to_dict() for r in al], "allocation_scores": bridge.allocation_scores(al, nb, seed),
           "layer_ranking": [r.to_dict() for m in per_model.values() for r in m.layer_ranking],
           "gains": {n: dict(zip((la.name for la in m.layers), m.gains, strict=True)) for n, m in per_model.items()},
           "headline": headline(al), "figures": figures(sc, ee, al, out),
           "model_seconds": {n: m.seconds for n, m in per_model.items()}, "seconds": time.perf_counter() - t0}
    return res


def figures(sc: list, ee: list, al: list, out: Path) -> dict[str, str]:
    """The three figures (PNG paths) drawn from the records by :mod:`deepnets.bridge.plots`."""
    import matplotlib.pyplot as plt

    from deepnets import bridge
    from deepnets.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
    for ax, key in zip(axes, ("pred_data", "pred_plain"), strict=True):
        bridge.plot_sign_changes(sc, ax, key)
    paths = {"sign_changes": save_figure(fig, out / "bridge_sign_changes.png")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, kind in zip(axes, ("data_free", "calibrated", "propagated"), strict=True):
        bridge.plot_end_to_end(ee, ax, kind)
    paths["accuracy_drop"] = save_figure(fig, out / "bridge_accuracy_drop.png")
    models = sorted({r.model for r in al})
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        bridge.plot_allocation(al, ax, m)
    paths["allocation"] = save_figure(fig, out / "bridge_allocation.png")
    return paths


def headline(alloc: list) -> list[dict]:  # the pre-issue-16 summary, kept for readers of older records
    """Top-1 (%) and packed KiB per (model, average bits) for each strategy, and the float top-1."""
    rows = []
    for m in sorted({r.model for r in alloc}):
        for a in sorted({r.avg_bits for r in alloc}):
            row = {"model": m, "avg_bits": a}
            for r in alloc:
                if r.model == m and r.avg_bits == a:
                    row[r.strategy] = r.top1
                    row[f"{r.strategy}_kib"] = r.file_bytes / 1024
                    row["float"] = r.float_top1
            rows.append(row)
    return rows


def _pct(r: dict, k: str) -> Any:
    return round(r[k], 2) if k in r else "-"


#: Names of the predictors and strategies in the report's tables.
LABELS = {"bits": "bit width alone (baseline)", "mean_rho": "mean weight rho (baseline)",
          "weighted_rho": "parameter-weighted rho (baseline)", "params": "parameter count alone (baseline)",
          "uniform": "uniform width (baseline)", "data_free": "data-free 1/rho^2 - 1 (prediction)",
          "calibrated": "calibrated, data-aware r (prediction)", "propagated": "calibrated x layer gains (prediction)",
          "measured": "measured one-layer noise (upper baseline)"}
_METRIC = {"cell_tau": "Kendall tau of quantizers within (model, bits)", "spearman": "Spearman over all points",
           "model_spearman": "Spearman within each model (mean)", "mae": "MAE of the drop (points)"}


def _ci(v: float, lo: float, hi: float, d: int = 2) -> str:
    """``v [lo, hi]`` (n/a for a missing value)."""
    if v != v:
        return "n/a"
    return f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" if lo == lo else f"{v:.{d}f}"


def versus_sentence(sc: dict, metric: str) -> str:
    """Each prediction against the best baseline on one metric, in words (difference: better is positive)."""
    parts = []
    for v in sc["versus"]:
        if v["metric"] == metric and v["best"]:
            word = {"beats": "beats", "worse": "is worse than", "no skill": "does no better than"}[v["verdict"]]
            parts.append(f"{LABELS[v['prediction']].split(' (')[0]} {word} {LABELS[v['baseline']].split(' (')[0]} "
                         f"(difference {_ci(v['diff'], v['lo'], v['hi'])})")
    return f"{_METRIC[metric]}: " + "; ".join(parts) + "."


def end_to_end_blocks(res: dict) -> list:
    """The end-to-end predictions beside their baselines, every metric with its bootstrap interval."""
    sc, e = res["end_to_end_scores"], res["end_to_end_summary"]
    b: list = [("p", f"End to end over {sc['n']} (model, method, bits) points, every layer at one width: each predictor "
                     "against the measured top-1 drop, for three decisions: which quantizer to use at a given width "
                     f"(Kendall tau within the {sc['n_cells']} (model, bits) cells of 3 or more quantizers; the bit width "
                     "alone ranks nothing there and scores 0), ranking every point (Spearman), and the drop in points "
                     "(MAE; the baselines get a monotone fit of the drop on their score from the other models' points). "
                     f"Intervals: 95% bootstrap over the test images ({sc['n_boot']} resamples; predictions held fixed).")]
    b.append(("table", ["predictor", *(_METRIC[m] for m in ("cell_tau", "spearman", "model_spearman", "mae"))],
              [[LABELS[r["predictor"]], *(_ci(r[m], r[f"{m}_lo"], r[f"{m}_hi"], 1 if m == "mae" else 2)
                                          for m in ("cell_tau", "spearman", "model_spearman", "mae"))] for r in sc["rows"]]))
    b.append(("p", " ".join(versus_sentence(sc, m) for m in ("cell_tau", "spearman", "model_spearman", "mae"))))
    b.append(("table", ["noise model", "median log10(predicted / measured logit noise)", "MAE agreement (points)"],
              [[LABELS[k].split(" (")[0], e[f"noise_{k}_log10_ratio_median"], e[f"agreement_{k}_mae"]]
               for k in ("data_free", "calibrated", "propagated")]
              + [["agreement model fed the measured logit noise", 0.0, e["agreement_given_measured_noise_mae"]]]))
    return b


def allocation_blocks(res: dict) -> list:
    """Allocation at equal packed size against every baseline strategy, and the layer ranking behind it."""
    b: list = []
    lr = res.get("layer_ranking", [])
    if lr:
        b.append(("p", "Ranking the layers (what the allocation needs): Kendall tau between each per-layer score and the "
                       "measured one-layer logit noise, averaged over 2, 3 and 4 bits, 95% bootstrap over calibration images."))
        models = list(dict.fromkeys(r["model"] for r in lr))
        preds = list(dict.fromkeys(r["predictor"] for r in lr))
        cell = {(r["model"], r["predictor"]): r for r in lr}
        b.append(("table", ["score", *models], [[LABELS[p]] + [_ci(cell[m, p]["tau"], cell[m, p]["lo"], cell[m, p]["hi"])
                                                               if (m, p) in cell else "-" for m in models] for p in preds]))
    strats = ("uniform", "params", "mean_rho", "weighted_rho", "data_free", "calibrated", "propagated", "measured")
    b.append(("p", f"Bit allocation at equal packed size ({res['alloc_method']} levels; exact dynamic programming over "
                   "layers; the budget is the packed size of the uniform-width model). Top-1 (%) per strategy:"))
    rows = res["allocation_scores"]
    b.append(("table", ["model", "avg bits", *(LABELS[s] for s in strats), "float"],
              [[r["model"], r["avg_bits"], *(_pct(r, s) for s in strats), _pct(r, "float")] for r in rows]))
    b.append(("p", "Each prediction (and the upper baseline) minus the best baseline strategy of the row, top-1 points, "
                   "95% bootstrap over test images (paired):"))
    b.append(("table", ["model", "avg bits", "best baseline", *(LABELS[s] for s in strats[4:])],
              [[r["model"], r["avg_bits"], LABELS[r["versus"][0]["baseline"]] if r["versus"] else "-",
                *(next((_ci(v["diff"], v["lo"], v["hi"], 1) + ("" if v["verdict"] == "no skill" else f" ({v['verdict']})")
                        for v in r["versus"] if v["strategy"] == s), "-") for s in strats[4:])] for r in rows]))
    return b


def blocks(res: dict[str, Any]) -> list:
    where = ", ".join(f"{m} on {d}" for m, d in res["datasets"].items())
    b: list = [("h", 2, "4. The bridge: Hopfield theory predicting a classifier's quantization")]
    b.append(("p", f"{where}; {res['n_test']} test images ({res['n_sign']} for sign changes), layer-input covariance S from "
                   f"{res['n_cal']} training images. One layer quantized at a time: the measured fraction of pre-activations "
                   "whose sign flips against arccos(r)/pi (the Hopfield field-agreement law) for r = the plain weight rho and "
                   "r = the data-aware correlation w^T S q / sqrt(w^T S w q^T S q) of each output unit."))
    b.append(("table", ["layer kind", "points", "measured sign-change rate", "MAE data-aware r", "MAE plain rho (per unit)",
                        "MAE plain rho (layer)", "MAE Gaussian with means"],
              [[r["kind"], r["n"], r["mean_measured"], r["mae_data"], r["mae_plain"], r["mae_plain_layer"], r["mae_gauss"]]
               for r in res["sign_change_summary"]]))
    allk = next(r for r in res["sign_change_summary"] if r["kind"] == "all")
    better = "the data-aware r" if allk["mae_data"] < allk["mae_plain"] else "the plain rho"
    lo, hi = sorted((allk["mae_data"], allk["mae_plain"]))
    b.append(("p", f"Over all layers {better} predicts the sign-change rate better (MAE {lo:.4f} against {hi:.4f}, "
                   f"a factor {hi / max(lo, 1e-12):.1f}); per layer kind, see the rows above."))
    b += end_to_end_blocks(res)
    b += allocation_blocks(res)
    caps = {"sign_changes": "Predicted vs measured sign-change rate per layer (each point a layer and quantizer).",
            "accuracy_drop": "Predicted vs measured top-1 drop, end to end (the baselines' scores are in the table above).",
            "allocation": "Top-1 against packed size for the allocation strategies and baselines, per model."}
    for k, f in res["figures"].items():
        b.append(("img", str(f), caps.get(k, k)))
    return b
