"""Array helpers of :func:`deepnets.quantize.quantize` and :mod:`deepnets.codebook` that only need numpy (checked
weights, float64 layer sums, the min-max codes by arithmetic checked against the cells with exact fallbacks, the
closed-form factoring of min-max level tables and the closeness checks of stored tables)."""

from __future__ import annotations

from typing import Any

import numpy as np

from theory._encode import RowEncoder
from theory.fitting import check_data


def _finite_array(w: Any) -> np.ndarray:
    """``w`` as a float32 or float64 numpy array (float32 kept as it is; no copy), checked finite and non-empty."""
    arr = np.asarray(w)
    if arr.dtype not in (np.float32, np.float64) or arr.size == 0 or not np.isfinite(arr).all():
        arr = check_data("w", w)  # the one error message for bad data; other dtypes become float64
    return arr


def _moments(w: np.ndarray, q: np.ndarray) -> tuple[float, float, float, float]:
    """(sum w^2, sum w q, sum q^2, sum (w - q)^2) in float64 (exact products of float32), in cache-sized blocks."""
    a, b = w.reshape(-1), q.reshape(-1)
    n = a.size
    step = min(n, 8192)  # BLAS dot runs on one thread below 10,000 entries (threads thrash on a shared machine)
    x, y = np.empty(step), np.empty(step)
    ww = wq = qq = ee = 0.0
    dot = np.dot
    for i in range(0, n, step):
        j = min(n, i + step) - i
        xj, yj = x[:j], y[:j]
        np.copyto(xj, a[i : i + j])
        np.copyto(yj, b[i : i + j])
        ww += dot(xj, xj)
        wq += dot(xj, yj)
        qq += dot(yj, yj)
        np.subtract(xj, yj, out=xj)
        ee += dot(xj, xj)
    return float(ww), float(wq), float(qq), float(ee)


