"""The rows of the rho search (:mod:`theory._search`): densities given by their cell sums.

A "row" is one density: a row of data (one group of weights, :class:`SortedRows`) or an
a-priori density (:class:`DensityRows`, one row).  The search needs only the cell sums of
a row, ``P_k = #{t_{k-1} <= z < t_k}`` and ``M1_k = sum of z over cell k``, from which
``rho = sum_k c_k M1_k / sqrt(sum z^2 * sum_k c_k^2 P_k)`` (Pushkareva & Karandashev,
OMNN 29(3):179-186, 2020; J. Max 1960).  Data rows are sorted once with prefix sums; the
cell sums of many candidates of many rows then take one binary search per threshold, all
rows laid end to end in one sorted array of keys (each row shifted into its own interval).
"""

from __future__ import annotations

import numpy as np

from .correlation import gain_factor
from .densities import Density, Discrete

#: Half-width of the bulk of a continuous unit-variance density, for search ranges.
CONTINUOUS_SPREAD = 8.0
#: :class:`SortedRows` answers its first few small searches by bisection before laying out its keys.
_BISECT_CALLS = 4


def midpoints(levels: np.ndarray) -> np.ndarray:
    """Midpoints of consecutive levels along the last axis: (..., K) -> (..., K-1)."""
    levels = np.asarray(levels, dtype=np.float64)
    return 0.5 * (levels[..., :-1] + levels[..., 1:])


