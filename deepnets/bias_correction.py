"""Data-free bias correction from BatchNorm statistics (Nagel, van Baalen, Blankevoort, Welling, ICCV 2019).

Quantizing a weight ``W -> W_q`` shifts the expected pre-activation of every output channel by
``(W_q - W) E[x]``.  Where a layer's input is ``relu(BN(.))`` (or ReLU6, or a sum of BatchNorm
outputs under a ReLU, or an average pool of such), BatchNorm's own parameters give ``E[x]``
without any data: each BN output channel is taken as Gaussian ``N(beta, gamma^2)``, so
``E[relu(y)] = beta Phi(beta/|gamma|) + |gamma| phi(beta/|gamma|)`` (Nagel et al., Sec. 4.2), and
the shift is removed from the layer's bias, or, for a bias-free conv feeding a BatchNorm, added
to that BatchNorm's running mean (``BN(z + d)`` with mean ``mu + d`` equals ``BN(z)``).

The graph is read by running the model once on an example input under a
``torch.overrides.TorchFunctionMode`` that records which function produced each tensor; the
input's values are not used (zeros do), so the correction stays data-free.  Layers whose input
is anything else are left as they are and listed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .quantize import weight_layers

_RELU = {F.relu, torch.relu, torch.relu_, F.relu_}
_RELU6 = {F.relu6, F.hardtanh}
_PASS = {F.adaptive_avg_pool2d, F.avg_pool2d, torch.flatten, F.max_pool2d}  # per-channel means pass (max: approx. no)


class _Node:
    """One recorded call: the function, its arguments, and the nodes that produced its tensor arguments
    (taken before the call, so an in-place op such as ``relu(x, inplace=True)`` still points at x's producer)."""

    def __init__(self, func: Any, args: tuple, kwargs: dict, src: list) -> None:
        self.func, self.args, self.kwargs, self.src = func, args, kwargs, src


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.producer: dict[int, _Node] = {}
        self.nodes: list[_Node] = []  # every call, also those whose output an in-place op later took over
        self.keep: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        src = [self.producer.get(id(a)) if isinstance(a, torch.Tensor) else None for a in args]
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            self.producer[id(out)] = node = _Node(func, args, kwargs, src)
            self.nodes.append(node)
            self.keep.append(out)
        return out


def _arg(args: tuple, kwargs: dict, i: int, name: str) -> Any:
    return args[i] if len(args) > i else kwargs.get(name)


def _relu_mean(mu: np.ndarray, sd: np.ndarray, hi: float = math.inf) -> np.ndarray:
    """E[clip(y, 0, hi)] for y ~ N(mu, sd^2), per channel."""
    from scipy.stats import norm

    sd = np.maximum(sd, 1e-12)

    def relu(m):
        return m * norm.cdf(m / sd) + sd * norm.pdf(m / sd)

    return relu(mu) - (relu(mu - hi) if math.isfinite(hi) else 0.0)


def _bn_stats(p: _Node | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, variance) per channel of the output of node ``p`` if it is a BatchNorm output or a sum of them."""
    if p is None:
        return None
    func, args, kwargs = p.func, p.args, p.kwargs
    if func is F.batch_norm:
        w, b = _arg(args, kwargs, 3, "weight"), _arg(args, kwargs, 4, "bias")
        if w is None or b is None:
            return None
        return b.detach().double().numpy(), (w.detach().double().numpy()) ** 2
    if func in (torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__iadd__, torch.Tensor.add_):
        parts = [_bn_stats(q) for a, q in zip(args[:2], p.src[:2], strict=True) if isinstance(a, torch.Tensor)]
        if len(parts) == 2 and all(q is not None for q in parts):
            return parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]  # independent channels
    return None


def _input_mean(p: _Node | None) -> np.ndarray | None:
    """E[x] per channel of the output of node ``p`` (a layer's input) from the BatchNorm statistics upstream, or None."""
    if p is None:
        return None
    func, args, kwargs = p.func, p.args, p.kwargs
    if func in _PASS and func is not F.max_pool2d:
        return _input_mean(p.src[0])
    hi = math.inf
    if func in _RELU6:
        lo, hi = _arg(args, kwargs, 1, "min_val"), _arg(args, kwargs, 2, "max_val")
        if func is F.relu6:
            lo, hi = 0.0, 6.0
        if lo != 0.0:
            return None
    elif func not in _RELU:
        return None
    st = _bn_stats(p.src[0])
    if st is None:
        return None
    return _relu_mean(st[0], np.sqrt(st[1]), hi)


def bias_correct(float_model: nn.Module, qmodel: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Remove the expected pre-activation shift ``(W_q - W) E[x]`` of each quantized layer of ``qmodel`` in place.

    **Arguments:**

    - `float_model`: the float model ``qmodel`` was quantized from (same layer names; BN folded
      or not, as ``qmodel``).
    - `qmodel`: from :func:`deepnets.quantize`; its biases or the running means of the
      BatchNorms after bias-free convs are changed.
    - `example_input`: any tensor of the input's shape (only the graph is read; zeros do).

    **Returns:** the names of the corrected layers.
    """
    if not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a tensor of the model's input shape, got {type(example_input).__name__}")
    float_w = {n: m.weight.detach().double() for n, m in weight_layers(float_model)}
    layers = dict(weight_layers(qmodel))
    inputs: dict[str, Any] = {}
    outputs: dict[int, str] = {}
    hooks = []
    rec = _Recorder()
    for n, m in layers.items():
        def pre(mod, inp, n=n):
            inputs[n] = rec.producer.get(id(inp[0]))  # the node that made this layer's input, before any in-place op

        def hook(mod, inp, out, n=n):
            outputs[id(out)] = n
        hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(hook)]
    was = qmodel.training
    qmodel.eval()
    try:
        with torch.no_grad(), rec:
            qmodel(torch.zeros_like(example_input))
    finally:
        for h in hooks:
            h.remove()
        qmodel.train(was)
    # the BatchNorm that consumes each bias-free conv's output
    consumer = {}
    bns = {id(m.weight): m for m in qmodel.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine}
    for node in rec.nodes:
        args = node.args
        if node.func is F.batch_norm and isinstance(args[0], torch.Tensor) and id(args[0]) in outputs:
            w = _arg(args, node.kwargs, 3, "weight")
            if w is not None and id(w) in bns:
                consumer[outputs[id(args[0])]] = bns[id(w)]
    done = []
    for n, m in layers.items():
        if n not in inputs or n not in qmodel.corrquant.layers:
            continue
        ex = _input_mean(inputs[n])
        if ex is None:
            continue
        dW = m.weight.detach().double() - float_w[n]
        if isinstance(m, nn.Conv2d):
            per_in = dW.sum(dim=(2, 3))  # (O, I/groups)
            g = m.groups
            ex_t = torch.as_tensor(ex).reshape(g, -1)  # (groups, I/groups)
            o_per_g = m.out_channels // g
            shift = (per_in.reshape(g, o_per_g, -1) * ex_t[:, None, :]).sum(-1).reshape(-1)
        else:
            if dW.shape[1] != ex.size:
                continue
            shift = dW @ torch.as_tensor(ex)
        with torch.no_grad():
            if m.bias is not None:
                m.bias -= shift.to(m.bias.dtype)
            elif n in consumer and consumer[n].running_mean is not None:
                consumer[n].running_mean += shift.to(consumer[n].running_mean.dtype)
            else:
                continue
        done.append(n)
    return done


__all__ = ["bias_correct"]
