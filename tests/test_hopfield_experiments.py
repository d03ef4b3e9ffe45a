"""Experiments against theory: Sheppard's field agreement, AGS overlaps, capacity; records, keys, interrupts."""

import os

import jax
import numpy as np
import pytest

import hopfield
import hopfield.experiments as ex
from hopfield import basins, capacity, compare_quantizers, finite_size, retrieval
from hopfield.critical_load import _fit_logistic

KEY = jax.random.key(2026)


@pytest.fixture(scope="module")
def comparison():
    qs = [None, "sign", "ternary", ("uniform", 8), ("exponential", 8), ("lloyd_max", 4)]
    return compare_quantizers(KEY, 400, [0.06], qs, networks=4, probes=4, progress=False)


def test_field_agreement_matches_sheppard_for_measured_rho(comparison):
    # Each measurement averages FIELD_STATES * N * networks field signs: binomial SE.
    n = ex.FIELD_STATES * 400 * 4
    for lab, fa, th in zip(comparison["labels"], comparison["field_agreement"], comparison["theory_field_agreement"]):
        se = np.sqrt(max(th * (1 - th), 1e-12) / n)
        assert abs(fa - th) <= 5 * se + 1e-12, f"{lab}: measured {fa:.4f} vs 1 - arccos(rho)/pi = {th:.4f} (SE {se:.4f})"
    assert comparison["field_agreement"][1] < 0.82, "sign weights must lose field agreement (rho^2 = 2/pi)"


def test_overlap_below_capacity_matches_ags_with_static_noise(comparison):
    # alpha = 0.06 is below alpha_c(rho) for all these quantizers; the retrieval state has
    # m = theory.overlap(alpha, rho) ~ 0.999; tolerance 5 SE (over networks) plus 3 bits of N.
    for r in comparison["runs"]:
        m, se, th = r["m_mean"][0], r["m_se"][0], r["theory_overlap"][0]
        assert abs(m - th) <= 5 * se + 3 / r["N"], f"{r['quantizer']}: m={m:.4f}+-{se:.4f} vs theory {th:.4f}"
        assert r["retrieved"][0] == 1.0


def test_capacity_float_above_sign_and_near_theory_ratio():
    alphas = np.linspace(0.06, 0.26, 11)
    f = capacity(KEY, 200, None, alphas=alphas, networks=6, probes=4, n_boot=100, progress=False)
    s = capacity(KEY, 200, "sign", alphas=alphas, networks=6, probes=4, n_boot=100, progress=False)
    assert f["alpha_c_lo"] <= f["alpha_c"] <= f["alpha_c_hi"]
    assert f["alpha_c_lo"] > s["alpha_c_hi"], f"float {f['alpha_c']:.3f} vs sign {s['alpha_c']:.3f}: CIs overlap"
    assert abs(f["theory_alpha_c"] - 0.138) < 1e-3 and abs(s["theory_alpha_c"] - 0.102) < 0.005
    # Finite N retrieves above the AGS value (AGS 1987), but not wildly: 0.138 < alpha_c(200) < 0.25.
    assert 0.138 < f["alpha_c"] < 0.25, f["alpha_c"]
    # Sompolinsky (1986): capacity scales with the noise; measured ratio vs predicted 0.102/0.138 = 0.74.
    ratio = s["alpha_c"] / f["alpha_c"]
    assert 0.55 < ratio < 0.9, ratio


def test_logistic_fit_recovers_known_crossing():
    rng = np.random.default_rng(0)
    a = np.linspace(0.05, 0.25, 21)
    n = np.full(a.size, 400)
    k = rng.binomial(n, 1 / (1 + np.exp((a - 0.16) / 0.015)))
    ac, w = _fit_logistic(a, k, n)
    # 8400 Bernoulli trials: the crossing is determined to ~1e-3.
    assert abs(ac - 0.16) < 0.004 and abs(w - 0.015) < 0.004, (ac, w)


