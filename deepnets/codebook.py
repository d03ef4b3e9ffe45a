"""Codebooks as stored: the float32 levels and thresholds of a grouped quantizer, in their compact forms.

A codebook is a (G, n) float32 table (levels n = K, thresholds n = K - 1), one row per
group.  :class:`Table` stores it in one of three forms (full, affine, geometric) and its
:meth:`Table.values` is the single definition of the float32 rows, in memory and after
loading, so the weights a quantized model uses and the weights decoded from its file are
bitwise identical.  :func:`codebook` builds the pair for a fitted quantizer and
:func:`quantizer` turns a stored pair back into the grouped :class:`theory.Quantizer` that
decodes the codes.  Pure storage: nothing here fits or decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import theory
from theory._encode import block_rows

from ._blocked import _about_centre, _close, _increasing, _integer_shifts, _lstsq_columns

_EPS32 = float(np.finfo(np.float32).eps)
#: float16 codebooks (``QuantConfig(codebook="float16")``): every decoded level is within
#: ``HALF_BOUND * max|row|`` of the float64 fit.  Each stored factor is rounded once to float16
#: (relative error <= 2**-11 for normal numbers) and the row is rebuilt in float32 (<= 2**-24 per
#: operation), so ``scale * (unit + shift)`` is off by at most about 3 * 2**-11 of
#: ``|scale| * (max|unit| + |shift|)``, which is the row's largest |level| for a symmetric unit row;
#: :meth:`Table.fit` checks the bound on every row and keeps float32 where it fails (subnormal or
#: overflowing scales, long geometric rows, ties).
HALF_BOUND = 2.0 ** -9


@dataclass(frozen=True, eq=False)
class Table:
    """A (C, n) float32 table of per-channel codebook rows (levels or thresholds).

    Stored in one of three forms:

    - ``full`` (C, n);
    - affine, when every row is an affine image of one unit row (per-channel uniform:
      one grid times a per-channel step; per-channel min-max: scale and integer zero
      point; any shared shape times a per-channel scale): ``scale[c] * (unit + shift[c])``,
      n + 2C numbers (n + C when all shifts are 0).  For min-max the unit row is the
      integer grid and the shifts are integers, so the zero level stays exactly 0;
    - geometric, when every row is odd-symmetric with a geometric positive half
      (per-channel exponential levels ``+-s b**j``, and their midpoint thresholds
      ``0, +-s (1 + b)/2 b**j``): ``scale[c] * [-b**(m-1), ..., -1, (0), 1, ..., b**(m-1)]``
      with ``base[c] = b``, 2C numbers.  Powers are running float32 products, so
      they are bitwise reproducible.

    :meth:`values` is the single definition of the float32 rows used for decoding,
    in memory and after loading, so both give bitwise-identical weights.
    """

    full: np.ndarray | None = None  # (C, n)
    unit: np.ndarray | None = None  # (n,)
    scale: np.ndarray | None = None  # (C,)
    shift: np.ndarray | None = None  # (C,)
    base: np.ndarray | None = None  # (C,) geometric form
    n: int = 0  # row length of the geometric form, or of the implicit grid
    grid: bool = False  # affine form whose unit row is the centred integer grid ``k - (n-1)/2`` (not stored)

    def values(self) -> np.ndarray:
        """The float32 rows (float16 tables are widened first; float32 tables give the same bits as always)."""
        f = np.float32
        if self.full is not None:
            return self.full.astype(f)
        if self.base is not None:
            return self.scale.astype(f)[:, None] * _geometric_unit(self.base.astype(f), self.n)
        if self.grid:
            return self.scale.astype(f)[:, None] * (_centred_grid(self.n)[None, :] + self.shift.astype(f)[:, None])
        return self.scale.astype(f)[:, None] * (self.unit.astype(f)[None, :] + self.shift.astype(f)[:, None])

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(C, m) float32 ``values()[c, codes[c, i]]`` for integer codes (C, m), bit for bit."""
        out = np.empty(codes.shape, np.float32)
        dec, step = self.decoder(), block_rows(codes.shape[1])
        for g0 in range(0, codes.shape[0], step):  # block by block of rows: the temporaries stay in cache
            dec(codes[g0 : g0 + step], g0, out[g0 : g0 + step])
        return out

    def decoder(self):
        """``f(codes, g0, out)``: writes ``values()[g0 + i, codes[i, j]]`` (float32) for a block of rows into ``out``.

        An affine table whose unit row is consecutive integers (min-max) is decoded by the same
        float32 arithmetic as :meth:`values`, ``scale * ((u0 + code) + shift)``, without a table lookup.
        """
        factors = self.affine_factors()
        if factors is not None:
            u0, shift, scale = factors

            # (code + u0) + shift as one addition where no shift is stored, or where every term is an integer of
            # float32 (min-max; uint8 codes): the same values
            fused = bool(not np.any(shift) or (u0 == np.round(u0) and abs(u0) < 2**22
                                               and np.all(shift == np.round(shift)) and np.all(np.abs(shift) < 2**22)))
            c = u0 + shift

            def affine(codes, g0, out):
                R = codes.shape[0]
                np.copyto(out, codes, casting="unsafe")  # exact: small integers
                if fused:
                    out += c[g0 : g0 + R, None]
                else:
                    out += u0
                    out += shift[g0 : g0 + R, None]
                out *= scale[g0 : g0 + R, None]
                return out

            return affine
        vals = np.ascontiguousarray(self.values())
        K, flat = vals.shape[1], vals.ravel()

        def table(codes, g0, out):
            idx = codes.astype(np.intp)
            idx += (K * np.arange(g0, g0 + codes.shape[0]))[:, None]
            return np.take(flat, idx, out=out)

        return table

    def affine_factors(self) -> tuple[np.float32, np.ndarray, np.ndarray] | None:
        """``(u0, shift, scale)`` (float32) when the unit row is the consecutive integers ``u0 + k`` (min-max), else None:
        row ``g``'s level ``k`` is then ``((k + u0) + shift[g]) * scale[g]`` in float32, bit for bit :meth:`values`."""
        if self.unit is None:
            return None
        f = np.float32
        unit = self.unit.astype(f)
        u0 = unit[0]
        if unit.size > 2**24 or not np.array_equal(unit, u0 + np.arange(unit.size, dtype=f)):
            return None
        return u0, self.shift.astype(f), self.scale.astype(f)

    @property
    def shape(self) -> tuple[int, int]:
        if self.full is not None:
            return tuple(self.full.shape)
        return (self.scale.size, self.n if self.base is not None or self.grid else self.unit.size)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        if self.full is not None:
            return {prefix: self.full}
        if self.base is not None:
            return {f"{prefix}.scale": self.scale, f"{prefix}.base": self.base}
        out = {} if self.grid else {f"{prefix}.unit": self.unit}  # no unit row: the centred integer grid
        out[f"{prefix}.scale"] = self.scale
        if np.any(self.shift != 0):  # symmetric shapes have no shift: nothing stored, zeros on load
            out[f"{prefix}.shift"] = self.shift
        return out

    @classmethod
    def from_arrays(cls, prefix: str, tensors: dict, C: int, n: int) -> Table:
        """Read back :meth:`arrays`; ValueError if shapes or dtypes do not match (C, n)."""
        if prefix in tensors:
            t = cls(full=tensors[prefix])
            want = {"full": (C, n)}
        elif f"{prefix}.base" in tensors:
            t = cls(scale=tensors[f"{prefix}.scale"], base=tensors[f"{prefix}.base"], n=n)
            want = {"scale": (C,), "base": (C,)}
        else:
            scale = tensors[f"{prefix}.scale"]
            shift = tensors.get(f"{prefix}.shift", np.zeros(scale.shape, np.float32))
            if f"{prefix}.unit" in tensors:
                t = cls(unit=tensors[f"{prefix}.unit"], scale=scale, shift=shift)
                want = {"unit": (n,), "scale": (C,), "shift": (C,)}
            else:  # the implicit centred integer grid (lean affine rows)
                t = cls(scale=scale, shift=shift, n=n, grid=True)
                want = {"scale": (C,), "shift": (C,)}
        for k, shp in want.items():
            a = getattr(t, k)
            if a.dtype not in (np.float32, np.float16) or a.shape != shp or not np.all(np.isfinite(a)):
                raise ValueError(f"{prefix}.{k}: expected finite float32 or float16 of shape {shp}, got {a.dtype} {a.shape}")
        return t

    @classmethod
    def fit(cls, M: np.ndarray, half: bool = False) -> Table:
        """The compact exact-to-float32 form of float64 rows ``M`` (C, n): affine or geometric if it reproduces every row.

        ``half``: store float16 factors where every row decodes within :data:`HALF_BOUND` of its
        largest |entry| (the most compact such form), else the float32 form.
        """
        M = np.asarray(M, dtype=np.float64)
        if half:
            h = cls._fit_half(M)
            if h is not None:
                return h
        return cls._fit32(M)[0]

    @classmethod
    def _fit32(cls, M: np.ndarray) -> tuple[Table, np.ndarray]:
        """(:meth:`fit` of float64 ``M`` without ``half``, its :meth:`values`), the values computed once."""
        C, n = M.shape
        amax = np.max(np.abs(M), axis=1)
        for form in () if C * n <= n + 2 * C or n < 2 else (lambda: cls._affine(M, amax=amax), lambda: cls._geometric(M)):
            v = None if (t := form()) is None else t.values()
            if v is not None and _close(v, M, 8 * _EPS32, amax):
                return t, v
        return cls(full=M.astype(np.float32)), M.astype(np.float32)

    @classmethod
    def _fit_half(cls, M: np.ndarray) -> Table | None:
        C, n = M.shape
        cands = []
        if n >= 2 and C * n > n + 2 * C:
            cands = [t for t in (cls._affine(M, centred=True), cls._affine(M), cls._geometric(M)) if t is not None]
            cands += [g for g in (_as_grid(t) for t in cands[:2]) if g is not None]
        cands.append(cls(full=M))
        ok = []
        for t in cands:
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                h = cls(**{k: (v.astype(np.float16) if isinstance(v, np.ndarray) else v) for k, v in vars(t).items()})
                if within_half(h.values(), M):
                    ok.append(h)
        return min(ok, key=lambda h: sum(a.nbytes for a in h.arrays("k").values())) if ok else None

    @classmethod
    def _affine(cls, M: np.ndarray, centred: bool = False, amax: np.ndarray | None = None) -> Table | None:
        """``centred``: a non-integer unit row is centred on 0 first (float16 tables); ``amax``: max |M| per row."""
        n = M.shape[1]
        amax = np.max(np.abs(M), axis=1) if amax is None else amax
        i = int(np.argmax(amax))
        step = M[i, 1] - M[i, 0]
        if not step > 0:
            return None
        unit = M[i] / step
        integer = np.all(np.abs(unit - np.round(unit)) <= 1e-9 * np.maximum(1.0, np.abs(unit)))
        if centred and not integer:
            unit = unit - 0.5 * (unit[0] + unit[-1])
        solved = _integer_shifts(np.round(unit), M, amax) if integer else None
        if solved is not None:  # min-max: the same numbers as the least squares below, without it
            unit, (a, shift) = np.round(unit), solved
        else:
            a, b = _lstsq_columns(np.stack([unit, np.ones(n)], axis=1), M.T)
            if not np.all(a > 0):
                return None
            shift = b / a
        if solved is None and np.all(np.abs(unit - np.round(unit)) <= 1e-9 * np.maximum(1.0, np.abs(unit))):  # min-max
            unit = np.round(unit)
            near = np.abs(shift - np.round(shift)) <= 1e-6
            shift = np.where(near, np.round(shift), shift)
        shift = np.where(np.abs(shift) <= 1e-9 * np.max(np.abs(unit)), 0.0, shift)
        return cls(unit=unit.astype(np.float32), scale=a.astype(np.float32), shift=shift.astype(np.float32))

    @classmethod
    def _geometric(cls, M: np.ndarray) -> Table | None:
        n = M.shape[1]
        m = n // 2
        if m < 2:
            return None
        pos = M[:, n - m :]
        if not (np.all(pos[:, 0] > 0) and np.array_equal(M[:, :m], -pos[:, ::-1]) and (n % 2 == 0 or not np.any(M[:, m]))):
            return None
        base = (pos[:, -1] / pos[:, 0]) ** (1.0 / (m - 1))  # spreads the rounding over the row
        if not np.all(np.isfinite(base) & (base > 0)):
            return None
        return cls(scale=pos[:, 0].astype(np.float32), base=base.astype(np.float32), n=n)


