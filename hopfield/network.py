"""One Hebbian network at research scale: exact integer couplings, cumulative loads, the two protocols.

- Couplings: the Hebb counts ``C = xi^T xi - p I`` (``N W = C``, J. J. Hopfield,
  PNAS 79:2554, 1982) as int16 (int32 above p = 32767), built by a float32
  matrix product (exact: integers below 2^24) and grown load by load,
  ``C(p + dp) = C(p) + xi_dp^T xi_dp - dp I``, so a whole grid of loads costs
  about one build of the largest matrix.  Quantized weights
  (``scale * q(W / scale)`` with the a-priori quantizer of
  :func:`hopfield.hebbian.unit_quantizer`; H. Sompolinsky, PRA 34:2571, 1986)
  are int8 codes times a unit when the levels lie on a lattice (sign, ternary,
  uniform), so their fields are exact integers too; other level sets (Lloyd-Max,
  exponential) run as float32 with the tie tolerance of :mod:`hopfield.dynamics`.
- Protocols: ``"stability"`` starts at every stored pattern and relaxes to a
  fixed point (the retrieval state whose existence the mean-field theory
  predicts: D. J. Amit, H. Gutfreund, H. Sompolinsky, Ann. Phys. 173:30, 1987);
  ``"basin"`` starts every stored pattern with ``round((1 - m0) N / 2)`` bits
  flipped.  Every stored pattern is a probe; their starting fields are one
  matrix product, computed exactly (in chunks whose partial sums stay below 2^24).
- Memory is estimated before anything large is allocated
  (:func:`check_memory`), with a ValueError naming the size that does not fit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .dynamics import tie_tolerance
from .engine import dense_column, relax
from ._checks import available_bytes
from .hebbian import apply_quantizer, hebbian_scale

PROTOCOLS = ("stability", "basin")
_EXACT = 2**24  # float32 represents every integer below this


# -- memory ---------------------------------------------------------------------------
def network_bytes(N: int, p: int, quantized: bool) -> int:
    """Peak bytes of one network at ``p`` patterns: counts, a float32 temporary of W (for quantizing),
    the quantized coupling, patterns, and the probes' states and fields (in, out)."""
    counts = N * N * (2 if p < 32768 else 4)
    # W / scale in float32, the encoder's integer codes and comparison temporaries, then float32 or int8 levels: a
    # 2-bit uniform network at N = 16384 peaked at 8.1 GiB (benchmarks/bench_hopfield.py --quantized), 30 bytes per entry
    quant = N * N * 24 if quantized else 0
    probes = p * N * (4 + 1) * 2 + p * N * 4  # fields and states, in and out; patterns
    return counts + quant + probes + N * N * 4  # + the float32 product that builds the counts


def check_memory(N: int, p: int, quantized: bool, *, available: int | None = None) -> int:
    """Raise a ValueError naming ``N`` and ``p`` when one network does not fit; returns the bytes needed."""
    need = network_bytes(N, p, quantized)
    have = available_bytes() if available is None else int(available)
    if need > 0.9 * have:
        raise ValueError(f"N={N} with p={p} patterns ({'quantized' if quantized else 'float'} weights) needs about "
                         f"{need / 2**30:.2f} GiB, but only {have / 2**30:.2f} GiB are free")
    return need


# -- couplings ------------------------------------------------------------------------
def counts_dtype(p: int):
    return jnp.int16 if p < 32768 else jnp.int32


@jax.jit
def _outer_counts(xi: jax.Array) -> jax.Array:
    """``xi^T xi - p I`` for ``xi: (dp, N)`` float32 in {-1, +1}, int32 (exact: |entries| <= dp < 2^24)."""
    C = jnp.round(xi.T @ xi).astype(jnp.int32)
    return C - xi.shape[0] * jnp.eye(xi.shape[1], dtype=jnp.int32)


def hebb_counts(xi: jax.Array, C: jax.Array | None = None, p_before: int = 0) -> jax.Array:
    """The Hebb counts of the patterns ``xi: (dp, N)``, added to ``C`` (the counts of ``p_before`` patterns)."""
    dt = counts_dtype(p_before + xi.shape[0])
    D = _outer_counts(jnp.asarray(xi, jnp.float32))
    return D.astype(dt) if C is None else (C.astype(dt) + D.astype(dt))