def test_finite_size_fit_recovers_alpha_inf(monkeypatch):
    import hopfield.critical_load as cap

    def fake(key, N, quantizer=None, **kw):
        ac = 0.138 + 0.5 / np.sqrt(N)
        return dict(interrupted=False, alpha_c=ac, alpha_c_lo=ac - 0.002, alpha_c_hi=ac + 0.002, theory_alpha_c=0.138, quantizer="float")

    monkeypatch.setattr(cap, "capacity", fake)
    fs = cap.finite_size(KEY, [100, 400, 1600, 6400])
    assert abs(fs["alpha_inf"] - 0.138) < 1e-6 and abs(fs["a"] - 0.5) < 1e-5 and fs["alpha_inf_se"] < 0.01


def test_basins_shrink_with_initial_overlap():
    b = basins(KEY, 300, 0.1, None, m0=(1.0, 0.6, 0.0), networks=4, probes=4, progress=False)
    assert b["retrieved"][0] == 1.0 and b["retrieved"][1] >= 0.9
    assert b["retrieved"][2] <= 0.3, b["retrieved"]  # a random start (m0 = 0) rarely lands on the probed pattern


def test_same_key_same_record_and_exact_criterion():
    kw = dict(networks=2, probes=3, progress=False)
    a = retrieval(KEY, 100, [0.05, 0.2], ("uniform", 4), **kw)
    b = retrieval(KEY, 100, [0.05, 0.2], ("uniform", 4), **kw)
    assert np.array_equal(a["m"], b["m"]) and np.array_equal(a["rho"], b["rho"])
    e = retrieval(KEY, 100, [0.05, 0.2], ("uniform", 4), criterion="exact", **kw)
    assert np.array_equal(e["m"], a["m"]) and np.all(e["retrieved"] <= a["retrieved"])
    assert a["quantizer"] == "uniform 2 bit" and a["m"].shape == (2, 2, 3) and not a["interrupted"]


def test_keyboard_interrupt_returns_partial_record(monkeypatch):
    calls = {"n": 0}
    real = ex._network

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(ex, "_network", flaky)
    r = retrieval(KEY, 60, [0.05, 0.1, 0.15], None, networks=2, probes=2, progress=False)
    assert r["interrupted"] and list(r["alpha"]) == [0.05] and r["m"].shape == (1, 2, 2)


def test_report_section_quick(tmp_path):
    out = hopfield.report_section(quick=True, seed=0, out_dir=tmp_path)
    assert os.path.getsize(out["figure"]) > 10_000
    labels = [r["quantizer"] for r in out["rows"]]
    assert labels == ["float", "sign", "uniform 3 bit"]
    rows = {r["quantizer"]: r for r in out["rows"]}
    assert rows["float"]["m_mean"][0] > 0.99 and rows["float"]["rho"] == 1.0
    assert 0.75 < rows["sign"]["rho"] < 0.85  # sqrt(2/pi) = 0.80 for the clipped synapse


def test_getting_started_prints_a_tour(capsys):
    out = hopfield.getting_started(seed=1)
    text = capsys.readouterr().out
    assert "Hebb rule" in text and out["float"] == 1.0


def test_plot_helpers_draw_records_without_recomputing(comparison, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hopfield import plots

    fig, axes = plt.subplots(1, 4, figsize=(16, 3))
    plots.plot_field_agreement(comparison, ax=axes[0])
    plots.plot_overlap(comparison["runs"], ax=axes[1])
    plots.plot_retrieved(comparison["runs"], ax=axes[2])
    fs = dict(N=np.array([100, 400]), nu=0.5, alpha_c=np.array([0.19, 0.16]), alpha_c_lo=np.array([0.18, 0.155]),
              alpha_c_hi=np.array([0.2, 0.165]), alpha_inf=0.138, alpha_inf_se=0.01, a=0.5, theory_alpha_c=0.138,
              quantizer="float")
    plots.plot_finite_size(fs, ax=axes[3])
    assert len(axes[0].lines) == 1 + len(comparison["labels"])
    fig.savefig(tmp_path / "p.png")
    plt.close(fig)
