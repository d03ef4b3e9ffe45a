"""The one search for quantizer parameters: rho-optimal shapes for many rows at once.

A "row" is one density: a row of data (one group of weights, :class:`SortedRows`) or an
a-priori density (:class:`DensityRows`, one row), both in :mod:`theory._rows` and named here
too.  Everything below needs only the cell
sums of a row, so a priori (:mod:`theory.families`) and on data (:mod:`theory.fitting`,
per tensor = one row, per channel or group = many rows) use the same search, on the same
ranges, with the same rule for separating tied levels.

Data rows, vectorized over channels: every channel gets its own rho-optimal shape.

Each row ``z_i`` of a (C, n) array of unit-RMS channels is its own empirical
density (:class:`theory.densities.Empirical`).  For a quantizer with thresholds
``t`` and levels ``c``, rho follows from the cell sums ``P_k = #{t_{k-1} <= z < t_k}``
and ``M1_k = sum of z over cell k`` (Pushkareva & Karandashev 2020; Max 1960):
``rho = sum_k c_k M1_k / sqrt(sum z^2 * sum_k c_k^2 P_k)``.  After one sort and one
prefix sum per row, a candidate costs one binary search per threshold, and the
searches of all rows run in ONE ``np.searchsorted`` over the rows laid end to end
(each row shifted into its own disjoint interval).  So the family parameters
(uniform step; exponential base and smallest level) are searched for all channels
in lockstep, at a cost that does not grow with n: a log grid, then a local
refinement (golden section in 1-D, a shrinking pattern search in 2-D) from the best
grid point.  Lloyd-Max (1-D k-means) runs all channels' iterations together and
stops per channel when no weight changes cell, as :func:`theory.families.lloyd_max`.

Symmetric families (uniform, exponential) only need ``|z|``: ``z q(z) = |z| q(|z|)``
and ``q(z)^2 = q(|z|)^2``, so their search uses the positive half of the quantizer.

Sources: Pushkareva & Karandashev, OMNN 29(3):179-186, 2020 (parameters maximizing
rho); J. Max 1960; S. Lloyd 1982.
"""

from __future__ import annotations

import numpy as np

from ._rows import CONTINUOUS_SPREAD, DensityRows, SortedRows, _Rows, midpoints

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


# -- level grids (midpoints: theory._rows) ------------------------------------------
def uniform_grid(K: int, step) -> np.ndarray:
    """``step * (k - (K-1)/2)``, k = 0..K-1: a zero level when K is odd.

    ``step`` may be an array (...,); the result is then (..., K).
    """
    return np.asarray(step, dtype=np.float64)[..., None] * (np.arange(K) - (K - 1) / 2.0)


