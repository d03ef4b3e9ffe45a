"""The bridge, torch side: predict what post-training quantization does to a classifier from rho.

The science lives in :mod:`theory.layer_noise` (Sheppard's formula with the data-aware
correlation; Sompolinsky's static synaptic noise ``1/rho^2 - 1``, Phys. Rev. A 34, 2571,
1986, accumulated over layers) and :mod:`theory.allocation` (the exact bit-allocation
knapsack).  This package only measures:

- :mod:`.calibration`: hooks on the float network collect each layer's inputs and form the
  uncentred second moments ``S``; :class:`WeightCache` holds :func:`deepnets.quantize` of the
  model per (method, bits) and mixes layers of different widths.
- :mod:`.experiments`: sign changes of one quantized layer, and every layer quantized end to end.
- :mod:`.allocation`: bits per layer at equal packed size.
- :mod:`.scoring`: every prediction beside its baselines (bit width alone, mean and
  parameter-weighted weight rho, measured sensitivity), with bootstrap intervals over test images,
  from the records alone.
- :mod:`.plots`: helpers that draw the records on an ``ax``.

:func:`analyse_model` runs the three experiments (and the layer ranking) on one model and returns a
:class:`deepnets.records.BridgeAnalysis`.  Sizes, data subsets and rendering for the report
live in ``report/bridge_stage.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..records import BridgeAnalysis, LayerInfo
from .allocation import (
    BITS, allocation_experiment, allocations, budget_bits, iter_allocation, measured_sensitivity, packed_size,
)
from .calibration import (
    LayerStats, LayerSwap, WeightCache, layer_inputs, layer_stats, logits_of, method_bits, prepare, propagation_gains,
)
from .experiments import (
    end_to_end, end_to_end_summary, iter_end_to_end, iter_sign_changes, layer_noise_tables, sign_change_summary,
    sign_changes,
)
from .plots import plot_allocation, plot_end_to_end, plot_sign_changes
from .scoring import allocation_scores, end_to_end_scores, layer_ranking


def analyse_model(model: nn.Module, name: str, x_cal: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                  sign_configs: list[tuple[str, int]], e2e_configs: list[tuple[str, int]], alloc_method: str,
                  avg_bits_list: tuple[float, ...], *, seed: int = 0, measured: bool = True, max_rows: int = 20_000,
                  x_sign: torch.Tensor | None = None) -> BridgeAnalysis:
    """All three experiments on one model: sign changes (on ``x_sign``, default ``x_test``), end to end, allocation.

    **Arguments:** `model`: the float model (BatchNorm is folded here, :func:`prepare`); `name`: its
    name in the records; `x_cal`: calibration images (second moments, logit power, measured
    sensitivities); `x_test`, `y_test`: test images and labels; `sign_configs`, `e2e_configs`:
    (method, bits) pairs; `alloc_method`: the method of the allocation; `avg_bits_list`: average
    widths of the allocation; `seed`: of the conv-patch subset in :func:`layer_stats`;
    `measured`: also allocate on measured sensitivities; `max_rows`: conv patches kept.

    **Returns:** a :class:`deepnets.records.BridgeAnalysis`; interrupted (Ctrl-C), the records
    finished so far with ``interrupted=True``.
    """
    t0 = time.perf_counter()
    model = prepare(model)
    stats = layer_stats(model, x_cal, max_rows=max_rows, seed=seed)
    layers = tuple(LayerInfo(s.name, s.kind, s.params) for s in stats)
    cache = WeightCache(model, "channel")
    done: dict[str, list] = {"sign_changes": [], "end_to_end": [], "allocation": [], "layer_ranking": []}
    gains = propagation_gains(model, stats, x_cal, seed=seed)
    params = np.array([st.params for st in stats], dtype=np.int64)

    measured_tables: dict[str, tuple] = {}

    def sens_table() -> tuple:
        """The measured one-layer sensitivities of the allocation's method (once; end to end reuses them)."""
        if "sens" not in measured_tables:
            measured_tables["sens"] = (measured_sensitivity(model, x_cal, alloc_method, BITS, cache, per_image=True)
                                       if measured else (None, None))
        return measured_tables["sens"]

    def e2e_runs():
        sens, _ = sens_table()
        one = None if sens is None else {(alloc_method, method_bits(alloc_method, b)): sens[:, j] for j, b in enumerate(BITS)}
        yield from (("end_to_end", r) for r in iter_end_to_end(model, stats, x_cal, x_test, y_test, e2e_configs, cache,
                                                                name, gains=gains, one_layer=one))

    def allocation_runs():
        noise = layer_noise_tables(stats, alloc_method, BITS, cache)
        sens, prods = sens_table()
        if sens is not None:
            yield from (("layer_ranking", r) for r in layer_ranking(name, alloc_method, params, noise, gains, prods, BITS,
                                                                   seed=seed))
        yield from (("allocation", r) for r in iter_allocation(model, stats, x_cal, x_test, y_test, alloc_method,
                                                                avg_bits_list, cache, name, measured, gains=gains,
                                                                noise=noise, sens=sens))

    runs = (lambda: (("sign_changes", r) for r in iter_sign_changes(model, stats, x_test if x_sign is None else x_sign,
                                                                     sign_configs, cache, name)),
            e2e_runs, allocation_runs)
    interrupted = False
    try:
        for run in runs:
            for key, rec in run():
                done[key].append(rec)
    except KeyboardInterrupt:
        interrupted = True
    return BridgeAnalysis(name, layers, **{k: tuple(v) for k, v in done.items()}, gains=tuple(float(g) for g in gains),
                          seconds=time.perf_counter() - t0, interrupted=interrupted)


__all__ = [
    "BITS", "LayerStats", "WeightCache", "prepare", "layer_inputs", "layer_stats", "logits_of", "method_bits",
    "sign_changes", "sign_change_summary", "end_to_end", "end_to_end_summary", "layer_noise_tables",
    "measured_sensitivity", "budget_bits", "allocations", "packed_size", "allocation_experiment", "analyse_model",
    "iter_sign_changes", "iter_end_to_end", "iter_allocation", "plot_sign_changes", "plot_end_to_end", "plot_allocation",
    "LayerSwap", "propagation_gains", "end_to_end_scores", "allocation_scores", "layer_ranking",
]
