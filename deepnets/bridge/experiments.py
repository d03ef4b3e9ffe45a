"""Bridge experiments 1 and 2: sign changes of one quantized layer, and every layer quantized end to end.

1. :func:`sign_changes`: quantize ONE layer, feed both versions the float network's input to
   that layer, count pre-activations (conv/linear outputs, BatchNorm folded) whose sign
   changes; predict ``arccos(r)/pi`` per unit (Sheppard's formula) with the data-aware ``r``
   and with the plain weight ``rho``.
2. :func:`end_to_end`: quantize every layer at one width; predict output agreement and top-1
   from ``sum_l eps_l^2`` (Sompolinsky's static synaptic noise ``1/rho^2 - 1``, Phys. Rev. A 34,
   2571, 1986, accumulated over layers) and the float logits
   (:func:`theory.layer_noise.predict_outputs`); the same with each layer's noise scaled by its
   measured propagation gain (:func:`theory.layer_noise.propagated_noise`); and, as the
   expensive upper baseline, the measured one-layer logit noises summed.  The measured logit noise is defined exactly
   like the theory's: ``1/r^2 - 1`` of float vs quantized logits (the gain ``a`` of
   ``qz = a z + noise`` removed; quantized networks shrink their logits, which does not change
   the argmax).

Accuracies, drops and agreements are in percent; sign-change rates are fractions.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

import theory
from theory import layer_noise as tb

from ..quantize import weight_layers
from ..records import EndToEndRecord, SignChangeRecord, pack_bools
from .calibration import (
    LayerStats, LayerSwap, WeightCache, layer_inputs, logit_products, logits_of, method_bits, noise_of_products, preactivations,
    propagation_gains,
)


# -- 1. sign changes, layer by layer --------------------------------------------------
def sign_changes(model: nn.Module, stats: list[LayerStats], x_test: torch.Tensor, configs: list[tuple[str, int]],
                 cache: WeightCache, model_name: str = "model") -> list[SignChangeRecord]:
    """Measured vs predicted fraction of pre-activations that change sign when ONE layer is quantized.

    Both the float and the quantized layer get the float network's input to that layer
    on ``x_test``.  Predictions: ``arccos(r)/pi`` averaged over units, with r the data-aware
    correlation (``S`` from calibration images, bias float) or the plain weight rho of each unit.

    **Returns:** one :class:`SignChangeRecord` per (layer, method, bits).
    """
    return list(iter_sign_changes(model, stats, x_test, configs, cache, model_name))


@torch.no_grad()
def iter_sign_changes(model: nn.Module, stats: list[LayerStats], x_test: torch.Tensor, configs: list[tuple[str, int]],
                      cache: WeightCache, model_name: str = "model") -> Iterator[SignChangeRecord]:
    """:func:`sign_changes` one record at a time."""
    inputs, _ = layer_inputs(model, x_test)
    mods = dict(weight_layers(model))
    for st in stats:
        m, inp = mods[st.name], inputs[st.name]
        z = preactivations(m, inp, m.weight)
        Wa = tb.augment(st.W, st.b)
        US = st.unit_S()
        for method, bits in configs:
            qw = cache.weight(st.name, method, bits)
            Q = qw.double().numpy().reshape(st.W.shape)
            zq = preactivations(m, inp, qw)
            flips = (torch.sign(z) != torch.sign(zq)).double()
            per_unit = flips.transpose(0, 1).reshape(z.shape[1], -1).mean(1).numpy()  # unit axis is 1
            r_data = tb.data_aware_rho(Wa, tb.augment(Q, st.b), US)
            rho_unit = tb.data_aware_rho(st.W, Q, np.eye(st.W.shape[1]))
            pred = tb.sign_change_rate(r_data)
            n_per_unit = flips.numel() // per_unit.size
            yield SignChangeRecord(
                model=model_name, layer=st.name, kind=st.kind, method=method, bits=method_bits(method, bits),
                measured=float(per_unit.mean()), pred_data=float(pred.mean()),
                pred_plain=float(tb.sign_change_rate(rho_unit).mean()),
                pred_gauss=float(tb.sign_change_rate_gaussian(Wa, tb.augment(Q, st.b), US).mean()),
                pred_plain_layer=float(tb.sign_change_rate(theory.rho(st.W, Q))),
                se=float(np.sqrt(np.sum(pred * (1 - pred) / n_per_unit)) / pred.size),
                rho=float(theory.rho(st.W, Q)), r_data_mean=float(r_data.mean()),
            )


def sign_change_summary(recs: list[SignChangeRecord]) -> list[dict]:
    """Mean absolute error of each predictor, per layer kind and overall.

    **Returns:** rows ``{"kind", "n", "mae_data", "mae_gauss", "mae_plain", "mae_plain_layer", "mean_measured"}``.
    """
    out = []
    for kind in sorted({r.kind for r in recs}) + ["all"]:
        rs = [r for r in recs if kind == "all" or r.kind == kind]
        meas = np.array([r.measured for r in rs])
        row = {"kind": kind, "n": len(rs)}
        for k in ("pred_data", "pred_gauss", "pred_plain", "pred_plain_layer"):
            row[f"mae_{k[5:]}"] = float(np.mean(np.abs(np.array([getattr(r, k) for r in rs]) - meas)))
        row["mean_measured"] = float(meas.mean())
        out.append(row)
    return out


# -- 2. end to end -----------------------------------------------------------------------
def _codebook_bits(cache: WeightCache, name: str, method: str, bits: int) -> int:
    """Bits of the stored codebooks (levels and thresholds) of one quantized layer."""
    return 8 * cache.get(name, method, bits).book.nbytes


def layer_noise_tables(stats: list[LayerStats], method: str, bits_list: tuple[int, ...], cache: WeightCache) -> dict[str, np.ndarray]:
    """(L, J) predicted relative noise per layer and width: ``"calibrated"`` (data-aware, from S)
    and ``"data_free"`` (``1/rho^2 - 1`` of the weights); ``"rho"`` (the weight rho); ``"codebook_bits"``
    (L, J) on disk."""
    L, J = len(stats), len(bits_list)
    cal, free, rho, book = np.zeros((L, J)), np.zeros((L, J)), np.zeros((L, J)), np.zeros((L, J), dtype=np.int64)
    for i, st in enumerate(stats):
        Wa, US = tb.augment(st.W, st.b), st.unit_S()
        for j, b in enumerate(bits_list):
            Q = cache.weight(st.name, method, b).double().numpy().reshape(st.W.shape)
            cal[i, j] = tb.layer_noise(Wa, tb.augment(Q, st.b), US)
            rho[i, j] = float(theory.rho(st.W, Q))
            free[i, j] = float(tb.noise_from_rho(rho[i, j]))
            book[i, j] = _codebook_bits(cache, st.name, method, b)
    return {"calibrated": cal, "data_free": free, "rho": rho, "codebook_bits": book}


def end_to_end(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
               configs: list[tuple[str, int]], cache: WeightCache, model_name: str = "model", *,
               gains: np.ndarray | None = None) -> list[EndToEndRecord]:
    """Predicted vs measured output agreement and top-1 drop, every layer quantized at one width.

    **Arguments:** `x_cal`: calibration images (the logits' signal power, the measured one-layer
    sensitivities and, unless given, the propagation gains); `configs`: (method, bits) pairs;
    `gains`: (L,) :func:`deepnets.bridge.propagation_gains` (computed here if None).
    """
    return list(iter_end_to_end(model, stats, x_cal, x_test, y_test, configs, cache, model_name, gains=gains))


def iter_end_to_end(model: nn.Module, stats: list[LayerStats], x_cal: torch.Tensor, x_test: torch.Tensor,
                    y_test: torch.Tensor, configs: list[tuple[str, int]], cache: WeightCache, model_name: str = "model", *,
                    gains: np.ndarray | None = None,
                    one_layer: dict[tuple[str, int], np.ndarray] | None = None) -> Iterator[EndToEndRecord]:
    """:func:`end_to_end` one record at a time; `one_layer`: (method, bits) -> (L,) measured one-layer logit
    noises already measured on ``x_cal`` (:func:`deepnets.bridge.measured_sensitivity`), reused instead of remeasured."""
    gains = propagation_gains(model, stats, x_cal) if gains is None else np.asarray(gains, dtype=np.float64)
    if gains.shape != (len(stats),):
        raise ValueError(f"gains must have one entry per layer ({len(stats)}), got shape {gains.shape}")
    zc = logits_of(model, x_cal)
    logit_power = np.mean(zc * zc, axis=0)
    swap = LayerSwap(model)
    params = np.array([st.params for st in stats], dtype=np.float64)
    z = logits_of(model, x_test)
    y = y_test.numpy()
    top = z.argmax(1)
    float_top1 = 100.0 * float(np.mean(top == y))
    for method, bits in configs:
        noise = layer_noise_tables(stats, method, (bits,), cache)
        qz = logits_of(cache.mixed(method, bits), x_test)
        measured_top1 = 100.0 * float(np.mean(qz.argmax(1) == y))
        # the same decomposition as the theory: qz = a z + noise, noise/(a z) power = 1/r^2 - 1
        measured_noise = float(tb.noise_from_rho(theory.rho(z, qz)))
        # the expensive upper baseline: each layer's measured logit noise alone (calibration images), summed
        key = (method, method_bits(method, bits))
        one = list(one_layer[key]) if one_layer is not None and key in one_layer else [
            float(noise_of_products(logit_products(zc, swap.logits(x_cal, {st.name: cache.weight(st.name, method, bits)}))
                                    .sum(0))) for st in stats]
        rho = noise["rho"][:, 0]
        rec = {"model": model_name, "method": method, "bits": method_bits(method, bits), "float_top1": float_top1,
               "measured_agreement": 100.0 * float(np.mean(qz.argmax(1) == top)), "measured_top1": measured_top1,
               "measured_drop": float_top1 - measured_top1, "measured_logit_noise": measured_noise,
               "logit_gain": float(np.sum(z * qz) / np.sum(z * z)),
               # the agreement model alone, fed the measured logit noise (separates mapping from accumulation error)
               "pred_agreement_given_measured_noise": 100.0 * tb.predict_outputs(z, measured_noise, logit_power)["agreement"]}
        e2s = {"calibrated": tb.total_noise(noise["calibrated"][:, 0]), "data_free": tb.total_noise(noise["data_free"][:, 0]),
               "propagated": tb.propagated_noise(noise["calibrated"][:, 0], gains)}
        for kind, e2 in e2s.items():
            p = tb.predict_outputs(z, e2, logit_power, y)
            rec |= {f"eps2_{kind}": float(e2), f"pred_agreement_{kind}": 100.0 * p["agreement"],
                    f"pred_top1_{kind}": 100.0 * p["accuracy"], f"pred_drop_{kind}": float_top1 - 100.0 * p["accuracy"]}
        e2m = float(np.sum(one)) if np.all(np.isfinite(one)) else float("inf")
        rec |= {"eps2_measured": e2m,
                "pred_drop_measured": float_top1 - 100.0 * tb.predict_outputs(z, e2m, logit_power, y)["accuracy"],
                "rho_mean": float(rho.mean()), "rho_weighted": float(np.sum(params * rho) / params.sum()),
                "correct": pack_bools(qz.argmax(1) == y), "float_correct": pack_bools(top == y)}
        yield EndToEndRecord(**rec)


def end_to_end_summary(recs: list[EndToEndRecord]) -> dict:
    """Spearman rank correlation and mean absolute error (points) of predicted vs measured agreement and drop,
    and the median log10 ratio of predicted to measured logit noise."""
    from scipy import stats as sst

    out = {"n": len(recs)}
    kinds = ("calibrated", "data_free", "propagated")
    e2 = {k: np.array([getattr(r, k) for r in recs]) for k in ("measured_logit_noise", *(f"eps2_{k}" for k in kinds))}
    for kind in kinds:
        ok = np.isfinite(e2[f"eps2_{kind}"]) & (e2["measured_logit_noise"] > 0)
        # accumulation: median log10 ratio of predicted to measured relative logit noise (0 = right on average)
        out[f"noise_{kind}_log10_ratio_median"] = float(np.median(np.log10(e2[f"eps2_{kind}"][ok] / e2["measured_logit_noise"][ok])))
    pa = np.array([r.pred_agreement_given_measured_noise for r in recs])
    ma = np.array([r.measured_agreement for r in recs])
    out["agreement_given_measured_noise_mae"] = float(np.mean(np.abs(pa - ma)))
    out["agreement_given_measured_noise_spearman"] = float(sst.spearmanr(pa, ma).statistic) if len(recs) > 2 else float("nan")
    for kind in kinds:
        for what in ("agreement", "drop"):
            p = np.array([getattr(r, f"pred_{what}_{kind}") for r in recs])
            m = np.array([getattr(r, f"measured_{what}") for r in recs])
            rho_s = sst.spearmanr(p, m).statistic if len(recs) > 2 and np.ptp(p) > 0 and np.ptp(m) > 0 else float("nan")
            out[f"{what}_{kind}_spearman"] = float(rho_s)
            out[f"{what}_{kind}_mae"] = float(np.mean(np.abs(p - m)))
    return out