def _geometric_unit(base: np.ndarray, n: int) -> np.ndarray:
    """(C, n) float32 rows ``[-b**(m-1), ..., -1, (0 if n odd), 1, ..., b**(m-1)]``, m = n // 2, by running products."""
    m = n // 2
    factors = np.concatenate([np.ones((base.size, 1), np.float32), np.repeat(base[:, None], m - 1, axis=1)], axis=1)
    pos = np.cumprod(factors, axis=1, dtype=np.float32)
    mid = [np.zeros((base.size, 1), np.float32)] if n % 2 else []
    return np.concatenate([-pos[:, ::-1], *mid, pos], axis=1)


def _centred_grid(n: int) -> np.ndarray:
    """float32 ``k - (n - 1)/2``, k = 0..n-1 (exact: half-integers)."""
    return (np.arange(n) - (n - 1) / 2.0).astype(np.float32)


def _as_grid(t: Table) -> Table | None:
    """The affine table ``t`` with its unit row dropped, if that row is the centred integer grid up to a step
    and an offset (the grids ``a + b k`` of ``Recipe("affine")``, per-group uniform levels, min-max's integer
    grid): ``scale * (grid + shift)`` with ``grid = k - (n-1)/2``.  Min-max keeps an exact zero level: its
    shifts become half-integers and ``grid + shift`` is then an exact integer in float32."""
    if t.unit is None or t.full is not None or t.base is not None:
        return None
    n = t.unit.size
    unit = t.unit.astype(np.float64)
    step = unit[1] - unit[0]
    if not step > 0:
        return None
    off = unit / step - _centred_grid(n).astype(np.float64)
    if not np.all(np.abs(off - off[0]) <= 1e-9 * n):
        return None
    c = float(np.round(2 * off[0]) / 2) if abs(2 * off[0] - np.round(2 * off[0])) <= 1e-9 * n else float(off[0])
    return Table(scale=(t.scale.astype(np.float64) * step), shift=c + t.shift.astype(np.float64) / step, n=n, grid=True)


