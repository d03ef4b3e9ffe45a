"""Hebbian weights and their quantization.

- Hebb rule (J. J. Hopfield, PNAS 79:2554, 1982): ``W = (1/N) xi^T xi`` with a
  zero diagonal, for patterns ``xi: (p, N)`` in {-1, +1}.  An off-diagonal entry
  is ``(2j - p)/N`` with ``j ~ Bin(p, 1/2)`` for random patterns, so its
  standard deviation is ``sqrt(p)/N`` (theory's ``hebbian_density(p)`` is this
  entry in units of that std).
- Quantized weights: every off-diagonal entry goes through one
  :class:`theory.Quantizer` (never a second implementation of thresholds and
  levels), applied by one function, :func:`apply_quantizer`:
  ``scale * q(W / scale)`` with ``q`` in units of the weights' std.  An
  elementwise function of a symmetric matrix is symmetric, and the diagonal is
  set back to zero.  Near saturation such a nonlinear synapse is Hebb plus
  static synaptic noise (H. Sompolinsky, PRA 34:2571, 1986).

Which quantizer for a Hebbian matrix of p patterns: the recipe's a-priori
optimum ``recipe.optimal(theory.hebbian_density(p))`` (rho-optimal for the exact
binomial density of the entries) with ``scale = sqrt(p)/N``, the exact std of
the entries of random unbiased patterns, so the thresholds fall exactly where
the closed form puts them.  The experiments and ``quantize(W, recipe, p=p)``
take this same path; ``quantize`` without ``p`` uses the Gaussian optimum and
the measured RMS.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import theory
from theory import Quantizer

from ._checks import check_hebbian_size, check_int, check_patterns, check_weights


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
    check_hebbian_size(*xi.shape)  # the (N, N) matrix, before it is allocated
    return hebbian_jax(jnp.asarray(xi, dtype=jnp.float32))


def offdiag_rms(W: jax.Array) -> jax.Array:
    """Root mean square of the off-diagonal entries of ``W: (N, N)`` (a 0-d array; jit-able)."""
    N = W.shape[0]
    return jnp.sqrt(jnp.sum(W * W * (1.0 - jnp.eye(N, dtype=W.dtype))) / (N * (N - 1)))


# -- which quantizer ----------------------------------------------------------------
#: A quantizer spec: None (float weights), a ``theory.Recipe``, a method name (``"sign"``), a
#: ``(method, K)`` tuple, or a ``theory.Quantizer`` in units of the weights' std (used as is).
QuantizerSpec = Any


def _as_recipe(spec: Any) -> Any:
    """The one place hopfield parses a quantizer spec: ``theory.as_recipe`` (strings and tuples are a convenience)."""
    try:
        return theory.as_recipe(spec)
    except ValueError as e:
        raise ValueError(f"quantizer must be None, a theory.Quantizer, a theory.Recipe, a method name or "
                         f"(method, K): {e}") from None


@lru_cache(maxsize=256)
def _optimal(recipe: Any, p: int, dist: str) -> Quantizer:
    return recipe.optimal(theory.hebbian_density(p) if dist == "hebbian" else dist)


def as_spec(spec: QuantizerSpec) -> Any:
    """``spec`` parsed once at a public entry point: None, a :class:`theory.Quantizer`, or a :class:`theory.Recipe`."""
    return spec if spec is None or isinstance(spec, Quantizer) else _as_recipe(spec)


def spec_recipe(spec: QuantizerSpec) -> Any:
    """The :class:`theory.Recipe` of a spec for the records (None for float weights or a given Quantizer)."""
    spec = as_spec(spec)
    return None if spec is None or isinstance(spec, Quantizer) else spec


def unit_quantizer(spec: QuantizerSpec, p: int, dist: str = "hebbian") -> Quantizer | None:
    """The unit-sigma quantizer of ``spec`` for a Hebbian matrix of ``p`` patterns (None for float weights).

    A recipe gives ``recipe.optimal(theory.hebbian_density(p))``, rho-optimal for the
    exact binomial density of the entries (``dist="hebbian"``), or for a density
    theory knows by name (``dist="gaussian"``); a :class:`theory.Quantizer` is used as is.
    """
    if spec is None or isinstance(spec, Quantizer):
        return spec
    recipe = _as_recipe(spec)
    try:
        return _optimal(recipe, int(p), dist)
    except ValueError as e:  # e.g. min-max, which has no a-priori optimum
        raise ValueError(f"quantizer {recipe!r} has no a-priori quantizer for dist={dist!r}: {e}") from None


def quantizer_label(spec: QuantizerSpec) -> str:
    """A short label: ``"float"``, ``"sign"``, ``"uniform 3 bit"``, ``"uniform K=5"``, or the Quantizer's name."""
    if spec is None:
        return "float"
    if isinstance(spec, Quantizer):
        return spec.name
    r = _as_recipe(spec)
    if r.label.split("+")[0] == r.method:  # a method whose level count is fixed names itself
        name = r.method
    else:
        name = f"{r.method} {r.bits} bit" if 2**r.bits == r.K else f"{r.method} K={r.K}"
    return name if r.gain == "mse" else f"{name}+{r.gain}"


