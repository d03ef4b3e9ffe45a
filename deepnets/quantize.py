"""Post-training weight quantization of a trained torch classifier with theory's quantizers.

Every Conv2d and Linear weight is replaced by ``q(w)`` where ``q`` comes from
:func:`theory.fit` (per tensor, or per channel: ``granularity=theory.PerChannel(0)``, one quantizer per
output channel); biases and BatchNorm stay float.  No retraining: the setting of
Malsagov et al., OMNN 28(4):262-270, 2019 (exponential levels) and Pushkareva &
Karandashev, OMNN 29(3):179-186, 2020 (parameters maximizing rho), with k-means
weight sharing (Han, Mao, Dally, "Deep Compression", ICLR 2016) as ``"lloyd_max"``
and min-max round-to-nearest as ``"minmax"``.

The quantized model carries its integer codes and quantizers in
``qmodel.corrquant`` (a :class:`QuantState`), which :mod:`deepnets.storage` packs.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

import theory

METHODS = theory.METHODS
#: Gain rules for the fitted levels: least squares (default) or unbiased (theory.gain_factor).
GAINS = theory.GAINS
#: Storage bits of the methods whose number of levels is fixed (sign: K=2, ternary: K=3).
FIXED_BITS = {"sign": 1, "ternary": 2}


# -- granularity: a value, not a flag (STYLE.md item 14) ----------------------
@dataclass(frozen=True)
class PerTensor:
    """One quantizer for the whole weight tensor."""


@dataclass(frozen=True)
class PerChannel:
    """One quantizer per slice along ``axis`` of the weight (0 = output channels)."""

    axis: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.axis, bool) or not isinstance(self.axis, int):
            raise ValueError(f"axis must be an int, got {self.axis!r}")


Granularity = PerTensor | PerChannel


def as_granularity(granularity: Any) -> Granularity:
    """``PerTensor()``/``PerChannel(axis)`` from a value or the strings ``"tensor"``/``"channel"``."""
    if isinstance(granularity, PerTensor | PerChannel):
        return granularity
    if granularity == "tensor":
        return PerTensor()
    if granularity == "channel":
        return PerChannel(0)
    raise ValueError(f"granularity must be PerTensor(), PerChannel(axis), 'tensor' or 'channel', got {granularity!r}")


def granularity_name(g: Granularity) -> str:
    return "tensor" if isinstance(g, PerTensor) else ("channel" if g.axis == 0 else f"channel(axis={g.axis})")


# -- config --------------------------------------------------------------------
@dataclass(frozen=True)
class QuantConfig:
    """Validated quantization settings, written into every result record.

    **Arguments:**

    - `method`: one of ``METHODS`` (``"minmax"``, ``"uniform"``, ``"exponential"``,
      ``"lloyd_max"``, ``"sign"``, ``"ternary"``).
    - `bits`: storage bits per weight, 1..8 (``K = 2**bits`` levels); sign is 1 bit
      and ternary 2 bits (``None`` picks those).
    - `granularity`: ``PerTensor()``, ``PerChannel(axis)``, ``"tensor"`` or ``"channel"``.
    - `skip`: layers kept float: ``"first"``, ``"last"`` and/or fnmatch patterns on
      the module name (e.g. ``"classifier.*"``).
    - `fold_bn`: fold BatchNorm into the preceding conv first (``models.fold_batchnorm``).
    - `shared_shape`: per channel, whether all channels of a layer share one unit shape
      times a per-channel scale (True) or each channel gets its own rho-optimal shape
      (False; see :class:`theory.Recipe`).  ``None`` picks, per method, the choice
      whose codebook stays O(C) numbers per layer: own shapes for uniform (a step per
      channel) and exponential (a base and scale per channel), the shared shape for
      Lloyd-Max (own levels would cost K floats per channel).  Resolved to a bool.
    - `gain`: the scale of the levels (:func:`theory.correlation.gain_factor`), per tensor or per
      channel as `granularity` says.  ``"mse"`` (default): least squares, which shrinks
      the weights by about rho^2 along the float weights (min-max keeps its range
      scale); ``"unbiased"``: ``E[w q] = E[w^2]``, no shrinkage, so float biases and
      folded BatchNorm stay in balance with the weights.  Thresholds, codes and the
      rho of each fitted unit (tensor or channel) are the same for both; per channel, the
      report's layer rho (all channels pooled) moves slightly, since each channel's
      factor is its own ``1/rho_c^2``.
    """

    method: str
    bits: int | None = None
    granularity: Any = "channel"
    skip: tuple[str, ...] = ()
    fold_bn: bool = False
    shared_shape: bool | None = None
    gain: str = "mse"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        bits = self.bits
        if self.method in FIXED_BITS:
            if bits is None:
                bits = FIXED_BITS[self.method]
            elif bits != FIXED_BITS[self.method]:
                raise ValueError(f"bits must be {FIXED_BITS[self.method]} (or None) for method {self.method!r}, got {bits!r}")
        if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 8:
            raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
        object.__setattr__(self, "bits", int(bits))
        object.__setattr__(self, "granularity", as_granularity(self.granularity))
        skip = (self.skip,) if isinstance(self.skip, str) else tuple(self.skip)
        if not all(isinstance(s, str) for s in skip):
            raise ValueError(f"skip must be strings ('first', 'last' or name patterns), got {self.skip!r}")
        object.__setattr__(self, "skip", skip)
        if not isinstance(self.fold_bn, bool):
            raise ValueError(f"fold_bn must be a bool, got {self.fold_bn!r}")
        if self.shared_shape is None:
            object.__setattr__(self, "shared_shape", self.method == "lloyd_max")
        elif not isinstance(self.shared_shape, bool):
            raise ValueError(f"shared_shape must be a bool or None, got {self.shared_shape!r}")
        theory.fitting.check_gain(self.gain)
        self.recipe  # validates method, bits and gain together

    @property
    def recipe(self) -> theory.Recipe:
        """The theory recipe of these settings (method, levels, gain, shape sharing)."""
        fixed = self.method in theory.recipe.FIXED_LEVELS
        return theory.Recipe(self.method, None if fixed else self.bits, gain=self.gain, shared_shape=self.shared_shape)

    @property
    def K(self) -> int:
        return self.recipe.K

    def to_dict(self) -> dict:
        d = asdict(self)
        d["granularity"] = granularity_name(self.granularity)
        d["skip"] = list(self.skip)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> QuantConfig:
        g = d.get("granularity", "channel")
        if isinstance(g, str) and g.startswith("channel(axis="):
            g = PerChannel(int(g[len("channel(axis=") : -1]))
        return cls(d["method"], d.get("bits"), g, tuple(d.get("skip", ())), bool(d.get("fold_bn", False)), d.get("shared_shape"),
                   d.get("gain", "mse"))  # files written before the gain option used least squares


# -- per-layer results ------------------------------------------------------------
_EPS32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True, eq=False)
class Table:
    """A (C, n) float32 table of per-channel codebook rows (levels or thresholds).

    Stored in one of three forms:

    - ``full`` (C, n);
    - affine, when every row is an affine image of one unit row (per-channel uniform:
      one grid times a per-channel step; per-channel min-max: scale and integer zero
      point; any shared shape times a per-channel scale): ``scale[c] * (unit + shift[c])``,
      n + 2C numbers (n + C when all shifts are 0).  For min-max the unit row is the
      integer grid and the shifts are integers, so the zero level stays exactly 0;
    - geometric, when every row is odd-symmetric with a geometric positive half
      (per-channel exponential levels ``+-s b**j``, and their midpoint thresholds
      ``0, +-s (1 + b)/2 b**j``): ``scale[c] * [-b**(m-1), ..., -1, (0), 1, ..., b**(m-1)]``
      with ``base[c] = b``, 2C numbers.  Powers are running float32 products, so
      they are bitwise reproducible.

    :meth:`values` is the single definition of the float32 rows used for decoding,
    in memory and after loading, so both give bitwise-identical weights.
    """

    full: np.ndarray | None = None  # (C, n)
    unit: np.ndarray | None = None  # (n,)
    scale: np.ndarray | None = None  # (C,)
    shift: np.ndarray | None = None  # (C,)
    base: np.ndarray | None = None  # (C,) geometric form
    n: int = 0  # row length of the geometric form

    def values(self) -> np.ndarray:
        if self.full is not None:
            return self.full
        if self.base is not None:
            return self.scale[:, None] * _geometric_unit(self.base, self.n)
        return self.scale[:, None] * (self.unit[None, :] + self.shift[:, None])

    @property
    def shape(self) -> tuple[int, int]:
        if self.full is not None:
            return tuple(self.full.shape)
        return (self.scale.size, self.n if self.base is not None else self.unit.size)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        if self.full is not None:
            return {prefix: self.full}
        if self.base is not None:
            return {f"{prefix}.scale": self.scale, f"{prefix}.base": self.base}
        out = {f"{prefix}.unit": self.unit, f"{prefix}.scale": self.scale}
        if np.any(self.shift != 0):  # symmetric shapes have no shift: nothing stored, zeros on load
            out[f"{prefix}.shift"] = self.shift
        return out

    @classmethod
    def from_arrays(cls, prefix: str, tensors: dict, C: int, n: int) -> Table:
        """Read back :meth:`arrays`; ValueError if shapes or dtypes do not match (C, n)."""
        if prefix in tensors:
            t = cls(full=tensors[prefix])
            want = {"full": (C, n)}
        elif f"{prefix}.base" in tensors:
            t = cls(scale=tensors[f"{prefix}.scale"], base=tensors[f"{prefix}.base"], n=n)
            want = {"scale": (C,), "base": (C,)}
        else:
            scale = tensors[f"{prefix}.scale"]
            shift = tensors.get(f"{prefix}.shift", np.zeros(scale.shape, np.float32))
            t = cls(unit=tensors[f"{prefix}.unit"], scale=scale, shift=shift)
            want = {"unit": (n,), "scale": (C,), "shift": (C,)}
        for k, shp in want.items():
            a = getattr(t, k)
            if a.dtype != np.float32 or a.shape != shp or not np.all(np.isfinite(a)):
                raise ValueError(f"{prefix}.{k}: expected finite float32 of shape {shp}, got {a.dtype} {a.shape}")
        return t

    @classmethod
    def fit(cls, M: np.ndarray) -> Table:
        """The compact exact-to-float32 form of float64 rows ``M`` (C, n): affine or geometric if it reproduces every row."""
        M = np.asarray(M, dtype=np.float64)
        C, n = M.shape
        full = cls(full=M.astype(np.float32))
        if C * n <= n + 2 * C or n < 2:
            return full
        for form in (cls._affine, cls._geometric):
            t = form(M)
            if t is not None and _reproduces(t.values(), M):
                return t
        return full

    @classmethod
    def _affine(cls, M: np.ndarray) -> Table | None:
        n = M.shape[1]
        amax = np.max(np.abs(M), axis=1)
        i = int(np.argmax(amax))
        step = M[i, 1] - M[i, 0]
        if not step > 0:
            return None
        unit = M[i] / step
        (a, b), *_ = np.linalg.lstsq(np.stack([unit, np.ones(n)], axis=1), M.T, rcond=None)
        if not np.all(a > 0):
            return None
        shift = b / a
        if np.all(np.abs(unit - np.round(unit)) <= 1e-9 * np.maximum(1.0, np.abs(unit))):  # an integer grid (min-max)
            unit = np.round(unit)
            near = np.abs(shift - np.round(shift)) <= 1e-6
            shift = np.where(near, np.round(shift), shift)
        shift = np.where(np.abs(shift) <= 1e-9 * np.max(np.abs(unit)), 0.0, shift)
        return cls(unit=unit.astype(np.float32), scale=a.astype(np.float32), shift=shift.astype(np.float32))

    @classmethod
    def _geometric(cls, M: np.ndarray) -> Table | None:
        n = M.shape[1]
        m = n // 2
        if m < 2:
            return None
        pos = M[:, n - m :]
        if not (np.all(pos[:, 0] > 0) and np.array_equal(M[:, :m], -pos[:, ::-1]) and (n % 2 == 0 or not np.any(M[:, m]))):
            return None
        base = (pos[:, -1] / pos[:, 0]) ** (1.0 / (m - 1))  # spreads the rounding over the row
        if not np.all(np.isfinite(base) & (base > 0)):
            return None
        return cls(scale=pos[:, 0].astype(np.float32), base=base.astype(np.float32), n=n)


def _geometric_unit(base: np.ndarray, n: int) -> np.ndarray:
    """(C, n) float32 rows ``[-b**(m-1), ..., -1, (0 if n odd), 1, ..., b**(m-1)]``, m = n // 2, by running products."""
    m = n // 2
    factors = np.concatenate([np.ones((base.size, 1), np.float32), np.repeat(base[:, None], m - 1, axis=1)], axis=1)
    pos = np.cumprod(factors, axis=1, dtype=np.float32)
    mid = [np.zeros((base.size, 1), np.float32)] if n % 2 else []
    return np.concatenate([-pos[:, ::-1], *mid, pos], axis=1)


