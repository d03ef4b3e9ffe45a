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
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import DATASETS

#: Folder of the committed trained weights ``{name}_{dataset}.safetensors`` and logs.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _check_shape_args(in_channels: int, num_classes: int, image_size: int) -> None:
    for arg, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 2), ("image_size", image_size, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")


class MLP(nn.Module):
    """Flatten, then ``Linear-ReLU-Linear-ReLU-Linear``.

    Arguments:
        in_channels, num_classes, image_size: input ``(n, C, S, S)``, output ``(n, num_classes)``.
        hidden: widths of the hidden layers.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: tuple[int, ...] = (256, 128)):
        super().__init__()
        _check_shape_args(in_channels, num_classes, image_size)
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


# -- BatchNorm folding -----------------------------------------------------------------
_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(layer name, BatchNorm name)`` pairs where a BatchNorm reads only the output of a
    conv/linear layer that nothing else reads, found by tracing ``model`` with torch.fx.

    Arguments:
        model: any fx-traceable module.

    Returns:
        list of ``(conv_or_linear_qualified_name, batchnorm_qualified_name)``.
    """
    import torch.fx

    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BATCHNORMS):
            continue
        src = node.args[0] if node.args else None
        if (
            isinstance(src, torch.fx.Node) and src.op == "call_module"
            and isinstance(modules.get(src.target), _FOLDABLE)
            and len(src.users) == 1 and calls[src.target] == 1 and calls[node.target] == 1
        ):
            pairs.append((src.target, node.target))
    return pairs


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every BatchNorm folded into the conv/linear before it.

    In eval mode BatchNorm is the affine map ``y = g (x - m) / sqrt(v + eps) + b``; with
    ``s = g / sqrt(v + eps)`` the layer ``x = W u + c`` followed by it equals the layer with
    weight ``s * W`` (scaled per output channel) and bias ``s (c - m) + b``.  The folded
    BatchNorm becomes ``nn.Identity``; the conv gains a bias if it had none.  This is what
    deployments do before quantizing, so the quantized weights are the folded ones.

    Arguments:
        model: the model (left untouched; it is deep-copied).  Its BatchNorm running
            statistics are used, so its eval-mode outputs are what the copy reproduces.

    Returns:
        the folded copy, in eval mode.
    """
    folded = copy.deepcopy(model).eval()
    for layer_name, bn_name in batchnorm_pairs(folded):
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
    return folded


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
