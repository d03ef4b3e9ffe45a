"""Asynchronous dynamics of an unquantized Hebbian network in overlap space, without forming W.

For ``W = xi^T xi / N`` with zero diagonal the field is
``N h_i = sum_mu xi^mu_i M_mu - p s_i`` with overlaps ``M_mu = xi^mu . s``
(Hopfield 1982; the order parameters of AGS 1985/87).  When neuron i flips,
``M += 2 s_new_i xi_:i`` -- O(p) per update instead of O(N), and O(pN) memory
instead of O(N^2).  ``N h_i`` is an integer computed exactly in float32 (for
p N < 2^24), so ties (``N h_i = 0``, the state is kept) are exact.  With the
same key the update order is the one of :func:`hopfield.dynamics.async_single`,
so the two give the same states (tested).  Only for float Hebbian weights:
quantized matrices need :func:`hopfield.run`.

Patterns may be padded with all-zero rows (they add nothing to any field);
``p`` is then the number of real patterns.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ._checks import check_int, check_key, check_patterns, check_states
from .dynamics import FIXED_POINT, LIMIT, RunResult, sign_keep


def overlap_async_single(xi: jax.Array, s: jax.Array, key: jax.Array, p: jax.Array, max_sweeps: int
                         ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Async dynamics of one state ``s: (N,)`` for patterns ``xi: (P, N)`` (``p`` real ones); as ``async_single``."""
    N = s.shape[0]
    xiT = xi.T  # (N, P): row i is xi_:i
    p = jnp.asarray(p, s.dtype)

    def fields(s, M):
        return xiT @ M - p * s  # N h, exact integers

    def stable(s, M):
        return jnp.all(sign_keep(fields(s, M), s) == s)

    def sweep(s, M, k):
        order = jax.random.permutation(k, N)

        def body(j, c):
            s, M = c
            i = order[j]
            old = s[i]
            new = sign_keep(xiT[i] @ M - p * old, old)
            return s.at[i].set(new), M + (new - old) * xiT[i]

        return jax.lax.fori_loop(0, N, body, (s, M))

    def cond(c):
        s, M, t = c
        return (t < max_sweeps) & ~stable(s, M)

    def body(c):
        s, M, t = c
        s, M = sweep(s, M, jax.random.fold_in(key, t))
        return s, M, t + 1

    s, M, t = jax.lax.while_loop(cond, body, (s, xi @ s, jnp.int32(0)))
    return s, t, jnp.where(stable(s, M), FIXED_POINT, LIMIT).astype(jnp.int32)


@partial(jax.jit, static_argnames=("max_sweeps",))
def overlap_run_batch(xi: jax.Array, s0: jax.Array, keys: jax.Array, max_sweeps: int = 100) -> RunResult:
    """Jitted batch over states ``s0: (B, N)`` with shared patterns ``xi: (p, N)``; trusts its inputs."""
    p = jnp.sum(jnp.any(xi != 0, axis=1))
    return RunResult(*jax.vmap(overlap_async_single, in_axes=(None, 0, 0, None, None))(xi, s0, keys, p, max_sweeps))


def run_hebbian(patterns: Any, s0: Any, *, key: Any, max_sweeps: int = 100) -> RunResult:
    """:func:`hopfield.run` (async) for the float Hebbian matrix of ``patterns``, in overlap space.

    **Arguments:** `patterns`: (p, N) in {-1, +1}; `s0`: (N,) or (B, N); `key`: PRNG key (keyword-only); `max_sweeps` >= 1.

    **Returns:** :class:`RunResult`, equal to ``run(hebbian(patterns), s0, key=key)``.
    """
    xi = check_patterns(patterns)
    s, single = check_states(s0, xi.shape[1])
    key = check_key(key)
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    out = overlap_run_batch(jnp.asarray(xi), jnp.asarray(s), jax.random.split(key, s.shape[0]), max_sweeps=max_sweeps)
    return RunResult(*(x[0] for x in out)) if single else out
