"""The README's bridge paragraphs: each claim beside its best baseline, with its bootstrap interval.

Reads the bridge stage's fields of ``docs/results.json`` (``report/bridge_stage.py``):
``end_to_end_scores``, ``allocation_scores`` and ``layer_ranking`` (:mod:`deepnets.bridge.scoring`),
accuracies in percent.  A record written before those fields existed is refused (re-run the report).
"""

from __future__ import annotations

from .readme_blocks import _and, _method, _model, _para, _table

# -- records with baselines (issue 16) ---------------------------------------------------------
NAMES = {"bits": "the bit width alone", "mean_rho": "the mean weight rho", "weighted_rho": "the parameter-weighted rho",
         "params": "parameter counts alone", "uniform": "the uniform width", "data_free": "data-free (1/rho^2 - 1)",
         "calibrated": "calibrated (data-aware r)", "propagated": "calibrated x measured layer gains",
         "measured": "measured one-layer noise (upper baseline)"}
PREDICTIONS = ("data_free", "calibrated", "propagated")
_SAY = {"beats": "beats it", "no skill": "no skill over it", "worse": "worse than it"}


def _ci(v: float, lo: float, hi: float, d: int = 2) -> str:
    return "n/a" if v != v else f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def _claim_line(sc: dict, metric: str, title: str, d: int = 2) -> str:
    """One metric: every prediction, the best baseline, and the best prediction's difference in words."""
    rows = {r["predictor"]: r for r in sc["rows"]}
    vs = [v for v in sc["versus"] if v["metric"] == metric and v["best"]]
    if not vs:
        return _bullet_text(f"*{title}*: not measured.")
    base = vs[0]["baseline"]
    top = max((v for v in vs if v["prediction"] in PREDICTIONS), key=lambda v: v["diff"])
    preds = "; ".join(f"{NAMES[p]} {_ci(rows[p][metric], rows[p][f'{metric}_lo'], rows[p][f'{metric}_hi'], d)}"
                      for p in PREDICTIONS)
    b = rows[base]
    text = (f"*{title}*: {preds}. Best baseline: {NAMES[base]}, {_ci(b[metric], b[f'{metric}_lo'], b[f'{metric}_hi'], d)}. "
            f"The best prediction, {NAMES[top['prediction']]}, differs by {_ci(top['diff'], top['lo'], top['hi'], d)} "
            f"(positive is better): {_SAY[top['verdict']]}")
    if base != "bits":
        bits = next(v for v in sc["versus"] if v["metric"] == metric and v["baseline"] == "bits"
                    and v["prediction"] == top["prediction"])
        text += f"; against {NAMES['bits']} {_ci(bits['diff'], bits['lo'], bits['hi'], d)}, {_SAY[bits['verdict']]}"
    m = rows["measured"]
    return _bullet_text(text + f". Upper baseline (measured): {_ci(m[metric], m[f'{metric}_lo'], m[f'{metric}_hi'], d)}.")


def _bullet_text(text: str) -> str:
    from .readme_blocks import _bullet

    return _bullet(text)


def _sign_changes(br: dict) -> str:
    s = {r["kind"]: r for r in br["sign_change_summary"]}
    a = s["all"]
    kinds = [k for k in s if k != "all"]
    name = lambda k: {"depthwise conv": "depthwise convs"}.get(k, k)  # noqa: E731
    text = (f"**The bridge.** Quantizing one layer at a time, the fraction of pre-activations whose sign flips is "
            f"predicted by the Hopfield law arccos(r)/pi. With the data-aware r (from the layer-input covariance of "
            f"{br['n_cal']} training images) the mean absolute error is {a['mae_data']:.4f} over {a['n']} (layer, "
            f"quantizer) points; the baseline, the plain weight rho, gives {a['mae_plain']:.4f}")
    if kinds:
        text += " (" + ", ".join(f"{name(k)} {s[k]['mae_data']:.4f} vs {s[k]['mae_plain']:.4f}" for k in kinds) + ")"
    return _para(text + ".")


