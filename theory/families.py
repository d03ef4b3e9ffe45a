"""Quantizer families with their rho-optimal parameters for a weight density.

All families are returned in units of the weights' standard deviation (``dist``
has unit variance).  A family's free shape parameter (ternary threshold, uniform
step, exponential base and smallest level) maximizes the closed-form rho for
``dist`` when not given; then the levels get the least-squares gain
``E[w q] / E[q^2]`` (REFERENCE.md: "maximize rho over the family's parameters,
then fit the scale by least squares"), which leaves rho unchanged and minimizes
the MSE within the family.

Sources: uniform and Lloyd-Max: J. Max, IRE Trans. Inf. Theory 6(1):7-12, 1960;
S. Lloyd, IEEE Trans. Inf. Theory 28(2):129-137, 1982.  Exponential levels:
Malsagov et al., OMNN 28(4):262-270, 2019; with rho-maximizing parameters:
Pushkareva & Karandashev, OMNN 29(3):179-186, 2020.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np
from scipy import optimize

from ._quantizer import MAX_LEVELS, Quantizer
from .correlation import centroid_levels, moments, rho_closed_form
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


def check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise ValueError(f"bits must be an integer, got {bits!r}")
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be in 1..16, got {bits}")
    return int(bits)


def _positive(name: str, value: Any) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v


# -- shapes (thresholds and unscaled levels for given parameters) -----------
def midpoints(levels: np.ndarray) -> np.ndarray:
    """Midpoints of consecutive levels along the last axis: (..., K) -> (..., K-1)."""
    levels = np.asarray(levels, dtype=np.float64)
    return 0.5 * (levels[..., :-1] + levels[..., 1:])


def uniform_grid(K: int, step: Any) -> np.ndarray:
    """``step * (k - (K-1)/2)``, k = 0..K-1: a zero level when K is odd.

    ``step`` may be an array (...,); the result is then (..., K).
    """
    return np.asarray(step, dtype=np.float64)[..., None] * (np.arange(K) - (K - 1) / 2.0)


def exponential_grid(K: int, c: Any, base: Any) -> np.ndarray:
    """``+-c * base**j``, j = 0..K//2 - 1, plus a zero level when K is odd.

    ``c`` and ``base`` may be arrays (broadcast together to (...,)); the result is then (..., K).
    """
    c, base = np.broadcast_arrays(np.asarray(c, dtype=np.float64), np.asarray(base, dtype=np.float64))
    pos = c[..., None] * base[..., None] ** np.arange(K // 2)
    zero = [np.zeros(c.shape + (1,))] if K % 2 else []
    return np.concatenate([-pos[..., ::-1], *zero, pos], axis=-1)


def _finish(thresholds: np.ndarray, levels: np.ndarray, dist: Density, name: str, gain: bool) -> Quantizer:
    q = Quantizer(thresholds, levels, name)
    if gain:
        m = moments(q, dist)
        if m["E_q2"] > 0 and m["E_wq"] > 0:
            q = q.with_gain(m["E_wq"] / m["E_q2"])
    return q


def maximize_1d(f: Callable[[float], float], lo: float, hi: float, n_grid: int = 64, log: bool = True) -> float:
    """Argmax of ``f`` on ``[lo, hi]``: a grid (robust to the steps of empirical rho) then bounded Brent."""
    grid = np.geomspace(lo, hi, n_grid) if log else np.linspace(lo, hi, n_grid)
    vals = np.array([f(x) for x in grid])
    i = int(np.nanargmax(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
    if b <= a:
        return float(grid[i])
    res = optimize.minimize_scalar(lambda x: -f(x), bounds=(a, b), method="bounded", options={"xatol": 1e-10 * b})
    return float(res.x) if -res.fun >= vals[i] else float(grid[i])


def _spread(dist: Density) -> float:
    """A generous half-width of the density's bulk, for parameter search ranges."""
    if dist.discrete:
        return float(max(abs(dist.atoms[0]), abs(dist.atoms[-1]), 1e-12))
    return 8.0


# -- families ---------------------------------------------------------------
def sign(dist: Any = "gaussian") -> Quantizer:
    """Two levels ``+-E[|w|]`` split at zero (K = 2): the clipped synapse of Sompolinsky (1986)."""
    d = get_density(dist)
    t = np.array([0.0])
    c = centroid_levels(t, d, fallback=np.array([-1.0, 1.0]))
    if not c[0] < c[1]:
        c = np.array([-1.0, 1.0])
    return Quantizer(t, c, "sign")


def ternary(threshold: float | None = None, dist: Any = "gaussian") -> Quantizer:
    """Three levels ``{-c, 0, +c}`` with dead zone ``|w| < threshold``.

    ``c`` is the centroid ``E[w | w >= threshold]`` (rho-optimal for fixed
    thresholds); the default threshold maximizes rho for ``dist`` (for the
    Gaussian the root of ``d rho / d t = 0``, t ~ 0.612, see
    :func:`theory.derivation.ternary_optimum`).
    """
    d = get_density(dist)

    def build(t: float) -> Quantizer:
        th = np.array([-t, t])
        c = centroid_levels(th, d, fallback=np.array([-t, 0.0, t]))
        c[1] = 0.0
        if not (c[0] < 0 < c[2]):
            c = np.array([-t, 0.0, t])
        return Quantizer(th, c, "ternary")

    if threshold is None:
        hi = 0.999 * _spread(d) if d.discrete else 4.0
        threshold = maximize_1d(lambda t: rho_closed_form(build(t), d), 1e-3 * hi, hi)
    return build(_positive("threshold", threshold))


