"""From the Hopfield result to a feedforward classifier: data-aware correlation and noise accumulation.

numpy/scipy only (no torch).  Two results carry over from the Hopfield network
(Pushkareva & Karandashev, OMNN 29:179, 2020):

1. **Sign of a local field (Sheppard's formula).**  If the pre-activations
   ``z = w^T x`` and ``z' = q^T x`` of one unit are jointly Gaussian with zero
   mean and correlation ``r``, then ``P(sign z != sign z') = arccos(r)/pi``
   (W. F. Sheppard, Phil. Trans. R. Soc. A 192:101, 1899; the orthant
   probability of a bivariate normal).  In the Hopfield network ``x`` is a
   random +-1 state, ``E[x x^T] = I`` and ``r`` is the weight correlation rho.
   For a classifier layer the inputs are not white: over the data,
   ``E[z z'] = w^T S q`` with ``S = E[x x^T]``, so the correlation that enters
   Sheppard's formula is the *data-aware* correlation

       r = w^T S q / sqrt(w^T S w * q^T S q)            (:func:`data_aware_rho`)

   **Why S is the uncentred second moment.**  The event ``sign z != sign z'``
   is unchanged by ``x -> -x`` (both fields flip).  So its rate under the data
   distribution ``p(x)`` equals its rate under the symmetrised distribution
   ``(p(x) + p(-x))/2``, which has mean zero and covariance exactly
   ``E[x x^T]``; the central-limit (Gaussian) approximation is then applied to
   that zero-mean distribution, where Sheppard's formula holds.  Centring would
   instead throw away the mean field ``w^T E[x]``, which decides most signs
   after a ReLU (inputs are non-negative).  **Bias.**  ``z = w^T x + b``: append
   a constant 1 to ``x`` and ``b`` to ``w``; the bias stays float, so it is
   appended to ``q`` unchanged (:func:`augment`).  The augmented ``x`` still
   flips with the symmetrisation, so the argument is unchanged.

2. **Quantization error as static noise (Sompolinsky, PRA 34:2571, 1986).**
   ``q = a w + eta`` with ``eta`` uncorrelated with ``w`` (under the inner
   product ``S``); the relative noise variance of the pre-activation is
   ``1/r^2 - 1`` (:func:`theory.synaptic_noise`).  For a whole layer we use the
   noise-to-signal power ratio summed over units,
   ``sum_i (1/r_i^2 - 1) w_i^T S w_i / sum_i w_i^T S w_i``
   (:func:`layer_noise`).

**Accumulation to the logits (first order).**  Each layer's quantization
adds a relative noise ``eps_l^2`` to its pre-activations.  To first order in
the noise, and if the noise of a layer propagates to the logits with the same
relative gain as the signal (exact for one linear layer, and for a
positively homogeneous ReLU network when the perturbation is a small relative
change that does not move the ReLU pattern), errors of different layers are
independent (different weights), so their variances add:
``eps_tot^2 = sum_l eps_l^2`` (:func:`total_noise`).  A real network does not pass a
layer's relative noise on with gain 1 (ReLUs cut part of it, pooling averages it, a residual
branch adds the clean signal back); with ``g_l`` the measured gain of layer l (a known
perturbation of that layer alone, :func:`scaled_noise`) the sum becomes
``sum_l g_l eps_l^2`` (:func:`propagated_noise`), still first order and independent of the
quantizer.

**Output agreement.**  For a test image with float logits ``z`` (C classes)
the quantized logits are modelled as ``z + e`` with independent Gaussian
``e_c ~ N(0, eps_tot^2 m_c)``, where ``m_c = E[z_c^2]`` is logit c's
uncentred second moment over calibration images (the same normalisation as
``S``: the noise power is relative to the signal power of that unit).  The
probability that class ``k`` wins is the 1-D integral

    P_k = integral phi(u) prod_{j != k} Phi((z_k - z_j + s_k u) / s_j) du,
    s_c = eps_tot sqrt(m_c),

computed with Gauss-Hermite quadrature (:func:`win_probability`).  The
predicted output agreement is the mean of ``P_k`` at the float top-1 class
``k``; the predicted accuracy is the mean of ``P_y`` at the true label ``y``
(:func:`predict_outputs`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from .predictions import field_agreement, synaptic_noise


# -- validation -------------------------------------------------------------
def _finite(name: str, x: Any, ndim: int | tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or Inf)")
    return a


# -- data-aware correlation ---------------------------------------------------
def second_moment(x: Any, bias: bool = True) -> np.ndarray:
    """Uncentred second moment ``S = E[x x^T]`` of layer inputs, with a constant 1 appended if ``bias``.

    **Arguments:** `x`: (n, d) inputs (for a conv: unfolded patches, one row per
    output position); `bias`: append the constant input that multiplies the bias.

    **Returns:** (d+1, d+1) if `bias` else (d, d).
    """
    a = _finite("x", x, 2)
    if bias:
        a = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
    return a.T @ a / a.shape[0]


def augment(w: Any, b: Any = None) -> np.ndarray:
    """``[w, b]``: (units, d) weights with the bias as the last column (zeros if ``b`` is None)."""
    W = _finite("w", w, 2)
    if b is None:
        bb = np.zeros((W.shape[0], 1))
    else:
        bb = _finite("b", b, 1)
        if bb.size != W.shape[0]:
            raise ValueError(f"b must have one entry per unit ({W.shape[0]}), got {bb.size}")
        bb = bb[:, None]
    return np.concatenate([W, bb], axis=1)


def _quadratic_forms(W: np.ndarray, Q: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise ``w^T S q``, ``w^T S w``, ``q^T S q`` for (units, d) W, Q and (d, d) or (units, d, d) S."""
    if S.ndim == 2:
        WS, QS = W @ S, Q @ S
    else:
        WS, QS = np.einsum("id,ide->ie", W, S), np.einsum("id,ide->ie", Q, S)
    return np.einsum("ie,ie->i", WS, Q), np.einsum("ie,ie->i", WS, W), np.einsum("ie,ie->i", QS, Q)


