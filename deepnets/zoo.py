"""The real thing: ImageNet-style classifiers and validation folders, without torchvision.

The seed papers (Malsagov et al., OMNN 28(4):262-270, 2019; Pushkareva & Karandashev,
OMNN 29(3):179-186, 2020) report top-5 on the 50,000-image ImageNet validation set.
This module lets a user with their own copy of that set and of the weights run the same
measurement:

- :func:`imagefolder` reads an ImageFolder tree (``root/<class>/<image>``, classes in
  sorted order, as torchvision does) with Pillow alone: resize the shorter side to
  ``image_size / 0.875``, center-crop ``image_size``, scale to [0, 1], normalize with the
  ImageNet mean/std.
- :func:`resnet18` / :func:`resnet50` are our own definitions whose ``state_dict`` keys
  and shapes are exactly torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
  ``fc``), so torchvision ``.pth`` files load with ``torch.load(weights_only=True)``
  (never pickle) and ``.safetensors`` files with safetensors.
- :func:`torchvision_model` builds any torchvision classifier by name, importing
  torchvision lazily; the PyPI torchvision wheels are built against CUDA torch and do not
  import beside a CPU-only torch, so it raises an ImportError saying what to install.
- :func:`resnet50_shaped` is a randomly initialized ResNet-50 (25.6M parameters) for
  benchmarks that need the size, not the accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .data import loader
from .models import check_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


# -- ImageFolder without torchvision ---------------------------------------------------
class ImageFolder(Dataset):
    """Images in ``root/<class name>/<file>``; label = index of the class in sorted order.

    Arguments:
        root: the folder of class folders.
        image_size: side of the square center crop.
        resize: shorter side after resizing, before the crop; default
            ``round(image_size / 0.875)`` (256 for 224, the standard ImageNet evaluation).
        mean, std: per-channel normalization after scaling pixels to [0, 1].

    Items:
        ``(image float32 (3, image_size, image_size), label int)``.
    """

    def __init__(
        self, root: str | Path, image_size: int = 224, resize: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
    ):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder root not found: {root}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        resize = round(image_size / 0.875) if resize is None else resize
        if isinstance(resize, bool) or not isinstance(resize, int) or resize < image_size:
            raise ValueError(f"resize must be an int >= image_size ({image_size}), got {resize!r}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must have 3 entries with std > 0, got {mean!r}, {std!r}")
        self.root, self.image_size, self.resize = root, image_size, resize
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(3, 1, 1)
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not self.classes:
            raise ValueError(f"root {root} has no class folders")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [
            (path, self.class_to_idx[c])
            for c in self.classes
            for path in sorted((root / c).rglob("*"))
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
        ]
        if not self.samples:
            raise ValueError(f"root {root} has no images with extensions {IMAGE_EXTENSIONS}")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(path), label

    def transform(self, path: str | Path) -> torch.Tensor:
        """Open, convert to RGB, resize shorter side, center-crop, scale, normalize: ``(3, S, S)``."""
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except OSError as exc:
            raise ValueError(f"{path}: not a readable image ({exc})") from exc
        w, h = img.size  # shorter side -> resize, longer side scaled and truncated as torchvision does
        new_w, new_h = (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
        img = img.resize((new_w, new_h), Image.BILINEAR)
        left = int(round((new_w - self.image_size) / 2.0))
        top = int(round((new_h - self.image_size) / 2.0))
        img = img.crop((left, top, left + self.image_size, top + self.image_size))
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
        return (x - self.mean) / self.std


def imagefolder(root: str | Path, image_size: int = 224, resize: int | None = None) -> ImageFolder:
    """An ImageNet-style validation folder as a Dataset of ``(image (3, S, S), label)``.

    Arguments:
        root: folder with one sub-folder per class (sorted names give labels 0, 1, ...).
        image_size: center-crop side ``S`` (224 for ResNet-50).
        resize: shorter side before cropping; default ``round(S / 0.875)``.

    Returns:
        an :class:`ImageFolder`; ``.classes`` lists the class names.
    """
    return ImageFolder(root, image_size=image_size, resize=resize)


@torch.no_grad()
def topk_accuracy(model: nn.Module, dataset, ks: Sequence[int] = (1, 5), batch_size: int = 32) -> dict[int, float]:
    """Top-k accuracies of ``model`` (put in eval mode) on a dataset of ``(image, label)``.

    Arguments:
        model: classifier mapping ``(b, 3, S, S)`` to logits ``(b, classes)``.
        dataset: a Dataset such as :func:`imagefolder`'s, or an ``(images, labels)`` pair.
        ks: the k values; each must be <= the number of classes.
        batch_size: evaluation batch size.

    Returns:
        ``{k: fraction of examples whose label is among the k largest logits}``.
    """
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks!r}")
    model.eval()
    hits = {k: 0 for k in ks}
    total = 0
    for images, labels in loader(dataset, batch_size):
        logits = model(images)
        if max(ks) > logits.shape[1]:
            raise ValueError(f"ks must be <= the number of classes {logits.shape[1]}, got {ks!r}")
        top = logits.topk(max(ks), dim=1).indices
        match = top == torch.as_tensor(labels).reshape(-1, 1)
        for k in ks:
            hits[k] += int(match[:, :k].any(dim=1).sum())
        total += len(labels)
    if total == 0:
        raise ValueError("dataset must not be empty")
    return {k: hits[k] / total for k in ks}


# -- ResNets with torchvision's parameter names ----------------------------------------
class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock`` (two 3x3 convs), same attribute names."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` (ResNet v1.5: stride on the 3x3 conv), same names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet for 224x224 ImageNet images (K. He et al., CVPR 2016), torchvision's layout.

    Arguments:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: outputs of ``fc``.

    Input ``(n, 3, H, W)``, output logits ``(n, num_classes)``.
    """

    def __init__(self, block: type, layers: Sequence[int], num_classes: int = 1000):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: ``.safetensors`` via safetensors, anything else via
    ``torch.load(weights_only=True)`` (no pickled code runs).  A checkpoint that wraps the
    tensors in ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped, and a
    ``module.`` prefix (DataParallel) is stripped.

    Arguments:
        path: the file.

    Returns:
        ``{name: tensor}``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or a pickle that needs code (refused)
        raise ValueError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a dict of tensors (a state_dict)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a weights file into ``model`` after checking names and shapes (strict).

    ``num_batches_tracked`` counters, absent from some published files, are filled from
    the model.  Returns ``model`` in eval mode.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state, strict=True)
    return model.eval()


