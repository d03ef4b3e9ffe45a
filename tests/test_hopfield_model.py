"""Hebbian weights, quantization through theory.Quantizer, patterns, and bad input at the public boundary."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopfield
import theory
from hopfield import (basins, capacity_scan, compare_quantizers, finite_size, flip_bits, glyph, glyph_patterns, hebbian,
                      measure_capacity, quantize, random_patterns, retrieval, run, run_hebbian, run_sharded)

KEY = jax.random.key(0)


def test_hebbian_matches_definition_and_is_symmetric_zero_diagonal():
    xi = np.asarray(random_patterns(7, 40, key=KEY))
    W = np.asarray(hebbian(xi))
    expected = xi.T @ xi / 40
    np.fill_diagonal(expected, 0)
    assert W.dtype == np.float32
    np.testing.assert_allclose(W, expected, atol=1e-6)
    assert np.array_equal(W, W.T) and np.all(np.diag(W) == 0)


@pytest.mark.parametrize("spec", [("sign", 2), ("ternary", 3), ("uniform", 8), ("exponential", 16), ("lloyd_max", 4)])
def test_quantize_keeps_symmetry_zero_diagonal_and_uses_the_quantizer_levels(spec):
    p, N = 31, 120
    W = hebbian(random_patterns(p, N, key=KEY))
    q = theory.make(spec[0], spec[1], ("hebbian", p))
    qW = np.asarray(quantize(W, q, scale=np.sqrt(p) / N))
    assert np.array_equal(qW, qW.T), "quantized W must stay symmetric"
    assert np.all(np.diag(qW) == 0), "quantized W must keep a zero diagonal"
    off = qW[~np.eye(N, dtype=bool)]
    s = np.float32(np.sqrt(p) / N)
    levels = (s * q.levels.astype(np.float32)).astype(np.float32)
    assert set(np.unique(off)).issubset(set(levels)), "off-diagonal entries must be the quantizer's levels"
    # Same numbers as applying theory's quantizer directly to W / s in float32 (no second implementation).
    w32 = np.asarray(W, dtype=np.float32)
    direct = s * q(w32 / s)
    np.testing.assert_array_equal(off, direct[~np.eye(N, dtype=bool)])
    # The recipe spec with p is the same a-priori quantizer (rho-optimal for the Hebbian density, scale sqrt(p)/N).
    np.testing.assert_array_equal(qW, np.asarray(quantize(W, spec, p=p)))


def test_quantize_default_scale_is_offdiagonal_rms():
    W = hebbian(random_patterns(11, 60, key=KEY))
    off = np.asarray(W)[~np.eye(60, dtype=bool)]
    rms = float(np.sqrt(np.mean(off.astype(np.float64) ** 2)))
    q = theory.make("uniform", 4)
    np.testing.assert_allclose(np.asarray(quantize(W, q)), np.asarray(quantize(W, q, scale=rms)), atol=0)
    # A recipe without p: the Gaussian optimum at the RMS; None: float weights.
    np.testing.assert_array_equal(np.asarray(quantize(W, ("uniform", 4))), np.asarray(quantize(W, q)))
    np.testing.assert_array_equal(np.asarray(quantize(W, None)), np.asarray(W))


def test_experiments_quantize_with_the_public_quantize_bit_for_bit(monkeypatch):
    # The W the dynamics of retrieval() sees is hopfield.quantize(hebbian(xi), recipe, p=p) of its patterns, bitwise.
    import hopfield.experiments as ex

    seen = []
    real = ex.run_batch
    monkeypatch.setattr(ex, "run_batch", lambda W, *a, **kw: (seen.append(np.asarray(W)), real(W, *a, **kw))[1])
    N, alphas, spec = 150, [0.1, 0.21], ("exponential", 8)
    retrieval(N, alphas, spec, key=KEY, networks=2, probes=2, progress=False)
    assert len(seen) == 4
    for i, alpha in enumerate(alphas):
        p = round(alpha * N)
        for j in range(2):
            kx = jax.random.split(jax.random.fold_in(jax.random.fold_in(KEY, i), j), 4)[0]
            qW = np.asarray(quantize(hebbian(random_patterns(p, N, key=kx)), spec, p=p))
            np.testing.assert_array_equal(seen[2 * i + j], qW)


def test_random_patterns_bias_and_correlation():
    xi = np.asarray(random_patterns(200, 500, key=KEY, bias=0.4))
    n = xi.size
    assert abs(xi.mean() - 0.4) < 5 * np.sqrt((1 - 0.4**2) / n)
    xc = np.asarray(random_patterns(40, 2000, key=KEY, correlation=0.5))
    ov = (xc @ xc.T / 2000)[~np.eye(40, dtype=bool)]
    # Two patterns overlap by about c^2 = 0.25; each overlap has SE ~ 1/sqrt(N).
    assert abs(ov.mean() - 0.25) < 5 / np.sqrt(2000 * 40)  + 0.02


def test_flip_bits_flips_exactly_round_noise_N():
    s = jnp.ones((5, 101))
    out = np.asarray(flip_bits(s, 0.2, key=KEY))
    assert np.all((out == -1).sum(axis=1) == 20)


def test_glyphs_are_pm1_images():
    g = glyph("A", scale=2)
    assert g.shape == (14, 10) and set(np.unique(g)) == {-1.0, 1.0}
    xi, shape = glyph_patterns("AB3")
    assert xi.shape == (3, 35) and shape == (7, 5)


# -- bad input: a ValueError that names the argument ------------------------------
W_OK = np.asarray(hebbian(random_patterns(3, 10, key=KEY)))
S_OK = np.ones(10)
ASYM = W_OK.copy()
ASYM[0, 1] += 0.5

BAD = [
    ("patterns", lambda: hebbian(np.array([[1, 0, -1, 1]]))),
    ("patterns", lambda: hebbian(np.ones(5))),
    ("patterns", lambda: hebbian(np.ones((2, 1)))),
    ("patterns", lambda: hebbian(np.ones((0, 5)))),
    ("W", lambda: run(ASYM, S_OK, key=KEY)),
    ("W", lambda: run(np.zeros((3, 4)), np.ones(4), key=KEY)),
    ("W", lambda: run(np.zeros((1, 1)), np.ones(1), key=KEY)),
    ("W", lambda: quantize(ASYM, theory.sign())),
    ("quantizer", lambda: quantize(W_OK, "bogus")),
    ("quantizer", lambda: quantize(W_OK, 3)),
    ("p", lambda: quantize(W_OK, "sign", p=0)),
    ("scale", lambda: quantize(W_OK, "sign", scale=-1.0)),
    ("s0", lambda: run(W_OK, np.ones(9), key=KEY)),
    ("s0", lambda: run(W_OK, np.full(10, 0.5), key=KEY)),
    ("key", lambda: run(W_OK, S_OK, key=None)),
    ("key", lambda: run(W_OK, S_OK)),
    ("mode", lambda: run(W_OK, S_OK, key=KEY, mode="parallel")),
    ("max_sweeps", lambda: run(W_OK, S_OK, key=KEY, max_sweeps=0)),
    ("N", lambda: random_patterns(3, 1, key=KEY)),
    ("p", lambda: random_patterns(0, 10, key=KEY)),
    ("bias", lambda: random_patterns(3, 10, key=KEY, bias=1.5)),
    ("key", lambda: random_patterns(3, 10, key=None)),
    ("noise", lambda: flip_bits(S_OK, 1.2, key=KEY)),
    ("noise", lambda: flip_bits(S_OK, -0.1, key=KEY)),
    ("noise", lambda: retrieval(50, [0.1], key=KEY, noise=2.0)),
    ("N", lambda: retrieval(1, [0.1], key=KEY)),
    ("alphas", lambda: retrieval(50, [0.0], key=KEY)),
    ("quantizer", lambda: retrieval(50, [0.1], quantizer="bogus", key=KEY)),
    ("quantizer", lambda: compare_quantizers(50, [0.1], [None, ("uniform", 1)], key=KEY)),
    ("criterion", lambda: retrieval(50, [0.1], key=KEY, criterion=3.0)),
    ("m0", lambda: basins(50, 0.1, key=KEY, m0=[1.5])),
    ("n_boot", lambda: measure_capacity(50, key=KEY, n_boot=-1)),
    ("Ns", lambda: finite_size([50, 50], key=KEY)),
    ("s0", lambda: run_sharded(W_OK, S_OK, key=KEY)),
]


@pytest.mark.parametrize("name,call", BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


@pytest.mark.parametrize("fn", [run, run_sharded, run_hebbian, random_patterns, flip_bits, retrieval, basins,
                                measure_capacity, finite_size, compare_quantizers, capacity_scan])
def test_key_is_keyword_only(fn):
    # As in equinox: data arguments positional, the PRNG key keyword-only.
    assert inspect.signature(fn).parameters["key"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        random_patterns(KEY, 3, 10)


def test_public_api_is_small_and_hides_the_kernels():
    assert len(hopfield.__all__) <= 25
    for kernel in ("async_single", "sync_single", "event_sweep", "async_sweep", "update_neuron", "run_batch",
                   "overlap_run_batch", "report_section", "capacity"):
        assert kernel not in hopfield.__all__ and not hasattr(hopfield, kernel), kernel
    from hopfield.dynamics import async_single, event_sweep  # noqa: F401  (still importable from their modules)
