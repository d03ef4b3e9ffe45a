"""Experiments against theory: Sheppard's field agreement, AGS overlaps, capacity; records, keys, interrupts."""

import json

import jax
import numpy as np
import pytest

import hopfield
import hopfield.experiments as ex
import theory
from hopfield import basins, compare_quantizers, finite_size, measure_capacity, retrieval
from hopfield.critical_load import _fit_logistic
from hopfield.records import (BasinsRecord, CapacityRecord, ComparisonRecord, FiniteSizeRecord, RetrievalRecord,
                              ScanRecord)

KEY = jax.random.key(2026)


@pytest.fixture(scope="module")
def comparison():
    qs = [None, "sign", "ternary", ("uniform", 8), ("exponential", 8), ("lloyd_max", 4)]
    return compare_quantizers(400, [0.06], qs, key=KEY, networks=4, probes=4, progress=False)


def test_field_agreement_matches_sheppard_for_measured_rho(comparison):
    # Each measurement averages FIELD_STATES * N * networks field signs: binomial SE.
    n = ex.FIELD_STATES * 400 * 4
    for lab, fa, th in zip(comparison.labels, comparison.field_agreement, comparison.theory_field_agreement, strict=True):
        se = np.sqrt(max(th * (1 - th), 1e-12) / n)
        assert abs(fa - th) <= 5 * se + 1e-12, f"{lab}: measured {fa:.4f} vs 1 - arccos(rho)/pi = {th:.4f} (SE {se:.4f})"
    assert comparison.field_agreement[1] < 0.82, "sign weights must lose field agreement (rho^2 = 2/pi)"


def test_overlap_below_capacity_matches_ags_with_static_noise(comparison):
    # alpha = 0.06 is below alpha_c(rho) for all these quantizers; the retrieval state has
    # m = theory.overlap(alpha, rho) ~ 0.999; tolerance 5 SE (over networks) plus 3 bits of N.
    for r in comparison.runs:
        m, se, th = r.m_mean[0], r.m_se[0], r.theory_overlap[0]
        assert abs(m - th) <= 5 * se + 3 / r.N, f"{r.quantizer}: m={m:.4f}+-{se:.4f} vs theory {th:.4f}"
        assert r.retrieved[0] == 1.0


def test_capacity_float_above_sign_and_near_theory_ratio():
    alphas = np.linspace(0.06, 0.26, 11)
    f = measure_capacity(200, None, key=KEY, alphas=alphas, networks=6, probes=4, n_boot=100, progress=False)
    s = measure_capacity(200, "sign", key=KEY, alphas=alphas, networks=6, probes=4, n_boot=100, progress=False)
    assert isinstance(f, CapacityRecord) and isinstance(f, RetrievalRecord)
    assert f.alpha_c_lo <= f.alpha_c <= f.alpha_c_hi
    assert f.alpha_c_lo > s.alpha_c_hi, f"float {f.alpha_c:.3f} vs sign {s.alpha_c:.3f}: CIs overlap"
    assert abs(f.theory_alpha_c - 0.138) < 1e-3 and abs(s.theory_alpha_c - 0.102) < 0.005
    # Finite N retrieves above the AGS value (AGS 1987), but not wildly: 0.138 < alpha_c(200) < 0.25.
    assert 0.138 < f.alpha_c < 0.25, f.alpha_c
    # Sompolinsky (1986): capacity scales with the noise; measured ratio vs predicted 0.102/0.138 = 0.74.
    ratio = s.alpha_c / f.alpha_c
    assert 0.55 < ratio < 0.9, ratio


def test_logistic_fit_recovers_known_crossing():
    rng = np.random.default_rng(0)
    a = np.linspace(0.05, 0.25, 21)
    n = np.full(a.size, 400)
    k = rng.binomial(n, 1 / (1 + np.exp((a - 0.16) / 0.015)))
    ac, w = _fit_logistic(a, k, n)
    # 8400 Bernoulli trials: the crossing is determined to ~1e-3.
    assert abs(ac - 0.16) < 0.004 and abs(w - 0.015) < 0.004, (ac, w)


def _fake_capacity(N, quantizer=None, *, key, **kw):
    ac = 0.138 + 0.5 / np.sqrt(N)
    return CapacityRecord(**_EMPTY, n_boot=0, alpha_c=ac, alpha_c_lo=ac - 0.002, alpha_c_hi=ac + 0.002, width=0.01,
                          fit_alpha=np.zeros(100), fit_retrieved=np.zeros(100), k=np.zeros(1, int), n=np.zeros(1, int),
                          theory_alpha_c=0.138)


_CONFIG = dict(N=50, quantizer="float", recipe=None, noise=0.1, networks=1, probes=1, mode="async", max_sweeps=1,
               criterion=0.9, dist="hebbian")
