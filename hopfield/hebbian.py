"""Hebbian weights and their quantization.

- Hebb rule (J. J. Hopfield, PNAS 79:2554, 1982): ``W = (1/N) xi^T xi`` with a
  zero diagonal, for patterns ``xi: (p, N)`` in {-1, +1}.  An off-diagonal entry
  is ``(2j - p)/N`` with ``j ~ Bin(p, 1/2)`` for random patterns, so its
  standard deviation is ``sqrt(p)/N`` (theory's ``hebbian(p)`` density is this
  entry in units of that std).
- Quantized weights: every off-diagonal entry goes through one
  :class:`theory.Quantizer` (never a second implementation of thresholds and
  levels).  Quantizers from theory's families are in units of the weights' std,
  so ``quantize`` applies ``quantizer.scaled(scale)`` with ``scale`` the RMS of
  the off-diagonal entries unless given.  An elementwise function of a
  symmetric matrix is symmetric, and the diagonal is set back to zero.  Near
  saturation such a nonlinear synapse is Hebb plus static synaptic noise
  (H. Sompolinsky, PRA 34:2571, 1986).

Which quantizer for a Hebbian matrix: the experiments use
``theory.make(family, K, dist=("hebbian", p))`` (rho-optimal for the exact
binomial density of the entries) with ``scale = sqrt(p)/N``, the exact std of
the entries of random unbiased patterns, so the thresholds fall exactly where
the closed form puts them; :func:`quantize` alone defaults to the measured RMS.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory import Quantizer

from ._checks import check_patterns, check_weights


@jax.jit
def hebbian_jax(patterns: jax.Array) -> jax.Array:
    """Jitted core of :func:`hebbian`; trusts ``patterns: (p, N)`` float in {-1, +1}."""
    p, N = patterns.shape
    W = (patterns.T @ patterns) / N
    return W * (1.0 - jnp.eye(N, dtype=W.dtype))


def hebbian(patterns: Any) -> jax.Array:
    """The Hebb-rule weight matrix (Hopfield 1982).

    **Arguments:**

    - `patterns`: (p, N) in {-1, +1}, p >= 1, N >= 2.

    **Returns:** `W`: (N, N) float32 JAX array, ``W = xi^T xi / N``, symmetric with zero diagonal.
    """
    xi = check_patterns(patterns)
    return hebbian_jax(jnp.asarray(xi, dtype=jnp.float32))


def offdiag_rms(W: jax.Array) -> jax.Array:
    """Root mean square of the off-diagonal entries of ``W: (N, N)`` (a 0-d array; jit-able)."""
    N = W.shape[0]
    return jnp.sqrt(jnp.sum(W * W * (1.0 - jnp.eye(N, dtype=W.dtype))) / (N * (N - 1)))


def quantize_jax(W: jax.Array, quantizer: Quantizer, scale: jax.Array) -> jax.Array:
    """Jit-able core of :func:`quantize`: ``quantizer.scaled(scale)(W)`` off the diagonal, 0 on it.

    Written as ``scale * quantizer(W / scale)`` so that ``scale`` may be a traced
    value (``Quantizer.scaled`` needs a Python float); the quantizer itself is a
    static (closed-over) value.
    """
    N = W.shape[0]
    qW = scale * quantizer(W / scale)
    return jnp.where(jnp.eye(N, dtype=bool), jnp.zeros((), W.dtype), qW)


def quantize(W: Any, quantizer: Quantizer, scale: float | None = None) -> jax.Array:
    """Quantize the off-diagonal entries of a symmetric weight matrix.

    **Arguments:**

    - `W`: (N, N) symmetric, zero diagonal, N >= 2.
    - `quantizer`: a :class:`theory.Quantizer` in units of the weights' std
      (e.g. ``theory.make("uniform", 8)``, ``theory.sign()``).
    - `scale`: std of the weights in W's units; default the RMS of W's
      off-diagonal entries.  ``scale=1`` applies `quantizer` as is.

    **Returns:** (N, N) float32 JAX array ``quantizer.scaled(scale)(W)`` off the
    diagonal, zero on it; symmetric because W is.
    """
    if not isinstance(quantizer, Quantizer):
        raise ValueError(f"quantizer must be a theory.Quantizer, got {type(quantizer).__name__}")
    w = jnp.asarray(check_weights(W))
    if scale is None:
        s = float(offdiag_rms(w))
        if not s > 0:
            raise ValueError("W has no non-zero off-diagonal entry: pass scale explicitly")
    else:
        s = float(scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    q = quantizer.scaled(s)
    N = w.shape[0]
    return jnp.where(jnp.eye(N, dtype=bool), jnp.float32(0), q(w))
