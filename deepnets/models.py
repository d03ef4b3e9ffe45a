"""Four small image classifiers that stand for the families of the seed papers.

Malsagov et al. (OMNN 28(4):262-270, 2019) and Pushkareva & Karandashev (OMNN
29(3):179-186, 2020) quantize VGG-16, ResNet-50, MobileNet-v2, Xception and Inception-v3
after training.  Here each family has a small stand-in that trains on Fashion-MNIST in a
few CPU minutes and on 8x8 digits in seconds:

- ``mlp``: fully connected layers only (the Hopfield-like case: a dense weight matrix).
- ``vgg``: VGG-style stacks of 3x3 convolutions and max pooling, no BatchNorm
  (K. Simonyan, A. Zisserman, ICLR 2015).
- ``resnet``: ResNet-style basic residual blocks with BatchNorm (K. He et al., CVPR 2016).
- ``mobilenet``: depthwise-separable convolutions with BatchNorm and ReLU6
  (A. G. Howard et al., arXiv:1704.04861, 2017).  Depthwise kernels have 9 weights per
  channel and wildly different ranges per channel: the place where post-training
  quantization breaks, as MobileNet-v2 needs 5 bits in the seed paper.

Every constructor takes ``(in_channels, num_classes, image_size)``; inputs are
``(n, in_channels, image_size, image_size)`` and outputs are logits ``(n, num_classes)``.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import DATASETS
from .folding import batchnorm_pairs, fold_batchnorm  # noqa: F401  (their home before deepnets.folding)

#: Folder of the committed trained weights ``{name}_{dataset}.safetensors`` and logs.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _check_shape_args(in_channels: int, num_classes: int, image_size: int) -> None:
    for arg, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 2), ("image_size", image_size, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")


def _record(model: nn.Module, **kwargs: Any) -> None:
    """Record how to rebuild ``model``: its constructor's keyword arguments (JSON-ready, tuples as
    lists; :func:`deepnets.storage.save` stores them beside ``module:Class``) and its input shape
    ``(C, S, S)`` (the sample input of :func:`fold_batchnorm`)."""
    model.corrquant_kwargs = json.loads(json.dumps(kwargs))
    model.corrquant_input_shape = (kwargs["in_channels"], kwargs["image_size"], kwargs["image_size"])


class MLP(nn.Module):
    """Flatten, then ``Linear-ReLU-Linear-ReLU-Linear``.

    Arguments:
        in_channels, num_classes, image_size: input ``(n, C, S, S)``, output ``(n, num_classes)``.
        hidden: widths of the hidden layers.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: tuple[int, ...] = (256, 128)):
        super().__init__()
        _check_shape_args(in_channels, num_classes, image_size)
        _record(self, in_channels=in_channels, num_classes=num_classes, image_size=image_size, hidden=hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class VGG(nn.Module):
    """VGG-style: two blocks of two 3x3 conv + ReLU then 2x2 max pooling, then a
    fully connected classifier on the flattened feature map (as in VGG-16, most weights
    sit in the fully connected layers).  No BatchNorm.

    Arguments:
        in_channels, num_classes, image_size: input ``(n, C, S, S)`` with ``S >= 4``.
        widths: channels of the two conv blocks.
        hidden: width of the hidden fully connected layer.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int,
                 widths: tuple[int, int] = (16, 32), hidden: int = 256):
        super().__init__()
        _check_shape_args(in_channels, num_classes, image_size)
        _record(self, in_channels=in_channels, num_classes=num_classes, image_size=image_size, widths=widths, hidden=hidden)
        w1, w2 = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w1, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w1, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(w2 * side * side, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm with an identity (or 1x1 conv + BatchNorm) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-style: 3x3 stem conv + BatchNorm, three stages of basic blocks (each halves
    the resolution: 28 -> 14 -> 7 -> 4, 8 -> 4 -> 2 -> 1), global average pooling, linear
    classifier.

    Arguments:
        in_channels, num_classes, image_size: input ``(n, C, S, S)`` with ``S >= 4``.
        widths: channels of the three stages.
        blocks: basic blocks per stage.
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_size: int,
        widths: tuple[int, int, int] = (16, 32, 64), blocks: int = 1,
    ):
        super().__init__()
        _check_shape_args(in_channels, num_classes, image_size)
        _record(self, in_channels=in_channels, num_classes=num_classes, image_size=image_size, widths=widths, blocks=blocks)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for w in widths:
            layer = [BasicBlock(cin if b == 0 else w, w, stride=(2 if b == 0 else 1)) for b in range(blocks)]
            stages.append(nn.Sequential(*layer))
            cin = w
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class MobileNet(nn.Module):
    """MobileNet-style: a stride-2 3x3 stem, then depthwise-separable blocks (3x3 depthwise conv +
    BatchNorm + ReLU6, 1x1 pointwise conv + BatchNorm + ReLU6), global average pooling,
    linear classifier.

    Arguments:
        in_channels, num_classes, image_size: input ``(n, C, S, S)`` with ``S >= 4``.
        config: ``(out_channels, stride)`` of each depthwise-separable block.
    """

    DEFAULT_CONFIG = ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 1))

    def __init__(self, in_channels: int, num_classes: int, image_size: int, stem: int = 16,
                 config: tuple[tuple[int, int], ...] = DEFAULT_CONFIG):
        super().__init__()
        _check_shape_args(in_channels, num_classes, image_size)
        _record(self, in_channels=in_channels, num_classes=num_classes, image_size=image_size, stem=stem, config=config)
        layers = [_conv_bn(in_channels, stem, 3, stride=2)]
        cin = stem
        for cout, stride in config:
            layers.append(nn.Sequential(_conv_bn(cin, cin, 3, stride=stride, groups=cin), _conv_bn(cin, cout, 1)))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


#: name -> constructor ``(in_channels, num_classes, image_size) -> nn.Module``.
MODELS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "mlp": MLP,
    "vgg": VGG,
    "resnet": ResNet,
    "mobilenet": MobileNet,
}


def build(name: str, dataset: str = "fashion_mnist") -> nn.Module:
    """A randomly initialized model shaped for a dataset (seed torch yourself first).

    Arguments:
        name: a key of :data:`MODELS`.
        dataset: a key of :data:`deepnets.data.DATASETS` (gives channels, classes, size).

    Returns:
        the ``nn.Module`` in train mode.
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    info = DATASETS[dataset]
    return MODELS[name](info.in_channels, info.num_classes, info.image_size)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# -- committed weights -----------------------------------------------------------------
def weights_path(name: str, dataset: str = "fashion_mnist", weights_dir: str | Path | None = None) -> Path:
    """Path of the safetensors file for ``name`` trained on ``dataset``."""
    return Path(weights_dir if weights_dir is not None else WEIGHTS_DIR) / f"{name}_{dataset}.safetensors"


def load_pretrained(name: str, dataset: str = "fashion_mnist", weights_dir: str | Path | None = None) -> nn.Module:
    """The committed trained model (safetensors, never pickle), in eval mode.

    Arguments:
        name: a key of :data:`MODELS`.
        dataset: ``"fashion_mnist"`` or ``"digits"``.
        weights_dir: folder of ``{name}_{dataset}.safetensors``; default ``deepnets/weights``.

    Returns:
        the model with the trained weights loaded, in eval mode.

    Raises:
        FileNotFoundError: no weights file (the message names it and the training command).
        ValueError: the file is corrupt or its tensor names/shapes do not match the model.
    """
    from safetensors.torch import load_file

    model = build(name, dataset)
    path = weights_path(name, dataset, weights_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained weights at {path}; train them with "
            f"`python -m deepnets.train --model {name} --dataset {dataset} --out {path.parent}`"
        )
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises SafetensorError / OSError on bad files
        raise ValueError(f"{path}: corrupt safetensors file ({type(exc).__name__}: {exc})") from exc
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state, strict=True)
    return model.eval()


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "state_dict") -> None:
    """Raise ValueError naming ``source`` unless ``state`` has exactly ``model``'s keys and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(
            part for part in (
                f"missing {missing[:5]}" if missing else "",
                f"unexpected {unexpected[:5]}" if unexpected else "",
                "shape mismatch " + ", ".join(f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:5]) if wrong else "",
            ) if part
        )
        raise ValueError(f"{source}: tensors do not match {type(model).__name__}: {detail}")


# -- any importable model class: how a packed file says how to rebuild its model --------------
def class_spec(model: nn.Module) -> str | None:
    """``"module:Class"`` of ``model``'s class when importing it gives back the same class, else None
    (classes defined in ``__main__`` or inside a function cannot be rebuilt by another process)."""
    cls = type(model)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return None
    spec = f"{cls.__module__}:{cls.__qualname__}"
    try:
        return spec if import_model_class(spec) is cls else None
    except ValueError:
        return None


def import_model_class(spec: Any, what: str = "arch") -> type:
    """The ``nn.Module`` subclass named ``"package.module:Class"`` (imports the module, nothing else;
    ValueError naming ``what`` for a bad spec, a module that does not import or a class that is not
    an ``nn.Module``)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"{what} must be 'package.module:Class', got {spec!r}")
    module_name, qualname = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module's own error at import time
        raise ValueError(f"{what}: cannot import module {module_name!r} ({type(e).__name__}: {e})") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what}: module {module_name!r} has no {qualname!r}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"{what}: {spec!r} is not a torch.nn.Module class (got {type(obj).__name__})")
    return obj