# -- rows: what the search needs of a density ------------------------------------------
class _Rows:
    """C densities ("rows") given by their cell sums; subclasses define ``cell_sums``.

    Attributes: ``C``; ``e2`` (C,) second moments (sums for data); ``spread`` (C,) a
    generous half-width of each row's bulk (the largest |z| of data, 8 for a continuous
    unit density); ``discrete``.
    """

    C: int
    e2: np.ndarray
    spread: np.ndarray
    discrete: bool
    #: If set, Lloyd iterations also stop on a gain in explained energy below this fraction of E[z^2].
    lloyd_gain_tol: float | None = None
    #: Whether ``rho`` takes candidates (1, m, K) shared by every row (:class:`theory._hist.HistRows`).
    shared_candidates = False
    #: rho is piecewise constant in the parameters (data), so one row gets a fine search grid.
    plateaus = True

    def cell_sums(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def rho(self, levels: np.ndarray, rows: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """(R, m) rho of each row for m candidate quantizers ``levels`` (R, m, K) (thresholds: midpoints)."""
        t = midpoints(levels) if thresholds is None else thresholds
        P, M1 = self.cell_sums(t, rows)
        ewq = np.sum(levels * M1, axis=2)
        eq2 = np.sum(levels * levels * P, axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ewq / np.sqrt(self.e2[rows, None] * eq2)
        return np.where(eq2 > 0, out, 0.0)

    def moments(self, levels: np.ndarray, thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(E[z q], E[q^2]) per row, as sums like ``e2``, for one quantizer per row (levels (C, K))."""
        t = midpoints(levels) if thresholds is None else thresholds
        P, M1 = self.cell_sums(t[:, None, :], np.arange(self.C))
        return np.sum(levels * M1[:, 0], axis=1), np.sum(levels * levels * P[:, 0], axis=1)

    def gain(self, levels: np.ndarray, gain: str = "mse", thresholds: np.ndarray | None = None) -> np.ndarray:
        """(C,) gain of one quantizer per row (levels (C, K)) by the rule ``gain``.

        ``"mse"``: least squares ``E[z q] / E[q^2]``; ``"unbiased"``: ``E[z^2] / E[z q]``
        (:func:`theory.correlation.gain_factor`).
        """
        ewq, eq2 = self.moments(levels, thresholds)
        return gain_factor(gain, self.e2, ewq, eq2)


class DensityRows(_Rows):
    """One a-priori density as one row (closed-form cell moments, :class:`theory.densities.Density`)."""

    def __init__(self, d: Density):
        self.d = d
        self.C = 1
        self.discrete = bool(d.discrete)
        self.e2 = np.array([d.second_moment()])
        if self.discrete:
            self.spread = np.array([max(abs(float(d.atoms[0])), abs(float(d.atoms[-1])), 1e-12)])
        else:
            self.spread = np.array([CONTINUOUS_SPREAD])

    def cell_sums(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        R, m, _ = t.shape
        edges = np.concatenate((np.full((R, m, 1), -np.inf), t, np.full((R, m, 1), np.inf)), axis=2)
        return np.diff(self.d.F0(edges), axis=2), np.diff(self.d.F1(edges), axis=2)

    def magnitudes(self) -> DensityRows:
        """The density of ``|w|`` (for odd-symmetric quantizers ``w q(w) = |w| q(|w|)`` exactly)."""
        return DensityRows(_folded(self.d))

    def pooled(self) -> DensityRows:
        return self


class _Folded(Density):
    """``|w|`` for a continuous density ``w``: ``F0(x) = F(x) - F(-x)``, ``F1(x) = F1(x) + F1(-x) - 2 F1(0)`` (x > 0)."""

    def __init__(self, d: Density):
        self.base, self.name = d, f"|{d.name}|"

    def F0(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > 0, self.base.F0(np.abs(x)) - self.base.F0(-np.abs(x)), 0.0)

    def F1(self, x):
        x = np.asarray(x, dtype=np.float64)
        a = np.abs(x)
        return np.where(x > 0, self.base.F1(a) + self.base.F1(-a) - 2 * self.base.F1(np.zeros_like(a)), 0.0)

    def second_moment(self):
        return self.base.second_moment()


def _folded(d: Density) -> Density:
    if d.discrete:  # exact, ties included: merge the atoms of +a and -a
        a, inv = np.unique(np.abs(d.atoms), return_inverse=True)
        return Discrete(a, np.bincount(inv, weights=d.probs, minlength=a.size), name=f"|{d.name}|")
    return _Folded(d)


class SortedRows(_Rows):
    """Rows (C, n) sorted, with prefix sums, for batched cell sums.

    **Arguments:** `z`: (C, n) finite float64 data, one channel per row; `kind`: the
    ``np.sort`` algorithm (``"stable"`` is much faster for data made of a few sorted runs,
    e.g. ``|z|`` of sorted rows, or sorted rows laid end to end).
    """

    def __init__(self, z: np.ndarray, kind: str = "quicksort", presorted: bool = False):
        s = np.asarray(z, dtype=np.float64) if presorted else np.sort(np.asarray(z, dtype=np.float64), axis=1, kind=kind)
        self._abs_source = None  # (rows, scale) when built by scaled(): |rows| sorts in the rows' own dtype
        self.sorted = s
        C, n = s.shape
        self.C, self.n = C, n
        self.cs = np.zeros((C, n + 1))
        np.cumsum(s, axis=1, out=self.cs[:, 1:])
        self.e2 = np.sum(s * s, axis=1)  # (C,)
        self.lo, self.hi = float(s[:, 0].min()), float(s[:, -1].max())
        self.spread = np.maximum(np.abs(s[:, 0]), np.abs(s[:, -1]))
        self.discrete = True
        self.width = (self.hi - self.lo) + 1.0  # row r lives in [r*width, r*width + hi - lo]
        self._keys, self._calls = None, 0  # the keys are laid out on the first searches that need them (keys)

    @property
    def keys(self) -> np.ndarray:
        """All rows end to end, row r shifted into ``[r width, r width + hi - lo]``: one sorted array (C n,)."""
        if self._keys is None:
            self._keys = (self.sorted - self.lo + self.width * np.arange(self.C)[:, None]).ravel()
        return self._keys

    @classmethod
    def scaled(cls, rows: np.ndarray, scale: np.ndarray) -> SortedRows:
        """``SortedRows(rows / scale[:, None])`` for positive ``scale`` (C,), sorting ``rows`` in their own dtype.

        Dividing by a positive number is monotone, so ``sort(rows) / scale`` is bitwise the
        sorted ``rows / scale`` (float32 rows sort about twice as fast as float64).
        """
        scale = np.asarray(scale, dtype=np.float64)[:, None]
        out = cls(np.sort(rows, axis=1) / scale, presorted=True)
        out._abs_source = (rows, scale)
        return out

    def magnitudes(self) -> SortedRows:
        """The rows of ``|z|`` (the same values in any sort order; sorted in the data's dtype when known)."""
        if self._abs_source is not None:
            rows, scale = self._abs_source
            return SortedRows(np.sort(np.abs(rows), axis=1) / scale, presorted=True)
        return SortedRows(np.abs(self.sorted))

    def pooled(self) -> SortedRows:
        """All rows as ONE row."""
        return SortedRows(self.sorted.reshape(1, -1))

    def pooled_magnitudes(self) -> SortedRows:
        """``magnitudes().pooled()`` without sorting ``|z|`` row by row: the same values, so the same sorted row."""
        return SortedRows(np.abs(self.sorted).reshape(1, -1))

    def cell_sums(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, M1), each (R, m, k+1): counts and sums of the cells ``[t_{j-1}, t_j)`` of rows ``rows``.

        `t`: (R, m, k) increasing thresholds, m candidates per row; `rows`: (R,) row indices.
        """
        r = rows[:, None, None]
        q = np.clip(t, self.lo - 0.25, self.hi + 0.25) - self.lo + self.width * r
        self._calls += 1
        if self._keys is None and self._calls <= _BISECT_CALLS and q.size * 64 < self.C * self.n:
            idx = self._bisect(q, rows)  # a few small searches (a gain, a moment): no need to lay out every key
        else:
            idx = np.searchsorted(self.keys, q.ravel(), side="left").reshape(q.shape) - self.n * r
        R, m, _ = t.shape
        idx = np.concatenate((np.zeros((R, m, 1), np.intp), idx, np.full((R, m, 1), self.n, np.intp)), axis=2)
        return np.diff(idx, axis=2), np.diff(self.cs[r, idx], axis=2)


    def _bisect(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``np.searchsorted(self.keys, q) - n r`` by a bisection in each query's own row, computing only the
        keys it looks at (with the same arithmetic as :attr:`keys`, so the same comparisons)."""
        n = self.n
        shape = q.shape
        qf = q.ravel()
        rr = np.broadcast_to(rows[:, None, None], shape).ravel()
        base = rr * n
        shift = np.broadcast_to(self.width * rows[:, None, None], shape).ravel()
        flat = self.sorted.ravel()
        lo = np.zeros(qf.size, np.intp)
        hi = np.full(qf.size, n, np.intp)
        for _ in range(max(1, int(n).bit_length())):  # lower bound: #{keys < q} in [lo, hi]
            mid = (lo + hi) >> 1
            below = (flat[base + np.minimum(mid, n - 1)] - self.lo + shift) < qf
            open_ = lo < hi
            lo = np.where(open_ & below, mid + 1, lo)
            hi = np.where(open_ & ~below, mid, hi)
        return lo.reshape(shape)


__all__ = ["CONTINUOUS_SPREAD", "DensityRows", "SortedRows", "midpoints"]
