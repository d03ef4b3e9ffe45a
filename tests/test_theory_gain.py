"""The gain rule of fitted levels: least squares ("mse") vs unbiased (E[w q] = E[w^2]); rho is the same."""

import numpy as np
import pytest

import theory
from theory.fitting import check_gain


def _per_channel(x, method, axis=0, shared_shape=False, **kw):
    """The per-channel fit (own shapes unless asked) as a list of per-tensor quantizers, one per slice along ``axis``."""
    q = theory.fit(x, method, granularity=theory.PerChannel(axis), shared_shape=shared_shape, **kw)
    return [q.group(i) for i in range(q.G)]

LS_SCALED = ("uniform", "exponential", "lloyd_max", "sign", "ternary", "affine")  # minmax keeps its range scale
ABOUT_MEAN = ("affine",)  # the gain scales about the group mean: the centred rho is the one kept


def _same_rho(method, w, qa, qb):
    """rho of the two gains agrees: the uncentred one, or for ABOUT_MEAN the centred one (and the mean of q is w's)."""
    if method not in ABOUT_MEAN:
        return theory.rho(w, qb) == pytest.approx(theory.rho(w, qa), abs=1e-12)
    c = np.corrcoef(w, qb)[0, 1] == pytest.approx(np.corrcoef(w, qa)[0, 1], abs=1e-12)
    return c and np.mean(qb) == pytest.approx(np.mean(w), abs=1e-12 * np.max(np.abs(w)))


def _channels(seed: int = 0) -> np.ndarray:
    """(8, 300): Gaussian, heavy-tailed, uniform and skewed rows of different scales."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_normal((2, 300)), rng.standard_t(3, (2, 300)) * 0.1,
                           rng.uniform(-3, 3, (2, 300)), rng.exponential(1.0, (2, 300)) - 0.5])


def _bits(method):
    return {} if method in ("sign", "ternary") else {"bits": 3}


@pytest.mark.parametrize("method", theory.METHODS)
@pytest.mark.parametrize("shared_shape", [False, True])
def test_unbiased_channels_keep_w_q_equal_w_w_and_the_same_rho(method, shared_shape):
    x = _channels()
    mse = _per_channel(x, method, shared_shape=shared_shape, **_bits(method))
    unb = _per_channel(x, method, shared_shape=shared_shape, gain="unbiased", **_bits(method))
    for i, (w, a, b) in enumerate(zip(x, mse, unb, strict=True)):
        qa, qb = a(w), b(w)
        assert np.array_equal(a.thresholds, b.thresholds) and np.array_equal(a.encode(w), b.encode(w)), i
        ww, wq = float(np.dot(w, w)), float(np.dot(w, qb))
        assert wq == pytest.approx(ww, rel=1e-9), f"{method} channel {i}: sum w q = {wq}, sum w^2 = {ww}"
        assert _same_rho(method, w, qa, qb), (method, i)
        if method in LS_SCALED:  # the centroid / least-squares condition of the default
            qq, wqa = float(np.dot(qa, qa)), float(np.dot(w, qa))
            assert qq == pytest.approx(wqa, rel=1e-9), f"{method} channel {i}: sum q^2 = {qq}, sum w q = {wqa}"


@pytest.mark.parametrize("method", theory.METHODS)
def test_unbiased_per_tensor_and_the_rho_squared_shrink(method):
    """Per tensor: E[w q] = E[w^2]; the mse levels are the unbiased ones times rho^2 (the static-noise decomposition q = a w + eta)."""
    w = _channels(1)
    a = theory.fit(w, method, **_bits(method))
    b = theory.fit(w, method, gain="unbiased", **_bits(method))
    wf, qa, qb = w.ravel(), a(w).ravel(), b(w).ravel()
    assert float(np.dot(wf, qb)) == pytest.approx(float(np.dot(wf, wf)), rel=1e-9)
    r = theory.rho(wf, qa)
    assert _same_rho(method, wf, qa, qb)
    slope = float(np.dot(wf, qa) / np.dot(wf, wf))  # regression coefficient of q on w
    if method in ABOUT_MEAN:  # the least-squares line: slope rho^2; unbiased = the mse levels stretched about the mean
        assert slope == pytest.approx(r * r, rel=1e-9)
        m = float(np.mean(wf))
        g = (b.levels[1] - b.levels[0]) / (a.levels[1] - a.levels[0])
        assert np.allclose(b.levels, m + g * (a.levels - m), rtol=1e-9, atol=1e-12) and g > 1
    elif method in LS_SCALED:
        assert slope == pytest.approx(r * r, rel=1e-9), f"{method}: slope {slope} vs rho^2 {r * r}"
        assert np.allclose(a.levels, b.levels * r * r, rtol=1e-9, atol=0)
    else:  # minmax: the range scale, neither rule
        assert slope < 1.0


def test_gain_factor_rules():
    assert theory.correlation.gain_factor("mse", 4.0, 2.0, 1.0) == 2.0
    assert theory.correlation.gain_factor("unbiased", 4.0, 2.0, 1.0) == 2.0
    assert theory.correlation.gain_factor("unbiased", 9.0, 3.0, 1.0) == 3.0 and theory.correlation.gain_factor("mse", 9.0, 3.0, 1.0) == 3.0
    assert np.array_equal(theory.correlation.gain_factor("unbiased", np.array([1.0, 1.0]), np.array([0.5, 0.0]), np.array([1.0, 0.0])), [2.0, 1.0])


@pytest.mark.parametrize("bad", ["MSE", "ls", None, 1, ""])
def test_bad_gain_raises_naming_gain(bad):
    x = _channels()
    with pytest.raises(ValueError, match="^gain"):
        check_gain(bad)
    with pytest.raises(ValueError, match="^gain"):
        theory.fit(x, "uniform", bits=3, gain=bad)
    with pytest.raises(ValueError, match="^gain"):
        _per_channel(x, "minmax", bits=3, gain=bad)