def resnet18(weights_path: str | Path | None = None, num_classes: int = 1000) -> ResNet:
    """ResNet-18 (11.7M parameters) with torchvision's names; random init unless ``weights_path``."""
    model = ResNet(BasicBlock, (2, 2, 2, 2), num_classes)
    return load_weights(model, weights_path) if weights_path is not None else model


def resnet50(weights_path: str | Path | None = None, num_classes: int = 1000) -> ResNet:
    """ResNet-50 (25.6M parameters) with torchvision's names; random init unless ``weights_path``."""
    model = ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
    return load_weights(model, weights_path) if weights_path is not None else model


#: Our torchvision-free definitions, by torchvision's names.
OWN_MODELS = {"resnet18": resnet18, "resnet50": resnet50}


def resnet50_shaped(seed: int = 0, num_classes: int = 1000) -> ResNet:
    """A ResNet-50 with random (torchvision-style) weights, for size-bound benchmarks.

    Arguments:
        seed: seeds the initialization; the global torch RNG is left as it was.
        num_classes: outputs of ``fc``.

    Returns:
        the model in eval mode, 25,557,032 parameters for 1000 classes.  Its BatchNorm
        running statistics are the defaults (mean 0, var 1).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = resnet50(num_classes=num_classes)
    return model.eval()


def torchvision_model(name: str, weights_path: str | Path | None = None, **kwargs) -> nn.Module:
    """Any torchvision classifier by name (``"vgg16"``, ``"mobilenet_v2"``, ...), with the
    user's weights file loaded (never downloaded).

    Arguments:
        name: a function of ``torchvision.models``.
        weights_path: a ``.pth`` (read with ``weights_only=True``) or ``.safetensors`` file;
            None keeps torchvision's random initialization.
        **kwargs: passed to the torchvision constructor (e.g. ``num_classes``).

    Returns:
        the model, in eval mode when weights were loaded.

    Raises:
        ImportError: torchvision cannot be imported; the message says how to install a
            build that matches this torch, and that :func:`resnet18` / :func:`resnet50`
            load torchvision's ResNet weight files without it.
    """
    try:
        import torchvision.models as tvm
    except Exception as exc:  # ImportError, or RuntimeError 'operator torchvision::nms does not exist'
        cpu = "+cpu" in torch.__version__
        raise ImportError(
            f"torchvision is not importable beside torch {torch.__version__} ({type(exc).__name__}: {exc}). "
            "torchvision must be the build made for this exact torch"
            + (" and the PyPI wheels are linked against CUDA torch; install the CPU build, e.g. "
               "`pip install --no-deps torchvision==<matching version>+cpu --index-url https://download.pytorch.org/whl/cpu` "
               "(torchvision 0.28 pairs with torch 2.13)" if cpu else "; `pip install torchvision==<matching version>`")
            + f". Without torchvision use deepnets.zoo.{'/'.join(OWN_MODELS)}(weights_path), which load "
              "torchvision's ResNet weight files."
        ) from exc
    if not hasattr(tvm, name) or not callable(getattr(tvm, name)):
        raise ValueError(f"name must be a torchvision.models constructor, got {name!r}")
    model = getattr(tvm, name)(weights=None, **kwargs)
    return load_weights(model, weights_path) if weights_path is not None else model


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "ImageFolder", "imagefolder", "topk_accuracy",
    "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50", "resnet50_shaped", "OWN_MODELS",
    "read_state_dict", "load_weights", "torchvision_model", "count_params",
]
