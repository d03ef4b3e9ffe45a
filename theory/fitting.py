"""Fitting quantizers to real data (a weight tensor).

Within each family the shape parameters maximize the *empirical* correlation
rho on the data (the data's empirical distribution is just another density,
:class:`theory.densities.Empirical`, so the closed-form machinery applies
exactly, in O(K log n) per evaluation after one sort).  Lloyd-Max on data is
1-D k-means (Deep Compression's weight sharing; Han, Mao, Dally, ICLR 2016),
deterministic, and stops when no weight changes cell.  ``"minmax"`` is the
round-to-nearest uniform baseline with min-max range that most toolkits use.

Per-channel fitting (:func:`fit_channels`) maximizes each channel's own empirical
rho over the family's parameters (Pushkareva & Karandashev 2020, per channel
instead of per layer), vectorized over channels (:mod:`theory._channels`), then
gives each channel its least-squares gain; ``"minmax"`` is fitted per channel
from each channel's own range.  ``shared_shape=True`` keeps the older, cheaper
fit: one unit-RMS shape for the pooled per-channel-normalised weights of the
layer, times a per-channel scale; it is worse whenever channels differ in shape
(heavy vs light tails, outliers, few weights per channel).

The gain of the levels follows ``gain`` (:func:`theory.correlation.gain_factor`):
``"mse"`` (default) is the least-squares scale of REFERENCE.md, which leaves the
quantized weights shrunk by rho^2 along the float weights; ``"unbiased"`` scales
the levels so that ``E[w q] = E[w^2]`` (per tensor, or per channel in
:func:`fit_channels`), so the regression coefficient of q on w is 1.  The gain only
multiplies the levels: thresholds, codes and rho are the same for both rules.
For ``"minmax"`` the levels keep their range scale under ``"mse"`` (the toolkit
baseline, not least squares) and get the same unbiased factor under ``"unbiased"``
(the zero level stays exactly 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _channels
from ._quantizer import Quantizer
from .correlation import GAINS, gain_factor
from .densities import Empirical
from .families import check_bits, check_K, exponential, lloyd_max, midpoints, sign, ternary, uniform, uniform_grid

METHODS = ("minmax", "uniform", "exponential", "lloyd_max", "sign", "ternary")

#: Scale used for an all-zero tensor or channel (keeps levels strictly increasing).
_TINY = 1e-20


def check_data(name: str, x: Any) -> np.ndarray:
    """A finite, non-empty float64 copy of ``x`` (raises ValueError naming ``name``)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.any(np.isnan(arr)) else "Inf"
        raise ValueError(f"{name} contains {bad} values; quantizers can only be fitted to finite data")
    return arr


def check_gain(gain: Any) -> str:
    """``gain`` if it is one of :data:`theory.correlation.GAINS` (raises ValueError naming ``gain``)."""
    if not isinstance(gain, str) or gain not in GAINS:
        raise ValueError(f"gain must be one of {list(GAINS)}, got {gain!r}")
    return gain


