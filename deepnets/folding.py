"""BatchNorm folding for any PyTorch model, without tracing.

In eval mode BatchNorm is the affine map ``y = g (x - m) / sqrt(v + eps) + b``; with
``s = g / sqrt(v + eps)`` a layer ``x = W u + c`` followed by it equals the layer with weight
``s * W`` (scaled per output channel) and bias ``s (c - m) + b`` (the folding of
S. Ioffe and C. Szegedy's BatchNorm, ICML 2015, used by B. Jacob et al., CVPR 2018, before
integer quantization).  Deployments fold before quantizing, so the quantized weights are the
folded ones.

Which BatchNorm follows which layer is read off one forward pass on a sample input, not off a
symbolic trace (torch.fx cannot trace a ``forward`` with Python control flow such as an
input-size check): forward hooks record every module call, and a torch-function mode records
every tensor operation.  A conv/linear layer and a BatchNorm form a pair when the BatchNorm's
input IS the layer's output tensor (the same object), each module ran once, and nothing but
that BatchNorm read the output's values (shape and dtype queries do not count; a read by any
other operation, or the output returned from the model, refuses the pair, because folding
changes those values).  Only the path the sample input takes is seen; a module the sample
does not reach is left as it is.  Explicit ``pairs=`` skip the pass, and so does a plain
``nn.Sequential`` given no sample (its structure says where each output goes).  A tensor kept
aside by Python code (``self.cache = y``) is invisible to both and would be folded.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

#: layer type -> the BatchNorm type that may follow it (and the output rank it must have).
_PAIRS = {nn.Conv1d: (nn.BatchNorm1d, 3), nn.Conv2d: (nn.BatchNorm2d, 4), nn.Conv3d: (nn.BatchNorm3d, 5),
          nn.Linear: (nn.BatchNorm1d, 2)}
_FOLDABLE = tuple(_PAIRS)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# tensor queries that read no values: a folded output keeps its shape, dtype and device
_META_FUNCS = {torch.Tensor.dim, torch.Tensor.size, torch.Tensor.numel, torch.Tensor.__len__,
               torch.Tensor.ndimension, torch.Tensor.nelement}
_META_PROPS = {getattr(torch.Tensor, n) for n in ("shape", "dtype", "device", "ndim", "layout", "requires_grad",
                                                  "is_cuda", "is_sparse", "is_quantized", "is_meta")}


def _is_metadata(func: Any) -> bool:
    if func in _META_FUNCS:
        return True
    return getattr(func, "__name__", "") == "__get__" and getattr(func, "__self__", None) in _META_PROPS


def _pair_type(layer: nn.Module) -> tuple[type, int] | None:
    for cls, bn_rank in _PAIRS.items():
        if isinstance(layer, cls):
            return bn_rank
    return None


def _recorded_input_shape(model: nn.Module) -> tuple[int, ...] | None:
    shape = getattr(model, "corrquant_input_shape", None)
    if shape is None:
        from . import zoo

        if isinstance(model, zoo.ResNet):  # torchvision's layout: 224 x 224 RGB images
            shape = (3, 224, 224)
    if shape is not None:
        shape = tuple(shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"model.corrquant_input_shape must be positive ints (C, H, W), got {shape!r}")
    return shape


def _example_args(model: nn.Module, example_input: Any) -> tuple:
    if example_input is None:
        shape = _recorded_input_shape(model)
        if shape is None:
            raise ValueError(
                f"example_input: {type(model).__name__} records no input shape; give a sample batch "
                "(fold_batchnorm(model, example_input=x)), explicit pairs=[(layer, batchnorm), ...], "
                "or set model.corrquant_input_shape = (C, H, W)")
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((1, *shape), generator=gen, dtype=dtype)
        return (x.to(p.device) if p is not None else x,)
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, tuple | list) and example_input and all(isinstance(t, torch.Tensor) for t in example_input):
        return tuple(example_input)
    raise ValueError(f"example_input must be a tensor or a tuple of tensors (the model's positional inputs), "
                     f"got {type(example_input).__name__}")


class _Reads(TorchFunctionMode):
    """Records, for every tracked tensor, the module stack active at each operation that reads it."""

    def __init__(self, outputs: dict, reads: dict, stack: list):
        super().__init__()
        self.outputs, self.reads, self.stack = outputs, reads, stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.outputs and not _is_metadata(func):
            for leaf in tree_leaves((args, kwargs)):
                if isinstance(leaf, torch.Tensor) and id(leaf) in self.outputs:
                    self.reads.setdefault(id(leaf), []).append(tuple(self.stack))
        return func(*args, **kwargs)


def _sequential_pairs(model: nn.Sequential) -> list[tuple[str, str]]:
    """Pairs of a plain ``nn.Sequential`` from its structure: each child's output goes to the next child
    only (nested plain Sequentials are flattened); conv -> BatchNorm of the matching rank, each module
    once in the model."""
    chain: list[tuple[str, nn.Module]] = []

    def walk(seq: nn.Sequential, prefix: str) -> None:
        for name, child in seq.named_children():
            if type(child) is nn.Sequential:
                walk(child, f"{prefix}{name}.")
            else:
                chain.append((f"{prefix}{name}", child))

    walk(model, "")
    uses = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    pairs = []
    for (a_name, a), (b_name, b) in zip(chain, chain[1:], strict=False):
        if (isinstance(a, nn.Conv1d | nn.Conv2d | nn.Conv3d) and isinstance(b, _pair_type(a)[0])
                and b.num_features == a.weight.shape[0] and uses[id(a)] == 1 and uses[id(b)] == 1):
            pairs.append((a_name, b_name))
    return pairs


def batchnorm_pairs(model: nn.Module, example_input: Any = None) -> list[tuple[str, str]]:
    """``(layer name, BatchNorm name)`` pairs where a BatchNorm reads only the output of a
    conv/linear layer that nothing else reads, seen on one forward pass (module docstring).

    Arguments:
        model: any module; run once in eval mode under ``torch.no_grad`` (its modes are restored
            afterwards; BatchNorm running statistics do not move).
        example_input: a sample batch (tensor, or tuple of the forward's positional tensors); None:
            a random batch of one of the model's recorded input shape (``model.corrquant_input_shape``,
            set by the zoo models); without one, a plain ``nn.Sequential`` is read off its structure
            (conv -> BatchNorm children in a row), and any other model is a ValueError naming
            ``example_input``.

    Returns:
        list of ``(conv_or_linear_qualified_name, batchnorm_qualified_name)`` in call order.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if example_input is None and type(model) is nn.Sequential and _recorded_input_shape(model) is None:
        return _sequential_pairs(model)
    args = _example_args(model, example_input)
    names = {id(m): n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    calls: Counter = Counter()
    outputs: dict[int, tuple[str, torch.Tensor]] = {}  # id -> (layer, tensor): the tensor kept alive, so ids stay unique
    reads: dict[int, list] = {}
    bn_inputs: dict[str, Any] = {}
    stack: list[str] = []

    def pre(module, inp):
        name = names[id(module)]
        stack.append(name)
        if isinstance(module, _BATCHNORMS) and name not in bn_inputs:
            bn_inputs[name] = inp[0] if inp else None

    def post(module, inp, out):
        name = names[id(module)]
        stack.pop()
        calls[name] += 1
        if isinstance(module, _FOLDABLE) and isinstance(out, torch.Tensor):
            outputs.setdefault(id(out), (name, out))

    handles = []
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # BatchNorm running statistics stay as they are
    try:
        for m in modules.values():
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
        with torch.no_grad(), _Reads(outputs, reads, stack):
            try:
                result = model(*args)
            except Exception as e:  # the user's forward on the user's (or the recorded) input
                raise ValueError(f"example_input: {type(model).__name__}'s forward failed on it "
                                 f"({type(e).__name__}: {e})") from None
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    for leaf in tree_leaves(result):  # returned from the model: read by the caller
        if isinstance(leaf, torch.Tensor) and id(leaf) in outputs:
            reads.setdefault(id(leaf), []).append(())
    pairs = []
    for bn_name, t in bn_inputs.items():
        if not isinstance(t, torch.Tensor) or id(t) not in outputs:
            continue
        layer_name = outputs[id(t)][0]
        layer, bn = modules[layer_name], modules[bn_name]
        bn_type, rank = _pair_type(layer)
        if (
            isinstance(bn, bn_type) and t.dim() == rank and bn.num_features == layer.weight.shape[0]
            and calls[layer_name] == 1 and calls[bn_name] == 1
            and all(bn_name in s for s in reads.get(id(t), []))
        ):
            pairs.append((layer_name, bn_name))
    return pairs


def _check_pairs(model: nn.Module, pairs: Any) -> list[tuple[str, str]]:
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        raise ValueError(f"pairs must be a list of (layer name, batchnorm name), got {type(pairs).__name__}")
    modules = dict(model.named_modules())
    out, seen = [], set()
    for p in pairs:
        if not (isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(s, str) for s in p)):
            raise ValueError(f"pairs: each entry must be (layer name, batchnorm name), got {p!r}")
        layer_name, bn_name = p
        layer, bn = modules.get(layer_name), modules.get(bn_name)
        if not isinstance(layer, _FOLDABLE):
            raise ValueError(f"pairs: {layer_name!r} is not a Conv1d/2d/3d or Linear of the model")
        if not isinstance(bn, _pair_type(layer)[0]):
            raise ValueError(f"pairs: {bn_name!r} is not a {_pair_type(layer)[0].__name__} of the model")
        if bn.num_features != layer.weight.shape[0]:
            raise ValueError(f"pairs: {bn_name!r} has {bn.num_features} features, {layer_name!r} "
                             f"{layer.weight.shape[0]} outputs")
        if layer_name in seen or bn_name in seen:
            raise ValueError(f"pairs: {layer_name!r} or {bn_name!r} appears twice")
        seen |= {layer_name, bn_name}
        out.append((layer_name, bn_name))
    return out


