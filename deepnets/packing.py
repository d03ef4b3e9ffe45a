"""Bit packing of quantization codes: ``n`` codes of ``bits`` bits each in ``ceil(n * bits / 8)`` bytes.

Little-endian bit order, true packing at every width 1..8 (no wide containers), vectorized with
64-bit lanes; :mod:`deepnets.storage` writes the packed bytes into its safetensors files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CHUNK = 1 << 22  # elements per packing chunk (a multiple of 8 keeps byte alignment)
_WORDS = 1 << 15  # words per piece of the 2- and 4-bit packing (in cache)


# -- bit packing ------------------------------------------------------------------------
def _check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
    return int(bits)


def packed_nbytes(n: int, bits: int) -> int:
    """Bytes needed for ``n`` codes of ``bits`` bits: ``ceil(n * bits / 8)``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer number of codes, got {n!r}")
    return (int(n) * _check_bits(bits) + 7) // 8


def pack(codes: np.ndarray, bits: int, out: np.ndarray | None = None) -> np.ndarray:
    """Pack integer codes (any shape, values < 2**bits) into ``ceil(n*bits/8)`` uint8 bytes.

    **Arguments:** `codes`: integer array; `bits`: 1..8; `out`: optional (ceil(n*bits/8),) uint8 array to
    write into (e.g. a slice of a file's buffer).
    **Returns:** (ceil(n*bits/8),) uint8 (``out`` if given); code ``i`` occupies bits ``i*bits .. i*bits+bits-1``
    (little-endian within and across bytes).
    """
    bits = _check_bits(bits)
    c = np.ascontiguousarray(codes).ravel()
    if c.dtype.kind not in "iub":
        raise ValueError(f"codes must be integers, got dtype {c.dtype}")
    if c.size and not (_in_range(c, bits) if c.dtype == np.uint8 else (c.dtype.kind != "i" or int(c.min()) >= 0) and int(c.max()) < 1 << bits):
        raise ValueError(f"codes must lie in 0..{(1 << bits) - 1} for bits={bits}, got [{c.min()}, {c.max()}]")
    c = c.astype(np.uint8, copy=False)
    nb = packed_nbytes(c.size, bits)
    if out is None:
        out = np.empty(nb, np.uint8)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (nb,)):
        raise ValueError(f"out must be a ({nb},) uint8 array, got {getattr(out, 'dtype', type(out))} {getattr(out, 'shape', '')}")
    if bits == 8:
        np.copyto(out, c)
    elif bits == 1:
        out[...] = np.packbits(c, bitorder="little")
    else:
        _pack_uint8(c, bits, out)
    return out


def _in_range(c: np.ndarray, bits: int) -> bool:
    """True if every uint8 code (1-D, contiguous) is below ``2**bits``: no bit at or above ``bits`` is set in any byte,
    tested on the OR of all bytes, eight at a time as 64-bit words (one fast pass)."""
    high = (0xFF << bits) & 0xFF
    n8 = c.size // 8 * 8
    acc = int(np.bitwise_or.reduce(c[:n8].view(np.uint64))) if n8 else 0
    acc |= int(np.bitwise_or.reduce(c[n8:])) if c.size > n8 else 0
    return acc & (high * 0x0101010101010101) == 0


def _pack_uint8(c: np.ndarray, bits: int, out: np.ndarray) -> None:
    """:func:`pack` of contiguous 1-D uint8 codes already known to lie in 0..2**bits-1 (bits 2..7) into ``out``."""
    if 8 % bits == 0:
        return _pack_words(c, bits, out)
    per = 8  # codes per group: a group of 8 codes fills `bits` bytes
    for start in range(0, c.size, _CHUNK):  # _CHUNK is a multiple of 8: every chunk starts on a byte
        part = c[start : start + _CHUNK]
        o = start * bits // 8
        out[o : o + packed_nbytes(part.size, bits)] = _pack_groups(part, bits, per)


def _pack_words(c: np.ndarray, bits: int, out: np.ndarray) -> None:
    """2 and 4 bits: the codes of one output byte read as one little-endian word and merged by shifts."""
    per = 8 // bits
    pad = -c.size % per
    word = (np.concatenate((c, np.zeros(pad, np.uint8))) if pad else c).view("<u2" if bits == 4 else "<u4")
    tmp = np.empty(min(word.size, _WORDS), word.dtype)
    for i in range(0, word.size, _WORDS):  # in cache-sized pieces
        w, t = word[i : i + _WORDS], tmp[: min(_WORDS, word.size - i)]
        # byte j of the word holds code j (< 2**bits); x | x >> (8 - bits) puts code 1 next to code 0
        np.right_shift(w, word.dtype.type(8 - bits), out=t)
        t |= w
        if bits == 2:  # then pairs of 4-bit halves: bits 0..3 and 16..19 -> 0..7
            t |= t >> np.uint32(12)
        np.copyto(out[i : i + _WORDS], t, casting="unsafe")  # the low byte


