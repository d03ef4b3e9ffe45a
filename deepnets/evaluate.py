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
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    was_training = model.training
    model.eval()
    n = top1 = top5 = 0
    try:
        for x, y in tqdm(_batches(data, batch_size), desc="evaluate", disable=not progress, leave=False):
            logits = model(x)
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