def fold_batchnorm(model: nn.Module, example_input: Any = None, pairs: Any = None) -> nn.Module:
    """A copy of ``model`` with every BatchNorm folded into the conv/linear layer before it.

    The folded BatchNorm becomes ``nn.Identity``; the layer gains a bias if it had none.  The
    copy records the folded pairs in ``.corrquant_folded`` (a packed file stores them, so
    :func:`deepnets.storage.load` can fold a freshly built model the same way).

    Arguments:
        model: the model (left untouched; it is deep-copied).  Its BatchNorm running
            statistics are used, so its eval-mode outputs are what the copy reproduces.
        example_input: a sample batch for :func:`batchnorm_pairs` (None: the recorded input
            shape; not needed when the model has no BatchNorm or ``pairs`` is given).
        pairs: explicit ``[(layer name, batchnorm name), ...]``; folded as given (the caller
            vouches that the BatchNorm reads only that layer's output).

    Returns:
        the folded copy, in eval mode.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    folded = copy.deepcopy(model).eval()
    if pairs is not None:
        pairs = _check_pairs(folded, pairs)
    elif any(isinstance(m, _BATCHNORMS) for m in folded.modules()):
        pairs = batchnorm_pairs(folded, example_input)
    else:
        pairs = []
    done = []
    for layer_name, bn_name in pairs:
        layer = folded.get_submodule(layer_name)
        bn = folded.get_submodule(bn_name)
        if bn.running_mean is None or bn.running_var is None:
            continue  # batch statistics at eval time too: not an affine map, cannot fold
        with torch.no_grad():
            var, mean = bn.running_var.double(), bn.running_mean.double()
            gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
            beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
            scale = gamma / torch.sqrt(var + bn.eps)
            weight = layer.weight.double()
            weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
            bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(var)
            bias = scale * (bias - mean) + beta
            layer.weight = nn.Parameter(weight.to(layer.weight.dtype))
            layer.bias = nn.Parameter(bias.to(layer.weight.dtype))
        parent_name, _, child = bn_name.rpartition(".")
        parent = folded.get_submodule(parent_name) if parent_name else folded
        setattr(parent, child, nn.Identity())
        done.append([layer_name, bn_name])
    folded.corrquant_folded = [list(p) for p in getattr(model, "corrquant_folded", [])] + done
    return folded


def _folds(config: Any) -> bool:
    """True when a stored config (or any entry of a stored mapping) folded BatchNorm."""
    if isinstance(config, dict):
        return config.get("fold_bn") is True or any(_folds(v) for v in config.values() if isinstance(v, dict))
    return False


def refold(net: nn.Module, pairs: Any, config: Any = None) -> nn.Module:
    """``net`` with the recorded folded ``pairs`` folded where it still has those BatchNorms (the
    structure a packed file's state_dict has; its values are overwritten by the file).  Files written
    before pairs were recorded (``pairs`` None) whose ``config`` folded: the pairs are found again."""

    def is_bn(name: str) -> bool:
        try:
            return isinstance(net.get_submodule(name), _BATCHNORMS)
        except AttributeError:
            return False

    if isinstance(pairs, list):
        todo = [p for p in pairs if isinstance(p, list) and len(p) == 2 and isinstance(p[1], str) and is_bn(p[1])]
        if not todo:
            return net
        pairs = todo
    elif not (_folds(config) and any(isinstance(m, _BATCHNORMS) for m in net.modules())):
        return net
    try:
        return fold_batchnorm(net, pairs=pairs)
    except ValueError:
        return net  # not this model's pairs, or no sample input known: the caller's key check says what differs
