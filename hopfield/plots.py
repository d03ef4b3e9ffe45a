"""Matplotlib helpers for the records of :mod:`hopfield.records`.

They only draw what the records hold (theory curves included); nothing here
recomputes science.  Each takes records and an ``ax`` (a new figure's when None)
and returns the ``ax``.  Entries a run did not reach are NaN and draw nothing.
Each sets axis labels with units, a default title (callers may replace it) and a
legend of at least ``LEGEND_PT`` points with one entry per label, so that every
reference line (theory, equality) is named once.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


MARKERS = ("o", "s", "^", "D", "v", "P")
LEGEND_PT = 8  # readable from the back of a lecture room


def legend(ax: Any, **kwargs: Any) -> Any:
    """``ax.legend`` with one entry per distinct label (the first artist of each) at ``LEGEND_PT`` points or more."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels, strict=True):
        seen.setdefault(lab, h)
    kwargs["fontsize"] = max(kwargs.get("fontsize", LEGEND_PT), LEGEND_PT)
    return ax.legend(list(seen.values()), list(seen), **kwargs)


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.6))
    return ax


def _mean_rho(r: Any) -> float:
    d = r.done
    return float(np.mean(r.rho[d])) if d.any() else float("nan")


def plot_overlap(records: Sequence[Any], ax: Any = None, theory: bool = True) -> Any:
    """Final overlap m versus load alpha (mean +- SE) for retrieval (or capacity) records, with the AGS curve at each measured rho."""
    ax = _ax(ax)
    if theory and records:
        ax.plot([], [], "-", color="0.4", lw=1, label="lines: AGS theory at that rho")  # the legend's grey entry
    for i, r in enumerate(records):
        color = f"C{i}"
        ax.errorbar(r.alpha, r.m_mean, yerr=r.m_se, fmt=MARKERS[i % len(MARKERS)], ms=4, color=color, mfc="none",
                    label=f"{r.quantizer}, rho={_mean_rho(r):.3f}")
        if theory:  # one legend entry says what all the lines are; each line has its points' colour
            ax.plot(r.theory_alpha_grid, r.theory_m_grid, "-", color=color, lw=1, label="lines: AGS theory at that rho")
    ax.set_xlabel("load alpha = p/N (patterns per neuron)")
    ax.set_ylabel("final overlap m (1 = perfect recall)")
    ax.set_title(f"Final overlap against load, N = {records[0].N}" if records else "Final overlap against load")
    legend(ax)
    return ax


def plot_retrieved(records: Sequence[Any], ax: Any = None) -> Any:
    """Fraction retrieved versus alpha (mean +- SE); for capacity records also the logistic fit, its interval and the theory alpha_c."""
    from .records import CapacityRecord

    ax = _ax(ax)
    if any(isinstance(r, CapacityRecord) and np.isfinite(r.alpha_c) for r in records):
        ax.plot([], [], ":", color="0.4", lw=1, label="dotted: theory alpha_c(rho)")  # the legend's grey entry
    for i, r in enumerate(records):
        color = f"C{i}"
        ax.errorbar(r.alpha, r.retrieved, yerr=r.retrieved_se, fmt=MARKERS[i % len(MARKERS)], ms=4, color=color,
                    mfc="none", label=r.quantizer)
        if isinstance(r, CapacityRecord) and np.isfinite(r.alpha_c):
            ax.plot(r.fit_alpha, r.fit_retrieved, "-", color=color, lw=1)
            ax.axvspan(r.alpha_c_lo, r.alpha_c_hi, color=color, alpha=0.15)
            ax.axvline(r.theory_alpha_c, color=color, ls=":", lw=1, label="dotted: theory alpha_c(rho)")
    ax.set_xlabel("load alpha = p/N (patterns per neuron)")
    ax.set_ylabel("fraction of probes retrieved")
    ax.set_title("Retrieval against load")
    legend(ax)
    return ax


def plot_basins(records: Sequence[Any], ax: Any = None) -> Any:
    """Retrieval probability versus initial overlap m0 (basins of attraction) for basins records."""
    ax = _ax(ax)
    for i, r in enumerate(records):
        ax.errorbar(r.m0, r.retrieved, yerr=r.retrieved_se, fmt="o-", ms=4, color=f"C{i}",
                    label=f"{r.quantizer} alpha={r.alpha:g}")
    ax.set_xlabel("initial overlap m0 with the stored pattern")
    ax.set_ylabel("fraction of probes retrieved")
    ax.set_title("Basins of attraction")
    legend(ax)
    return ax


def plot_field_agreement(comparison: Any, ax: Any = None) -> Any:
    """Measured P(sign h = sign h') versus measured rho, on Sheppard's curve 1 - arccos(rho)/pi (a comparison record)."""
    ax = _ax(ax)
    ax.plot(comparison.rho_grid, comparison.field_agreement_grid, "k-", lw=1, label="1 - arccos(rho)/pi")
    for i, (lab, r, fa) in enumerate(zip(comparison.labels, comparison.rho, comparison.field_agreement, strict=True)):
        ax.plot(r, fa, "o", ms=5, color=f"C{i % 10}", label=lab)
    finite = comparison.rho[np.isfinite(comparison.rho)]
    lo = min(0.6, float(np.min(finite)) - 0.05) if finite.size else 0.6
    ax.set_xlim(lo, 1.01)
    ax.set_ylim(1 - np.arccos(lo) / np.pi - 0.02, 1.01)
    ax.set_xlabel("measured rho (dimensionless)")
    ax.set_ylabel("field sign agreement (fraction of fields)")
    ax.set_title("Field sign agreement against rho")
    legend(ax, ncol=2 if len(comparison.labels) > 5 else 1)
    return ax


