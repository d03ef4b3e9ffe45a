"""Plots of the bridge's records: each helper draws on one ``ax`` and returns it (nothing recomputed)."""

from __future__ import annotations

from typing import Any

_KIND_MARK = {"conv": "o", "depthwise conv": "^", "linear": "s"}
_PREDICTORS = {"pred_data": "data-aware r (S of the layer's inputs)", "pred_plain": "plain weight rho (per unit)",
               "pred_plain_layer": "plain weight rho (per layer)", "pred_gauss": "Gaussian fields with their means"}


def plot_sign_changes(recs: list, ax: Any, predictor: str = "pred_data") -> Any:
    """Measured sign-change rate against one predictor's ``arccos(r)/pi``, one marker per layer kind.

    **Arguments:** `recs`: :class:`deepnets.records.SignChangeRecord` s; `predictor`: ``"pred_data"``,
    ``"pred_plain"``, ``"pred_plain_layer"`` or ``"pred_gauss"``.
    """
    if predictor not in _PREDICTORS:
        raise ValueError(f"predictor must be one of {list(_PREDICTORS)}, got {predictor!r}")
    for kind, mk in _KIND_MARK.items():
        rs = [r for r in recs if r.kind == kind]
        if rs:
            ax.scatter([getattr(r, predictor) for r in rs], [r.measured for r in rs], marker=mk, s=16, alpha=0.6, label=kind)
    hi = max(max(r.measured for r in recs), max(getattr(r, predictor) for r in recs)) * 1.05
    ax.plot([0, hi], [0, hi], "k--", lw=1, label="predicted = measured")
    ax.set_xlabel("predicted arccos(r)/pi")
    ax.set_ylabel("measured sign-change rate")
    ax.set_title(_PREDICTORS[predictor], fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


#: Drop predictions :func:`plot_end_to_end` draws, and their titles.
DROP_KINDS = {"calibrated": "calibrated noise model (data-aware r)", "data_free": "data-free noise model (weight rho)",
              "propagated": "calibrated x measured layer gains", "measured": "measured one-layer noise (upper baseline)"}


def plot_end_to_end(recs: list, ax: Any, kind: str = "calibrated") -> Any:
    """Predicted against measured top-1 drop (points, symlog) of one noise model, one marker per model.

    **Arguments:** `recs`: :class:`deepnets.records.EndToEndRecord` s; `kind`: one of :data:`DROP_KINDS`.
    """
    if kind not in DROP_KINDS:
        raise ValueError(f"kind must be one of {list(DROP_KINDS)}, got {kind!r}")
    models = sorted({r.model for r in recs})
    for mi, m in enumerate(models):
        rs = [r for r in recs if r.model == m]
        ax.scatter([getattr(r, f"pred_drop_{kind}") for r in rs], [r.measured_drop for r in rs], s=18,
                   marker="os^Dv"[mi % 5], alpha=0.7, label=m)
    lo = min(0, *(r.measured_drop for r in recs))
    hi = max(max(getattr(r, f"pred_drop_{kind}") for r in recs), max(r.measured_drop for r in recs)) * 1.05
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
    ax.set_xlabel("predicted accuracy drop (points)")
    ax.set_ylabel("measured accuracy drop (points)")
    ax.set_title(DROP_KINDS[kind], fontsize=10)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("symlog", linthresh=1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_allocation(recs: list, ax: Any, model: str | None = None) -> Any:
    """Top-1 (%) against packed file size for each allocation strategy of one model (default: the first)."""
    model = recs[0].model if model is None else model
    for strat, mk in (("uniform", "o-"), ("params", "x:"), ("weighted_rho", "v:"), ("data_free", "s--"), ("calibrated", "^-"),
                      ("propagated", "P-"), ("measured", "D:")):
        rs = sorted((r for r in recs if r.model == model and r.strategy == strat), key=lambda r: r.file_bytes)
        if rs:
            ax.plot([r.file_bytes / 1024 for r in rs], [r.top1 for r in rs], mk, label=strat)
    ax.axhline(next(r.float_top1 for r in recs if r.model == model), color="gray", lw=1, ls=":", label="float")
    ax.set_xlabel("packed file size (KiB)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(model, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
