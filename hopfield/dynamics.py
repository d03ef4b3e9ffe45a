"""Zero-temperature Hopfield dynamics on {-1, +1} states, in JAX.

``s_i <- sign(h_i)`` with local field ``h = W s`` (J. J. Hopfield, PNAS 79:2554,
1982).  **sign(0) convention:** a neuron whose field is 0 keeps its current
state, so a flip always has ``s_new_i h_i > 0``.  "0" means within float32
rounding of zero, ``|h_i| <= tol = 64 eps max_i sum_j |W_ij|``
(:func:`tie_tolerance`): Hebbian fields are multiples of 1/N and exact ties
do happen, and the incremental and full-matvec fields must agree on them.

- Asynchronous: one sweep updates every neuron once in a fresh random order
  (a permutation drawn from ``fold_in(key, sweep)``).  The field vector is kept
  and updated incrementally when neuron i flips, ``h += 2 s_new_i W[:, i]``, so a
  flip costs one column, not a matvec.  The batch runs on the one asynchronous
  kernel, :func:`hopfield.engine.relax`; ``event_sweep``/``async_sweep`` are the
  single-sweep definitions it is tested against.  With W symmetric and zero on the diagonal
  every flip lowers ``E = -1/2 s^T W s`` by ``2 |h_i| > 0``, so the dynamics ends
  in a fixed point: a sweep without a flip.
- Synchronous: ``s <- sign(W s)`` for all neurons at once; ends in a fixed point
  or a 2-cycle (``s(t+1) = s(t-1) != s(t)``), the only attractors of parallel
  dynamics with symmetric W.

``sync_single`` is pure and jit-able and batches are ``jax.vmap`` over it; the
asynchronous batch is one call of the engine (``run``); see
:mod:`hopfield.sharding` for the batch axis over several devices.  The
kernels (``async_single``, ``sync_single``, ``event_sweep``, ``async_sweep``,
``update_neuron``) take their key positionally so that ``jax.vmap`` can map it;
the public :func:`run` takes it keyword-only.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_int, check_key, check_states, check_weights

#: Status codes of a run: reached a fixed point / a 2-cycle (sync only) / the sweep limit.
FIXED_POINT, CYCLE, LIMIT = 0, 1, 2
STATUS_NAMES = ("fixed_point", "cycle", "limit")
MODES = ("async", "sync")


class RunResult(NamedTuple):
    """Outcome of a run on a batch of B states.

    - `states`: (B, N) float32 in {-1, +1}, final states.
    - `sweeps`: (B,) int32; sweeps run, each of which changed the state (async:
      full sweeps, stopping as soon as the maintained fields show a stable state,
      so no extra checking sweep; sync: parallel steps, a 2-cycle counting the
      step that closed it).  A state that is already a fixed point uses 0 sweeps.
    - `status`: (B,) int32: FIXED_POINT (0), CYCLE (1) or LIMIT (2).
    """

    states: jax.Array
    sweeps: jax.Array
    status: jax.Array


def sign_keep(h: jax.Array, s: jax.Array, tol: jax.Array | float = 0.0) -> jax.Array:
    """``sign(h)`` with the current state ``s`` kept where ``|h| <= tol`` (a tie)."""
    return jnp.where(h > tol, 1.0, jnp.where(h < -tol, -1.0, s)).astype(s.dtype)


def tie_tolerance(W: jax.Array) -> jax.Array:
    """Fields with ``|h| <= 64 eps max_i sum_j |W_ij|`` count as 0 (a bound on float32 rounding of a field)."""
    return 64 * jnp.finfo(W.dtype).eps * jnp.max(jnp.sum(jnp.abs(W), axis=1))


def energy(W: jax.Array, s: jax.Array) -> jax.Array:
    """``E(s) = -1/2 s^T W s`` for ``s: (N,)`` (a batch: ``jax.vmap(energy, (None, 0))``)."""
    return -0.5 * s @ (W @ s)


def update_neuron(W: jax.Array, s: jax.Array, h: jax.Array, i: jax.Array, tol: jax.Array | float = 0.0
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One asynchronous update of neuron ``i``; ``h`` must equal ``W s``; fields within ``tol`` of 0 keep the state.

    **Returns:** ``(s, h, flipped)`` with the field updated incrementally,
    ``h += 2 s_new_i W[:, i]`` (W symmetric, so row i is used).
    """
    old = s[i]
    new = sign_keep(h[i], old, tol)
    d = new - old  # 0 or +-2
    s = s.at[i].set(new)
    h = h + d * W[i]
    return s, h, d != 0


