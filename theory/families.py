"""Quantizer families with their rho-optimal parameters for a weight density (a priori).

All families are returned in units of the weights' standard deviation (``dist``
has unit variance).  A family's free shape parameter (ternary threshold, uniform
step, exponential base and smallest level) maximizes the closed-form rho for
``dist`` when not given, by the one search of :mod:`theory._search` (the same code,
on the same ranges, that fits data per tensor, channel or group); then the levels get
the gain ``gain`` (least squares ``E[w q] / E[q^2]`` by default), which leaves rho
unchanged and, for least squares, minimizes the MSE within the family.

Sources: uniform and Lloyd-Max: J. Max, IRE Trans. Inf. Theory 6(1):7-12, 1960;
S. Lloyd, IEEE Trans. Inf. Theory 28(2):129-137, 1982.  Exponential levels:
Malsagov et al., OMNN 28(4):262-270, 2019; with rho-maximizing parameters:
Pushkareva & Karandashev, OMNN 29(3):179-186, 2020.  Clipped synapses:
H. Sompolinsky, Phys. Rev. A 34:2571, 1986.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _search as S
from ._quantizer import MAX_LEVELS, Quantizer
from ._search import exponential_grid, midpoints, uniform_grid
from .correlation import GAINS
from .densities import Density, get_density

FAMILIES = ("sign", "ternary", "uniform", "exponential", "lloyd_max")


# -- validation -------------------------------------------------------------
def check_K(K: Any, minimum: int = 2) -> int:
    if isinstance(K, bool) or not isinstance(K, int | np.integer):
        raise ValueError(f"K must be an integer number of levels, got {K!r}")
    if K < minimum:
        raise ValueError(f"K must be >= {minimum}, got {K}")
    if K > MAX_LEVELS:
        raise ValueError(f"K={K} is too large for the code type (at most {MAX_LEVELS} levels)")
    return int(K)


def _positive(name: str, value: Any) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v


def _check_gain(gain: Any) -> str | None:
    if gain is not None and (not isinstance(gain, str) or gain not in GAINS):
        raise ValueError(f"gain must be one of {list(GAINS)} or None (the family's own scale), got {gain!r}")
    return gain


def _finish(levels: np.ndarray, d: Density, name: str, gain: str | None, thresholds: np.ndarray | None = None) -> Quantizer:
    """The quantizer of unit ``levels`` (K,) for density ``d`` with its levels rescaled by the rule ``gain``."""
    lv = S.strictly_increasing(np.asarray(levels, dtype=np.float64)[None, :])
    t = midpoints(lv) if thresholds is None else np.asarray(thresholds, dtype=np.float64)[None, :]
    if gain is not None:
        lv = lv * S.DensityRows(d).gain(lv, gain, t)[:, None]
    return Quantizer(t[0], lv[0], name)


# -- families ---------------------------------------------------------------
def sign(dist: Any = "gaussian", gain: str | None = "mse") -> Quantizer:
    """Two symmetric levels ``+-E[|w|]`` split at zero (K = 2): Sompolinsky's (1986) clipped synapse.

    ``q(w) = E|w| sign(w)`` with the least-squares gain (``gain="mse"``).  A weight exactly
    at 0 maps to the upper level: for a discrete density with an atom at 0 (Hebbian
    entries with an even number of patterns) those synapses become ``+E|w|``.
    """
    d = get_density(dist)
    return _finish(np.array([-1.0, 1.0]), d, "sign", _check_gain(gain))


def ternary(threshold: float | None = None, dist: Any = "gaussian") -> Quantizer:
    """Three levels ``{c_-, 0, c_+}`` with dead zone ``|w| < threshold``.

    ``c_-+`` are the centroids ``E[w | w < -t]`` and ``E[w | w >= t]`` (rho-optimal for fixed
    thresholds); the default threshold maximizes rho for ``dist`` (for the Gaussian the root
    of ``d rho / d t = 0``, t ~ 0.612, see :func:`theory.derivation.ternary_optimum`).
    """
    d = get_density(dist)
    rows = S.DensityRows(d)
    if threshold is None:
        t, lv = S.ternary_rows(rows)
        return Quantizer(t[0], lv[0], "ternary")
    t = _positive("threshold", threshold)
    th = np.array([-t, t])
    P, M1 = d.cell_moments(th)
    lo = M1[0] / P[0] if P[0] > 0 else -t
    up = M1[2] / P[2] if P[2] > 0 else t
    if not (lo < 0 < up):
        lo, up = -t, t
    return Quantizer(th, np.array([lo, 0.0, up]), "ternary")


def uniform(K: int, step: float | None = None, dist: Any = "gaussian", gain: str | None = "mse") -> Quantizer:
    """K equally spaced levels ``step * (k - (K-1)/2)`` (a zero level for odd K), thresholds at midpoints.

    The default ``step`` maximizes rho for ``dist`` (Max 1960's optimum uniform
    quantizer, up to the gain ``gain``; ``None`` keeps ``step`` as the level spacing).
    """
    K = check_K(K)
    d = get_density(dist)
    if step is None:
        lv = S.uniform_rows(S.DensityRows(d).magnitudes(), K)[0]
    else:
        lv = uniform_grid(K, _positive("step", step))
    return _finish(lv, d, f"uniform(K={K})", _check_gain(gain))


def exponential(K: int, base: float | None = None, dist: Any = "gaussian", gain: str | None = "mse",
                c: float | None = None) -> Quantizer:
    """Levels ``+-c * base**j`` (j = 0..K//2-1) with a zero level for odd K; thresholds at midpoints.

    The exponential (logarithmic) discretization of Malsagov et al. (2019).
    Missing ``base`` and/or smallest level ``c`` are chosen to maximize rho for
    ``dist`` (Pushkareva & Karandashev 2020).
    """
    K = check_K(K)
    d = get_density(dist)
    if base is not None:
        base = _positive("base", base)
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
    if c is not None:
        c = _positive("c", c)
    rows = S.DensityRows(d).magnitudes()
    if base is None and c is None:
        lv = S.exponential_rows(rows, K)[0]
    else:
        lv = S.exponential_given(rows, K, base, c)[0]
    return _finish(lv, d, f"exponential(K={K})", _check_gain(gain))


def lloyd_max(K: int, dist: Any = "gaussian", max_iter: int = 10_000, tol: float = 1e-12, init: Quantizer | None = None) -> Quantizer:
    """The Lloyd-Max quantizer: thresholds at level midpoints, levels at cell centroids.

    The rho-maximizing K-level quantizer up to scale: at the fixed point
    ``rho^2 = 1 - D / E[w^2]`` (Max 1960; Lloyd 1982).  Iterates from the rho-optimal
    uniform quantizer (or ``init``) until the largest level change is below ``tol``
    (relative to the largest level) or, for discrete densities (data), until the cell
    assignment stops changing; at most ``max_iter`` iterations.  Deterministic.
    """
    from .recipe import check_lloyd_max_K

    K = check_lloyd_max_K(check_K(K))
    d = get_density(dist)
    rows = S.DensityRows(d)
    c0 = init.levels if init is not None else S.uniform_rows(rows.magnitudes(), K)[0]
    lv = S.lloyd_max_rows(rows, np.asarray(c0, dtype=np.float64)[None, :], max_iter=max_iter, tol=tol)[0]
    return _finish(lv, d, f"lloyd_max(K={K})", None)


def optimal(recipe: Any, dist: Any = "gaussian") -> Quantizer:
    """The a-priori rho-optimal quantizer of ``recipe`` (:class:`theory.Recipe`) for ``dist``, unit sigma."""
    from .recipe import as_recipe

    r = as_recipe(recipe)
    if r.method == "minmax":
        raise ValueError("recipe: 'minmax' is defined on data only (its range is the data's); use recipe.fit(x)")
    if r.method == "affine":
        raise ValueError("recipe: 'affine' is fitted to data (its origin and step are the data's); use recipe.fit(x) "
                         "(for a symmetric density its optimum is the uniform one, Recipe('uniform', ...).optimal())")
    if r.method == "sign":
        return sign(dist, gain=r.gain)
    if r.method == "ternary":
        q = ternary(dist=dist)
    elif r.method == "uniform":
        q = uniform(r.K, dist=dist, gain=r.gain)
    elif r.method == "exponential":
        q = exponential(r.K, dist=dist, gain=r.gain)
    else:
        q = lloyd_max(r.K, dist=dist)
    if r.gain != "mse" and r.method in ("ternary", "lloyd_max"):  # centroid levels already have the least-squares gain
        q = _finish(q.levels, get_density(dist), q.name, r.gain, q.thresholds)
    return q


def make(family: str, K: int, dist: Any = "gaussian") -> Quantizer:
    """The rho-optimal member of ``family`` with K levels for ``dist`` (unit sigma): ``Recipe(family, K=K).optimal(dist)``.

    ``family`` in ``FAMILIES``; sign needs K = 2 and ternary K = 3.
    """
    from .recipe import Recipe

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    K = check_K(K)
    if isinstance(dist, str) or (isinstance(dist, tuple) and len(dist) == 2):
        get_density(dist)
        return _make_cached(family, K, dist)
    return Recipe(family, K=K).optimal(dist)


_CACHE: dict = {}


def _make_cached(family: str, K: int, dist: Any) -> Quantizer:
    from .recipe import Recipe

    key = (family, K, dist)
    if key not in _CACHE:
        if len(_CACHE) > 512:
            _CACHE.clear()
        _CACHE[key] = Recipe(family, K=K).optimal(dist)
    return _CACHE[key]


__all__ = ["FAMILIES", "sign", "ternary", "uniform", "exponential", "lloyd_max", "optimal", "make",
           "midpoints", "uniform_grid", "exponential_grid", "check_K"]