def _check_wqs(w: Any, q: Any, S: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    W = _finite("w", w, (1, 2))
    Q = _finite("q", q, (1, 2))
    W, Q = np.atleast_2d(W), np.atleast_2d(Q)
    if W.shape != Q.shape:
        raise ValueError(f"q must have the shape of w {W.shape}, got {Q.shape}")
    Sa = _finite("S", S, (2, 3))
    d = W.shape[1]
    if Sa.shape[-2:] != (d, d) or (Sa.ndim == 3 and Sa.shape[0] != W.shape[0]):
        raise ValueError(f"S must be ({d}, {d}) or ({W.shape[0]}, {d}, {d}) for w of shape {W.shape}, got {Sa.shape}")
    return W, Q, Sa


def data_aware_rho(w: Any, q: Any, S: Any) -> np.ndarray:
    """Per-unit ``r_i = w_i^T S q_i / sqrt(w_i^T S w_i * q_i^T S q_i)``.

    **Arguments:**

    - `w`: (units, d) float weights (bias-augmented, see :func:`augment`).
    - `q`: (units, d) quantized weights, same augmentation (bias float).
    - `S`: (d, d) input second moment (:func:`second_moment`), or (units, d, d)
      one per unit (grouped/depthwise convolutions, where units see different inputs).

    **Returns:** (units,) correlations in [-1, 1] (1 where a unit has no signal).
    With ``S = I`` this is the plain weight correlation rho of each unit.
    """
    W, Q, Sa = _check_wqs(w, q, S)
    wsq, wsw, qsq = _quadratic_forms(W, Q, Sa)
    den = np.sqrt(np.maximum(wsw, 0) * np.maximum(qsq, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, wsq / den, 1.0)
    return np.clip(r, -1.0, 1.0)


def sign_change_rate(r: Any) -> Any:
    """Predicted probability that a pre-activation changes sign, ``arccos(r)/pi = 1 - field_agreement(r)``."""
    out = 1.0 - np.asarray(field_agreement(r))
    return float(out) if out.ndim == 0 else out


def _bvn_lower(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``P(X < h, Y < k)`` for standard bivariate normal (X, Y) with correlation ``rho`` (Owen's T, exact).

    D. B. Owen, Ann. Math. Stat. 27:1075, 1956:
    ``L = (Phi(h) + Phi(k))/2 - T(h, a_h) - T(k, a_k) - beta`` with
    ``a_h = (k - rho h)/(h s)``, ``a_k = (h - rho k)/(k s)``, ``s = sqrt(1 - rho^2)``,
    ``beta = 1/2`` if ``h k < 0`` (or ``h k = 0`` and ``h + k < 0``), else 0.
    """
    eps = 1e-12
    h = np.where(np.abs(h) < eps, eps, h)
    k = np.where(np.abs(k) < eps, eps, k)
    r = np.clip(rho, -1 + 1e-15, 1 - 1e-15)
    sq = np.sqrt(1 - r * r)
    out = 0.5 * (special.ndtr(h) + special.ndtr(k)) - special.owens_t(h, (k - r * h) / (h * sq)) \
        - special.owens_t(k, (h - r * k) / (k * sq)) - np.where(h * k < 0, 0.5, 0.0)
    return np.clip(out, 0.0, 1.0)


def sign_change_rate_gaussian(w: Any, q: Any, S: Any) -> np.ndarray:
    """Per-unit ``P(sign z != sign z')`` for Gaussian fields with the data's means and covariance.

    A refinement of :func:`sign_change_rate` for inputs with a large mean (after a ReLU every
    input is >= 0): ``(z, z')`` is taken bivariate normal with means ``w~^T m``, ``q~^T m``
    and the *centred* covariance, where ``m = E[x~]`` is read off the last column of the
    bias-augmented ``S`` (its last input is the constant 1).  Then
    ``P(differ) = P(z < 0) + P(z' < 0) - 2 P(z < 0, z' < 0)`` (:func:`_bvn_lower`).  With
    zero means it is Sheppard's ``arccos(r)/pi``.

    **Arguments:** as :func:`data_aware_rho`, with ``w``, ``q`` and ``S`` bias-augmented
    (:func:`augment`, :func:`second_moment` with ``bias=True``).
    """
    W, Q, Sa = _check_wqs(w, q, S)
    S3 = Sa if Sa.ndim == 3 else Sa[None]
    if not np.allclose(S3[:, -1, -1], 1.0):
        raise ValueError("S must be bias-augmented (its last diagonal entry, E[1*1], must be 1)")
    m = S3[:, :, -1]  # (G or 1, d): E[x~]
    M = m if Sa.ndim == 3 else np.broadcast_to(m, W.shape)
    mz, mq = np.einsum("id,id->i", W, M), np.einsum("id,id->i", Q, M)
    wsq, wsw, qsq = _quadratic_forms(W, Q, Sa)
    vz, vq, c = np.maximum(wsw - mz * mz, 0), np.maximum(qsq - mq * mq, 0), wsq - mz * mq
    sz, sq = np.sqrt(vz), np.sqrt(vq)
    live = (sz > 0) & (sq > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(live, c / (sz * sq), 1.0)
        h, k = np.where(live, -mz / sz, 0.0), np.where(live, -mq / sq, 0.0)
    both = _bvn_lower(h, k, np.clip(rho, -1, 1))
    p = special.ndtr(h) + special.ndtr(k) - 2 * both
    # no fluctuation: the sign is that of the mean, for both fields
    det = (np.sign(mz) != np.sign(mq)).astype(np.float64)
    return np.where(live, np.clip(p, 0.0, 1.0), det)


def layer_noise(w: Any, q: Any, S: Any, r_floor: float = 0.05) -> float:
    """Relative noise power of a layer's pre-activations, ``sum_i (1/r_i^2 - 1) w_i^T S w_i / sum_i w_i^T S w_i``.

    Same arguments as :func:`data_aware_rho`.  With ``S = I`` and one unit this is
    ``synaptic_noise(rho)`` of the weights.  ``r_i`` is floored at `r_floor` (a unit whose
    quantized weights lost almost all correlation, e.g. a tiny depthwise channel under a
    sign quantizer, counts as ``1/r_floor^2 - 1`` = 399 times its power in noise instead of
    infinitely much: its information is gone, but it cannot inject unbounded noise).
    """
    W, Q, Sa = _check_wqs(w, q, S)
    if not 0 < r_floor <= 1:
        raise ValueError(f"r_floor must be in (0, 1], got {r_floor!r}")
    wsq, wsw, qsq = _quadratic_forms(W, Q, Sa)
    power = np.maximum(wsw, 0)
    tot = power.sum()
    if tot <= 0:
        return 0.0
    den = np.sqrt(power * np.maximum(qsq, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, wsq / den, 1.0)
    r = np.clip(r, r_floor, 1.0)
    return float(np.sum(power * (1.0 / r**2 - 1.0)) / tot)


def scaled_noise(w: Any, d: Any, S: Any, eps2: float) -> np.ndarray:
    """``d`` rescaled unit by unit so that ``d_i^T S d_i = eps2 * w_i^T S w_i`` (relative noise power ``eps2``).

    Arguments as :func:`data_aware_rho` (``d`` a perturbation of the shape of ``w``); a unit with
    no signal or no perturbation power gets zero.  Used to inject a known relative noise into a
    layer and measure how it reaches the logits (the propagation gain of the layer).
    """
    W, D, Sa = _check_wqs(w, d, S)
    e = float(eps2)
    if not (np.isfinite(e) and e > 0):
        raise ValueError(f"eps2 must be a finite positive number, got {eps2!r}")
    _, wsw, dsd = _quadratic_forms(W, D, Sa)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where((dsd > 0) & (wsw > 0), np.sqrt(e * np.maximum(wsw, 0) / dsd), 0.0)
    return D * k[:, None]


# -- accumulation and output agreement -------------------------------------------
def total_noise(eps2: Any) -> float:
    """``eps_tot^2 = sum_l eps_l^2``: independent first-order relative noises add (see module docstring)."""
    e = np.asarray(eps2, dtype=np.float64)
    if e.size == 0 or np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError(f"eps2 must be non-empty and >= 0, got {eps2!r}")
    return float(np.sum(e))


def propagated_noise(eps2: Any, gains: Any) -> float:
    """``sum_l g_l eps_l^2``: the first-order sum with each layer's relative noise scaled by its gain to the logits.

    ``g_l = 1`` is :func:`total_noise` (the noise reaches the logits with the signal's relative
    gain).  A real network amplifies or damps a layer's noise on its way to the logits (ReLUs cut
    part of it, residual branches add the signal back); ``g_l`` is measured once per layer on the
    float network by injecting a known relative noise (:func:`scaled_noise`), independent of the
    quantizer, and the prediction stays first order in the noise.
    """
    e = np.asarray(eps2, dtype=np.float64)
    g = np.asarray(gains, dtype=np.float64)
    if e.ndim != 1 or e.size == 0 or np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError(f"eps2 must be a non-empty 1-D array >= 0, got {eps2!r}")
    if g.shape != e.shape or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(f"gains must be finite, >= 0 and one per layer ({e.size}), got {gains!r}")
    return float(np.sum(g * e))


def noise_from_rho(rho: Any) -> np.ndarray:
    """``1/rho^2 - 1`` elementwise, infinite for rho <= 0 (:func:`theory.synaptic_noise`)."""
    r = np.asarray(rho, dtype=np.float64)
    out = np.full(r.shape, np.inf)
    pos = r > 0
    out[pos] = synaptic_noise(r[pos]) if pos.any() else out[pos]
    return out


_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_GH_WEIGHTS = _GH_WEIGHTS / np.sqrt(2 * np.pi)


def win_probability(logits: Any, k: Any, sigma: Any) -> np.ndarray:
    """``P(argmax(z + e) = k)`` for independent ``e_c ~ N(0, sigma_c^2)``, per image.

    **Arguments:** `logits`: (n, C); `k`: (n,) int class per image; `sigma`: (C,)
    or (n, C) noise standard deviations (>= 0).

    **Returns:** (n,) probabilities, by 48-point Gauss-Hermite quadrature over
    the noise of class k (``prod_{j != k} Phi((z_k - z_j + s_k u)/s_j)``).
    """
    z = _finite("logits", logits, 2)
    n, C = z.shape
    kk = np.asarray(k)
    if kk.shape != (n,) or not np.issubdtype(kk.dtype, np.integer) or np.any(kk < 0) or np.any(kk >= C):
        raise ValueError(f"k must be (n,) = ({n},) integer classes in 0..{C - 1}")
    s = np.broadcast_to(_finite("sigma", sigma, (1, 2)), (n, C))
    if np.any(s < 0):
        raise ValueError("sigma must be >= 0")
    rows = np.arange(n)
    zk, sk = z[rows, kk], s[rows, kk]
    diff = zk[:, None] - z  # (n, C)
    x = diff[:, :, None] + sk[:, None, None] * _GH_NODES[None, None, :]  # (n, C, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = x / s[:, :, None]
    # zero noise in class j: a step function
    arg = np.where(s[:, :, None] > 0, arg, np.where(x > 0, np.inf, np.where(x < 0, -np.inf, 0.0)))
    logp = special.log_ndtr(arg)
    logp[rows, kk, :] = 0.0
    return np.exp(logp.sum(axis=1)) @ _GH_WEIGHTS


def predict_outputs(logits: Any, eps2_total: float, logit_power: Any = None, labels: Any = None) -> dict[str, Any]:
    """Predicted output agreement and accuracy after quantization with total relative noise ``eps2_total``.

    **Arguments:**

    - `logits`: (n, C) float logits of the test images.
    - `eps2_total`: ``sum_l eps_l^2`` (:func:`total_noise`), >= 0.
    - `logit_power`: (C,) ``E[z_c^2]`` over calibration images (default: over ``logits``).
    - `labels`: (n,) true classes, to predict accuracy.

    **Returns:** ``{"agreement", "agreement_per_image", "accuracy" (if labels), "float_accuracy" (if labels)}``.
    """
    z = _finite("logits", logits, 2)
    e2 = float(eps2_total)
    if not (e2 >= 0):
        raise ValueError(f"eps2_total must be >= 0, got {eps2_total!r}")
    m = np.mean(z * z, axis=0) if logit_power is None else _finite("logit_power", logit_power, 1)
    if m.size != z.shape[1]:
        raise ValueError(f"logit_power must have one entry per class ({z.shape[1]}), got {m.size}")
    if not np.isfinite(e2):
        C = z.shape[1]
        out = {"agreement": 1.0 / C, "agreement_per_image": np.full(z.shape[0], 1.0 / C)}
        if labels is not None:
            out |= {"accuracy": 1.0 / C, "float_accuracy": float(np.mean(z.argmax(1) == np.asarray(labels)))}
        return out
    sigma = np.sqrt(e2 * np.maximum(m, 0))
    top = z.argmax(axis=1)
    agree = win_probability(z, top, sigma)
    out: dict[str, Any] = {"agreement": float(agree.mean()), "agreement_per_image": agree}
    if labels is not None:
        y = np.asarray(labels)
        if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be ({z.shape[0]},) integers")
        out["accuracy"] = float(win_probability(z, y, sigma).mean())
        out["float_accuracy"] = float(np.mean(top == y))
    return out


__all__ = [
    "second_moment", "augment", "data_aware_rho", "sign_change_rate", "sign_change_rate_gaussian", "layer_noise",
    "scaled_noise", "total_noise", "propagated_noise", "noise_from_rho", "win_probability", "predict_outputs",
]
