"""Histogram-search speed-ups of 2026-12-02 (issue 13, item 6) against what they replaced.

- ``theory.affine.affine_hist_rows`` keeps its live (row, start) pairs in compact arrays that shrink as
  pairs stop, instead of indexing (rows, starts) tables with every pair's index on every alternation;
  its row sums are matrix-vector products.  The previous function is below, verbatim, and both must
  give the same lines (to rounding: the sums are taken in another order, which can move a pair's stop
  by one alternation of negligible gain) on every K, gain, row length and dtype, with constant and
  duplicate rows mixed in.
- ``theory._hist`` counts its cumulative tables in integers (the sums below each edge as
  ``start cc + (w/2) sum n_i (2i + 1)``) and reads a threshold's bin with one gather per table.
- ``exponential_grid(..., half=True)`` is the upper half of the full grid, bit for bit.
"""

import numpy as np
import pytest

import theory._search as S
from theory._hist import HistRows, _sums
from theory._search import midpoints, strictly_increasing
from theory.affine import MAX_ITER, _starts, affine_hist_rows
from theory.correlation import gain_factor


# ---- the reference: theory/affine.py's affine_hist_rows before the compaction, verbatim to the marker ----
def _previous_affine_hist_rows(rows: np.ndarray, K: int, gain: str = "mse", max_iter: int = MAX_ITER,
                     gain_tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`affine_rows` with the alternation run on histograms of the rows (``search="histogram"``).

    The same starts and the same two steps, written in cell sums (:class:`theory._hist.HistRows`,
    per row the piecewise-constant density of its histogram): for the cells of a line, the
    least-squares line through the codes ``k`` has slope ``(n S_kw - S_k S_w) / (n S_kk - S_k^2)``
    and passes through the means, with ``n = sum P_k``, ``S_k = sum k P_k``, ``S_kk = sum k^2 P_k``,
    ``S_w = sum M1_k``, ``S_kw = sum k M1_k``; its explained energy ``a S_w + b S_kw`` never falls, and
    a pair (row, start) stops when it gains less than ``gain_tol sum w^2`` or after ``max_iter``
    lines.  The alternation creeps along flat valleys, so each pair extrapolates: the next line is
    the least-squares one pushed ``omega - 1`` times its last move further; a pushed line whose cells
    explain more energy than the pair's best doubles ``omega`` (up to 64), one that does not is
    dropped for the plain least-squares line, with ``omega = 1`` (so the energy still never falls).
    The best start of each row by the histogram rho wins; the unbiased gain comes from the same
    cell sums.  None if a row is constant (:func:`affine_rows` handles those).
    """
    from theory._hist import HistRows

    x = np.asarray(rows)
    G, m = x.shape
    lo, hi = x.min(axis=1).astype(np.float64), x.max(axis=1).astype(np.float64)
    if not np.all(hi > lo):
        return None
    mu = np.mean(x, axis=1, dtype=np.float64)
    e2 = np.einsum("ij,ij->i", x, x, dtype=np.float64) if x.dtype == np.float64 else \
        np.einsum("ij,ij->i", x.astype(np.float64), x.astype(np.float64))
    sd = np.sqrt(np.maximum(e2 / m - mu * mu, 0.0))
    scale = np.maximum(np.sqrt(e2 / m), 1e-300)  # the histogram's unit: each row's RMS
    h = HistRows.of(x, scale, e2 / (scale * scale), bins=max(256, 16 * K))
    starts = _starts(x, K, lo, hi, mu, sd)
    S = len(starts)
    a = np.stack([s[0] for s in starts], axis=1) / scale[:, None]  # (G, S), unit of the histogram
    b = np.stack([s[1] for s in starts], axis=1) / scale[:, None]
    b = np.where(b > 0, b, ((hi - lo) / (K - 1) / scale)[:, None])
    k = np.arange(K, dtype=np.float64)
    n = float(m)
    tot = h._tab[1][:, -1]  # each row's sum under its histogram density
    best = np.full((G, S), -np.inf)
    first = np.tile(np.arange(S), (G, 1))  # equal starts of a row are iterated once (clipped ranges often coincide)
    for s1 in range(S - 1, 0, -1):
        for s0 in range(s1):
            eq = (a[:, s0] == a[:, s1]) & (b[:, s0] == b[:, s1])
            first[eq, s1] = s0
    active = first == np.arange(S)
    omega = np.ones((G, S))
    fa, fb = a.copy(), b.copy()  # each pair's plain least-squares line: where a failed push falls back to
    for _ in range(max_iter):
        r, s_ = np.nonzero(active)
        if r.size == 0:
            break
        ar, br = a[r, s_], b[r, s_]
        Cb, Sb = h.below((ar[:, None] + br[:, None] * (k[:-1] + 0.5))[:, None, :], r)  # below each threshold
        Cb, Sb = Cb[:, 0], Sb[:, 0]
        # the cells' sums by parts: sum_k k P_k = (K-1) n - sum_j C(t_j), sum_k k^2 P_k = (K-1)^2 n - sum_j (2j+1) C(t_j)
        Sk, Skk = (K - 1) * n - Cb.sum(axis=1), (K - 1) ** 2 * n - Cb @ (2 * k[:-1] + 1)
        Sw = tot[r]
        Skw = (K - 1) * Sw - Sb.sum(axis=1)
        var, cov = n * Skk - Sk * Sk, n * Skw - Sk * Sw
        ok = (var > 0) & (cov > 0)
        nb = np.where(ok, cov / np.where(ok, var, 1.0), br)
        na = np.where(ok, (Sw - nb * Sk) / n, ar)
        energy = na * Sw + nb * Skw
        up = energy > best[r, s_]
        om = omega[r, s_]
        pushed = om > 1
        stop = up & ~pushed & (energy - best[r, s_] <= gain_tol * h.e2[r]) | ~up & ~pushed
        # improved: keep the line, push further; a failed push: back to the plain line, omega 1
        om = np.where(up, np.minimum(2 * om, 64.0), 1.0)
        nxt_a = np.where(up, na + (om - 1) * (na - ar), fa[r, s_])
        nxt_b = np.where(up, nb + (om - 1) * (nb - br), fb[r, s_])
        bad = ~(nxt_b > 0)
        nxt_a, nxt_b, om = np.where(bad, na, nxt_a), np.where(bad, nb, nxt_b), np.where(bad, 1.0, om)
        fa[r[up], s_[up]], fb[r[up], s_[up]], best[r[up], s_[up]] = na[up], nb[up], energy[up]
        a[r, s_], b[r, s_], omega[r, s_] = nxt_a, nxt_b, om
        active[r[stop], s_[stop]] = False
    rows_i = np.arange(G)
    a, b = fa[rows_i[:, None], first], fb[rows_i[:, None], first]  # the best line of each pair (equal starts: the same)
    lv = a[:, :, None] + b[:, :, None] * k  # (G, S, K), each start's line, cells at its midpoints
    pick = np.argmax(h.rho(lv, rows_i), axis=1)  # the first best start wins ties
    av, bv = a[rows_i, pick], b[rows_i, pick]
    lv = av[:, None] + bv[:, None] * k
    if gain != "mse":  # about the group mean (module docstring), from the cell sums of the chosen grid
        P, M1 = h.cell_sums(midpoints(lv)[:, None, :], rows_i)
        P, M1 = P[:, 0], M1[:, 0]
        mz = mu / scale
        qc = lv - mz[:, None]
        g = np.asarray(gain_factor(gain, h.e2 - n * mz * mz, np.sum(qc * (M1 - mz[:, None] * P), axis=1),
                                   np.sum(qc * qc * P, axis=1)))
        lv = mz[:, None] + g[:, None] * qc
    lv = lv * scale[:, None]
    return midpoints(av[:, None] + bv[:, None] * k) * scale[:, None], strictly_increasing(lv)

# ---- end of the reference ----


def _rho(x, t, lv):
    x = x.astype(np.float64)
    codes = np.stack([np.searchsorted(t[i], x[i], side="right") for i in range(x.shape[0])])
    q = np.take_along_axis(lv, codes, axis=1)
    return np.sum(x * q, axis=1) / np.sqrt(np.sum(x * x, axis=1) * np.sum(q * q, axis=1))


def _rows(rng, kind, G, m, dtype):
    x = {"gauss": rng.standard_normal((G, m)), "laplace": rng.laplace(size=(G, m)),
         "skew": rng.gamma(2.0, size=(G, m)) - 1.0, "t2": rng.standard_t(2, (G, m))}[kind]
    x = x * rng.uniform(0.01, 3, (G, 1))
    return x.astype(dtype)


@pytest.mark.parametrize("K", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("gain", ["mse", "unbiased"])
@pytest.mark.parametrize("kind,m,dtype", [("gauss", 300, np.float32), ("laplace", 577, np.float64),
                                          ("skew", 90, np.float32), ("t2", 1152, np.float32)])
def test_compacted_affine_hist_rows_give_the_previous_lines(K, gain, kind, m, dtype):
    rng = np.random.default_rng(K * 7 + m)
    x = _rows(rng, kind, 40, m, dtype)
    x[3] = x[2]  # a duplicate row
    t_new, l_new = affine_hist_rows(x, K, gain)
    t_old, l_old = _previous_affine_hist_rows(x, K, gain)
    # the sums' rounding may move a pair's stop by an alternation (its gain then is below gain_tol): lines
    # within 1e-6 of the row's span, and rho of the real rows within 1e-9
    span = (x.max(axis=1) - x.min(axis=1)).astype(np.float64)[:, None]
    assert np.all(np.abs(t_new - t_old) <= 1e-6 * span) and np.all(np.abs(l_new - l_old) <= 1e-6 * span)
    np.testing.assert_allclose(_rho(x, t_new, l_new), _rho(x, t_old, l_old), rtol=0, atol=1e-9)
    x[5] = 1.0  # a constant row: both hand the layer to the exact search
    assert affine_hist_rows(x, K, gain) is None and _previous_affine_hist_rows(x, K, gain) is None


def test_compacted_affine_hist_rows_stopped_by_max_iter_give_the_previous_lines():
    rng = np.random.default_rng(5)
    x = _rows(rng, "t2", 30, 400, np.float32)
    for it in (1, 2, 5):
        t_new, l_new = affine_hist_rows(x, 8, "mse", max_iter=it)
        t_old, l_old = _previous_affine_hist_rows(x, 8, "mse", max_iter=it)
        np.testing.assert_allclose(l_new, l_old, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(t_new, t_old, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("start,w", [(0.0, 0.125), (-3.0, 0.0234375), (-1.7, 0.31)])
def test_integer_prefix_sums_are_the_float_cumulative_sums_of_bin_centres(start, w):
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 5000, (20, 256))
    counts[:, 100:110] = 0
    cc = np.zeros((20, 257))
    cc[:, 1:] = np.cumsum(counts, axis=1)
    centres = start + w * (np.arange(256) + 0.5)
    want = np.zeros_like(cc)
    want[:, 1:] = np.cumsum(counts * centres, axis=1)  # the float prefix sums they replaced
    scale = np.cumsum(counts * np.abs(centres), axis=1)[:, -1:]  # the size of the terms summed
    assert np.all(np.abs(_sums(cc, start, w) - want) <= 1e-13 * scale)


def test_below_reads_each_bin_as_its_piecewise_constant_density():
    """Count and sum below thresholds inside bins, on edges and outside the grid, by brute force on the density."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 2000)).astype(np.float32)
    scale = np.ones(6)
    h = HistRows.of(x, scale, np.sum(x.astype(np.float64) ** 2, axis=1), bins=64)
    cc, cs, start, w, _ = h._tab
    t = np.concatenate([rng.uniform(start - 1, start + 65 * w, (6, 40)), start + w * np.arange(0, 65, 8)[None].repeat(6, 0)],
                       axis=1)
    c, s = h.below(t[:, :, None], np.arange(6))
    n = np.diff(cc, axis=1)
    for r in range(6):
        for j, tj in enumerate(t[r]):
            u = min(max((tj - start) / w, 0.0), 64.0)
            i = min(int(u), 63)
            f = u - i
            lo = start + w * i
            want_c = cc[r, i] + f * n[r, i]
            want_s = cs[r, i] + f * n[r, i] * (lo + 0.5 * f * w)
            assert c[r, j, 0] == pytest.approx(want_c, rel=1e-12, abs=1e-9)
            assert s[r, j, 0] == pytest.approx(want_s, rel=1e-12, abs=1e-9 * (abs(start) + 64 * w) * 2000)


@pytest.mark.parametrize("K", [2, 3, 4, 7, 16, 33])
@pytest.mark.parametrize("products", [False, True])
def test_half_exponential_grid_is_the_upper_half_bit_for_bit(K, products):
    rng = np.random.default_rng(K)
    c, b = rng.uniform(0.01, 1, (9, 5)), rng.uniform(1.01, 3, (9, 5))
    full = S.exponential_grid(K, c, b, products=products)
    half = S.exponential_grid(K, c, b, products=products, half=True)
    assert half.shape == c.shape + (K - K // 2,)
    assert np.array_equal(half.view(np.uint64), full[..., K // 2:].view(np.uint64))
    one = S.exponential_grid(K, 0.3, 1.7, half=True)
    assert np.array_equal(one, S.exponential_grid(K, 0.3, 1.7)[K // 2:])
