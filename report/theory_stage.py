"""Report stage 1: the derived formula and rho per quantizer family, closed form vs Monte Carlo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import theory
from theory.densities import get_density

FAMILY_ORDER = ("sign", "ternary", "uniform", "exponential", "lloyd_max")


def quantizers_by_bits(dist: str, bits_list: list[int]) -> list[tuple[str, int, theory.Quantizer]]:
    """(family, bits, unit-sigma quantizer) for every family and bit width that family has."""
    out = []
    for b in bits_list:
        if b == 1:
            out.append(("sign", 1, theory.make("sign", 2, dist)))
        if b == 2:
            out.append(("ternary", 2, theory.make("ternary", 3, dist)))
        for fam in ("uniform", "exponential", "lloyd_max"):
            if b >= 2:
                out.append((fam, b, theory.make(fam, 2**b, dist)))
    return out


def rho_with_se(w: np.ndarray, qw: np.ndarray) -> tuple[float, float]:
    """Empirical rho and its standard error by the delta method on (w q, w^2, q^2)."""
    a, b, c = w * qw, w * w, qw * qw
    A, B, C = a.mean(), b.mean(), c.mean()
    r = A / np.sqrt(B * C)
    g = np.array([1 / np.sqrt(B * C), -r / (2 * B), -r / (2 * C)])
    cov = np.cov(np.vstack([a, b, c]))
    return float(r), float(np.sqrt(g @ cov @ g / w.size))


def rho_table(dists: tuple[str, ...], bits_list: list[int], n: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for di, dist in enumerate(dists):
        w = get_density(dist).sample(n, np.random.SeedSequence([seed, di]))
        for fam, b, q in quantizers_by_bits(dist, bits_list):
            closed = theory.rho(q, dist)
            meas, se = rho_with_se(w, q(w))
            rows.append({"dist": dist, "family": fam, "bits": b, "K": q.K, "rho_closed": closed,
                         "rho_measured": meas, "se": se, "z": (meas - closed) / se if se > 0 else 0.0,
                         "noise": theory.synaptic_noise(closed), "field_agreement": theory.field_agreement(closed)})
        # the usual toolkit baseline has no closed form: its range is the sample's extremes
        for b in bits_list:
            q = theory.fit(w, "minmax", bits=b)
            meas, se = rho_with_se(w, q(w))
            rows.append({"dist": dist, "family": "minmax", "bits": b, "K": q.K, "rho_closed": float("nan"),
                         "rho_measured": meas, "se": se, "z": float("nan"),
                         "noise": theory.synaptic_noise(meas), "field_agreement": theory.field_agreement(meas)})
    return rows


def plot_rho_vs_bits(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    dists = sorted({r["dist"] for r in rows})
    fig, axes = plt.subplots(1, len(dists), figsize=(5.5 * len(dists), 4), sharey=True, squeeze=False)
    for ax, dist in zip(axes[0], dists, strict=True):
        for fam in ("uniform", "exponential", "lloyd_max", "minmax"):
            rs = sorted((r for r in rows if r["dist"] == dist and r["family"] == fam), key=lambda r: r["bits"])
            key = "rho_measured" if fam == "minmax" else "rho_closed"
            ax.plot([r["bits"] for r in rs], [1 - r[key] for r in rs], "o-", label=fam + (" (sampled)" if fam == "minmax" else ""))
        for fam, mk in (("sign", "s"), ("ternary", "^")):
            rs = [r for r in rows if r["dist"] == dist and r["family"] == fam]
            ax.plot([r["bits"] for r in rs], [1 - r["rho_closed"] for r in rs], mk, ms=9, label=fam)
        ax.set_yscale("log")
        ax.set_xlabel("bits per weight")
        ax.set_title(f"{dist} weights")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("1 - rho (log scale)")
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    from .formulas import formulas

    n = 200_000 if quick else 1_000_000
    bits_list = list(range(1, 9))
    rows = rho_table(("gaussian", "laplace"), bits_list, n, seed)
    fig = plot_rho_vs_bits(rows, out_dir / "rho_vs_bits.png")
    return {"rows": rows, "n": n, "figure": fig, "formulas": formulas()}


def blocks(res: dict[str, Any]) -> list:
    b: list = [("h", 2, "1. The correlation formula")]
    b.append(("p", "Derived with sympy (`theory.derivation`) for a general K-level quantizer with thresholds t_k and "
                   "levels c_k. The fast closed forms used everywhere below are numpy code written by hand in "
                   "`theory.densities` (each density's partial moments F0(x) = P(w < x) and F1(x) = E[w; w < x]), not "
                   "the lambdified sympy expressions; the test suite ties the two together: the lambdified F0 and F1 "
                   "of every density equal the hand-written ones to 1e-13 (`tests/test_theory_derivation.py`), and "
                   "the lambdified rho of each family equals `theory.rho` to 1e-12."))
    for f in res["formulas"]:  # MathML drawn by the browser, LaTeX kept beside it (report/formulas.py)
        b.append(("math", f["latex"], f["mathml"], f["caption"]))
    rows = res["rows"]
    worst = max(abs(r["z"]) for r in rows if r["z"] == r["z"])
    b.append(("p", f"rho of each family at its rho-optimal parameters, closed form vs measured on {res['n']:,} sampled "
                   f"weights (z = (measured - closed)/standard error; largest |z| = {worst:.2f}). `minmax` is the usual "
                   "round-to-nearest baseline over the sample's range: it has no closed form."))
    b.append(("table", ["dist", "family", "bits", "K", "rho closed form", "rho measured", "SE", "z", "1/rho^2-1", "field agreement"],
              [[r["dist"], r["family"], r["bits"], r["K"], r["rho_closed"], r["rho_measured"], r["se"], r["z"], r["noise"], r["field_agreement"]] for r in rows]))
    b.append(("img", str(res["figure"]), "1 - rho against bits per weight for each family (closed form; minmax measured)."))
    return b
