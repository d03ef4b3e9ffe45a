"""Typed records: the values deepnets' sweep and bridge experiments return.

Each is a frozen dataclass with ``to_dict()`` (JSON-safe: lists, not tuples or arrays) and
``from_dict(d)`` (the exact inverse; unknown or missing keys raise ``ValueError``).  One
schema per record whatever path the run took: an interrupted run returns the same type
with ``interrupted=True`` and only the finished rows.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar


def _plain(v: Any) -> Any:
    """Python scalars and lists (numpy values and tuples converted) for JSON."""
    if isinstance(v, Record):
        return v.to_dict()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):  # numpy scalars and arrays
        return v.tolist()
    return v


def pack_bools(a: Any) -> str:
    """A 1-D bool array as ``"n:base64(packbits)"`` (8 images a byte; JSON-safe, :func:`unpack_bools` inverts)."""
    import numpy as np

    b = np.asarray(a)
    if b.ndim != 1 or b.dtype != np.bool_:
        raise ValueError(f"a must be a 1-D bool array, got dtype {b.dtype} and shape {b.shape}")
    return f"{b.size}:{base64.b64encode(np.packbits(b).tobytes()).decode('ascii')}"


def unpack_bools(s: str) -> Any:
    """The (n,) bool array of :func:`pack_bools`."""
    import numpy as np

    if not isinstance(s, str) or ":" not in s:
        raise ValueError(f"s must be a string 'n:base64' written by pack_bools, got {s!r:.40}")
    n, data = s.split(":", 1)
    if not n.isdigit():
        raise ValueError(f"s must start with the number of entries, got {n!r:.20}")
    bits = np.unpackbits(np.frombuffer(base64.b64decode(data, validate=True), dtype=np.uint8))
    if bits.size < int(n) or bits.size - int(n) >= 8:
        raise ValueError(f"s holds {bits.size} bits, not the {n} it says")
    return bits[: int(n)].astype(bool)


class Record:
    """Mixin of the frozen record dataclasses: ``to_dict`` / ``from_dict``.

    ``_nested`` maps a field name to the record type of its items (a tuple of records).
    """

    _nested: ClassVar[dict[str, type]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if not isinstance(d, dict):
            raise ValueError(f"d must be a dict, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        unknown, missing = set(d) - set(names), required - set(d)
        if unknown or missing:
            raise ValueError(f"d: {cls.__name__} keys unknown {sorted(unknown)}, missing {sorted(missing)}")
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name in cls._nested:
                v = tuple(cls._nested[f.name].from_dict(x) for x in v)
            elif isinstance(v, list):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
            kw[f.name] = v
        return cls(**kw)


# -- sweep ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepRow(Record):
    """One (model, method, bits) of :func:`deepnets.sweep`; the float model is ``method="float"``, ``bits=32``.

    Accuracies in percent (``top1``, ``top5``, ``float_top1``), ``drop = float_top1 - top1`` in
    points; sizes are bytes on disk; ``config`` and ``layer_rho`` are JSON strings (CSV-friendly).
    """

    model: str
    dataset: str
    method: str
    bits: int
    granularity: str
    bn_folded: bool
    top1: float
    top5: float
    drop: float
    mean_rho: float
    packed_bytes: int
    float_bytes: int
    ratio: float
    bound_ratio: float
    n: int
    float_top1: float
    config: str
    layer_rho: str


@dataclass(frozen=True)
class Sweep(Record):
    """The rows of :func:`deepnets.sweep`, in order; a sequence of :class:`SweepRow`.

    ``interrupted``: the run stopped early (Ctrl-C); ``rows`` holds what was finished.
    """

    rows: tuple[SweepRow, ...]
    interrupted: bool = False
    _nested: ClassVar[dict[str, type]] = {"rows": SweepRow}

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


# -- bridge ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignChangeRecord(Record):
    """One (layer, method, bits) of :func:`deepnets.bridge.sign_changes`: fractions of pre-activations.

    ``measured`` sign-change rate; predictions ``arccos(r)/pi`` averaged over units with r the
    data-aware correlation (``pred_data``), the Gaussian fields with their means (``pred_gauss``),
    the plain weight rho per unit (``pred_plain``) and per layer (``pred_plain_layer``); ``se`` its
    binomial standard error; ``rho`` the layer's weight rho, ``r_data_mean`` the mean data-aware r.
    """

    model: str
    layer: str
    kind: str
    method: str
    bits: int
    measured: float
    pred_data: float
    pred_plain: float
    pred_gauss: float
    pred_plain_layer: float
    se: float
    rho: float
    r_data_mean: float


@dataclass(frozen=True)
class EndToEndRecord(Record):
    """One (model, method, bits), every layer at that width, of :func:`deepnets.bridge.end_to_end`.

    Accuracies, drops and output agreements in percent (points); logit noises are ``1/r^2 - 1``;
    ``_calibrated`` predictions come from the layer-input second moments, ``_data_free`` ones from
    the weight rho alone, ``_propagated`` ones from the calibrated layer noises times each layer's
    measured propagation gain (:func:`deepnets.bridge.propagation_gains`), ``_measured`` ones from
    the measured one-layer logit noises on calibration images, summed (the expensive upper baseline).
    Baseline inputs: ``rho_mean`` (mean layer weight rho), ``rho_weighted`` (weighted by parameter count).
    ``correct`` / ``float_correct``: per test image, is the quantized / float top-1 right
    (:func:`pack_bools`), so that every summary can be bootstrapped over test images.
    """

    model: str
    method: str
    bits: int
    float_top1: float
    measured_agreement: float
    measured_top1: float
    measured_drop: float
    measured_logit_noise: float
    logit_gain: float
    pred_agreement_given_measured_noise: float
    eps2_calibrated: float
    pred_agreement_calibrated: float
    pred_top1_calibrated: float
    pred_drop_calibrated: float
    eps2_data_free: float
    pred_agreement_data_free: float
    pred_top1_data_free: float
    pred_drop_data_free: float
    eps2_propagated: float
    pred_agreement_propagated: float
    pred_top1_propagated: float
    pred_drop_propagated: float
    eps2_measured: float
    pred_drop_measured: float
    rho_mean: float
    rho_weighted: float
    correct: str
    float_correct: str


@dataclass(frozen=True)
class AllocationRecord(Record):
    """One (model, average bits, strategy) of :func:`deepnets.bridge.allocation_experiment`.

    ``bits``: the width of each layer; ``top1``, ``float_top1`` and ``agreement`` (with the float
    model's top class) in percent; sizes in bytes of the packed file; ``budget_bytes`` the budget;
    ``correct`` / ``float_correct``: per test image, is the top-1 right (:func:`pack_bools`).
    """

    model: str
    method: str
    avg_bits: float
    strategy: str
    bits: tuple[int, ...]
    top1: float
    float_top1: float
    agreement: float
    code_bits_per_weight: float
    file_bytes: int
    codes_bytes: int
    codebook_bytes: int
    budget_bytes: float
    correct: str
    float_correct: str


@dataclass(frozen=True)
class LayerRankRecord(Record):
    """How well one predictor ranks a model's layers by measured one-layer sensitivity (bridge experiment 3).

    ``tau``: Kendall tau-b between the predictor's per-layer score and the measured one-layer logit
    noise (calibration images), averaged over the widths ``bits``; ``lo``, ``hi``: 95% bootstrap
    interval over calibration images; ``n_layers`` layers.
    """

    model: str
    method: str
    predictor: str
    bits: tuple[int, ...]
    tau: float
    lo: float
    hi: float
    n_layers: int


@dataclass(frozen=True)
class LayerInfo(Record):
    """A Conv2d/Linear layer: name, kind ("conv", "depthwise conv", "linear") and weight count."""

    name: str
    kind: str
    params: int


@dataclass(frozen=True)
class BridgeAnalysis(Record):
    """The three bridge experiments on one model (:func:`deepnets.bridge.analyse_model`).

    ``gains``: the measured propagation gain of each layer (:func:`deepnets.bridge.propagation_gains`);
    ``layer_ranking``: how each predictor ranks the layers.  ``interrupted``: stopped early; the experiments not reached are empty and ``seconds`` is the
    time spent.
    """

    model: str
    layers: tuple[LayerInfo, ...]
    sign_changes: tuple[SignChangeRecord, ...] = field(default=())
    end_to_end: tuple[EndToEndRecord, ...] = field(default=())
    allocation: tuple[AllocationRecord, ...] = field(default=())
    layer_ranking: tuple[LayerRankRecord, ...] = field(default=())
    gains: tuple[float, ...] = field(default=())
    seconds: float = math.nan
    interrupted: bool = False
    _nested: ClassVar[dict[str, type]] = {"layers": LayerInfo, "sign_changes": SignChangeRecord,
                                          "end_to_end": EndToEndRecord, "allocation": AllocationRecord,
                                          "layer_ranking": LayerRankRecord}
