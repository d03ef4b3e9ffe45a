"""Hopfield predictions from rho alone.

- Field agreement (Sheppard's formula): for a random state the local fields of
  the original and the quantized matrix are jointly Gaussian with correlation
  rho (central limit theorem), so ``P(sign h = sign h') = 1 - arccos(rho)/pi``.
- Quantization error as static synaptic noise: ``q(w) = a w + eta`` with
  ``a = E[wq]/E[w^2]`` and relative noise variance ``Delta^2 = 1/rho^2 - 1``.
- Zero-temperature mean-field theory of the Hebbian network with static
  synaptic noise (D. J. Amit, H. Gutfreund, H. Sompolinsky, PRL 55:1530, 1985
  and Ann. Phys. 173:30, 1987; H. Sompolinsky, PRA 34:2571, 1986; J. L. van
  Hemmen, PRA 36:1959, 1987).  A nonlinear synapse ``phi(T_ij)`` acts as Hebb
  plus static noise of relative variance ``Delta^2`` that adds ``alpha Delta^2``
  to the variance ``alpha r`` of the crosstalk field.  With
  ``s^2 = 2 alpha (r + Delta^2)``::

      m = erf(m / s)
      C = 2 exp(-(m/s)^2) / (sqrt(pi) s)
      r = 1 / (1 - C)^2

  Writing ``y = m/s`` turns these into a closed form for the load:
  ``m = erf(y)``, ``C = 2 y exp(-y^2) / (sqrt(pi) m)`` and
  ``alpha(y) = m^2 / (2 y^2 (r + Delta^2))``.  The retrieval branch is the
  largest ``y`` with ``alpha(y) = alpha``; ``alpha_c = max_y alpha(y)``.  At
  rho = 1 this gives alpha_c = 0.1379 with m = 0.967 (AGS); for the clipped
  (sign) synapse, rho^2 = 2/pi, it gives 0.1018 (Sompolinsky's 0.102).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, special


def _check_rho(rho: Any) -> np.ndarray:
    r = np.asarray(rho, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < -1) or np.any(r > 1):
        raise ValueError(f"rho must lie in [-1, 1], got {rho!r}")
    return r


def field_agreement(rho: Any) -> Any:
    """``1 - arccos(rho)/pi``: probability that a local field keeps its sign (Sheppard)."""
    r = _check_rho(rho)
    out = 1.0 - np.arccos(r) / np.pi
    return float(out) if out.ndim == 0 else out


def synaptic_noise(rho: Any) -> Any:
    """Relative static-noise variance ``Delta^2 = 1/rho^2 - 1`` of a quantized synapse."""
    r = _check_rho(rho)
    if np.any(r <= 0):
        raise ValueError(f"rho must be positive for a finite noise variance, got {rho!r}")
    with np.errstate(over="ignore", divide="ignore"):
        out = (1.0 / r) ** 2 - 1.0
    if not np.all(np.isfinite(out)):
        raise ValueError(f"rho={rho!r} is too small: the static noise 1/rho^2 - 1 overflows float64")
    return float(out) if out.ndim == 0 else out


def _branch(y: np.ndarray, delta2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = special.erf(y)
    C = 2.0 * y * np.exp(-y * y) / (np.sqrt(np.pi) * m)
    r = 1.0 / (1.0 - C) ** 2
    alpha = m * m / (2.0 * y * y * (r + delta2))
    alpha = np.where(C < 1.0, alpha, 0.0)
    return m, alpha, C


@lru_cache(maxsize=1024)
def _critical(delta2: float) -> tuple[float, float]:
    """(alpha_c, y at alpha_c) for noise ``delta2``."""
    ys = np.linspace(0.5, 8.0, 4001)
    _, a, _ = _branch(ys, delta2)
    i = int(np.argmax(a))
    lo, hi = ys[max(i - 1, 0)], ys[min(i + 1, ys.size - 1)]
    res = optimize.minimize_scalar(lambda y: -_branch(np.array([y]), delta2)[1][0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return float(-res.fun), float(res.x)


def predicted_capacity(rho: float = 1.0) -> float:
    """Predicted storage capacity ``alpha_c(rho)`` at T = 0 (0.138 at rho = 1)."""
    r = float(_check_rho(rho))
    if r <= 0:
        raise ValueError(f"rho must be positive, got {rho!r}")
    if r < 1e-150:
        raise ValueError(f"rho={rho!r} is too small: the static noise 1/rho^2 - 1 overflows (alpha_c is below 1e-300)")
    return _critical(1.0 / r**2 - 1.0)[0]


def overlap(alpha: Any, rho: float = 1.0) -> Any:
    """Predicted retrieval overlap ``m(alpha, rho)`` at T = 0; 0 above ``alpha_c(rho)``.

    **Arguments:** `alpha`: load p/N (scalar or array, >= 0); `rho`: weight correlation in (0, 1].
    """
    a = np.asarray(alpha, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    r = float(_check_rho(rho))
    if r <= 0:
        raise ValueError(f"rho must be positive, got {rho!r}")
    if r < 1e-150:  # as predicted_capacity
        raise ValueError(f"rho={rho!r} is too small: the static noise 1/rho^2 - 1 overflows (alpha_c is below 1e-300)")
    delta2 = 1.0 / r**2 - 1.0
    ac, yc = _critical(delta2)
    out = np.zeros_like(a)
    for idx, av in np.ndenumerate(a):
        if av == 0:
            out[idx] = 1.0
        elif av <= ac:
            f = lambda y, av=av: _branch(np.array([y]), delta2)[1][0] - av  # noqa: E731
            hi = yc
            while f(hi) > 0:  # alpha(y) falls towards 0 as y grows
                hi *= 1.5
                if hi > 1e3:
                    break
            y = optimize.brentq(f, yc, hi, xtol=1e-13) if f(hi) < 0 else hi
            out[idx] = special.erf(y)
    return float(out) if out.ndim == 0 else out