def resolve_K(method: str, K: int | None, bits: int | None) -> int:
    """Number of levels from ``K`` or ``bits`` (``2**bits``; sign is 2 levels, ternary 3)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if method == "sign":
        return 2
    if method == "ternary":
        return 3
    if (K is None) == (bits is None):
        raise ValueError("give exactly one of K (levels) or bits")
    return check_K(K) if K is not None else 2 ** check_bits(bits)


def minmax_uniform(x: Any, bits: int | None = None, K: int | None = None) -> Quantizer:
    """Round-to-nearest on ``2**bits`` equally spaced levels spanning ``[min(x), max(x)]``.

    Asymmetric affine quantization as in common toolkits (PyTorch's MinMaxObserver):
    ``scale = (max - min)/(K - 1)``, integer zero point ``round(-min/scale)``, so
    zero is exactly representable when it lies in the range.
    """
    arr = check_data("x", x)
    K = resolve_K("minmax", K, bits)
    lo, hi = min(float(arr.min()), 0.0), max(float(arr.max()), 0.0)
    span = hi - lo
    if span <= 0:
        span = _TINY * (K - 1)
    scale = span / (K - 1)
    zp = float(np.clip(np.round(-lo / scale), 0, K - 1))
    levels = (np.arange(K) - zp) * scale
    return Quantizer(midpoints(levels), levels, f"minmax(K={K})")


def _unit_shape(z: np.ndarray, method: str, K: int) -> Quantizer:
    """The rho-optimal unit-RMS quantizer of ``method`` for standardised data ``z``."""
    d = Empirical(z)
    if method == "sign":
        return sign(d)
    if method == "ternary":
        return ternary(dist=d)
    if method == "uniform":
        return uniform(K, dist=d, gain=False)
    if method == "exponential":
        return exponential(K, dist=d, gain=False)
    # Lloyd-Max (k-means): start from the rho-optimal uniform quantizer of the data.
    return lloyd_max(K, dist=d, init=uniform(K, dist=d, gain=False))


def _fit_gain(q: Quantizer, x: np.ndarray, gain: str = "mse") -> Quantizer:
    """``q`` with its levels rescaled on data ``x`` (1-D) by the rule ``gain`` (:func:`gain_factor`)."""
    qx = q(x)
    eq2 = float(np.dot(qx, qx))
    ewq = float(np.dot(x, qx))
    if not (eq2 > 0 and ewq > 0):
        return q
    return q.with_gain(float(gain_factor(gain, float(np.dot(x, x)), ewq, eq2)))


def fit(x: Any, method: str, K: int | None = None, *, bits: int | None = None, gain: str = "mse") -> Quantizer:
    """Fit a quantizer of ``method`` to data ``x`` (any shape), in the data's units.

    **Arguments:**

    - `x`: the weights, finite and non-empty.
    - `method`: one of ``METHODS``.
    - `K` or `bits`: number of levels, or bits (``K = 2**bits``). Ignored for sign/ternary.
    - `gain`: ``"mse"`` (least squares; for minmax its range scale) or ``"unbiased"``
      (``E[w q] = E[w^2]``); see the module docstring.

    **Returns:** a :class:`Quantizer` whose shape maximizes the empirical rho
    within the family and whose levels have the gain ``gain`` (under ``"mse"``,
    Lloyd-Max's centroids already have it).
    """
    arr = check_data("x", x).ravel()
    K = resolve_K(method, K, bits)
    check_gain(gain)
    if method == "minmax":
        q = minmax_uniform(arr, K=K)
        return q if gain == "mse" else _fit_gain(q, arr, gain)
    sigma = float(np.sqrt(np.mean(arr * arr)))
    if sigma == 0:
        return _unit_shape(np.array([-1.0, 1.0]), method, K).scaled(_TINY)
    q = _unit_shape(arr / sigma, method, K).scaled(sigma)
    return _fit_gain(q, arr, gain).renamed(f"{method}(K={K})")


def fit_channels(
    x: Any,
    method: str,
    K: int | None = None,
    *,
    bits: int | None = None,
    axis: int = 0,
    shared_shape: bool = False,
    gain: str = "mse",
) -> list[Quantizer]:
    """One quantizer per slice of ``x`` along ``axis`` (per output channel).

    **Arguments:**

    - `x`: the weights, finite, at least 1-D.
    - `method`, `K`, `bits`: as :func:`fit`.
    - `axis`: the channel axis.
    - `shared_shape`: if False (default), uniform, exponential and Lloyd-Max fit each
      channel's own shape (step; base and smallest level; levels) to maximize that
      channel's empirical rho, as :func:`fit` on the channel would (up to the search
      tolerance).  If True, all methods but ``"minmax"`` share one unit-RMS shape
      fitted on the pooled per-channel-normalised data, times the channel's RMS: a
      codebook that stores as one row plus a scale per channel.  Sign and ternary
      always share their shape.
    - `gain`: ``"mse"`` or ``"unbiased"``, each channel's own gain (see :func:`fit`).

    **Returns:** a list of ``x.shape[axis]`` :class:`Quantizer`, each with the
    channel's gain by the rule ``gain``.
    """
    arr = check_data("x", x)
    K = resolve_K(method, K, bits)
    if arr.ndim == 0:
        raise ValueError("x must have at least one dimension for per-channel fitting")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of range for x with {arr.ndim} dimensions")
    if not isinstance(shared_shape, bool):
        raise ValueError(f"shared_shape must be a bool, got {shared_shape!r}")
    check_gain(gain)
    rows = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
    if method == "minmax":
        return [fit(r, method, K, gain=gain) for r in rows]
    rms = np.sqrt(np.mean(rows * rows, axis=1))
    live = rms > 0
    if not np.any(live):
        return [fit(r, method, K, gain=gain) for r in rows]
    name = f"{method}(K={K})"
    if method in ("sign", "ternary"):
        shape = _unit_shape((rows[live] / rms[live, None]).ravel(), method, K)
        return [_fit_gain(shape.scaled(s if s > 0 else _TINY), r, gain).renamed(name) for s, r in zip(rms, rows)]
    signed = _channels.SortedRows(rows[live] / rms[live, None])
    levels = _channel_levels(signed, method, K, shared_shape)  # (C_live, K), unit RMS
    g = signed.gain(levels, gain)
    lv = _channels.strictly_increasing(levels * (g * rms[live])[:, None])
    th = midpoints(levels) * rms[live, None]
    out: list[Quantizer] = []
    j = 0
    for r, ok in zip(rows, live):
        if ok:
            out.append(Quantizer(th[j], lv[j], name))
            j += 1
        else:
            out.append(fit(r, method, K, gain=gain).renamed(name))
    return out


def _family_levels(signed: _channels.SortedRows, absz: _channels.SortedRows, method: str, K: int) -> np.ndarray:
    """(C, K) unit levels of ``method``'s rho-optimal quantizer for each row (sorted rows of z and of |z|, unit RMS)."""
    if method == "exponential":
        return _channels.exponential_rows(absz, K)
    uni = _channels.uniform_rows(absz, K)
    if method == "uniform":
        return uni
    return _channels.lloyd_max_rows(signed, init=uni)  # Lloyd-Max from the uniform optimum, as fit()


def _channel_levels(signed: _channels.SortedRows, method: str, K: int, shared_shape: bool) -> np.ndarray:
    """(C, K) unit levels for the unit-RMS channels in ``signed`` (sorted rows).

    The pooled shape (the family's rho-optimum for all channels' values together) is
    always a candidate, so each channel's own fit is at least as good, in that
    channel's empirical rho, as the shared shape.  Lloyd-Max also iterates each
    channel from the pooled shape and keeps the better of its two fixed points.
    """
    C = signed.C
    absz = signed.magnitudes()
    pooled_signed = signed.pooled() if method == "lloyd_max" else None
    pooled = np.broadcast_to(_family_levels(pooled_signed, absz.pooled(), method, K), (C, K))
    if shared_shape:
        return np.array(pooled)
    cands = [pooled, _family_levels(signed, absz, method, K)]
    if method == "lloyd_max":
        cands.append(_channels.lloyd_max_rows(signed, init=pooled))
    rows = np.arange(C)
    r = np.stack([signed.rho(c[:, None, :], rows)[:, 0] for c in cands])  # (candidates, C)
    best = np.argmax(r, axis=0)
    return np.stack(cands)[best, rows]


def apply_channels(x: Any, quantizers: list[Quantizer], axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Codes and dequantized values of numpy ``x`` with one quantizer per slice along ``axis``."""
    arr = np.asarray(x)
    if len(quantizers) != arr.shape[axis]:
        raise ValueError(f"quantizers: need {arr.shape[axis]} (one per slice along axis {axis}), got {len(quantizers)}")
    moved = np.moveaxis(arr, axis, 0)
    codes = np.empty(moved.shape, dtype=np.uint8 if max(q.K for q in quantizers) <= 256 else np.uint16)
    deq = np.empty(moved.shape, dtype=arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64)
    for i, q in enumerate(quantizers):
        codes[i] = q.encode(moved[i])
        deq[i] = q(moved[i])
    return np.moveaxis(codes, 0, axis), np.moveaxis(deq, 0, axis)


__all__ = ["METHODS", "GAINS", "check_gain", "fit", "fit_channels", "apply_channels", "minmax_uniform", "resolve_K", "check_data", "uniform_grid"]