def within_half(v: np.ndarray, M: np.ndarray) -> bool:
    """:func:`_close` to :data:`HALF_BOUND` (float16 tables)."""
    return _close(v, M, HALF_BOUND)


def _reproduces(v: np.ndarray, M: np.ndarray) -> bool:
    """:func:`_close` to a few float32 ulps (float32 tables)."""
    return _close(v, M, 8 * _EPS32)


class Codebook(NamedTuple):
    """The stored tables of one layer: levels, and thresholds unless they follow from the levels.

    Nearest-level quantizers (uniform, exponential, Lloyd-Max, min-max, sign) put every
    threshold at the midpoint of its two levels before the gain rescales the levels, so
    ``thresholds = midpoints(levels) * ratio[g]`` with one number per group (the inverse
    gain; none for min-max).  Then only ``ratio`` (G,) is stored and the thresholds are
    derived from the float32 values the same way in memory and after loading
    (:meth:`threshold_values`), saving K - 2 numbers per group.  Mean-aware levels
    (``Recipe(..., offset=True)``) scale about the group's centre ``c`` instead of 0:
    ``thresholds = c + ratio * (midpoints(levels) - c)``, with ``c`` (G,) stored beside the
    ratio.  Other thresholds (ternary's dead zone) are stored as a table.
    """

    levels: Table
    thresholds: Table | None
    ratio: np.ndarray | None = None  # (G,) float32, when thresholds is None; None: plain midpoints
    centre: np.ndarray | None = None  # (G,) float32: the ratio scales about it (offset levels); None: about 0
    about_mean: bool = False  # the ratio scales about the mean of each decoded level row (nothing stored for it)

    def threshold_values(self, levels32: np.ndarray | None = None) -> np.ndarray:
        """The float32 thresholds (``levels32``: ``self.levels.values()`` if already computed)."""
        if self.thresholds is not None:
            return self.thresholds.values()
        lv32 = self.levels.values() if levels32 is None else levels32
        if self.ratio is None:
            return _midpoints32(lv32)
        mids = _midpoints32(lv32).astype(np.float64)
        r = self.ratio.astype(np.float64)[:, None]
        if self.about_mean:
            c = np.mean(lv32.astype(np.float64), axis=1, keepdims=True)
            return (c + r * (mids - c)).astype(np.float32)
        if self.centre is None:
            return (mids * r).astype(np.float32)
        c = self.centre.astype(np.float64)[:, None]
        return (c + r * (mids - c)).astype(np.float32)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        out = self.levels.arrays(key + ".levels")
        if self.thresholds is not None:
            out.update(self.thresholds.arrays(key + ".thresholds"))
        elif self.ratio is not None:
            out[key + (".thresholds.ratio_about_mean" if self.about_mean else ".thresholds.ratio")] = self.ratio
            if self.centre is not None:
                out[key + ".thresholds.centre"] = self.centre
        return out

    @classmethod
    def from_arrays(cls, key: str, tensors: dict, G: int, K: int) -> Codebook:
        levels = Table.from_arrays(key + ".levels", tensors, G, K)
        about_mean = key + ".thresholds.ratio_about_mean" in tensors
        rk = key + (".thresholds.ratio_about_mean" if about_mean else ".thresholds.ratio")
        if rk in tensors:
            r = tensors[rk]
            if r.dtype not in (np.float32, np.float16) or r.shape != (G,) or not np.all(np.isfinite(r)) or not np.all(r > 0):
                raise ValueError(f"{rk}: expected positive finite float32 of shape {(G,)}, got {r.dtype} {r.shape}")
            c = tensors.get(key + ".thresholds.centre")
            if c is not None and (c.dtype not in (np.float32, np.float16) or c.shape != (G,) or not np.all(np.isfinite(c))):
                raise ValueError(f"{key}.thresholds.centre: expected finite float32 of shape {(G,)}, got {c.dtype} {c.shape}")
            return cls(levels, None, r, c, about_mean)
        stored = key + ".thresholds" in tensors or any(
            key + ".thresholds." + k in tensors for k in ("unit", "scale", "shift", "base", "centre"))  # any table part
        return cls(levels, Table.from_arrays(key + ".thresholds", tensors, G, K - 1) if stored else None)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays("k").values())


