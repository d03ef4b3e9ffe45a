"""Array helpers of :func:`deepnets.quantize.quantize` that only need numpy (checked weights, float64 layer sums)."""

from __future__ import annotations

from typing import Any

import numpy as np

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
