"""Hebbian weights, quantization through theory.Quantizer, patterns, and bad input at the public boundary."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from hopfield import (flip_bits, glyph, glyph_patterns, hebbian, quantize, random_patterns, retrieval, run, basins,
                      capacity, run_sharded)

KEY = jax.random.key(0)


def test_hebbian_matches_definition_and_is_symmetric_zero_diagonal():
    xi = np.asarray(random_patterns(KEY, 7, 40))
    W = np.asarray(hebbian(xi))
    expected = xi.T @ xi / 40
    np.fill_diagonal(expected, 0)
    assert W.dtype == np.float32
    np.testing.assert_allclose(W, expected, atol=1e-6)
    assert np.array_equal(W, W.T) and np.all(np.diag(W) == 0)


@pytest.mark.parametrize("spec", [("sign", 2), ("ternary", 3), ("uniform", 8), ("exponential", 16), ("lloyd_max", 4)])
def test_quantize_keeps_symmetry_zero_diagonal_and_uses_the_quantizer_levels(spec):
    p, N = 31, 120
    W = hebbian(random_patterns(KEY, p, N))
    q = theory.make(spec[0], spec[1], ("hebbian", p))
    qW = np.asarray(quantize(W, q, scale=np.sqrt(p) / N))
    assert np.array_equal(qW, qW.T), "quantized W must stay symmetric"
    assert np.all(np.diag(qW) == 0), "quantized W must keep a zero diagonal"
    off = qW[~np.eye(N, dtype=bool)]
    levels = q.scaled(np.sqrt(p) / N).levels.astype(np.float32)
    assert set(np.unique(off)).issubset(set(levels)), "off-diagonal entries must be the quantizer's levels"
    # Same numbers as applying theory's scaled quantizer directly (no second implementation).
    direct = np.asarray(q.scaled(np.sqrt(p) / N)(np.asarray(W)))
    np.testing.assert_array_equal(off, direct[~np.eye(N, dtype=bool)])


def test_quantize_default_scale_is_offdiagonal_rms():
    W = hebbian(random_patterns(KEY, 11, 60))
    off = np.asarray(W)[~np.eye(60, dtype=bool)]
    rms = float(np.sqrt(np.mean(off.astype(np.float64) ** 2)))
    q = theory.make("uniform", 4)
    np.testing.assert_allclose(np.asarray(quantize(W, q)), np.asarray(quantize(W, q, scale=rms)), atol=0)


def test_random_patterns_bias_and_correlation():
    xi = np.asarray(random_patterns(KEY, 200, 500, bias=0.4))
    n = xi.size
    assert abs(xi.mean() - 0.4) < 5 * np.sqrt((1 - 0.4**2) / n)
    xc = np.asarray(random_patterns(KEY, 40, 2000, correlation=0.5))
    ov = (xc @ xc.T / 2000)[~np.eye(40, dtype=bool)]
    # Two patterns overlap by about c^2 = 0.25; each overlap has SE ~ 1/sqrt(N).
    assert abs(ov.mean() - 0.25) < 5 / np.sqrt(2000 * 40)  + 0.02


def test_flip_bits_flips_exactly_round_noise_N():
    s = jnp.ones((5, 101))
    out = np.asarray(flip_bits(KEY, s, 0.2))
    assert np.all((out == -1).sum(axis=1) == 20)


def test_glyphs_are_pm1_images():
    g = glyph("A", scale=2)
    assert g.shape == (14, 10) and set(np.unique(g)) == {-1.0, 1.0}
    xi, shape = glyph_patterns("AB3")
    assert xi.shape == (3, 35) and shape == (7, 5)


# -- bad input: a ValueError that names the argument ------------------------------
W_OK = np.asarray(hebbian(random_patterns(KEY, 3, 10)))
S_OK = np.ones(10)
ASYM = W_OK.copy()
ASYM[0, 1] += 0.5

BAD = [
    ("patterns", lambda: hebbian(np.array([[1, 0, -1, 1]]))),
    ("patterns", lambda: hebbian(np.ones(5))),
    ("patterns", lambda: hebbian(np.ones((2, 1)))),
    ("patterns", lambda: hebbian(np.ones((0, 5)))),
    ("W", lambda: run(ASYM, S_OK, KEY)),
    ("W", lambda: run(np.zeros((3, 4)), np.ones(4), KEY)),
    ("W", lambda: run(np.zeros((1, 1)), np.ones(1), KEY)),
    ("W", lambda: quantize(ASYM, theory.sign())),
    ("quantizer", lambda: quantize(W_OK, "sign")),
    ("s0", lambda: run(W_OK, np.ones(9), KEY)),
    ("s0", lambda: run(W_OK, np.full(10, 0.5), KEY)),
    ("key", lambda: run(W_OK, S_OK, None)),
    ("mode", lambda: run(W_OK, S_OK, KEY, mode="parallel")),
    ("max_sweeps", lambda: run(W_OK, S_OK, KEY, max_sweeps=0)),
    ("N", lambda: random_patterns(KEY, 3, 1)),
    ("p", lambda: random_patterns(KEY, 0, 10)),
    ("bias", lambda: random_patterns(KEY, 3, 10, bias=1.5)),
    ("noise", lambda: flip_bits(KEY, S_OK, 1.2)),
    ("noise", lambda: flip_bits(KEY, S_OK, -0.1)),
    ("noise", lambda: retrieval(KEY, 50, [0.1], noise=2.0)),
    ("N", lambda: retrieval(KEY, 1, [0.1])),
    ("alphas", lambda: retrieval(KEY, 50, [0.0])),
    ("quantizer", lambda: retrieval(KEY, 50, [0.1], quantizer="bogus")),
    ("criterion", lambda: retrieval(KEY, 50, [0.1], criterion=3.0)),
    ("m0", lambda: basins(KEY, 50, 0.1, m0=[1.5])),
    ("n_boot", lambda: capacity(KEY, 50, n_boot=-1)),
    ("s0", lambda: run_sharded(W_OK, S_OK, KEY)),
]


@pytest.mark.parametrize("name,call", BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
