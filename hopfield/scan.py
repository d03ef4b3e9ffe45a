"""Exact-recall capacity scan of Hebbian networks, every trial of every load in one compiled call.

The experiment of hopfieldkit's ``empirical_capacity_scan`` (Hopfield, PNAS
79:2554, 1982; capacity ~0.138 N: Amit, Gutfreund, Sompolinsky, PRL 55:1530,
1985): for each pattern count p, ``trials`` fresh networks of p random
patterns, a start equal to pattern 0 with exactly ``round(noise N)`` bits
flipped, asynchronous dynamics in a fresh random order every sweep until a
fixed point (or ``max_sweeps``), success = exact recall of pattern 0.

The dynamics is that of :func:`hopfield.run` (``mode="async"``) on the float
Hebb matrix ``W = xi^T xi / N`` with a zero diagonal, computed differently:

- No N x N matrix is built.  Neuron i's pattern bits are packed into
  ``w = ceil(p / 32)`` words ``c_i``; the coupling is ``N W_ij = p - 2
  popcount(c_i xor c_j)``, so a flip of neuron i updates all fields with one
  column computed on the fly (N w popcounts instead of p N^2 for W).
- Fields are exact integers ``H = N h`` (``H = xi^T (xi s) - p s`` at the
  start), so a tie is exactly ``H_i = 0`` (the state is kept, as in
  :func:`hopfield.dynamics.sign_keep`) and no drift accumulates.
- The dynamics is the one asynchronous kernel, :func:`hopfield.engine.relax`:
  every trial of every p is a probe of one call, its slots advanced together
  (a slot takes the next trial when its trial ends), each trial's columns from
  its own packed bits (``per_probe``): sweeps jump
  from one unstable neuron to the next in the order
  ``jax.random.permutation(fold_in(k, t), N)``, read off the bits without
  sorting where that is the same order (N <= 1625, checked once).

Same key, same bits as ``hopfield.run(hebbian(xi), s0, key=...)`` for the same
patterns, start and dynamics key, as long as run's float32 tie tolerance
(:func:`hopfield.dynamics.tie_tolerance`, at most ``64 eps p = 7.6e-6 p``) stays below the
smallest non-zero field 1/N (``p N < 1.3e5`` suffices, e.g. N = 500, p <= 100);
tests/test_hopfield_capacity_scan.py checks it trial by trial.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_fraction, check_int, check_key, check_scan_size
from .engine import keys_reproduce_permutation as _keys_reproduce_permutation
from .engine import relax
from .records import ScanRecord

_U32MAX = 0xFFFFFFFF


# -- packed patterns -------------------------------------------------------------
def _draw_packed(key: jax.Array, p: int, N: int) -> jax.Array:
    """``p`` random ±1 patterns of ``N`` neurons packed as ``(w, N)`` uint32; bit m of word k of neuron i
    is set when ``xi[32 k + m, i] = -1``; unused high bits of the last word are 0."""
    w = -(-p // 32)
    last = (1 << (p - 32 * (w - 1))) - 1 if p % 32 else _U32MAX
    mask = jnp.asarray([_U32MAX] * (w - 1) + [last], jnp.uint32)
    return jax.random.bits(key, (w, N)) & mask[:, None]


def unpack_patterns(packed: jax.Array, p: int) -> jax.Array:
    """``(w, N)`` packed bits -> ``xi: (p, N)`` float32 in {-1, +1} (bit set = -1)."""
    w, N = packed.shape
    bits = (packed[:, None, :] >> jnp.arange(32, dtype=jnp.uint32)[None, :, None]) & 1
    return 1.0 - 2.0 * bits.reshape(32 * w, N)[:p].astype(jnp.float32)


def _coupling_column(packed: jax.Array, p: int, i: jax.Array) -> jax.Array:
    """``N W[:, i]`` as int32 (``p`` at i itself, which the caller zeroes): ``p - 2 popcount(c_j xor c_i)``."""
    ci = jax.lax.dynamic_slice_in_dim(packed, i, 1, axis=1)
    pc = sum(jax.lax.population_count(packed[k] ^ ci[k, 0]).astype(jnp.int32) for k in range(packed.shape[0]))
    return p - 2 * pc


def _packed_column(packed: jax.Array, j: jax.Array, p: int) -> jax.Array:
    """Columns ``N W[:, j]`` (zero at j itself) for ``j: (G,)`` -> (G, N) int32: the engine's column source."""
    N = packed.shape[1]
    cols = jax.vmap(lambda i: _coupling_column(packed, p, i))(j)
    return jnp.where(jnp.arange(N)[None, :] == j[:, None], 0, cols)


