"""Mean-aware (offset) levels: ``Recipe(..., offset=True)`` fits the centred weights for maximum rho."""

import numpy as np
import pytest

import theory


def _centred_rho(w, qw, axis=None):
    m = np.mean(w, axis=axis, keepdims=True)
    return theory.rho(w - m, qw - m)


def test_offset_on_a_shifted_gaussian_reaches_the_closed_form_rho_of_the_centred_weights():
    # Monte Carlo: N(mu, 1) with mu = 1.5; the offset fit's centred rho is the a-priori optimum of
    # the zero-mean Gaussian (closed form), while symmetric levels about 0 lose most of it.
    rng = np.random.default_rng(0)
    x = 1.5 + rng.standard_normal(400_000)
    for method in ("uniform", "lloyd_max"):
        r = theory.Recipe(method, 2, offset=True)
        q = r.fit(x)
        target = theory.rho(theory.Recipe(method, 2).optimal("gaussian"))
        assert abs(_centred_rho(x, q(x)) - target) < 2e-3, method
        assert abs(np.mean(q.levels) - 1.5) < 0.02  # the grid sits on the mean (symmetric shape)
    plain = theory.Recipe("uniform", 2).fit(x)  # symmetric uniform levels about 0 waste levels on this data
    assert _centred_rho(x, plain(x)) < target - 0.05  # (Lloyd-Max's k-means moves its levels onto it by itself)


@pytest.mark.parametrize("method", ["uniform", "exponential", "lloyd_max", "sign", "ternary"])
@pytest.mark.parametrize("gain", ["mse", "unbiased"])
def test_offset_fit_is_shift_equivariant_per_group(method, gain):
    # adding c_g to group g leaves the fitted rho of every group unchanged (the empirical rho is piecewise
    # constant in the grid's scale, so float rounding may pick another point of the same plateau), and the
    # levels of the shifted data lie on its mean plus a grid of the same spread
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 40)) * rng.uniform(0.5, 2.0, (6, 1))
    c = rng.normal(0.0, 3.0, (6, 1))
    r = theory.Recipe(method, None if method in ("sign", "ternary") else 2, gain=gain, offset=True)
    q0 = r.fit(w, theory.PerChannel(0))
    q1 = r.fit(w + c, theory.PerChannel(0))
    for i in range(6):
        assert abs(_centred_rho(w[i] + c[i], q1(w + c)[i]) - _centred_rho(w[i], q0(w)[i])) < 1e-3
    spread0 = q0.levels - w.mean(axis=1, keepdims=True)
    spread1 = q1.levels - (w + c).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(spread1, spread0, rtol=0, atol=0.05 * np.max(np.abs(spread0)))
    # exactly equivariant where the shift is exact in floating point: c a multiple of a power of two
    q2 = r.fit(w + 4.0, theory.PerChannel(0))
    q3 = r.fit(w, theory.PerChannel(0))
    assert _centred_rho(w + 4.0, q2(w + 4.0)) == pytest.approx(_centred_rho(w, q3(w)), abs=1e-3)


def test_offset_on_zero_mean_groups_equals_the_plain_fit():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 64)) ** 3
    w -= w.mean(axis=1, keepdims=True)
    for method in ("uniform", "exponential", "lloyd_max"):
        a = theory.Recipe(method, 3, offset=True).fit(w, theory.PerChannel(0))
        b = theory.Recipe(method, 3).fit(w, theory.PerChannel(0))
        # the means are 0 up to rounding, so the search may land elsewhere on the same flat optimum
        np.testing.assert_allclose(a.levels, b.levels, rtol=0, atol=1e-4 * np.max(np.abs(b.levels)))
        for i in range(5):
            assert theory.rho(w[i], a(w)[i]) == pytest.approx(theory.rho(w[i], b(w)[i]), abs=1e-9)


def test_offset_maximizes_the_centred_rho_over_the_plain_fit_on_off_centre_channels():
    # per channel, on channels whose mean is a sizeable fraction of their spread (as after BatchNorm folding)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 9)) + rng.normal(0.0, 0.8, (32, 1))
    a = theory.Recipe("uniform", 2, offset=True).fit(w, theory.PerChannel(0))
    b = theory.Recipe("uniform", 2).fit(w, theory.PerChannel(0))
    ra = [_centred_rho(w[i], a(w)[i]) for i in range(32)]
    rb = [_centred_rho(w[i], b(w)[i]) for i in range(32)]
    assert np.mean(ra) > np.mean(rb) + 0.02


def test_offset_recipe_validation_and_records():
    with pytest.raises(ValueError, match="^offset"):
        theory.Recipe("minmax", 2, offset=True)
    with pytest.raises(ValueError, match="^offset"):
        theory.Recipe("uniform", 2, offset=1)
    r = theory.Recipe("lloyd_max", 2, gain="unbiased", shared_shape=False, offset=True)
    assert theory.Recipe.from_dict(r.to_dict()) == r
    assert r.label == "lloyd_max(K=4)+unbiased+offset" and "offset=True" in repr(r)
    assert "offset" not in theory.Recipe("uniform", 2).to_dict()  # old records unchanged
    assert theory.Recipe.from_dict({"method": "uniform", "K": 4}).offset is False
