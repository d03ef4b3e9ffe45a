"""Bad input raises ValueError whose message names the argument (validated once at the public boundary)."""

import numpy as np
import pytest

import theory
from theory import derivation


def _per_channel(x, method, axis=0, shared_shape=False, **kw):
    """The per-channel fit (own shapes unless asked) as a list of per-tensor quantizers, one per slice along ``axis``."""
    q = theory.fit(x, method, granularity=theory.PerChannel(axis), shared_shape=shared_shape, **kw)
    return [q.group(i) for i in range(q.G)]


@pytest.mark.parametrize("K", [1, 0, -3, 65537, 2.5, True])
def test_K_out_of_range(K):
    for fn in (lambda: theory.uniform(K), lambda: theory.exponential(K), lambda: theory.lloyd_max(K), lambda: theory.make("uniform", K)):
        with pytest.raises(ValueError, match="^K"):
            fn()


def test_quantizer_K_limits():
    with pytest.raises(ValueError, match="^levels"):
        theory.Quantizer([], [1.0])
    with pytest.raises(ValueError, match="^levels"):
        theory.Quantizer(np.arange(65536.0), np.arange(65537.0))
    assert theory.Quantizer(np.arange(65535.0), np.arange(65536.0) - 0.5).K == 65536


@pytest.mark.parametrize("t", [[1.0, 0.5], [0.0, 0.0], [np.nan, 1.0], [0.0, np.inf]])
def test_bad_thresholds(t):
    with pytest.raises(ValueError, match="^thresholds"):
        theory.Quantizer(t, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("c", [[-1.0, 1.0], [-1.0, 0.0, 1.0, 2.0], [1.0, 0.0, -1.0], [0.0, np.nan, 1.0]])
def test_bad_levels(c):
    with pytest.raises(ValueError, match="^levels"):
        theory.Quantizer([-0.5, 0.5], c)


def test_bad_codes():
    q = theory.make("uniform", 4)
    with pytest.raises(ValueError, match="^codes"):
        q.decode(np.array([0, 4]))


@pytest.mark.parametrize("bad", [[1.0, np.nan], [np.inf, 0.0], [-np.inf]])
@pytest.mark.parametrize("method", ["uniform", "lloyd_max", "minmax"])
def test_fit_nonfinite_data(bad, method):
    with pytest.raises(ValueError, match="^x"):
        theory.fit(np.array(bad), method, bits=2)
    with pytest.raises(ValueError, match="^x"):
        _per_channel(np.array([bad, bad]), method, bits=2)


@pytest.mark.parametrize("method", theory.METHODS)
def test_fit_empty(method):
    with pytest.raises(ValueError, match="^x"):
        theory.fit(np.array([]), method, bits=2)


def test_empty_empirical_rho():
    with pytest.raises(ValueError, match="^w"):
        theory.rho(np.array([]), np.array([]))


@pytest.mark.parametrize("dist", ["cauchy", "Gaussian", ("hebbian", 0), ("hebbian", 2.5), 3])
def test_unknown_distribution(dist):
    with pytest.raises(ValueError, match="^(dist|p) must"):
        theory.rho(theory.make("uniform", 4), dist)
    with pytest.raises(ValueError, match="^(dist|p) must"):
        theory.uniform(4, dist=dist)


def test_unknown_distribution_in_derivation():
    with pytest.raises(ValueError, match="^dist"):
        derivation.partial_moments("cauchy")
    with pytest.raises(ValueError, match="^dist"):
        derivation.moments_function(("hebbian", -1), 3)


def test_unknown_method_and_family():
    with pytest.raises(ValueError, match="^method"):
        theory.fit(np.ones(10), "kmeans", bits=2)
    with pytest.raises(ValueError, match="^family"):
        theory.make("log2", 4)
    with pytest.raises(ValueError, match="^family"):
        derivation.family_rho("log2", "gaussian", 4)
    with pytest.raises(ValueError, match="^K"):
        theory.make("sign", 3)


@pytest.mark.parametrize("bits", [0, -1, 17, 2.0])
def test_bits_out_of_range(bits):
    with pytest.raises(ValueError, match="^bits"):
        theory.fit(np.ones(10), "uniform", bits=bits)


def test_K_and_bits_together():
    with pytest.raises(ValueError, match="K.*bits"):
        theory.fit(np.ones(10), "uniform", K=4, bits=2)


@pytest.mark.parametrize("s", [-1.0, 0.0, np.nan, np.inf])
def test_negative_scale_gain_sigma(s):
    q = theory.make("uniform", 4)
    with pytest.raises(ValueError, match="^scale"):
        q.scaled(s)
    with pytest.raises(ValueError, match="^gain"):
        q.with_gain(s)
    with pytest.raises(ValueError, match="^sigma"):
        theory.moments(q, "gaussian", sigma=s)


@pytest.mark.parametrize("name,kw", [("step", {"step": -0.1}), ("base", {"base": 0.5}), ("c", {"c": -1.0})])
def test_bad_family_parameters(name, kw):
    fn = theory.uniform if name == "step" else theory.exponential
    with pytest.raises(ValueError, match="^" + name):
        fn(4, **kw)
    with pytest.raises(ValueError, match="^threshold"):
        theory.ternary(-0.5)


@pytest.mark.parametrize("r", [1.5, -1.01, np.nan, np.inf])
def test_rho_out_of_range(r):
    for fn in (theory.field_agreement, theory.synaptic_noise, theory.predicted_capacity, lambda x: theory.overlap(0.1, x)):
        with pytest.raises(ValueError, match="^rho"):
            fn(r)


def test_rho_nonpositive_for_noise_and_capacity():
    for fn in (theory.synaptic_noise, theory.predicted_capacity):
        with pytest.raises(ValueError, match="^rho"):
            fn(0.0)


@pytest.mark.parametrize("a", [-0.1, np.nan])
def test_bad_alpha(a):
    with pytest.raises(ValueError, match="^alpha"):
        theory.overlap(a)


def test_hebbian_p():
    with pytest.raises(ValueError, match="^p"):
        theory.hebbian_density(0)


def test_grouped_quantizer_needs_matching_groups():
    q = theory.fit(np.ones((3, 4)), "uniform", bits=2, granularity=theory.PerChannel(0))
    for bad in (np.ones((4, 4)), np.ones(12)):
        with pytest.raises(ValueError, match="^x of shape"):
            q(bad)
        with pytest.raises(ValueError, match="^x of shape"):
            q.encode(bad)


def test_fit_channels_bad_axis():
    with pytest.raises(ValueError, match="^axis"):
        _per_channel(np.ones((3, 4)), "uniform", bits=2, axis=2)


def test_measured_rho_never_leaves_unit_interval():
    """Lloyd-Max on 3 points reproduces them; rounding must not push rho above 1 (predictions would reject it)."""
    x = np.array([1e-30, -1e-30, 2e-30])
    r = theory.rho(x, theory.fit(x, "lloyd_max", bits=3))
    assert -1.0 <= r <= 1.0 and theory.field_agreement(r) == pytest.approx(1.0)
    for dist in (("hebbian", 1), ("hebbian", 2)):  # two or three atoms: exact representation, rho = 1
        assert -1.0 <= theory.rho(theory.lloyd_max(3, dist), dist) <= 1.0