def uniform(K: int, step: float | None = None, dist: Any = "gaussian", gain: bool = True) -> Quantizer:
    """K equally spaced levels ``step * (k - (K-1)/2)`` (a zero level for odd K), thresholds at midpoints.

    The default ``step`` maximizes rho for ``dist`` (Max 1960's optimum uniform
    quantizer, up to the least-squares gain applied when ``gain``).
    """
    K = check_K(K)
    d = get_density(dist)
    name = f"uniform(K={K})"

    def build(s: float, g: bool) -> Quantizer:
        lv = uniform_grid(K, s)
        return _finish(midpoints(lv), lv, d, name, g)

    if step is None:
        if K == 2:
            step = 1.0
        else:
            span = 2 * _spread(d)
            step = maximize_1d(lambda s: rho_closed_form(build(s, False), d), 1e-4 * span / (K - 1), span / (K - 1))
    return build(_positive("step", step), gain)


def exponential(K: int, base: float | None = None, dist: Any = "gaussian", gain: bool = True, c: float | None = None) -> Quantizer:
    """Levels ``+-c * base**j`` (j = 0..K//2-1) with a zero level for odd K; thresholds at midpoints.

    The exponential (logarithmic) discretization of Malsagov et al. (2019).
    Missing ``base`` and/or smallest level ``c`` are chosen to maximize rho for
    ``dist`` (Pushkareva & Karandashev 2020).
    """
    K = check_K(K)
    d = get_density(dist)
    name = f"exponential(K={K})"
    n = K // 2
    spread = _spread(d)

    def build(cc: float, b: float, g: bool) -> Quantizer:
        lv = exponential_grid(K, cc, b)
        return _finish(midpoints(lv), lv, d, name, g)

    def best_c(b: float) -> float:
        top = b ** (n - 1)
        return maximize_1d(lambda cc: rho_closed_form(build(cc, b, False), d), 1e-4 * spread / top, 2 * spread / top, n_grid=40)

    if base is not None:
        base = _positive("base", base)
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
    if c is not None:
        c = _positive("c", c)
    if n == 1:
        base = base or 2.0
        c = c or best_c(base)
    elif base is None:
        if c is None:
            bmax = min(8.0, (1e4) ** (1.0 / (n - 1)))
            base = 1.0 + maximize_1d(lambda x: rho_closed_form(build(best_c(1 + x), 1 + x, False), d), 1e-3, bmax - 1, n_grid=24)
            c = best_c(base)
        else:
            base = 1.0 + maximize_1d(lambda x: rho_closed_form(build(c, 1 + x, False), d), 1e-3, 7.0, n_grid=40)
    elif c is None:
        c = best_c(base)
    return build(c, base, gain)


def lloyd_max(K: int, dist: Any = "gaussian", max_iter: int = 10_000, tol: float = 1e-12, init: Quantizer | None = None) -> Quantizer:
    """The Lloyd-Max quantizer: thresholds at level midpoints, levels at cell centroids.

    The rho-maximizing K-level quantizer up to scale (REFERENCE.md): at the
    fixed point ``rho^2 = 1 - D / E[w^2]``.  Iterates from the rho-optimal
    uniform quantizer (or ``init``) until the largest level change is below
    ``tol`` (relative to the largest level) or, for discrete densities (data),
    until the cell assignment stops changing; at most ``max_iter`` iterations.
    Deterministic.
    """
    K = check_K(K)
    d = get_density(dist)
    q0 = init if init is not None else uniform(K, dist=d)
    c = np.array(q0.levels, dtype=np.float64)
    prev_counts = None
    for _ in range(max_iter):
        t = midpoints(c)
        new = centroid_levels(t, d, fallback=c)
        new = np.maximum.accumulate(new)  # guard ordering against round-off
        if d.discrete:
            counts = np.searchsorted(d.atoms, t, side="left")
            if prev_counts is not None and np.array_equal(counts, prev_counts):
                c = new
                break
            prev_counts = counts
        if np.max(np.abs(new - c)) <= tol * max(np.max(np.abs(new)), 1e-300):
            c = new
            break
        c = new
    # Strictly increasing levels: nudge any ties from empty cells apart.
    for k in range(1, K):
        if c[k] <= c[k - 1]:
            c[k] = np.nextafter(c[k - 1], np.inf) if c[k - 1] != 0 else 1e-300
    return Quantizer(midpoints(c), c, f"lloyd_max(K={K})")


@lru_cache(maxsize=512)
def _make_cached(family: str, K: int, dist: str) -> Quantizer:
    return make(family, K, dist, _cache=False)


def make(family: str, K: int, dist: Any = "gaussian", _cache: bool = True) -> Quantizer:
    """The rho-optimal member of ``family`` with K levels for ``dist`` (unit sigma).

    ``family`` in ``FAMILIES``; sign needs K = 2 and ternary K = 3.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    K = check_K(K)
    if _cache and isinstance(dist, str):
        get_density(dist)
        return _make_cached(family, K, dist)
    if family == "sign":
        if K != 2:
            raise ValueError(f"K must be 2 for the sign family, got {K}")
        return sign(dist)
    if family == "ternary":
        if K != 3:
            raise ValueError(f"K must be 3 for the ternary family, got {K}")
        return ternary(dist=dist)
    return {"uniform": uniform, "exponential": exponential, "lloyd_max": lloyd_max}[family](K, dist=dist)
