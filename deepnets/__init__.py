"""corrquant.deepnets: theory's quantizers applied post-training to trained image classifiers.

Quantize (:func:`quantize` with a :class:`QuantConfig` or a mapping), pack at the real bit width
(:func:`save`/:func:`load`; the format and bit packing in :mod:`deepnets.storage`),
evaluate (:func:`evaluate`) and sweep methods x bits against PyTorch's own int8
(:func:`sweep`, typed rows :class:`SweepRow`; plots on an ``ax``: :func:`plot_accuracy_vs_bits`,
:func:`plot_accuracy_vs_rho`).  The bridge experiments (predicting the loss from rho) are in
:mod:`deepnets.bridge`.  Sources: Malsagov et al. 2019; Pushkareva & Karandashev 2020;
Han, Mao, Dally 2016 (Deep Compression).  Data and models (``get_dataset``, ``build``,
``load_pretrained``, ``fold_batchnorm``) come from :mod:`deepnets.data` and
:mod:`deepnets.models`; training is ``deepnets.train.train``.
"""

from .data import get_dataset, test_subset
from .models import MODELS, build, fold_batchnorm, load_pretrained
from .baselines import BASELINES
from .evaluate import evaluate
from .quantize import METHODS, PerChannel, PerGroup, PerTensor, QuantConfig, mean_rho, quantize
from .storage import compression, load, save
from .records import SweepRow
from .sweep import smallest_bits_within, sweep, write_csv
from .plots import plot_accuracy_vs_bits, plot_accuracy_vs_rho

__all__ = [
    "get_dataset", "test_subset", "MODELS", "build", "load_pretrained", "fold_batchnorm",
    "METHODS", "BASELINES", "QuantConfig", "PerTensor", "PerChannel", "PerGroup", "quantize", "mean_rho",
    "save", "load", "compression", "evaluate",
    "sweep", "SweepRow", "smallest_bits_within", "write_csv", "plot_accuracy_vs_bits", "plot_accuracy_vs_rho",
]
