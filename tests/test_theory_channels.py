"""Per-channel fitting: each channel's own rho-optimal shape (theory.fit with PerChannel, the search in theory._search)."""

import numpy as np
import pytest

import theory
from theory import _search as _channels
from theory.fitting import fit


def _per_channel(x, method, axis=0, shared_shape=False, **kw):
    """The per-channel fit (own shapes unless asked) as a list of per-tensor quantizers, one per slice along ``axis``."""
    q = theory.fit(x, method, granularity=theory.PerChannel(axis), shared_shape=shared_shape, **kw)
    return [q.group(i) for i in range(q.G)]


def _channels_of_different_shapes(n: int = 400, seed: int = 0) -> np.ndarray:
    """(12, n): Gaussian, heavy-tailed (Student t, 2 dof), uniform, sparse, and Gaussian with one big outlier rows."""
    rng = np.random.default_rng(seed)
    gauss = rng.standard_normal((3, n))
    heavy = rng.standard_t(2, (3, n)) * 0.3
    flat = rng.uniform(-1, 1, (2, n)) * 4.0
    sparse = rng.standard_normal((2, n)) * (rng.random((2, n)) < 0.1)
    outlier = rng.standard_normal((2, n)) * 0.5
    outlier[:, 0] = 12.0
    return np.concatenate([gauss, heavy, flat, sparse, outlier])


def _rho_rows(x: np.ndarray, qs: list) -> np.ndarray:
    return np.array([theory.rho(r, q) for r, q in zip(x, qs, strict=True)])


@pytest.mark.parametrize("method", ["uniform", "exponential", "lloyd_max"])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_own_shape_never_worse_than_pooled_shape(method, bits):
    """Every channel's rho with its own fitted shape >= its rho with the layer's pooled shape."""
    x = _channels_of_different_shapes()
    own = _rho_rows(x, _per_channel(x, method, bits=bits))
    pooled = _rho_rows(x, _per_channel(x, method, bits=bits, shared_shape=True))
    worst = np.min(own - pooled)
    assert worst >= -1e-12, f"{method} {bits} bits: a channel lost {-worst:.3g} of rho to the pooled shape"


@pytest.mark.parametrize("bits", [3, 4])
def test_exponential_per_channel_beats_pooled_on_mixed_shapes(bits):
    """Channels of very different shapes: the pooled exponential shape fits none well."""
    x = _channels_of_different_shapes()
    own = _rho_rows(x, _per_channel(x, "exponential", bits=bits))
    pooled = _rho_rows(x, _per_channel(x, "exponential", bits=bits, shared_shape=True))
    gain = float(np.mean(own - pooled))
    assert gain > 0.004, f"mean rho gain of per-channel exponential over pooled: {gain:.4f}"
    assert np.max(own - pooled) > 0.01, f"largest per-channel gain: {np.max(own - pooled):.4f}"


@pytest.mark.parametrize("method, tol", [("uniform", 1e-9), ("exponential", 2e-3), ("lloyd_max", 1e-9)])
def test_per_channel_matches_fit_on_each_channel(method, tol):
    """The vectorized search finds each channel's optimum as fit() on that channel alone (within tol)."""
    x = _channels_of_different_shapes(n=150, seed=1)
    own = _rho_rows(x, _per_channel(x, method, bits=3))
    alone = np.array([theory.rho(r, fit(r, method, bits=3)) for r in x])
    worst = np.min(own - alone)
    assert worst >= -tol, f"{method}: a channel is {-worst:.2g} below fit() on that channel"


def test_batched_rho_equals_empirical_rho():
    """SortedRows.rho (prefix sums + one searchsorted for all rows) equals theory.rho(w, q) row by row."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 64))
    x[2, :10] = 0.0  # ties at a threshold
    levels = np.sort(rng.standard_normal((5, 3, 8)), axis=2)
    t = 0.5 * (levels[..., 1:] + levels[..., :-1])
    t[2, 0, 3] = 0.0
    got = _channels.SortedRows(x).rho(levels, np.arange(5), thresholds=t)
    for i in range(5):
        for j in range(3):
            q = theory.Quantizer(t[i, j], levels[i, j])
            assert got[i, j] == pytest.approx(theory.rho(x[i], q), abs=1e-12)


def test_lloyd_max_per_channel_is_a_fixed_point():
    """Per-channel Lloyd-Max: each channel's levels are its cell means, thresholds the level midpoints."""
    x = _channels_of_different_shapes(n=200, seed=2)
    for r, q in zip(x, _per_channel(x, "lloyd_max", bits=3), strict=True):
        codes = q.encode(r)
        for k in np.unique(codes):
            assert q.levels[k] == pytest.approx(r[codes == k].mean(), rel=1e-6, abs=1e-12)
        np.testing.assert_allclose(q.thresholds, 0.5 * (q.levels[1:] + q.levels[:-1]), rtol=1e-12)


@pytest.mark.parametrize("method", ["uniform", "exponential", "lloyd_max"])
@pytest.mark.parametrize("bits", [1, 3, 4])
def test_degenerate_channels(method, bits):
    """Zero, constant, one-value and tiny channels still give valid quantizers with rho close to 1 where possible."""
    x = np.zeros((5, 9))
    x[1] = 0.7
    x[2, 4] = -3.0
    x[3] = np.arange(9) - 4.0
    x[4] = 1e-30 * np.arange(9)
    qs = _per_channel(x, method, bits=bits)
    assert len(qs) == 5 and all(q.K == 2**bits for q in qs)
    assert theory.rho(x[1], qs[1]) == pytest.approx(1.0)
    # one nonzero among zeros: two levels +-c (no zero level) reach only 1/3, more levels > 0.98 (uniform 8 levels, no zero level: 0.93)
    r2 = theory.rho(x[2], qs[2])
    assert r2 >= (1 / 3 - 1e-12 if bits == 1 else (0.92 if method == "uniform" else 0.98)), f"{method} {bits} bits: rho {r2:.4f} on a one-spike channel"
    if method == "lloyd_max" and bits == 4:  # 16 levels for 9 distinct values: exact
        assert theory.rho(x[3], qs[3]) == pytest.approx(1.0)
