"""Optimality facts: Max's (1960) table, rho-optimal family parameters, rho^2 = 1 - D/E[w^2], fitting on data."""

import numpy as np
import pytest

import theory


def _per_channel(x, method, axis=0, shared_shape=False, **kw):
    """The per-channel fit (own shapes unless asked) as a list of per-tensor quantizers, one per slice along ``axis``."""
    q = theory.fit(x, method, granularity=theory.PerChannel(axis), shared_shape=shared_shape, **kw)
    return [q.group(i) for i in range(q.G)]


@pytest.mark.parametrize("K,mse", [(2, 0.3634), (4, 0.1175), (8, 0.03454)])
def test_lloyd_max_gaussian_matches_max_1960(K, mse):
    q = theory.lloyd_max(K, "gaussian")
    got = theory.moments(q, "gaussian")["mse"]
    assert got == pytest.approx(mse, rel=5e-4), f"K={K}: MSE {got:.5f}, Max (1960) {mse}"


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "uniform", ("hebbian", 9)])
@pytest.mark.parametrize("K", [2, 3, 4, 8])
def test_centroid_identity_for_lloyd_max(K, dist):
    q = theory.lloyd_max(K, dist)
    m = theory.moments(q, dist)
    assert theory.rho(q, dist) ** 2 == pytest.approx(1 - m["mse"] / m["E_w2"], abs=1e-10)
    np.testing.assert_allclose(q.levels, theory.correlation.centroid_levels(q.thresholds, dist), atol=1e-9)


def _perturbations(x, rel=1e-3):
    return [x * (1 - rel), x * (1 + rel)]


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "uniform"])
def test_family_parameters_are_local_maxima_of_rho(dist):
    t = theory.ternary(dist=dist)
    r0 = theory.rho(t, dist)
    for tt in _perturbations(t.thresholds[1]):
        assert theory.rho(theory.ternary(tt, dist), dist) < r0
    for K in (4, 8):
        u = theory.uniform(K, dist=dist, gain=None)
        step = u.levels[1] - u.levels[0]
        r0 = theory.rho(u, dist)
        for s in _perturbations(step):
            assert theory.rho(theory.uniform(K, s, dist, gain=None), dist) < r0
        e = theory.exponential(K, dist=dist, gain=None)
        pos = e.levels[e.levels > 0]
        c, base = pos[0], pos[1] / pos[0]
        r0 = theory.rho(e, dist)
        for b in _perturbations(base):
            assert theory.rho(theory.exponential(K, b, dist, gain=None, c=c), dist) <= r0 + 1e-13
        for cc in _perturbations(c):
            assert theory.rho(theory.exponential(K, base, dist, gain=None, c=cc), dist) <= r0 + 1e-13


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "uniform"])
@pytest.mark.parametrize("K", [4, 8])
def test_lloyd_max_beats_constrained_families(dist, K):
    r = theory.rho(theory.lloyd_max(K, dist), dist)
    for fam in ("uniform", "exponential"):
        assert r >= theory.rho(theory.make(fam, K, dist), dist) - 1e-12


@pytest.mark.parametrize("dist", ["gaussian", "laplace"])
@pytest.mark.parametrize("bits", [3, 4])
def test_fitted_beat_minmax_on_data(dist, bits):
    x = 0.05 * theory.get_density(dist).sample(100_000, seed=bits)
    r_mm = theory.rho(x, theory.fit(x, "minmax", bits=bits))
    for method in ("uniform", "exponential", "lloyd_max"):
        r = theory.rho(x, theory.fit(x, method, bits=bits))
        assert r > r_mm, f"{method} {dist} {bits} bits: rho {r:.5f} <= minmax {r_mm:.5f}"


def test_lloyd_on_data_converges_and_is_deterministic():
    x = np.random.default_rng(3).standard_normal(50_000)
    q1, q2 = theory.fit(x, "lloyd_max", bits=3), theory.fit(x, "lloyd_max", bits=3)
    assert q1 == q2
    # a fixed point of Lloyd's iteration on the data: levels are the data centroids of their cells
    codes = q1.encode(x)
    cent = np.array([x[codes == k].mean() for k in range(q1.K)])
    np.testing.assert_allclose(q1.levels, cent, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(q1.thresholds, 0.5 * (cent[:-1] + cent[1:]), rtol=1e-9, atol=1e-12)
    # and close to the Gaussian Lloyd-Max quantizer
    assert theory.rho(x, q1) == pytest.approx(theory.rho(theory.lloyd_max(8), "gaussian"), abs=2e-3)


def test_fit_channels_one_scale_per_channel():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 500)) * np.arange(1, 7)[:, None]
    qs = _per_channel(x, "uniform", bits=3, axis=0)
    qg = theory.fit(x, "uniform", bits=3, granularity=theory.PerChannel(0))
    codes, deq = qg.encode(x), qg(x)
    assert codes.shape == x.shape and deq.shape == x.shape
    for i, q in enumerate(qs):  # the grouped quantizer applies each channel's own quantizer
        np.testing.assert_array_equal(codes[i], q.encode(x[i]))
        np.testing.assert_array_equal(deq[i], q(x[i]))
    for i, q in enumerate(qs):
        assert theory.rho(x[i], q) > 0.95
