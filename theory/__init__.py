"""corrquant.theory: the quantizer recipe and the (grouped) Quantizer, closed-form weight correlation, Hopfield predictions.

numpy/scipy/sympy only; JAX and torch arrays are recognised but never imported here.

- :class:`Recipe` says which quantizer (method, K or bits, gain); :meth:`Recipe.optimal` gives
  the a-priori rho-optimal one for a density, :meth:`Recipe.fit` fits one to data per tensor,
  channel or group (:class:`PerTensor`, :class:`PerChannel`, :class:`PerGroup`).
- :class:`Quantizer` holds thresholds and levels for one group or many and applies them to
  numpy, JAX and torch arrays, bitwise equal across backends.
- :func:`rho` and :func:`moments`: closed-form and empirical correlation (submodule
  :mod:`theory.correlation`); densities in :mod:`theory.densities`; the sympy derivation in
  :mod:`theory.derivation`; Hopfield predictions :func:`field_agreement`, :func:`synaptic_noise`,
  :func:`overlap`, :func:`predicted_capacity`; the layer-noise bridge in :mod:`theory.layer_noise`
  and bit allocation in :mod:`theory.allocation`.
"""

from ._quantizer import Quantizer
from .correlation import GAINS, moments, rho
from .densities import Empirical, get_density, hebbian_density
from .families import FAMILIES, exponential, lloyd_max, make, sign, ternary, uniform
from .fitting import fit
from .granularity import PerChannel, PerGroup, PerTensor
from .predictions import field_agreement, overlap, predicted_capacity, synaptic_noise
from .recipe import METHODS, Recipe, as_recipe

__all__ = [
    "Recipe", "as_recipe", "METHODS", "GAINS", "Quantizer", "PerTensor", "PerChannel", "PerGroup", "fit",
    "FAMILIES", "make", "sign", "ternary", "uniform", "exponential", "lloyd_max",
    "rho", "moments", "get_density", "hebbian_density", "Empirical",
    "field_agreement", "synaptic_noise", "overlap", "predicted_capacity",
]