def _exact_rows_times(A: jax.Array, C: jax.Array, bound: int) -> jax.Array:
    """``A @ C`` exactly in int32 for ``A: (B, K)`` in {-1, 0, +1} and integer ``C: (K, N)`` with |C| <= bound:
    float32 products over chunks of K whose partial sums stay below 2^24, summed in int32."""
    K = A.shape[1]
    step = max(1, min(K, (_EXACT - 1) // max(int(bound), 1)))
    out = None
    for a in range(0, K, step):
        part = jnp.round(A[:, a:a + step].astype(jnp.float32) @ C[a:a + step].astype(jnp.float32)).astype(jnp.int32)
        out = part if out is None else out + part
    return out


def start_fields(coupling: jax.Array, s0: jax.Array, bound: int) -> jax.Array:
    """Fields ``s0 @ coupling`` of the starts ``s0: (B, N)``: int32, exact, for an integer coupling with |entries| <= bound;
    float32 for a float coupling."""
    if jnp.issubdtype(coupling.dtype, jnp.floating):
        return s0.astype(jnp.float32) @ coupling
    return _exact_rows_times(s0, coupling, bound)


def lattice(levels: np.ndarray) -> tuple[np.ndarray, float] | None:
    """``(ints, unit)`` with ``levels == unit * ints`` (ints int8, |ints| <= 127) when the levels lie on a lattice, else None."""
    L = np.asarray(levels, dtype=np.float64)
    nz = np.abs(L[np.abs(L) > 1e-12 * np.max(np.abs(L))])
    if nz.size == 0:
        return None
    unit = float(np.min(nz))
    for div in (1, 2):  # odd multiples of a half step (uniform with an even K) or whole steps
        u = unit / div
        n = L / u
        if np.all(np.abs(n - np.round(n)) < 1e-6) and np.max(np.abs(n)) <= 127:
            return np.round(n).astype(np.int8), u
    return None


def quantized_coupling(C: jax.Array, p: int, quantizer) -> tuple[jax.Array, Any, int]:
    """The coupling of the quantized network, in units where its fields are exact when they can be.

    **Returns:** ``(coupling, tol, bound)``: int8 lattice codes (tol 0) or float32 ``q(W / scale)``
    (tol from :func:`hopfield.dynamics.tie_tolerance`); ``bound`` the largest |entry| (for exact starting fields).
    Both give the sign decisions of ``apply_quantizer(C / N, quantizer, sqrt(p) / N)`` (same quantizer, same input)."""
    N = C.shape[0]
    scale = hebbian_scale(p, N)
    lat = lattice(np.asarray(quantizer.levels).ravel())
    if lat is not None:
        ints, u = lat
        codes = jnp.asarray(quantizer.encode(jnp.asarray(C, jnp.float32) / N / scale))
        Q = jnp.asarray(ints)[codes].astype(jnp.int8)
        Q = jnp.where(jnp.eye(N, dtype=bool), jnp.int8(0), Q)
        return Q, 0, int(np.max(np.abs(ints)))
    unit_w = apply_quantizer(C.astype(jnp.float32) / N, quantizer, scale) / scale  # q(W / scale), zero diagonal
    return unit_w, tie_tolerance(unit_w), 0


# -- dynamics of all probes -------------------------------------------------------------
@partial(jax.jit, static_argnames=("order", "slots"))
def _relax(coupling, s0, H0, keys, tol, count, max_sweeps, order: str, slots: int):
    return relax(dense_column, coupling, s0, H0, keys, max_sweeps=max_sweeps, tol=tol, order=order, slots=slots,
                 count=count)


def bucket(n: int) -> int:
    """The padded batch size for ``n`` probes: the next of 2^k and 1.5 * 2^k (few shapes, few compilations)."""
    b = 1
    while b < n:
        b = b * 3 // 2 if (b & (b - 1)) == 0 and b >= 2 else (b * 4 // 3 if b >= 3 else b + 1)
    return b


def starts(key: jax.Array, xi: jax.Array, protocol: str, m0: float) -> jax.Array:
    """int8 starts for every stored pattern: the patterns (stability) or each with ``round((1 - m0) N / 2)`` flips (basin)."""
    if protocol == "stability":
        return xi.astype(jnp.int8)
    from .patterns import flip_exact

    n_flip = int(round((1.0 - m0) * xi.shape[1] / 2))
    ks = jax.random.split(key, xi.shape[0])
    return jax.vmap(flip_exact, in_axes=(0, 0, None))(ks, xi.astype(jnp.float32), n_flip).astype(jnp.int8)


def probe_network(coupling, tol, bound: int, xi: jax.Array, *, key: jax.Array, protocol: str = "stability",
                  m0: float = 0.8, max_sweeps: int = 100, order: str = "hash", slots: int = 8,
                  pad_to: int | None = None) -> dict:
    """Every stored pattern of ``xi: (p, N)`` as a probe on ``coupling``; per probe: final overlap with its pattern,
    sweeps, status, flips (numpy), and the final states and fields.  The batch is padded to ``pad_to``
    (default :func:`bucket` (p)) inactive probes, which cost no dynamics: one padded size for all the
    loads of a network means one compilation."""
    ks, kd = jax.random.split(key)
    s0 = starts(ks, xi, protocol, m0)
    H0 = start_fields(coupling, s0, max(int(bound), 1))
    p = xi.shape[0]
    pad = max(bucket(p) if pad_to is None else int(pad_to), p) - p
    keys = jax.random.split(kd, p)
    if pad:
        s0, H0, keys = (jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) for x in (s0, H0, keys))
    out = _relax(coupling, s0, H0, keys, tol, jnp.int32(p), jnp.int32(max_sweeps), order, min(slots, p))
    s, H, sweeps, status, flips = (x[:p] for x in out)
    m = jnp.mean(s.astype(jnp.float32) * xi, axis=1)
    return dict(m=np.asarray(m), sweeps=np.asarray(sweeps), status=np.asarray(status), flips=np.asarray(flips),
                states=s, fields=H)

