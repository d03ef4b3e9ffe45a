"""Post-training weight quantization of a trained torch classifier with theory's quantizers.

Every Conv2d and Linear weight is replaced by ``q(w)``, where ``q`` is a
:class:`theory.Recipe` fitted to that weight per tensor, per output channel or per group
(:class:`theory.PerTensor`, :class:`theory.PerChannel`, :class:`theory.PerGroup`); biases
and BatchNorm stay float.  No retraining: the setting of Malsagov et al., OMNN
28(4):262-270, 2019 (exponential levels) and Pushkareva & Karandashev, OMNN 29(3):179-186,
2020 (parameters maximizing rho), with k-means weight sharing (Han, Mao, Dally, "Deep
Compression", ICLR 2016) as ``"lloyd_max"`` and min-max round-to-nearest as ``"minmax"``.

``quantize(model, config)`` takes one :class:`QuantConfig` (or a bare recipe, per output
channel) or a mapping from layer-name patterns to configs (mixed precision).  The
quantized model carries its codes and quantizers in ``qmodel.corrquant`` (a
:class:`QuantState`), which :mod:`deepnets.storage` packs.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import theory
from theory._encode import RowEncoder, block_rows, encode_rows
from theory.fitting import fit_checked
from theory.granularity import as_granularity

from ._blocked import _finite_array, _moments, guess_and_check
from ._modcopy import check_finite, copy_model, deferred_check
from .codebook import Codebook, fitted_quantizer

METHODS = theory.METHODS
#: Gain rules for the fitted levels: least squares (default) or unbiased (theory.correlation.gain_factor).
GAINS = theory.GAINS
#: Storage bits of the methods whose number of levels is fixed (from theory's recipe).
FIXED_BITS = {m: theory.Recipe(m).bits for m in theory.recipe.FIXED_LEVELS}
#: Granularity values are theory's.
PerTensor, PerChannel, PerGroup = theory.PerTensor, theory.PerChannel, theory.PerGroup


def _granularity_from(value: Any) -> Any:
    """A granularity from a value, a dict, or a name as written by older files (``"channel(axis=1)"``, ``"group(64)"``)."""
    if isinstance(value, str) and value.startswith("channel(axis="):
        return PerChannel(int(value[len("channel(axis="):-1]))
    if isinstance(value, str) and value.startswith("group(") and value.endswith(")"):
        inner = value[len("group("):-1].split(", axis=")
        return PerGroup(int(inner[0]), int(inner[1]) if len(inner) > 1 else 0)
    return as_granularity(value)


# -- config --------------------------------------------------------------------
@dataclass(frozen=True, init=False)
class QuantConfig:
    """Validated quantization settings for a layer or a whole model, written into every result record.

    ``QuantConfig(method, bits=None, granularity="channel", skip=(), fold_bn=False,
    shared_shape=None, gain="mse", codebook="float32", search="exact")``

    **Arguments:**

    - `method`: a :class:`theory.Recipe`, or a method of ``METHODS`` with `bits`,
      `gain` and `shared_shape` (parsed once into the recipe; see :class:`theory.Recipe`:
      ``gain="unbiased"`` keeps ``E[w q] = E[w^2]`` so float biases and folded BatchNorm stay
      in balance; ``shared_shape=None`` shares one shape across channels for Lloyd-Max only).
      Bits per weight 1..8 (sign is 1 bit, ternary 2).
    - `granularity`: ``PerChannel(axis)`` / ``"channel"`` (default), ``PerTensor()`` /
      ``"tensor"``, or ``PerGroup(size, axis)`` / ``"group:SIZE"``.
    - `skip`: layers kept float: ``"first"``, ``"last"`` and/or fnmatch patterns on the
      module name (e.g. ``"classifier.*"``).
    - `fold_bn`: fold BatchNorm into the preceding conv first (``models.fold_batchnorm``).
    - `codebook`: ``"float32"`` (default) or ``"float16"``: store the codebook factors (scales,
      shifts, unit rows, ratios) in float16 where every level decodes within
      ``deepnets.codebook.HALF_BOUND`` (2**-9) of the row's largest |level| (float32 elsewhere),
      and no thresholds (only what decoding needs; the layer's encoder becomes nearest-level);
      the model uses the decoded values, in memory and after loading.
    - `search`: ``"exact"`` (default) or ``"histogram"`` (a faster shape search; :class:`theory.Recipe`).
    """

    recipe: theory.Recipe
    granularity: Any
    skip: tuple[str, ...]
    fold_bn: bool
    codebook: str

    def __init__(self, method: Any, bits: int | None = None, granularity: Any = "channel", skip: Any = (),
                 fold_bn: bool = False, shared_shape: bool | None = None, gain: str = "mse",
                 codebook: str = "float32", search: str = "exact") -> None:
        if isinstance(method, theory.Recipe):
            if bits is not None or shared_shape is not None or gain != "mse" or search != "exact":
                raise ValueError("pass either a Recipe or loose settings (bits, shared_shape, gain, search), not both")
            recipe = method
        else:
            if not isinstance(method, str) or method not in METHODS:
                raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
            if method in FIXED_BITS and bits is not None and bits != FIXED_BITS[method]:
                raise ValueError(f"bits must be {FIXED_BITS[method]} (or None) for method {method!r}, got {bits!r}")
            if method in FIXED_BITS:
                bits = None
            elif isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 8:
                raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
            recipe = theory.Recipe(method, bits and int(bits), gain=gain, shared_shape=shared_shape, search=search)
        if recipe.bits > 8:
            raise ValueError(f"recipe: {recipe.bits} bits per weight; packed storage holds 1..8")
        if isinstance(skip, str):
            skip = (skip,)
        if not isinstance(skip, tuple | list) or not all(isinstance(s, str) for s in skip):
            raise ValueError(f"skip must be strings ('first', 'last' or name patterns), got {skip!r}")
        if not isinstance(fold_bn, bool):
            raise ValueError(f"fold_bn must be a bool, got {fold_bn!r}")
        object.__setattr__(self, "recipe", recipe)
        object.__setattr__(self, "granularity", _granularity_from(granularity))
        object.__setattr__(self, "skip", tuple(skip))
        object.__setattr__(self, "fold_bn", fold_bn)
        if codebook not in ("float32", "float16"):
            raise ValueError(f"codebook must be 'float32' or 'float16', got {codebook!r}")
        object.__setattr__(self, "codebook", codebook)

    method = property(lambda self: self.recipe.method)
    bits = property(lambda self: self.recipe.bits)
    K = property(lambda self: self.recipe.K)
    gain = property(lambda self: self.recipe.gain)
    shared_shape = property(lambda self: self.recipe.shared_shape)

    def to_dict(self) -> dict:
        return {"method": self.method, "bits": self.bits, "K": self.K, "granularity": self.granularity.name,
                "skip": list(self.skip), "fold_bn": self.fold_bn, "shared_shape": self.shared_shape, "gain": self.gain,
                **({"offset": True} if self.recipe.offset else {}),
                **({"search": self.recipe.search} if self.recipe.search != "exact" else {}),
                **({"codebook": self.codebook} if self.codebook != "float32" else {})}

    @classmethod
    def from_dict(cls, d: dict) -> QuantConfig:
        method = d["method"]
        bits = None if method in FIXED_BITS else d.get("bits")
        recipe = theory.Recipe(method, bits, gain=d.get("gain", "mse"), shared_shape=d.get("shared_shape"),  # files before
                               offset=bool(d.get("offset")), search=d.get("search", "exact"))  # the gain option: mse
        return cls(recipe, None, d.get("granularity", "channel"), tuple(d.get("skip", ())), bool(d.get("fold_bn", False)),
                   codebook=d.get("codebook", "float32"))


def as_config(config: Any) -> QuantConfig:
    """A :class:`QuantConfig` from itself or a :class:`theory.Recipe` (per output channel)."""
    if isinstance(config, QuantConfig):
        return config
    if isinstance(config, theory.Recipe):
        return QuantConfig(config)
    raise ValueError(f"config must be a QuantConfig, a theory.Recipe or a mapping of layer patterns to them, got {config!r}")


# -- per-layer results ------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LayerQuant:
    """Codes and codebooks of one quantized weight.

    - `codes`: uint8 array of the weight's shape, values 0..K-1.
    - `quantizer`: the grouped :class:`theory.Quantizer` whose levels and thresholds are the
      stored float32 codebook values exactly: ``quantizer.decode(codes)`` is the weight the
      model uses, in memory and after loading.
    - `bits`: storage bits per code.
    - `book`: the stored codebook (:class:`deepnets.codebook.Codebook`).
    - `fitted`: the float64 fit before float32 rounding (None after loading).
    - `config`: the settings of this layer (None after loading an older file).
    """

    codes: np.ndarray
    quantizer: theory.Quantizer
    bits: int
    book: Codebook
    fitted: theory.Quantizer | None = None
    config: QuantConfig | None = None

    @classmethod
    def from_fit(cls, codes: np.ndarray, fitted: theory.Quantizer, bits: int, config: QuantConfig | None = None) -> LayerQuant:
        book, q = fitted_quantizer(fitted, half=config is not None and config.codebook == "float16",
                                   offset=config is not None and config.recipe.offset)
        return cls(codes, q, bits, book, fitted, config)

    @property
    def K(self) -> int:
        return self.quantizer.K

    @property
    def granularity(self) -> Any:
        return self.quantizer.granularity

    @property
    def axis(self) -> int | None:
        """The channel axis (None per tensor)."""
        g = self.granularity
        return None if isinstance(g, PerTensor) else g.axis % self.codes.ndim

    def levels(self) -> np.ndarray:
        """(G, K) float32 levels, the values the model uses."""
        return self.book.levels.values()

    def thresholds(self) -> np.ndarray:
        """(G, K-1) float32 thresholds (to encode new weights; decoding needs only levels)."""
        return self.book.threshold_values()

    def dequantize(self) -> np.ndarray:
        """float32 weights ``levels[g, codes]`` of the codes' shape: ``quantizer.decode(codes)``, bit for bit.

        Decoded from the stored codebook (:meth:`deepnets.codebook.Table.decode`), whose float32
        values are the quantizer's levels exactly.
        """
        g = self.granularity
        rows = g.rows(self.codes)
        return np.ascontiguousarray(g.unrows(self.book.levels.decode(rows), self.codes.shape))


@dataclass
class LayerRecord:
    """One row of the per-layer report (rho is empirical: weights vs quantized weights)."""

    name: str
    type: str
    params: int
    bits: int | None
    K: int | None
    rho: float | None
    rel_mse: float | None
    skipped: bool
    reason: str = ""
    method: str | None = None
    granularity: str | None = None


@dataclass
class QuantState:
    """What :func:`quantize` leaves on ``qmodel.corrquant``: the config (one, or a mapping) and per-layer codes."""

    config: Any  # QuantConfig, or a dict pattern -> QuantConfig | None (mixed precision)
    layers: dict = field(default_factory=dict)  # module name -> LayerQuant
    report: list = field(default_factory=list)
    arch: dict = field(default_factory=dict)  # {"name":..., "dataset":...} when known

    def config_dict(self) -> dict:
        if isinstance(self.config, QuantConfig):
            return self.config.to_dict()
        return {"mapping": {p: (c.to_dict() if c is not None else None) for p, c in self.config.items()}}

    @staticmethod
    def config_from_dict(d: dict) -> Any:
        if "mapping" in d:
            return {p: (QuantConfig.from_dict(c) if c is not None else None) for p, c in d["mapping"].items()}
        return QuantConfig.from_dict(d)


# -- helpers ------------------------------------------------------------------------
def layer_type(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return "depthwise conv" if m.groups > 1 and m.groups == m.in_channels else "conv"
    return "linear"


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs of Conv2d and Linear layers, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _skip_reason(name: str, i: int, n: int, rules: tuple[str, ...]) -> str:
    if "first" in rules and i == 0:
        return "first layer"
    if "last" in rules and i == n - 1:
        return "last layer"
    for r in rules:
        if r not in ("first", "last") and fnmatch.fnmatchcase(name, r):
            return f"name matches {r!r}"
    return ""


def _quantize_layer(w: np.ndarray, config: QuantConfig, checked: bool = False, name: str = "") -> tuple[LayerQuant, np.ndarray, tuple]:
    """(``quantize_weight(w, config)``, its decoded float32 weights, :func:`_moments` of ``w`` and them).

    Per output channel of a C-contiguous weight (the rows are a view), the codes, the decoded
    weights and the moments are computed block by block of rows while the block is in cache
    (min-max: :func:`deepnets._blocked.guess_and_check`).  ``checked``: ``w`` is a float32/float64
    array already known to be finite (:func:`check_finite`); ``"minmax"``: a min-max layer whose
    finiteness is checked by its fit (:func:`deepnets._modcopy.deferred_check`; the error names ``name``).
    """
    if checked == "minmax":
        arr = w
        try:
            with np.errstate(invalid="ignore", over="ignore"):  # non-finite weights give non-finite levels: refused
                q = fit_checked(config.recipe, arr, config.granularity)
        except ValueError:
            if np.isfinite(arr).all():
                raise
            raise ValueError(f"model has non-finite (NaN or Inf) values in {name!r}; cannot quantize") from None
    else:
        arr = w if checked and isinstance(w, np.ndarray) and w.dtype in (np.float32, np.float64) and w.size else _finite_array(w)
        g = config.granularity
        if arr.ndim == 0 or not isinstance(g, PerChannel) or g.axis % arr.ndim != 0 or not arr.flags.c_contiguous:
            lq = quantize_weight(w, config)
            deq = lq.dequantize()
            return lq, deq, _moments(arr, deq)
        q = fit_checked(config.recipe, arr, g)
    rows = arr.reshape(arr.shape[0], -1)
    codes = np.empty(rows.shape, np.uint8)
    deq = np.empty(rows.shape, np.float32)
    lq = LayerQuant.from_fit(codes.reshape(arr.shape), q, config.bits, config)  # codes are filled in below
    t64 = q.thresholds.reshape(q.G, -1)
    dec = lq.book.levels.decoder()
    acc = guess_and_check(rows, t64, lq.book.levels, dec, codes, deq, lq.quantizer.levels.reshape(q.G, -1))
    if acc is None:
        enc = RowEncoder(t64, rows.dtype)
        step = block_rows(rows.shape[1])
        buf = np.empty((min(step, rows.shape[0]), rows.shape[1]), rows.dtype)
        acc = np.zeros(4)
        for g0 in range(0, rows.shape[0], step):
            g1 = min(rows.shape[0], g0 + step)
            x = rows[g0:g1]
            dec(enc.encode(x, g0, codes[g0:g1], buf[: g1 - g0]), g0, deq[g0:g1])
            acc += _moments(x, deq[g0:g1])
    return lq, deq.reshape(arr.shape), tuple(float(v) for v in acc)


def quantize_weight(w: np.ndarray, config: Any) -> LayerQuant:
    """Fit the config's recipe to one weight array at its granularity and encode it.

    **Arguments:** `w`: float weight array (e.g. (O, I, kh, kw)); `config`: a :class:`QuantConfig` or recipe.

    **Returns:** a :class:`LayerQuant` with uint8 codes of ``w.shape``.
    """
    config = as_config(config)
    arr = _finite_array(w)
    g = PerTensor() if arr.ndim == 0 else config.granularity
    if arr.ndim == 0:
        arr = arr.reshape(1)
    q = fit_checked(config.recipe, arr, g)
    # the codes of q.encode(w as float64), computed on the float32 (or float64) weights directly
    rows = g.rows(arr)
    codes = g.unrows(encode_rows(rows, q.thresholds.reshape(q.G, -1)), arr.shape).reshape(np.shape(w))
    return LayerQuant.from_fit(np.ascontiguousarray(codes), q, config.bits, config)


def _plan(config: Any, layers: list[tuple[str, nn.Module]], filter_fn: Callable | None) -> tuple[Any, bool, list]:
    """(state config, fold_bn, [(name, module, QuantConfig | None, reason)]) for each weight layer."""
    if isinstance(config, Mapping):
        entries = {}
        for p, c in config.items():
            if not isinstance(p, str):
                raise ValueError(f"config: mapping keys must be layer-name patterns (str), got {p!r}")
            entries[p] = None if c is None else as_config(c)
        folds = {c.fold_bn for c in entries.values() if c is not None}
        if len(folds) > 1:
            raise ValueError("config: fold_bn must be the same in every entry of a mapping (folding is model-wide)")
        plan = []
        for name, m in layers:
            match = next((p for p in entries if fnmatch.fnmatchcase(name, p)), None)
            cfg = entries.get(match) if match is not None else None
            reason = "no entry in config" if match is None else (f"{match!r} maps to None" if cfg is None else "")
            plan.append((name, m, cfg, reason))
        state_cfg, fold = entries, folds.pop() if folds else False
    else:
        cfg = as_config(config)
        plan = []
        for i, (name, m) in enumerate(layers):
            reason = _skip_reason(name, i, len(layers), cfg.skip)
            plan.append((name, m, None if reason else cfg, reason))
        state_cfg, fold = cfg, cfg.fold_bn
    if filter_fn is not None:
        plan = [(n, m, c, r) if (c is None or filter_fn(m, n)) else (n, m, None, "filter_fn") for n, m, c, r in plan]
    return state_cfg, fold, plan


# -- the entry point ------------------------------------------------------------------
def quantize(model: nn.Module, config: Any, *args: Any, filter_fn: Callable | None = None, arch: dict | None = None,
             progress: bool = False, **kwargs: Any) -> tuple[nn.Module, list[LayerRecord]]:
    """Quantize the Conv2d and Linear weights of ``model`` post-training; returns a NEW model.

    **Arguments:**

    - `model`: a torch module (left untouched; the result is a deep copy).
    - `config`: a :class:`QuantConfig`, a :class:`theory.Recipe` (per output channel), or a
      mapping from fnmatch layer-name patterns to configs/recipes/None (mixed precision; each
      layer takes the first pattern it matches; None and no match keep it float).
    - `filter_fn`: optional ``f(module, name) -> bool``; layers for which it is False stay float
      (as torchao's ``quantize_``).
    - `arch`: optional ``{"name":..., "dataset":...}`` so :func:`deepnets.storage.load` can rebuild it.
    - `progress`: a tqdm bar over the quantized layers, counted in weights (large models take seconds).

    **Returns:** ``(qmodel, report)``: the quantized copy (codes and quantizers in
    ``qmodel.corrquant``) and one :class:`LayerRecord` per Conv2d/Linear layer with the
    empirical rho (Pushkareva & Karandashev 2020) and relative MSE ``sum (w - q)^2 / sum w^2``.
    """
    if args or kwargs:
        extra = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        raise ValueError(f"quantize(model, config): give every setting in the config (QuantConfig(...) or a mapping), not as extra arguments; got {extra}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if filter_fn is not None and not callable(filter_fn):
        raise ValueError(f"filter_fn must be callable f(module, name) -> bool, got {filter_fn!r}")
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be a bool, got {progress!r}")
    state_cfg, fold, plan0 = _plan(config, weight_layers(model), filter_fn)  # validate before copying and folding
    deferred = frozenset() if fold else frozenset(f"{n}.weight" if n else "weight" for n, m, cfg, _ in plan0
                                                  if deferred_check(m.weight, cfg))
    check_finite(model, deferred)
    # The weights to be quantized are replaced (never written into) below, so the copy may share their storage
    # with ``model`` until then; without folding they are not cloned (the float model is left untouched).
    memo = {} if fold else {id(m.weight): nn.Parameter(m.weight.detach(), requires_grad=m.weight.requires_grad)
                            for _, m, cfg, _ in plan0 if cfg is not None}
    qmodel = copy_model(model, memo)
    if fold:
        from . import models

        qmodel = models.fold_batchnorm(qmodel)
    _, _, plan = _plan(config, weight_layers(qmodel), filter_fn)
    state = QuantState(state_cfg, arch=dict(arch or getattr(model, "corrquant_arch", {}) or {}))
    total = sum(int(m.weight.numel()) for _, m, cfg, _ in plan if cfg is not None)
    with tqdm(total=total, desc="quantize", unit="weight", unit_scale=True, disable=not progress, leave=False) as bar:
        for name, m, cfg, reason in plan:
            w = m.weight.detach().cpu().numpy()
            if cfg is None:
                state.report.append(LayerRecord(name, layer_type(m), int(w.size), None, None, None, None, True, reason))
                continue
            key = f"{name}.weight" if name else "weight"  # folded weights: checked again
            lq, deq, (ww, wq, qq, ee) = _quantize_layer(w, cfg, "minmax" if key in deferred else not fold, key)
            rel = ee / max(ww, 1e-300)
            if ww == 0 and qq == 0:  # an all-zero layer decodes to exactly zero: rho 1 by convention
                r = 1.0
            elif ww == 0 or qq == 0:
                r = theory.rho(w.astype(np.float64), deq)  # undefined: theory's error
            else:
                r = float(np.clip(wq / np.sqrt(ww * qq), -1.0, 1.0))  # theory.rho(w, deq), exact products in float64
            state.layers[name] = lq
            with torch.no_grad():  # new storage (the old one may be the float model's): the decoded array itself for float32 on CPU
                m.weight.data = torch.from_numpy(deq).to(dtype=m.weight.dtype, device=m.weight.device)
            state.report.append(LayerRecord(name, layer_type(m), int(w.size), cfg.bits, lq.K, r, rel, False,
                                            method=cfg.recipe.label, granularity=cfg.granularity.name))
            bar.update(int(w.size))
    qmodel.corrquant = state
    return qmodel, state.report


def mean_rho(report: list[LayerRecord], weighted: bool = False) -> float:
    """Mean of the per-layer rho over quantized layers (parameter-weighted if asked); nan if none."""
    r = [(x.rho, x.params) for x in report if not x.skipped and x.rho is not None]
    if not r:
        return math.nan
    v, n = np.array(r, dtype=np.float64).T
    return float(np.average(v, weights=n if weighted else None))
