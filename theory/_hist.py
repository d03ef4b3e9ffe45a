"""Histogram rows for the rho search (:mod:`theory._search`): cell sums without sorting.

:class:`theory._rows.SortedRows` answers the search exactly: one sort per row, then a binary
search per threshold in all rows laid end to end.  On a large model the sorts and those
searches (chains of cache misses into tens of millions of keys) are nearly the whole cost of
a fit.  :class:`HistRows` answers the same questions from a histogram of each row on one
grid of ``bins`` equal bins shared by all rows of the tensor (one ``np.bincount`` for all
rows; zero is always a bin edge), read as a piecewise-constant density: a threshold inside
bin ``i`` takes the fraction ``f`` of its count, and ``f (e_i + t) / 2`` times its count as the
sum (the integral of that density), so a lookup is a few gathers in a small table whatever
the row length, and rho is a continuous function of the thresholds.

What it costs in accuracy: below a threshold inside bin ``i`` (edges ``e_i``, ``e_i + w``) the
count is off by at most the bin's count ``n_i``, and the sum by at most ``n_i (max|edge| + w/2)``
(the misplaced values carry the threshold's value) plus the bin-centre error ``w/2`` for each of
the ``N_below`` values below it; a cell's error is at most its two thresholds' (checked against
:class:`theory._rows.SortedRows` in ``tests/test_theory_hist.py``).  So rho of any quantizer is
within a bound of order ``w`` of the exact one.  Only the search sees this
approximation: the quantizer that comes out is applied to the real weights, so its codes,
rho and error are exact.  The rows of one tensor share a grid so that the pooled row (all
rows as one, for shared shapes) is the exact sum of the rows' histograms.
"""

from __future__ import annotations

import numpy as np

from ._rows import _Rows, midpoints

#: Bins of the grid shared by the rows of one tensor.
BINS = 256


#: The grid is this much wider than the data, so that float32 bin coordinates stay inside ``[0, bins)``.
_MARGIN = 1.0 + 2.0**-16