def _allocation(br: dict) -> str:
    rows = br["allocation_scores"]
    strats = ("uniform", "params", "mean_rho", "weighted_rho", "data_free", "calibrated", "propagated", "measured")
    order = {m: i for i, m in enumerate(("vgg", "resnet", "mobilenet", "mlp"))}
    rows = sorted(rows, key=lambda r: (order.get(r["model"], 99), r["avg_bits"]))
    heads = ["uniform", "params only", "mean rho", "weighted rho", "data-free", "calibrated", "x gains", "measured (upper)"]
    table = _table(["model", "avg bits", *heads, "float"],
                   [[_model(r["model"]), f"{r['avg_bits']:g}", *(f"{r[s]:.1f}" if s in r else "-" for s in strats),
                     f"{r['float']:.1f}"] for r in rows])
    parts = []
    for p in PREDICTIONS:
        got = [(r, v) for r in rows for v in r["versus"] if v["strategy"] == p]
        if not got:
            continue
        say = lambda vv: _and([f"{_model(r['model'])} {r['avg_bits']:g} bits {_ci(v['diff'], v['lo'], v['hi'], 1)}"  # noqa: E731
                               for r, v in vv])
        wins = [(r, v) for r, v in got if v["verdict"] == "beats"]
        bad = [(r, v) for r, v in got if v["verdict"] == "worse"]
        parts.append(f"{NAMES[p]} beats it in {len(wins)} of {len(got)} rows" + (f" ({say(wins)})" if wins else "")
                     + f", is worse in {len(bad)}" + (f" ({say(bad)})" if bad else "")
                     + f" and shows no skill in {len(got) - len(wins) - len(bad)}")
    text = ("Against the best baseline strategy of each row (top-1 points, interval of the paired difference): "
            + "; ".join(parts) + ".")
    uni = [r for r in rows if "uniform" in r and "calibrated" in r]
    if uni:
        r = max(uni, key=lambda r: r["calibrated"] - r["uniform"])
        others = {k: r[k] for k in ("params", "mean_rho", "weighted_rho") if k in r}
        k = max(others, key=others.get)
        most = r[k] - r["uniform"] >= 0.5 * (r["calibrated"] - r["uniform"])
        text += (f" The largest gain over one uniform width, {_model(r['model'])} at {r['avg_bits']:g} bits "
                 f"({r['uniform']:.1f}% -> {r['calibrated']:.1f}% calibrated), "
                 + ("needs no prediction for most of it" if most else "is mostly the prediction's")
                 + f": {NAMES[k]} gives {r[k]:.1f}%.")
    per: dict[str, dict] = {}
    for r in br.get("layer_ranking", []):
        per.setdefault(r["model"], {})[r["predictor"]] = r
    parts = []
    for m, d in per.items():
        if {"propagated", "calibrated", "params", "mean_rho", "weighted_rho"} <= set(d):
            b = max((d[k] for k in ("params", "mean_rho", "weighted_rho")), key=lambda r: r["tau"])
            parts.append(f"{_model(m)} calibrated x gains {_ci(d['propagated']['tau'], d['propagated']['lo'], d['propagated']['hi'])}, "
                         f"calibrated {_ci(d['calibrated']['tau'], d['calibrated']['lo'], d['calibrated']['hi'])}, best baseline "
                         f"({NAMES[b['predictor']].removeprefix('the ')}) {_ci(b['tau'], b['lo'], b['hi'])}")
    if parts:
        text += (" Ranking the layers by their measured one-layer sensitivity (Kendall tau over layers, mean of 2, 3 "
                 "and 4 bits, intervals over calibration images): " + "; ".join(parts) + ".")
    return "\n\n".join([table, _para(text)])


def bridge(br: dict) -> str:
    """The bridge paragraphs: sign changes, the three end-to-end decisions, the allocation; baselines beside each."""
    if "end_to_end_scores" not in br:
        raise ValueError("docs/results.json: the bridge record predates the baselines (no end_to_end_scores); "
                         "re-run python -m report and copy its results.json")
    sc = br["end_to_end_scores"]
    intro = _para(f"End to end over {sc['n']} (model, method, bits) points, every layer at one width, each claim beside "
                  f"its best baseline (95% bootstrap intervals over the {br['n_test']:,} test images, {sc['n_boot']} "
                  "resamples; the baselines need no noise model: the bit width, the mean weight rho, the "
                  "parameter-weighted rho):")
    lines = "\n".join([_claim_line(sc, "cell_tau", f"Which quantizer at a given width (mean Kendall tau within {sc['n_cells']} "
                                                   "(model, bits) cells; the bit width alone scores 0 there)"),
                       _claim_line(sc, "spearman", "Ranking all points by accuracy drop (Spearman)"),
                       _claim_line(sc, "model_spearman", "Ranking the points of one model (Spearman within each model, "
                                                         "mean)"),
                       _claim_line(sc, "mae", "The drop in points (mean absolute error; the baselines get a monotone fit "
                                              "on the other models' points)", 1)])
    alloc = _para(f"Bit allocation by exact dynamic programming at equal packed size ({_method(br['alloc_method'])} "
                  f"levels, top-1 %, {br['n_test']:,} test images), against every baseline strategy:")
    return "\n\n".join([_sign_changes(br), intro, lines, alloc, _allocation(br)])