def build_from_spec(spec: Any, kwargs: Any = None, what: str = "arch") -> nn.Module:
    """``Class(**kwargs)`` for ``spec = "module:Class"``; the model records the kwargs (``.corrquant_kwargs``)."""
    cls = import_model_class(spec, what)
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"{what}: keyword arguments must be a JSON object (dict of str keys), got {kwargs!r}")
    try:
        model = cls(**kwargs)
    except Exception as e:  # the user's constructor
        raise ValueError(f"{what}: {spec}(**{kwargs!r}) failed ({type(e).__name__}: {e})") from None
    if getattr(model, "corrquant_kwargs", None) is None:
        model.corrquant_kwargs = json.loads(json.dumps(kwargs))
    return model


def rebuild_record(model: nn.Module, arch: Any = None) -> dict:
    """``{"class": "module:Class", "kwargs": {...}}`` to store for ``model`` (empty when unknown).

    ``arch``: None (the model's importable class and its ``.corrquant_kwargs``, set by the zoo
    constructors or by the user), ``"module:Class"`` (built without arguments) or
    ``{"class": ..., "kwargs": {...}}``; checked here (ValueError naming ``arch``).
    """
    if arch is None:
        spec, kwargs = class_spec(model), getattr(model, "corrquant_kwargs", None)
        if spec is None or not isinstance(kwargs, dict):
            return {}
    elif isinstance(arch, str):
        spec, kwargs = arch, {}
    elif isinstance(arch, dict) and set(arch) <= {"class", "kwargs"} and "class" in arch:
        spec, kwargs = arch["class"], arch.get("kwargs") or {}
    else:
        raise ValueError(f"arch must be 'module:Class' or {{'class': 'module:Class', 'kwargs': {{...}}}}, got {arch!r}")
    import_model_class(spec, "arch")
    try:
        kwargs = json.loads(json.dumps(kwargs, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"arch: keyword arguments must be JSON-serializable ({e})") from None
    if not isinstance(kwargs, dict):
        raise ValueError(f"arch: keyword arguments must be a dict, got {kwargs!r}")
    return {"class": spec, "kwargs": kwargs}


def model_from_record(model_or_factory: Any, arch: dict, path: str) -> nn.Module:
    """The model :func:`deepnets.storage.load` fills: a copy of a given instance, a factory's product,
    or (None) the model the file ``path`` records in ``arch`` (``module:Class`` and kwargs, or an arch
    name and dataset for :func:`build`); ValueError naming ``model_or_factory`` when nothing is known."""
    m = model_or_factory
    if isinstance(m, nn.Module):
        return copy.deepcopy(m)
    if m is None and arch.get("class"):
        try:
            return build_from_spec(arch["class"], arch.get("kwargs"), what="arch")
        except ValueError as e:
            raise ValueError(f"path: {path!r}: cannot rebuild its recorded model ({e}); give model_or_factory") from None
    if m is None or isinstance(m, str):
        name = m or arch.get("name")
        if not name or not arch.get("dataset"):
            raise ValueError(
                f"model_or_factory: {path!r} records no model to rebuild (no importable module:Class with its "
                "keyword arguments); give a model instance or a zero-argument factory, e.g. load(path, MyNet())")
        return build(name, arch["dataset"])
    if callable(m):
        net = m()
        if not isinstance(net, nn.Module):
            raise ValueError(f"model_or_factory: the factory returned {type(net).__name__}, not an nn.Module")
        return net
    raise ValueError(f"model_or_factory must be an nn.Module, a zero-argument factory or None, got {type(m).__name__}")
