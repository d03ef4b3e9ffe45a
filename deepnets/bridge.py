"""The bridge, torch side: predict what post-training quantization does to a classifier from rho.

The science lives in :mod:`theory.layer_noise` (Sheppard's formula with the data-aware
correlation; Sompolinsky's static noise ``1/rho^2 - 1`` accumulated over layers,
PRA 34:2571, 1986) and :mod:`theory.allocation` (the exact bit-allocation
knapsack).  This module only measures: it hooks the float network to collect each
layer's inputs, forms the uncentred second moments ``S`` (conv layers: unfolded
patches, one ``S`` per group for depthwise convs), quantizes layers with the one
quantizer (:func:`deepnets.quantize.quantize_weight`), and compares predictions
with what the network does.

Three experiments (:func:`analyse_model`), all in :func:`report_section`:

1. :func:`sign_changes`: quantize ONE layer, feed both versions the float
   network's input to that layer, count pre-activations (conv/linear outputs,
   BatchNorm folded) whose sign changes; predict ``arccos(r)/pi`` per unit with
   the data-aware ``r`` and with the plain weight ``rho``.
2. :func:`end_to_end`: quantize every layer at one width; predict output
   agreement and accuracy from ``sum_l eps_l^2`` and the float logits
   (:func:`theory.layer_noise.predict_outputs`).  The measured logit noise is defined
   exactly like the theory's: ``1/r^2 - 1`` of float vs quantized logits (the gain
   ``a`` of ``qz = a z + noise`` removed; quantized networks shrink their logits,
   which does not change the argmax).
3. :func:`allocation_experiment`: bits per layer from the knapsack on predicted
   noise (data-free: weight rho; calibrated: from ``S``) or on measured one-layer
   sensitivities (the expensive upper baseline), against uniform width, at equal
   packed size measured by :func:`deepnets.storage.save`.

Records are plain lists of dicts; the plotting helpers only draw them.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import theory
from theory import allocation as talloc
from theory import layer_noise as tb

from .quantize import LayerQuant, QuantConfig, QuantState, layer_type, quantize_weight, weight_layers

#: Bit widths the allocation chooses from.
BITS = talloc.BITS


# -- layer inputs and their second moments -------------------------------------------
@dataclass
class LayerStats:
    """What the bridge knows about one Conv2d/Linear layer.

    - `name`, `kind` ("conv", "depthwise conv", "linear"), `params` (weights).
    - `W`: (O, d) float64 weight rows (conv: ``(O, I/groups * kh * kw)``), `b`: (O,) bias (zeros if none).
    - `S`: (G, d+1, d+1) uncentred second moment of the bias-augmented inputs of each group
      (G = 1 unless grouped); unit ``o`` sees group ``o // (O/G)``.
    """

    name: str
    kind: str
    params: int
    W: np.ndarray
    b: np.ndarray
    S: np.ndarray

    def unit_S(self) -> np.ndarray:
        """(d+1, d+1) if one group, else (O, d+1, d+1) per unit."""
        G, O = self.S.shape[0], self.W.shape[0]
        return self.S[0] if G == 1 else self.S[np.arange(O) // (O // G)]


def prepare(model: nn.Module) -> nn.Module:
    """An eval-mode copy with BatchNorm folded into the preceding convs (``models.fold_batchnorm``).

    Pre-activations are what a ReLU sees: with BatchNorm they are the folded conv's outputs.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    m = copy.deepcopy(model).eval()
    if any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules()):
        from . import models  # the other engineer's module

        m = models.fold_batchnorm(m).eval()
    return m


