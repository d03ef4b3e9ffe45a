"""corrquant.deepnets: theory's quantizers applied post-training to trained image classifiers.

Quantize (:func:`quantize`), pack at the real bit width (:func:`save`/:func:`load`),
evaluate (:func:`evaluate`) and sweep methods x bits against PyTorch's own int8
(:func:`sweep`).  Sources: Malsagov et al. 2019; Pushkareva & Karandashev 2020;
Han, Mao, Dally 2016 (Deep Compression).  Data and models (``get_dataset``, ``build``,
``load_pretrained``, ``fold_batchnorm``) come from :mod:`deepnets.data` and
:mod:`deepnets.models`; training is ``deepnets.train.train``.
"""

from .data import get_dataset, loader
from .models import MODELS, build, fold_batchnorm, load_pretrained
from .baselines import BASELINES, dynamic_int8, int8_per_channel, run_baseline
from .evaluate import evaluate
from .quantize import (
    METHODS, LayerQuant, LayerRecord, PerChannel, PerTensor, QuantConfig, QuantState, as_granularity, mean_rho, quantize,
)
from .storage import compression, file_rho, load, pack, packed_nbytes, read_packed, save, save_float, unpack
from .sweep import (
    headline, plot_accuracy_vs_bits, plot_accuracy_vs_rho, report_section, smallest_bits_within, sweep, to_markdown,
    write_csv, write_markdown,
)

__all__ = [
    "get_dataset", "loader", "MODELS", "build", "load_pretrained", "fold_batchnorm",
    "METHODS", "BASELINES", "PerTensor", "PerChannel", "QuantConfig", "QuantState", "LayerQuant", "LayerRecord",
    "as_granularity", "quantize", "mean_rho", "int8_per_channel", "dynamic_int8", "run_baseline",
    "pack", "unpack", "packed_nbytes", "save", "save_float", "load", "read_packed", "compression", "file_rho",
    "evaluate", "sweep", "smallest_bits_within", "headline", "write_csv", "write_markdown", "to_markdown",
    "plot_accuracy_vs_bits", "plot_accuracy_vs_rho", "report_section",
]
