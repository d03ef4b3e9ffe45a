"""Report stage 2: Hebbian memory with quantized weights, measured against the theory.

Three parts, all from :mod:`hopfield` on the same seed (the orchestration lives here,
the science in the library):

- the retrieval curves m(alpha) for float, sign and 3-bit weights (:func:`report_section`);
- every quantizer family at 1-4 bits: m(alpha) beside the AGS/Sompolinsky curve at its
  measured rho, the capacity alpha_c with a bootstrap interval beside ``theory.predicted_capacity(rho)``,
  and the measured field-sign agreement beside 1 - arccos(rho)/pi;
- finite-size scaling of alpha_c for float and sign weights: alpha_c(N) = alpha_inf + a N^-1/2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from theory import Recipe
from .readme_study import STUDY_EXTRA, STUDY_RECORD, _ci, loads_text, ratio_rows, study_rows

#: Quantizers of the m(alpha) section: float weights, the clipped (sign) synapse, 3-bit uniform.
REPORT_QUANTIZERS = (None, Recipe("sign"), Recipe("uniform", bits=3))
#: The quantizers of the capacity comparison: float, sign, ternary and 2-4 bit uniform,
#: exponential and Lloyd-Max (K = 2**bits levels), all rho-optimal for Hebbian entries.
CAPACITY_QUANTIZERS = (None, Recipe("sign"), Recipe("ternary"),
                       *[Recipe(fam, bits=b) for fam in ("uniform", "exponential", "lloyd_max") for b in (2, 3, 4)])
#: Finite-size scaling for float and sign weights.
FS_QUANTIZERS = (None, Recipe("sign"))

#: The one sizes table of the stage: quick (the test suite, about a minute on 2 cores) and full.
SIZES = {
    "quick": {
        "section": dict(N=200, alphas=np.array([0.04, 0.08, 0.12, 0.16, 0.2]), networks=3, probes=4),
        "capacity": dict(N=120, alphas=np.linspace(0.04, 0.24, 6), networks=2, probes=4, n_boot=40),
        "finite_size": dict(Ns=(50, 100, 200), alphas=np.linspace(0.06, 0.3, 7), networks=3, probes=4, n_boot=40),
    },
    "full": {
        "section": dict(N=500, alphas=np.round(np.arange(0.02, 0.25, 0.02), 3), networks=10, probes=6),
        "capacity": dict(N=400, alphas=np.round(np.linspace(0.04, 0.26, 12), 3), networks=6, probes=4, n_boot=200),
        "finite_size": dict(Ns=(100, 200, 400, 800), alphas=np.round(np.linspace(0.06, 0.26, 11), 3), networks=6, probes=4,
                            n_boot=200),
    },
}


def sizes(quick: bool) -> dict[str, dict[str, Any]]:
    return SIZES["quick" if quick else "full"]


def report_section(quick: bool = False, seed: int = 0, out_dir: str | os.PathLike = ".", progress: bool = False) -> dict:
    """Retrieval curves m(alpha) for unquantized, sign and 3-bit uniform Hebbian weights, with the AGS/Sompolinsky theory.

    **Arguments:** `quick`: the quick sizes of :data:`SIZES`; `seed`: the key is ``jax.random.key(seed)``;
    `out_dir`: directory for ``hopfield_retrieval.png`` (created if missing).

    **Returns:** dict with ``figure`` (path), ``config`` (N, alphas, networks, probes,
    noise, mode, seed, quick, criterion) and ``rows``: one dict per quantizer with
    ``quantizer, rho, theory_capacity`` and per-load lists ``alpha, m_mean, m_se,
    retrieved, retrieved_se, theory_overlap``.
    """
    import jax
    import matplotlib.pyplot as plt

    import hopfield
    from hopfield.plots import plot_overlap, plot_retrieved

    sz = sizes(quick)["section"]
    N, alphas, networks, probes = sz["N"], sz["alphas"], sz["networks"], sz["probes"]
    cfg = dict(N=N, alphas=alphas.tolist(), networks=networks, probes=probes, noise=0.1, mode="async", seed=int(seed),
               quick=bool(quick), criterion=0.9)
    key = jax.random.key(seed)
    records = [hopfield.retrieval(N, alphas, q, key=key, noise=0.1, networks=networks, probes=probes, mode="async",
                                  criterion=0.9, progress=progress) for q in REPORT_QUANTIZERS]
    os.makedirs(out_dir, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_overlap(records, ax=axes[0])
    plot_retrieved(records, ax=axes[1])
    axes[0].set_title(f"Hebbian memory, N={N}, 10% start noise")
    fig.tight_layout()
    path = os.path.join(os.fspath(out_dir), "hopfield_retrieval.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    rows = [dict(quantizer=r.quantizer, rho=float(np.mean(r.rho)), theory_capacity=float(np.mean(r.theory_capacity)),
                 alpha=r.alpha.tolist(), m_mean=r.m_mean.tolist(), m_se=r.m_se.tolist(),
                 retrieved=r.retrieved.tolist(), retrieved_se=r.retrieved_se.tolist(),
                 theory_overlap=r.theory_overlap.tolist())
            for r in records]
    return dict(figure=path, config=cfg, rows=rows)


def capacity_comparison(quick: bool, seed: int, progress: bool = True) -> list:
    """``hopfield.measure_capacity`` for each of ``CAPACITY_QUANTIZERS`` on the same networks (one key)."""
    import jax
    from tqdm.auto import tqdm

    import hopfield

    cfg = dict(sizes(quick)["capacity"])
    N = cfg.pop("N")
    key = jax.random.fold_in(jax.random.key(seed), 1)  # a different stream from the m(alpha) section
    out = []
    for q in tqdm(CAPACITY_QUANTIZERS, desc="hopfield capacity per quantizer", disable=not progress):
        out.append(hopfield.measure_capacity(N, q, key=key, progress=False, **cfg))
        if out[-1].interrupted:
            break
    return out


def finite_size_scaling(quick: bool, seed: int, progress: bool = True) -> list:
    """``hopfield.finite_size`` for ``FS_QUANTIZERS``: alpha_c at several N, extrapolated to N -> infinity."""
    import jax
    from tqdm.auto import tqdm

    import hopfield

    cfg = dict(sizes(quick)["finite_size"])
    Ns = cfg.pop("Ns")
    key = jax.random.fold_in(jax.random.key(seed), 2)
    out = []
    for q in tqdm(FS_QUANTIZERS, desc="hopfield finite-size scaling", disable=not progress):
        out.append(hopfield.finite_size(Ns, q, key=key, progress=False, **cfg))
        if out[-1].interrupted:
            break
    return out


def _plot_finite_size(fss: list, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from hopfield.plots import plot_finite_size

    fig, axes = plt.subplots(1, len(fss), figsize=(5.5 * len(fss), 4), squeeze=False)
    for ax, fs in zip(axes[0], fss, strict=True):
        plot_finite_size(fs, ax=ax)
        ax.set_title(f"{fs.quantizer} weights: alpha_c(N) and its N -> infinity limit", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_comparison(caps: list, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from hopfield.plots import plot_capacity_vs_theory, plot_field_agreement, plot_overlap

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    axes = axes.ravel()
    float_rec = [c for c in caps if c.quantizer == "float"]
    lin = float_rec + [c for c in caps if c.quantizer in ("sign", "ternary") or c.quantizer.startswith("uniform")]
    other = float_rec + [c for c in caps if c.quantizer.startswith(("exponential", "lloyd"))]
    plot_overlap(lin, ax=axes[0])
    axes[0].set_title("sign, ternary, uniform (lines: theory at measured rho)", fontsize=9)
    plot_overlap(other, ax=axes[1])
    axes[1].set_title("exponential, Lloyd-Max (lines: theory at measured rho)", fontsize=9)
    plot_capacity_vs_theory(caps, ax=axes[2])
    axes[2].set_title(f"capacity at N = {caps[0].N}: measured alpha_c (95% CI) vs theory", fontsize=9)
    from hopfield.records import ComparisonRecord

    plot_field_agreement(ComparisonRecord.from_runs(caps), ax=axes[3])
    axes[3].set_title("field sign agreement vs 1 - arccos(rho)/pi", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def capacity_rows(caps: list) -> list[dict[str, Any]]:
    """One plain row per quantizer (capacity records): measured rho, field agreement, alpha_c and their predictions."""
    import theory

    rows = []
    for c in caps:
        d = c.done
        rho = float(min(np.mean(c.rho[d]), 1.0)) if d.any() else float("nan")
        rows.append(dict(quantizer=c.quantizer, N=int(c.N), rho=rho, noise=float(theory.synaptic_noise(rho)),
                         field_agreement=float(np.mean(c.field_agreement[d])) if d.any() else float("nan"),
                         theory_field_agreement=float(theory.field_agreement(rho)),
                         alpha_c=float(c.alpha_c), alpha_c_lo=float(c.alpha_c_lo), alpha_c_hi=float(c.alpha_c_hi),
                         theory_alpha_c=float(c.theory_alpha_c),
                         inside_ci=bool(c.alpha_c_lo <= c.theory_alpha_c <= c.alpha_c_hi)))
    f = next((r for r in rows if r["quantizer"] == "float"), None)
    for r in rows:  # capacity relative to float weights: the finite-size shift largely cancels
        r["relative_alpha_c"] = r["alpha_c"] / f["alpha_c"] if f else float("nan")
        r["theory_relative_alpha_c"] = r["theory_alpha_c"] / f["theory_alpha_c"] if f else float("nan")
    return rows


def finite_size_rows(fss: list) -> list[dict[str, Any]]:
    """One plain row per finite-size record (NaN where an interrupted scan did not get)."""
    return [dict(quantizer=fs.quantizer, N=[int(n) for n in fs.N], alpha_c=[float(a) for a in fs.alpha_c],
                 alpha_c_lo=[float(a) for a in fs.alpha_c_lo], alpha_c_hi=[float(a) for a in fs.alpha_c_hi],
                 alpha_inf=float(fs.alpha_inf), alpha_inf_se=float(fs.alpha_inf_se), nu=float(fs.nu),
                 theory_alpha_c=float(fs.theory_alpha_c)) for fs in fss]






def _ratio_table(ratios: list) -> tuple:
    iv = lambda lo, hi: "-" if lo is None else f"[{lo:.3f}, {hi:.3f}]"  # noqa: E731
    nz = lambda v: "-" if v is None else v  # noqa: E731
    return ("table", ["quantizer", "rho", "theory alpha_c", "theory / float", "N", "alpha_c / float at N", "95% interval",
                      "alpha_inf / float (nu=1/2)", "95% interval", "alpha_inf / float (nu free)", "95% interval"],
            [[r["quantizer"], r["rho"], r["theory_alpha_c"], r["theory_ratio"], r["N"], r["ratio"],
              iv(r["ratio_lo"], r["ratio_hi"]), nz(r["half"]), iv(r["half_lo"], r["half_hi"]), nz(r["free"]),
              iv(r["free_lo"], r["free_hi"])] for r in ratios])


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    section = report_section(quick=quick, seed=seed, out_dir=out_dir, progress=True)
    caps = capacity_comparison(quick, seed)
    fig = _plot_comparison(caps, Path(out_dir) / "hopfield_quantizers.png")
    fss = finite_size_scaling(quick, seed)
    fs_fig = _plot_finite_size(fss, Path(out_dir) / "hopfield_finite_size.png")
    cfg = sizes(quick)["capacity"]
    return {"section": section, "capacity": capacity_rows(caps), "figure": str(fig),
            "finite_size": finite_size_rows(fss), "finite_size_figure": str(fs_fig),
            "capacity_config": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in cfg.items()},
            "study": study_rows(), "study_extra": [r for r in map(study_rows, STUDY_EXTRA) if r],
            "study_ratios": ratio_rows(),
            "study_figure": study_figure(Path(out_dir) / "hopfield_study_fit.png")}


def study_figure(path: Path, record: Path = STUDY_RECORD) -> str | None:
    """alpha_c(N) of the committed study against N^-nu with its fits (None without a record)."""
    import json

    from hopfield.study import save_figure

    if not record.exists():
        return None
    return str(save_figure(json.loads(record.read_text()), str(path)))


def blocks(res: dict[str, Any]) -> list:
    sec, cfg = res["section"], res["section"]["config"]
    b: list = [("h", 2, "2. Hopfield memory with quantized weights")]
    b.append(("p", f"Hebbian networks of N={cfg['N']} neurons, {cfg['networks']} networks per load, {cfg['probes']} stored "
                   f"patterns probed per network from a start with {int(cfg['noise'] * 100)}% flipped bits, {cfg['mode']} "
                   "dynamics to a fixed point. Markers: measured final overlap m (mean +- SE over networks); lines: the "
                   "zero-temperature AGS equations with Sompolinsky's static synaptic noise 1/rho^2-1 at the measured rho."))
    b.append(("img", sec["figure"], "m(alpha) and fraction retrieved for float, sign and 3-bit uniform Hebbian weights."))
    rows = []
    for r in sec["rows"]:
        for a, m, se, th, ret in zip(r["alpha"], r["m_mean"], r["m_se"], r["theory_overlap"], r["retrieved"], strict=True):
            rows.append([r["quantizer"], r["rho"], a, m, se, th, ret])
    b.append(("table", ["quantizer", "rho", "alpha", "m measured", "SE", "m theory", "fraction retrieved"], rows))
    cc = res["capacity_config"]
    caps = res["capacity"]
    n_in = sum(r["inside_ci"] for r in caps)
    b.append(("h", 3, "Capacity and field agreement for every quantizer family"))
    b.append(("p", f"N={cc['N']}, loads {cc['alphas'][0]:g}-{cc['alphas'][-1]:g}, {cc['networks']} networks x {cc['probes']} "
                   "probes per load, retrieved when m >= 0.9; alpha_c is the logistic fit's midpoint with a 95% bootstrap "
                   "interval over networks. The theory is the N -> infinity capacity at the measured rho, so finite-size "
                   f"networks are expected to sit near it, not on it: {n_in} of {len(caps)} intervals contain it. "
                   "Field agreement: measured fraction of local fields whose sign the quantized matrix keeps, on random "
                   "states, beside Sheppard's 1 - arccos(rho)/pi."))
    b.append(("p", "Relative to float weights the finite-size shift largely cancels: the last two columns compare the "
                   "measured alpha_c / alpha_c(float) with the predicted alpha_c(rho) / alpha_c(1)."))
    b.append(("table", ["quantizer", "rho", "1/rho^2-1", "field agreement", "1-arccos(rho)/pi", "alpha_c", "95% CI", "theory alpha_c",
                        "alpha_c / float", "theory / float"],
              [[r["quantizer"], r["rho"], r["noise"], r["field_agreement"], r["theory_field_agreement"], r["alpha_c"],
                f"[{r['alpha_c_lo']:.3f}, {r['alpha_c_hi']:.3f}]", r["theory_alpha_c"], r["relative_alpha_c"],
                r["theory_relative_alpha_c"]] for r in caps]))
    b.append(("img", res["figure"], "Top: m(alpha) per quantizer with the theory curve at its measured rho; bottom left: measured vs "
                                    "predicted capacity; bottom right: field sign agreement on Sheppard's curve."))
    fs = res["finite_size"]
    b.append(("h", 3, "Finite-size scaling of the capacity"))
    b.append(("p", "alpha_c measured at several N (same protocol as above) and fitted by weighted least squares to "
                   "alpha_c(N) = alpha_inf + a N^(-1/2); alpha_inf is the estimate to set beside the mean-field theory, "
                   "which holds for N -> infinity."))
    b.append(("table", ["quantizer", "N", "alpha_c(N)", "alpha_inf", "SE", "theory alpha_c", "|alpha_inf - theory| / SE"],
              [[r["quantizer"], ", ".join(map(str, r["N"])), ", ".join(f"{a:.3f}" for a in r["alpha_c"]), r["alpha_inf"],
                r["alpha_inf_se"], r["theory_alpha_c"], abs(r["alpha_inf"] - r["theory_alpha_c"]) / max(r["alpha_inf_se"], 1e-12)]
               for r in fs]))
    b.append(("img", res["finite_size_figure"], "alpha_c(N) against N^-1/2 with the weighted fit and the theory value."))
    st = res.get("study")
    if st:
        c = st["config"]
        b.append(("h", 3, "The capacity study: stability protocol, exponent fitted"))
        b.append(("p", f"From the committed record docs/{st['path']} (`python -m hopfield.study`, {st['networks']} networks, "
                       f"{st['seconds']:.0f} s of runs on 2 cores): N = {', '.join(map(str, c['sizes']))}, {c['networks']} "
                       f"networks per size, every stored pattern a probe starting at the pattern ({c['protocol']} protocol), "
                       f"{loads_text(c)}. alpha_inf + a N^-nu with nu free; the interval is the "
                       "profile likelihood over a and nu, so it includes nu's uncertainty. The basin numbers above start "
                       "from 10% flipped bits and measure a basin, not the fixed point the theory is about. References: "
                       "0.137905 (replica symmetric), 0.138186 (one-step RSB), 0.145 +- 0.009 (simulations), Steffan and Kuhn 1994."))
        b.append(("table", ["criterion", "quantizer", "alpha_inf", "95% interval", "nu", "nu interval", "chi2 / dof",
                            "alpha_inf (nu=1/2)", "alpha_inf (nu=2/3)"],
                  [[r["criterion"], r["quantizer"], r["alpha_inf"], f"[{r['lo']:.4f}, {r['hi']:.4f}]", r["nu"],
                    f"[{r['nu_lo']:.2f}, {r['nu_hi']:.2f}]", f"{r['chi2']:.2f} / {r['dof']}", r["alpha_inf_half"],
                    r["alpha_inf_two_thirds"]] for r in st["rows"]]))
        if res.get("study_figure"):
            b.append(("img", res["study_figure"], "alpha_c(N) of the study (float, fraction criterion) against N^-nu at "
                                                  "the fitted nu, with the fits for nu free, 1/2 and 2/3 and the published values."))
        if st.get("ratios"):
            b.append(("p", "Quantized relative to float (fraction criterion), beside theory: rho of each quantizer's "
                           "a-priori optimum for Gaussian weights (the large-p limit of the Hebbian entries) and "
                           "`theory.predicted_capacity(rho)` (AGS with Sompolinsky's static synaptic noise). Measured: "
                           "alpha_c / alpha_c(float) at the largest N, and alpha_inf / alpha_inf(float) with nu = 1/2 "
                           "and with nu free per quantizer; 95% intervals from one bootstrap over networks shared by all "
                           "quantizers (they run on the same networks, so the ratios are paired)."))
            b.append(_ratio_table(st["ratios"]))
    for ex in res.get("study_extra") or []:
        c = ex["config"]
        b.append(("p", f"Ratios from docs/{ex['path']} (the same command, {', '.join(c['quantizers'])}; N = "
                       f"{', '.join(map(str, ex['done_sizes']))}; {ex['networks']} networks in {ex['seconds']:.0f} s"
                       f"{', interrupted' if ex['interrupted'] else ''}; {loads_text(c)}):"))
        if ex.get("ratios"):
            b.append(_ratio_table(ex["ratios"]))
    rr = res.get("study_ratios")
    if rr and rr["rows"]:
        b.append(("p", f"One study per quantizer, its loads where its own transition lies, on the networks of "
                       f"docs/{Path(rr['reference']).name} (paired bootstrap; docs/{rr['path']}, `{rr['command']}`, "
                       f"{rr['date']}): each quantizer's alpha_inf (nu free) and its ratios to float, on the sizes both "
                       "records hold."
                       + (f" Out of date: {', '.join(rr['stale'])} changed since." if rr["stale"] else "")))
        b.append(("table", ["quantizer", "rho", "theory alpha_c", "theory / float", "alpha_inf (nu free)", "nu",
                            "alpha_c / float at N", "N", "alpha_inf / float (nu free)", "alpha_inf / float (nu=1/2)"],
                  [[r["quantizer"], r["rho"], r["theory_alpha_c"], r["theory_ratio"], _ci(r["alpha_inf"], r["lo"], r["hi"]),
                    r["nu"], _ci(r["ratio"], r["ratio_lo"], r["ratio_hi"]), r["N"], _ci(r["free"], r["free_lo"], r["free_hi"]),
                    _ci(r["half"], r["half_lo"], r["half_hi"])] for r in rr["rows"]]))
    return b