def _reproduces(v: np.ndarray, M: np.ndarray) -> bool:
    """float32 rows ``v`` equal float64 rows ``M`` to a few float32 ulps of each row's largest entry, in the same order."""
    amax = np.max(np.abs(M), axis=1)
    ok = bool(np.all(np.abs(v - M) <= 8 * _EPS32 * amax[:, None]))
    if np.all(np.diff(M, axis=1) > 0):
        ok = ok and bool(np.all(np.diff(v, axis=1) > 0))
    return ok


@dataclass
class LayerQuant:
    """Codes and codebooks of one quantized weight.

    - `codes`: uint8 array of the weight's shape, values 0..K-1.
    - `quantizers`: the theory Quantizers, one per slice along `axis` (one if `axis` is None);
      None after loading (:meth:`theory_quantizers` rebuilds them from the float32 codebooks).
    - `axis`: channel axis, or None for per-tensor.
    - `levels_table`, `thresholds_table`: the float32 codebooks as stored (:class:`Table`);
      decoding is ``levels_table.values()[c, code]``.
    """

    codes: np.ndarray
    quantizers: list | None
    axis: int | None
    bits: int
    levels_table: Table
    thresholds_table: Table

    @classmethod
    def from_quantizers(cls, codes: np.ndarray, quantizers: list, axis: int | None, bits: int) -> LayerQuant:
        lv = Table.fit(np.stack([q.levels for q in quantizers]))
        th = Table.fit(np.stack([q.thresholds for q in quantizers]))
        return cls(codes, quantizers, axis, bits, lv, th)

    @property
    def K(self) -> int:
        return int(self.levels_table.shape[1])

    def theory_quantizers(self) -> list:
        """The per-channel :class:`theory.Quantizer` list (rebuilt from the float32 codebooks after loading).

        Raises ValueError if float32 rounding tied two levels or thresholds of a channel.
        """
        if self.quantizers is not None:
            return self.quantizers
        lv, th = self.levels().astype(np.float64), self.thresholds().astype(np.float64)
        return [theory.Quantizer(t, c, f"K={self.K}") for t, c in zip(th, lv)]

    def levels(self) -> np.ndarray:
        """(C, K) float32 levels, the values the model uses."""
        return self.levels_table.values()

    def thresholds(self) -> np.ndarray:
        """(C, K-1) float32 thresholds (to encode new weights; decoding needs only levels)."""
        return self.thresholds_table.values()

    def quantizer(self) -> theory.Quantizer:
        """The grouped :class:`theory.Quantizer` of the float32 codebooks (what the model uses)."""
        lv, th = self.levels().astype(np.float64), self.thresholds().astype(np.float64)
        if self.axis is None:
            return theory.Quantizer(th[0], lv[0], f"K={self.K}")
        return theory.Quantizer(th, lv, f"K={self.K}", theory.PerChannel(self.axis))

    def dequantize(self) -> np.ndarray:
        """float32 weights ``levels[c, codes]`` of the codes' shape (theory's one decode)."""
        return self.quantizer().decode(self.codes)


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


