"""Top-1 / top-5 accuracy of a classifier on a labelled image set."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm


def _batches(data: Any, batch_size: int) -> Iterable:
    if hasattr(data, "tensors") and len(data.tensors) == 2:  # a TensorDataset
        data = tuple(data.tensors)
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"data: {x.shape[0]} images but {y.shape[0]} labels")
        return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return data  # a DataLoader or any iterable of (images, labels)


def _expected_input(model: nn.Module) -> str:
    """What the model's first layer takes, for the wrong-size message."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return f"(n, {m.in_channels}, H, W) images of the size it was built for"
        if isinstance(m, nn.Linear):
            return f"{m.in_features} values per image (after flattening)"
    return "another shape"


def _check_batch(x: Any, y: Any) -> None:
    """Images a float tensor with finite values, labels (n,) integers, as many as images."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"data must give (images, labels) tensor pairs, got {type(x).__name__}, {type(y).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"data: images must be floating point (normalized as the model was trained), got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("data: images contain NaN or Inf")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"data: labels must be integer class indices, got dtype {y.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"data: labels must have shape ({x.shape[0]},), one per image, got {tuple(y.shape)}")


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:
        return model(x)
    except RuntimeError as e:
        if "out of memory" in str(e).lower():
            raise
        raise ValueError(f"data: images of shape {tuple(x.shape)} do not fit the model, which takes "
                         f"{_expected_input(model)} ({str(e).splitlines()[0]})") from e


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, batch_size: int = 256, progress: bool = True) -> dict:
    """Classification accuracy in percent.

    **Arguments:**

    - `model`: maps (B, C, H, W) float images to (B, classes) logits; run in eval mode
      (its train/eval flag is restored afterwards).
    - `data`: ``(images (n, C, H, W) float, labels (n,) int64)``, a ``TensorDataset`` of
      those, or an iterable of such batches (e.g. ``data.loader(...)``).
    - `batch_size`: images per forward pass (for the tuple form), >= 1.
    - `progress`: show a tqdm bar.

    **Returns:** ``{"top1": %, "top5": %, "n": images}`` (top5 counts a hit among
    the min(5, classes) largest logits).

    Refused with a ValueError naming `data`: labels that are not integers or lie outside
    ``0 .. classes - 1``, images with NaN or Inf, images of a size the model does not take.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    was_training = model.training
    model.eval()
    n = top1 = top5 = 0
    try:
        for x, y in tqdm(_batches(data, batch_size), desc="evaluate", disable=not progress, leave=False):
            _check_batch(x, y)
            logits = _forward(model, x)
            if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                raise ValueError(f"model must map {x.shape[0]} images to ({x.shape[0]}, classes) logits, "
                                 f"got shape {tuple(logits.shape)}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= logits.shape[1]):
                raise ValueError(f"data: labels must lie in 0..{logits.shape[1] - 1} (the model's {logits.shape[1]} "
                                 f"classes), got labels from {int(y.min())} to {int(y.max())}")
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hit = top == y[:, None]
            top1 += int(hit[:, 0].sum())
            top5 += int(hit.any(dim=1).sum())
            n += int(y.shape[0])
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("data is empty")
    return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "n": n}