def _lstsq_columns(A: np.ndarray, Y: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``np.linalg.lstsq(A, Y)[0]``, column block by column block (the same numbers: each column is its own
    problem), so that OpenBLAS stays on one thread (its threads thrash on a shared machine: 100x slower)."""
    out = np.empty((A.shape[1], Y.shape[1]))
    for c in range(0, Y.shape[1], chunk):
        out[:, c : c + chunk] = np.linalg.lstsq(A, Y[:, c : c + chunk], rcond=None)[0]
    return out


def _about_centre(t64: np.ndarray, mids: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(ratio, centre) with ``t = centre + ratio * (mids - centre)`` by least squares per row (None if K - 1 < 2)."""
    if t64.shape[1] < 2:
        return None, None
    mm, tm = mids.mean(axis=1), t64.mean(axis=1)
    dm = mids - mm[:, None]
    ratio = np.sum(dm * (t64 - tm[:, None]), axis=1) / np.maximum(np.sum(dm * dm, axis=1), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(np.abs(1 - ratio) > 1e-12, (tm - ratio * mm) / (1 - ratio), mm)
    return ratio, centre


def _increasing(M: np.ndarray) -> bool:
    """Every row strictly increasing (``np.all(np.diff(M, axis=1) > 0)``: the same truth for any floats)."""
    return bool(np.all(M[:, 1:] > M[:, :-1]))


def _close(v: np.ndarray, M: np.ndarray, rel: float, amax: np.ndarray | None = None) -> bool:
    """float32 rows ``v`` within ``rel`` of each float64 row's largest |entry| of ``M`` (``amax`` if already
    computed), finite, in the same order."""
    amax = np.max(np.abs(M), axis=1) if amax is None else amax
    ok = bool(np.all(np.isfinite(v)) and np.all(np.abs(v - M) <= rel * amax[:, None]))
    return ok and (not _increasing(M) or _increasing(v))


def _integer_shifts(unit: np.ndarray, M: np.ndarray, amax: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(a, shift)`` (C,) with ``M[c] = a[c] * (unit + shift[c])`` to float64 rounding, integer shifts and the
    integer row ``unit`` (min-max grids), by the closed-form least squares; None unless that certainly gives the
    float32 ``a`` and the rounded shifts of :meth:`deepnets.codebook.Table._affine`'s ``np.linalg.lstsq`` (rows affine to 1e-13,
    shifts within 1e-9 of integers, every ``a`` further than 1e-12 of it from a float32 rounding boundary: both
    solutions agree to about 1e-15, 2e-15 measured at 1..8 bits).
    """
    du = unit - unit.mean()
    a = (M @ du) / (du @ du)
    b = np.mean(M, axis=1) - a * unit.mean()
    if not np.all(a > 0):
        return None
    shift = b / a
    r = np.round(shift)
    if not np.all(np.abs(shift - r) <= 1e-9):
        return None
    fit = a[:, None] * (unit[None, :] + r[:, None])
    fit -= M
    np.abs(fit, out=fit)
    if not np.all(fit <= 1e-13 * amax[:, None]):  # ``amax``: max |M| of each row
        return None
    a32 = a.astype(np.float32)
    up, down = (np.nextafter(a32, np.float32(d)).astype(np.float64) for d in (np.inf, -np.inf))
    a32 = a32.astype(np.float64)
    gap = np.minimum(np.abs(a - 0.5 * (a32 + up)), np.abs(a - 0.5 * (a32 + down)))  # to the rounding boundaries
    if not np.all(gap > 1e-12 * a):
        return None
    return a, r


def _cell_margin(thresholds: np.ndarray, levels32: np.ndarray) -> np.ndarray:
    """(G,) float64 ``d`` with ``|x - L[g, c]| < d  =>  t[g, c-1] <= x < t[g, c]`` for every code ``c`` of row ``g``.

    ``thresholds`` (G, K-1) float64 define the codes (``#{j : t[g, j] <= x}``), ``levels32`` (G, K) are the
    decoded float32 levels.  ``d`` is the smallest distance from a level to the edges of its own cell,
    shrunk by 1e-12 for the rounding of the float64 differences; 0 where a level is not inside its cell.
    """
    t, L = thresholds, levels32.astype(np.float64)
    d = np.minimum(np.min(L[:, 1:] - t, axis=1), np.min(t - L[:, :-1], axis=1)) * (1 - 1e-12)
    return np.where(d > 0, d, 0.0)


def uniform_guess(thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """float32 ``(inv, off)`` (G,) with ``floor(x * inv + off)`` (clipped to 0..K-1) the code of ``x`` away from the
    thresholds, when every row's thresholds (G, K-1) are equally spaced to 1e-3 of a step (min-max), else None."""
    G, k = thresholds.shape
    if k < 2:
        return None
    t0 = thresholds[:, 0]
    s = (thresholds[:, -1] - t0) / (k - 1)
    with np.errstate(all="ignore"):
        dev = np.max(np.abs(thresholds - (t0[:, None] + s[:, None] * np.arange(k))), axis=1)
        inv = (1.0 / s).astype(np.float32)
        off = (1.0 - t0 / s).astype(np.float32)
    if not (np.all(s > 0) and np.all(np.isfinite(inv)) and np.all(inv > 0) and np.all(np.isfinite(off))
            and np.all(dev <= 1e-3 * s) and np.all(np.abs(off) < 2.0**20)):
        return None
    return inv, off


def _encode_exact(x: np.ndarray, thresholds: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``#{j : thresholds[g, j] <= x[g, i]}`` compared in float64 (the exact encoder's codes) for a few rows (R, m):
    :func:`numpy.searchsorted` row by row up to 8 rows (a lookup table costs more to build), else
    :class:`theory._encode.RowEncoder`."""
    if x.shape[0] > 8:
        return RowEncoder(thresholds, x.dtype, dtype).encode(x, 0, np.empty(x.shape, dtype))
    return np.stack([np.searchsorted(t, r.astype(np.float64), side="right") for t, r in zip(thresholds, x, strict=True)]
                    ).astype(dtype)


def _redo_rows(x: np.ndarray, q: np.ndarray, codes: np.ndarray, g0: int, rows: np.ndarray, thresholds: np.ndarray,
               levels32: np.ndarray, cell: np.ndarray) -> None:
    """Rows ``rows`` of a block (rows ``g0 ..`` of the layer: weights ``x``, guessed ``codes`` and decoded ``q``) whose
    guessed codes the cell margin did not prove right in :func:`guess_and_check`, made exact where they are not.

    A row whose ``clip(x, L[0], L[K-1]) - q`` is within the row's cell margin ``cell`` everywhere has the
    right codes (a weight beyond an end level is in that end level's cell, and each level is inside its
    own cell: the clipped tails of max-rho grids); the other rows are encoded again by
    :func:`_encode_exact` (``#{j : t[g, j] <= x}`` in float64: the exact encoder's codes) and
    decoded into ``codes`` and ``q`` by a lookup in ``levels32`` (the table's values, which its decoder gives
    bit for bit).
    """
    g = g0 + rows
    xr, lv = x[rows], levels32[g]
    e = np.clip(xr, lv[:, :1], lv[:, -1:], out=xr)  # xr: a copy (fancy indexing)
    e -= q[rows]
    mg = cell[g]
    r = rows[(np.maximum.reduce(e, axis=1) >= mg) | (np.minimum.reduce(e, axis=1) <= -mg)]
    if r.size:
        cr = _encode_exact(x[r], thresholds[g0 + r], codes.dtype)
        codes[r] = cr
        K = levels32.shape[1]
        idx = cr.astype(np.intp)
        idx += K * (g0 + r)[:, None]
        q[r] = levels32.ravel().take(idx)  # the decoded values: the decoder's bits (Table.decoder)


def guess_and_check(rows: np.ndarray, thresholds: np.ndarray, table, dec, codes: np.ndarray,
                    deq: np.ndarray, levels: np.ndarray | None = None) -> tuple[float, float, float, float] | None:
    """Codes, decoded weights and :func:`_moments` of float32 rows (G, m) of a min-max layer, block by block of rows.

    ``thresholds`` (G, K-1) float64 define the codes, ``table`` is the stored level table
    (:class:`deepnets.codebook.Table`) and ``dec`` its decoder.  Each block's codes are guessed by
    ``floor(x * inv + off)`` (:func:`uniform_guess`) and decoded by the affine float32 arithmetic of
    the table (``((code + u0) + shift) * scale``, :meth:`deepnets.codebook.Table.affine_factors`).  A
    block where every ``|x - q| < margin`` (:func:`_cell_margin`, and half the smallest nonzero level,
    so that the float32 ``x - q`` is exact) has the right codes and its sums are the float64 sums of
    exact products.  In any other block, the rows whose codes the cell margin does not prove right are
    checked again with their weights clipped to the end levels and, where that fails too, encoded
    exactly (:func:`_redo_rows`, :func:`_encode_exact`: the float64 comparisons with the thresholds);
    where that is most rows (the clipped tails of max-rho grids), the whole block is encoded by the
    layer's :class:`theory._encode.RowEncoder`, and so are the next blocks first (a block whose exact
    codes all pass the margin goes back to the guess, which decides how its sums are taken); the sums
    of these blocks are those of :func:`_moments`.  So codes and weights are always the exact ones, and
    which blocks take which sums does not depend on the fallbacks.
    None (nothing written) where the guess does not apply: other tables, non-uniform thresholds,
    float64 rows, rows longer than 8192.  ``levels``: the float64 values of the table's float32 levels
    (``Quantizer.levels``), if already computed.
    """
    factors = table.affine_factors() if rows.dtype == np.float32 else None
    guess = uniform_guess(thresholds) if factors is not None else None
    G, m = rows.shape
    if guess is None or m > 8192:  # row sums by BLAS dot on one thread (OpenBLAS threads from 10,000 entries thrash)
        return None
    K = thresholds.shape[1] + 1
    L = table.values().astype(np.float64) if levels is None else levels
    L32 = L.astype(np.float32)
    # |x - q| < half the smallest nonzero |level| too: then x lies in [q/2, 2q] (or q = 0), so x - q is exact in
    # float32 (Sterbenz's lemma); and 2**-22 covers the rounding of the float32 difference that is compared
    half = 0.5 * np.min(np.where(L != 0, np.abs(L), np.inf), axis=1)
    cell = _cell_margin(thresholds, L) * (1 - 2.0**-22)
    margin = np.minimum(cell, half * (1 - 2.0**-22))
    inv, off = guess
    u0, shift, scale = factors
    f = np.float32
    lo, hi, top = f(0), f(K - 1), f(K)
    # ((code + u0) + shift) in one addition where no shift is stored, or where every term is an integer of float32
    # (min-max): the same values
    fused = bool(not np.any(shift) or (u0 == np.round(u0) and abs(u0) < 2**22 and K < 2**22
                                       and np.all(shift == np.round(shift)) and np.all(np.abs(shift) < 2**22)))
    c = (u0 + shift) if fused else shift
    step = max(1, (1 << 16) // m)  # blocks of ~64k entries, in cache
    n = min(step, G) * m
    y, x64, e64 = np.empty(n, f), np.empty(n), np.empty(n)
    acc = np.zeros(4)
    vecdot, maximum, minimum, add = np.vecdot, np.maximum, np.minimum, np.add
    enc, exact_first = None, False  # the layer's exact encoder (built once, when a block needs it for most rows)
    for g0 in range(0, G, step):
        g1 = min(G, g0 + step)
        R, j = g1 - g0, (g1 - g0) * m
        x, yb, q = rows[g0:g1], y[:j].reshape(R, m), deq[g0:g1]
        mg = margin[g0:g1]
        if exact_first:  # the guess failed most rows of the last block (max-rho grids): exact codes first
            dec(enc.encode(x, g0, codes[g0:g1], yb), g0, q)
            e = np.subtract(x, q, out=yb)
            if (maximum.reduce(e, axis=1) >= mg).any() or (minimum.reduce(e, axis=1) <= -mg).any():
                acc += _moments(x, q)  # the block the guess would have failed too (the exact codes fail already)
                continue
            exact_first = False  # every weight within the margin of its exact level: back to the guess, which decides
        np.multiply(x, inv[g0:g1, None], out=yb)
        yb += off[g0:g1, None]
        if minimum.reduce(yb, axis=None) < lo or maximum.reduce(yb, axis=None) >= top:  # rare: rounding at the ends
            np.clip(yb, lo, hi, out=yb)
        np.floor(yb, out=yb)
        np.copyto(codes[g0:g1], yb, casting="unsafe")
        if fused:
            add(yb, c[g0:g1, None], out=q)
        else:  # the decoder's float32 arithmetic on the same integer values
            add(yb, u0, out=q)
            q += c[g0:g1, None]
        q *= scale[g0:g1, None]
        e = np.subtract(x, q, out=yb)  # e = w - q, exact where the check passes
        emax, emin = maximum.reduce(e, axis=1), minimum.reduce(e, axis=1)
        if (emax >= mg).any() or (emin <= -mg).any():  # min-max: rare (a weight within rounding of a threshold)
            cg = cell[g0:g1]
            unproven = np.flatnonzero((emax >= cg) | (emin <= -cg))  # (max-rho grids: clipped tails)
            if 2 * unproven.size > R:  # most rows: the whole block encoded again, and the next ones first
                enc = RowEncoder(thresholds, x.dtype, codes.dtype) if enc is None else enc
                exact_first = True
                dec(enc.encode(x, g0, codes[g0:g1], yb), g0, q)
            elif unproven.size:
                _redo_rows(x, q, codes[g0:g1], g0, unproven, thresholds, L32, cell)
            acc += _moments(x, q)  # float64 differences: x - q need not be exact in float32 here
            continue
        xd, d = x64[:j].reshape(R, m), e64[:j].reshape(R, m)
        np.copyto(xd, x)
        np.copyto(d, e)
        ww, wd, dd = (add.reduce(vecdot(a, b)) for a, b in ((xd, xd), (xd, d), (d, d)))  # row by row: one BLAS dot each
        acc += (ww, ww - wd, ww - 2 * wd + dd, dd)  # sum w q = sum w (w - e), sum q^2 = sum (w - e)^2
    return tuple(float(v) for v in acc)
