"""Validation at the public boundary of hopfield/.

Every public function checks its inputs once here and raises a ValueError that
names the argument; the jitted inner code trusts what it is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
    w = w.astype(np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite (no NaN or Inf)")
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