def _lane_masks(bits: int) -> list[tuple[np.uint64, np.uint64, np.uint64]]:
    """(low mask, high mask, shift) of the three merge steps of :func:`_pack_groups` (lanes of 16, 32, 64 bits)."""
    steps = []
    for lane, width in ((16, bits), (32, 2 * bits), (64, 4 * bits)):  # each half-lane holds `width` packed bits
        half = lane // 2
        lo = sum(((1 << width) - 1) << (i * lane) for i in range(64 // lane))
        hi = sum(((1 << width) - 1) << (i * lane + half) for i in range(64 // lane))
        steps.append((np.uint64(lo), np.uint64(hi), np.uint64(half - width)))
    return steps


def _pack_groups(part: np.ndarray, bits: int, per: int) -> np.ndarray:
    """The packed bytes of ``part`` (uint8 codes, bits 3, 5, 6, 7).

    8 codes at a time as one
    little-endian 64-bit word; the word holds the 8 codes in its 8 bytes; three merge steps (pairs of bytes, of 16-bit and
    of 32-bit lanes: mask the upper half, shift it down next to the lower half) leave
    ``sum_j code_j << (j * bits)`` in its low ``8 * bits`` bits, i.e. the ``bits`` packed bytes.
    """
    pad = -part.size % 8
    if pad:
        part = np.concatenate((part, np.zeros(pad, np.uint8)))
    x = np.ascontiguousarray(part).view("<u8")
    for lo, hi, shift in _lane_masks(bits):
        x = (x & lo) | ((x & hi) >> shift)
    return x.view(np.uint8).reshape(-1, 8)[:, :bits].reshape(-1)[: packed_nbytes(part.size - pad, bits)]


def unpack(buf: np.ndarray, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``n`` uint8 codes from packed bytes (ValueError on wrong length)."""
    bits = _check_bits(bits)
    buf = np.asarray(buf)
    if buf.dtype != np.uint8 or buf.ndim != 1:
        raise ValueError(f"buf must be a 1-D uint8 array, got {buf.dtype} {buf.shape}")
    if buf.size != packed_nbytes(n, bits):
        raise ValueError(f"buf has {buf.size} bytes, expected {packed_nbytes(n, bits)} for n={n} codes at {bits} bits")
    if bits == 8:
        return buf.copy()
    if bits == 1:
        return np.unpackbits(buf, count=n, bitorder="little")
    if 8 % bits == 0:
        return _unpack_words(buf, n, bits)
    out = np.empty(n, dtype=np.uint8)
    per = 8 if 8 % bits else 8 // bits
    mask = np.uint8((1 << bits) - 1)
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        o = start * bits // 8
        part = buf[o : o + packed_nbytes(m, bits)]
        if 8 % bits == 0:  # 1, 2, 4 bits
            codes = np.empty((part.size, per), np.uint8)
            for j in range(per):
                np.bitwise_and(part >> np.uint8(j * bits), mask, out=codes[:, j])
        else:
            groups = -(-part.size // bits)
            raw = np.zeros((groups, 8), np.uint8)
            flat = np.zeros(groups * bits, np.uint8)
            flat[: part.size] = part
            raw[:, :bits] = flat.reshape(groups, bits)
            word = raw.reshape(-1).view("<u8")
            codes = np.empty((groups, 8), np.uint8)
            for j in range(8):
                codes[:, j] = (word >> np.uint64(j * bits)) & np.uint64(mask)
        out[start : start + m] = codes.reshape(-1)[:m]
    return out



def _unpack_words(buf: np.ndarray, n: int, bits: int) -> np.ndarray:
    """2 and 4 bits: each byte widened to the little-endian word of its codes (one code per byte) by shifts."""
    per = 8 // bits
    wt = np.dtype("<u2" if bits == 4 else "<u4")
    out = np.empty(buf.size * per, np.uint8)
    words = out.view(wt)
    tmp = np.empty(min(buf.size, _WORDS), wt)
    for i in range(0, buf.size, _WORDS):
        b, w, t = buf[i : i + _WORDS], words[i : i + _WORDS], tmp[: min(_WORDS, buf.size - i)]
        np.copyto(w, b)
        if bits == 2:  # codes 2, 3 to bits 16..19: (b | b << 12) & 0x000F000F, then as for 4 bits in each half
            np.left_shift(w, wt.type(12), out=t)
            w |= t
            w &= wt.type(0x000F000F)
        np.left_shift(w, wt.type(8 - bits), out=t)  # the upper code of each byte-pair into the next byte
        w |= t
        w &= wt.type(0x0F0F if bits == 4 else 0x03030303)
    return out[:n].copy() if out.size != n else out


__all__ = ["pack", "unpack", "packed_nbytes"]
