"""Bridge experiment 3: bits per layer at equal packed size.

The exact knapsack (:func:`theory.allocation.allocate`) on predicted noise (data-free: the
weight rho; calibrated: from the layer inputs' second moments; propagated: calibrated times each
layer's measured gain to the logits) or on measured one-layer sensitivities (the expensive upper
baseline), against the baselines that need no prediction (one width for all layers; parameter
counts alone; the mean or parameter-weighted weight rho), at equal packed size measured by
:func:`deepnets.storage.save`.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Iterator

import numpy as np
import torch
from torch import nn

from theory import allocation as talloc

from ..quantize import weight_layers
from ..records import AllocationRecord, pack_bools
from .calibration import LayerStats, LayerSwap, WeightCache, logit_products, logits_of, noise_of_products, propagation_gains
from .experiments import layer_noise_tables

#: Bit widths the allocation chooses from.
BITS = talloc.BITS


@torch.no_grad()
def measured_sensitivity(model: nn.Module, x_cal: torch.Tensor, method: str, bits_list: tuple[int, ...],
                         cache: WeightCache, per_image: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(L, J): measured relative logit noise on calibration images with ONLY layer l quantized at bits[j].

    The noise is ``1/r^2 - 1`` of float vs quantized logits (r: their uncentred correlation), the
    same quantity the first-order model predicts and adds, so the knapsack on it is the model's
    own objective with every per-layer term measured instead of predicted (the expensive
    upper baseline: L x J forward passes).  The top-1 disagreement rate would be the more direct
    target but is too coarse on a small calibration set (mostly 0 above 3 bits).
    With ``per_image`` also the (L, J, n, 3) :func:`deepnets.bridge.calibration.logit_products`
    per calibration image (to bootstrap the table over images).
    """
    swap = LayerSwap(model)
    z = logits_of(swap.model, x_cal)
    names = [n for n, _ in weight_layers(model)]
    prods = np.zeros((len(names), len(bits_list), z.shape[0], 3))
    for i, n in enumerate(names):
        for j, b in enumerate(bits_list):
            prods[i, j] = logit_products(z, swap.logits(x_cal, {n: cache.weight(n, method, b)}))
    out = noise_of_products(prods.sum(2))
    return (out, prods) if per_image else out


def budget_bits(avg_bits: float, params: np.ndarray, codebook_bits: np.ndarray, bits_list: tuple[int, ...]) -> int:
    """Budget (bits on disk: codes + codebooks) of ``avg_bits`` per weight.

    Codes: ``avg_bits * sum(params)``; codebooks: those of the uniform-width model at
    the neighbouring integer widths, interpolated, so that at an integer width the budget
    is exactly the uniform model's codes + codebooks (equal packed size).
    """
    lo, hi = math.floor(avg_bits), math.ceil(avg_bits)
    bl = list(bits_list)
    cb_lo, cb_hi = codebook_bits[:, bl.index(lo)].sum(), codebook_bits[:, bl.index(hi)].sum()
    t = avg_bits - lo
    codes = sum(8 * math.ceil(p * avg_bits / 8) for p in params) if t == 0 else avg_bits * params.sum()
    return int(math.floor(codes + (1 - t) * cb_lo + t * cb_hi))


#: Allocation strategies: baselines (no prediction), the predictions, and the expensive upper baseline.
BASELINE_STRATEGIES = ("uniform", "params", "mean_rho", "weighted_rho")
PREDICTED_STRATEGIES = ("data_free", "calibrated", "propagated")