def exponential_grid(K: int, c, base, products: bool = False, half: bool = False) -> np.ndarray:
    """``+-c * base**j``, j = 0..K//2 - 1, plus a zero level when K is odd (Malsagov et al. 2019).

    ``c`` and ``base`` may be arrays (broadcast together to (...,)); the result is then (..., K).
    ``products``: the powers by repeated multiplication (several times faster than ``**`` on many
    candidates; equal up to the last bits, for searches that do not need bit-stable levels).
    ``half``: only the levels >= 0 (``(..., K - K//2)``, the quantizer of ``|z|``; the same values).
    """
    c, base = np.asarray(c, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if products:
        c, base = np.broadcast_arrays(c, base)
        pos = np.empty(c.shape + (K // 2,))
        pos[..., 0] = c
        for j in range(1, K // 2):
            np.multiply(pos[..., j - 1], base, out=pos[..., j])
    elif base.ndim == 0:  # one base for every row and candidate: its K//2 powers computed once (the same values)
        pos = c[..., None] * base[None] ** np.arange(K // 2)
    else:
        c, base = np.broadcast_arrays(c, base)
        pos = c[..., None] * base[..., None] ** np.arange(K // 2)
    zero = [np.zeros(c.shape + (1,))] if K % 2 else []
    if half:
        return np.concatenate([*zero, pos], axis=-1) if zero else pos
    return np.concatenate([-pos[..., ::-1], *zero, pos], axis=-1)



def _half(levels: np.ndarray, K: int) -> np.ndarray:
    """The positive half (levels >= 0) of symmetric levels (..., K): the quantizer of |z|."""
    return levels[..., K // 2 :]


def _grid(lo: np.ndarray, hi: np.ndarray, m: int) -> np.ndarray:
    """(R, m) log-spaced points from ``lo`` to ``hi`` (R,) per row."""
    return np.exp(np.log(lo)[:, None] + np.linspace(0.0, 1.0, m)[None, :] * np.log(hi / lo)[:, None])


#: Points per pass of the nested grids that replace golden section for a few rows of a smooth ``f`` (histograms):
#: ``_ZOOM`` candidates per call shrink the bracket ``(_ZOOM + 1) / 2`` times, where golden section takes one
#: candidate per call; below ``_ZOOM_ROWS`` rows a call costs about the same for 1 or ``_ZOOM`` candidates.
_ZOOM, _ZOOM_ROWS = 30, 8


def _maximize_1d(f, lo: np.ndarray, hi: np.ndarray, n_grid: int = 64, n_golden: int = 40,
                 smooth: bool = False, shared: bool = False) -> np.ndarray:
    """Per-row argmax of ``f(rows, x (R, m)) -> (R, m)`` on ``[lo, hi]`` (R,): log grid, then golden section.

    ``smooth``: ``f`` has no plateaus (histograms); with fewer than ``_ZOOM_ROWS`` rows, the golden section is
    replaced by nested grids of ``_ZOOM`` points that shrink the bracket at least as much as ``n_golden`` steps.
    ``shared``: ``f`` also takes ``x`` (1, m) for every row; where all rows have the same range, the grid is
    passed once (the same values).
    """
    R = lo.size
    rows = np.arange(R)
    g = _grid(lo, hi, n_grid)
    same = shared and R > 1 and bool(np.all(lo == lo[0]) and np.all(hi == hi[0]))
    v = f(rows, g[:1] if same else g)
    i = np.argmax(v, axis=1)
    best_x, best_v = g[rows, i], v[rows, i]
    a = np.log(g[rows, np.maximum(i - 1, 0)])
    b = np.log(g[rows, np.minimum(i + 1, n_grid - 1)])
    if smooth and R < _ZOOM_ROWS:
        passes = int(np.ceil(n_golden * np.log(1 / _GOLDEN) / np.log((_ZOOM + 1) / 2)))
        frac = np.arange(1, _ZOOM + 1) / (_ZOOM + 1)  # interior points (_ZOOM even: not the centre, already known)
        llo, lhi = np.log(lo), np.log(hi)
        for _ in range(passes):
            u = a[:, None] + (b - a)[:, None] * frac[None, :]
            v = f(rows, np.exp(u))
            j = np.argmax(v, axis=1)
            better = v[rows, j] > best_v
            best_x, best_v = np.where(better, np.exp(u[rows, j]), best_x), np.where(better, v[rows, j], best_v)
            h, centre = (b - a) / (_ZOOM + 1), np.log(best_x)  # a unimodal f peaks next to its best point
            a, b = np.maximum(centre - h, llo), np.minimum(centre + h, lhi)
        return best_x
    x1, x2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    f12 = f(rows, np.exp(np.stack((x1, x2), axis=1)))
    f1, f2 = f12[:, 0], f12[:, 1]
    for x, fx in ((x1, f1), (x2, f2)):
        better = fx > best_v
        best_x, best_v = np.where(better, np.exp(x), best_x), np.where(better, fx, best_v)
    for _ in range(n_golden):
        left = f1 >= f2  # keep [a, x2]
        a, b = np.where(left, a, x1), np.where(left, x2, b)
        x_new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = f(rows, np.exp(x_new)[:, None])[:, 0]
        x1, f1, x2, f2 = (np.where(left, x_new, x2), np.where(left, f_new, f2),
                          np.where(left, x1, x_new), np.where(left, f1, f_new))
        better = f_new > best_v
        best_x, best_v = np.where(better, np.exp(x_new), best_x), np.where(better, f_new, best_v)
    return best_x


def uniform_rows(rows: _Rows, K: int, around: np.ndarray | None = None) -> np.ndarray:
    """(C, K) unit levels of the rho-optimal uniform quantizer of each row of ``|z|`` rows.

    Same search range as :func:`theory.families.uniform` on an empirical density:
    step in ``[1e-4, 1] * 2 max|z| / (K - 1)``; 40 golden-section steps, 24 on rows whose rho
    has no plateaus (histograms: 0.618**24 of the grid cell is far below their resolution), which
    take nested grids instead when they are few (a pooled row: :func:`_maximize_1d`'s ``smooth``).
    ``around`` (C, K) levels: search each row's step only within a factor 3 of theirs (12 grid
    points, 8 golden steps: the step to 0.9% of itself, a seventh of a bin of a histogram with 16
    bins per level; a local refinement of a pooled shape).
    """
    if K == 2:
        return uniform_grid(K, np.ones(rows.C))
    spread = rows.spread

    def f(r, step):
        return rows.rho(_half(uniform_grid(K, step), K), r)

    if around is not None:
        s0 = around[:, -1] - around[:, -2]
        return uniform_grid(K, _maximize_1d(f, s0 / 3, s0 * 3, n_grid=12, n_golden=8, smooth=not rows.plateaus,
                                            shared=rows.shared_candidates))
    hi = 2 * spread / (K - 1)
    return uniform_grid(K, _maximize_1d(f, 1e-4 * hi, hi, n_golden=40 if rows.plateaus else 24,
                                           smooth=not rows.plateaus))


def exponential_rows(rows: _Rows, K: int, n_base: int | None = None, n_top: int | None = None,
                     n_pattern: int | None = None, around: np.ndarray | None = None) -> np.ndarray:
    """(C, K) unit levels ``+-c base**j`` of the rho-optimal exponential quantizer of each row of ``|z|`` rows.

    Searched over ``x = base - 1`` in ``[1e-2, min(8, 1e4**(1/(n-1))) - 1]`` and the top level
    ``a = c base**(n-1)`` in ``[1e-2, 2] * max|z|`` (about the resolution of
    :func:`theory.families.exponential`'s grids, on narrower ranges), both on log grids,
    then a shrinking pattern search in ``(log x, log a)`` from the best grid point.  The grid
    is 16 x 24 (24 pattern steps) for many rows and 96 x 128 (60 steps) for one row (a density
    or a whole tensor), where rho of discrete data is piecewise constant and a coarse grid can
    miss the best plateau (one row whose rho has no plateaus, a histogram, takes 48 x 64).
    ``around`` (C, K) levels: the first candidate of each row (a pooled shape), before the grid.
    """
    one = rows.C == 1
    fine = one and rows.plateaus
    n_base = n_base or (96 if fine else 48 if one else 16)
    n_top = n_top or (128 if fine else 64 if one else 24)
    n_pattern = n_pattern or (60 if fine else 24)
    n = K // 2
    C = rows.C
    all_rows = np.arange(C)
    spread = rows.spread
    top_lo, top_hi = np.log(1e-2 * spread), np.log(2 * spread)

    def levels(lx, la, half=False):  # log(base - 1), log(top level) -> (..., K), or its levels >= 0
        b = 1.0 + np.exp(lx)
        return exponential_grid(K, np.exp(la) / b ** (n - 1), b, products=not rows.plateaus, half=half)

    def f(r, lx, la):
        return rows.rho(levels(lx, la, half=True), r)

    if n == 1:  # one positive level: the base does not matter
        lx0 = np.full(C, np.log(1.0))
        la = np.log(_maximize_1d(lambda r, a: f(r, np.broadcast_to(lx0[r, None], a.shape), np.log(a)),
                                 np.exp(top_lo), np.exp(top_hi)))
        return levels(lx0, la)
    bmax = min(8.0, 1e4 ** (1.0 / (n - 1)))
    lxs = np.linspace(np.log(1e-2), np.log(bmax - 1), n_base)
    las = top_lo[:, None] + np.linspace(0.0, 1.0, n_top)[None, :] * (top_hi - top_lo)[:, None]  # (C, n_top)
    best_v = np.full(C, -np.inf)
    best_lx, best_la = np.zeros(C), np.zeros(C)
    if around is not None:  # the given shapes are the first candidates; the grid and the pattern search follow
        half = _half(np.asarray(around, np.float64), K)
        best_lx = np.clip(np.log(half[:, -1] / half[:, -2] - 1.0), lxs[0], lxs[-1])
        best_la = np.clip(np.log(half[:, -1]), top_lo, top_hi)
        best_v = f(all_rows, best_lx[:, None], best_la[:, None])[:, 0]
    if not rows.plateaus and C * n_base * n_top <= 1 << 16:  # the whole grid in one call: the same first best
        v = f(all_rows, np.repeat(lxs, n_top)[None, :], np.tile(las, (1, n_base)))  # (C, n_base n_top), base-major
        flat = np.argmax(v, axis=1)
        better = v[all_rows, flat] > best_v
        best_v = np.where(better, v[all_rows, flat], best_v)
        best_lx = np.where(better, lxs[flat // n_top], best_lx)
        best_la = np.where(better, las[all_rows, flat % n_top], best_la)
    else:
        for lx in lxs:  # the grid, one base at a time (memory: C x n_top candidates)
            v = f(all_rows, lx, las)  # one base for all rows
            j = np.argmax(v, axis=1)
            vj = v[all_rows, j]
            better = vj > best_v
            best_v = np.where(better, vj, best_v)
            best_lx = np.where(better, lx, best_lx)
            best_la = np.where(better, las[all_rows, j], best_la)
    # Pattern search: try the 8 neighbours at the current steps, move if better, else halve the steps.
    dx = np.full(C, lxs[1] - lxs[0])
    da = (top_hi - top_lo) / (n_top - 1)
    moves = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)], dtype=np.float64)
    lx_lo, lx_hi = lxs[0], lxs[-1]
    for _ in range(n_pattern):
        cx = np.clip(best_lx[:, None] + moves[None, :, 0] * dx[:, None], lx_lo, lx_hi)
        ca = np.clip(best_la[:, None] + moves[None, :, 1] * da[:, None], top_lo[:, None], top_hi[:, None])
        v = f(all_rows, cx, ca)
        j = np.argmax(v, axis=1)
        vj = v[all_rows, j]
        better = vj > best_v
        best_v = np.where(better, vj, best_v)
        best_lx = np.where(better, cx[all_rows, j], best_lx)
        best_la = np.where(better, ca[all_rows, j], best_la)
        dx, da = np.where(better, dx, dx / 2), np.where(better, da, da / 2)
    return levels(best_lx, best_la)


def exponential_given(rows: _Rows, K: int, base: float | None, c: float | None) -> np.ndarray:
    """(C, K) exponential levels with ``base`` and/or smallest level ``c`` fixed, the other searched.

    Same ranges as :func:`exponential_rows`: the top level in ``[1e-2, 2] * spread``, ``base - 1``
    in ``[1e-2, min(8, 1e4**(1/(n-1))) - 1]``.
    """
    n = K // 2
    if base is not None and c is not None:
        return exponential_grid(K, np.full(rows.C, c), np.full(rows.C, base))
    if base is not None:
        top = _maximize_1d(lambda r, a: rows.rho(exponential_grid(K, a / base ** (n - 1), base, half=True), r),
                           1e-2 * rows.spread, 2 * rows.spread)
        return exponential_grid(K, top / base ** (n - 1), np.full(rows.C, base))
    if n == 1:
        return exponential_grid(K, np.full(rows.C, c), np.full(rows.C, 2.0))
    bmax = min(8.0, 1e4 ** (1.0 / (n - 1)))
    x = _maximize_1d(lambda r, xx: rows.rho(exponential_grid(K, c, 1.0 + xx, half=True), r),
                     np.full(rows.C, 1e-2), np.full(rows.C, bmax - 1))
    return exponential_grid(K, np.full(rows.C, c), 1.0 + x)


def lloyd_max_rows(rows: _Rows, init: np.ndarray, max_iter: int = 10_000, tol: float = 1e-12) -> np.ndarray:
    """(C, K) Lloyd-Max levels of each signed row from ``init`` (C, K) (S. Lloyd 1982; J. Max 1960).

    Thresholds at level midpoints, levels at cell centroids (empty cells keep their
    level), until, per row, no weight changes cell (data) or the largest level change is
    below ``tol`` relative to the largest level (a continuous density), or ``max_iter``
    iterations; rows that have converged stop iterating.  Rows with a ``lloyd_gain_tol`` (histograms, whose cells change
    with every threshold move) also stop when an iteration raises the explained energy
    ``sum_k M1_k^2 / P_k`` (``rho^2 E[z^2]`` at the centroids, never decreasing) by no more
    than that fraction of ``E[z^2]``.  On data this is 1-D k-means
    (Han, Mao, Dally 2016, weight sharing).  Deterministic.
    """
    gain_tol = rows.lloyd_gain_tol
    if hasattr(rows, "density") and gain_tol is not None and init.shape[1] <= NEWTON_LEVELS:
        return _lloyd_newton(rows, init, max_iter, gain_tol)
    c = np.array(init, dtype=np.float64)
    active = np.arange(rows.C)
    prev = None
    prev_fit = np.full(rows.C, -np.inf)
    for _ in range(max_iter):
        if active.size == 0:
            break
        P, M1 = rows.cell_sums(midpoints(c[active])[:, None, :], active)
        P, M1 = P[:, 0], M1[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            new = np.where(P > 1e-300, M1 / np.where(P > 1e-300, P, 1.0), c[active])
        new = np.maximum.accumulate(new, axis=1)  # guard ordering against round-off
        small = np.max(np.abs(new - c[active]), axis=1) <= tol * np.maximum(np.max(np.abs(new), axis=1), 1e-300)
        if gain_tol is not None:
            fit = np.sum(new * M1, axis=1)
            small |= fit - prev_fit <= gain_tol * rows.e2[active]
        c[active] = new
        moved = ~small if prev is None else (~small & np.any(P != prev, axis=1))
        active, P = active[moved], P[moved]
        if gain_tol is not None:
            prev_fit = fit[moved]
        prev = P
    return c


#: Lloyd-Max on a density with a known value at the thresholds takes Newton steps up to this many levels.
NEWTON_LEVELS = 64


#: Beside the plain Lloyd step and the Newton point, each iteration evaluates (in the same pass) Aitken's
#: extrapolation of the plain steps, ``T(c) + d r / (1 - r)`` times these fractions (``d = T(c) - c``, ``r`` the
#: ratio of the last two plain steps).  On a near-flat density (pooled histograms) the slowest Lloyd mode's
#: Jacobian eigenvalue is near 0 and the piecewise-constant density puts it off by tens of percent, so the
#: Newton point can lose for hundreds of iterations while the plain steps shrink geometrically, as Aitken's
#: extrapolation assumes.
_AITKEN = np.array([1.0, 0.5])


def _lloyd_newton(rows: _Rows, init: np.ndarray, max_iter: int, gain_tol: float) -> np.ndarray:
    """Lloyd-Max levels (the same fixed point: every level the centroid of its cell, thresholds at midpoints)
    with Newton steps on ``T(c) - c`` (``T`` the Lloyd map) for rows with a ``density``.

    With cells ``[t_{k-1}, t_k)``, ``t_k = (c_k + c_{k+1}) / 2``, the centroid ``m_k = M1_k / P_k`` moves
    with its thresholds as ``dm_k/dt_k = f(t_k) (t_k - m_k) / P_k`` and ``dm_k/dt_{k-1} = f(t_{k-1})
    (m_k - t_{k-1}) / P_k`` (``f`` the density), so the Jacobian of ``T`` is tridiagonal.  Every iteration
    evaluates in one pass the plain Lloyd step (the current centroids), the Newton point and Aitken's
    extrapolations of the plain steps (:data:`_AITKEN`), and goes on from the one whose cells explain the
    most energy ``sum M1^2 / P`` (``rho^2 E[z^2]`` at the centroids); its centroids are the new levels.  So
    the energy of the levels' own cells never falls from one iteration to the next, as in Lloyd's iteration.
    A row stops when that energy gains less than ``gain_tol E[z^2]``.  Lloyd's iteration on a flat density
    needs hundreds of steps for that; this a few to a few tens (S. Lloyd 1982; J. Max 1960; A. C. Aitken 1926).
    The fixed point reached may be another one than plain Lloyd's from the same start (a histogram's energy
    has several), within the histogram's resolution.
    """
    c = np.array(init, dtype=np.float64)
    C, K = c.shape
    x = np.repeat(c[:, None], 1 + _AITKEN.size, axis=1)  # the Newton and Aitken points evaluated next to the plain step
    dprev = np.zeros((C, K))  # each row's last plain step T(c) - c
    best = np.full(C, -np.inf)
    active = np.arange(C)
    k = np.arange(K)
    for _ in range(max_iter):
        if active.size == 0:
            break
        R = active.size
        pts = np.concatenate((c[active][:, None], x[active]), axis=1)  # (R, 2 + A, K): plain step, the others
        t2 = midpoints(pts)
        P2, M2 = rows.cell_sums(t2, active)
        full = P2 > 1e-300
        with np.errstate(invalid="ignore", divide="ignore"):
            Pd = np.where(full, P2, 1.0)
            m2 = np.maximum.accumulate(np.where(full, M2 / Pd, pts), axis=2)
            e2 = np.sum(np.where(full, M2 * M2 / Pd, 0.0), axis=2)
        pick = np.argmax(e2, axis=1)  # the first of equals: the plain step
        r = np.arange(R)
        xo, to, mo, Po, energy = pts[r, pick], t2[r, pick], m2[r, pick], P2[r, pick], e2[r, pick]
        done = energy - best[active] <= gain_tol * rows.e2[active]
        c[active], best[active] = mo, energy
        f = rows.density(to, active)
        Pn = np.where(Po > 1e-300, Po, np.inf)
        up, lo = np.zeros_like(mo), np.zeros_like(mo)
        up[:, :-1] = f * (to - mo[:, :-1]) / Pn[:, :-1]  # dm_k / dt_k
        lo[:, 1:] = f * (mo[:, 1:] - to) / Pn[:, 1:]  # dm_k / dt_{k-1}
        J = np.zeros((R, K, K))
        J[:, k, k] = 0.5 * (up + lo) - 1.0
        J[:, k[:-1], k[:-1] + 1] = 0.5 * up[:, :-1]
        J[:, k[1:], k[1:] - 1] = 0.5 * lo[:, 1:]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            try:
                step = np.linalg.solve(J, (xo - mo)[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.full_like(mo, np.nan)
            d, dp = mo - xo, dprev[active]
            ratio = np.clip(np.vecdot(d, dp) / np.vecdot(dp, dp), 0.0, 0.999)
        ratio = np.where(np.isfinite(ratio), ratio, 0.0)
        dprev[active] = d
        ahead = (d * (ratio / (1 - ratio))[:, None])[:, None] * _AITKEN[:, None]  # (R, A, K)
        new = np.concatenate(((xo + step)[:, None], mo[:, None] + ahead), axis=1)
        ordered = np.all(np.isfinite(new), axis=2) & np.all(np.diff(new, axis=2) > 0, axis=2)
        x[active] = np.where(ordered[..., None], new, mo[:, None])  # an unusable point: the plain step again
        active = active[~done]
    return c


def ternary_rows(rows: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """(C, 2) thresholds ``(-t, t)`` and (C, 3) levels of the rho-optimal ternary quantizer of each signed row.

    Levels: the centroid of each outer cell and 0 (rho-optimal for fixed thresholds, so
    ``rho^2 = (M1_-^2/P_- + M1_+^2/P_+) / E[z^2]``); ``t`` maximizes rho over
    ``[1e-3, 1] * h`` with ``h = 0.999 * spread`` for data and discrete densities, 4 for a
    continuous density (for the Gaussian ``t ~ 0.612``, :func:`theory.derivation.ternary_optimum`).
    """
    hi = 0.999 * rows.spread if rows.discrete else np.full(rows.C, 4.0)

    def cells(r, t):
        return rows.cell_sums(np.stack((-t, t), axis=-1), r)

    def f(r, t):
        P, M1 = cells(r, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = sum(np.where(P[..., k] > 0, M1[..., k] ** 2 / np.where(P[..., k] > 0, P[..., k], 1.0), 0.0) for k in (0, 2))
        return np.sqrt(v / rows.e2[r, None])

    t = _maximize_1d(f, 1e-3 * hi, hi, n_golden=40 if rows.plateaus else 24, smooth=not rows.plateaus)
    P, M1 = cells(np.arange(rows.C), t[:, None])
    P, M1 = P[:, 0], M1[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(P[:, 0] > 0, M1[:, 0] / np.where(P[:, 0] > 0, P[:, 0], 1.0), -t)
        up = np.where(P[:, 2] > 0, M1[:, 2] / np.where(P[:, 2] > 0, P[:, 2], 1.0), t)
    bad = ~((lo < 0) & (up > 0))
    lo, up = np.where(bad, -t, lo), np.where(bad, t, up)
    return np.stack((-t, t), axis=1), np.stack((lo, np.zeros_like(t), up), axis=1)


def strictly_increasing(levels: np.ndarray, rel_gap: float = 1e-6) -> np.ndarray:
    """Levels (C, K) with ties (from empty cells) pulled apart by ``rel_gap`` of the row's largest |level|.

    The gap stays resolvable in float32, the precision of stored codebooks.
    """
    c = np.array(levels, dtype=np.float64)
    gap = rel_gap * np.max(np.abs(c), axis=1)
    gap = np.where(gap > 0, gap, 1e-300)
    for k in range(1, c.shape[1]):
        c[:, k] = np.maximum(c[:, k], c[:, k - 1] + gap)
    return c


__all__ = ["CONTINUOUS_SPREAD", "DensityRows", "SortedRows", "midpoints", "uniform_grid", "exponential_grid",
           "uniform_rows", "exponential_rows", "exponential_given", "lloyd_max_rows", "ternary_rows", "strictly_increasing"]
