"""corrquant.hopfield: Hebbian associative memory in JAX with quantized symmetric weights.

Hebb rule and dynamics (Hopfield, PNAS 79:2554, 1982); retrieval and capacity
(Amit, Gutfreund, Sompolinsky, PRL 55:1530, 1985; Ann. Phys. 173:30, 1987);
quantized synapses as static noise (Sompolinsky, PRA 34:2571, 1986).  All
quantization goes through :class:`theory.Quantizer`; which quantizer is a
:class:`theory.Recipe` (or None for float weights).  Randomness is an explicit,
keyword-only ``key``.  Experiments return the typed records of
:mod:`hopfield.records`, which :mod:`hopfield.plots` draws.  The dynamics kernels
(``async_single``, ``event_sweep``, ...) live in :mod:`hopfield.dynamics`.
"""

from . import plots, records
from .critical_load import finite_size, measure_capacity
from .dynamics import CYCLE, FIXED_POINT, LIMIT, RunResult, energy, run
from .experiments import basins, compare_quantizers, retrieval
from .hebbian import hebbian, quantize, quantizer_label
from .overlap_dynamics import run_hebbian
from .patterns import GLYPHS, flip_bits, glyph, glyph_patterns, random_patterns
from .scan import capacity_scan
from .sharding import run_sharded
from .tour import getting_started

__all__ = [
    "hebbian", "quantize", "quantizer_label",
    "random_patterns", "flip_bits", "glyph", "glyph_patterns", "GLYPHS",
    "run", "RunResult", "energy", "FIXED_POINT", "CYCLE", "LIMIT", "run_hebbian", "run_sharded",
    "retrieval", "basins", "compare_quantizers", "measure_capacity", "finite_size", "capacity_scan",
    "getting_started", "plots", "records",
]