_EMPTY = {f: getattr(ex._retrieval_record([], np.array([0.1]), _CONFIG, False), f) for f in RetrievalRecord.__dataclass_fields__}


def test_finite_size_fit_recovers_alpha_inf(monkeypatch):
    import hopfield.critical_load as cap

    monkeypatch.setattr(cap, "measure_capacity", _fake_capacity)
    fs = cap.finite_size([100, 400, 1600, 6400], key=KEY)
    assert abs(fs.alpha_inf - 0.138) < 1e-6 and abs(fs.a - 0.5) < 1e-5 and fs.alpha_inf_se < 0.01


def test_interrupted_finite_size_keeps_the_schema_and_the_report_reads_it(monkeypatch):
    # Ctrl-C during the second size's loads: the record has every field, NaN where the scan did not get,
    # and the report stage turns it into rows (it used to crash with KeyError: 'alpha_c').
    from report import hopfield_stage

    calls = {"n": 0}
    real = ex._network

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 9:  # the first size (4 loads x 2 networks) done, then Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(ex, "_network", flaky)
    fs = finite_size([40, 60, 80], "sign", key=KEY, alphas=[0.05, 0.1, 0.2, 0.3], networks=2, probes=2, n_boot=5,
                     progress=False)
    assert type(fs) is FiniteSizeRecord and fs.interrupted
    assert fs.N.tolist() == [40, 60, 80] and fs.quantizer == "sign" and fs.recipe == theory.Recipe("sign")
    assert np.isfinite(fs.alpha_c[0]) and np.isnan(fs.alpha_c[1:]).all() and np.isnan(fs.alpha_c_lo[1:]).all()
    assert np.isnan(fs.alpha_inf) and np.isnan(fs.alpha_inf_se) and np.isnan(fs.a)  # one size done: no fit
    assert len(fs.runs) == 2 and fs.runs[1].interrupted and not fs.runs[0].interrupted
    partial = fs.runs[1]
    assert type(partial) is CapacityRecord and partial.done.tolist() == [False] * 4 and np.isnan(partial.alpha_c)
    row = hopfield_stage.finite_size_rows([fs])[0]
    assert row["N"] == [40, 60, 80] and np.isnan(row["alpha_c"][2]) and np.isnan(row["alpha_inf"])
    again = FiniteSizeRecord.from_dict(json.loads(json.dumps(fs.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(again.alpha_c, fs.alpha_c)
    assert again.interrupted and type(again.runs[0]) is CapacityRecord


def test_basins_shrink_with_initial_overlap():
    b = basins(300, 0.1, None, key=KEY, m0=(1.0, 0.6, 0.0), networks=4, probes=4, progress=False)
    assert isinstance(b, BasinsRecord)
    assert b.retrieved[0] == 1.0 and b.retrieved[1] >= 0.9
    assert b.retrieved[2] <= 0.3, b.retrieved  # a random start (m0 = 0) rarely lands on the probed pattern


def test_same_key_same_record_and_exact_criterion():
    kw = dict(networks=2, probes=3, progress=False)
    a = retrieval(100, [0.05, 0.2], ("uniform", 4), key=KEY, **kw)
    b = retrieval(100, [0.05, 0.2], ("uniform", 4), key=KEY, **kw)
    assert np.array_equal(a.m, b.m) and np.array_equal(a.rho, b.rho)
    e = retrieval(100, [0.05, 0.2], ("uniform", 4), key=KEY, criterion="exact", **kw)
    assert np.array_equal(e.m, a.m) and np.all(e.retrieved <= a.retrieved)
    assert a.quantizer == "uniform 2 bit" and a.m.shape == (2, 2, 3) and not a.interrupted


def _interrupt_at(monkeypatch, n):
    calls = {"n": 0}
    real = ex._network

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(ex, "_network", flaky)


def test_keyboard_interrupt_returns_the_same_record_with_nan(monkeypatch):
    _interrupt_at(monkeypatch, 3)
    r = retrieval(60, [0.05, 0.1, 0.15], None, key=KEY, networks=2, probes=2, progress=False)
    assert type(r) is RetrievalRecord and r.interrupted
    assert r.alpha.tolist() == [0.05, 0.1, 0.15] and r.m.shape == (3, 2, 2)
    assert r.done.tolist() == [True, False, False]
    assert np.isfinite(r.m[0]).all() and np.isnan(r.m[1:]).all()
    for name in ("m_mean", "retrieved", "rho", "theory_overlap", "theory_capacity", "sweeps_mean"):
        x = getattr(r, name)
        assert np.isfinite(x[0]) and np.isnan(x[1:]).all(), name


def test_interrupted_basins_and_comparison_keep_their_schema(monkeypatch):
    _interrupt_at(monkeypatch, 2)
    b = basins(60, 0.1, "sign", key=KEY, m0=(1.0, 0.5), networks=3, probes=2, progress=False)
    assert type(b) is BasinsRecord and b.interrupted and b.networks == 3 and b.m.shape == (3, 2, 2)
    assert np.isfinite(b.m[0]).all() and np.isnan(b.m[1:]).all() and np.isfinite(b.retrieved).all()
    _interrupt_at(monkeypatch, 3)
    c = compare_quantizers(60, [0.05, 0.1], [None, "sign", "ternary"], key=KEY, networks=1, probes=2, progress=False)
    assert type(c) is ComparisonRecord and c.interrupted and c.labels == ("float", "sign", "ternary")
    assert [r.done.tolist() for r in c.runs] == [[True, True], [False, False], [False, False]]
    assert np.isfinite(c.rho[0]) and np.isnan(c.rho[1:]).all()


def test_records_round_trip_through_json(comparison):
    cap = measure_capacity(60, "ternary", key=KEY, alphas=[0.05, 0.15, 0.3], networks=2, probes=2, n_boot=5,
                           progress=False)
    scan = hopfield.capacity_scan(60, [3, 9], key=KEY, trials=2)
    b = basins(60, 0.1, None, key=KEY, m0=(1.0, 0.5), networks=2, probes=2, progress=False)
    for rec in (comparison, cap, scan, b, comparison.runs[2]):
        d = json.loads(json.dumps(rec.to_dict(), allow_nan=False))  # strict JSON: NaN is written as null
        again = type(rec).from_dict(d)
        for name in d:
            if isinstance(getattr(rec, name), np.ndarray):
                np.testing.assert_array_equal(getattr(again, name), getattr(rec, name), err_msg=name)
                assert getattr(again, name).dtype.kind == getattr(rec, name).dtype.kind, name
        assert again.to_dict() == rec.to_dict()
    assert type(ScanRecord.from_dict(scan.to_dict())) is ScanRecord
    assert CapacityRecord.from_dict(cap.to_dict()).recipe == theory.Recipe("ternary") and comparison.runs[0].recipe is None
    with pytest.raises(ValueError, match="^d is missing"):
        RetrievalRecord.from_dict({"N": 3})


def test_getting_started_prints_a_tour(capsys):
    out = hopfield.getting_started(seed=1)
    text = capsys.readouterr().out
    assert "Hebb rule" in text and out["float"] == 1.0


def test_plot_helpers_draw_records_without_recomputing(comparison, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hopfield import plots

    fig, axes = plt.subplots(1, 5, figsize=(20, 3))
    assert plots.plot_field_agreement(comparison, ax=axes[0]) is axes[0]
    assert plots.plot_overlap(comparison.runs, ax=axes[1]) is axes[1]
    assert plots.plot_retrieved(comparison.runs, ax=axes[2]) is axes[2]
    fs = FiniteSizeRecord(quantizer="float", recipe=None, nu=0.5, interrupted=False, N=np.array([100, 400]), alpha_c=np.array([0.19, 0.16]),
                          alpha_c_lo=np.array([0.18, 0.155]), alpha_c_hi=np.array([0.2, 0.165]), alpha_inf=0.138,
                          alpha_inf_se=0.01, a=0.5, theory_alpha_c=0.138, runs=())
    assert plots.plot_finite_size(fs, ax=axes[3]) is axes[3]
    b = basins(60, 0.1, None, key=KEY, m0=(1.0, 0.5), networks=2, probes=2, progress=False)
    assert plots.plot_basins([b], ax=axes[4]) is axes[4]
    assert len(axes[0].lines) == 1 + len(comparison.labels)
    fig.savefig(tmp_path / "p.png")
    plt.close(fig)


def test_stability_protocol_probes_every_stored_pattern_unperturbed():
    rec = retrieval(60, [0.05, 0.1], key=jax.random.key(3), networks=2, protocol="stability", progress=False)
    assert rec.protocol == "stability" and rec.noise == 0.0 and rec.probes == 6
    assert rec.m.shape == (2, 2, 6) and np.isnan(rec.m[0, :, 3:]).all() and not np.isnan(rec.m[1]).any()
    assert np.all(rec.m[0, :, :3] == 1.0)  # alpha = 0.05 at N = 60: three patterns, each a fixed point
    back = RetrievalRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back.protocol == "stability"
    old = rec.to_dict()
    del old["protocol"]  # records written before the field existed read as the basin protocol
    assert RetrievalRecord.from_dict(old).protocol == "basin"
    assert retrieval(60, [0.1], key=jax.random.key(3), networks=1, progress=False).protocol == "basin"
    with pytest.raises(ValueError, match="^protocol"):
        retrieval(60, [0.1], key=jax.random.key(3), protocol="noisy")
