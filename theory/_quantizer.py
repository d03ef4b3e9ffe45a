"""The one scalar quantizer of corrquant, for one group of weights or many.

A K-level scalar quantizer: thresholds ``t_1 < ... < t_{K-1}`` (``t_0 = -inf``,
``t_K = +inf``) and levels ``c_1 < ... < c_K``; ``q(w) = c_k`` for
``t_{k-1} <= w < t_k`` (J. Max, IRE Trans. Inf. Theory 6:7, 1960).  A grouped
quantizer holds one such row per group: thresholds (G, K-1), levels (G, K) and a
granularity (:mod:`theory.granularity`) that says which weights form each group.
The per-tensor quantizer (G = 1, 1-D thresholds and levels) is its special case.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _backend as B
from ._encode import decode_rows, encode_rows
from .granularity import Granularity, PerTensor, as_granularity

#: Largest number of levels: codes are stored as uint8 (K <= 256) or uint16.
MAX_LEVELS = 2**16


def _as_float_table(name: str, values: Any, ndim: int) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)  # a copy: the caller's array is never frozen or aliased
    if arr.ndim != ndim:
        what = "a 1-D sequence" if ndim == 1 else "a 2-D array (groups, entries)"
        raise ValueError(f"{name} must be {what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or Inf), got {arr.tolist()}")
    return arr


def _float_dtype_np(arr: np.ndarray) -> np.dtype:
    return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)


@dataclass(frozen=True, eq=False, repr=False)
class Quantizer:
    """A K-level scalar quantizer ``q(w) = levels[k]`` for ``thresholds[k-1] <= w < thresholds[k]``, per group.

    **Arguments:**

    - `thresholds`: (K-1,) for :class:`~theory.PerTensor` (the default), else (G, K-1); each row
      strictly increasing, finite.
    - `levels`: (K,) or (G, K) likewise.
    - `name`: a label for reports (e.g. ``"uniform(K=8)"``); not part of equality.
    - `granularity`: :class:`~theory.PerTensor` (G = 1), :class:`~theory.PerChannel` or
      :class:`~theory.PerGroup`: which entries of an input array belong to which group.

    Quantizers built by the families in :mod:`theory.families` are in units of
    the weights' standard deviation; :meth:`scaled` maps them onto data.
    """

    thresholds: np.ndarray
    levels: np.ndarray
    name: str = "quantizer"
    granularity: Granularity = field(default_factory=PerTensor)

    def __post_init__(self) -> None:
        g = as_granularity(self.granularity)
        nd = 1 if isinstance(g, PerTensor) else 2
        t = _as_float_table("thresholds", self.thresholds, nd)
        c = _as_float_table("levels", self.levels, nd)
        t2, c2 = (t[None, :], c[None, :]) if nd == 1 else (t, c)
        K = c2.shape[1]
        if K < 2:
            raise ValueError(f"levels must have K >= 2 entries, got K={K}")
        if K > MAX_LEVELS:
            raise ValueError(f"levels: K={K} is too large for the code type (at most {MAX_LEVELS} levels, uint16 codes)")
        if t2.shape[1] != K - 1:
            raise ValueError(
                f"levels must have exactly one more entry than thresholds (K levels, K-1 thresholds), "
                f"got {K} levels and {t2.shape[1]} thresholds"
            )
        if t2.shape[0] != c2.shape[0] or c2.shape[0] < 1:
            raise ValueError(f"thresholds and levels must have the same number of groups, got {t2.shape[0]} and {c2.shape[0]}")
        if np.any(np.diff(t2, axis=1) <= 0):
            raise ValueError(f"thresholds must be strictly increasing, got {t.tolist() if t.size <= 64 else 'a table'}")
        if np.any(np.diff(c2, axis=1) <= 0):
            raise ValueError(f"levels must be strictly increasing, got {c.tolist() if c.size <= 64 else 'a table'}")
        t.setflags(write=False)
        c.setflags(write=False)
        object.__setattr__(self, "thresholds", t)
        object.__setattr__(self, "levels", c)
        object.__setattr__(self, "granularity", g)

    # -- basic properties -------------------------------------------------
    @property
    def K(self) -> int:
        """Number of levels."""
        return int(self.levels.shape[-1])

    @property
    def G(self) -> int:
        """Number of groups (1 per tensor)."""
        return 1 if self.levels.ndim == 1 else int(self.levels.shape[0])

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
        """True if ``q(-w) = -q(w)`` away from thresholds in every group (levels and thresholds odd-symmetric)."""
        c, t = self.levels.reshape(self.G, -1), self.thresholds.reshape(self.G, -1)
        scale = np.maximum(np.max(np.abs(c), axis=1, keepdims=True), 1e-300)
        return bool(np.all(np.abs(c + c[:, ::-1]) <= 1e-12 * scale) and np.all(np.abs(t + t[:, ::-1]) <= 1e-12 * scale))

    def group(self, i: int) -> Quantizer:
        """The per-tensor quantizer of group ``i``."""
        if self.levels.ndim == 1:
            if i not in (0, -1):
                raise ValueError(f"i must be 0 for a per-tensor quantizer, got {i}")
            return self
        return Quantizer(self.thresholds[i], self.levels[i], self.name)

    # -- value semantics ----------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantizer):
            return NotImplemented
        return (self.granularity == other.granularity and np.array_equal(self.thresholds, other.thresholds)
                and np.array_equal(self.levels, other.levels))

    def __hash__(self) -> int:
        return hash((self.thresholds.tobytes(), self.levels.tobytes(), self.granularity))

    def __repr__(self) -> str:
        np_fmt = dict(precision=4, suppress_small=True, max_line_width=200, threshold=12)
        g = "" if self.G == 1 and isinstance(self.granularity, PerTensor) else f", G={self.G}, granularity={self.granularity.name}"
        return (
            f"Quantizer(name={self.name!r}, K={self.K}{g}, "
            f"thresholds={np.array2string(self.thresholds, **np_fmt)}, "
            f"levels={np.array2string(self.levels, **np_fmt)})"
        )

    def to_dict(self) -> dict:
        """JSON-safe: thresholds and levels as float64 lists, the granularity as a dict."""
        return {"name": self.name, "granularity": self.granularity.to_dict(),
                "thresholds": self.thresholds.tolist(), "levels": self.levels.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Quantizer:
        return cls(d["thresholds"], d["levels"], d.get("name", "quantizer"), as_granularity(d.get("granularity", "tensor")))

    # -- transformations ----------------------------------------------------
    def _factor(self, name: str, value: Any) -> np.ndarray:
        v = np.asarray(value, dtype=np.float64)
        if v.ndim == 1 and self.levels.ndim == 2 and v.size == self.G:
            v = v[:, None]
        elif v.ndim != 0:
            raise ValueError(f"{name} must be a number or one per group ({self.G},), got shape {v.shape}")
        if not (np.all(np.isfinite(v)) and np.all(v > 0)):
            raise ValueError(f"{name} must be finite and positive, got {value!r}")
        return v

    def scaled(self, scale: Any) -> Quantizer:
        """Both thresholds and levels times ``scale`` (> 0; a number or one per group): unit sigma onto data."""
        s = self._factor("scale", scale)
        return Quantizer(self.thresholds * s, self.levels * s, self.name, self.granularity)

    def with_gain(self, gain: Any) -> Quantizer:
        """Levels times ``gain`` (> 0; a number or one per group), thresholds unchanged. rho is invariant to this."""
        g = self._factor("gain", gain)
        return Quantizer(self.thresholds, self.levels * g, self.name, self.granularity)

    def renamed(self, name: str) -> Quantizer:
        return Quantizer(self.thresholds, self.levels, name, self.granularity)

    # -- application --------------------------------------------------------
    def _rows(self, x: Any) -> Any:
        G = self.granularity.n_groups(tuple(x.shape))
        if G != self.G:
            raise ValueError(
                f"x of shape {tuple(x.shape)} has {G} groups under granularity {self.granularity.name}, "
                f"but the quantizer has {self.G}"
            )
        return self.granularity.rows(x)

    def _table(self, values: np.ndarray, like: Any, dtype: Any = None) -> Any:
        return B.constant(values.reshape(self.G, -1), like, dtype)

    def encode(self, x: Any) -> Any:
        """Integer codes ``k`` in ``0..K-1`` with ``thresholds[g, k-1] <= x < thresholds[g, k]`` in x's group g.

        Same backend, shape and device as ``x``; dtype uint8 (K <= 256) or uint16 for
        numpy, int32 for JAX and torch (their unsigned types are limited).  Inputs follow
        one rule on every backend (:func:`theory._backend.as_real_input`): integer inputs are
        promoted to the backend's default float, complex/str/None raise ValueError, NaN
        raises ValueError, except under ``jax.jit`` where it cannot and gets code -1.
        """
        x, backend = B.as_real_input("x", x)
        if self.levels.ndim == 1:
            codes = self._encode_flat(x, backend)
        else:
            rows = self._rows(x)
            if backend == "numpy":
                codes = self.granularity.unrows(self._encode_np(rows), tuple(x.shape))
            else:
                codes = self.granularity.unrows(B.count_le(self._table(self.thresholds, rows, rows.dtype), rows), tuple(x.shape))
        if backend == "numpy":
            return codes.astype(self.code_dtype)
        if backend == "jax":
            import jax.numpy as jnp

            codes = codes.astype(jnp.int32)
            return jnp.where(jnp.isnan(x), -1, codes) if B.is_traced(x) else codes
        import torch

        return codes.to(torch.int32)

    def _encode_np(self, rows: np.ndarray) -> np.ndarray:
        """Row-wise codes of numpy rows, thresholds in the rows' float dtype (as count_le), by the lookup table of theory._encode."""
        dt = _float_dtype_np(rows)
        t = self.thresholds.reshape(self.G, -1).astype(dt)
        if dt in (np.float32, np.float64):
            return encode_rows(rows, t.astype(np.float64), self.code_dtype)
        return B.count_le(t, rows)

    def _encode_flat(self, x: Any, backend: str) -> Any:
        if backend == "numpy":
            t = self.thresholds.astype(_float_dtype_np(x), copy=False)
            return np.searchsorted(t, x, side="right")
        if backend == "jax":
            import jax.numpy as jnp

            t = jnp.asarray(self.thresholds, dtype=x.dtype)
            return jnp.searchsorted(t, x, side="right")
        import torch

        t = torch.as_tensor(self.thresholds.copy(), dtype=x.dtype, device=x.device)
        return torch.bucketize(x, t, right=True, out_int32=True)

    def decode(self, codes: Any, dtype: Any = None) -> Any:
        """Levels for integer ``codes`` (0..K-1) of an array the granularity fits; float32 unless ``dtype`` is given.

        Float or out-of-range codes raise ValueError; under ``jax.jit`` an out-of-range code
        cannot raise and decodes to NaN (never to a clamped level).
        """
        codes, backend = B.as_codes(codes, self.K)
        if backend == "numpy":
            dt = dtype or np.float32
            if self.levels.ndim == 1:
                return self.levels.astype(dt)[codes.astype(np.intp, copy=False)]
            rows = self._rows(codes)
            return self.granularity.unrows(decode_rows(self.levels.astype(dt), rows), codes.shape)
        if backend == "jax":
            import jax.numpy as jnp

            dt = dtype or jnp.float32
            bad = (codes < 0) | (codes >= self.K)  # only possible under jit: decode to NaN, never to a clamped level
            safe = jnp.clip(codes, 0, self.K - 1)
            if self.levels.ndim == 1:
                return jnp.where(bad, jnp.nan, jnp.asarray(self.levels, dtype=dt)[safe])
            rows = self._rows(safe)
            vals = self.granularity.unrows(B.take_rows(self._table(self.levels, rows, dt), rows), tuple(codes.shape))
            return jnp.where(bad, jnp.nan, vals)
        import torch

        dt = dtype or torch.float32
        if self.levels.ndim == 1:
            lv = torch.as_tensor(self.levels.copy(), dtype=dt, device=codes.device)
            return lv[codes.long()]
        rows = self._rows(codes)
        return self.granularity.unrows(B.take_rows(self._table(self.levels, rows, dt), rows), tuple(codes.shape))

    def __call__(self, x: Any) -> Any:
        """Dequantized values ``q(x)``, same backend, dtype, shape and device as ``x`` (input rule: :meth:`encode`).

        Under ``jax.jit`` a NaN input gives NaN.
        """
        x, backend = B.as_real_input("x", x)
        if backend == "numpy":
            dt = _float_dtype_np(x)
            if self.levels.ndim == 1:
                idx = np.searchsorted(self.thresholds.astype(dt, copy=False), x, side="right")
                return self.levels.astype(dt)[idx]
            rows = self._rows(x)
            return self.granularity.unrows(decode_rows(self.levels.astype(dt), self._encode_np(rows)), x.shape)
        if self.levels.ndim == 1:
            if backend == "jax":
                import jax.numpy as jnp

                t = jnp.asarray(self.thresholds, dtype=x.dtype)
                out = jnp.asarray(self.levels, dtype=x.dtype)[jnp.searchsorted(t, x, side="right")]
                return jnp.where(jnp.isnan(x), jnp.nan, out) if B.is_traced(x) else out
            import torch

            t = torch.as_tensor(self.thresholds.copy(), dtype=x.dtype, device=x.device)
            lv = torch.as_tensor(self.levels.copy(), dtype=x.dtype, device=x.device)
            return lv[torch.bucketize(x, t, right=True)]
        rows = self._rows(x)
        idx = B.count_le(self._table(self.thresholds, rows), rows)
        out = self.granularity.unrows(B.take_rows(self._table(self.levels, rows), idx), tuple(x.shape))
        if backend == "jax" and B.is_traced(x):
            import jax.numpy as jnp

            return jnp.where(jnp.isnan(x), jnp.nan, out)
        return out