def _fields(packed, p: int, s0):
    """``s0: (N,)`` float32 -> int32 fields ``H = N W s0 = xi^T (xi s0) - p s0`` (W of the packed patterns).

    The entries are integers of size <= p N: exact in float32 below 2^24, else computed in int32."""
    xi = unpack_patterns(packed, p)
    dtype = jnp.float32 if p * s0.shape[0] < 2**24 else jnp.int32
    xi, s = xi.astype(dtype), s0.astype(dtype)
    return (xi.T @ (xi @ s)).astype(jnp.int32) - p * s0.astype(jnp.int32)


def _recall(packed, p: int, s, H, key, max_sweeps: int, from_bits: bool):
    """One trial on the engine (:func:`hopfield.engine.relax`, a batch of one, columns from the packed bits).
    **Returns:** ``(s, sweeps, status)`` as :func:`hopfield.dynamics.async_single`, and the number of flips."""
    s, _, t, status, n = relax(partial(_packed_column, p=p), packed, s[None], H[None], key[None], max_sweeps=max_sweeps,
                               order="permutation", slots=1, from_bits=from_bits)
    return s[0], t[0], status[0], n[0]


def _trial_inputs(key: jax.Array, N: int, p: int, n_flip: int):
    """Packed patterns ``(w, N)``, start ``(N,)`` float32 (pattern 0, exactly ``n_flip`` bits flipped as
    :func:`hopfield.patterns.flip_exact` draws them) and the dynamics key of one trial."""
    kx, kf, kd = jax.random.split(key, 3)
    packed = _draw_packed(kx, p, N)
    target = 1.0 - 2.0 * (packed[0] & 1).astype(jnp.float32)
    # flip_exact flips the n_flip smallest of N uniforms (ties to the lower index); top_k finds them without two sorts.
    _, pos = jax.lax.top_k(-jax.random.uniform(kf, (N,)), n_flip)
    return packed, target.at[pos].multiply(-1.0), kd


def _trial_column(operand: tuple, j: jax.Array, b: jax.Array) -> jax.Array:
    """Columns ``N W[:, j]`` of the trials ``b`` (G,) for ``operand = (packed: (T, w, N), ps: (T,))`` (zero words
    pad the trials with fewer patterns) -> (G, N) int32, zero at j: the engine's per-probe column source."""
    packed, ps = operand
    pk = packed[b]  # (G, w, N)
    cj = jnp.take_along_axis(pk, j[:, None, None], axis=2)  # (G, w, 1)
    pc = sum(jax.lax.population_count(pk[:, k] ^ cj[:, k]).astype(jnp.int32) for k in range(pk.shape[1]))
    N = pk.shape[2]
    return jnp.where(jnp.arange(N)[None, :] == j[:, None], 0, ps[b][:, None] - 2 * pc)


def _inputs(key, first, N: int, p: int, trials: int, n_flip: int, w: int):
    """All trials of one pattern count: packed patterns padded to ``w`` words, int8 starts, exact int32 fields,
    dynamics keys and targets."""
    keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(first + jnp.arange(trials))
    packed, s0, kd = jax.vmap(lambda k: _trial_inputs(k, N, p, n_flip))(keys)
    H0 = jax.vmap(lambda a, s: _fields(a, p, s))(packed, s0)
    target = 1 - 2 * (packed[:, 0] & 1).astype(jnp.int8)
    packed = jnp.pad(packed, ((0, 0), (0, w - packed.shape[1]), (0, 0)))
    return packed, s0.astype(jnp.int8), H0, kd, target