@torch.no_grad()
def layer_inputs(model: nn.Module, x: torch.Tensor, names: list[str] | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Inputs of every Conv2d/Linear layer of the float ``model`` on images ``x``, and the logits."""
    layers = dict(weight_layers(model))
    names = list(layers) if names is None else names
    got: dict[str, torch.Tensor] = {}
    hooks = [layers[n].register_forward_pre_hook(lambda m, a, n=n: got.__setitem__(n, a[0].detach())) for n in names]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return got, logits.detach()


def _rows(module: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """(n_rows, in_features) for Linear; (n_rows, C*kh*kw) unfolded patches for Conv2d."""
    if isinstance(module, nn.Linear):
        return inp.reshape(-1, inp.shape[-1])
    cols = F.unfold(inp, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def layer_stats(model: nn.Module, x_cal: torch.Tensor, max_rows: int = 20_000, seed: int = 0) -> list[LayerStats]:
    """Second moments ``S`` of every layer's (bias-augmented) inputs on calibration images.

    **Arguments:** `model`: prepared float model (:func:`prepare`); `x_cal`: (n, C, H, W)
    calibration images; `max_rows`: conv patches kept (a seeded random subset); `seed`.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows!r}")
    inputs, _ = layer_inputs(model, x_cal)
    rng = np.random.default_rng(seed)
    out = []
    for name, m in weight_layers(model):
        W = m.weight.detach().double().reshape(m.weight.shape[0], -1).numpy()
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(W.shape[0])
        rows = _rows(m, inputs[name]).double().numpy()
        if rows.shape[0] > max_rows:
            rows = rows[np.sort(rng.choice(rows.shape[0], max_rows, replace=False))]
        G = m.groups if isinstance(m, nn.Conv2d) else 1
        dg = rows.shape[1] // G
        S = np.stack([tb.second_moment(rows[:, g * dg : (g + 1) * dg]) for g in range(G)])
        out.append(LayerStats(name, layer_type(m), int(m.weight.numel()), W, b, S))
    return out


# -- quantized weights (cached) ---------------------------------------------------------
class WeightCache:
    """``quantize_weight`` results per (layer, method, bits), so each fit happens once."""

    def __init__(self, model: nn.Module, granularity: Any = "channel"):
        self.weights = {n: m.weight.detach().cpu().numpy() for n, m in weight_layers(model)}
        self.granularity = granularity
        self._cache: dict[tuple, LayerQuant] = {}

    def get(self, name: str, method: str, bits: int) -> LayerQuant:
        key = (name, method, int(bits))
        if key not in self._cache:
            b = None if method in ("sign", "ternary") else int(bits)
            self._cache[key] = quantize_weight(self.weights[name], QuantConfig(method, b, self.granularity))
        return self._cache[key]


def method_bits(method: str, bits: int) -> int:
    return {"sign": 1, "ternary": 2}.get(method, int(bits))


def quantize_mixed(model: nn.Module, method: str, bits: dict[str, int] | int, granularity: Any = "channel",
                   cache: WeightCache | None = None) -> nn.Module:
    """A copy of ``model`` with layer ``name`` quantized at ``bits[name]`` (layers not in ``bits`` stay float).

    Uses :func:`deepnets.quantize.quantize_weight` (theory's quantizers) per layer and leaves a
    :class:`QuantState` on ``qmodel.corrquant`` so :func:`deepnets.storage.save` packs each layer
    at its own width.  ``bits`` as an int quantizes every layer at that width.
    """
    layers = weight_layers(model)
    if isinstance(bits, int | np.integer):
        bits = {n: int(bits) for n, _ in layers}
    if not isinstance(bits, dict):
        raise ValueError(f"bits must be an int or a dict layer name -> bits, got {type(bits).__name__}")
    unknown = set(bits) - {n for n, _ in layers}
    if unknown:
        raise ValueError(f"bits names unknown layers {sorted(unknown)}")
    cache = cache or WeightCache(model, granularity)
    q = copy.deepcopy(model)
    qlayers = dict(weight_layers(q))
    cfg_bits = None if method in ("sign", "ternary") else max(bits.values(), default=1)
    state = QuantState(QuantConfig(method, cfg_bits, granularity), arch=dict(getattr(model, "corrquant_arch", {}) or {}))
    with torch.no_grad():
        for name, b in bits.items():
            lq = cache.get(name, method, b)
            qlayers[name].weight.copy_(torch.from_numpy(lq.dequantize()).to(qlayers[name].weight.dtype))
            state.layers[name] = lq
    q.corrquant = state
    return q


