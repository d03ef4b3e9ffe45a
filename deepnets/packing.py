"""Bit packing of quantization codes: ``n`` codes of ``bits`` bits each in ``ceil(n * bits / 8)`` bytes.

Little-endian bit order, true packing at every width 1..8 (no wide containers), vectorized with
64-bit lanes; :mod:`deepnets.storage` writes the packed bytes into its safetensors files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CHUNK = 1 << 22  # elements per packing chunk (a multiple of 8 keeps byte alignment)


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


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack integer codes (any shape, values < 2**bits) into ``ceil(n*bits/8)`` uint8 bytes.

    **Arguments:** `codes`: integer array; `bits`: 1..8.
    **Returns:** (ceil(n*bits/8),) uint8; code ``i`` occupies bits ``i*bits .. i*bits+bits-1``
    (little-endian within and across bytes).
    """
    bits = _check_bits(bits)
    c = np.ascontiguousarray(codes).ravel()
    if c.dtype.kind not in "iub":
        raise ValueError(f"codes must be integers, got dtype {c.dtype}")
    if c.size and ((c.dtype.kind == "i" and int(c.min()) < 0) or int(c.max()) >= 1 << bits):  # unsigned: no min pass
        raise ValueError(f"codes must lie in 0..{(1 << bits) - 1} for bits={bits}, got [{c.min()}, {c.max()}]")
    c = c.astype(np.uint8, copy=False)
    if bits == 8:
        return c.copy()
    if bits == 1:
        return np.packbits(c, bitorder="little")
    out = np.empty(packed_nbytes(c.size, bits), dtype=np.uint8)
    per = 8  # codes per group: a group of 8 codes fills `bits` bytes
    for start in range(0, c.size, _CHUNK):  # _CHUNK is a multiple of 8: every chunk starts on a byte
        part = c[start : start + _CHUNK]
        o = start * bits // 8
        out[o : o + packed_nbytes(part.size, bits)] = _pack_groups(part, bits, per)
    return out


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
    """The packed bytes of ``part`` (uint8 codes, bits 2..7).

    2 and 4 bits: 4 or 2 codes per byte by shifts.  3, 5, 6, 7 bits: 8 codes at a time as one
    little-endian 64-bit word; the word holds the 8 codes in its 8 bytes; three merge steps (pairs of bytes, of 16-bit and
    of 32-bit lanes: mask the upper half, shift it down next to the lower half) leave
    ``sum_j code_j << (j * bits)`` in its low ``8 * bits`` bits, i.e. the ``bits`` packed bytes.
    """
    if 8 % bits == 0:  # 2, 4 bits: whole codes per byte, shifted in place
        per = 8 // bits
        pad = -part.size % per
        v = (np.concatenate((part, np.zeros(pad, np.uint8))) if pad else part).reshape(-1, per)
        acc = v[:, 0].copy()
        for j in range(1, per):
            acc |= v[:, j] << np.uint8(j * bits)
        return acc
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


__all__ = ["pack", "unpack", "packed_nbytes"]
