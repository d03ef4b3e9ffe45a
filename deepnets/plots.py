"""Plots of sweep rows (:class:`deepnets.records.SweepRow`): each helper draws on one ``ax`` and returns it.

They only draw records; nothing is recomputed.  :func:`per_model_figure` lays one panel per
model out on a grid and writes the PNG.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from .sweep import _as_rows


def plot_accuracy_vs_bits(rows: Iterable, ax: Any, model: str | None = None) -> Any:
    """Top-1 against bits for one model (default: the first), one line per method; float dashed."""
    rows = _as_rows(rows)
    model = rows[0].model if model is None else model
    rs_model = [r for r in rows if r.model == model]
    for i, method in enumerate(dict.fromkeys(r.method for r in rs_model if r.method != "float")):
        rs = sorted((r for r in rs_model if r.method == method), key=lambda r: r.bits)
        ax.plot([r.bits for r in rs], [r.top1 for r in rs], "o-", ms=4, color=f"C{i}", label=method)
    fl = [r for r in rs_model if r.method == "float"]
    if fl:
        ax.axhline(fl[0].top1, ls="--", c="k", lw=0.8, label="float32")
        ax.axhline(fl[0].top1 - 1.0, ls=":", c="k", lw=0.8, label="float - 1 point")
        ax.set_ylim(max(0.0, fl[0].top1 - 25.0), min(100.0, fl[0].top1 + 3.0))
    ax.set_title(model)
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    return ax


def plot_accuracy_vs_rho(rows: Iterable, ax: Any, model: str | None = None) -> Any:
    """Top-1 drop against 1 - mean per-layer rho (log-log) for one model, one marker set per method."""
    rows = _as_rows(rows)
    model = rows[0].model if model is None else model
    methods = list(dict.fromkeys(r.method for r in rows if r.method != "float"))
    for i, method in enumerate(methods):
        rs = [r for r in rows if r.model == model and r.method == method and r.mean_rho == r.mean_rho]
        ax.plot([1.0 - r.mean_rho for r in rs], [max(r.drop, 1e-2) for r in rs], "os^Dv<>P"[i % 8], ms=4,
                color=f"C{i}", label=method)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, ls=":", c="k", lw=0.8, label="1-point drop")
    ax.set_title(model)
    ax.set_xlabel("1 - mean per-layer rho")
    ax.set_ylabel("top-1 drop (points; <=0.01 shown at 0.01)")
    ax.grid(alpha=0.3, which="both")
    return ax


def save_figure(fig: Any, path: str | os.PathLike) -> str:
    """Lay out (unless the figure has its own layout engine), write as PNG (110 dpi) and close ``fig``; returns the path."""
    import matplotlib.pyplot as plt

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def per_model_figure(rows: Iterable, plot: Callable, path: str | os.PathLike) -> str:
    """One panel per model (up to 4 a row) drawn by ``plot(rows, ax, model)``; one legend for all panels, outside
    them on the right at 8 pt (one entry per label); saved to ``path``."""
    import matplotlib.pyplot as plt

    rows = _as_rows(rows)
    models = list(dict.fromkeys(r.model for r in rows))
    cols = min(len(models), 4) or 1
    nrows = -(-max(len(models), 1) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols + 2.0, 3.8 * nrows), squeeze=False, layout="constrained")
    axes = axes.ravel()
    for ax in axes[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(axes, models, strict=False):  # axes: at least one per model
        plot(rows, ax, model)
    entries: dict[str, Any] = {}
    for ax in axes[: len(models)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(lab, h)
    fig.legend(list(entries.values()), list(entries), loc="outside right upper", fontsize=8)
    return save_figure(fig, path)