# -- 1. sign changes, layer by layer --------------------------------------------------
def _preact(m: nn.Module, inp: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(m, nn.Linear):
        return F.linear(inp, weight, m.bias)
    return F.conv2d(inp, weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


@torch.no_grad()
def sign_changes(model: nn.Module, stats: list[LayerStats], x_test: torch.Tensor, configs: list[tuple[str, int]],
                 cache: WeightCache) -> list[dict]:
    """Measured vs predicted fraction of pre-activations that change sign when ONE layer is quantized.

    Both the float and the quantized layer get the float network's input to that layer
    on ``x_test``.  Predictions: ``arccos(r)/pi`` averaged over units, with r the data-aware
    correlation (``S`` from calibration images, bias float) or the plain weight rho of each unit.

    **Returns:** one record per (layer, method, bits) with ``measured``, ``pred_data``,
    ``pred_plain`` (per-unit rho), ``pred_plain_layer`` (one rho per layer), ``se`` (binomial).
    """
    inputs, _ = layer_inputs(model, x_test)
    mods = dict(weight_layers(model))
    recs = []
    for st in stats:
        m, inp = mods[st.name], inputs[st.name]
        z = _preact(m, inp, m.weight)
        Wa = tb.augment(st.W, st.b)
        US = st.unit_S()
        for method, bits in configs:
            lq = cache.get(st.name, method, bits)
            Q = lq.dequantize().astype(np.float64).reshape(st.W.shape)
            zq = _preact(m, inp, torch.from_numpy(lq.dequantize()).to(m.weight.dtype))
            flips = (torch.sign(z) != torch.sign(zq)).double()
            per_unit = flips.transpose(0, 1).reshape(z.shape[1], -1).mean(1).numpy()  # unit axis is 1
            r_data = tb.data_aware_rho(Wa, tb.augment(Q, st.b), US)
            rho_unit = tb.data_aware_rho(st.W, Q, np.eye(st.W.shape[1]))
            pred = tb.sign_change_rate(r_data)
            n_per_unit = flips.numel() // per_unit.size
            recs.append({
                "layer": st.name, "kind": st.kind, "method": method, "bits": method_bits(method, bits),
                "measured": float(per_unit.mean()), "pred_data": float(pred.mean()),
                "pred_plain": float(tb.sign_change_rate(rho_unit).mean()),
                "pred_gauss": float(tb.sign_change_rate_gaussian(Wa, tb.augment(Q, st.b), US).mean()),
                "pred_plain_layer": float(tb.sign_change_rate(theory.rho(st.W, Q))),
                "se": float(np.sqrt(np.sum(pred * (1 - pred) / n_per_unit)) / pred.size),
                "rho": float(theory.rho(st.W, Q)), "r_data_mean": float(r_data.mean()),
            })
    return recs


def sign_change_summary(recs: list[dict]) -> list[dict]:
    """Mean absolute error of each predictor, per layer kind and overall."""
    out = []
    for kind in sorted({r["kind"] for r in recs}) + ["all"]:
        rs = [r for r in recs if kind == "all" or r["kind"] == kind]
        meas = np.array([r["measured"] for r in rs])
        row = {"kind": kind, "n": len(rs)}
        for k in ("pred_data", "pred_gauss", "pred_plain", "pred_plain_layer"):
            row[f"mae_{k[5:]}"] = float(np.mean(np.abs(np.array([r[k] for r in rs]) - meas)))
        row["mean_measured"] = float(meas.mean())
        out.append(row)
    return out


# -- 2. end to end -----------------------------------------------------------------------
def layer_noise_tables(stats: list[LayerStats], method: str, bits_list: tuple[int, ...], cache: WeightCache) -> dict[str, np.ndarray]:
    """(L, J) predicted relative noise per layer and width: ``"calibrated"`` (data-aware, from S)
    and ``"data_free"`` (``1/rho^2 - 1`` of the weights); plus ``"codebook_bits"`` (L, J) on disk."""
    L, J = len(stats), len(bits_list)
    cal, free, book = np.zeros((L, J)), np.zeros((L, J)), np.zeros((L, J), dtype=np.int64)
    for i, st in enumerate(stats):
        Wa, US = tb.augment(st.W, st.b), st.unit_S()
        for j, b in enumerate(bits_list):
            lq = cache.get(st.name, method, b)
            Q = lq.dequantize().astype(np.float64).reshape(st.W.shape)
            cal[i, j] = tb.layer_noise(Wa, tb.augment(Q, st.b), US)
            free[i, j] = float(tb.noise_from_rho(theory.rho(st.W, Q)))
            book[i, j] = 8 * lq.book.nbytes
    return {"calibrated": cal, "data_free": free, "codebook_bits": book}


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, x.shape[0], batch)]).double().numpy()


