"""corrquant.hopfield: Hebbian associative memory in JAX with quantized symmetric weights.

Hebb rule and dynamics (Hopfield, PNAS 79:2554, 1982); retrieval and capacity
(Amit, Gutfreund, Sompolinsky, PRL 55:1530, 1985; Ann. Phys. 173:30, 1987);
quantized synapses as static noise (Sompolinsky, PRA 34:2571, 1986).  All
quantization goes through :class:`theory.Quantizer`.
"""

from .scan import capacity_scan
from .critical_load import capacity, finite_size
from .dynamics import (CYCLE, FIXED_POINT, LIMIT, MODES, STATUS_NAMES, RunResult, async_single, async_sweep, energy, event_sweep,
                       run, run_batch, sign_keep, sync_single, tie_tolerance, update_neuron)
from .experiments import COMPARISON_QUANTIZERS, basins, compare_quantizers, quantizer_label, resolve_quantizer, retrieval
from .hebbian import hebbian, offdiag_rms, quantize
from .overlap_dynamics import overlap_run_batch, run_hebbian
from .patterns import GLYPHS, flip_bits, glyph, glyph_patterns, random_patterns
from .report import REPORT_QUANTIZERS, report_section
from .sharding import batch_sharding, run_sharded
from .tour import getting_started

__all__ = [
    "hebbian", "quantize", "offdiag_rms",
    "random_patterns", "flip_bits", "glyph", "glyph_patterns", "GLYPHS",
    "run", "run_batch", "RunResult", "energy", "sign_keep", "tie_tolerance", "update_neuron", "async_sweep", "event_sweep", "async_single", "sync_single",
    "FIXED_POINT", "CYCLE", "LIMIT", "STATUS_NAMES", "MODES",
    "run_hebbian", "overlap_run_batch",
    "run_sharded", "batch_sharding",
    "retrieval", "basins", "compare_quantizers", "resolve_quantizer", "quantizer_label", "COMPARISON_QUANTIZERS",
    "capacity", "finite_size", "capacity_scan",
    "report_section", "REPORT_QUANTIZERS", "getting_started",
]
