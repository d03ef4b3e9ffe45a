"""The correlation rho between weights and quantized weights, closed form and empirical.

For a density f and a K-level quantizer (Pushkareva & Karandashev, OMNN 29:179, 2020; J. Max 1960),
``E[w q] = sum_k c_k * integral_{t_{k-1}}^{t_k} w f(w) dw``,
``E[q^2] = sum_k c_k^2 P(t_{k-1} <= w < t_k)`` and
``rho = E[w q] / sqrt(E[w^2] E[q^2])``.

rho does not depend on the scale of the levels, so a fitted quantizer's levels get
a gain fixed by a separate rule (:data:`GAINS`, :func:`gain_factor`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._quantizer import Quantizer
from .densities import get_density


#: Rules for the gain of fitted levels (:func:`gain_factor`).
GAINS = ("mse", "unbiased")


def gain_factor(gain: str, ew2: Any, ewq: Any, eq2: Any) -> Any:
    """Factor for the levels of a quantizer ``q`` so that the rescaled levels obey the rule ``gain``.

    Quantization error as noise (Sompolinsky, PRA 34:2571, 1986): ``q(w) = a w + eta`` with
    ``a = E[w q] / E[w^2]`` and ``eta`` uncorrelated with ``w``.

    - ``"mse"``: least squares, ``E[w q] / E[q^2]``; afterwards ``E[q^2] = E[w q]`` and
      ``a = rho^2`` (the centroid condition: the quantizer shrinks the weights by rho^2).
    - ``"unbiased"``: ``E[w^2] / E[w q]``; afterwards ``E[w q] = E[w^2]`` and ``a = 1``
      (no shrinkage: the weights' component along ``w`` is kept at full size, at the
      price of a larger MSE, ``E[w^2] (1/rho^2 - 1)``).  Matters where the rest of the
      network is not scale-invariant, e.g. float biases after a quantized layer.

    rho is the same for both.  **Arguments:** `gain`: one of :data:`GAINS` (trusted);
    `ew2`, `ewq`, `eq2`: the moments (or sums), scalars or arrays of one shape.
    **Returns:** the factor, 1 where the moments give none (``E[q^2] <= 0`` or ``E[w q] <= 0``).
    """
    ew2, ewq, eq2 = np.asarray(ew2, np.float64), np.asarray(ewq, np.float64), np.asarray(eq2, np.float64)
    ok = (eq2 > 0) & (ewq > 0)
    if gain == "mse":
        return np.where(ok, ewq / np.where(ok, eq2, 1.0), 1.0)
    return np.where(ok & (ew2 > 0), ew2 / np.where(ok, ewq, 1.0), 1.0)


def moments(q: Quantizer, dist: Any = "gaussian", sigma: float = 1.0) -> dict[str, float]:
    """Closed-form ``E[w q]``, ``E[q^2]``, ``E[w^2]`` and the MSE ``E[(w - q)^2]``.

    **Arguments:**

    - `q`: the quantizer, in the units of the weights.
    - `dist`: the weights' density (see :func:`theory.densities.get_density`).
    - `sigma`: the weights' standard deviation (the density is scaled by it).
    """
    if not isinstance(q, Quantizer):
        raise ValueError(f"q must be a Quantizer, got {type(q).__name__}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and positive, got {sigma!r}")
    d = get_density(dist)
    P, M1 = d.cell_moments(q.thresholds / sigma)
    c = q.levels
    ewq = float(np.dot(c, M1)) * sigma
    eq2 = float(np.dot(c * c, P))
    ew2 = d.second_moment() * sigma**2
    return {"E_wq": ewq, "E_q2": eq2, "E_w2": ew2, "mse": ew2 - 2 * ewq + eq2}


def rho_closed_form(q: Quantizer, dist: Any = "gaussian", sigma: float = 1.0) -> float:
    """rho of weights drawn from ``dist`` (std ``sigma``) and ``q(w)``, exact."""
    m = moments(q, dist, sigma)
    if m["E_q2"] <= 0:
        return 0.0
    # |rho| <= 1 by Cauchy-Schwarz; clip the last-ulp rounding so rho can be fed to predictions.*
    return float(np.clip(m["E_wq"] / np.sqrt(m["E_w2"] * m["E_q2"]), -1.0, 1.0))


def _real(name: str, x: Any) -> np.ndarray:
    if x is None:
        raise ValueError(f"{name} must be an array of real numbers, got None")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        x = x.detach().cpu().numpy()
    raw = np.asarray(x)
    if raw.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
    return raw.astype(np.float64)


def rho_empirical(w: Any, qw: Any) -> float:
    """Sample correlation ``sum w q / sqrt(sum w^2 sum q^2)`` (uncentred: Pushkareva & Karandashev 2020).

    ``w`` and ``qw`` must have the same shape, be finite and not all zero (rho is undefined
    then: ValueError).  Each is divided by its largest magnitude before squaring, so values
    near 1e-170 or 1e200 give the same rho as values near 1.
    """
    w, qw = _real("w", w), _real("qw", qw)
    if w.shape != qw.shape:
        raise ValueError(f"w and qw must have the same shape, got {w.shape} and {qw.shape}")
    if w.size == 0:
        raise ValueError("w must not be empty")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(qw))):
        raise ValueError("w and qw must be finite (no NaN or Inf)")
    sw, sq = float(np.max(np.abs(w))), float(np.max(np.abs(qw)))
    if sw == 0 or sq == 0:
        raise ValueError(f"rho is undefined when {'w' if sw == 0 else 'qw'} is all zero")
    w, qw = (w / sw).ravel(), (qw / sq).ravel()
    den = np.sqrt(np.dot(w, w) * np.dot(qw, qw))
    return float(np.clip(np.dot(w, qw) / den, -1.0, 1.0))  # Cauchy-Schwarz, up to rounding


def rho(q_or_w: Any, dist_or_q: Any = "gaussian", sigma: float = 1.0) -> float:
    """Correlation between weights and quantized weights.

    - ``rho(q, dist="gaussian")``: the closed form for a :class:`Quantizer` and a density.
    - ``rho(w, q)`` with an array ``w`` and a Quantizer ``q``: the empirical value on ``w``.
    - ``rho(w, qw)`` with two arrays: the empirical value.
    """
    if isinstance(q_or_w, Quantizer):
        return rho_closed_form(q_or_w, dist_or_q, sigma)
    if isinstance(dist_or_q, Quantizer):
        w = _real("w", q_or_w)
        return rho_empirical(w, dist_or_q(w))
    return rho_empirical(q_or_w, dist_or_q)


def centroid_levels(thresholds: np.ndarray, dist: Any = "gaussian", fallback: np.ndarray | None = None) -> np.ndarray:
    """The cell centroids ``E[w | t_{k-1} <= w < t_k]``: the rho-optimal (and MSE-optimal) levels.

    Empty cells (probability 0) take ``fallback[k]`` if given, else the cell midpoint.
    """
    d = get_density(dist)
    t = np.asarray(thresholds, dtype=np.float64)
    P, M1 = d.cell_moments(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = M1 / P
    empty = ~(P > 1e-300)
    if np.any(empty):
        if fallback is not None:
            c[empty] = np.asarray(fallback, dtype=np.float64)[empty]
        else:
            ext = np.concatenate(([t[0] - 1.0], t, [t[-1] + 1.0]))
            c[empty] = 0.5 * (ext[:-1] + ext[1:])[empty]
    return c
