"""Granularity: which weights share one quantizer, as a value (not a flag).

- :class:`PerTensor`: one quantizer for the whole tensor (G = 1).
- :class:`PerChannel`: one per slice along ``axis`` (G = ``shape[axis]``; axis 0 is the
  output channel of a Linear (O, I) or Conv2d (O, I, kh, kw) weight).
- :class:`PerGroup`: each channel along ``axis`` is flattened (C order) and cut into groups
  of ``size`` consecutive entries, the last one possibly shorter (G = C * ceil(n / size)).
  For a Linear weight this is torchao's and HQQ's group-wise layout along the input
  dimension; a conv is grouped along ``I * kh * kw``, as HQQ does after reshaping to
  (out, in * kh * kw).

Each value maps an array of a given shape to a (G, m) matrix of rows, one row per group
(:meth:`rows`, with padding for the short tail group of :class:`PerGroup`), and back
(:meth:`unrows`), for numpy, JAX and torch arrays alike.  This module imports neither JAX
nor torch; the array functions come from :mod:`theory._backend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import _backend as B


def _axis(name: str, axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{name} must be an int, got {axis!r}")
    return int(axis)


def _resolve_axis(axis: int, ndim: int) -> int:
    if ndim == 0:
        raise ValueError("x must have at least one dimension for per-channel or per-group quantization")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimensions")
    return axis % ndim


@dataclass(frozen=True)
class PerTensor:
    """One quantizer for the whole tensor."""

    @property
    def name(self) -> str:
        return "tensor"

    def n_groups(self, shape: tuple[int, ...]) -> int:
        return 1

    def rows(self, x: Any) -> Any:
        return B.reshape(x, (1, -1))

    def unrows(self, rows: Any, shape: tuple[int, ...]) -> Any:
        return B.reshape(rows, shape)

    def to_dict(self) -> dict:
        return {"kind": "tensor"}


@dataclass(frozen=True)
class PerChannel:
    """One quantizer per slice along ``axis`` (0 = output channels)."""

    axis: int = 0

    def __post_init__(self) -> None:
        _axis("axis", self.axis)

    @property
    def name(self) -> str:
        return "channel" if self.axis == 0 else f"channel(axis={self.axis})"

    def n_groups(self, shape: tuple[int, ...]) -> int:
        return int(shape[_resolve_axis(self.axis, len(shape))])

    def rows(self, x: Any) -> Any:
        ax = _resolve_axis(self.axis, B.ndim(x))
        moved = B.moveaxis(x, ax, 0)
        return B.reshape(moved, (moved.shape[0], -1))

    def unrows(self, rows: Any, shape: tuple[int, ...]) -> Any:
        ax = _resolve_axis(self.axis, len(shape))
        moved_shape = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
        return B.moveaxis(B.reshape(rows, moved_shape), 0, ax)

    def to_dict(self) -> dict:
        return {"kind": "channel", "axis": self.axis}


@dataclass(frozen=True)
class PerGroup:
    """Groups of ``size`` consecutive weights within each channel along ``axis`` (flattened, C order)."""

    size: int
    axis: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be a positive int (weights per group), got {self.size!r}")
        _axis("axis", self.axis)

    @property
    def name(self) -> str:
        return f"group({self.size})" if self.axis == 0 else f"group({self.size}, axis={self.axis})"

    def _layout(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        ax = _resolve_axis(self.axis, len(shape))
        C = int(shape[ax])
        n = math.prod(s for i, s in enumerate(shape) if i != ax)
        ng = max(1, -(-n // self.size))
        return ax, C, n, ng

    def n_groups(self, shape: tuple[int, ...]) -> int:
        _, C, _, ng = self._layout(tuple(shape))
        return C * ng

    def group_lengths(self, shape: tuple[int, ...]) -> list[int]:
        """Number of real (unpadded) weights in each of the G groups."""
        _, C, n, ng = self._layout(tuple(shape))
        per = [min(self.size, n - j * self.size) for j in range(ng)]
        return per * C

    def rows(self, x: Any) -> Any:
        ax, C, n, ng = self._layout(tuple(x.shape))
        flat = B.reshape(B.moveaxis(x, ax, 0), (C, n))
        pad = ng * self.size - n
        if pad:
            flat = B.pad_last(flat, pad)
        return B.reshape(flat, (C * ng, self.size))

    def unrows(self, rows: Any, shape: tuple[int, ...]) -> Any:
        ax, C, n, ng = self._layout(tuple(shape))
        flat = B.reshape(rows, (C, ng * self.size))[:, :n]
        moved_shape = (C,) + tuple(s for i, s in enumerate(shape) if i != ax)
        return B.moveaxis(B.reshape(flat, moved_shape), 0, ax)

    def to_dict(self) -> dict:
        return {"kind": "group", "size": self.size, "axis": self.axis}


Granularity = PerTensor | PerChannel | PerGroup


def as_granularity(granularity: Any) -> Granularity:
    """A granularity value from itself, a ``to_dict()`` dict, or ``"tensor"``, ``"channel"``, ``"group:SIZE"``."""
    if isinstance(granularity, PerTensor | PerChannel | PerGroup):
        return granularity
    if isinstance(granularity, dict):
        kind = granularity.get("kind")
        if kind == "tensor":
            return PerTensor()
        if kind == "channel":
            return PerChannel(granularity.get("axis", 0))
        if kind == "group":
            return PerGroup(granularity.get("size"), granularity.get("axis", 0))
    if isinstance(granularity, str):
        if granularity == "tensor":
            return PerTensor()
        if granularity == "channel":
            return PerChannel(0)
        if granularity.startswith("group:") and granularity[6:].isdigit():
            return PerGroup(int(granularity[6:]))
    raise ValueError(
        "granularity must be PerTensor(), PerChannel(axis), PerGroup(size, axis), 'tensor', 'channel' or "
        f"'group:SIZE', got {granularity!r}"
    )


__all__ = ["PerTensor", "PerChannel", "PerGroup", "Granularity", "as_granularity"]
