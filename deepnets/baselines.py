"""PyTorch's own weight quantization, run on the same model and data as ours.

What a user would pick instead of corrquant, using what torch 2.13 ships (no torchao):

- ``"torch_int8_channel"``: weight-only int8, symmetric per output channel, for every
  Conv2d and Linear: scales from ``torch.ao.quantization.PerChannelMinMaxObserver``,
  weights through ``torch.fake_quantize_per_channel_affine``; stored as int8 codes +
  float32 scales + int32 zero points in a safetensors file (1 byte per weight).
- ``"torch_dynamic_int8"``: ``torch.ao.quantization.quantize_dynamic`` on Linear layers
  (int8 per-tensor weights, activations quantized on the fly); convs stay float.  Sized
  with ``torch.save`` of its state_dict (its packed params are not plain tensors).

Both are 8-bit baselines: torch has no 1..7-bit weight formats in core.
"""

from __future__ import annotations

import copy
import os
import warnings

import safetensors.torch
import torch
from torch import nn

import theory

from .quantize import LayerRecord, layer_type, weight_layers
from .storage import state_bytes

BASELINES = ("torch_int8_channel", "torch_dynamic_int8")


def _record(name: str, m: nn.Module, w: torch.Tensor, qw: torch.Tensor, bits: int, K: int) -> LayerRecord:
    w64, q64 = w.double().numpy(), qw.double().numpy()
    rel = float(((w64 - q64) ** 2).sum() / max((w64 * w64).sum(), 1e-300))
    return LayerRecord(name, layer_type(m), int(w.numel()), bits, K, theory.rho(w64, q64), rel, False)


def int8_per_channel(model: nn.Module, directory: str | None = None) -> tuple[nn.Module, list[LayerRecord], int | None]:
    """Weight-only symmetric per-channel int8 with torch.ao's observer and fake-quant.

    **Returns:** ``(qmodel, report, file_bytes)``; ``file_bytes`` is the size of the
    safetensors file (int8 codes, scales, zero points, float params) written to
    ``directory`` (None: not written).
    """
    from torch.ao.quantization import PerChannelMinMaxObserver

    qmodel = copy.deepcopy(model)
    report, payload = [], {}
    packed = set()
    for name, m in weight_layers(qmodel):
        w = m.weight.detach().float()
        obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        obs(w)
        scale, zp = obs.calculate_qparams()
        qw = torch.fake_quantize_per_channel_affine(w, scale.float(), zp.int(), 0, -128, 127)
        shape = [-1] + [1] * (w.dim() - 1)
        codes = torch.clamp(torch.round(w / scale.view(shape)) + zp.view(shape), -128, 127).to(torch.int8)
        report.append(_record(name, m, w, qw, 8, 256))
        with torch.no_grad():
            m.weight.copy_(qw)
        key = f"{name}.weight"
        packed.add(key)
        payload[key + ".int8"] = codes.contiguous()
        payload[key + ".scale"] = scale.float().contiguous()
        payload[key + ".zero_point"] = zp.int().contiguous()
    size = None
    if directory is not None:
        for k, v in qmodel.state_dict().items():
            if k not in packed:
                payload[k] = (v.float() if v.is_floating_point() else v).contiguous()
        path = os.path.join(directory, "torch_int8_channel.safetensors")
        safetensors.torch.save_file(payload, path)
        size = os.path.getsize(path)
    return qmodel, report, size


def dynamic_int8(model: nn.Module, directory: str | None = None) -> tuple[nn.Module, list[LayerRecord], int | None]:
    """``torch.ao.quantization.quantize_dynamic`` on Linear layers (int8); convs stay float.

    **Returns:** ``(qmodel, report, file_bytes)`` with ``file_bytes = len(torch.save(state_dict))``
    (counted in memory; nothing is loaded back).
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qmodel = quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)
    floats = dict(weight_layers(model))
    report = []
    for name, m in qmodel.named_modules():
        if name in floats and not isinstance(m, nn.Linear | nn.Conv2d):  # a dynamic quantized Linear
            w = floats[name].weight.detach().float()
            report.append(_record(name, floats[name], w, m.weight().dequantize(), 8, 256))
        elif name in floats:
            report.append(LayerRecord(name, layer_type(m), int(m.weight.numel()), None, None, None, None, True, "not supported by quantize_dynamic"))
    size = state_bytes(qmodel.state_dict()) if directory is not None else None
    return qmodel, report, size


def run_baseline(name: str, model: nn.Module, directory: str | None = None):
    """Dispatch on ``name`` in ``BASELINES``; returns ``(qmodel, report, file_bytes)``."""
    if name == "torch_int8_channel":
        return int8_per_channel(model, directory)
    if name == "torch_dynamic_int8":
        return dynamic_int8(model, directory)
    raise ValueError(f"name must be one of {list(BASELINES)}, got {name!r}")


__all__ = ["BASELINES", "int8_per_channel", "dynamic_int8", "run_baseline"]
