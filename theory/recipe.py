"""A quantizer recipe: the one vocabulary for "which quantizer".

A :class:`Recipe` names a method (a family, Lloyd-Max, or the min-max baseline), its
number of levels K (or bits, ``K = 2**bits``), the rule for the gain of the levels and,
for per-channel or per-group fitting, whether the groups share one shape.  It is a
value: hopfield, :func:`theory.fit` and deepnets all take it, and it is written into
every record.  :meth:`Recipe.optimal` gives the a-priori rho-optimal quantizer for a
density (unit sigma); :meth:`Recipe.fit` fits one to data, per tensor, per channel or
per group.

The fixed level counts live here and nowhere else: ``sign`` is K = 2 (Sompolinsky's
clipped synapse, PRA 34:2571, 1986) and ``ternary`` is K = 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._quantizer import MAX_LEVELS, Quantizer
from .correlation import GAINS

#: Methods: the min-max round-to-nearest baseline, the rho-optimal families, Lloyd-Max, and the
#: maximum-rho affine grid (free origin and step per group, :mod:`theory.affine`).
METHODS = ("minmax", "uniform", "exponential", "lloyd_max", "sign", "ternary", "affine")


#: Methods whose number of levels is fixed.
FIXED_LEVELS = {"sign": 2, "ternary": 3}
#: How the shape search reads a group's data: ``"exact"`` (sorted rows) or ``"histogram"`` (theory._hist).
SEARCHES = ("exact", "histogram")
#: Largest K for Lloyd-Max: its iteration converges slowly for many levels (K = 4096 takes
#: about 8 s on a Gaussian, 16384 about 30 s, 65536 minutes), so larger K is refused up front.
LLOYD_MAX_LEVELS = 4096


def check_lloyd_max_K(K: int) -> int:
    """``K`` if Lloyd-Max can fit that many levels in reasonable time (at most :data:`LLOYD_MAX_LEVELS`)."""
    if K > LLOYD_MAX_LEVELS:
        raise ValueError(f"K={K} is too many levels for lloyd_max (at most {LLOYD_MAX_LEVELS}; its iteration would "
                         f"take minutes); use uniform or exponential levels for more")
    return K


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")
    return int(value)


@dataclass(frozen=True, init=False)
class Recipe:
    """Which quantizer: ``Recipe(method, bits=None, *, K=None, gain="mse", shared_shape=None)``.

    **Arguments:**

    - `method`: one of :data:`METHODS`.
    - `bits` or `K`: exactly one, except for ``"sign"`` (K = 2) and ``"ternary"`` (K = 3),
      where both may be left out (if given they must agree).  ``K = 2**bits``; bits 1..16.
    - `gain`: ``"mse"`` (least squares; min-max keeps its range scale) or ``"unbiased"``
      (``E[w q] = E[w^2]``); see :func:`theory.correlation.gain_factor`.
    - `shared_shape`: for per-channel/per-group fits, one unit shape shared by all groups
      times a scale per group (True) or each group's own rho-optimal shape (False); None
      picks the method's default (shared for Lloyd-Max, whose own shapes would cost K
      numbers per group; own shapes otherwise).  Resolved to a bool.
    - `offset`: mean-aware levels (default False): each group's mean ``m`` is taken out, the
      recipe is fitted for maximum rho of the *centred* weights ``w - m``, and ``m`` is added
      back to every level and threshold (an affine grid per group for uniform levels, as the
      asymmetric peers use, but placed for maximum correlation instead of by min and max).
      The gain applies to the centred levels.  Not for ``"minmax"`` or ``"affine"`` (already affine).
    - `search`: how the family parameters are searched on data.  ``"exact"`` (default): on each
      group's sorted weights, so the search sees the exact empirical rho.  ``"histogram"``: on a
      fixed-width histogram of each group (:mod:`theory._hist`; no sort, several times faster on
      large models) for tensors of at least ``theory.fitting.HIST_MIN_WEIGHTS`` (2**14) weights
      (smaller ones exactly): each group's own shape is refined locally from the pooled one,
      Lloyd-Max takes Newton steps, the affine alternation runs on cell sums (groups of more than
      ``theory.affine.SMALL_GROUP`` weights) with extrapolated steps.  The optimum moves by the
      histogram's resolution (the mean rho of the layers moves by 1e-5 or so, up or down, but on
      BatchNorm nets at 2-3 bits top-1 can move by a point: docs/benchmarks.md), and the quantizer
      that comes out is applied exactly.  Min-max ignores it.

    ``"affine"`` is the maximum-rho affine grid ``a + b k`` of each group (:mod:`theory.affine`):
    one origin and one step per group, as the asymmetric toolkits store, placed for maximum rho;
    its ``gain="unbiased"`` scales about the group mean, like the offset recipes (the rule for a
    layer followed by BatchNorm or a bias).  Its grids all have one shape, so `shared_shape`
    changes nothing for it.
    """

    method: str
    K: int
    gain: str
    shared_shape: bool
    offset: bool
    search: str

    def __init__(self, method: str, bits: int | None = None, *, K: int | None = None, gain: str = "mse",
                 shared_shape: bool | None = None, offset: bool = False, search: str = "exact") -> None:
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        if method in FIXED_LEVELS:
            fixed = FIXED_LEVELS[method]
            if K is not None and K != fixed:
                raise ValueError(f"K must be {fixed} (or None) for method {method!r}, got {K!r}")
            if bits is not None and bits != math.ceil(math.log2(fixed)):
                raise ValueError(f"bits must be {math.ceil(math.log2(fixed))} (or None) for method {method!r}, got {bits!r}")
            K = fixed
        elif (K is None) == (bits is None):
            raise ValueError(f"give exactly one of bits or K for method {method!r}, got bits={bits!r}, K={K!r}")
        elif K is not None:
            K = _int("K", K, 2, MAX_LEVELS)
        else:
            K = 2 ** _int("bits", bits, 1, 16)
        if method == "lloyd_max":
            check_lloyd_max_K(K)
        if not isinstance(gain, str) or gain not in GAINS:
            raise ValueError(f"gain must be one of {list(GAINS)}, got {gain!r}")
        if shared_shape is None:
            shared_shape = method == "lloyd_max"
        elif not isinstance(shared_shape, bool):
            raise ValueError(f"shared_shape must be a bool or None, got {shared_shape!r}")
        if not isinstance(offset, bool):
            raise ValueError(f"offset must be a bool, got {offset!r}")
        if offset and method in ("minmax", "affine"):
            raise ValueError(f"offset: {method} levels are already an affine grid per group; use offset with a rho family")
        if not isinstance(search, str) or search not in SEARCHES:
            raise ValueError(f"search must be one of {list(SEARCHES)}, got {search!r}")
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "search", search)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "K", int(K))
        object.__setattr__(self, "gain", gain)
        object.__setattr__(self, "shared_shape", shared_shape)

    @property
    def bits(self) -> int:
        """Storage bits per weight, ``ceil(log2 K)`` (sign 1, ternary 2)."""
        return max(1, math.ceil(math.log2(self.K)))

    @property
    def label(self) -> str:
        """``"sign"``, ``"ternary"`` or ``"method(K=..)"``, with ``"+unbiased"`` when the gain is unbiased."""
        base = self.method if self.method in FIXED_LEVELS else f"{self.method}(K={self.K})"
        base = base if self.gain == "mse" else f"{base}+{self.gain}"
        return f"{base}+offset" if self.offset else base

    def __repr__(self) -> str:
        extra = "" if self.gain == "mse" else f", gain={self.gain!r}"
        if self.shared_shape != (self.method == "lloyd_max"):
            extra += f", shared_shape={self.shared_shape}"
        if self.offset:
            extra += ", offset=True"
        if self.search != "exact":
            extra += f", search={self.search!r}"
        return f"Recipe({self.method!r}, K={self.K}{extra})"

    def to_dict(self) -> dict:
        d = {"method": self.method, "K": self.K, "bits": self.bits, "gain": self.gain, "shared_shape": self.shared_shape}
        if self.offset:  # written only when set: records of recipes without it stay as they were
            d["offset"] = True
        if self.search != "exact":
            d["search"] = self.search
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        if not isinstance(d, dict) or "method" not in d:
            raise ValueError(f"a recipe dict needs at least 'method', got {d!r}")
        K = d.get("K")
        bits = None if K is not None else d.get("bits")
        return cls(d["method"], bits, K=K, gain=d.get("gain", "mse"), shared_shape=d.get("shared_shape"),
                   offset=bool(d.get("offset", False)), search=d.get("search", "exact"))

    # -- quantizers ---------------------------------------------------------------
    def optimal(self, dist: Any = "gaussian") -> Quantizer:
        """The a-priori rho-optimal quantizer of this recipe for the density ``dist``, in units of its sigma.

        ``dist``: a name in :data:`theory.densities.DISTRIBUTIONS`, ``("hebbian", p)`` or a
        :class:`theory.densities.Density`.  Min-max has no a-priori optimum (ValueError).
        """
        from .families import optimal

        return optimal(self, dist)

    def fit(self, x: Any, granularity: Any = None) -> Quantizer:
        """Fit this recipe to the weights ``x``, in their units: one group (per tensor) or many.

        ``granularity``: :class:`~theory.PerTensor` (default), :class:`~theory.PerChannel`,
        :class:`~theory.PerGroup` or their string forms.  Returns a :class:`Quantizer` whose
        granularity is that value, so ``q(x)`` and ``q.encode(x)`` apply it to ``x``.
        """
        from .fitting import fit_recipe

        return fit_recipe(self, x, granularity)


def as_recipe(spec: Any, *, bits: int | None = None, K: int | None = None, gain: str | None = None,
              shared_shape: bool | None = None) -> Recipe:
    """A :class:`Recipe` from a recipe, a method name (with ``bits`` or ``K``), or a ``(method, K)`` tuple.

    Extra settings with a :class:`Recipe` are an error (say them in the recipe).
    """
    if isinstance(spec, Recipe):
        if bits is not None or K is not None or gain is not None or shared_shape is not None:
            raise ValueError("pass either a Recipe or loose settings (bits, K, gain, shared_shape), not both")
        return spec
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str):
            raise ValueError(f"a quantizer spec tuple must be (method, K), got {spec!r}")
        if bits is not None or K is not None:
            raise ValueError(f"the spec {spec!r} already gives K; do not pass bits or K too")
        method, k = spec
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ValueError(f"K in the spec (method, K) must be an integer, got {k!r}")
        return Recipe(method, K=k, gain="mse" if gain is None else gain, shared_shape=shared_shape)
    if isinstance(spec, str):
        return Recipe(spec, bits, K=K, gain="mse" if gain is None else gain, shared_shape=shared_shape)
    raise ValueError(f"a quantizer must be a Recipe, a method name in {list(METHODS)} or (method, K), got {spec!r}")


__all__ = ["Recipe", "as_recipe", "METHODS", "GAINS", "FIXED_LEVELS", "SEARCHES"]