def end_to_end(model: nn.Module, stats: list[LayerStats], x_test: torch.Tensor, y_test: torch.Tensor, logit_power: np.ndarray,
               configs: list[tuple[str, int]], cache: WeightCache, model_name: str = "model") -> list[dict]:
    """Predicted vs measured output agreement and accuracy drop, every layer quantized at one width."""
    z = logits_of(model, x_test)
    y = y_test.numpy()
    top = z.argmax(1)
    float_acc = float(np.mean(top == y))
    recs = []
    for method, bits in configs:
        noise = layer_noise_tables(stats, method, (bits,), cache)
        qz = logits_of(quantize_mixed(model, method, bits, cache=cache), x_test)
        meas_agree = float(np.mean(qz.argmax(1) == top))
        meas_acc = float(np.mean(qz.argmax(1) == y))
        rec = {"model": model_name, "method": method, "bits": method_bits(method, bits), "float_acc": float_acc,
               "measured_agreement": meas_agree, "measured_acc": meas_acc, "measured_drop": float_acc - meas_acc,
               # the same decomposition as the theory: qz = a z + noise, noise/(a z) power = 1/r^2 - 1
               "measured_logit_noise": float(tb.noise_from_rho(theory.rho(z, qz))),
               "logit_gain": float(np.sum(z * qz) / np.sum(z * z))}
        # the agreement model alone, fed the measured logit noise (separates mapping error from accumulation error)
        rec["pred_agreement_given_measured_noise"] = tb.predict_outputs(z, rec["measured_logit_noise"], logit_power)["agreement"]
        for kind in ("calibrated", "data_free"):
            e2 = tb.total_noise(noise[kind][:, 0])
            p = tb.predict_outputs(z, e2, logit_power, y)
            rec |= {f"eps2_{kind}": e2, f"pred_agreement_{kind}": p["agreement"], f"pred_acc_{kind}": p["accuracy"],
                    f"pred_drop_{kind}": float_acc - p["accuracy"]}
        recs.append(rec)
    return recs


def end_to_end_summary(recs: list[dict]) -> dict:
    """Spearman rank correlation and mean absolute error of predicted vs measured agreement and drop."""
    from scipy import stats as sst

    out = {"n": len(recs)}
    e2 = {k: np.array([r[k] for r in recs]) for k in ("measured_logit_noise", "eps2_calibrated", "eps2_data_free")}
    for kind in ("calibrated", "data_free"):
        ok = np.isfinite(e2[f"eps2_{kind}"]) & (e2["measured_logit_noise"] > 0)
        # accumulation: median log10 ratio of predicted to measured relative logit noise (0 = right on average)
        out[f"noise_{kind}_log10_ratio_median"] = float(np.median(np.log10(e2[f"eps2_{kind}"][ok] / e2["measured_logit_noise"][ok])))
    pa = np.array([r["pred_agreement_given_measured_noise"] for r in recs])
    ma = np.array([r["measured_agreement"] for r in recs])
    out["agreement_given_measured_noise_mae"] = float(np.mean(np.abs(pa - ma)))
    out["agreement_given_measured_noise_spearman"] = float(sst.spearmanr(pa, ma).statistic) if len(recs) > 2 else float("nan")
    for kind in ("calibrated", "data_free"):
        for what in ("agreement", "drop"):
            p = np.array([r[f"pred_{what}_{kind}"] for r in recs])
            m = np.array([r[f"measured_{what}"] for r in recs])
            rho_s = sst.spearmanr(p, m).statistic if len(recs) > 2 and np.ptp(p) > 0 and np.ptp(m) > 0 else float("nan")
            out[f"{what}_{kind}_spearman"] = float(rho_s)
            out[f"{what}_{kind}_mae"] = float(np.mean(np.abs(p - m)))
    return out


# -- 3. bit allocation -------------------------------------------------------------------
@torch.no_grad()
def measured_sensitivity(model: nn.Module, x_cal: torch.Tensor, method: str, bits_list: tuple[int, ...],
                         cache: WeightCache) -> np.ndarray:
    """(L, J): measured relative logit noise on calibration images with ONLY layer l quantized at bits[j].

    The noise is ``1/r^2 - 1`` of float vs quantized logits (r: their uncentred correlation), the
    same quantity the first-order model predicts and adds, so the knapsack on it is the model's
    own objective with every per-layer term measured instead of predicted (the expensive
    upper baseline: L x J forward passes).  The top-1 disagreement rate would be the more direct
    target but is too coarse on a small calibration set (mostly 0 above 3 bits).
    """
    z = logits_of(model, x_cal)
    names = [n for n, _ in weight_layers(model)]
    out = np.zeros((len(names), len(bits_list)))
    for i, n in enumerate(names):
        for j, b in enumerate(bits_list):
            qz = logits_of(quantize_mixed(model, method, {n: b}, cache=cache), x_cal)
            out[i, j] = float(tb.noise_from_rho(theory.rho(z, qz)))
    return out


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


