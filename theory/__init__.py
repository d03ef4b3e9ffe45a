"""corrquant.theory: the one Quantizer, closed-form weight correlation, Hopfield predictions.

numpy/scipy/sympy only; JAX and torch arrays are recognised but never imported here.
"""

from ._quantizer import MAX_LEVELS, Quantizer
from .correlation import GAINS, centroid_levels, gain_factor, moments, rho, rho_closed_form, rho_empirical
from .densities import DISTRIBUTIONS, Density, Empirical, get_density, hebbian_density
from .families import FAMILIES, exponential, lloyd_max, make, sign, ternary, uniform
from .fitting import METHODS, apply_channels, fit, fit_channels, minmax_uniform
from .predictions import field_agreement, predicted_capacity, overlap, synaptic_noise

__all__ = [
    "MAX_LEVELS", "Quantizer",
    "rho", "rho_closed_form", "rho_empirical", "moments", "centroid_levels", "GAINS", "gain_factor",
    "DISTRIBUTIONS", "Density", "Empirical", "get_density", "hebbian_density",
    "FAMILIES", "sign", "ternary", "uniform", "exponential", "lloyd_max", "make",
    "METHODS", "fit", "fit_channels", "apply_channels", "minmax_uniform",
    "field_agreement", "synaptic_noise", "overlap", "predicted_capacity",
]
