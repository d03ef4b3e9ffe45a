"""Asynchronous dynamics of an unquantized Hebbian network in overlap space, without forming W.

For ``W = xi^T xi / N`` with zero diagonal the field is
``N h_i = sum_mu xi^mu_i M_mu - p s_i`` with overlaps ``M_mu = xi^mu . s``
(Hopfield 1982; the order parameters of AGS 1985/87).  When neuron i flips,
the fields change by ``2 s_new_i (xi^T xi_:i - p e_i)``, a column computed from
the patterns: O(pN) memory instead of O(N^2).  ``N h_i`` is an integer kept exactly in int32, so ties (``N h_i = 0``, the
state is kept) are exact.  The dynamics is the one kernel,
:func:`hopfield.engine.relax`, whose columns come from the patterns; with the
same key the update order is the one of :func:`hopfield.run`, so the two give
the same states (tested).  Only for float Hebbian weights:
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
from .dynamics import RunResult
from .engine import pattern_column, relax


@partial(jax.jit, static_argnames=("max_sweeps",))
def overlap_run_batch(xi: jax.Array, s0: jax.Array, keys: jax.Array, max_sweeps: int = 100) -> RunResult:
    """Jitted batch over states ``s0: (B, N)`` with shared patterns ``xi: (P, N)``; trusts its inputs.

    The engine (:func:`hopfield.engine.relax`) with the columns of ``N W = xi^T xi - p I`` computed from the
    patterns (:func:`hopfield.engine.pattern_column`): exact int32 fields ``N h``, O(pN) memory."""
    p = jnp.sum(jnp.any(xi != 0, axis=1)).astype(jnp.float32)
    H0 = jnp.round(xi.T @ (xi @ s0.T)).T - p * s0  # N h, integers exact in float32 for p N < 2^24
    s, _, sweeps, status, _ = relax(pattern_column, xi, s0.astype(jnp.int8), H0.astype(jnp.int32), keys,
                                    max_sweeps=max_sweeps, order="permutation", slots=16)
    return RunResult(s.astype(s0.dtype), sweeps, status)


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