def plot_capacity_vs_theory(capacities: Sequence[Any], ax: Any = None) -> Any:
    """Measured alpha_c (95% CI) versus theory.predicted_capacity(rho) for capacity records, one point per quantizer."""
    ax = _ax(ax)
    sizes = {c.N for c in capacities}
    for i, c in enumerate(capacities):  # N in the label only when the records differ in N (else in the title)
        ax.errorbar(c.theory_alpha_c, c.alpha_c, yerr=[[c.alpha_c - c.alpha_c_lo], [c.alpha_c_hi - c.alpha_c]],
                    fmt="o", color=f"C{i % 10}", label=c.quantizer if len(sizes) == 1 else f"{c.quantizer} N={c.N}")
    lim = [0.0, 0.2]
    ax.plot(lim, lim, "k:", lw=1, label="equality: measured = theory")
    ax.set_xlabel("theory alpha_c(rho) (patterns per neuron)")
    ax.set_ylabel("measured alpha_c(N) (patterns per neuron)")
    ax.set_title("Capacity: measured against theory" + (f", N = {next(iter(sizes))}" if len(sizes) == 1 else ""))
    legend(ax, ncol=2 if len(capacities) > 6 else 1)
    return ax


def plot_finite_size(fs: Any, ax: Any = None) -> Any:
    """alpha_c(N) versus N^-nu with the weighted fit alpha_inf + a N^-nu and the theory value (a finite-size record)."""
    ax = _ax(ax)
    x = np.asarray(fs.N, float) ** (-fs.nu)
    ax.errorbar(x, fs.alpha_c, yerr=[fs.alpha_c - fs.alpha_c_lo, fs.alpha_c_hi - fs.alpha_c], fmt="o", label=fs.quantizer)
    xs = np.linspace(0, x.max() * 1.05, 50)
    ax.plot(xs, fs.alpha_inf + fs.a * xs, "-", lw=1, label=f"alpha_inf={fs.alpha_inf:.3f}+-{fs.alpha_inf_se:.3f}")
    ax.axhline(fs.theory_alpha_c, color="k", ls=":", lw=1, label=f"theory {fs.theory_alpha_c:.3f}")
    ax.set_xlabel(f"N^-{fs.nu:g} (N neurons)")
    ax.set_ylabel("alpha_c(N) (patterns per neuron)")
    ax.set_title(f"{fs.quantizer}: alpha_c(N) and its N -> infinity limit")
    legend(ax)
    return ax


def show_patterns(patterns: Any, shape: tuple[int, int], titles: Sequence[str] | None = None, axes: Any = None) -> Any:
    """Draw (k, H*W) ±1 patterns as images (e.g. from :func:`hopfield.glyph_patterns`) on `axes` (k of them); returns the axes."""
    import matplotlib.pyplot as plt

    x = np.asarray(patterns).reshape(-1, *shape)
    if axes is None:
        _, axes = plt.subplots(1, len(x), figsize=(1.2 * len(x), 1.6), squeeze=False)
        axes = axes[0]
    for i, (a, im) in enumerate(zip(axes, x, strict=False)):
        a.imshow(im, cmap="binary", vmin=-1, vmax=1)
        a.set_xticks([]), a.set_yticks([])
        if titles is not None:
            a.set_title(titles[i], fontsize=8)
    return axes


def plot_study_fit(entry: dict, ax: Any = None, label: str = "float", refs: Sequence[tuple[float, str]] = ()) -> Any:
    """One quantizer of a :func:`hopfield.study.analyze` result: alpha_c(N) with its 95% intervals against N^-nu at
    the fitted nu, the fits alpha_inf + a N^-nu (nu free, 1/2, 2/3; each drawn on the same axis, so only the free
    fit is a straight line), and reference values ``refs`` as (value, name) horizontal lines."""
    ax = _ax(ax)
    rows = [r for r in entry["sizes"] if np.isfinite(r["alpha_c"])]
    N = np.array([r["N"] for r in rows], float)
    ac = np.array([r["alpha_c"] for r in rows])
    fits = [(k, entry.get(k)) for k in ("fit", "fit_nu_1/2", "fit_nu_2/3") if entry.get(k)]
    nu = fits[0][1]["nu"]
    x = N ** -nu
    ax.errorbar(x, ac, yerr=[ac - np.array([r["lo"] for r in rows]), np.array([r["hi"] for r in rows]) - ac], fmt="o",
                ms=4, color="k", label=f"{label}: alpha_c(N), 95% CI")
    Ns = np.geomspace(N.max() * 1e3, N.min(), 200)
    for (k, f), style in zip(fits, ("-", "--", ":"), strict=False):
        name = "nu free" if k == "fit" else f"nu = {k.split('_')[-1]}"
        iv = f" [{f['alpha_inf_lo']:.4f}, {f['alpha_inf_hi']:.4f}]" if k == "fit" else ""
        ax.plot(Ns ** -nu, f["alpha_inf"] + f["a"] * Ns ** -f["nu"], style, lw=1.2,
                label=f"fit {name} (nu = {f['nu']:.2f}): alpha_inf = {f['alpha_inf']:.4f}{iv}")
    for (v, name), c in zip(refs, ("tab:red", "tab:purple", "tab:green"), strict=False):
        ax.axhline(v, color=c, lw=0.8, ls="-.", label=f"{name}: {v:g}")
    ax.set_xlim(0, x.max() * 1.05)
    ax.set_xlabel(f"N^-{nu:.2f} (N neurons; nu of the free fit)")
    ax.set_ylabel("alpha_c(N) (patterns per neuron)")
    ax.set_title("Capacity against size and its N -> infinity limit")
    legend(ax, fontsize=8)
    return ax
