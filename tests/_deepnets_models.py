"""Small stand-in networks shared by the deepnets tests."""

from __future__ import annotations

import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Module:
    """conv -> BN -> depthwise conv -> linear on 8x8 single-channel images: every layer type the report knows."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    ).eval()