def allocations(noise: dict[str, np.ndarray], sens: np.ndarray | None, params: np.ndarray, avg_bits: float,
                bits_list: tuple[int, ...] = BITS, gains: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Bits per layer for each strategy at ``avg_bits`` (budget: :func:`budget_bits`).

    Cost per (layer, width) is the bytes the packed file spends: ``8 * ceil(params * bits / 8)``
    plus the codebook; the exact knapsack (:func:`theory.allocation.allocate`) minimizes the summed
    loss of each strategy:

    - baselines: ``"uniform"`` (one width, integer ``avg_bits`` only); ``"params"`` (every layer the
      same loss curve, the layers' mean ``1/rho^2 - 1`` per width: only parameter counts decide);
      ``"mean_rho"`` (``1 - rho`` of each layer: maximize the mean layer rho); ``"weighted_rho"``
      (``params * (1 - rho)``: maximize the parameter-weighted rho);
    - predictions: ``"data_free"`` (``1/rho^2 - 1``), ``"calibrated"`` (data-aware, from S),
      ``"propagated"`` (calibrated times the layer's propagation gain; needs `gains`);
    - ``"measured"``: the measured one-layer sensitivities `sens` (the expensive upper baseline).
    """
    bl = np.asarray(bits_list)
    cost = 8 * np.ceil(params[:, None] * bl[None, :] / 8).astype(np.int64) + noise["codebook_bits"]
    budget = budget_bits(avg_bits, params, noise["codebook_bits"], bits_list)
    out = {}
    if float(avg_bits).is_integer():
        out["uniform"] = np.full(params.size, int(avg_bits))
    free = np.where(np.isfinite(noise["data_free"]), noise["data_free"], 1e6)
    losses = {"params": np.broadcast_to(free.mean(0), free.shape), "mean_rho": 1.0 - noise["rho"],
              "weighted_rho": params[:, None] * (1.0 - noise["rho"]) / params.sum(),
              "data_free": noise["data_free"], "calibrated": noise["calibrated"],
              "propagated": None if gains is None else np.asarray(gains)[:, None] * noise["calibrated"], "measured": sens}
    for name, loss in losses.items():
        if loss is None:
            continue
        loss = np.where(np.isfinite(loss), loss, 1e6)
        out[name] = bl[talloc.allocate(loss, cost, budget).choice]
    return out


def packed_size(qmodel: nn.Module) -> dict:
    """Sizes from :func:`deepnets.storage.save` on a temporary file (bytes)."""
    from .. import storage

    with tempfile.TemporaryDirectory() as d:
        return storage.save(qmodel, os.path.join(d, "q.safetensors"))


def allocation_experiment(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, x_test: torch.Tensor,
                          y_test: torch.Tensor, method: str, avg_bits_list: tuple[float, ...], cache: WeightCache,
                          model_name: str = "model", measured: bool = True,
                          bits_list: tuple[int, ...] = BITS) -> list[AllocationRecord]:
    """Top-1 (%) and packed size of every strategy of :func:`allocations`."""
    return list(iter_allocation(model, stats, x_cal, x_test, y_test, method, avg_bits_list, cache, model_name, measured,
                                bits_list))


@torch.no_grad()
def iter_allocation(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, x_test: torch.Tensor,
                    y_test: torch.Tensor, method: str, avg_bits_list: tuple[float, ...], cache: WeightCache,
                    model_name: str = "model", measured: bool = True, bits_list: tuple[int, ...] = BITS, *,
                    gains: np.ndarray | None = None, noise: dict | None = None,
                    sens: np.ndarray | None = None) -> Iterator[AllocationRecord]:
    """:func:`allocation_experiment` one record at a time (`gains`, `noise`, `sens`: computed here if None)."""
    params = np.array([st.params for st in stats], dtype=np.int64)
    names = [st.name for st in stats]
    noise = layer_noise_tables(stats, method, bits_list, cache) if noise is None else noise
    if sens is None and measured:
        sens = measured_sensitivity(model, x_cal, method, bits_list, cache)
    gains = propagation_gains(model, stats, x_cal) if gains is None else gains
    y = y_test.numpy()
    zf = logits_of(model, x_test)
    done: dict[tuple[int, ...], tuple[np.ndarray, dict]] = {}  # strategies often agree: evaluate each allocation once
    for a in avg_bits_list:
        for strat, bvec in allocations(noise, sens if measured else None, params, a, bits_list, gains).items():
            key = tuple(int(v) for v in bvec)
            if key not in done:
                q = cache.mixed(method, dict(zip(names, key, strict=True)))
                done[key] = (logits_of(q, x_test), packed_size(q))
            qz, size = done[key]
            yield AllocationRecord(
                model=model_name, method=method, avg_bits=float(a), strategy=strat, bits=tuple(int(v) for v in bvec),
                top1=100.0 * float(np.mean(qz.argmax(1) == y)), float_top1=100.0 * float(np.mean(zf.argmax(1) == y)),
                agreement=100.0 * float(np.mean(qz.argmax(1) == zf.argmax(1))),
                code_bits_per_weight=float((bvec * params).sum() / params.sum()),
                file_bytes=int(size["file"]), codes_bytes=int(size["codes"]), codebook_bytes=int(size["codebooks"]),
                budget_bytes=budget_bits(a, params, noise["codebook_bits"], bits_list) / 8,
                correct=pack_bools(qz.argmax(1) == y), float_correct=pack_bools(zf.argmax(1) == y))
