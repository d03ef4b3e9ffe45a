"""The affine grid of maximum rho: K equally spaced levels with a free origin and a free step per group.

``Recipe("affine", bits)`` quantizes each group (tensor, channel or group of weights) to
``q = a + b k``, k = 0..K-1, the grid that the asymmetric toolkits store (one scale and one
zero point per group), but with ``a`` and ``b`` chosen for maximum correlation instead of by
the group's minimum and maximum.

Why it is rho's answer: for a fixed assignment of codes ``k_i``, the quantized weights lie in
the plane spanned by ``1`` and ``k``; rho is a cosine and does not depend on scale, so the
best point of that plane is the orthogonal projection of ``w`` on it, the least-squares line
``w ~ a + b k`` (then ``E[w q] = E[q^2]`` and ``rho = |q| / |w|``).  For a fixed grid the
nearest level gives each weight its smallest error, so ``|w - q|^2 = |w|^2 (1 - rho^2)`` can
only fall and rho only rise when the two steps alternate (Lloyd's argument, S. Lloyd 1982,
with the levels tied to a line).  The iteration starts from the toolkit min-max grid (the
asymmetric round-to-nearest of PyTorch's MinMaxObserver, zero included) and from clipped
ranges ``mean +- c sd``; the best end point is kept, so every group's rho is at least min-max's
and outliers are clipped where that raises rho (the robust range, found by rho, not by a
percentile).  For a symmetric density it tends to the rho-optimal uniform quantizer
(Pushkareva & Karandashev, OMNN 29:179, 2020), which tests/test_deepnets_options.py checks
by Monte Carlo against the closed form.

The gain (:data:`theory.GAINS`): ``"mse"`` keeps the least-squares line.  ``"unbiased"``
scales the levels about the group mean ``m`` so that ``E[(w - m)(q - m)] = E[(w - m)^2]``:
the mean of the quantized group stays exactly ``m`` (a least-squares line with an intercept
keeps the mean) and the fluctuation about it keeps unit regression slope.  That is the rule
for a layer followed by BatchNorm or a bias: with inputs of mean ``E[x]`` (after a ReLU, not
zero) the channel's output mean ``sum_i w_i E[x_i]`` is what BatchNorm's running mean
subtracts, so a gain about 0 (``E[w q] = E[w^2]``) would move it by ``(g - 1) m sum E[x]``; a
gain about the mean does not.  Thresholds (the midpoints of the least-squares levels) and
codes are the same for both rules, as for the offset recipes (:class:`theory.Recipe`).
"""

from __future__ import annotations

import numpy as np

from ._search import midpoints, strictly_increasing
from .correlation import gain_factor

#: Clipped starting ranges ``mean +- c * sd`` (besides the min-max grid and the full range).
CLIP_STARTS = (1.0, 1.5, 2.0, 2.5, 3.0)
#: Groups of at most this many weights (depthwise 3x3 convolutions have 9) also start from
#: each clipped grid shifted by these fractions of its step: their rho has many local maxima.
SMALL_GROUP = 64
SMALL_SHIFTS = (0.0, -0.5, -0.25, 0.25, 0.5)
#: At most this many alternations per start (each never lowers rho; on the 4-bit per-channel rows
#: of a ResNet-50 a start takes 25 to 60 on average, and a few reach the cap).
MAX_ITER = 200
#: Entries (slots x row length) of each working array of the refinement: 1 MiB of float64, so that
#: the five arrays stay in the cache instead of sweeping a whole layer times the starts.
BLOCK = 1 << 17


def _assign(rows: np.ndarray, a: np.ndarray, b: np.ndarray, K: int) -> np.ndarray:
    return np.clip(np.round((rows - a[:, None]) / b[:, None]), 0, K - 1)


