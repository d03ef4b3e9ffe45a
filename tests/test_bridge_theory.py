"""Sheppard's formula with the data-aware correlation predicts sign changes of a quantized layer."""

import numpy as np
import pytest

import theory
from theory import layer_noise as tb

D, UNITS, N = 64, 24, 20_000


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices on a shared 2-core machine: BLAS threads only contend (restored afterwards)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


def _layer(seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((UNITS, D))
    A = rng.standard_normal((D, D)) * np.linspace(0.1, 3.0, D)  # strongly correlated inputs
    X = rng.standard_normal((N, D)) @ A.T
    return W, A @ A.T, X


@pytest.mark.parametrize("method,bits", [("sign", None), ("ternary", None), ("uniform", 2), ("lloyd_max", 3)])
def test_sign_change_matches_sheppard_within_binomial_error(method, bits):
    W, S, X = _layer(7)
    q = theory.fit(W, method, bits=bits) if bits else theory.fit(W, method)
    Q = q(W)
    r = tb.data_aware_rho(W, Q, S)  # population S: no in-sample fitting
    pred = tb.sign_change_rate(r)
    flips = np.mean(np.sign(X @ W.T) != np.sign(X @ Q.T), axis=0)
    se = np.sqrt(pred * (1 - pred) / N)  # binomial, per unit
    z = (flips - pred) / se
    assert np.all(np.abs(z) < 4.5), f"per-unit z-scores {np.round(z, 2)}"


def test_plain_rho_misses_when_weights_align_with_input_variance():
    # weights living in the inputs' high-variance directions (as trained weights do): the quantization
    # noise, spread over all directions, is seen through S much less than the signal, so plain rho
    # overpredicts sign changes by many standard errors while the data-aware r stays within them
    rng = np.random.default_rng(7)
    A = rng.standard_normal((D, D)) * np.linspace(0.1, 3.0, D)
    W = rng.standard_normal((UNITS, D)) @ A.T
    X = rng.standard_normal((N, D)) @ A.T
    Q = theory.fit(W, "ternary")(W)
    flips = np.mean(np.sign(X @ W.T) != np.sign(X @ Q.T))
    plain = tb.sign_change_rate(tb.data_aware_rho(W, Q, np.eye(D))).mean()
    aware = tb.sign_change_rate(tb.data_aware_rho(W, Q, A @ A.T)).mean()
    se = np.sqrt(aware * (1 - aware) / N)  # conservative: units share inputs, so no 1/UNITS
    assert abs(flips - aware) < 4 * se, f"data-aware {aware:.4f} vs measured {flips:.4f}, se {se:.2e}"
    assert abs(flips - plain) > 10 * se, f"plain {plain:.4f} vs measured {flips:.4f}, se {se:.2e}"


def test_gaussian_fields_with_means_and_bias_match_monte_carlo():
    # inputs with a mean (as after a ReLU) and a float bias: the mean-aware Gaussian formula is exact
    rng = np.random.default_rng(4)
    d, n = 30, 100_000
    W = rng.standard_normal((UNITS, d))
    Q = theory.fit(W, "ternary")(W)
    b = 1.0 * rng.standard_normal(UNITS)
    X = rng.standard_normal((n, d)) + rng.uniform(0.5, 1.5, d)
    S = tb.second_moment(X)
    Wa, Qa = tb.augment(W, b), tb.augment(Q, b)
    pred = tb.sign_change_rate_gaussian(Wa, Qa, S)
    flips = np.mean(np.sign(X @ W.T + b) != np.sign(X @ Q.T + b), axis=0)
    se = np.sqrt(pred * (1 - pred) / n)
    assert np.all(np.abs(flips - pred) < 4.5 * se), np.round((flips - pred) / se, 2)
    # the symmetrised zero-mean approximation (uncentred r in Sheppard's formula) misses by many SE here
    sym = tb.sign_change_rate(tb.data_aware_rho(Wa, Qa, S))
    assert np.max(np.abs(flips - sym) / se) > 10
    # zero means, zero bias: it is Sheppard's formula
    S0 = tb.second_moment(rng.standard_normal((n, d)))
    S0[:-1, -1] = S0[-1, :-1] = 0.0
    p0 = tb.sign_change_rate_gaussian(tb.augment(W), tb.augment(Q), S0)
    assert np.allclose(p0, tb.sign_change_rate(tb.data_aware_rho(tb.augment(W), tb.augment(Q), S0)), atol=1e-9)
    with pytest.raises(ValueError, match="S must be bias-augmented"):
        tb.sign_change_rate_gaussian(W, Q, np.eye(d) * 2)


def test_white_inputs_reduce_to_weight_rho_and_synaptic_noise():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((1, 500))
    q = theory.fit(w, "uniform", bits=3)(w)
    r = tb.data_aware_rho(w, q, np.eye(500))[0]
    assert r == pytest.approx(theory.rho(w, q), abs=1e-12)
    assert tb.layer_noise(w, q, np.eye(500)) == pytest.approx(theory.synaptic_noise(r), rel=1e-9)


def test_layer_noise_is_measured_relative_noise_power():
    # with the sample S, 1/r^2 - 1 is exactly the relative power of the part of z' uncorrelated with z
    W, _, X = _layer(11)
    X = X[:2000]
    b = np.random.default_rng(0).standard_normal(UNITS)
    Q = theory.fit(W, "exponential", bits=2)(W)
    Wa, Qa = tb.augment(W, b), tb.augment(Q, b)
    S = tb.second_moment(X)
    Z, Zq = X @ W.T + b, X @ Q.T + b
    a = np.sum(Z * Zq, 0) / np.sum(Z * Z, 0)
    noise = np.sum((Zq - a * Z) ** 2, 0)
    measured = np.sum(noise / a**2) / np.sum(Z * Z)
    assert tb.layer_noise(Wa, Qa, S) == pytest.approx(measured, rel=1e-8)


def test_win_probability_matches_monte_carlo():
    rng = np.random.default_rng(5)
    n, C, M = 40, 6, 20_000
    z = rng.standard_normal((n, C)) * 2
    sigma = rng.uniform(0.2, 2.0, size=C)
    k = z.argmax(1)
    p = tb.win_probability(z, k, sigma)
    e = rng.standard_normal((M, n, C)) * sigma
    mc = np.mean((z + e).argmax(2) == k, axis=0)
    se = np.sqrt(np.maximum(p * (1 - p), 1e-4) / M)
    assert np.all(np.abs(mc - p) < 4.5 * se), np.max(np.abs(mc - p) / se)
    assert np.allclose(tb.win_probability(z, k, np.zeros(C)), 1.0)


def test_predicted_agreement_falls_with_noise():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((200, 10)) * 3
    y = z.argmax(1)
    ag = [tb.predict_outputs(z, e, labels=y)["agreement"] for e in (0.0, 0.01, 0.1, 1.0)]
    assert ag[0] == pytest.approx(1.0) and all(a > b for a, b in zip(ag, ag[1:], strict=False)) and ag[-1] > 0.1
    assert tb.total_noise([0.1, 0.2]) == pytest.approx(0.3)


def test_bad_inputs_raise_value_error_naming_argument():
    with pytest.raises(ValueError, match="S must"):
        tb.data_aware_rho(np.ones((2, 3)), np.ones((2, 3)), np.eye(4))
    with pytest.raises(ValueError, match="q must"):
        tb.data_aware_rho(np.ones((2, 3)), np.ones((2, 4)), np.eye(3))
    with pytest.raises(ValueError, match="x must"):
        tb.second_moment(np.ones(3))
    with pytest.raises(ValueError, match="b must"):
        tb.augment(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="eps2"):
        tb.total_noise([-1.0])
    with pytest.raises(ValueError, match="k must"):
        tb.win_probability(np.ones((2, 3)), np.array([0, 3]), np.ones(3))


def test_scaled_noise_injects_the_asked_relative_power_and_propagated_noise_weights_layers():
    W, S, X = _layer(5)
    D = np.random.default_rng(2).standard_normal(W.shape)
    Ds = tb.scaled_noise(W, D, S, 0.02)
    assert np.allclose(np.einsum("id,de,ie->i", Ds, S, Ds), 0.02 * np.einsum("id,de,ie->i", W, S, W))
    # Monte Carlo on the inputs: the noise-to-signal power of the fields is 0.02 up to sampling error
    z, e = X @ W.T, X @ Ds.T
    ratio = np.sum(e * e) / np.sum(z * z)
    assert abs(ratio - 0.02) < 6 * 0.02 * np.sqrt(2 / N), ratio
    # gains of 1 are the plain sum; the gains weight each layer's noise
    assert tb.propagated_noise([0.1, 0.2], [1.0, 1.0]) == pytest.approx(tb.total_noise([0.1, 0.2]))
    assert tb.propagated_noise([0.1, 0.2], [0.5, 2.0]) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="gains"):
        tb.propagated_noise([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="eps2"):
        tb.scaled_noise(W, D, S, 0.0)