def hebbian_scale(p: int, N: int) -> jax.Array:
    """``sqrt(p)/N`` as float32: the exact std of an off-diagonal Hebbian entry of random unbiased patterns."""
    return jnp.float32(math.sqrt(p) / N)


def apply_quantizer(W: jax.Array, quantizer: Quantizer, scale: jax.Array) -> jax.Array:
    """``scale * quantizer(W / scale)`` off the diagonal, 0 on it: the only code that quantizes a weight matrix.

    :func:`quantize` and the experiments both call it, so they give the same bits.
    ``scale`` is a float32 scalar (may be traced); the quantizer is a static value.
    """
    N = W.shape[0]
    qW = scale * quantizer(W / scale)
    return jnp.where(jnp.eye(N, dtype=bool), jnp.zeros((), W.dtype), qW)


def quantize(W: Any, quantizer: QuantizerSpec, *, p: int | None = None, scale: float | None = None) -> jax.Array:
    """Quantize the off-diagonal entries of a symmetric weight matrix.

    **Arguments:**

    - `W`: (N, N) symmetric, zero diagonal, N >= 2.
    - `quantizer`: None (W returned as float32), a :class:`theory.Quantizer` in units of
      the weights' std (e.g. ``theory.sign()``), or a recipe spec (a ``theory.Recipe``,
      ``"sign"``, ``("uniform", 8)``).  A recipe is made rho-optimal for the exact
      Hebbian entry density when `p` is given, else for a Gaussian.
    - `p`: the number of patterns of a Hebbian W (>= 1): the a-priori quantizer of the
      experiments, and the default `scale` ``sqrt(p)/N``.
    - `scale`: std of the weights in W's units; default ``sqrt(p)/N`` with `p`, else the RMS
      of W's off-diagonal entries.  ``scale=1`` applies `quantizer` as is.

    **Returns:** (N, N) float32 JAX array ``scale * q(W / scale)`` off the diagonal, zero on
    it (:func:`apply_quantizer`); symmetric because W is.  Near saturation such a synapse is
    Hebb plus static synaptic noise (H. Sompolinsky, PRA 34:2571, 1986).
    """
    w = jnp.asarray(check_weights(W))
    N = w.shape[0]
    if p is not None:
        p = check_int("p", p, 1)
    q = unit_quantizer(quantizer, 1 if p is None else p, "hebbian" if p is not None else "gaussian")
    if q is None:
        return w
    if scale is not None:
        s = float(scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale!r}")
        s = jnp.float32(s)
    elif p is not None:
        s = hebbian_scale(p, N)
    else:
        s = offdiag_rms(w)
        if not float(s) > 0:
            raise ValueError("W has no non-zero off-diagonal entry: pass scale explicitly")
    return apply_quantizer(w, q, s)
