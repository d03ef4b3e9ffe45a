"""The one asynchronous kernel: many probes advanced together, one flip per probe per step.

Zero-temperature asynchronous dynamics (J. J. Hopfield, PNAS 79:2554, 1982) on
any symmetric coupling with zero diagonal, float or integer.  Every probe b
keeps its state ``s_b`` and its local fields ``H_b = C s_b``; a step finds, for
all probes of a group at once, the next neuron of the probe's current sweep
order whose field disagrees with its state (``s_i H_i < -tol``), flips it and
adds ``2 s_new_i C[:, i]`` to the fields: one gathered column per probe, so a
step reads the G columns it needs and passes once over the (G, N) fields.

- **Integer couplings** (Hebb counts ``N W = xi^T xi - p I`` as int16/int32,
  lattice-quantized weights as int8 codes times a scale) give integer fields
  in int32: the incremental fields equal ``C s`` exactly, a tie is exactly
  ``H_i = 0`` (the state is kept) and nothing drifts.
- **Float couplings** (``W`` float32): ties are ``|H_i| <= tol`` with
  :func:`hopfield.dynamics.tie_tolerance`.

Sweeps are those of :func:`hopfield.dynamics.event_sweep`: sweep t of a probe
with key k visits the neurons in the order ``jax.random.permutation(fold_in(k,
t), N)``, jumping from one unstable neuron to the next; a probe stops at the
end of a sweep that leaves no neuron unstable (a fixed point) or after
``max_sweeps`` sweeps.  JAX draws that permutation as a stable sort of
``bits(split(.)[1], (N,))`` in one round for N <= 1625, so there the order is
read off those bits without sorting (checked once against
``jax.random.permutation``); otherwise the permutation is drawn and inverted,
one probe per step, when a probe starts a new sweep.  ``slots`` probes are
advanced together in one ``lax.while_loop``; a slot whose probe has finished
takes the next probe of the batch, so no slot waits for the slowest probe.  In
``order="hash"`` one reduction per step over the slots' (G, N) fields finds
both the next unstable neuron of the sweep and whether any neuron is unstable
(an unstable neuron earlier in the sweep counts its key plus 2^24).  With
``per_probe`` every probe has its own coupling (the trials of
:mod:`hopfield.scan`: many networks in one call).

The columns come from a ``column(operand, j) -> (G, N)`` function, so the same
kernel runs on a dense matrix (:func:`dense_column`), on the patterns without
forming W (:func:`pattern_column`, O(pN) memory) and on packed pattern bits
(:mod:`hopfield.scan`).  Plain JAX: it runs on GPU unchanged; the batch axis
splits over devices with :func:`hopfield.sharding.run_sharded`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp

#: Status codes (as :mod:`hopfield.dynamics`).
FIXED_POINT, LIMIT = 0, 2
_U32MAX = 0xFFFFFFFF
_ONE_ROUND_N = 1625  # JAX's permutation sorts once while 3 ln N <= ln(2^32 - 1)


# -- sweep orders ---------------------------------------------------------------------
@lru_cache(maxsize=None)
def keys_reproduce_permutation(N: int) -> bool:
    """Whether the stable order of ``bits(split(k)[1], (N,))`` is ``jax.random.permutation(k, N)`` (checked on 4 keys)."""
    if N > _ONE_ROUND_N:
        return False
    with jax.ensure_compile_time_eval():  # callable while tracing
        ks = jax.random.split(jax.random.key(12345), 4)
        ours = jax.vmap(lambda k: jnp.argsort(jax.random.bits(jax.random.split(k)[1], (N,)), stable=True))(ks)
        theirs = jax.vmap(lambda k: jax.random.permutation(k, N))(ks)
        return bool(jnp.all(ours == theirs))


def order_keys(key: jax.Array, N: int, from_bits: bool) -> jax.Array:
    """uint32 keys ``b`` (< 2^32 - 1): neuron j is visited before l iff ``(b_j, j) < (b_l, l)``, in the order
    of ``jax.random.permutation(key, N)`` (read off the bits when ``from_bits``, else the inverse permutation)."""
    if from_bits:
        # 2^32 - 1 stays free as the "no neuron" sentinel; capping swaps two neurons only if one key is
        # 2^32 - 1 and another 2^32 - 2 (probability ~N^2 2^-64).
        return jnp.minimum(jax.random.bits(jax.random.split(key)[1], (N,)), jnp.uint32(_U32MAX - 1))
    order = jax.random.permutation(key, N)
    return jnp.zeros(N, jnp.uint32).at[order].set(jnp.arange(N, dtype=jnp.uint32))


# -- column sources -----------------------------------------------------------------------
def dense_column(C: jax.Array, j: jax.Array) -> jax.Array:
    """Columns ``C[:, j]`` of a symmetric ``C: (N, N)`` (rows, which are contiguous) -> (G, N)."""
    return C[j]


def pattern_column(xi: jax.Array, j: jax.Array) -> jax.Array:
    """Columns of the Hebb counts ``xi^T xi - p I`` for patterns ``xi: (P, N)`` (all-zero padding rows allowed;
    p = the non-zero rows) -> (G, N) int32, computed from the patterns (exact: integers below 2^24)."""
    p = jnp.sum(jnp.any(xi != 0, axis=1)).astype(jnp.int32)
    cols = jnp.round(xi[:, j].T @ xi).astype(jnp.int32)
    return cols - p * (jnp.arange(xi.shape[1])[None, :] == j[:, None])


# -- the kernel -----------------------------------------------------------------------------
ORDERS = ("permutation", "hash")


_M24 = (1 << 24) - 1
_K1, _K2 = 0x9E3779, 0x85EBCB  # odd multipliers (mod 2^24)
_K1_INV, _K2_INV = pow(_K1, -1, 1 << 24), pow(_K2, -1, 1 << 24)


def _mix24(x):
    """A bijection of [0, 2^24) (xorshift-multiply rounds), on uint32 values below 2^24."""
    x = x ^ (x >> 12)
    x = (x * jnp.uint32(_K1)) & jnp.uint32(_M24)
    x = x ^ (x >> 11) 
    x = (x * jnp.uint32(_K2)) & jnp.uint32(_M24)
    return x ^ (x >> 12)


def _unmix24(x):
    """The inverse of :func:`_mix24`."""
    x = x ^ (x >> 12)
    x = (x * jnp.uint32(_K2_INV)) & jnp.uint32(_M24)
    x = x ^ (x >> 11) ^ (x >> 22)
    x = (x * jnp.uint32(_K1_INV)) & jnp.uint32(_M24)
    return x ^ (x >> 12)


def hash_seed(key: jax.Array) -> jax.Array:
    """The seed of one sweep in ``order="hash"``: 24 random bits (uint32)."""
    return jax.random.bits(key, (), jnp.uint32) & jnp.uint32(_M24)


def hash_keys(seed: jax.Array, N: int) -> jax.Array:
    """``order="hash"`` keys ``mix24((j + seed) mod 2^24)`` as float32 (exact below 2^24): distinct for
    N <= 2^24, so the sweep order is the sort of the keys and the neuron is read back by the inverse hash."""
    return _mix24((jnp.arange(N, dtype=jnp.uint32) + seed) & jnp.uint32(_M24)).astype(jnp.float32)


def hash_neuron(key: jax.Array, seed: jax.Array) -> jax.Array:
    """The neuron j whose :func:`hash_keys` key is ``key`` (float32)."""
    return ((_unmix24(key.astype(jnp.uint32)) - seed) & jnp.uint32(_M24)).astype(jnp.int32)


def relax(column: Callable, operand, s: jax.Array, H: jax.Array, keys: jax.Array, *, max_sweeps: int, tol=0,
          order: str = "permutation", slots: int = 32, from_bits: bool | None = None, count=None,
          per_probe: bool = False):
    """Asynchronous dynamics of the B probes ``s: (B, N)`` (int8 or any dtype in {-1, +1}) with fields ``H = C s``.

    ``C`` is what ``column(operand, j) -> (G, N)`` gives columns of; ``H`` is int32 (integer couplings, exact)
    or float32 (ties within ``tol``); ``keys: (B,)`` one PRNG key per probe.  ``slots`` probes are
    advanced together; a slot whose probe has finished takes the next probe of the batch, so no slot
    waits for the slowest probe of a fixed group.  ``order``: ``"permutation"`` (sweep t in the order
    ``jax.random.permutation(fold_in(key, t), N)``, the trajectories of :func:`hopfield.run`) or ``"hash"``
    (the neurons sorted by the bijective hash ``mix(j + seed_t)`` with ``seed_t = bits(fold_in(key, t))``:
    a pseudo-random order that costs one pass, no sort; the study's order at large N).
    Traceable: call it under ``jax.jit`` with ``column``, ``max_sweeps``, ``order``, ``slots`` static.
    ``from_bits`` (permutation order only): read the order off the bits (True) or invert the drawn
    permutation (False), the same order where :func:`keys_reproduce_permutation`; default: that check.
    ``count`` (may be traced): only the first ``count`` probes run, the others are returned as given
    (padding a batch to a few fixed sizes saves compilations).
    ``per_probe``: every probe has its own coupling; ``column(operand, j, b)`` gets the (G,) probes ``b`` the
    slots hold (so one call advances the probes of many networks, e.g. the trials of :mod:`hopfield.scan`).

    **Returns:** ``(s, H, sweeps, status, flips)``: final states (``s``'s dtype) and fields, (B,) int32 sweeps
    (each with at least one flip), status FIXED_POINT or LIMIT, and flips.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    B, N = s.shape
    G = max(1, min(slots, B))
    count = B if count is None else count
    if from_bits is None:  # read the permutation off the bits where that is the same order (checked)
        from_bits = keys_reproduce_permutation(N)
    from_bits = order == "permutation" and from_bits
    rows = jnp.arange(G)
    idx = jnp.arange(N, dtype=jnp.int32)[None, :]
    hashed = order == "hash"
    if hashed and N > _M24 + 1:
        raise ValueError(f"order='hash' needs N <= 2^24, got N={N}")
    kdt = jnp.float32 if hashed else jnp.uint32
    sentinel = jnp.asarray(2.0**24 if hashed else _U32MAX, kdt)
    z = jnp.zeros(G, jnp.int32)
    f = jnp.zeros(G, bool)

    def new_order(k, t):
        k = jax.random.fold_in(k, t)
        return hash_keys(hash_seed(k), N) if order == "hash" else order_keys(k, N, from_bits)

    def refill(c, finished, status_now):
        tgt = jnp.where(finished, c["slot"], B)  # finished slots write their probe's row back
        S = c["S"].at[tgt].set(c["s"], mode="drop")
        HH = c["HH"].at[tgt].set(c["H"], mode="drop")
        out = {k: c[k].at[tgt].set(v, mode="drop") for k, v in (("o_sweeps", c["sweeps"]), ("o_status", status_now),
                                                                 ("o_flips", c["flips"]))}
        free = finished | (c["slot"] >= B)
        nxt = c["next"] + jnp.cumsum(free) - 1
        slot = jnp.where(free, jnp.where(nxt < count, nxt, B), c["slot"])
        load = free & (slot < B)
        gi = jnp.minimum(slot, B - 1)
        return dict(c, S=S, HH=HH, **out, slot=slot, next=jnp.minimum(c["next"] + jnp.sum(free), B),
                    s=jnp.where(load[:, None], S[gi], c["s"]), H=jnp.where(load[:, None], HH[gi], c["H"]),
                    t=jnp.where(free, -1, c["t"]), last_b=jnp.where(free, sentinel, c["last_b"]),
                    last_i=jnp.where(free, N, c["last_i"]), flipped=c["flipped"] & ~free,
                    sweeps=jnp.where(free, 0, c["sweeps"]), flips=jnp.where(free, 0, c["flips"]))

    init = dict(S=s, HH=H, o_sweeps=jnp.zeros(B, jnp.int32), o_status=jnp.zeros(B, jnp.int32),
                o_flips=jnp.zeros(B, jnp.int32), slot=z + B, next=jnp.int32(0), s=s[:G], H=H[:G],
                b=jnp.zeros((G, N), kdt), last_b=jnp.zeros(G, kdt), last_i=z, t=z, flipped=f,
                sweeps=z, flips=z)
    init = refill(init, f, z)

    def body(c):
        s, H, b = c["s"], c["H"], c["b"]
        unstable = s.astype(H.dtype) * H < -tol
        if hashed:  # distinct keys in [0, 2^24); a sweep starts with last_b = -1 (every neuron is later).
            # One pass: an unstable neuron earlier in the sweep counts 2^24 + key, so the smallest value says
            # both whether a later unstable neuron exists (< 2^24, its key) and whether any does (< 2^25).
            v = jnp.min(jnp.where(unstable, jnp.where(b > c["last_b"][:, None], b, b + 2.0**24), 2.0**25), axis=1)
            has, anyu = v < 2.0**24, v < 2.0**25
            mn = jnp.where(has, v, sentinel)
        else:
            later = (b > c["last_b"][:, None]) | ((b == c["last_b"][:, None]) & (idx > c["last_i"][:, None]))
            m = jnp.where(unstable & later, b, sentinel)
            mn = jnp.min(m, axis=1)
            has = mn != sentinel
            anyu = jnp.any(unstable, axis=1)
        if hashed:  # distinct keys: the neuron is the inverse hash of the smallest key
            j = hash_neuron(jnp.minimum(mn, 2.0**24 - 1), c["seed"])
        else:  # keys may tie (bits): the smallest index among them, as the stable sort
            j = jnp.min(jnp.where(m == mn[:, None], idx, N), axis=1)
        j = jnp.where(has, j, 0)
        live = c["slot"] < B
        flip = live & has
        end = live & ~has
        fixed = end & ~anyu
        limit = end & anyu & (c["t"] + 1 >= max_sweeps)
        wrap = end & anyu & ~limit
        sj = s[rows, j]
        d = jnp.where(flip, -2 * sj, jnp.zeros_like(sj))
        col = column(operand, j, jnp.minimum(c["slot"], B - 1)) if per_probe else column(operand, j)
        H = H + d.astype(H.dtype)[:, None] * col.astype(H.dtype)
        s = s.at[rows, j].add(d)
        c = dict(c, s=s, H=H, last_b=jnp.where(flip, mn, c["last_b"]), last_i=jnp.where(flip, j, c["last_i"]),
                 sweeps=jnp.where(limit, max_sweeps, c["sweeps"] + (flip & ~c["flipped"])),
                 flipped=c["flipped"] | flip, flips=c["flips"] + flip)
        # one slot per step starts its next sweep (draws a new order); the others wait a step
        w = jnp.argmax(wrap)

        def start(c):
            nt = c["t"][w] + 1
            k = keys[c["slot"][w]]
            first = jnp.asarray(-1.0 if hashed else 0, kdt)  # hash: below every key; permutation: with last_i = -1
            upd = dict(t=c["t"].at[w].set(nt), last_b=c["last_b"].at[w].set(first), last_i=c["last_i"].at[w].set(-1),
                       flipped=c["flipped"].at[w].set(False))
            if order == "hash":
                seed = hash_seed(jax.random.fold_in(k, nt))
                return dict(c, b=c["b"].at[w].set(hash_keys(seed, N)), seed=c["seed"].at[w].set(seed), **upd)
            return dict(c, b=c["b"].at[w].set(new_order(k, nt)), **upd)

        c = jax.lax.cond(wrap[w], start, lambda c: c, c)
        finished = fixed | limit
        return jax.lax.cond(jnp.any(finished), refill, lambda c, *_: c, c, finished,
                            jnp.where(limit, LIMIT, FIXED_POINT).astype(jnp.int32))

    init["seed"] = jnp.zeros(G, jnp.uint32)
    c = jax.lax.while_loop(lambda c: jnp.any(c["slot"] < B), body, init)
    return c["S"], c["HH"], c["o_sweeps"], c["o_status"], c["o_flips"]
