"""Per-channel fitting vectorized over channels: every channel gets its own rho-optimal shape.

Each row ``z_i`` of a (C, n) array of unit-RMS channels is its own empirical
density (:class:`theory.densities.Empirical`).  For a quantizer with thresholds
``t`` and levels ``c``, rho follows from the cell sums ``P_k = #{t_{k-1} <= z < t_k}``
and ``M1_k = sum of z over cell k`` (REFERENCE.md, "Definitions and formulas"):
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

from .correlation import gain_factor
from .families import exponential_grid, midpoints, uniform_grid

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


class SortedRows:
    """Rows (C, n) sorted, with prefix sums, for batched cell sums.

    **Arguments:** `z`: (C, n) finite float64 data, one channel per row; `kind`: the
    ``np.sort`` algorithm (``"stable"`` is much faster for data made of a few sorted runs,
    e.g. ``|z|`` of sorted rows, or sorted rows laid end to end).
    """

    def __init__(self, z: np.ndarray, kind: str = "quicksort"):
        s = np.sort(np.asarray(z, dtype=np.float64), axis=1, kind=kind)
        self.sorted = s
        C, n = s.shape
        self.C, self.n = C, n
        self.cs = np.zeros((C, n + 1))
        np.cumsum(s, axis=1, out=self.cs[:, 1:])
        self.e2 = np.sum(s * s, axis=1)  # (C,)
        self.lo, self.hi = float(s[:, 0].min()), float(s[:, -1].max())
        self.width = (self.hi - self.lo) + 1.0  # row r lives in [r*width, r*width + hi - lo]
        self.keys = (s - self.lo + self.width * np.arange(C)[:, None]).ravel()

    def magnitudes(self) -> SortedRows:
        """The rows of ``|z|`` (two sorted runs per row: a cheap stable sort)."""
        return SortedRows(np.abs(self.sorted), kind="stable")

    def pooled(self) -> SortedRows:
        """All rows as ONE row (C sorted runs: a cheap stable sort)."""
        return SortedRows(self.sorted.reshape(1, -1), kind="stable")

    def cell_sums(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, M1), each (R, m, k+1): counts and sums of the cells ``[t_{j-1}, t_j)`` of rows ``rows``.

        `t`: (R, m, k) increasing thresholds, m candidates per row; `rows`: (R,) row indices.
        """
        r = rows[:, None, None]
        q = np.clip(t, self.lo - 0.25, self.hi + 0.25) - self.lo + self.width * r
        idx = np.searchsorted(self.keys, q.ravel(), side="left").reshape(q.shape) - self.n * r
        R, m, _ = t.shape
        idx = np.concatenate((np.zeros((R, m, 1), np.intp), idx, np.full((R, m, 1), self.n, np.intp)), axis=2)
        return np.diff(idx, axis=2), np.diff(self.cs[r, idx], axis=2)

    def rho(self, levels: np.ndarray, rows: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """(R, m) rho of each row for m candidate quantizers ``levels`` (R, m, K) (thresholds: midpoints)."""
        t = midpoints(levels) if thresholds is None else thresholds
        P, M1 = self.cell_sums(t, rows)
        ewq = np.sum(levels * M1, axis=2)
        eq2 = np.sum(levels * levels * P, axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ewq / np.sqrt(self.e2[rows, None] * eq2)
        return np.where(eq2 > 0, out, 0.0)

    def gain(self, levels: np.ndarray, gain: str = "mse") -> np.ndarray:
        """(C,) gain of one quantizer per row (levels (C, K), midpoint thresholds) by the rule ``gain``.

        ``"mse"``: least squares ``E[z q] / E[q^2]``; ``"unbiased"``: ``E[z^2] / E[z q]``
        (:func:`theory.correlation.gain_factor`).
        """
        rows = np.arange(self.C)
        P, M1 = self.cell_sums(midpoints(levels)[:, None, :], rows)
        ewq = np.sum(levels * M1[:, 0], axis=1)
        eq2 = np.sum(levels * levels * P[:, 0], axis=1)
        return gain_factor(gain, self.e2, ewq, eq2)


def _half(levels: np.ndarray, K: int) -> np.ndarray:
    """The positive half (levels >= 0) of symmetric levels (..., K): the quantizer of |z|."""
    return levels[..., K // 2 :]


def _grid(lo: np.ndarray, hi: np.ndarray, m: int) -> np.ndarray:
    """(R, m) log-spaced points from ``lo`` to ``hi`` (R,) per row."""
    return np.exp(np.log(lo)[:, None] + np.linspace(0.0, 1.0, m)[None, :] * np.log(hi / lo)[:, None])


def _maximize_1d(f, lo: np.ndarray, hi: np.ndarray, n_grid: int = 64, n_golden: int = 40) -> np.ndarray:
    """Per-row argmax of ``f(rows, x (R, m)) -> (R, m)`` on ``[lo, hi]`` (R,): log grid, then golden section."""
    R = lo.size
    rows = np.arange(R)
    g = _grid(lo, hi, n_grid)
    v = f(rows, g)
    i = np.argmax(v, axis=1)
    best_x, best_v = g[rows, i], v[rows, i]
    a = np.log(g[rows, np.maximum(i - 1, 0)])
    b = np.log(g[rows, np.minimum(i + 1, n_grid - 1)])
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


def uniform_rows(rows: SortedRows, K: int) -> np.ndarray:
    """(C, K) unit levels of the rho-optimal uniform quantizer of each row of ``|z|`` rows.

    Same search range as :func:`theory.families.uniform` on an empirical density:
    step in ``[1e-4, 1] * 2 max|z| / (K - 1)``.
    """
    if K == 2:
        return uniform_grid(K, np.ones(rows.C))
    spread = rows.sorted[:, -1]  # the largest |z| of each row

    def f(r, step):
        return rows.rho(_half(uniform_grid(K, step), K), r)

    hi = 2 * spread / (K - 1)
    return uniform_grid(K, _maximize_1d(f, 1e-4 * hi, hi))


def exponential_rows(rows: SortedRows, K: int, n_base: int = 16, n_top: int = 24, n_pattern: int = 24) -> np.ndarray:
    """(C, K) unit levels ``+-c base**j`` of the rho-optimal exponential quantizer of each row of ``|z|`` rows.

    Searched over ``x = base - 1`` in ``[1e-2, min(8, 1e4**(1/(n-1))) - 1]`` and the top level
    ``a = c base**(n-1)`` in ``[1e-2, 2] * max|z|`` (about the resolution of
    :func:`theory.families.exponential`'s grids, on narrower ranges), both on log grids,
    then a shrinking pattern search in ``(log x, log a)`` from the best grid point.
    """
    n = K // 2
    C = rows.C
    all_rows = np.arange(C)
    spread = rows.sorted[:, -1]
    top_lo, top_hi = np.log(1e-2 * spread), np.log(2 * spread)

    def levels(lx, la):  # log(base - 1), log(top level) -> (..., K)
        b = 1.0 + np.exp(lx)
        return exponential_grid(K, np.exp(la) / b ** (n - 1), b)

    def f(r, lx, la):
        return rows.rho(_half(levels(lx, la), K), r)

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
    for lx in lxs:  # the grid, one base at a time (memory: C x n_top candidates)
        v = f(all_rows, np.full(las.shape, lx), las)
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


def lloyd_max_rows(rows: SortedRows, init: np.ndarray, max_iter: int = 10_000) -> np.ndarray:
    """(C, K) Lloyd-Max (1-D k-means) levels of each signed row, from ``init`` (C, K).

    Thresholds at level midpoints, levels at cell centroids (empty cells keep their
    level), until no weight changes cell in any row or ``max_iter`` iterations; rows
    that have converged stop iterating.  Deterministic.
    """
    c = np.array(init, dtype=np.float64)
    active = np.arange(rows.C)
    prev = None
    for _ in range(max_iter):
        if active.size == 0:
            break
        P, M1 = rows.cell_sums(midpoints(c[active])[:, None, :], active)
        P, M1 = P[:, 0], M1[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            new = np.where(P > 0, M1 / np.maximum(P, 1), c[active])
        c[active] = np.maximum.accumulate(new, axis=1)  # guard ordering against round-off
        if prev is not None:
            moved = np.any(P != prev, axis=1)
            active, P = active[moved], P[moved]
        prev = P
    return c


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
