"""Calibration: each layer's inputs on images (forward pre-hooks), their second moments, and quantized copies.

The uncentred second moment ``S`` of a layer's bias-augmented inputs is what the data-aware
correlation ``w^T S q / sqrt(w^T S w q^T S q)`` of :mod:`theory.layer_noise` needs (conv
layers: unfolded patches, one ``S`` per group for grouped convs).
"""

from __future__ import annotations

import copy
import glob
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from theory import layer_noise as tb

from ..quantize import FIXED_BITS, LayerQuant, QuantConfig, QuantState, layer_type, quantize, weight_layers


@dataclass(frozen=True, eq=False)
class LayerStats:
    """What the bridge knows about one Conv2d/Linear layer.

    - `name`, `kind` ("conv", "depthwise conv", "linear"), `params` (weights).
    - `W`: (O, d) float64 weight rows (conv: ``(O, I/groups * kh * kw)``), `b`: (O,) bias (zeros if none).
    - `S`: (G, d+1, d+1) uncentred second moment of the bias-augmented inputs of each group
      (G = 1 unless grouped); unit ``o`` sees group ``o // (O/G)``.
    """

    name: str
    kind: str
    params: int
    W: np.ndarray
    b: np.ndarray
    S: np.ndarray

    def unit_S(self) -> np.ndarray:
        """(d+1, d+1) if one group, else (O, d+1, d+1) per unit."""
        G, O = self.S.shape[0], self.W.shape[0]
        return self.S[0] if G == 1 else self.S[np.arange(O) // (O // G)]


def prepare(model: nn.Module) -> nn.Module:
    """An eval-mode copy with BatchNorm folded into the preceding convs (``models.fold_batchnorm``).

    Pre-activations are what a ReLU sees: with BatchNorm they are the folded conv's outputs.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    m = copy.deepcopy(model).eval()
    if any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules()):
        from .. import models

        m = models.fold_batchnorm(m).eval()
    return m


@torch.no_grad()
def layer_inputs(model: nn.Module, x: torch.Tensor, names: list[str] | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Inputs of every Conv2d/Linear layer of the float ``model`` on images ``x``, and the logits."""
    layers = dict(weight_layers(model))
    names = list(layers) if names is None else names
    got: dict[str, torch.Tensor] = {}
    hooks = [layers[n].register_forward_pre_hook(lambda m, a, n=n: got.__setitem__(n, a[0].detach())) for n in names]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return got, logits.detach()


def _rows(module: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """(n_rows, in_features) for Linear; (n_rows, C*kh*kw) unfolded patches for Conv2d."""
    if isinstance(module, nn.Linear):
        return inp.reshape(-1, inp.shape[-1])
    cols = F.unfold(inp, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def layer_stats(model: nn.Module, x_cal: torch.Tensor, max_rows: int = 20_000, seed: int = 0) -> list[LayerStats]:
    """Second moments ``S`` of every layer's (bias-augmented) inputs on calibration images.

    **Arguments:** `model`: prepared float model (:func:`prepare`); `x_cal`: (n, C, H, W)
    calibration images; `max_rows`: conv patches kept (a random subset drawn by
    ``np.random.default_rng(seed)``); `seed`.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows!r}")
    inputs, _ = layer_inputs(model, x_cal)
    rng = np.random.default_rng(seed)
    out = []
    for name, m in weight_layers(model):
        W = m.weight.detach().double().reshape(m.weight.shape[0], -1).numpy()
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(W.shape[0])
        rows = _rows(m, inputs[name]).double().numpy()
        if rows.shape[0] > max_rows:
            rows = rows[np.sort(rng.choice(rows.shape[0], max_rows, replace=False))]
        G = m.groups if isinstance(m, nn.Conv2d) else 1
        dg = rows.shape[1] // G
        S = np.stack([tb.second_moment(rows[:, g * dg : (g + 1) * dg]) for g in range(G)])
        out.append(LayerStats(name, layer_type(m), int(m.weight.numel()), W, b, S))
    return out


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    """float64 logits of ``model`` (eval mode) on ``x``, in batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, x.shape[0], batch)]).double().numpy()


