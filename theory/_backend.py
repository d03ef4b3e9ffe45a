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