@partial(jax.jit, static_argnames=("N", "ps", "trials", "n_flip", "max_sweeps", "from_bits", "slots"))
def _scan(key, first, N: int, ps: tuple, trials: int, n_flip: int, max_sweeps: int, from_bits: bool, slots: int = 8):
    """Jitted core of :func:`capacity_scan` for trials ``first .. first + trials - 1``: final overlaps, sweeps,
    status, flips, each ``(P, trials)``.  Every trial of every p is a probe of one engine call (its slots take
    the next trial when one finishes; each trial's columns come from its own packed patterns). Trusts its inputs."""
    w = -(-max(ps) // 32)
    parts = [_inputs(jax.random.fold_in(key, g), first, N, p, trials, n_flip, w) for g, p in enumerate(ps)]
    packed, s0, H0, kd, target = (jnp.concatenate(x) for x in zip(*parts, strict=True))
    pvec = jnp.repeat(jnp.asarray(ps, jnp.int32), trials)
    s, _, sweeps, status, flips = relax(_trial_column, (packed, pvec), s0, H0, kd, max_sweeps=max_sweeps,
                                        order="permutation", slots=slots, from_bits=from_bits, per_probe=True)
    m = jnp.mean(s.astype(jnp.float32) * target, axis=1)
    P = len(ps)
    return tuple(x.reshape(P, trials) for x in (m, sweeps, status, flips))


def capacity_scan(N: int, pattern_counts: Sequence[int], *, key: Any, trials: int = 20, noise: float = 0.1,
                  max_sweeps: int = 200, threads: int = 1) -> ScanRecord:
    """Fraction of exact recalls from a noisy start versus the number of stored patterns (one compiled call per thread).

    hopfieldkit's ``empirical_capacity_scan`` with the dynamics of
    :func:`hopfield.run` (see the module docstring): trial j at grid point g
    uses ``fold_in(fold_in(key, g), j)``; its patterns, start and dynamics key
    come from ``split(., 3)``.  The jitted core is compiled once per
    ``(N, pattern_counts, trials per thread, noise, max_sweeps)``.

    **Arguments:**

    - `N`: neurons (>= 2).
    - `pattern_counts`: the p values (each >= 1).
    - `key`: JAX PRNG key (keyword-only).
    - `trials`: networks per p (>= 1).
    - `noise`: fraction of flipped bits of the start, ``n_flip = round(noise N)``
      (hopfieldkit uses ``max(1, floor(noise N))``; equal at N = 500, noise = 0.1).
    - `max_sweeps`: sweep limit (hopfieldkit: 200).
    - `threads`: the trials are split into this many consecutive blocks, run by as many
      Python threads at once (a compiled call releases the GIL, so each block gets a
      core); the result does not depend on it.

    **Returns:** :class:`hopfield.records.ScanRecord` (configuration, and per p: overlaps,
    fraction of exact recalls with its binomial SE ``sqrt(r (1 - r) / trials)``, sweeps,
    flips, status counts).  One compiled call per thread, so there is no partial record.
    """
    key = check_key(key)
    N = check_int("N", N, 2)
    ps = tuple(check_int("pattern_counts", p, 1) for p in np.ravel(np.asarray(pattern_counts, dtype=object)).tolist())
    if not ps:
        raise ValueError("pattern_counts must hold at least one p")
    trials = check_int("trials", trials, 1)
    noise = check_fraction("noise", noise)
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    threads = min(check_int("threads", threads, 1), trials)
    n_flip = int(round(noise * N))
    check_scan_size(N, ps, trials, n_flip, threads)  # memory, work and trace size, before anything is compiled
    from_bits = _keys_reproduce_permutation(N)
    edges = np.linspace(0, trials, threads + 1).round().astype(int)

    def block(b):
        return jax.block_until_ready(_scan(key, jnp.int32(edges[b]), N, ps, int(edges[b + 1] - edges[b]), n_flip,
                                           max_sweeps, from_bits))

    if threads == 1:
        parts = [block(0)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(block, range(threads)))
    m, sweeps, status, flips = (np.concatenate([np.asarray(part[k]) for part in parts], axis=1) for k in range(4))
    ok = m >= 1.0 - 1e-6
    r = ok.mean(axis=1)
    return ScanRecord(N=N, trials=trials, noise=noise, n_flip=n_flip, max_sweeps=max_sweeps, mode="async", criterion="exact",
                      p=np.asarray(ps), alpha=np.asarray(ps) / N, m=m, retrieved=r, retrieved_se=np.sqrt(r * (1 - r) / trials),
                      sweeps=sweeps, flips=flips, status_counts=np.stack([np.bincount(row, minlength=3)[:3] for row in status]))