def preactivations(m: nn.Module, inp: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The outputs of layer ``m`` on its input ``inp`` with ``weight`` in place of its own."""
    if isinstance(m, nn.Linear):
        return F.linear(inp, weight, m.bias)
    return F.conv2d(inp, weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


def method_bits(method: str, bits: int) -> int:
    """The width a method really uses: sign 1, ternary 2, else ``bits``."""
    return FIXED_BITS.get(method, int(bits))


class WeightCache:
    """:func:`deepnets.quantize` of the whole model once per (method, bits); layers read and mixed from those.

    **Arguments:** `model`: the prepared float model; `granularity`: as for :func:`deepnets.quantize`.
    """

    def __init__(self, model: nn.Module, granularity: Any = "channel"):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.granularity = granularity
        self._quantized: dict[tuple[str, int], nn.Module] = {}

    def config(self, method: str, bits: int) -> QuantConfig:
        """The :class:`deepnets.QuantConfig` of ``method`` at ``bits`` (sign and ternary at their own width)."""
        return QuantConfig(method, None if method in FIXED_BITS else int(bits), self.granularity)

    def quantized(self, method: str, bits: int) -> nn.Module:
        """The whole model quantized by ``method`` at ``bits`` (sign and ternary at their own width)."""
        key = (method, method_bits(method, bits))
        if key not in self._quantized:
            self._quantized[key] = quantize(self.model, self.config(method, bits))[0]
        return self._quantized[key]

    def get(self, name: str, method: str, bits: int) -> LayerQuant:
        """Codes and codebooks of layer ``name``."""
        return self.quantized(method, bits).corrquant.layers[name]

    def weight(self, name: str, method: str, bits: int) -> torch.Tensor:
        """The quantized weight of layer ``name`` (the float model's dtype and shape)."""
        return dict(weight_layers(self.quantized(method, bits)))[name].weight.detach()

    def mixed(self, method: str, bits: dict[str, int] | int) -> nn.Module:
        """A copy of the model with layer ``name`` quantized at ``bits[name]`` (layers not in ``bits`` stay float).

        The same model as ``deepnets.quantize(model, {name: config at bits[name]})`` (a mapping
        config; the state on ``corrquant`` carries that mapping, so :func:`deepnets.storage.save`
        packs every layer at its own width), assembled from :meth:`quantized` so that each layer is
        fitted once per width.  ``bits`` as an int quantizes every layer at that width.
        """
        layers = weight_layers(self.model)
        if isinstance(bits, int | np.integer):
            bits = {n: int(bits) for n, _ in layers}
        if not isinstance(bits, dict):
            raise ValueError(f"bits must be an int or a dict layer name -> bits, got {type(bits).__name__}")
        unknown = set(bits) - {n for n, _ in layers}
        if unknown:
            raise ValueError(f"bits names unknown layers {sorted(unknown)}")
        q = copy.deepcopy(self.model)
        qlayers = dict(weight_layers(q))
        state = QuantState({glob.escape(n): self.config(method, b) for n, b in bits.items()},
                           arch=dict(getattr(self.model, "corrquant_arch", {}) or {}))
        with torch.no_grad():
            for name, b in bits.items():
                qlayers[name].weight.copy_(self.weight(name, method, b))
                state.layers[name] = self.get(name, method, b)
        q.corrquant = state
        return q


class LayerSwap:
    """A private copy of a model whose layer weights are swapped in for one forward pass and restored.

    Cheaper than :meth:`WeightCache.mixed` (no copy per pass) for the many one-layer passes of
    the sensitivity measurements; the model passed in is never touched.
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = copy.deepcopy(model).eval()
        self.layers = dict(weight_layers(self.model))

    @torch.no_grad()
    def logits(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> np.ndarray:
        """float64 logits on ``x`` with ``weights[name]`` in place of layer ``name``'s weight."""
        unknown = set(weights) - set(self.layers)
        if unknown:
            raise ValueError(f"weights names unknown layers {sorted(unknown)}")
        old = {n: self.layers[n].weight.detach().clone() for n in weights}
        try:
            for n, w in weights.items():
                self.layers[n].weight.copy_(w)
            return logits_of(self.model, x)
        finally:
            for n, w in old.items():
                self.layers[n].weight.copy_(w)


def logit_products(z: np.ndarray, qz: np.ndarray) -> np.ndarray:
    """(n, 3) per image: ``sum_c z qz``, ``sum_c z^2``, ``sum_c qz^2`` (summed over images they give the
    uncentred correlation ``r`` of float and quantized logits, so ``1/r^2 - 1`` can be bootstrapped over images)."""
    return np.stack([np.sum(z * qz, 1), np.sum(z * z, 1), np.sum(qz * qz, 1)], axis=1)


def noise_of_products(p: np.ndarray) -> np.ndarray:
    """``1/r^2 - 1`` from summed :func:`logit_products` (last axis of length 3), infinite where r <= 0."""
    a, b, c = p[..., 0], p[..., 1], p[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where((b > 0) & (c > 0), a / np.sqrt(b * c), 1.0)
    return tb.noise_from_rho(np.clip(r, -1.0, 1.0))


@torch.no_grad()
def propagation_gains(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, *, seed: int = 0,
                      eps2: float = 0.01, draws: int = 2) -> np.ndarray:
    """(L,) measured gain of each layer's relative noise on its way to the logits (calibration images).

    Layer l's weights get a random Gaussian perturbation scaled to the data-aware relative noise
    ``eps2`` (:func:`theory.layer_noise.scaled_noise`; bias untouched); the gain is the measured
    relative logit noise ``1/r^2 - 1`` divided by the layer's predicted noise
    (:func:`theory.layer_noise.layer_noise` of the perturbed weights), averaged over ``draws``
    perturbations (a ``torch.Generator`` seeded with ``seed``).  It depends on the float model and
    the data only, never on a quantizer: :func:`theory.layer_noise.propagated_noise` then scales
    each quantizer's calibrated layer noise by it.
    """
    if not (isinstance(draws, int) and draws >= 1):
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    swap = LayerSwap(model)
    z = logits_of(swap.model, x_cal)
    g = torch.Generator().manual_seed(int(seed))
    out = np.zeros(len(stats))
    for i, st in enumerate(stats):
        shape, dtype = swap.layers[st.name].weight.shape, swap.layers[st.name].weight.dtype
        Wa, US = tb.augment(st.W, st.b), st.unit_S()
        vals = []
        for _ in range(draws):
            D = torch.randn(st.W.shape, generator=g, dtype=torch.float64).numpy()
            Da = tb.scaled_noise(Wa, tb.augment(D), US, eps2)
            Q = st.W + Da[:, :-1]
            pred = tb.layer_noise(Wa, tb.augment(Q, st.b), US)
            qz = swap.logits(x_cal, {st.name: torch.from_numpy(Q.reshape(shape)).to(dtype)})
            meas = float(noise_of_products(logit_products(z, qz).sum(0)))
            vals.append(meas / pred if pred > 0 else 0.0)
        out[i] = float(np.mean(vals))
    return out
