"""The few array operations theory needs, for numpy, JAX and torch arrays alike.

theory/ never imports JAX or torch at module import time: an array is recognised as a
JAX or torch array only when that library is already loaded (``sys.modules``), and the
library is imported inside the function that handles it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def backend(x: Any) -> str:
    """``"numpy"``, ``"jax"`` or ``"torch"``: which library ``x`` belongs to."""
    if isinstance(x, np.ndarray | np.generic | float | int | list | tuple):
        return "numpy"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return "torch"
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return "jax"
    return "numpy"


def ndim(x: Any) -> int:
    return int(x.ndim) if hasattr(x, "ndim") else int(np.ndim(x))


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return x.reshape(shape)


def moveaxis(x: Any, source: int, dest: int) -> Any:
    b = backend(x)
    if b == "torch":
        return x.movedim(source, dest)
    if b == "jax":
        import jax.numpy as jnp

        return jnp.moveaxis(x, source, dest)
    return np.moveaxis(x, source, dest)


def pad_last(x: Any, n: int) -> Any:
    """``x`` (2-D) with ``n`` zeros appended to each row."""
    b = backend(x)
    if b == "torch":
        import torch

        return torch.nn.functional.pad(x, (0, n))
    if b == "jax":
        import jax.numpy as jnp

        return jnp.pad(x, ((0, 0), (0, n)))
    return np.pad(x, ((0, 0), (0, n)))


def constant(values: np.ndarray, like: Any, dtype: Any = None) -> Any:
    """``values`` (numpy) as an array of ``like``'s backend (and device), dtype ``dtype`` or ``like``'s."""
    b = backend(like)
    if b == "torch":
        import torch

        return torch.as_tensor(np.array(values), dtype=dtype or like.dtype, device=like.device)
    if b == "jax":
        import jax.numpy as jnp

        return jnp.asarray(values, dtype=dtype or like.dtype)
    return np.asarray(values, dtype=dtype or like.dtype)


def count_le(t: Any, x: Any) -> Any:
    """Row-wise ``#{j : t[g, j] <= x[g, i]}`` for sorted rows ``t`` (G, k) and ``x`` (G, m); same backend as ``x``.

    A binary search by comparisons only (``ceil(log2(k + 1))`` gather-and-compare passes), so
    numpy, JAX (also under ``jit`` and ``vmap``) and torch give the same integers.  The result
    equals ``searchsorted(t[g], x[g], side="right")`` row by row.
    """
    k = int(t.shape[-1])
    b = backend(x)
    if b == "torch":
        import torch

        idx = torch.zeros(x.shape, dtype=torch.int64, device=x.device)
        for s in reversed(range(k.bit_length())):
            cand = idx + (1 << s)
            tv = torch.gather(t, 1, (cand - 1).clamp(0, max(k - 1, 0)))
            idx = torch.where((cand <= k) & (tv <= x), cand, idx)
        return idx
    if b == "jax":
        import jax.numpy as jnp

        idx = jnp.zeros(x.shape, dtype=jnp.int32)
        for s in reversed(range(k.bit_length())):
            cand = idx + (1 << s)
            tv = jnp.take_along_axis(t, jnp.clip(cand - 1, 0, max(k - 1, 0)), axis=1)
            idx = jnp.where((cand <= k) & (tv <= x), cand, idx)
        return idx
    idx = np.zeros(x.shape, dtype=np.intp)
    for s in reversed(range(k.bit_length())):
        cand = idx + (1 << s)
        tv = np.take_along_axis(t, np.clip(cand - 1, 0, max(k - 1, 0)), axis=1)
        idx = np.where((cand <= k) & (tv <= x), cand, idx)
    return idx


def take_rows(table: Any, idx: Any) -> Any:
    """Row-wise ``table[g, idx[g, i]]`` for ``table`` (G, K) and integer ``idx`` (G, m)."""
    b = backend(idx)
    if b == "torch":
        import torch

        return torch.gather(table, 1, idx.long())
    if b == "jax":
        import jax.numpy as jnp

        return jnp.take_along_axis(table, idx, axis=1)
    return np.take_along_axis(table, idx.astype(np.intp, copy=False), axis=1)


def is_traced(x: Any) -> bool:
    """True for a JAX tracer (inside ``jit``/``vmap``/``grad``), whose values cannot be checked."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.core.Tracer)


def as_real_input(name: str, x: Any) -> tuple[Any, str]:
    """``(x, backend)`` with the one input rule of theory's quantizers, the same on every backend.

    - floating-point arrays are used as they are (the result has their dtype);
    - integer and boolean arrays are promoted to the backend's default float (float64 in
      numpy and torch; JAX's default float, float32 unless ``jax_enable_x64``), so
      thresholds are never truncated to integers;
    - complex, string, object and other non-real inputs raise ValueError naming ``name``;
    - NaN raises ValueError in numpy, torch and un-traced JAX; under ``jax.jit`` a value
      cannot raise, so NaN propagates (``q(x)`` is NaN there and ``q.encode(x)`` gives code -1).
    """
    b = backend(x)
    if b == "torch":
        import torch

        if x.is_complex():
            raise ValueError(f"{name} must hold real numbers, got a complex tensor ({x.dtype})")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if bool(torch.isnan(x).any()):
            raise ValueError(f"{name} contains NaN; a quantizer has no level for it")
        return x, b
    if b == "jax":
        import jax.numpy as jnp

        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise ValueError(f"{name} must hold real numbers, got a complex array ({x.dtype})")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        if not is_traced(x) and bool(jnp.isnan(x).any()):
            raise ValueError(f"{name} contains NaN; a quantizer has no level for it")
        return x, b
    if x is None:
        raise ValueError(f"{name} must be an array of real numbers, got None")
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise ValueError(f"{name} must be an array of real numbers, got dtype {arr.dtype} ({type(x).__name__})")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; a quantizer has no level for it")
    return arr, b


def as_codes(codes: Any, K: int) -> tuple[Any, str]:
    """``(codes, backend)`` after checking integer dtype and range ``0..K-1`` (un-traced inputs).

    Under ``jax.jit`` out-of-range codes cannot raise; :meth:`theory.Quantizer.decode` then
    returns NaN for them instead of clamping.
    """
    b = backend(codes)
    if b == "torch":
        if codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= K):
            raise ValueError(f"codes must lie in 0..{K - 1}, got range [{int(codes.min())}, {int(codes.max())}]")
        return codes, b
    if b == "jax":
        import jax.numpy as jnp

        if not jnp.issubdtype(codes.dtype, jnp.integer):
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        if not is_traced(codes) and codes.size and (int(codes.min()) < 0 or int(codes.max()) >= K):
            raise ValueError(f"codes must lie in 0..{K - 1}, got range [{int(codes.min())}, {int(codes.max())}]")
        return codes, b
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise ValueError(f"codes must be integers, got dtype {c.dtype}")
    if c.size and (c.min() < 0 or c.max() >= K):
        raise ValueError(f"codes must lie in 0..{K - 1}, got range [{c.min()}, {c.max()}]")
    return c, b