def allocations(noise: dict[str, np.ndarray], sens: np.ndarray | None, params: np.ndarray, avg_bits: float,
                bits_list: tuple[int, ...] = BITS) -> dict[str, np.ndarray]:
    """Bits per layer for each strategy at ``avg_bits`` (budget: :func:`budget_bits`).

    Cost per (layer, width) is the bytes the packed file spends: ``8 * ceil(params * bits / 8)``
    plus the codebook; the exact knapsack (:func:`theory.allocation.allocate`) minimizes the
    summed predicted noise (``"data_free"``, ``"calibrated"``) or measured sensitivity.
    """
    bl = np.asarray(bits_list)
    cost = 8 * np.ceil(params[:, None] * bl[None, :] / 8).astype(np.int64) + noise["codebook_bits"]
    budget = budget_bits(avg_bits, params, noise["codebook_bits"], bits_list)
    out = {}
    if float(avg_bits).is_integer():
        out["uniform"] = np.full(params.size, int(avg_bits))
    for name, loss in (("data_free", noise["data_free"]), ("calibrated", noise["calibrated"]), ("measured", sens)):
        if loss is None:
            continue
        loss = np.where(np.isfinite(loss), loss, 1e6)
        out[name] = bl[talloc.allocate(loss, cost, budget).choice]
    return out


def packed_size(qmodel: nn.Module) -> dict:
    """Sizes from :func:`deepnets.storage.save` on a temporary file (bytes)."""
    from . import storage

    with tempfile.TemporaryDirectory() as d:
        return storage.save(qmodel, os.path.join(d, "q.safetensors"))


@torch.no_grad()
def allocation_experiment(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, x_test: torch.Tensor,
                          y_test: torch.Tensor, method: str, avg_bits_list: tuple[float, ...], cache: WeightCache,
                          model_name: str = "model", measured: bool = True, bits_list: tuple[int, ...] = BITS) -> list[dict]:
    """Accuracy and packed size of uniform / data-free / calibrated / measured allocations."""
    params = np.array([st.params for st in stats], dtype=np.int64)
    names = [st.name for st in stats]
    noise = layer_noise_tables(stats, method, bits_list, cache)
    sens = measured_sensitivity(model, x_cal, method, bits_list, cache) if measured else None
    y = y_test.numpy()
    zf = logits_of(model, x_test)
    recs = []
    for a in avg_bits_list:
        for strat, bvec in allocations(noise, sens, params, a, bits_list).items():
            q = quantize_mixed(model, method, dict(zip(names, map(int, bvec))), cache=cache)
            qz = logits_of(q, x_test)
            size = packed_size(q)
            recs.append({"model": model_name, "method": method, "avg_bits": a, "strategy": strat,
                         "bits": [int(v) for v in bvec], "acc": float(np.mean(qz.argmax(1) == y)),
                         "float_acc": float(np.mean(zf.argmax(1) == y)), "agreement": float(np.mean(qz.argmax(1) == zf.argmax(1))),
                         "code_bits_per_weight": float((bvec * params).sum() / params.sum()),
                         "file_bytes": int(size["file"]), "codes_bytes": int(size["codes"]),
                         "codebook_bytes": int(size["codebooks"]), "budget_bytes": budget_bits(a, params, noise["codebook_bits"], bits_list) / 8})
    return recs


# -- plots (draw records; never recompute science) ------------------------------------------
_KIND_MARK = {"conv": "o", "depthwise conv": "^", "linear": "s"}


