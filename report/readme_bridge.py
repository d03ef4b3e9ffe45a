"""The README's bridge paragraphs: each claim beside its best baseline, with its bootstrap interval.

Reads the bridge stage's fields of ``docs/results.json`` (``report/bridge_stage.py``):
``end_to_end_scores``, ``allocation_scores`` and ``layer_ranking`` (:mod:`deepnets.bridge.scoring`),
accuracies in percent.  A record written before those fields existed renders as it did then
(:func:`legacy_bridge`).
"""

from __future__ import annotations

from .readme_blocks import _and, _method, _model, _para, _span, _table

def legacy_bridge(br: dict) -> str:
    """A record written before the baselines (issue 16): fractions, no intervals; its text as it was."""
    s = {r["kind"]: r for r in br["sign_change_summary"]}
    a = s["all"]
    kinds = [k for k in s if k != "all"]
    data_better = [k for k in kinds if s[k]["mae_data"] <= s[k]["mae_plain"]]
    plain_better = [k for k in kinds if s[k]["mae_data"] > s[k]["mae_plain"]]
    kind_name = lambda k: {"depthwise conv": "depthwise convs"}.get(k, k)  # noqa: E731
    text = (f"**The bridge.** Quantizing one layer at a time, the fraction of pre-activations whose sign flips is "
            f"predicted by the Hopfield law arccos(r)/pi. With the data-aware r (from the layer-input covariance of "
            f"{br['n_cal']} training images) the mean absolute error is {a['mae_data']:.4f} over {a['n']} (layer, "
            f"quantizer) points against {a['mae_plain']:.4f} with the plain weight rho")
    if data_better:
        text += " (" + ", ".join(f"{kind_name(k)} {s[k]['mae_data']:.4f} vs {s[k]['mae_plain']:.4f}" for k in data_better) + ")"
    if plain_better:
        text += "; on " + _and([f"{kind_name(k)}" for k in plain_better]) + " the plain rho is better (" + ", ".join(
            f"{s[k]['mae_plain']:.4f} vs {s[k]['mae_data']:.4f}" for k in plain_better) + ")"
    e = br["end_to_end_summary"]
    err = sorted(100 * (r["pred_drop_calibrated"] - r["measured_drop"]) for r in br["end_to_end"])
    over, median = sum(x > 0 for x in err), (err[(len(err) - 1) // 2] + err[len(err) // 2]) / 2
    text += (f". End to end, the accumulated relative noise 1/r^2 - 1 ranks {e['n']} (model, method, bits) points by "
             f"accuracy drop with Spearman {e['drop_calibrated_spearman']:.2f} (calibrated; "
             f"{e['drop_data_free_spearman']:.2f} data-free); the calibrated prediction overestimates the drop on {over} "
             f"of {len(err)} points (median error {median:+.1f} points, mean absolute error "
             f"{100 * e['drop_calibrated_mae']:.1f} points). {_legacy_baselines(br['end_to_end'])} "
             f"Bit allocation by exact dynamic programming on the "
             f"predicted agreement, at equal packed size ({_method(br['alloc_method'])} levels, top-1 %, "
             f"{br['n_test']:,} test images):")
    return "\n\n".join([_para(text), _legacy_table(br["headline"]), _legacy_summary(br["headline"])])


def _legacy_baselines(recs: list[dict]) -> str:
    """The baselines a record without per-image correctness still allows (no intervals), from its own points."""
    import numpy as np
    from scipy import stats

    drop = np.array([r["measured_drop"] for r in recs])
    pooled = lambda s: stats.spearmanr(s, drop).statistic  # noqa: E731
    bits = -np.array([r["bits"] for r in recs], dtype=float)
    models = sorted({r["model"] for r in recs})

    def within(key: str | None) -> list[float]:
        out = []
        for m in models:
            ix = [i for i, r in enumerate(recs) if r["model"] == m]
            s = bits[ix] if key is None else np.array([recs[i][key] for i in ix])
            out.append(stats.spearmanr(s, drop[ix]).statistic)
        return out

    def cell_tau(key: str) -> float:
        taus = []
        for c in {(r["model"], r["bits"]) for r in recs}:
            ix = [i for i, r in enumerate(recs) if (r["model"], r["bits"]) == c]
            if len(ix) >= 3:
                taus.append(stats.kendalltau([recs[i][key] for i in ix], drop[ix]).statistic)
        return float(np.nanmean(taus))

    wb, wc = within(None), within("pred_drop_calibrated")
    return (f"Against the trivial baseline from the same points (this record predates the per-image correctness, so "
            f"no intervals): the bit width alone ranks them with Spearman {pooled(bits):.2f}, against "
            f"{pooled([r['pred_drop_data_free'] for r in recs]):.2f} data-free and "
            f"{pooled([r['pred_drop_calibrated'] for r in recs]):.2f} calibrated; within each model the bit width "
            f"gives {_span(min(wb), max(wb), '.2f')} and the calibrated prediction {_span(min(wc), max(wc), '.2f')}; "
            f"within each (model, bits) cell, where the question is which quantizer to use, the mean Kendall tau "
            f"against the measured drop is {cell_tau('pred_drop_calibrated'):.2f} calibrated and "
            f"{cell_tau('pred_drop_data_free'):.2f} data-free: no skill at ranking quantizers.")


def _legacy_table(rows: list[dict]) -> str:
    pct = lambda r, k: f"{100 * r[k]:.1f}" if k in r else "-"  # noqa: E731
    order = {m: i for i, m in enumerate(("vgg", "resnet", "mobilenet", "mlp"))}
    rows = sorted(rows, key=lambda r: (order.get(r["model"], 99), r["avg_bits"]))
    return _table(["model", "avg bits", "uniform width", "data-free allocation", "calibrated allocation",
                   "measured sensitivity (expensive upper baseline)", "float"],
                  [[_model(r["model"]), f"{r['avg_bits']:g}", pct(r, "uniform"), pct(r, "data_free"), pct(r, "calibrated"),
                    pct(r, "measured"), pct(r, "float")] for r in rows])


def _legacy_summary(rows: list[dict]) -> str:
    best = lambda r: max(r["data_free"], r["calibrated"])  # noqa: E731
    same = [m for m in dict.fromkeys(r["model"] for r in rows)
            if all(len({r[k] for k in ("uniform", "data_free", "calibrated", "measured") if k in r}) == 1
                   for r in rows if r["model"] == m)]
    rest = [r for r in rows if r["model"] not in same]
    parts = []
    gap = [r for r in rest if "uniform" not in r]
    if gap:
        lo, hi = min(100 * (r["float"] - best(r)) for r in gap), max(100 * (r["float"] - best(r)) for r in gap)
        bits = _and(sorted({f"{r['avg_bits']:g}" for r in gap}))
        parts.append(f"At {bits} average bits (no uniform width exists) the allocations keep "
                     f"{_and([_model(m) for m in dict.fromkeys(r['model'] for r in gap)])} within {_span(lo, hi, '.1f')} points of float")
    uni = [r for r in rest if "uniform" in r]
    if uni:
        wins = [m for m in dict.fromkeys(r["model"] for r in uni) if all(best(r) > r["uniform"] for r in uni if r["model"] == m)]
        top = max(uni, key=lambda r: best(r) - r["uniform"])
        widths = _and(sorted({f"{r['avg_bits']:g}" for r in uni}))
        parts.append(f"at {widths} bits they beat the uniform width on {_and([_model(m) for m in wins])} ({_model(top['model'])} "
                     f"at {top['avg_bits']:g} bits: {100 * top['uniform']:.0f}% -> {100 * best(top):.0f}%)" if wins else
                     f"at {widths} bits they do not beat the uniform width on every row of any model")
    meas = [r for r in rest if "measured" in r]
    if meas:
        d = min(100 * (best(r) - r["measured"]) for r in meas)
        k = sum(best(r) >= r["measured"] for r in meas)
        parts.append(f"the better rho-driven allocation matches or beats the measured-sensitivity baseline in {k} of "
                     f"{len(meas)} rows" + (f" and is at most {-d:.1f} points below it in the others" if d < 0 else ""))
    text = "; ".join(parts) + "."
    if same:
        text += f" {_and([_model(m) for m in same])} gains nothing (every strategy gives the same top-1)."
    return _para(text[0].upper() + text[1:])




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
        return legacy_bridge(br)
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
