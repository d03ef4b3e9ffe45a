"""Exact, fast encoding of many rows against per-row thresholds (a lookup table per row).

``encode_rows(rows, thresholds)`` returns ``#{j : thresholds[g, j] <= rows[g, i]}`` (the
float64 comparison of :func:`theory._backend.count_le` on ``rows.astype(float64)``), bitwise,
for float32 or float64 rows, at a cost that does not grow with K:

1. Each float64 threshold ``t`` becomes ``T``, the smallest value of the rows' dtype with
   ``T >= t``; for any ``x`` of that dtype, ``x >= t`` exactly when ``x >= T``.
2. A bin function per row, ``b(x) = trunc(clip((x - lo) * inv, 0, B - 1))`` in the rows'
   dtype, is monotone non-decreasing in ``x`` (each correctly rounded step is).  So a
   threshold whose bin is below ``b(x)`` is below ``x``, one whose bin is above is above,
   and only the few thresholds in ``x``'s own bin need a comparison:
   ``code(x) = lut[b(x)] + sum_c [x >= T_c(b(x))]``, where ``lut[b]`` counts the thresholds
   in lower bins and ``T_c(b)`` lists the thresholds in bin ``b`` (``+inf`` pads the list).

The bins of the thresholds are computed by the same array operations as those of the data,
so the argument holds for the computed (rounded) values, not only for exact arithmetic.
"""

from __future__ import annotations

import numpy as np

#: Elements per block of work (keeps the temporaries of a block in cache).
_BLOCK = 1 << 16