def _save(fig: Any, path: str | os.PathLike) -> str:
    """Lay out, write as PNG and close ``fig``; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_sign_changes(recs: list[dict], path: str | os.PathLike) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
    for ax, key, title in ((axes[0], "pred_data", "data-aware r (S of the layer's inputs)"),
                           (axes[1], "pred_plain", "plain weight rho (per unit)")):
        for kind, mk in _KIND_MARK.items():
            rs = [r for r in recs if r["kind"] == kind]
            if rs:
                ax.scatter([r[key] for r in rs], [r["measured"] for r in rs], marker=mk, s=16, alpha=0.6, label=kind)
        hi = max(max(r["measured"] for r in recs), max(r[key] for r in recs)) * 1.05
        ax.plot([0, hi], [0, hi], "k--", lw=1)
        ax.set_xlabel("predicted arccos(r)/pi")
        ax.set_ylabel("measured sign-change rate")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_end_to_end(recs: list[dict], path: str | os.PathLike) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    models = sorted({r["model"] for r in recs})
    for kind, ax in (("calibrated", axes[0]), ("data_free", axes[1])):
        for mi, m in enumerate(models):
            rs = [r for r in recs if r["model"] == m]
            ax.scatter([100 * r[f"pred_drop_{kind}"] for r in rs], [100 * r["measured_drop"] for r in rs], s=18,
                       marker="os^Dv"[mi % 5], alpha=0.7, label=m)
        lo = min(0, *(100 * r["measured_drop"] for r in recs))
        hi = max(100 * max(r[f"pred_drop_{kind}"] for r in recs), 100 * max(r["measured_drop"] for r in recs)) * 1.05
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel("predicted accuracy drop (points)")
        ax.set_ylabel("measured accuracy drop (points)")
        ax.set_title(f"{kind.replace('_', '-')} noise model", fontsize=10)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_allocation(recs: list[dict], path: str | os.PathLike) -> str:
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in recs})
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models):
        for strat, mk in (("uniform", "o-"), ("data_free", "s--"), ("calibrated", "^-"), ("measured", "D:")):
            rs = sorted((r for r in recs if r["model"] == m and r["strategy"] == strat), key=lambda r: r["file_bytes"])
            if rs:
                ax.plot([r["file_bytes"] / 1024 for r in rs], [100 * r["acc"] for r in rs], mk, label=strat)
        fa = next(r["float_acc"] for r in recs if r["model"] == m)
        ax.axhline(100 * fa, color="gray", lw=1, ls=":", label="float")
        ax.set_xlabel("packed file size (KiB)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(m, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


# -- models and data for the report ---------------------------------------------------------
def quick_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 30, seed: int = 0) -> nn.Module:
    """Adam on (x, y), full-batch-ish mini-batches of 128: a stand-in when no committed weights exist."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def get_model(name: str, dataset: str, x_train: torch.Tensor | None = None, y_train: torch.Tensor | None = None,
              seed: int = 0) -> tuple[nn.Module, str]:  # noqa: D401
    """``models.load_pretrained(name, dataset)``; if no committed weights, a quickly trained one."""
    from . import models

    try:
        return models.load_pretrained(name, dataset), "pretrained"
    except (FileNotFoundError, OSError, ValueError, KeyError, RuntimeError):
        if x_train is None:
            raise
        torch.manual_seed(seed)
        return quick_train(models.build(name, dataset), x_train, y_train, seed=seed), "trained here (no committed weights)"


def analyse_model(model: nn.Module, name: str, x_cal: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                  sign_configs: list[tuple[str, int]], e2e_configs: list[tuple[str, int]], alloc_method: str,
                  avg_bits_list: tuple[float, ...], seed: int = 0, measured: bool = True, max_rows: int = 20_000,
                  x_sign: torch.Tensor | None = None) -> dict:
    """All three experiments on one model: sign changes (on ``x_sign``, default ``x_test``), end to end, allocation."""
    t0 = time.perf_counter()
    model = prepare(model)
    stats = layer_stats(model, x_cal, max_rows=max_rows, seed=seed)
    cache = WeightCache(model, "channel")
    zc = logits_of(model, x_cal)
    sc = sign_changes(model, stats, x_test if x_sign is None else x_sign, sign_configs, cache)
    for r in sc:
        r["model"] = name
    e2e = end_to_end(model, stats, x_test, y_test, np.mean(zc * zc, axis=0), e2e_configs, cache, name)
    alloc = allocation_experiment(model, stats, x_cal, x_test, y_test, alloc_method, avg_bits_list, cache, name, measured)
    return {"sign_changes": sc, "end_to_end": e2e, "allocation": alloc, "layers": [(s.name, s.kind, s.params) for s in stats],
            "seconds": time.perf_counter() - t0}


def _headline(alloc: list[dict]) -> list[dict]:
    rows = []
    for m in sorted({r["model"] for r in alloc}):
        for a in sorted({r["avg_bits"] for r in alloc}):
            row = {"model": m, "avg_bits": a}
            for r in alloc:
                if r["model"] == m and r["avg_bits"] == a:
                    row[r["strategy"]] = r["acc"]
                    row[f"{r['strategy']}_kib"] = r["file_bytes"] / 1024
                    row["float"] = r["float_acc"]
            rows.append(row)
    return rows