@dataclass
class QuantState:
    """What :func:`quantize` leaves on ``qmodel.corrquant``: config and per-layer codes."""

    config: QuantConfig
    layers: dict = field(default_factory=dict)  # module name -> LayerQuant
    report: list = field(default_factory=list)
    arch: dict = field(default_factory=dict)  # {"name":..., "dataset":...} when known


# -- helpers ------------------------------------------------------------------------
def layer_type(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return "depthwise conv" if m.groups > 1 and m.groups == m.in_channels else "conv"
    return "linear"


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs of Conv2d and Linear layers, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _skip_reason(name: str, i: int, n: int, rules: tuple[str, ...], predicate: Callable | None, module: nn.Module) -> str:
    if "first" in rules and i == 0:
        return "first layer"
    if "last" in rules and i == n - 1:
        return "last layer"
    for r in rules:
        if r not in ("first", "last") and fnmatch.fnmatchcase(name, r):
            return f"name matches {r!r}"
    if predicate is not None and predicate(name, module):
        return "skip predicate"
    return ""


def quantize_weight(w: np.ndarray, config: QuantConfig) -> LayerQuant:
    """Fit theory quantizer(s) to one weight array and encode it.

    **Arguments:** `w`: float weight array (e.g. (O, I, kh, kw)); `config`: the settings.

    **Returns:** a :class:`LayerQuant` with uint8 codes of ``w.shape``.
    """
    g = config.granularity
    w64 = np.asarray(w, dtype=np.float64)
    if isinstance(g, PerTensor) or w64.ndim == 0:
        q = config.recipe.fit(w64)
        return LayerQuant.from_quantizers(q.encode(w64).astype(np.uint8), [q], None, config.bits)
    axis = g.axis % w64.ndim
    q = config.recipe.fit(w64, theory.PerChannel(axis))
    qs = [q.group(i) for i in range(q.G)]
    return LayerQuant.from_quantizers(q.encode(w64).astype(np.uint8), qs, axis, config.bits)


def _check_finite(model: nn.Module) -> None:
    for n, p in model.state_dict().items():
        if p.is_floating_point() and not torch.isfinite(p).all():
            raise ValueError(f"model has non-finite (NaN or Inf) values in {n!r}; cannot quantize")


# -- the entry point ------------------------------------------------------------------
def quantize(
    model: nn.Module,
    method: str | QuantConfig,
    bits: int | None = None,
    granularity: Any = "channel",
    skip: Any = (),
    fold_bn: bool = False,
    arch: dict | None = None,
    shared_shape: bool | None = None,
    gain: str = "mse",
) -> tuple[nn.Module, list[LayerRecord]]:
    """Quantize the Conv2d and Linear weights of ``model`` post-training; returns a NEW model.

    **Arguments:**

    - `model`: a torch module (left untouched; the result is a deep copy).
    - `method`: one of ``METHODS``, or a :class:`QuantConfig` (then the other settings are ignored).
    - `bits`: 1..8 (None for sign/ternary).
    - `granularity`: ``"channel"`` / ``PerChannel(axis)`` or ``"tensor"`` / ``PerTensor()``.
    - `skip`: ``"first"``, ``"last"``, fnmatch name patterns, or a predicate ``f(name, module) -> bool``
      (a predicate is recorded in the config as ``"<predicate>"``).
    - `fold_bn`: fold BatchNorm into convs first (needs ``deepnets.models.fold_batchnorm``).
    - `arch`: optional ``{"name":..., "dataset":...}`` so :func:`deepnets.storage.load` can rebuild it.
    - `shared_shape`: per-channel shape sharing (see :class:`QuantConfig`); None: the method's default.
    - `gain`: ``"mse"`` (least-squares levels, default) or ``"unbiased"`` (``E[w q] = E[w^2]``
      per tensor or channel; see :class:`QuantConfig`).

    **Returns:** ``(qmodel, report)``: the quantized copy (codes and quantizers in
    ``qmodel.corrquant``) and one :class:`LayerRecord` per Conv2d/Linear layer with
    the empirical rho (Pushkareva & Karandashev 2020) and relative MSE
    ``sum (w - q)^2 / sum w^2``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    predicate = None
    if callable(skip) and not isinstance(skip, str):
        predicate, skip = skip, ("<predicate>",)
    if isinstance(method, QuantConfig):
        config = method
    else:
        config = QuantConfig(method, bits, granularity, skip, fold_bn, shared_shape, gain)
    _check_finite(model)
    qmodel = copy.deepcopy(model)
    if config.fold_bn:
        from . import models  # the other engineer's module

        qmodel = models.fold_batchnorm(qmodel)
    layers = weight_layers(qmodel)
    state = QuantState(config, arch=dict(arch or getattr(model, "corrquant_arch", {}) or {}))
    for i, (name, m) in enumerate(layers):
        w = m.weight.detach().cpu().numpy()
        reason = _skip_reason(name, i, len(layers), config.skip, predicate, m)
        if reason:
            state.report.append(LayerRecord(name, layer_type(m), int(w.size), None, None, None, None, True, reason))
            continue
        lq = quantize_weight(w, config)
        deq = lq.dequantize()
        w64 = w.astype(np.float64)
        rel = float(np.sum((w64 - deq) ** 2) / max(np.sum(w64 * w64), 1e-300))
        state.layers[name] = lq
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(deq).to(m.weight.dtype))
        state.report.append(
            LayerRecord(name, layer_type(m), int(w.size), config.bits, lq.K, theory.rho(w64, deq), rel, False)
        )
    qmodel.corrquant = state
    return qmodel, state.report


def mean_rho(report: list[LayerRecord], weighted: bool = False) -> float:
    """Mean of the per-layer rho over quantized layers (parameter-weighted if asked); nan if none."""
    r = [(x.rho, x.params) for x in report if not x.skipped and x.rho is not None]
    if not r:
        return math.nan
    v, n = np.array(r, dtype=np.float64).T
    return float(np.average(v, weights=n if weighted else None))
