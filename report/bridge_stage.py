"""Report stage 4: the Hopfield result used to predict and allocate bits for classifiers (``deepnets.bridge``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEEP = ("datasets", "models", "sources", "n_cal", "n_test", "n_sign", "alloc_method", "sign_change_summary",
        "end_to_end_summary", "headline", "figures", "sign_changes", "end_to_end", "allocation")


def run(out_dir: Path, quick: bool, seed: int, results: dict | None = None) -> dict[str, Any]:
    from deepnets import bridge

    res = bridge.report_section(quick=quick, seed=seed, out_dir=out_dir)
    return {k: res[k] for k in KEEP if k in res}


def _pct(r: dict, k: str) -> Any:
    return round(100 * r[k], 2) if k in r else "-"


def blocks(res: dict[str, Any]) -> list:
    where = ", ".join(f"{m} on {d}" for m, d in res["datasets"].items())
    b: list = [("h", 2, "4. The bridge: Hopfield theory predicting a classifier's quantization")]
    b.append(("p", f"{where}; {res['n_test']} test images ({res['n_sign']} for sign changes), layer-input covariance S from "
                   f"{res['n_cal']} training images. One layer quantized at a time: the measured fraction of pre-activations "
                   "whose sign flips against arccos(r)/pi (the Hopfield field-agreement law) for r = the plain weight rho and "
                   "r = the data-aware correlation w^T S q / sqrt(w^T S w q^T S q) of each output unit."))
    b.append(("table", ["layer kind", "points", "measured sign-change rate", "MAE data-aware r", "MAE plain rho (per unit)",
                        "MAE plain rho (layer)", "MAE Gaussian with means"],
              [[r["kind"], r["n"], r["mean_measured"], r["mae_data"], r["mae_plain"], r["mae_plain_layer"], r["mae_gauss"]]
               for r in res["sign_change_summary"]]))
    allk = next(r for r in res["sign_change_summary"] if r["kind"] == "all")
    better = "the data-aware r" if allk["mae_data"] < allk["mae_plain"] else "the plain rho"
    lo, hi = sorted((allk["mae_data"], allk["mae_plain"]))
    b.append(("p", f"Over all layers {better} predicts the sign-change rate better (MAE {lo:.4f} against {hi:.4f}, "
                   f"a factor {hi / max(lo, 1e-12):.1f}); per layer kind, see the rows above."))
    e = res["end_to_end_summary"]
    b.append(("p", f"End to end over {e['n']} (method, bits, model) points: the relative noise 1/r^2 - 1 summed through the "
                   "layers predicts the output agreement and the accuracy drop."))
    b.append(("table", ["prediction", "Spearman (drop)", "MAE drop (points)", "Spearman (agreement)", "MAE agreement",
                        "median log10(predicted / measured logit noise)"],
              [["calibrated (S)", e["drop_calibrated_spearman"], 100 * e["drop_calibrated_mae"], e["agreement_calibrated_spearman"],
                e["agreement_calibrated_mae"], e["noise_calibrated_log10_ratio_median"]],
               ["data-free (rho tables)", e["drop_data_free_spearman"], 100 * e["drop_data_free_mae"],
                e["agreement_data_free_spearman"], e["agreement_data_free_mae"], e["noise_data_free_log10_ratio_median"]],
               ["agreement model fed the measured noise", "-", "-", e["agreement_given_measured_noise_spearman"],
                e["agreement_given_measured_noise_mae"], 0.0]]))
    b.append(("p", f"Bit allocation at equal packed size ({res['alloc_method']} levels; exact dynamic programming over layers "
                   "maximizing the predicted agreement; the budget is the packed size of the uniform-width model). Top-1 (%):"))
    b.append(("table", ["model", "avg bits", "uniform", "data-free", "calibrated", "measured sensitivity (upper)", "float"],
              [[r["model"], r["avg_bits"], _pct(r, "uniform"), _pct(r, "data_free"), _pct(r, "calibrated"), _pct(r, "measured"),
                _pct(r, "float")] for r in res["headline"]]))
    caps = {"sign_changes": "Predicted vs measured sign-change rate per layer (each point a layer and quantizer).",
            "accuracy_drop": "Predicted vs measured top-1 drop, end to end.",
            "allocation": "Top-1 against packed size for the four allocation strategies, per model."}
    for k, f in res["figures"].items():
        b.append(("img", str(f), caps.get(k, k)))
    return b
