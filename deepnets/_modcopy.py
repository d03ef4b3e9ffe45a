"""Model-level helpers of :func:`deepnets.quantize.quantize`: the module-tree copy and the finiteness check.

``copy_model`` is ``copy.deepcopy`` of a plain torch module tree, without the generic machinery.

Every module is rebuilt as ``copy.deepcopy`` rebuilds it (``cls.__new__`` and ``__setstate__`` with a
copy of its ``__dict__``): parameters are new ``Parameter``s on cloned data (``Parameter.__deepcopy__``),
plain strided buffers are clones, immutable attributes are shared (as deepcopy shares them), empty
hook dicts are new empty dicts, and anything else goes through ``copy.deepcopy`` with the same memo.
A module or tensor with its own copy protocol (a ``__deepcopy__``/``__reduce_ex__``/``__getstate__``
other than ``nn.Module``'s, a tensor subclass, a gradient, attributes on a tensor) sends the whole
model to ``copy.deepcopy`` (``__setstate__`` is called here as deepcopy calls it).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

import theory

_ATOMS = (int, float, bool, str, bytes, type(None), torch.dtype, torch.device, torch.Size, type)
_PROTOCOL = ("__deepcopy__", "__reduce_ex__", "__reduce__", "__getstate__", "__copy__")  # __setstate__ is called as deepcopy calls it


class _Generic(Exception):
    """Raised inside :func:`copy_model` where only ``copy.deepcopy`` is safe."""


def _atomic(v) -> bool:
    return type(v) in _ATOMS or (type(v) is tuple and all(_atomic(x) for x in v))


def _tensor(t, memo: dict):
    if t is None:
        return None
    if id(t) in memo:
        return memo[id(t)]
    if (type(t) not in (nn.Parameter, torch.Tensor) or t.layout != torch.strided or t.is_quantized or t.grad is not None
            or t.__dict__ or (type(t) is torch.Tensor and not t.is_leaf)):
        raise _Generic
    data = t.detach().clone(memory_format=torch.preserve_format)
    out = nn.Parameter(data, t.requires_grad) if type(t) is nn.Parameter else data.requires_grad_(t.requires_grad)
    memo[id(t)] = out
    return out


def _module(m: nn.Module, memo: dict) -> nn.Module:
    if id(m) in memo:
        return memo[id(m)]
    cls = type(m)
    if any(getattr(cls, k, None) is not getattr(nn.Module, k, None) for k in _PROTOCOL):
        raise _Generic
    new = cls.__new__(cls)
    memo[id(m)] = new
    state = {}
    for k, v in m.__dict__.items():
        if k in ("_parameters", "_buffers"):
            state[k] = type(v)((n, _tensor(t, memo)) for n, t in v.items())
        elif k == "_modules":
            state[k] = type(v)((n, None if c is None else _module(c, memo)) for n, c in v.items())
        elif _atomic(v):
            state[k] = v
        elif type(v) in (dict, OrderedDict, set) and not v:
            state[k] = type(v)()
        else:
            state[k] = copy.deepcopy(v, memo)
    new.__setstate__(state)
    return new


def copy_model(model: nn.Module, memo: dict) -> nn.Module:
    """``copy.deepcopy(model, memo)``: the same new module tree, faster for plain modules."""
    try:
        return _module(model, dict(memo))
    except _Generic:
        return copy.deepcopy(model, memo)


def check_finite(model: nn.Module, skip: frozenset = frozenset()) -> None:
    """ValueError naming the first floating-point state_dict entry (not in ``skip``) holding NaN or Inf."""
    for n, p in model.state_dict().items():
        if not p.is_floating_point() or n in skip:
            continue
        if p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64, torch.float16) and p.numel():
            a = p.detach().numpy()
            ok = bool(np.isfinite(a.min()) and np.isfinite(a.max()))  # min and max propagate NaN: one cheap pass each
        else:
            ok = bool(torch.isfinite(p).all())
        if not ok:
            raise ValueError(f"model has non-finite (NaN or Inf) values in {n!r}; cannot quantize")


def deferred_check(w, cfg) -> bool:
    """True for a float32 CPU weight quantized per output channel by min-max (least-squares gain, no offset) from
    a C-contiguous array: its fit refuses non-finite weights itself (NaN and Inf propagate into its levels), so
    :func:`check_finite` can skip it (one pass over the weights less)."""
    return (cfg is not None and cfg.method == "minmax" and cfg.gain == "mse" and not cfg.recipe.offset
            and isinstance(cfg.granularity, theory.PerChannel) and isinstance(w, torch.Tensor) and w.dtype == torch.float32
            and w.device.type == "cpu" and w.ndim >= 1 and w.numel() > 0 and cfg.granularity.axis % w.ndim == 0
            and w.is_contiguous())
