"""Report stage 4: the Hopfield result used to predict and allocate bits for classifiers (:mod:`deepnets.bridge`).

The stage sets the sizes (:data:`SIZES`), picks models and data, runs
:func:`deepnets.bridge.analyse_model` per model, draws the figures and renders the numbers.
Test images: the first ``n_test`` of the test split (:func:`deepnets.data.test_subset`, the
deepnets stage's definition); calibration images: a seeded draw from the training split
(:func:`deepnets.data.calibration_subset`).
Accuracies, drops and agreements in percent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: The sizes of the stage, per mode.  Full mode is about 3 minutes on 2 shared CPU cores.
SIZES = {
    "quick": {"models": ("mlp",), "datasets": ("digits",), "n_cal": 256, "n_test": 360, "n_sign": 200,
              "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("exponential", 3), ("lloyd_max", 4), ("minmax", 4)),
              "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (1, 2, 3, 4))
              + (("sign", 1), ("ternary", 2), ("exponential", 3)),
              "avg_bits": (2.0, 2.5, 3.0, 4.0), "alloc_method": "lloyd_max"},
    "full": {"models": ("mlp", "vgg", "resnet", "mobilenet"), "datasets": ("fashion_mnist", "digits"), "n_cal": 256,
             "n_test": 1000, "n_sign": 128,
             "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("uniform", 4), ("exponential", 3), ("lloyd_max", 2),
                      ("minmax", 4)),
             "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (2, 3, 4))
             + (("sign", 1), ("ternary", 2), ("exponential", 2), ("exponential", 3), ("exponential", 4)),
             "avg_bits": (2.0, 2.5, 3.0), "alloc_method": "lloyd_max"},
}

KEEP = ("datasets", "models", "sources", "n_cal", "n_test", "n_sign", "alloc_method", "sign_change_summary",
        "end_to_end_summary", "headline", "figures", "sign_changes", "end_to_end", "allocation")


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
    res = {"datasets": datasets, "models": list(per_model), "sources": sources, "n_cal": cfg["n_cal"],
           "n_test": min(cfg["n_test"], min(x.shape[0] for _, x, _ in data_cache.values())), "n_sign": cfg["n_sign"],
           "alloc_method": cfg["alloc_method"],
           "sign_changes": [r.to_dict() for r in sc], "sign_change_summary": bridge.sign_change_summary(sc),
           "end_to_end": [r.to_dict() for r in ee], "end_to_end_summary": bridge.end_to_end_summary(ee),
           "allocation": [r.to_dict() for r in al], "headline": headline(al), "figures": figures(sc, ee, al, out),
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
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, kind in zip(axes, ("calibrated", "data_free"), strict=True):
        bridge.plot_end_to_end(ee, ax, kind)
    paths["accuracy_drop"] = save_figure(fig, out / "bridge_accuracy_drop.png")
    models = sorted({r.model for r in al})
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        bridge.plot_allocation(al, ax, m)
    paths["allocation"] = save_figure(fig, out / "bridge_allocation.png")
    return paths


def headline(alloc: list) -> list[dict]:
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
    e = res["end_to_end_summary"]
    b.append(("p", f"End to end over {e['n']} (method, bits, model) points: the relative noise 1/r^2 - 1 summed through the "
                   "layers predicts the output agreement and the accuracy drop."))
    b.append(("table", ["prediction", "Spearman (drop)", "MAE drop (points)", "Spearman (agreement)", "MAE agreement (points)",
                        "median log10(predicted / measured logit noise)"],
              [["calibrated (S)", e["drop_calibrated_spearman"], e["drop_calibrated_mae"], e["agreement_calibrated_spearman"],
                e["agreement_calibrated_mae"], e["noise_calibrated_log10_ratio_median"]],
               ["data-free (rho tables)", e["drop_data_free_spearman"], e["drop_data_free_mae"],
                e["agreement_data_free_spearman"], e["agreement_data_free_mae"], e["noise_data_free_log10_ratio_median"]],
               ["agreement model fed the measured noise", "-", "-", e["agreement_given_measured_noise_spearman"],
                e["agreement_given_measured_noise_mae"], 0.0]]))
    b.append(("p", f"Bit allocation at equal packed size ({res['alloc_method']} levels; exact dynamic programming over layers "
                   "maximizing the predicted agreement; the budget is the packed size of the uniform-width model). Top-1 (%):"))
    b.append(("table", ["model", "avg bits", "uniform", "data-free", "calibrated", "measured sensitivity (upper)", "float"],
              [[r["model"], r["avg_bits"], _pct(r, "uniform"), _pct(r, "data_free"), _pct(r, "calibrated"), _pct(r, "measured"),
                _pct(r, "float")] for r in res["headline"]]))
    caps = {"sign_changes": "Predicted vs measured sign-change rate per layer (each point a layer and quantizer).",
            "accuracy_drop": "Predicted vs measured top-1 drop, end to end.",
            "allocation": "Top-1 against packed size for the four allocation strategies, per model."}
    for k, f in res["figures"].items():
        b.append(("img", str(f), caps.get(k, k)))
    return b