def async_sweep(W: jax.Array, s: jax.Array, h: jax.Array, key: jax.Array, tol: jax.Array | float = 0.0
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One asynchronous sweep in the random order ``permutation(key, N)``; returns ``(s, h, n_flips)``."""
    order = jax.random.permutation(key, s.shape[0])

    def body(k, carry):
        s, h, n = carry
        s, h, flipped = update_neuron(W, s, h, order[k], tol)
        return s, h, n + flipped.astype(jnp.int32)

    return jax.lax.fori_loop(0, s.shape[0], body, (s, h, jnp.int32(0)))


def event_sweep(W: jax.Array, s: jax.Array, h: jax.Array, key: jax.Array, tol: jax.Array | float = 0.0
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The sweep of :func:`async_sweep`, jumping from one flip to the next.

    Visiting a stable neuron changes nothing, so the sweep goes straight to the
    next neuron in the order ``permutation(key, N)`` whose field disagrees with
    its state, flips it, updates ``h`` incrementally and repeats: a loop over
    flips instead of over all N neurons.  Same states as :func:`async_sweep`.
    **Returns:** ``(s, h, n_flips)``.
    """
    N = s.shape[0]
    order = jax.random.permutation(key, N)
    rank = jnp.zeros(N, jnp.int32).at[order].set(jnp.arange(N, dtype=jnp.int32))

    def next_rank(s, h, after):
        unstable = (sign_keep(h, s, tol) != s) & (rank > after)
        return jnp.min(jnp.where(unstable, rank, N))

    def cond(c):
        return c[2] < N

    def body(c):
        s, h, r, n = c
        i = order[r]
        new = -s[i]
        s = s.at[i].set(new)
        h = h + 2 * new * W[i]
        return s, h, next_rank(s, h, r), n + 1

    s, h, _, n = jax.lax.while_loop(cond, body, (s, h, next_rank(s, h, -1), jnp.int32(0)))
    return s, h, n


def async_single(W: jax.Array, s: jax.Array, key: jax.Array, max_sweeps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Asynchronous dynamics of one state ``s: (N,)`` until it is stable or after ``max_sweeps`` sweeps.

    Sweep t visits the neurons in the order ``permutation(fold_in(key, t), N)``
    (:func:`event_sweep`, equal to :func:`async_sweep`), run by the one batched kernel
    :func:`hopfield.engine.relax` with a batch of one.  **Returns:** ``(s, sweeps, status)``.
    """
    out = _async_batch(W, s[None], key[None], max_sweeps)
    return out.states[0], out.sweeps[0], out.status[0]


def _async_batch(W: jax.Array, s0: jax.Array, keys: jax.Array, max_sweeps: int, slots: int = 16) -> RunResult:
    """Async dynamics of a batch on float ``W`` with the engine (fields kept incrementally, ties within
    :func:`tie_tolerance`); the trajectories of the former per-state kernel (``event_sweep`` sweeps with
    the field recomputed between sweeps), tested state by state."""
    from .engine import dense_column, relax

    s, _, sweeps, status, _ = relax(dense_column, W, s0.astype(jnp.int8), s0 @ W, keys, max_sweeps=max_sweeps,
                                    tol=tie_tolerance(W), order="permutation", slots=slots)
    return RunResult(s.astype(s0.dtype), sweeps, status)


def sync_single(W: jax.Array, s: jax.Array, max_sweeps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Synchronous dynamics of one state ``s: (N,)``: ``s <- sign_keep(W s, s)``.

    Stops at a fixed point, a 2-cycle, or after ``max_sweeps`` steps.
    **Returns:** ``(s, sweeps, status)`` as in :class:`RunResult`.
    """

    tol = tie_tolerance(W)

    def cond(c):
        _, _, t, status = c
        return (status < 0) & (t < max_sweeps)

    def body(c):
        s, prev, t, _ = c
        new = sign_keep(W @ s, s, tol)
        fixed = jnp.all(new == s)
        cycle = jnp.all(new == prev)
        status = jnp.where(fixed, FIXED_POINT, jnp.where(cycle, CYCLE, -1))
        s_next = jnp.where(fixed, s, new)
        return s_next, s, t + jnp.where(fixed, 0, 1), status.astype(jnp.int32)

    init = (s, jnp.zeros_like(s), jnp.int32(0), jnp.int32(-1))
    s, _, t, status = jax.lax.while_loop(cond, body, init)
    at_limit = jnp.where(jnp.all(sign_keep(W @ s, s, tol) == s), FIXED_POINT, LIMIT)
    return s, t, jnp.where(status < 0, at_limit, status).astype(jnp.int32)


@partial(jax.jit, static_argnames=("mode", "max_sweeps"))
def run_batch(W: jax.Array, s0: jax.Array, keys: jax.Array, mode: str = "async", max_sweeps: int = 100) -> RunResult:
    """Jitted batch dynamics: ``s0: (B, N)``, ``keys: (B,)`` (unused for ``mode="sync"``). Trusts its inputs."""
    if mode == "async":
        return _async_batch(W, s0, keys, max_sweeps)
    else:
        out = jax.vmap(sync_single, in_axes=(None, 0, None))(W, s0, max_sweeps)
    return RunResult(*out)


def check_run_args(W: Any, s0: Any, key: Any, mode: str, max_sweeps: Any):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    w = check_weights(W, symmetric_atol=0.0)
    s, single = check_states(s0, w.shape[0])
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    if mode == "async":
        key = check_key(key)
    elif key is None:
        key = jax.random.key(0)  # sync dynamics is deterministic
    else:
        key = check_key(key)
    return jnp.asarray(w), jnp.asarray(s), jax.random.split(key, s.shape[0]), single, max_sweeps


def run(W: Any, s0: Any, *, key: Any = None, mode: str = "async", max_sweeps: int = 100) -> RunResult:
    """Run the dynamics from ``s0`` until a fixed point (or 2-cycle) or ``max_sweeps``.

    **Arguments:**

    - `W`: (N, N) symmetric with zero diagonal (e.g. :func:`hopfield.hebbian`, :func:`hopfield.quantize`).
    - `s0`: (N,) or (B, N) initial states in {-1, +1}.
    - `key`: keyword-only JAX PRNG key for the asynchronous update orders (required for
      ``mode="async"``, unused by the deterministic ``mode="sync"``; trial b uses ``split(key, B)[b]``).
    - `mode`: ``"async"`` (random sequential, Hopfield 1982) or ``"sync"`` (parallel).
    - `max_sweeps`: sweep limit (>= 1).

    **Returns:** :class:`RunResult` with a leading batch axis (dropped if `s0` was (N,)).
    """
    w, s, keys, single, max_sweeps = check_run_args(W, s0, key, mode, max_sweeps)
    out = run_batch(w, s, keys, mode=mode, max_sweeps=max_sweeps)
    if single:
        out = RunResult(*(x[0] for x in out))
    return out