def ceil_to(t: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The smallest values of ``dtype`` that are >= the float64 values ``t``."""
    t = np.asarray(t, dtype=np.float64)
    if np.dtype(dtype) == np.float64:
        return t.copy()
    with np.errstate(over="ignore"):
        T = t.astype(dtype)
    low = T.astype(np.float64) < t
    if np.any(low):
        T[low] = np.nextafter(T[low], np.asarray(np.inf, dtype=dtype))
    return T


def _bins(x: np.ndarray, lo: np.ndarray, inv: np.ndarray, B: int, buf: np.ndarray | None = None) -> np.ndarray:
    """``trunc(clip((x - lo) * inv, 0, B - 1))`` row-wise, in ``x``'s dtype (the one bin function)."""
    y = np.subtract(x, lo[:, None], out=buf)
    np.multiply(y, inv[:, None], out=y)
    np.clip(y, 0, B - 1, out=y)
    return y.astype(np.intp)


def _table(T: np.ndarray, B: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(lo, inv, lut (G, B), in-bin thresholds (depth, G, B), depth) for per-row ceil thresholds ``T`` (G, k)."""
    G, k = T.shape
    dt = T.dtype.type
    lo = T[:, 0].copy()
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = (dt(B) / (T[:, -1] - lo)).astype(T.dtype)
    tb = _bins(T, lo, inv, B)  # (G, k), non-decreasing along each row
    rows = np.repeat(np.arange(G), k)
    flat = (tb + B * np.arange(G)[:, None]).ravel()
    count = np.bincount(flat, minlength=G * B).reshape(G, B)
    lut = np.zeros((G, B), dtype=np.int64)
    np.cumsum(count[:, :-1], axis=1, out=lut[:, 1:])
    depth = int(count.max())
    inbin = np.full((depth, G, B), np.inf, dtype=T.dtype)
    pos = np.arange(k)[None, :] - np.take_along_axis(lut, tb, axis=1)  # rank of each threshold within its bin
    inbin[pos.ravel(), rows, tb.ravel()] = T.ravel()
    return lo, inv, lut, inbin, depth


class RowEncoder:
    """The prepared lookup tables of :func:`encode_rows` for one (G, k) float64 threshold table and a row dtype.

    ``encode(x, g0, out)`` writes the codes of rows ``g0 .. g0 + len(x)`` (a block of the rows, so a
    caller can encode, decode and reduce block by block while the block is in cache).
    """

    def __init__(self, thresholds: np.ndarray, dtype: np.dtype, out_dtype: np.dtype = np.uint8):
        self.dtype, self.out_dtype = np.dtype(dtype), np.dtype(out_dtype)
        T = ceil_to(thresholds, self.dtype)
        self.T = T
        G, k = T.shape
        self.k = k
        self.direct = np.zeros(G, dtype=bool)
        if k == 1:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            span = T[:, -1] - T[:, 0]
            self.direct = ~(np.all(np.isfinite(T), axis=1) & np.isfinite(span) & (span > 0)
                            & np.isfinite(T.dtype.type(8 * k) / span))
        Tt = np.where(self.direct[:, None], np.linspace(0, 1, k, dtype=T.dtype)[None, :], T)  # rows done directly
        best = None
        for B in (k, 2 * k, 8 * k):  # the smallest in-bin depth, then the fewest bins
            tab = _table(Tt, B)
            if best is None or tab[4] < best[1][4]:
                best = (B, tab)
            if tab[4] <= 1:
                break
        self.B, (self.lo, self.inv, lut, inbin, self.depth) = best
        self.lut = lut.astype(self.out_dtype).ravel()
        self.inbin = inbin.reshape(self.depth, -1)

    def encode(self, x: np.ndarray, g0: int, out: np.ndarray, buf: np.ndarray | None = None) -> np.ndarray:
        """Codes of the rows ``x`` (R, m), which are rows ``g0 .. g0 + R`` of the table, into ``out`` (R, m)."""
        R = x.shape[0]
        if self.k == 1:
            return np.greater_equal(x, self.T[g0 : g0 + R], out=out, casting="unsafe")
        B = self.B
        with np.errstate(over="ignore", invalid="ignore"):
            b = _bins(x, self.lo[g0 : g0 + R], self.inv[g0 : g0 + R], B, buf)
        b += (B * np.arange(g0, g0 + R))[:, None]
        np.take(self.lut, b, out=out)
        for d in range(self.depth):
            out += x >= self.inbin[d].take(b)
        direct = self.direct[g0 : g0 + R]
        if np.any(direct):  # thresholds that overflow the dtype or collapse: plain comparisons
            xd, Td = x[direct], self.T[g0 : g0 + R][direct]
            out[direct] = sum((xd >= Td[:, j, None]).astype(self.out_dtype) for j in range(self.k))
        return out


def block_rows(m: int) -> int:
    """Rows per block of work for rows of length ``m``."""
    return max(1, _BLOCK // max(m, 1))


def encode_rows(rows: np.ndarray, thresholds: np.ndarray, out_dtype: np.dtype = np.uint8) -> np.ndarray:
    """(G, m) codes ``#{j : thresholds[g, j] <= rows[g, i]}``, compared in float64, for float32/float64 rows.

    **Arguments:** `rows`: (G, m) finite float32 or float64; `thresholds`: (G, k) float64, each
    row non-decreasing; `out_dtype`: an unsigned integer type holding 0..k.
    """
    rows = np.asarray(rows)
    if rows.dtype not in (np.float32, np.float64):
        rows = rows.astype(np.float64)
    G, m = rows.shape
    out = np.empty((G, m), dtype=out_dtype)
    if m == 0:
        return out
    enc = RowEncoder(thresholds, rows.dtype, out_dtype)
    step = block_rows(m)
    buf = np.empty((min(step, G), m), dtype=rows.dtype)
    for g0 in range(0, G, step):
        g1 = min(G, g0 + step)
        enc.encode(rows[g0:g1], g0, out[g0:g1], buf[: g1 - g0])
    return out


def decode_rows(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(G, m) ``table[g, codes[g, i]]`` for a (G, K) table and integer codes (G, m), in the table's dtype."""
    G, K = table.shape
    m = codes.shape[1]
    out = np.empty(codes.shape, dtype=table.dtype)
    flat = np.ascontiguousarray(table).ravel()
    step = max(1, _BLOCK // max(m, 1))
    for g0 in range(0, G, step):
        g1 = min(G, g0 + step)
        idx = codes[g0:g1].astype(np.intp)
        idx += (K * np.arange(g0, g1))[:, None]
        np.take(flat, idx, out=out[g0:g1])
    return out


__all__ = ["ceil_to", "RowEncoder", "block_rows", "encode_rows", "decode_rows"]
