"""Validation at the public boundary of hopfield/.

Every public function checks its inputs once here and raises a ValueError that
names the argument; the jitted inner code trusts what it is given.

Sizes are checked before anything is compiled or allocated: each public entry
point estimates the peak memory of its run (:func:`check_memory`, against the
free memory of the default device) and a lower bound on its work in elementary
operations (:func:`check_work`, against :data:`WORK_LIMIT`), and refuses a run
that cannot finish with a ValueError naming the sizes and the limit, instead of
hanging in compilation or dying out of memory.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

#: Most elementary operations (multiply-adds, popcounts, comparisons) a single call may need at
#: least: 1e12 is about an hour of one loaded CPU core (capacity_scan ran 1e9 of them in about
#: 20 s on 2 shared cores).  Raise it (``hopfield._checks.WORK_LIMIT = ...``) to run more.
WORK_LIMIT = 1e12
#: Most floating-point operations of the dense experiments (:func:`hopfield.retrieval`, :func:`hopfield.basins`,
#: capacity, finite-size), which are matrix products at tens of GFLOP/s on 2 cores: 1e14 is about an hour there
#: (N = 6400 with the default 16 networks and 11 loads needs about 1.5e13, a few minutes).
DENSE_WORK_LIMIT = 1e14
#: Most 32-bit pattern words that :func:`hopfield.capacity_scan` unrolls into its compiled
#: column code, summed over the pattern counts (``ceil(p / 32)`` each): 1024 words compiled
#: in about 40 s on 2 shared cores; beyond that the compilation, not the run, takes the time.
SCAN_WORD_LIMIT = 1024


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v


def check_patterns(patterns: Any, name: str = "patterns") -> np.ndarray:
    """(p, N) with p >= 1, N >= 2 and entries in {-1, +1}; returned as a float32 numpy array."""
    x = np.asarray(patterns)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (p, N), got shape {x.shape}")
    p, N = x.shape
    if p < 1:
        raise ValueError(f"{name} must hold p >= 1 patterns, got p={p}")
    if N < 2:
        raise ValueError(f"{name} must have N >= 2 neurons, got N={N}")
    if not np.all((x == 1) | (x == -1)):
        raise ValueError(f"{name} entries must be -1 or +1")
    return x.astype(np.float32)


def check_states(states: Any, N: int, name: str = "s0") -> tuple[np.ndarray, bool]:
    """(N,) or (B, N) in {-1, +1}; returns a float32 (B, N) array and whether the input was a single state."""
    x = np.asarray(states)
    single = x.ndim == 1
    if single:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != N:
        raise ValueError(f"{name} must have shape (N,) or (B, N) with N={N}, got shape {np.shape(states)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one state")
    if not np.all((x == 1) | (x == -1)):
        raise ValueError(f"{name} entries must be -1 or +1")
    return x.astype(np.float32), single


def check_weights(W: Any, name: str = "W", symmetric_atol: float = 0.0) -> np.ndarray:
    """Square (N, N), N >= 2, finite, symmetric and zero on the diagonal (float32)."""
    w = np.asarray(W)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) matrix, got shape {w.shape}")
    if w.shape[0] < 2:
        raise ValueError(f"{name} must have N >= 2 neurons, got N={w.shape[0]}")
    if w.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {w.dtype}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite (no NaN or Inf)")
    big = float(np.max(np.abs(w))) if w.size else 0.0
    if big > float(np.finfo(np.float32).max):
        raise ValueError(f"{name} has entries up to {big:.3g}, beyond float32's range "
                         f"(+-{float(np.finfo(np.float32).max):.3g}): rescale W (the dynamics and the quantizers "
                         "depend only on W up to a positive factor)")
    w = w.astype(np.float32)
    if np.max(np.abs(w - w.T)) > symmetric_atol:
        raise ValueError(f"{name} must be symmetric (W == W.T)")
    if np.any(np.diag(w) != 0):
        raise ValueError(f"{name} must have a zero diagonal")
    return w


def check_key(key: Any, name: str = "key") -> Any:
    import jax

    if key is None:
        raise ValueError(f"{name} is required: pass jax.random.key(seed)")
    try:
        arr = jax.numpy.asarray(key)
    except TypeError:
        raise ValueError(f"{name} must be a JAX PRNG key, got {type(key).__name__}") from None
    if jax.dtypes.issubdtype(arr.dtype, jax.dtypes.prng_key):
        if arr.ndim != 0:
            raise ValueError(f"{name} must be a single PRNG key, got shape {arr.shape}")
        return key
    if arr.shape == (2,) and arr.dtype == np.uint32:
        return jax.random.wrap_key_data(arr)
    raise ValueError(f"{name} must be a JAX PRNG key (jax.random.key(seed)), got {key!r}")


def check_criterion(criterion: Any, name: str = "criterion") -> float | str:
    """``"exact"`` or an overlap in [-1, 1] (returned as a float)."""
    if isinstance(criterion, str):
        if criterion == "exact":
            return criterion
        raise ValueError(f"{name} must be 'exact' or an overlap in [-1, 1], got {criterion!r}")
    try:
        c = float(criterion)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 'exact' or an overlap in [-1, 1], got {criterion!r}") from None
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"{name} must be 'exact' or an overlap in [-1, 1], got {criterion!r}")
    return c


# -- sizes: memory and work, estimated before anything is compiled or allocated --------------
def available_bytes() -> int:
    """Free memory of the default device: its allocator's limit minus what is in use, else the host's MemAvailable."""
    import jax

    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n < 2**40 else f"{n / 2**40:.3g} TiB"


def check_memory(what: str, need: float, *, available: int | None = None) -> float:
    """Raise a ValueError when ``need`` bytes exceed 90% of the free memory; ``what`` names the sizes."""
    have = available_bytes() if available is None else int(available)
    if need > 0.9 * have:
        raise ValueError(f"{what} needs about {_gib(need)} of memory, more than the limit {_gib(0.9 * have)} "
                         f"(90% of the {_gib(have)} free on {_device_name()}): use smaller sizes")
    return need


def check_work(what: str, ops: float, *, dense: bool = False) -> float:
    """Raise a ValueError when at least ``ops`` operations exceed :data:`WORK_LIMIT` (:data:`DENSE_WORK_LIMIT` for
    the matrix-product work of the dense experiments, ``dense=True``); the limits are read at call time."""
    name = "DENSE_WORK_LIMIT" if dense else "WORK_LIMIT"
    limit = DENSE_WORK_LIMIT if dense else WORK_LIMIT
    if ops > limit:
        raise ValueError(f"{what} needs at least {ops:.2g} operations, more than the limit {limit:.2g} "
                         f"(hopfield._checks.{name}): use smaller sizes")
    return ops


def _device_name() -> str:
    import jax

    return str(jax.devices()[0].platform)


def patterns_cost(p: int, N: int, correlated: bool) -> float:
    """Peak bytes of :func:`hopfield.random_patterns`: uniforms, a mask and the float32 patterns (twice if correlated)."""
    return float(p) * N * (4 + 1 + 4) * (2 if correlated else 1)


def check_patterns_size(p: int, N: int, correlated: bool = False) -> None:
    """Entry check of :func:`hopfield.random_patterns`."""
    check_memory(f"p={p}, N={N}: random_patterns", patterns_cost(p, N, correlated))


def check_hebbian_size(p: int, N: int) -> None:
    """Entry check of :func:`hopfield.hebbian`: the (N, N) float32 matrix and its product."""
    check_memory(f"patterns with N={N} neurons: hebbian's {N}x{N} weight matrix", 8.0 * N * N + 4.0 * p * N)
    check_work(f"patterns with p={p}, N={N}: hebbian", 2.0 * p * N * N, dense=True)


def check_network_size(N: int, ps: Sequence[int], networks: int, probes: int, flips: int, n_starts: int,
                       quantized: bool, what: str) -> None:
    """Entry check of the dense experiments (:func:`hopfield.retrieval`, :func:`hopfield.basins`, capacity).

    Memory of one network at the largest p: W (and for quantized weights W / scale, qW and
    the float64 copies :func:`theory.rho` reads), the patterns, and the probes' states and
    fields.  Work, a lower bound: per network and load the Hebb product ``2 p N^2``, the
    starting fields ``2 B N^2`` of the ``B`` probes and one sweep (``B N``) plus ``flips``
    column updates (``flips B N``) each."""
    p = max(ps)
    B = n_starts * min(probes, p)
    per_net = N * N * (4 * 2 + (4 * 3 + 8 * 2 if quantized else 0)) + 9.0 * p * N + 16.0 * B * N
    check_memory(f"N={N} (p up to {p}, {B} probes per network): {what}", per_net)
    ops = networks * sum(2.0 * q * N * N + n_starts * min(probes, q) * (2.0 * N * N + N + flips * N) for q in ps)
    check_work(f"N={N}, {len(ps)} load(s) (p up to {p}), networks={networks}, probes={probes}: {what}", ops,
               dense=True)


def check_scan_size(N: int, ps: Sequence[int], trials: int, n_flip: int, threads: int) -> None:
    """Entry check of :func:`hopfield.capacity_scan`.

    Words unrolled into the compiled column code: ``sum ceil(p / 32)`` (at most
    :data:`SCAN_WORD_LIMIT`).  Memory: every trial's packed patterns ``(ceil(p/32), N)``
    uint32, start and uniforms side by side, plus per running block the unpacked
    patterns of one trial (``32 ceil(p/32) N`` float32 and their bits).  Work, a lower
    bound: per trial its starting fields ``2 p N``, one sweep ``N`` and the ``n_flip``
    flips back, each a column of ``N ceil(p/32)`` popcounts."""
    words = [-(-p // 32) for p in ps]
    if sum(words) > SCAN_WORD_LIMIT:
        raise ValueError(f"pattern_counts up to p={max(ps)} unroll {sum(words)} 32-bit words into the compiled scan, "
                         f"more than the limit {SCAN_WORD_LIMIT} (hopfield._checks.SCAN_WORD_LIMIT): "
                         "use fewer or smaller pattern counts")
    w = max(words)
    need = trials * (4.0 * w * N + 12.0 * N) + min(threads, trials) * (2 * 4.0 * 32 * w * N + 64.0 * N)
    check_memory(f"N={N}, trials={trials}, pattern_counts up to {max(ps)}: capacity_scan", need)
    ops = trials * sum(2.0 * p * N + N + n_flip * N * wp for p, wp in zip(ps, words, strict=True))
    check_work(f"N={N}, trials={trials}, {len(ps)} pattern_counts (up to {max(ps)}), {n_flip} flipped bits per start: "
               "capacity_scan", ops)