def zero_edge_grid(lo: float, hi: float, bins: int) -> tuple[float, float]:
    """(start, width) of ``bins`` equal bins covering ``[lo, hi]`` (``lo <= 0 <= hi``) with 0 on a bin edge, with
    room to spare: ``lo`` and ``hi`` lie at least ``2**-16`` of their bins' span inside (so a bin coordinate
    computed in float32, relative error below ``2**-22``, cannot leave the grid)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0:
        return 0.0, 1.0
    nneg = 0 if lo == 0 else int(min(max(np.ceil(bins * -lo / (hi - lo)), 1), bins - 1))
    w = _MARGIN * max(-lo / nneg if nneg else 0.0, hi / (bins - nneg) if hi > 0 else 0.0)
    return -nneg * w, w


def _sums(cc: np.ndarray, start: float, w: float) -> np.ndarray:
    """Cumulative sums (C, B+1) of the piecewise-constant density of cumulative counts ``cc`` (bin centres).

    With centres ``start + w (i + 1/2)``, the sum below edge ``j`` is ``start cc_j + (w/2) sum_{i<j} n_i (2i + 1)``:
    an integer prefix sum (exact, and several times faster than a float one)."""
    n = np.rint(np.diff(cc, axis=1)).astype(np.int64)  # the bins' counts: integers
    n *= 2 * np.arange(n.shape[1], dtype=np.int64) + 1
    cs = np.zeros_like(cc)
    np.multiply(np.cumsum(n, axis=1), 0.5 * w, out=cs[:, 1:])
    if start != 0:
        cs[:, 1:] += start * cc[:, 1:]
    return cs


class HistRows(_Rows):
    """C rows as histograms on one grid: ``cc`` (C, B+1) cumulative counts, bins ``start + w [i, i+1)``.

    Build with :meth:`of` (the table is counted on first use).  ``e2`` (C,) are the rows' exact
    sums of squares, ``spread`` (C,) their largest |value|.  :meth:`magnitudes` (the rows of
    ``|z|``) is built from the data on first use.
    """

    #: Lloyd iterations on a histogram stop when an iteration gains less than this fraction of
    #: E[z^2] in explained energy (rho^2 gains < 1e-10): cell counts move continuously with the
    #: thresholds, so "no weight changes cell" never happens, and the levels of a near-flat
    #: density drift for hundreds of iterations while rho no longer moves.
    lloyd_gain_tol = 1e-10
    #: The histogram density makes rho continuous in the thresholds: no plateaus to miss.
    plateaus = False
    #: :meth:`rho` takes candidates (1, m, K) shared by every row.
    shared_candidates = True

    def __init__(self, C: int, e2: np.ndarray, bins: int, source: tuple | None = None, table: tuple | None = None):
        self.C, self.bins, self.e2, self.discrete = C, int(bins), np.asarray(e2, np.float64), True
        self._source, self._table, self._magnitudes, self._bin_counts = source, table, None, None

    @classmethod
    def of(cls, rows: np.ndarray, scale: np.ndarray, e2: np.ndarray, *, absolute: bool = False,
           bins: int = BINS, amax: np.ndarray | None = None, extent: tuple | None = None) -> HistRows:
        """The histograms of ``rows / scale[:, None]`` (or of their absolute values), rows (C, n) float32 or float64.

        ``e2`` (C,): the sums of squares of ``rows / scale`` (the caller has them exactly);
        ``amax`` (C,): the rows' largest |value|, or ``extent``: ``(min, max)`` (C,) of each row, if known
        (saves passes over the rows).
        """
        if extent is not None:
            extent = tuple(np.asarray(e, np.float64) for e in extent)
            amax = np.maximum(-extent[0], extent[1])
        return cls(rows.shape[0], e2, bins, source=(rows, np.asarray(scale, np.float64), absolute, amax, extent))

    def _count(self) -> tuple:
        rows, scale, absolute, amax, extent = self._source
        C, B = self.C, self.bins
        a = np.abs(rows) if absolute else rows
        if absolute:
            hi = (a.max(axis=1) if amax is None else amax).astype(np.float64) / scale
            lo = np.zeros(C)
        else:
            lo, hi = extent if extent is not None else (a.min(axis=1), a.max(axis=1))
            lo, hi = lo.astype(np.float64) / scale, hi.astype(np.float64) / scale
        start, w = zero_edge_grid(lo.min(), hi.max(), B)
        mult = (1.0 / (w * scale)).astype(a.dtype)[:, None]  # bin coordinate, row by row
        u = np.multiply(a, mult, out=a) if absolute else a * mult
        if start != 0:
            u += a.dtype.type(round(-start / w))  # the number of negative bins, an integer
        idx = u.astype(np.intp)  # in [0, B): the grid's margin (zero_edge_grid)
        del u, a
        idx += (np.arange(C, dtype=np.intp) * B)[:, None]
        cc = np.zeros((C, B + 1))
        cc[:, 1:] = np.cumsum(np.bincount(idx.ravel(), minlength=C * B).reshape(C, B), axis=1)  # in int64: faster
        return cc, start, w, np.maximum(np.abs(lo), np.abs(hi))

    @property
    def _tab(self) -> tuple:
        """(cc, cs, start, width, spread): cumulative counts and sums (C, B+1) of the histogram density."""
        if self._table is None:
            cc, start, w, spread = self._count()
            self._table = (cc, _sums(cc, start, w), start, w, spread)
        return self._table

    @property
    def spread(self) -> np.ndarray:
        return self._tab[4]

    def magnitudes(self) -> HistRows:
        """The rows of ``|z|`` (from the data, on their own grid), built once."""
        if self._magnitudes is None:
            if self._source is None or self._source[2]:
                raise ValueError("these rows are already magnitudes (or pooled): no data to take |z| of")
            rows, scale, _, amax, _ = self._source
            self._magnitudes = HistRows.of(rows, scale, self.e2, absolute=True, bins=self.bins, amax=amax)
        return self._magnitudes

    def pooled(self) -> HistRows:
        """All rows as ONE row: the sum of the histograms (one grid, so exact)."""
        cc, cs, start, w, spread = self._tab
        return HistRows(1, [self.e2.sum()], self.bins,
                        table=(cc.sum(axis=0, keepdims=True), cs.sum(axis=0, keepdims=True), start, w, spread.max(keepdims=True)))

    def pooled_magnitudes(self) -> HistRows:
        """``magnitudes().pooled()``; if the signed table is built and |z| is not, the pooled signed density
        folded at 0 (a bin edge, so the fold is exact) instead of a new pass over the data."""
        if self._magnitudes is not None or self._table is None:
            return self.magnitudes().pooled()
        cc, _, start, w, spread = self._table
        n = np.diff(cc.sum(axis=0))
        neg = int(round(-start / w))
        L = max(neg, n.size - neg)
        fold = np.zeros(L)
        fold[:neg] += n[:neg][::-1]
        fold[: n.size - neg] += n[neg:]
        fc = np.zeros((1, L + 1))
        np.cumsum(fold, out=fc[0, 1:])
        return HistRows(1, [self.e2.sum()], L, table=(fc, _sums(fc, 0.0, w), 0.0, w, spread.max(keepdims=True)))

    def _counts(self) -> np.ndarray:
        """The bins' counts, flat (C (B+1),) beside the flat tables (0 in each row's last slot), built once."""
        if self._bin_counts is None:
            cc = self._tab[0]
            n = np.zeros_like(cc)
            np.subtract(cc[:, 1:], cc[:, :-1], out=n[:, :-1])
            self._bin_counts = n.ravel()
        return self._bin_counts

    def below(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count, sum) of the histogram density below each threshold ``t`` (R, m, k) of rows ``rows`` (R,).

        A threshold at bin coordinate ``u = i + f`` (bin ``i``, fraction ``f``, clipped to the grid) takes
        ``f n_i`` of the bin's count and ``f n_i (e_i + f w / 2)`` as its sum, ``e_i + f w / 2`` being the
        centre of the part of the bin below it.  ``t`` (1, m, k): the same thresholds for every row (one grid
        for all rows, so their bins and fractions are computed once; the same numbers)."""
        B = self.bins
        cc, cs, start, width, _ = self._tab
        u = np.subtract(t, start)
        u *= 1.0 / width
        np.clip(u, 0.0, B, out=u)
        j = u.astype(np.intp)
        np.minimum(j, B - 1, out=j)
        f = u - j
        j = j + (B + 1) * rows[:, None, None]
        c = cc.ravel().take(j)
        fn = self._counts().take(j)
        fn *= f
        c += fn
        f *= -0.5  # u - f / 2 = i + f / 2: the centre of the part below, in bins
        u += f
        u *= width
        u += start
        u = np.multiply(u, fn, out=fn)
        u += cs.ravel().take(j)
        return c, u

    def density(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The histogram density (counts per unit) at thresholds ``t`` (R, k) of rows ``rows`` (R,)."""
        B = self.bins
        cc, _, start, width, _ = self._tab
        i = np.clip(((t - start) * (1.0 / width)).astype(np.intp), 0, B - 1)
        j = i + (B + 1) * rows[:, None]
        ccf = cc.ravel()
        inside = (t >= start) & (t < start + B * width)
        return np.where(inside, (ccf[j + 1] - ccf[j]) / width, 0.0)

    def cell_sums(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, M1), each (R, m, k+1): the counts and sums of the cells ``[t_{j-1}, t_j)`` under the histogram density."""
        R, m, k = t.shape
        cc, cs = self._tab[:2]
        P, M = np.empty((R, m, k + 2)), np.empty((R, m, k + 2))
        P[..., 0] = M[..., 0] = 0.0
        P[..., 1:-1], M[..., 1:-1] = self.below(t, rows)
        P[..., -1] = cc[rows, -1][:, None]
        M[..., -1] = cs[rows, -1][:, None]
        return np.diff(P, axis=2), np.diff(M, axis=2)

    def rho(self, levels: np.ndarray, rows: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """(R, m) rho of each row for m candidate quantizers ``levels`` (R, m, K), as :meth:`_Rows.rho` from the
        sums below the thresholds: ``sum_k c_k M1_k = c_last M1_total + sum_j (c_j - c_{j+1}) S(t_j)`` (and so for
        ``c^2`` and the counts), without forming the cells.  ``levels`` (1, m, K): the same candidates for every
        row (:attr:`shared_candidates`), with the same results as repeated."""
        t = midpoints(levels) if thresholds is None else np.asarray(thresholds, dtype=np.float64)  # below() does not write t
        Pb, Sb = self.below(t, rows)
        cc, cs = self._tab[:2]
        last = levels[..., -1]
        d = levels[..., :-1] - levels[..., 1:]
        ewq = np.vecdot(d, Sb)
        ewq += last * cs[rows, -1][:, None]
        d *= levels[..., :-1] + levels[..., 1:]  # c_j^2 - c_{j+1}^2
        eq2 = np.vecdot(d, Pb)
        eq2 += last * last * cc[rows, -1][:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ewq / np.sqrt(self.e2[rows, None] * eq2)
        return np.where(eq2 > 0, out, 0.0)


__all__ = ["BINS", "HistRows", "zero_edge_grid"]
