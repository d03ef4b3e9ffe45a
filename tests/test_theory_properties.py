"""Quantizer properties (hypothesis) and bitwise agreement of numpy, JAX (jit, vmap) and torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import theory

# XLA on CPU treats subnormals as zero (see theory/_quantizer.py), so inputs and codebooks are normal floats.
_f32 = st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_data = hnp.arrays(np.float32, st.integers(0, 64), elements=_f32)


@st.composite
def quantizers(draw, symmetric=False):
    K = draw(st.integers(2, 20))
    if symmetric:
        n = K // 2
        pos_t = sorted(set(draw(st.lists(st.floats(1e-3, 1e3), min_size=n - 1 + K % 2, max_size=n - 1 + K % 2))))
        pos_c = sorted(set(draw(st.lists(st.floats(1e-3, 1e3), min_size=n, max_size=n))))
        if len(pos_t) != n - 1 + K % 2 or len(pos_c) != n:
            pos_t, pos_c = list(np.arange(1, n + K % 2) * 0.5)[: n - 1 + K % 2], list(np.arange(1, n + 1) * 0.7)
        t = [-x for x in reversed(pos_t)] + ([] if K % 2 else [0.0]) + pos_t
        c = [-x for x in reversed(pos_c)] + ([0.0] if K % 2 else []) + pos_c
        return theory.Quantizer(t, c)
    # thresholds exactly representable in float32 so the float32 and float64 paths see the same cells
    t = np.unique(np.asarray(draw(st.lists(_f32, min_size=K - 1, max_size=K - 1)), dtype=np.float32))
    c = np.unique(np.asarray(draw(st.lists(_f32, min_size=t.size + 1, max_size=t.size + 1)), dtype=np.float32))
    if c.size != t.size + 1 or t.size == 0:
        return theory.Quantizer([0.0], [-1.0, 1.0])
    return theory.Quantizer(t.astype(np.float64), c.astype(np.float64))


@settings(max_examples=150, deadline=None)
@given(quantizers(), _data)
def test_decode_encode_is_q(q, x):
    assert np.array_equal(q.decode(q.encode(x)), q(x))
    assert np.array_equal(q.decode(q.encode(x), dtype=np.float64), q(x.astype(np.float64)))


@settings(max_examples=150, deadline=None)
@given(quantizers(), _data)
def test_idempotent(q, x):
    """q(q(x)) == q(x) exactly when every level lies in its own cell (true for midpoint thresholds)."""
    own = np.array_equal(q.encode(q.levels), np.arange(q.K))
    mid = theory.Quantizer(0.5 * (q.levels[:-1] + q.levels[1:]), q.levels)
    for quant, holds in ((mid, True), (q, own)):
        y = quant(x)
        if holds:
            assert np.array_equal(quant(y), y)


@settings(max_examples=150, deadline=None)
@given(quantizers(), _data, _data)
def test_monotone(q, x, y):
    n = min(x.size, y.size)
    lo, hi = np.minimum(x[:n], y[:n]), np.maximum(x[:n], y[:n])
    assert np.all(q(lo) <= q(hi))
    assert np.all(q.encode(lo) <= q.encode(hi))


@settings(max_examples=150, deadline=None)
@given(quantizers(symmetric=True), hnp.arrays(np.float64, st.integers(1, 64), elements=st.floats(-1e4, 1e4)))
def test_odd_symmetry(q, x):
    assert q.is_symmetric
    x = x[~np.isin(np.abs(x), np.abs(q.thresholds))]  # away from thresholds
    assert np.array_equal(q(-x), -q(x))


@pytest.mark.parametrize("family,K", [("uniform", 8), ("exponential", 7), ("ternary", 3), ("lloyd_max", 4), ("sign", 2)])
def test_families_are_symmetric_and_idempotent(family, K):
    q = theory.make(family, K, "gaussian")
    assert q.is_symmetric
    x = np.random.default_rng(0).standard_normal(10_000)
    assert np.array_equal(q(q(x)), q(x))  # levels lie inside their own cells


@settings(max_examples=4, deadline=None)  # each example compiles anew; the threshold test below is the thorough one
@given(quantizers(), hnp.arrays(np.float32, 32, elements=_f32))
def test_backends_bitwise_equal(q, x):
    ref_v, ref_c = q(x), q.encode(x)
    xj = jnp.asarray(x)
    xt = torch.from_numpy(x.copy())
    for v in (jax.jit(q)(xj), jax.vmap(q)(xj), q(xt)):
        assert np.array_equal(np.asarray(v), ref_v)
    for c in (jax.jit(q.encode)(xj), q.encode(xt)):
        assert np.array_equal(np.asarray(c).astype(np.int64), ref_c.astype(np.int64))


@pytest.mark.parametrize("family,K", [("uniform", 16), ("exponential", 15), ("lloyd_max", 8)])
def test_backends_bitwise_equal_at_thresholds(family, K):
    """Values at every float32 threshold and one ulp either side, plus random data: all backends agree."""
    q = theory.make(family, K, "laplace").scaled(0.03)
    t32 = q.thresholds.astype(np.float32)
    rnd = np.random.default_rng(0).laplace(0, 0.03, 4096).astype(np.float32)
    x = np.concatenate((t32, np.nextafter(t32, np.float32(-np.inf)), np.nextafter(t32, np.float32(np.inf)), rnd, -rnd))
    x = x[(x == 0) | (np.abs(x) >= np.finfo(np.float32).tiny)]  # XLA CPU flushes subnormals (documented)
    x = x[: x.size // 2 * 2]
    ref = q(x)
    xj = jnp.asarray(x)
    for v in (jax.jit(q)(xj), jax.vmap(q)(xj), jax.vmap(jax.jit(q))(xj.reshape(-1, 2)).reshape(-1), q(torch.from_numpy(x))):
        assert np.array_equal(np.asarray(v), ref)


def test_dtype_backend_device_preserved():
    q = theory.make("uniform", 16, "gaussian")
    x64 = np.random.default_rng(0).standard_normal(100)
    x32 = x64.astype(np.float32)
    assert q(x64).dtype == np.float64 and q(x32).dtype == np.float32
    assert q.encode(x32).dtype == np.uint8 and q.decode(q.encode(x32)).dtype == np.float32
    assert q.decode(q.encode(x32), dtype=np.float64).dtype == np.float64
    big = theory.Quantizer(np.arange(299) - 149.0, np.arange(300) - 149.5)
    assert big.code_dtype == np.uint16 and big.encode(x32).dtype == np.uint16
    xj = jnp.asarray(x32)
    assert isinstance(q(xj), jax.Array) and q(xj).dtype == jnp.float32
    assert q.encode(xj).dtype == jnp.int32 and q.decode(q.encode(xj)).dtype == jnp.float32
    assert q(xj).devices() == xj.devices()
    xt = torch.from_numpy(x32)
    assert isinstance(q(xt), torch.Tensor) and q(xt).dtype == torch.float32 and q(xt).device == xt.device
    assert q(xt.double()).dtype == torch.float64
    assert q.encode(xt).dtype == torch.int32 and q.decode(q.encode(xt)).dtype == torch.float32
    assert q.decode(q.encode(xt), dtype=torch.float64).dtype == torch.float64
    assert q(x32.reshape(10, 10)).shape == (10, 10) and q(xt.reshape(10, 10)).shape == (10, 10)
