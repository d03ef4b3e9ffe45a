"""Accuracy, rho and measured compression over models x methods x bits, with writers and plots.

Each row is a plain dict (STYLE.md item 8): model, method, bits, granularity, config,
top1, top5, drop (float top1 - top1, points), mean_rho, layer_rho (JSON), packed and
float32 file sizes on disk, the compression ratio and its information bound.  Our
methods (theory quantizers; Malsagov et al. 2019, Pushkareva & Karandashev 2020,
Han et al. 2016) sit beside PyTorch's int8 baselines in the same table.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import baselines as _baselines
from .evaluate import evaluate
from .quantize import FIXED_BITS, METHODS, QuantConfig, as_granularity, granularity_name, mean_rho, quantize
from .storage import compression, save_float

COLUMNS = [
    "model", "method", "bits", "granularity", "bn_folded", "top1", "top5", "drop", "mean_rho", "packed_bytes",
    "float_bytes", "ratio", "bound_ratio", "n", "config", "layer_rho",
]


def _resolve_models(models: Any, dataset: Any) -> dict[str, nn.Module]:
    if isinstance(models, nn.Module):
        return {"model": models}
    if isinstance(models, dict):
        return dict(models)
    if isinstance(dataset, str):
        from . import models as zoo_models

        return {name: zoo_models.load_pretrained(name, dataset) for name in models}
    raise ValueError("models: give a dict name -> nn.Module, or model names together with a dataset name")


def _resolve_data(dataset: Any, limit: int | None) -> tuple[str, tuple]:
    if isinstance(dataset, str):
        from . import data

        x, y = data.get_dataset(dataset, "test").tensors
        name = dataset
    elif hasattr(dataset, "tensors") and len(dataset.tensors) == 2:  # a TensorDataset
        (x, y), name = dataset.tensors, "custom"
    elif isinstance(dataset, tuple | list) and len(dataset) == 2:
        (x, y), name = dataset, "custom"
    else:
        raise ValueError(f"dataset must be a name or an (images, labels) tuple, got {type(dataset).__name__}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return name, (x, y)


def sweep(
    models: Any,
    methods: Iterable[str],
    bits_list: Iterable[int],
    dataset: Any,
    granularity: Any = "channel",
    skip: Any = (),
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = False,
    fold_bn: bool = True,
    gain: str = "mse",
) -> list[dict]:
    """Quantize every model with every method and bit width, evaluate, pack to disk and measure.

    **Arguments:**

    - `models`: dict name -> nn.Module, one module, or model names for ``models.load_pretrained``.
    - `methods`: names from ``METHODS`` and/or ``baselines.BASELINES``; sign and ternary run
      once at their own width (1 and 2 bits), the torch baselines once at 8 bits.
    - `bits_list`: bit widths 1..8.
    - `dataset`: a dataset name for ``data.get_dataset(name, "test")``, a ``TensorDataset``
      or ``(images, labels)``.
    - `granularity`: ``"channel"``/``"tensor"``/``PerChannel``/``PerTensor``.
    - `skip`: layers kept float (see :func:`deepnets.quantize.quantize`).
    - `limit`: evaluate on the first ``limit`` images only.
    - `progress`: a tqdm bar over (model, method) pairs.
    - `fold_bn`: fold BatchNorm into the preceding convs before quantizing (as deployments
      do; the float reference stays the unfolded model); False quantizes the raw conv weights.
    - `gain`: ``"mse"`` (least squares, default) or ``"unbiased"`` scale of the levels
      (see :class:`deepnets.quantize.QuantConfig`); recorded in each row's ``config``.

    **Returns:** a list of rows (dicts with ``COLUMNS``), one float row per model
    (``method == "float"``) then one per quantized variant.
    """
    methods, bits_list = list(methods), sorted(set(bits_list))
    for m in methods:
        if m not in METHODS and m not in _baselines.BASELINES:
            raise ValueError(f"methods: {m!r} is not one of {list(METHODS) + list(_baselines.BASELINES)}")
    for b in bits_list:
        QuantConfig("uniform", b)  # validates bits (ValueError naming bits)
    QuantConfig("uniform", 4, gain=gain)  # validates gain (ValueError naming gain)
    g = as_granularity(granularity)
    dname, data = _resolve_data(dataset, limit)
    rows = []
    resolved = _resolve_models(models, dataset)
    bar = tqdm(total=len(resolved) * len(methods), desc="sweep (model x method)", disable=not progress)
    for mname, model in resolved.items():
        model = model.eval()
        ref = evaluate(model, data, batch_size, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            fbytes = save_float(model, os.path.join(tmp, "float.safetensors"))
            base = {"model": mname, "dataset": dname, "float_top1": ref["top1"], "float_bytes": fbytes, "n": ref["n"]}
            rows.append({**base, "method": "float", "bits": 32, "granularity": "", "bn_folded": False, "top1": ref["top1"], "top5": ref["top5"],
                         "drop": 0.0, "mean_rho": 1.0, "packed_bytes": fbytes, "ratio": 1.0, "bound_ratio": 1.0,
                         "config": "", "layer_rho": "{}"})
            for method in methods:
                if method in _baselines.BASELINES:
                    qm, report, size = _baselines.run_baseline(method, model, tmp)
                    cfg = {"method": method, "bits": 8, "granularity": "channel" if method.endswith("channel") else "tensor"}
                    sizes = {"packed_bytes": size, "ratio": fbytes / size, "bound_ratio": math.nan}
                    widths = [8]
                else:
                    widths = [FIXED_BITS[method]] if method in FIXED_BITS else bits_list
                for b in widths:
                    if method not in _baselines.BASELINES:
                        qm, report = quantize(model, QuantConfig(method, b, g, skip, fold_bn=fold_bn and _has_bn(model), gain=gain))
                        c = compression(model, qm, tmp)
                        cfg = qm.corrquant.config.to_dict()
                        sizes = {"packed_bytes": c["packed_bytes"], "ratio": c["ratio"], "bound_ratio": c["bound_ratio"]}
                    acc = evaluate(qm, data, batch_size, progress=False)
                    rows.append({
                        **base, "method": method, "bits": b, "granularity": cfg["granularity"],
                        "bn_folded": bool(fold_bn and method not in _baselines.BASELINES and _has_bn(model)), "top1": acc["top1"],
                        "top5": acc["top5"], "drop": ref["top1"] - acc["top1"], "mean_rho": mean_rho(report), **sizes,
                        "config": json.dumps(cfg, sort_keys=True),
                        "layer_rho": json.dumps({r.name: r.rho for r in report if not r.skipped}),
                    })
                bar.update(1)
    bar.close()
    return rows


# -- summaries ---------------------------------------------------------------------------
def smallest_bits_within(table: list[dict], points: float = 1.0) -> list[dict]:
    """Per (model, method): the smallest bit width whose top-1 is within ``points`` of float.

    **Returns:** rows ``{"model", "method", "bits", "top1", "drop", "ratio", "mean_rho"}``;
    ``bits`` is None (and the rest nan) when no width in the table qualifies.
    """
    if not (isinstance(points, int | float) and math.isfinite(points) and points >= 0):
        raise ValueError(f"points must be a finite number >= 0, got {points!r}")
    out, groups = [], {}
    for r in table:
        if r["method"] != "float":
            groups.setdefault((r["model"], r["method"]), []).append(r)
    for (model, method), rs in groups.items():
        ok = sorted((r for r in rs if r["drop"] <= points), key=lambda r: r["bits"])
        if ok:
            r = ok[0]
            out.append({"model": model, "method": method, "bits": r["bits"], "top1": r["top1"], "drop": r["drop"],
                        "ratio": r["ratio"], "mean_rho": r["mean_rho"]})
        else:
            out.append({"model": model, "method": method, "bits": None, "top1": math.nan, "drop": math.nan,
                        "ratio": math.nan, "mean_rho": math.nan})
    return out


# -- writers --------------------------------------------------------------------------------
def write_csv(table: list[dict], path: str | os.PathLike, columns: list[str] | None = None) -> str:
    """Write rows to CSV (``columns`` default: ``COLUMNS`` present in the table); returns the path."""
    cols = columns or [c for c in COLUMNS if table and c in table[0]]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(table)
    return str(path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.5f}" if abs(v) < 1.5 else f"{v:.2f}"
    return "" if v is None else str(v)


def to_markdown(table: list[dict], columns: list[str] | None = None) -> str:
    """A Markdown table of the rows (default columns: the short ones of ``COLUMNS``)."""
    cols = columns or [c for c in COLUMNS if c not in ("config", "layer_rho", "n") and table and c in table[0]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in table]
    return "\n".join(lines) + "\n"


def write_markdown(table: list[dict], path: str | os.PathLike, columns: list[str] | None = None) -> str:
    with open(path, "w") as f:
        f.write(to_markdown(table, columns))
    return str(path)


# -- plots (consume rows; never recompute science) ------------------------------------------
def _model_axes(models: list[str]):
    import matplotlib.pyplot as plt

    cols = min(len(models), 4) or 1
    rows = -(-max(len(models), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.ravel()[len(models):]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_accuracy_vs_bits(table: list[dict], path: str | os.PathLike) -> str:
    """Top-1 vs bits, one panel per model and one line per method; float accuracy dashed; saved to ``path``."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in table))
    fig, axes = _model_axes(models)
    for ax, model in zip(axes, models):
        rows = [r for r in table if r["model"] == model]
        for i, method in enumerate(dict.fromkeys(r["method"] for r in rows if r["method"] != "float")):
            rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["bits"])
            ax.plot([r["bits"] for r in rs], [r["top1"] for r in rs], "o-", ms=4, color=f"C{i}", label=method)
        fl = [r for r in rows if r["method"] == "float"]
        if fl:
            ax.axhline(fl[0]["top1"], ls="--", c="k", lw=0.8, label="float32")
            ax.axhline(fl[0]["top1"] - 1.0, ls=":", c="k", lw=0.8, label="float - 1 point")
            ax.set_ylim(max(0.0, fl[0]["top1"] - 25.0), min(100.0, fl[0]["top1"] + 3.0))
        ax.set_title(model)
        ax.set_xlabel("bits per weight")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_accuracy_vs_rho(table: list[dict], path: str | os.PathLike) -> str:
    """Accuracy drop vs mean per-layer rho, one panel per model, one marker set per method; saved to ``path``."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in table))
    methods = list(dict.fromkeys(r["method"] for r in table if r["method"] != "float"))
    fig, axes = _model_axes(models)
    for ax, model in zip(axes, models):
        for i, method in enumerate(methods):
            rs = [r for r in table if r["model"] == model and r["method"] == method and r["mean_rho"] == r["mean_rho"]]
            ax.plot([1.0 - r["mean_rho"] for r in rs], [max(r["drop"], 1e-2) for r in rs], "os^Dv<>P"[i % 8], ms=4,
                    color=f"C{i}", label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.0, ls=":", c="k", lw=0.8)
        ax.set_title(model)
        ax.set_xlabel("1 - mean per-layer rho")
        ax.set_ylabel("top-1 drop (points; <=0.01 shown at 0.01)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def headline(table: list[dict], points: float = 1.0) -> dict:
    """Smallest bits within ``points`` per (model, method), and max-rho exponential vs minmax at 3-4 bits.

    **Returns:** ``{"smallest_bits_within", "exponential_vs_minmax", "wins_ties_losses",
    "exponential_beats_minmax_at_3_4_bits"}``.  Each comparison carries both top-1s, both mean
    rhos and ``resolution_points = 100 / n`` (one test image), since on small test sets a
    difference of one image decides "beats"; the overall flag is True only if exponential's
    top-1 is strictly higher in every (model, 3|4 bits) pair.
    """
    best = smallest_bits_within(table, points)
    beats = {}
    for r in table:
        if r["method"] == "exponential" and r["bits"] in (3, 4):
            mm = [s for s in table if s["model"] == r["model"] and s["method"] == "minmax" and s["bits"] == r["bits"]]
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


def report_section(quick: bool = True, seed: int = 0, out_dir: str | os.PathLike = "out/deepnets", progress: bool = False) -> dict:
    """The deepnets part of the study report: sweep the committed models, write table and figures.

    **Arguments:**

    - `quick`: two models (the first, and one with BatchNorm if any), a 1000-image test subset and bits {2, 3, 4, 8}; else every
      model with weights, the full test set and bits 1..8.  Fashion-MNIST when its data and
      committed weights are present, else the digits fallback.
    - `seed`: seeds torch before anything random (quantization itself is deterministic).
    - `out_dir`: where CSV, Markdown and PNG files go.
    - `progress`: a tqdm bar over (model, method).

    **Returns:** ``{"rows", "markdown", "csv", "figures", "headline", "tensor_rows", "tensor_headline",
    "bn_comparison", "bn_comparison_tensor", "gain_comparison", "dataset", "models"}``; ``tensor_rows`` is
    the sweep of the fitted methods with one quantizer per weight tensor; the comparisons (see :func:`compare_rows`) pair the main
    rows (per channel, BatchNorm folded, least-squares gain) with BatchNorm unfolded (models that have
    BatchNorm), the same per tensor (folded vs unfolded), and the main rows with ``gain="unbiased"``.
    """
    from . import data, models as zoo_models

    torch.manual_seed(seed)
    np.random.seed(seed)
    os.makedirs(out_dir, exist_ok=True)
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
    if quick:  # the first model and, where there is one, a model with BatchNorm
        with_bn = [n for n in names[1:] if _has_bn(zoo_models.load_pretrained(n, dataset))]
        names = names[:1] + (with_bn[:1] or names[1:2])
    methods = list(METHODS) + list(_baselines.BASELINES)
    bits = [2, 3, 4, 8] if quick else list(range(1, 9))
    limit = 1000 if quick else None
    rows = sweep(names, methods, bits, dataset, "channel", limit=limit, progress=progress)
    # BatchNorm folded (the deployment case, above) against quantizing the raw conv weights
    bn_models = {n: zoo_models.load_pretrained(n, dataset) for n in names}
    bn_models = {n: m for n, m in bn_models.items() if _has_bn(m)}
    fitted = ["minmax", "uniform", "exponential", "lloyd_max"]
    # one quantizer per weight tensor (per layer, as in Malsagov et al. 2019 and Pushkareva & Karandashev 2020)
    tensor_rows = sweep(names, fitted, [3, 4] if quick else list(range(2, 9)), dataset, "tensor", limit=limit, progress=progress)
    bn_bits = [3, 4] if quick else [3, 4, 5]
    bn_runs = {(g, fold): sweep(bn_models, fitted, bn_bits, dataset, g, limit=limit, progress=progress, fold_bn=fold)
               for g, fold in (("channel", False), ("tensor", False))} if bn_models else {}
    bn_runs[("tensor", True)] = [r for r in tensor_rows if r["model"] in bn_models and r["bits"] in bn_bits]
    # levels scaled so that E[w q] = E[w^2] (no rho^2 shrink) against the least-squares scale above
    unbiased = sweep(names, fitted, [3] if quick else [3, 4], dataset, "channel", limit=limit, progress=progress, gain="unbiased")
    csv_path = write_csv(rows, os.path.join(out_dir, "deepnets_sweep.csv"))
    md_path = write_markdown(rows, os.path.join(out_dir, "deepnets_sweep.md"))
    figs = [plot_accuracy_vs_bits(rows, os.path.join(out_dir, "deepnets_accuracy_vs_bits.png")),
            plot_accuracy_vs_rho(rows, os.path.join(out_dir, "deepnets_accuracy_vs_rho.png"))]
    return {"rows": rows, "markdown": to_markdown(rows), "csv": csv_path, "markdown_path": md_path, "figures": figs,
            "headline": headline(rows), "tensor_rows": tensor_rows, "tensor_headline": headline(tensor_rows),
            "bn_comparison": compare_rows(rows, bn_runs.get(("channel", False), [])),
            "bn_comparison_tensor": compare_rows(bn_runs.get(("tensor", True), []), bn_runs.get(("tensor", False), [])),
            "gain_comparison": compare_rows(rows, unbiased), "dataset": dataset, "models": names, "granularity": granularity_name(as_granularity("channel"))}


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


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


def _has_weights(zoo_models: Any, name: str, dataset: str) -> bool:
    try:
        zoo_models.load_pretrained(name, dataset)
        return True
    except (ValueError, FileNotFoundError, OSError, KeyError):
        return False
