"""The one scalar quantizer of corrquant.

A K-level scalar quantizer (REFERENCE.md, "Definitions and formulas"):
thresholds ``t_1 < ... < t_{K-1}`` (``t_0 = -inf``, ``t_K = +inf``) and levels
``c_1 < ... < c_K``; ``q(w) = c_k`` for ``t_{k-1} <= w < t_k``.

The type is an immutable value.  It works on numpy arrays, JAX arrays (also
inside ``jax.jit`` and ``jax.vmap``) and torch tensors, returning the same
backend, dtype and device as its input.  This module never imports JAX or torch:
it only recognises their arrays when those libraries are already loaded.

Numpy, JAX (jitted or not, under ``jax.vmap``) and torch give bitwise equal
results on the same float32 input, with one exception: XLA on CPU treats
subnormal inputs as zero (denormals-are-zero), so a subnormal ``x`` just below
a threshold at 0 lands in the upper cell under JAX and in the lower cell under
numpy and torch.  Weights of magnitude below 1.2e-38 do not occur in practice.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Largest number of levels: codes are stored as uint8 (K <= 256) or uint16.
MAX_LEVELS = 2**16


def _as_float_vector(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or Inf), got {arr.tolist()}")
    return arr


def _backend(x: Any) -> str:
    if isinstance(x, np.ndarray | np.generic | float | int | list | tuple):
        return "numpy"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return "torch"
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return "jax"
    return "numpy"


@dataclass(frozen=True, eq=False, repr=False)
class Quantizer:
    """A K-level scalar quantizer ``q(w) = levels[k]`` for ``thresholds[k-1] <= w < thresholds[k]``.

    **Arguments:**

    - `thresholds`: (K-1,) strictly increasing, finite.
    - `levels`: (K,) strictly increasing, finite.
    - `name`: a label for reports (e.g. ``"uniform(K=8)"``); not part of equality.

    Quantizers built by the families in :mod:`theory.families` are in units of
    the weights' standard deviation; :meth:`scaled` maps them onto data.
    """

    thresholds: np.ndarray
    levels: np.ndarray
    name: str = "quantizer"

    def __post_init__(self) -> None:
        t = _as_float_vector("thresholds", self.thresholds)
        c = _as_float_vector("levels", self.levels)
        if c.size < 2:
            raise ValueError(f"levels must have K >= 2 entries, got K={c.size}")
        if c.size > MAX_LEVELS:
            raise ValueError(
                f"levels: K={c.size} is too large for the code type (at most {MAX_LEVELS} levels, uint16 codes)"
            )
        if t.size != c.size - 1:
            raise ValueError(
                f"levels must have exactly one more entry than thresholds (K levels, K-1 thresholds), "
                f"got {c.size} levels and {t.size} thresholds"
            )
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"thresholds must be strictly increasing, got {t.tolist()}")
        if np.any(np.diff(c) <= 0):
            raise ValueError(f"levels must be strictly increasing, got {c.tolist()}")
        t.setflags(write=False)
        c.setflags(write=False)
        object.__setattr__(self, "thresholds", t)
        object.__setattr__(self, "levels", c)

    # -- basic properties -------------------------------------------------
    @property
    def K(self) -> int:
        """Number of levels."""
        return int(self.levels.size)

    @property
    def bits(self) -> int:
        """Storage cost per weight, ``ceil(log2 K)``."""
        return max(1, math.ceil(math.log2(self.K)))

    @property
    def code_dtype(self) -> np.dtype:
        """Smallest unsigned integer type holding the codes 0..K-1."""
        return np.dtype(np.uint8) if self.K <= 256 else np.dtype(np.uint16)

    @property
    def is_symmetric(self) -> bool:
        """True if ``q(-w) = -q(w)`` away from thresholds (levels and thresholds odd-symmetric)."""
        scale = max(float(np.max(np.abs(self.levels))), 1e-300)
        return bool(
            np.allclose(self.levels, -self.levels[::-1], atol=1e-12 * scale, rtol=0)
            and np.allclose(self.thresholds, -self.thresholds[::-1], atol=1e-12 * scale, rtol=0)
        )

    # -- value semantics ----------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantizer):
            return NotImplemented
        return np.array_equal(self.thresholds, other.thresholds) and np.array_equal(self.levels, other.levels)

    def __hash__(self) -> int:
        return hash((self.thresholds.tobytes(), self.levels.tobytes()))

    def __repr__(self) -> str:
        np_fmt = dict(precision=4, suppress_small=True, max_line_width=200, threshold=12)
        return (
            f"Quantizer(name={self.name!r}, K={self.K}, "
            f"thresholds={np.array2string(self.thresholds, **np_fmt)}, "
            f"levels={np.array2string(self.levels, **np_fmt)})"
        )

    # -- transformations ----------------------------------------------------
    def scaled(self, scale: float) -> Quantizer:
        """Both thresholds and levels times ``scale`` (> 0): a unit-sigma quantizer onto data of std ``scale``."""
        s = float(scale)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale!r}")
        return Quantizer(self.thresholds * s, self.levels * s, self.name)

    def with_gain(self, gain: float) -> Quantizer:
        """Levels times ``gain`` (> 0), thresholds unchanged. rho is invariant to this."""
        g = float(gain)
        if not (math.isfinite(g) and g > 0):
            raise ValueError(f"gain must be a finite positive number, got {gain!r}")
        return Quantizer(self.thresholds, self.levels * g, self.name)

    def renamed(self, name: str) -> Quantizer:
        return Quantizer(self.thresholds, self.levels, name)

    # -- application --------------------------------------------------------
    def encode(self, x: Any) -> Any:
        """Integer codes ``k`` in ``0..K-1`` with ``thresholds[k-1] <= x < thresholds[k]``.

        Same backend and device as ``x``; dtype uint8 (K <= 256) or uint16 for
        numpy, int32 for JAX and torch (their unsigned types are limited).
        """
        backend = _backend(x)
        if backend == "numpy":
            arr = np.asarray(x)
            t = self.thresholds.astype(_float_dtype_np(arr), copy=False)
            return np.searchsorted(t, arr, side="right").astype(self.code_dtype)
        if backend == "jax":
            import jax.numpy as jnp

            t = jnp.asarray(self.thresholds, dtype=x.dtype)
            return jnp.searchsorted(t, x, side="right").astype(jnp.int32)
        import torch

        t = torch.as_tensor(self.thresholds.copy(), dtype=x.dtype, device=x.device)
        return torch.bucketize(x, t, right=True, out_int32=True)

    def decode(self, codes: Any, dtype: Any = None) -> Any:
        """Levels for integer ``codes`` (0..K-1); float32 unless ``dtype`` is given."""
        backend = _backend(codes)
        if backend == "numpy":
            c = np.asarray(codes)
            if c.size and (c.min() < 0 or c.max() >= self.K):
                raise ValueError(f"codes must lie in 0..{self.K - 1}, got range [{c.min()}, {c.max()}]")
            return self.levels.astype(dtype or np.float32)[c.astype(np.intp, copy=False)]
        if backend == "jax":
            import jax.numpy as jnp

            return jnp.asarray(self.levels, dtype=dtype or jnp.float32)[codes]
        import torch

        lv = torch.as_tensor(self.levels.copy(), dtype=dtype or torch.float32, device=codes.device)
        return lv[codes.long()]

    def __call__(self, x: Any) -> Any:
        """Dequantized values ``q(x)``, same backend, dtype and device as ``x``."""
        backend = _backend(x)
        if backend == "numpy":
            arr = np.asarray(x)
            dt = _float_dtype_np(arr)
            idx = np.searchsorted(self.thresholds.astype(dt, copy=False), arr, side="right")
            return self.levels.astype(dt)[idx]
        if backend == "jax":
            import jax.numpy as jnp

            t = jnp.asarray(self.thresholds, dtype=x.dtype)
            return jnp.asarray(self.levels, dtype=x.dtype)[jnp.searchsorted(t, x, side="right")]
        import torch

        t = torch.as_tensor(self.thresholds.copy(), dtype=x.dtype, device=x.device)
        lv = torch.as_tensor(self.levels.copy(), dtype=x.dtype, device=x.device)
        return lv[torch.bucketize(x, t, right=True)]


def _float_dtype_np(arr: np.ndarray) -> np.dtype:
    return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