def _midpoints32(levels32: np.ndarray) -> np.ndarray:
    lv = levels32.astype(np.float64)
    return (0.5 * (lv[:, :-1] + lv[:, 1:])).astype(np.float32)


def codebook(q: theory.Quantizer, half: bool = False, offset: bool = False) -> Codebook:
    """The compact float32 codebook of a fitted (float64) grouped quantizer.

    ``half``: the lean form: float16 factors where exact enough (:data:`HALF_BOUND`) and no
    thresholds at all (decoding needs none; the encoder becomes nearest-level, midpoints of the
    stored levels, in memory and after loading alike; the codes are the fit's).
    ``offset``: the fit had mean-aware levels; thresholds are then also tried as a ratio about
    the level mean or a stored centre (other fits keep the forms they always had).
    """
    return _book(q, half, offset)[0]


def _book(q: theory.Quantizer, half: bool, offset: bool) -> tuple[Codebook, np.ndarray, np.ndarray]:
    """(:func:`codebook`, its float32 levels, its float32 thresholds): each table computed once."""
    G = q.G
    M = np.asarray(q.levels.reshape(G, -1), dtype=np.float64)
    levels, lv32 = (Table.fit(M, half), None) if half else Table._fit32(M)
    lv32 = levels.values() if half else lv32
    if half:  # the lean file: only what decoding needs; a loaded quantizer encodes new weights to the nearest level
        book = Codebook(levels, None, None)
        return book, lv32, book.threshold_values(lv32)
    t64 = q.thresholds.reshape(G, -1)
    mids32 = _midpoints32(lv32)

    def cands():
        yield None, None
        mids = mids32.astype(np.float64)
        yield np.sum(t64 * mids, axis=1) / np.maximum(np.sum(mids * mids, axis=1), 1e-300), None
        if offset:
            lv_mean = np.mean(lv32.astype(np.float64), axis=1)
            about = np.sum((t64 - lv_mean[:, None]) * (mids - lv_mean[:, None]), axis=1) / np.maximum(
                np.sum((mids - lv_mean[:, None]) ** 2, axis=1), 1e-300)
            yield about, "mean"
            yield _about_centre(t64, mids)

    for ratio, centre in cands():
        about_mean = isinstance(centre, str)
        centre = None if about_mean else centre
        if ratio is not None:
            if not np.all(np.isfinite(ratio) & (ratio > 0)) or (centre is not None and not np.all(np.isfinite(centre))):
                continue
            dt = np.float16 if half else np.float32
            with np.errstate(over="ignore"):
                ratio = ratio.astype(dt)
                centre = None if centre is None else centre.astype(dt)
            if not np.all(np.isfinite(ratio) & (ratio > 0)) or (centre is not None and not np.all(np.isfinite(centre))):
                continue
        book = Codebook(levels, None, ratio, centre, about_mean)
        derived = mids32 if ratio is None else book.threshold_values(lv32)
        close = within_half(derived, t64) if half else _reproduces(derived, t64)
        if close and _increasing(derived):
            return book, lv32, derived
    book = Codebook(levels, Table.fit(t64, half))
    return book, lv32, book.threshold_values(lv32)


def fitted_quantizer(q: theory.Quantizer, half: bool = False, offset: bool = False) -> tuple[Codebook, theory.Quantizer]:
    """``(codebook(q, half, offset), quantizer(that book, q.granularity, q.name))``, each float32 table computed once."""
    book, lv32, th32 = _book(q, half, offset)
    return book, quantizer(book, q.granularity, q.name, lv32, th32)


def quantizer(book: Codebook, granularity, name: str, lv32: np.ndarray | None = None,
              th32: np.ndarray | None = None) -> theory.Quantizer:
    """The grouped quantizer whose levels and thresholds are the codebook's float32 values (exactly; ``lv32``,
    ``th32``: those values if already computed).  Raises ValueError if float32 rounding tied two levels or
    thresholds of a group."""
    lv32 = book.levels.values() if lv32 is None else lv32
    lv, th = lv32.astype(np.float64), (book.threshold_values(lv32) if th32 is None else th32).astype(np.float64)
    if isinstance(granularity, theory.PerTensor):
        return theory.Quantizer(th[0], lv[0], name)
    return theory.Quantizer(th, lv, name, granularity)


__all__ = ["Table", "Codebook", "codebook", "quantizer", "fitted_quantizer"]