def report_section(quick: bool = True, seed: int = 0, out_dir: str | os.PathLike = "out/bridge") -> dict:
    """The bridge section of the main report: numbers, figure paths and a markdown summary.

    quick: one small model (mlp) on the 8x8 digits; full: every default model on the
    default dataset with a test subset (about 3 minutes on 2 CPU cores).  numpy's BLAS
    runs single-threaded inside (its matrices here are small; threads only contend).

    **Returns:** a dict with the records (``sign_changes``, ``end_to_end``, ``allocation``),
    their summaries, ``headline`` (accuracy per strategy and average bits), ``figures``
    (paths) and ``summary`` (markdown).
    """
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be a bool, got {quick!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {seed!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return _report_section(quick, seed, out_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs on a shared 2-core machine: one thread is several times faster
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _report_section(quick, seed, out_dir)
    finally:
        torch.set_num_threads(threads)


def subsets(dataset: str, n_cal: int, n_test: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Seeded calibration images (train split) and test subset for ``dataset``."""
    from . import data

    xtr, ytr = data.get_dataset(dataset, "train").tensors
    xte, yte = data.get_dataset(dataset, "test").tensors
    g = np.random.default_rng(seed)
    x_cal = xtr[np.sort(g.choice(xtr.shape[0], min(n_cal, xtr.shape[0]), replace=False))]
    idx = np.sort(g.choice(xte.shape[0], min(n_test, xte.shape[0]), replace=False))
    return x_cal, xte[idx], yte[idx], xtr, ytr


def _pick_dataset(name: str, preferred: tuple[str, ...]) -> str | None:
    """The first dataset in ``preferred`` with committed weights for ``name`` (None if none)."""
    from . import models

    for ds in preferred:
        if models.weights_path(name, ds).is_file():
            return ds
    return None


#: Sizes of the two modes.  Full mode is about 3 minutes on 2 shared CPU cores.
QUICK = {"models": ("mlp",), "datasets": ("digits",), "n_cal": 256, "n_test": 360, "n_sign": 200,
         "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("exponential", 3), ("lloyd_max", 4), ("minmax", 4)),
         "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (1, 2, 3, 4)) + (("sign", 1), ("ternary", 2), ("exponential", 3)),
         "avg_bits": (2.0, 2.5, 3.0, 4.0), "alloc_method": "lloyd_max"}
FULL = {"models": ("mlp", "vgg", "resnet", "mobilenet"), "datasets": ("fashion_mnist", "digits"), "n_cal": 256, "n_test": 1000,
        "n_sign": 128,
        "sign": (("sign", 1), ("ternary", 2), ("uniform", 2), ("uniform", 4), ("exponential", 3), ("lloyd_max", 2), ("minmax", 4)),
        "e2e": tuple((m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (2, 3, 4)) + (("sign", 1), ("ternary", 2), ("exponential", 2), ("exponential", 3), ("exponential", 4)),
        "avg_bits": (2.0, 2.5, 3.0), "alloc_method": "lloyd_max"}


def _report_section(quick: bool, seed: int, out_dir: str | os.PathLike) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg = QUICK if quick else FULL
    torch.manual_seed(seed)
    per_model, sources, datasets, data_cache = {}, {}, {}, {}
    for n in tqdm(cfg["models"], desc="bridge (models)", leave=False):
        ds = _pick_dataset(n, cfg["datasets"])
        if ds is None:
            sources[n] = "skipped: no committed weights"
            continue
        if ds not in data_cache:
            data_cache[ds] = subsets(ds, cfg["n_cal"], cfg["n_test"], seed)
        x_cal, x_test, y_test, _, _ = data_cache[ds]
        model, sources[n] = get_model(n, ds)
        datasets[n] = ds
        r = analyse_model(model, n, x_cal, x_test, y_test, list(cfg["sign"]), list(cfg["e2e"]), cfg["alloc_method"],
                          cfg["avg_bits"], seed, x_sign=x_test[: cfg["n_sign"]])
        per_model[n] = r
    if not per_model:
        raise ValueError("no model has committed weights in deepnets/weights; train them first (python -m deepnets.train)")
    sc = [r for m in per_model.values() for r in m["sign_changes"]]
    ee = [r for m in per_model.values() for r in m["end_to_end"]]
    al = [r for m in per_model.values() for r in m["allocation"]]
    figs = {"sign_changes": plot_sign_changes(sc, out / "bridge_sign_changes.png"),
            "accuracy_drop": plot_end_to_end(ee, out / "bridge_accuracy_drop.png"),
            "allocation": plot_allocation(al, out / "bridge_allocation.png")}
    res = {"datasets": datasets, "models": list(per_model), "sources": sources, "n_cal": cfg["n_cal"], "n_test": cfg["n_test"],
           "n_sign": cfg["n_sign"], "alloc_method": cfg["alloc_method"],
           "sign_changes": sc, "sign_change_summary": sign_change_summary(sc), "end_to_end": ee,
           "end_to_end_summary": end_to_end_summary(ee), "allocation": al, "headline": _headline(al), "figures": figs,
           "model_seconds": {n: m["seconds"] for n, m in per_model.items()}, "seconds": time.perf_counter() - t0}
    res["summary"] = summary_markdown(res)
    return res


def summary_markdown(res: dict) -> str:
    """A short markdown summary of :func:`report_section`'s numbers."""
    allk = next(r for r in res["sign_change_summary"] if r["kind"] == "all")
    where = ", ".join(f"{m} on {d}" for m, d in res["datasets"].items())
    lines = [f"Bridge: {where}; {res['n_test']} test images per dataset ({res['n_sign']} for sign changes), "
             f"S from {res['n_cal']} training images.", "",
             "Sign changes of pre-activations when one layer is quantized, mean absolute error of arccos(r)/pi:", "",
             "| layer kind | points | measured mean | MAE data-aware r | MAE plain rho (per unit) | MAE plain rho (layer) | MAE Gaussian with means |",
             "|---|---|---|---|---|---|---|"]
    for r in res["sign_change_summary"]:
        lines.append(f"| {r['kind']} | {r['n']} | {r['mean_measured']:.4f} | {r['mae_data']:.4f} | {r['mae_plain']:.4f} | "
                     f"{r['mae_plain_layer']:.4f} | {r['mae_gauss']:.4f} |")
    better = "data-aware r" if allk["mae_data"] < allk["mae_plain"] else "plain rho"
    ratio = max(allk["mae_data"], allk["mae_plain"]) / max(min(allk["mae_data"], allk["mae_plain"]), 1e-12)
    lines += ["", f"{better} predicts better overall, by a factor {ratio:.1f} in MAE. (Last column: the same Gaussian "
              "fields but with their means and centred covariance, both read off S, instead of the symmetrised zero-mean "
              "approximation.)", ""]
    e = res["end_to_end_summary"]
    lines += [f"End to end ({e['n']} method x bits x model points): predicted vs measured accuracy drop, Spearman "
              f"{e['drop_calibrated_spearman']:.3f} (calibrated) / {e['drop_data_free_spearman']:.3f} (data-free), MAE "
              f"{100 * e['drop_calibrated_mae']:.2f} / {100 * e['drop_data_free_mae']:.2f} points; output agreement Spearman "
              f"{e['agreement_calibrated_spearman']:.3f} / {e['agreement_data_free_spearman']:.3f}, MAE "
              f"{e['agreement_calibrated_mae']:.3f} / {e['agreement_data_free_mae']:.3f}. Where the error comes from: the "
              f"predicted total relative logit noise is off from the measured one (1/r^2 - 1 of float vs quantized logits) by a "
              f"median factor 10^{e['noise_calibrated_log10_ratio_median']:.2f} (calibrated) / 10^{e['noise_data_free_log10_ratio_median']:.2f} "
              f"(data-free); fed the measured logit noise, the agreement model alone has MAE {e['agreement_given_measured_noise_mae']:.3f} "
              f"(Spearman {e['agreement_given_measured_noise_spearman']:.3f}).", "",
              f"Top-1 accuracy (%) at equal packed size ({res['alloc_method']} levels; budget = codes + codebooks of the uniform-width model, interpolated at 2.5):", "",
              "| model | avg bits | uniform | data-free | calibrated | measured (upper) | float |", "|---|---|---|---|---|---|---|"]
    f = lambda r, k: f"{100 * r[k]:.2f}" if k in r else "-"  # noqa: E731
    for r in res["headline"]:
        lines.append(f"| {r['model']} | {r['avg_bits']:g} | {f(r, 'uniform')} | {f(r, 'data_free')} | {f(r, 'calibrated')} | {f(r, 'measured')} | {f(r, 'float')} |")
    return "\n".join(lines)