def _refine(rows: np.ndarray, a0: np.ndarray, b0: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alternate nearest-level codes and the least-squares line from each start; (a, b, |q|^2 / |w|^2 = rho^2).

    ``rows`` is (G, m); start ``s`` of row ``g`` is entry ``s * G + g`` of ``a0``, ``b0`` and of the results.
    A start is all that its iteration depends on besides its row, so starts equal bit for bit on one
    row (the clipped ranges of a small group often reach its full range) are iterated once and share
    the result.
    """
    rows = np.ascontiguousarray(rows)  # row sums in the pairwise order of a C-ordered row, as the tiled copy had
    G, N = rows.shape[0], a0.size
    S = N // max(G, 1)
    ab = np.ascontiguousarray(a0).view(np.int64).reshape(S, G)
    bb = np.ascontiguousarray(b0).view(np.int64).reshape(S, G)
    root = np.repeat(np.arange(S), G).reshape(S, G)  # the first start equal to each, bit for bit
    for k in range(1, S):
        eq = (ab[:k] == ab[k]) & (bb[:k] == bb[k])
        root[k] = np.where(eq.any(axis=0), np.argmax(eq, axis=0), k)
    item = (root * G + np.arange(G)).ravel()
    first = np.flatnonzero(item == np.arange(N))
    if first.size == N:
        return _refine_pairs(rows, np.arange(N) % max(G, 1), a0, b0, K)
    a, b, r2 = np.empty(N), np.empty(N), np.empty(N)
    a[first], b[first], r2[first] = _refine_pairs(rows, first % G, a0[first], b0[first], K)
    return a[item], b[item], r2[item]


def _refine_pairs(rows: np.ndarray, row_of: np.ndarray, a0: np.ndarray, b0: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_refine` of the pairs (row ``row_of[i]`` of the C-ordered ``rows``, start ``a0[i]``, ``b0[i]``).

    Every (start, row) pair is its own iteration: the pairs run in ``R = BLOCK // m`` slots of
    cache-sized working arrays, and a slot whose pair has finished takes the next pair (no
    whole-layer arrays, no copies of an active set).  The numbers are the ones of the plain
    iteration over all pairs at once (tests/test_theory_affine_blocked.py keeps that version and
    compares bit for bit): every operation is elementwise or a sum along a contiguous row
    (numpy's pairwise summation of that row alone), so a pair does not see its neighbours.  A pair
    stops when its codes no longer change; that is detected one step late or on time, without
    comparing codes, as a line (a, b) equal bit for bit to the one before: equal lines give equal
    codes, equal codes give the same line again (a function of the codes; or the old one kept), so
    the line and codes that stop are the same.  A pair still moving after MAX_ITER lines stops
    there, as before.
    """
    m = rows.shape[1]
    N = a0.size
    wb = rows.mean(axis=1)
    e2 = np.sum(rows * rows, axis=1)
    a_out, b_out, r2_out = np.empty(N), np.empty(N), np.empty(N)
    if N == 0:  # no rows
        return a_out, b_out, r2_out
    R = max(1, min(N, BLOCK // m))
    W, WC, C, T, U = (np.empty((R, m)) for _ in range(5))  # weights, centred weights, codes, scratch
    a, b = np.empty(R), np.empty(R)
    steps, item = np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64)

    def load(slots: np.ndarray, items: np.ndarray) -> None:
        g = row_of[items]
        W[slots] = rows[g]
        WC[slots] = rows[g] - wb[g, None]
        C[slots] = _assign(rows[g], a0[items], b0[items], K)
        a[slots], b[slots], steps[slots], item[slots] = a0[items], b0[items], 0, items

    n = nxt = R
    load(np.arange(R), np.arange(R))
    while n:
        Wv, Cv, Tv, Uv, av, bv = W[:n], C[:n], T[:n], U[:n], a[:n], b[:n]
        kb = np.add.reduce(Cv, axis=1) / m  # = Cv.mean(axis=1): a sum of small integers is exact
        np.subtract(Cv, kb[:, None], out=Tv)
        ck = np.add.reduce(np.multiply(Tv, WC[:n], out=Uv), axis=1)
        vk = np.add.reduce(np.multiply(Tv, Tv, out=Uv), axis=1)
        ok = (vk > 0) & (ck > 0)  # a line needs two distinct codes and a positive slope; else keep the grid
        nb = np.where(ok, ck / np.where(ok, vk, 1.0), bv)
        na = np.where(ok, wb[row_of[item[:n]]] - nb * kb, av)
        same = (na.view(np.int64) == av.view(np.int64)) & (nb.view(np.int64) == bv.view(np.int64))
        av[:], bv[:] = na, nb
        np.subtract(Wv, av[:, None], out=Cv)  # the nearest level, as _assign, in place
        np.divide(Cv, bv[:, None], out=Cv)
        np.rint(Cv, out=Cv)  # np.round with no decimals is rint (half to even)
        np.clip(Cv, 0, K - 1, out=Cv)
        steps[:n] += 1
        fin = np.flatnonzero(same | (steps[:n] >= MAX_ITER))
        if fin.size == 0:
            continue
        done = item[fin]
        q = av[fin, None] + bv[fin, None] * Cv[fin]
        err = np.sum((Wv[fin] - q) ** 2, axis=1)
        e = e2[row_of[done]]
        r2_out[done] = np.where(e > 0, 1.0 - err / np.where(e > 0, e, 1.0), 0.0)
        a_out[done], b_out[done] = av[fin], bv[fin]
        k = min(fin.size, N - nxt)  # finished slots take the next pairs ...
        if k:
            load(fin[:k], np.arange(nxt, nxt + k))
            nxt += k
        if k < fin.size:  # ... and once none is left, the last live slots fill the holes
            holes = fin[k:]
            live = np.ones(n, dtype=bool)
            live[holes] = False
            n -= holes.size
            src, dst = np.flatnonzero(live[n:]) + n, holes[holes < n]
            for arr in (W, WC, C, a, b, steps, item):
                arr[dst] = arr[src]
    return a_out, b_out, r2_out


def _minmax_grid(rows: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Origin and step of the toolkit min-max grid (zero included, integer zero point)."""
    lo = np.minimum(rows.min(axis=1), 0.0)
    hi = np.maximum(rows.max(axis=1), 0.0)
    step = np.where(hi > lo, (hi - lo) / (K - 1), 1.0)
    zp = np.clip(np.round(-lo / step), 0, K - 1)
    return -zp * step, step


def _starts(rows: np.ndarray, K: int, lo: np.ndarray, hi: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> list:
    """The starting grids (origin, step) of every row: min-max, the full range, ``mean +- c sd`` (shifted for small groups)."""
    starts = [_minmax_grid(rows, K), (lo, (hi - lo) / (K - 1))]
    shifts = SMALL_SHIFTS if rows.shape[1] <= SMALL_GROUP else (0.0,)
    for c in CLIP_STARTS:
        half = np.minimum(c * sd, 0.5 * (hi - lo))
        step = 2.0 * half / (K - 1)
        starts += [(mu - half + s * step, step) for s in shifts]
    return starts


def affine_rows(rows: np.ndarray, K: int, gain: str = "mse") -> tuple[np.ndarray, np.ndarray]:
    """(thresholds (G, K-1), levels (G, K)) of the maximum-rho affine grid of each row of ``rows`` (G, m).

    A constant row ``c`` gets the grid ``c + s k`` with a tiny step ``s = 1e-6 max(|c|, 1e-14)``,
    so ``q(c) = c`` exactly.
    """
    rows = np.asarray(rows, dtype=np.float64)
    const = ~(rows.max(axis=1) > rows.min(axis=1))
    if np.any(const):
        t, lv = np.empty((rows.shape[0], K - 1)), np.empty((rows.shape[0], K))
        c = rows[const, 0]
        lv[const] = c[:, None] + 1e-6 * np.maximum(np.abs(c), 1e-14)[:, None] * np.arange(K)
        t[const] = midpoints(lv[const])
        if not np.all(const):
            t[~const], lv[~const] = affine_rows(rows[~const], K, gain)
        return t, lv
    G, m = rows.shape
    lo, hi = rows.min(axis=1), rows.max(axis=1)
    starts = _starts(rows, K, lo, hi, rows.mean(axis=1), rows.std(axis=1))
    S = len(starts)
    a0 = np.concatenate([a for a, _ in starts])
    b0 = np.concatenate([b for _, b in starts])
    b0 = np.where(b0 > 0, b0, np.tile((hi - lo) / (K - 1), S))
    a, b, r2 = _refine(rows, a0, b0, K)  # every start of every row
    pick = np.argmax(r2.reshape(S, G), axis=0) * G + np.arange(G)  # the first best start wins ties
    a, b = a[pick], b[pick]
    lv = a[:, None] + b[:, None] * np.arange(K)
    t = midpoints(lv)
    if gain != "mse":  # about the group mean (module docstring)
        m = rows.mean(axis=1, keepdims=True)
        codes = np.clip(np.round((rows - a[:, None]) / b[:, None]), 0, K - 1).astype(np.int64)
        qc = np.take_along_axis(lv, codes, axis=1) - m
        wc = rows - m
        g = np.asarray(gain_factor(gain, np.sum(wc * wc, axis=1), np.sum(wc * qc, axis=1), np.sum(qc * qc, axis=1)))
        lv = m + g[:, None] * (lv - m)
    return t, strictly_increasing(lv)


def affine_hist_rows(rows: np.ndarray, K: int, gain: str = "mse", max_iter: int = MAX_ITER,
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
    from ._hist import HistRows

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
    fa, fb = a.copy(), b.copy()  # each pair's plain least-squares line: where a failed push falls back to
    # the live pairs' state, compacted (flat pair index p = row * S + start); a pair that stops leaves it
    p = np.flatnonzero(first == np.arange(S))
    r = p // S
    ar, br = a.ravel()[p], b.ravel()[p]
    pa, pb, best, om = ar.copy(), br.copy(), np.full(p.size, -np.inf), np.ones(p.size)
    faf, fbf = fa.ravel(), fb.ravel()  # views: the stopped pairs' lines are written into fa, fb
    w1, ones = 2 * k[:-1] + 1, np.ones(K - 1)
    for _ in range(max_iter):
        if p.size == 0:
            break
        Cb, Sb = h.below((ar[:, None] + br[:, None] * (k[:-1] + 0.5))[:, None, :], r)  # below each threshold
        Cb, Sb = Cb[:, 0], Sb[:, 0]
        # the cells' sums by parts: sum_k k P_k = (K-1) n - sum_j C(t_j), sum_k k^2 P_k = (K-1)^2 n - sum_j (2j+1) C(t_j)
        Sk, Skk = (K - 1) * n - Cb @ ones, (K - 1) ** 2 * n - Cb @ w1  # (matrix-vector products: fast row sums)
        Sw = tot[r]
        Skw = (K - 1) * Sw - Sb @ ones
        var, cov = n * Skk - Sk * Sk, n * Skw - Sk * Sw
        ok = (var > 0) & (cov > 0)
        nb = np.where(ok, cov / np.where(ok, var, 1.0), br)
        na = np.where(ok, (Sw - nb * Sk) / n, ar)
        energy = na * Sw + nb * Skw
        up = energy > best
        pushed = om > 1
        stop = up & ~pushed & (energy - best <= gain_tol * h.e2[r]) | ~up & ~pushed
        # improved: keep the line, push further; a failed push: back to the plain line, omega 1
        om = np.where(up, np.minimum(2 * om, 64.0), 1.0)
        nxt_a = np.where(up, na + (om - 1) * (na - ar), pa)
        nxt_b = np.where(up, nb + (om - 1) * (nb - br), pb)
        bad = ~(nxt_b > 0)
        ar, br, om = np.where(bad, na, nxt_a), np.where(bad, nb, nxt_b), np.where(bad, 1.0, om)
        pa, pb, best = np.where(up, na, pa), np.where(up, nb, pb), np.where(up, energy, best)
        if stop.any():
            faf[p[stop]], fbf[p[stop]] = pa[stop], pb[stop]
            keep = ~stop
            p, r, ar, br, pa, pb, best, om = (v[keep] for v in (p, r, ar, br, pa, pb, best, om))
    faf[p], fbf[p] = pa, pb
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


__all__ = ["affine_rows", "affine_hist_rows", "CLIP_STARTS", "SMALL_GROUP", "SMALL_SHIFTS", "MAX_ITER"]
