"""The blocks of the README's Results and benchmark sections, one small function each.

Each function takes fields of the committed records (``docs/results.json``: the ``results.json`` of a
full ``python -m report`` run; ``docs/benchmarks.json``) and returns Markdown; every number and every
verdict word it writes comes from those fields.  :mod:`report.readme` puts them between the README's
markers.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

MODEL_NAMES = {"mlp": "MLP", "vgg": "VGG", "resnet": "ResNet", "mobilenet": "MobileNet"}
METHOD_NAMES = {"minmax": "min-max uniform", "affine": "max-rho affine", "uniform": "max-rho uniform", "exponential": "max-rho exponential",
                "lloyd_max": "Lloyd-Max", "torch_int8_channel": "torch int8 per channel", "sign": "sign", "ternary": "ternary"}
#: The verdicts of report/anchors_stage.py as the README's bold lead-ins say them.
VERDICT_WORDS = {"reproduced": "reproduced", "partly reproduced": "partly", "not reproduced": "not reproduced here",
                 "not run": "not run"}


# -- small helpers ---------------------------------------------------------------------------
def _para(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, break_long_words=False, break_on_hyphens=False)


def _bullet(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent="- ", subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _model(m: str) -> str:
    return MODEL_NAMES.get(m, m)


def _method(m: str) -> str:
    return METHOD_NAMES.get(m, m)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _span(lo: float, hi: float, fmt: str, sep: str = "-") -> str:
    a, b = f"{lo:{fmt}}", f"{hi:{fmt}}"
    return a if a == b else f"{a}{sep}{b}"


def _pow10(n: float) -> str:
    k = round(math.log10(n)) if n > 0 else 0
    return f"10^{k}" if n == 10**k else f"{int(n):,}"


def _claim(anchors: dict, name: str, granularity: str | None = None) -> dict:
    """The anchors stage's claim whose text starts the way ``name`` says (and of that granularity)."""
    starts = {"six_x": "about 6x", "exponential": "exponential (logarithmic)", "max_rho": "choosing each layer"}[name]
    for c in anchors["claims"]:
        if c["claim"].startswith(starts) and (granularity is None or c.get("granularity") == granularity):
            return c
    raise ValueError(f"record: the anchors stage has no claim {name!r} ({granularity})")


def _verdict(c: dict) -> str:
    return VERDICT_WORDS[c["verdict"]]


def _spearman(x: list[float], y: list[float]) -> float:
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


# -- the Results block -----------------------------------------------------------------------
def header(env: dict, timing: dict) -> str:
    if env["mode"] != "full":
        raise ValueError(f"record: the README's results come from a full run, this record is mode={env['mode']!r}")
    where = env.get("cpu") or env["platform"]
    return _para(
        f"All numbers below come from one run of `bash run.sh report` (default sizes, seed {env['seed']}) on {where}, "
        f"{env['date']}, {timing['total'] / 60:.1f} minutes; open `out/report/report.html` for every table and figure.")


def formula(theo: dict) -> str:
    rows = theo["rows"]
    closed = {(r["dist"], r["family"], r["bits"]): r["rho_closed"] for r in rows}
    sampled = {(r["dist"], r["family"], r["bits"]): r["rho_measured"] for r in rows}
    worst = max(abs(r["z"]) for r in rows if r["z"] == r["z"])
    cols = [("gaussian", "uniform", closed), ("gaussian", "exponential", closed), ("gaussian", "lloyd_max", closed),
            ("gaussian", "minmax", sampled), ("laplace", "uniform", closed), ("laplace", "exponential", closed),
            ("laplace", "lloyd_max", closed)]
    heads = ["bits"] + [f"{'Lloyd-Max' if f == 'lloyd_max' else 'min-max' if f == 'minmax' else f} "
                        f"({d.capitalize()}{', sampled' if src is sampled else ''})" for d, f, src in cols]
    bits = sorted({r["bits"] for r in rows if r["family"] == "uniform"})
    table = _table(heads, [[b] + [f"{src[d, f, b]:.4f}" for d, f, src in cols] for b in bits])
    lead = _para(f"**The formula.** rho of each family at its rho-optimal parameters, closed form (checked against "
                 f"{_pow10(theo['n'])} samples in the report: largest |z| = {worst:.2f}):")
    tail = _para(f"sign: {closed['gaussian', 'sign', 1]:.4f} (Gaussian) / {closed['laplace', 'sign', 1]:.4f} (Laplace); "
                 f"ternary at its optimal threshold: {closed['gaussian', 'ternary', 2]:.4f} / {closed['laplace', 'ternary', 2]:.4f}.")
    return "\n\n".join([lead, table, tail])


def _hopfield_label(q: str) -> str:
    """``uniform(K=8)`` -> ``uniform 3 bit``; float, sign, ternary as they are."""
    if "(K=" in q:
        fam, k = q.split("(K=")
        return f"{fam} {int(math.log2(int(k.rstrip(')'))))} bit"
    return q


def hopfield(hop: dict) -> str:
    caps, cc, sec = hop["capacity"], hop["capacity_config"], hop["section"]["config"]
    # capacity() runs with the retrieval section's protocol (noise, dynamics, criterion) unless its config says otherwise
    noise, mode, crit = (cc.get(k, sec[k]) for k in ("noise", "mode", "criterion"))
    fa = max(abs(r["field_agreement"] - r["theory_field_agreement"]) for r in caps)
    rel = max(abs(r["relative_alpha_c"] - r["theory_relative_alpha_c"]) for r in caps)
    on = f"sits on Sheppard's 1 - arccos(rho)/pi for every quantizer (within {math.ceil(fa * 1000) / 1000:.3f})" if fa <= 0.005 \
        else f"differs from Sheppard's 1 - arccos(rho)/pi by up to {fa:.3f}"
    follows = f"follows the static-noise theory (within {rel:.3f})" if rel <= 0.05 else \
        f"departs from the static-noise theory by up to {rel:.3f}"
    lead = _para(
        f"**Hopfield memory.** N = {cc['N']}, {cc['networks']} networks x {cc['probes']} probes per load, "
        f"{round(100 * noise)}% flipped bits, {mode} dynamics, retrieved when m >= {crit}. The measured field-sign "
        f"agreement {on}. Capacity relative to float weights {follows}:")
    table = _table(["weights", "rho", "field agreement (measured / 1-arccos(rho)/pi)", f"alpha_c at N={cc['N']} [95% CI]",
                    "theory alpha_c(rho)", "alpha_c / float: measured / theory"],
                   [[_hopfield_label(r["quantizer"]), f"{r['rho']:.4f}", f"{r['field_agreement']:.4f} / {r['theory_field_agreement']:.4f}",
                     f"{r['alpha_c']:.3f} [{r['alpha_c_lo']:.3f}, {r['alpha_c_hi']:.3f}]", f"{r['theory_alpha_c']:.3f}",
                     f"{r['relative_alpha_c']:.3f} / {r['theory_relative_alpha_c']:.3f}"] for r in caps])
    from .readme_study import STUDY_EXTRA, study_block, study_rows

    extra = [r for r in map(study_rows, STUDY_EXTRA) if r]
    return "\n\n".join([lead, table, study_block(study_rows(), extra, finite_size(hop["finite_size"]))])


def finite_size(fss: list[dict]) -> str:
    fs = {r["quantizer"]: r for r in fss}
    f, s = fs["float"], fs.get("sign")
    nu = "1/2" if f["nu"] == 0.5 else f"{f['nu']:g}"
    text = (f"Finite-size scaling in the report's own small run (N = {min(f['N'])}..{max(f['N'])}, fit alpha_inf + a N^-{nu}): float weights "
            f"extrapolate to alpha_inf = {f['alpha_inf']:.3f} +- {f['alpha_inf_se']:.3f} against AGS's {f['theory_alpha_c']:.3f}")
    if s:
        text += (f", sign weights to {s['alpha_inf']:.3f} +- {s['alpha_inf_se']:.3f} against the static-noise theory's "
                 f"{s['theory_alpha_c']:.3f} for clipped synapses (Sompolinsky 1986)")
    return _para(text + ".")


def classifier_table(deep: dict) -> str:
    hl = {(r["model"], r["method"]): r for r in deep["headline"]["smallest_bits_within"]}
    methods = ["minmax", "uniform", "exponential", "lloyd_max", "affine", "torch_int8_channel"]
    methods = [m for m in methods if m != "affine" or any(k[1] == m for k in hl)]  # records before issue 13 have none
    flt = {r["model"]: r["top1"] for r in deep["rows"] if r["method"] == "float"}

    def cell(r: dict | None) -> str:
        return "-" if r is None or r["bits"] is None else f"{r['bits']} bits, {r['ratio']:.2f}x"

    return _table(["model (float top-1)"] + [_method(m) for m in methods],
                  [[f"{_model(m)} ({flt[m]:.2f})"] + [cell(hl.get((m, meth))) for meth in methods] for m in deep["models"]])


def classifiers(deep: dict, anchors: dict) -> str:
    n = next(r["n"] for r in deep["rows"] if r.get("n"))
    data = {"fashion_mnist": "Fashion-MNIST", "digits": "8x8 digits"}.get(deep["dataset"], deep["dataset"])
    gran = "per output channel" if deep["granularity"] == "channel" else f"per {deep['granularity']}"
    lead = _para(
        f"**Classifiers (issue: about 6x at about 1 point?).** The committed {data} models ({n:,} test images), every "
        f"Conv/Linear weight quantized {gran} with no retraining, BatchNorm folded first, biases float. Smallest bit "
        "width within 1 point of float top-1, and the compression measured on the packed file at that width "
        "(float32 safetensors / packed file):")
    bullets = [six_x(_claim(anchors, "six_x")),
               exponential_vs_linear(_claim(anchors, "exponential", "channel"), _claim(anchors, "exponential", "tensor"),
                                     deep["headline"], deep["tensor_headline"]),
               max_rho(_claim(anchors, "max_rho"), deep["rows"], deep["models"]),
               gain(deep["gain_comparison"]),
               batchnorm(deep["bn_comparison"], deep["bn_comparison_tensor"])]
    return "\n\n".join([lead, classifier_table(deep), "\n".join(bullets)])


def six_x(c: dict) -> str:
    best = ", ".join(f"{_model(r['model'])} {r['ratio']:.2f}x ({_method(r['method'])}, {r['bits']} bits)" if r["bits"] else
                     f"{_model(r['model'])} none" for r in c["per_model"])
    return _bullet(f"**About 6x at about 1 point: {_verdict(c)}.** {c['evidence'][0].upper() + c['evidence'][1:]} of float; the best "
                   f"compression within 1 point per model: {best}. These are small models on an easy dataset, not the "
                   "ImageNet models of the papers.")


def _bits_pairs(c: dict) -> str:
    b = lambda x: "none" if x == math.inf else f"{x:g}"  # noqa: E731
    return ", ".join(f"{_model(r['model'])} {b(r['exponential_bits'])} vs {b(r['minmax_bits'])}" for r in c["per_model"])


def _big_losses(headline: dict) -> list[str]:
    """The (model, bits) pairs where max-rho exponential is more than a point below min-max."""
    out = []
    for key, v in headline["exponential_vs_minmax"].items():
        if v["minmax_top1"] - v["exponential_top1"] > 1.0:
            m, b = key.split("@")
            out.append(f"{_model(m)} at {b.removesuffix('bits')} bits ({v['exponential_top1']:.1f} vs {v['minmax_top1']:.1f})")
    return out


def exponential_vs_linear(channel: dict, tensor: dict, headline: dict, tensor_headline: dict) -> str:
    v = _verdict(channel) if channel["verdict"] == tensor["verdict"] else \
        f"{_verdict(channel)} per channel, {_verdict(tensor)} per tensor"
    parts, any_loss = [], False
    for c, hl, where in ((channel, headline, "Per channel"),
                         (tensor, tensor_headline, "Per tensor (one quantizer per layer, the papers' setting)")):
        w, t, l = c["wins_ties_losses_3_4_bits"]
        saved = sum(r["saved_vs_minmax"] >= 1 for r in c["per_model"])
        losses = _big_losses(hl)
        any_loss |= bool(losses)
        parts.append(f"{where}, at 3-4 bits max-rho exponential against min-max wins {w}, ties {t} and loses {l} of the "
                     f"{w + t + l} (model, bits) pairs and needs fewer bits to stay within a point on {saved} of "
                     f"{len(c['per_model'])} models (exponential vs min-max bits: {_bits_pairs(c)})"
                     + (f"; it loses by more than a point on {_and(losses)}." if losses else "."))
    if any_loss:
        parts.append("An even number of symmetric exponential levels has no zero level, which min-max's asymmetric grid keeps.")
    return _bullet(f"**Exponential beats linear by 1-2 bits: {v}.** " + " ".join(parts))


def max_rho(c: dict, rows: list[dict], models: list[str]) -> str:
    low = [p for p in c["pairs"] if p["bits"] <= 4]
    better_rho = sum(p["maxrho_rho"] > p["minmax_rho"] for p in low)
    better = sum(p["maxrho_top1"] > p["minmax_top1"] for p in low)
    worse = sum(p["maxrho_top1"] < p["minmax_top1"] for p in low)
    only = "but its top-1 in only" if better < better_rho else "and its top-1 in"
    return _bullet(f"**Maximizing rho helps: {_verdict(c)}.** The max-rho step beats min-max's rho in {better_rho} of "
                   f"{len(low)} (model, bits <= 4) pairs {only} {better} ({worse} lower). " + rho_ranking(rows, models))


def _rank(rows: list[dict], models: list[str]) -> tuple[list[float], float]:
    """Spearman of (1 - mean rho, top-1 drop) over the quantized rows of each model, and over all models pooled."""
    q = [r for r in rows if r["method"] != "float" and not r["method"].startswith("torch")]
    per = [_spearman([1 - r["mean_rho"] for r in q if r["model"] == m], [r["drop"] for r in q if r["model"] == m]) for m in models]
    return per, _spearman([1 - r["mean_rho"] for r in q], [r["drop"] for r in q])


def rho_ranking(rows: list[dict], models: list[str]) -> str:
    """Within one model mean rho orders the quantized models by top-1; the pair of same-rho rows furthest apart."""
    per, _ = _rank(rows, models)
    text = (f"Within one model, 1 - mean rho ranks the quantized models by top-1 drop (Spearman "
            f"{_span(min(per), max(per), '.2f', ' to ')} per model; the report's drop-vs-(1 - rho) figure)")
    q = [r for r in rows if r["method"] != "float" and not r["method"].startswith("torch")]
    pairs = [(a, b) for i, a in enumerate(q) for b in q[i + 1:]
             if a["model"] == b["model"] and a["bits"] == b["bits"] and abs(a["mean_rho"] - b["mean_rho"]) <= 0.002]
    if not pairs:
        return text + "."
    a, b = max(pairs, key=lambda p: abs(p[0]["top1"] - p[1]["top1"]))
    return text + (f", but two quantizers with the same mean rho can differ: on {_model(a['model'])} at {a['bits']} bits "
                   f"{_method(a['method'])} and {_method(b['method'])} have mean rho {a['mean_rho']:.4f} and "
                   f"{b['mean_rho']:.4f} and top-1 {a['top1']:.1f} and {b['top1']:.1f}: one sensitive layer can decide.")


def _compare(rows: list[dict]) -> tuple[int, int, dict, float]:
    """(variant higher, n, the row most in the variant's favour, largest |difference|)."""
    best = max(rows, key=lambda r: r["variant_top1"] - r["base_top1"])
    return (sum(r["variant_top1"] > r["base_top1"] for r in rows), len(rows), best,
            max(abs(r["variant_top1"] - r["base_top1"]) for r in rows))


def gain(rows: list[dict]) -> str:
    k, n, g, _ = _compare(rows)
    bits = _and([str(b) for b in sorted({r["bits"] for r in rows})])
    lead = "The scale matters in classifiers, not in Hopfield networks." if k > n / 2 else \
        "The scale matters little here, and not at all in Hopfield networks."
    return _bullet(f"**{lead}** rho-optimal levels scaled by least squares shrink the weights by rho^2 (sign dynamics "
                   "ignore a positive scale; a classifier's float biases do not). `gain=\"unbiased\"` (E[w q] = E[w^2], "
                   f"same codes, same rho) gives higher top-1 in {k} of {n} (model, method, {bits} bits) pairs, up to "
                   f"{g['variant_top1'] - g['base_top1']:+.1f} points ({_model(g['model'])}, {g['method']}, {g['bits']} bits: "
                   f"{g['base_top1']:.1f} -> {g['variant_top1']:.1f}).")


def batchnorm(channel: list[dict], tensor: list[dict]) -> str:
    kt, nt, gt, dt = _compare(tensor)
    _, _, _, dc = _compare(channel)
    word = lambda d: "matters" if d >= 2.0 else "matters little"  # noqa: E731
    return _bullet(f"**BatchNorm folding** {word(dt)} per tensor (unfolded wins {kt} of {nt} pairs, by up to "
                   f"{gt['variant_top1'] - gt['base_top1']:.0f} points on {_model(gt['model'])} at {gt['bits']} bits) and "
                   f"{word(dc).replace('matters ', '')} per channel (within {dc:.1f} points), where each channel is only "
                   "rescaled as a whole.")


def bridge(br: dict) -> str:
    """The bridge's claims, each beside its best baseline (:mod:`report.readme_bridge`, imported here lazily)."""
    from .readme_bridge import bridge as render

    return render(br)


def hopfield_vs_classifier(hop: dict, deep: dict) -> str:
    rel = max(abs(r["relative_alpha_c"] - r["theory_relative_alpha_c"]) for r in hop["capacity"])
    per, pooled = _rank(deep["rows"], deep["models"])
    across = "but less well across models" if pooled < min(per) else "and as well across models"
    alone = f"follows from its rho alone (within {rel:.3f}" if rel <= 0.05 else f"follows its rho only roughly (up to {rel:.3f} off"
    return _para(f"**Hopfield vs classifier.** Same rho, different consequences: in the Hopfield network every "
                 f"quantizer's capacity relative to float weights {alone}, table above); in the classifiers 1 - mean rho orders the quantized models by drop within a model (Spearman "
                 f"{_span(min(per), max(per), '.2f', ' to ')}) {across} (all models pooled: {pooled:.2f}), and one "
                 "layer's rho can decide.")


# -- the benchmark table ---------------------------------------------------------------------
def benchmarks_block(bench: dict) -> str:
    hs, dyn, qa, qf, dn = (bench[k] for k in ("hopfield_scan", "hopfield_dynamics", "quantizer_apply", "quantizer_fit", "deepnets"))
    he = bench.get("hopfield_engine")
    sync = [r for r in dyn["rows"] if r["dynamics"] == "sync"]
    asyn = [r["ratio_to_matmul"] for r in dyn["rows"] if r["dynamics"] != "sync"]
    d4 = {r["method"]: r for r in dn["rows"] if r.get("search", "exact") == "exact"}
    both = dn["rows"] + dn.get("fixed_rows", [])
    hist = {r["method"]: r for r in both if r.get("search") == "histogram"}
    exact = {r["method"]: r for r in both if r.get("search", "exact") == "exact"}
    hm = [m for m in ("sign", "ternary", "uniform", "exponential", "lloyd_max", "affine") if m in hist and m in exact]
    drho = sorted(exact[m]["mean_rho"] - hist[m]["mean_rho"] for m in hm)
    fitted = [d4[m] for m in ("uniform", "exponential", "lloyd_max")]
    rng = lambda xs, f: f"{min(xs):{f}}-{max(xs):{f}}"  # noqa: E731
    same_overhead = all(abs(v - 1) <= 0.3 for v in qa["ratio"].values())
    rows = [
        [f"Hopfield capacity scan (hopfieldkit's `empirical_capacity_scan`: N={hs['N']}, p={hs['p_min']}..{hs['p_max']}, "
         f"{hs['trials']} trials, {round(100 * hs['flipped'])}% flipped, exact recall), after compilation",
         "`hopfield.capacity_scan`, 1 thread / 2 threads", f"{hs['baseline']} (1 thread)",
         f"**{hs['speedup_1_thread']:g}x / {hs['speedup_2_threads']:g}x** faster; success rates "
         f"{'agree' if hs['chi_square_p'] > 0.05 else 'differ'} (chi-square p = {hs['chi_square_p']:g})"
         + (f"; counting compilation (a fresh process): {hs['cold']['cold_speedup_empty_cache']:.1f}x with an empty "
            f"JAX cache, {hs['cold']['cold_speedup_cached']:.1f}x with the persistent cache" if hs.get("cold") else ""), hs],
        *([[f"Hopfield asynchronous recall from the stored patterns, N={he['N']}, alpha={he['alpha']:g} "
            f"(every stored pattern a probe), {he['measure']}", "`hopfield.run` (the engine)", he["baseline"],
            f"**{he['speedup_per_probe']:g}x** per probe ({he['ms_per_probe']:g} vs {he['baseline_ms_per_probe']:g} ms; "
            f"target {he['target_speedup']:g}x); the dynamics of all p probes take {he['dynamics_over_matmul']:g}x the "
            f"float32 product xi^T xi (target {he['target_dynamics_over_matmul']:g}x)", he]] if he else []),
        *([[f"Hopfield engine, one network per N = {he['sizes'][0]['N']}..{he['sizes'][-1]['N']} at alpha = "
            f"{he['alpha']:g}, all p stored patterns as probes (wall time)", "W build / starting fields / dynamics",
            "float32 product xi^T xi in the same run",
            f"at N = {he['sizes'][-1]['N']}: " + " / ".join(f"{he['sizes'][-1][k] / he['sizes'][-1]['matmul']:.1f}x"
                                                            for k in ("build", "fields", "warm"))
            + f" (over all N: dynamics {rng([r['warm'] / r['matmul'] for r in he['sizes']], '.1f')}x); peak RSS "
            f"{he['sizes'][-1]['rss'] / 2**30:.1f} GiB at N = {he['sizes'][-1]['N']}"
            + ("; quantized (int8 codes), one network at N = " + ", ".join(
                f"{r['N']} {r['quantizer'].replace('uniform:2', '2-bit uniform')} (alpha {r['p'] / r['N']:.2g}): fields + "
                f"dynamics {r['fields_and_dynamics'] / r['matmul']:.1f}x, peak RSS {r['rss'] / 2**30:.1f} GiB"
                for r in he["quantized"]["rows"]) if he.get("quantized") else ""), he]] if he and he.get("sizes") else []),
        [f"Hopfield dynamics throughput, N={' / '.join(str(r['N']) for r in sync)}, batched", "sync updates",
         "float32 matmul on the same W and batch",
         " / ".join(f"{r['ratio_to_matmul']:.2f}" for r in sync) + f" of matmul GFLOP/s (async: {rng(asyn, '.2f')})", dyn],
        [f"apply a {qa['K']}-level Quantizer to {_pow10(qa['n'])} float32 values", "`q(x)` numpy / jitted JAX / torch",
         "`searchsorted` + gather in the same library",
         " / ".join(f"{qa['ratio'][k]:.2f}" for k in ("numpy", "jax", "torch")) + (" (no overhead)" if same_overhead else ""), qa],
        [f"fit a {qf['bits']}-bit quantizer to {_pow10(qf['n'])} weights", "Lloyd-Max / max-rho uniform / exponential",
         "`np.sort` of the same array",
         " / ".join(f"{qf['ratio_to_sort'][k]:.1f}x" for k in ("lloyd_max", "uniform", "exponential")) + " the sort", qf],
        [f"quantize + pack a {dn['params_millions']:g}M-parameter ResNet-50-shaped model, {dn['bits']} bits per channel",
         "uniform / exponential / Lloyd-Max", f"min-max round-to-nearest ({d4['minmax']['quantize_s']:.1f} s)",
         " / ".join(f"{r['time_x_minmax']:.1f}x" for r in fitted) + f" the time; {rng([r['peak_x_minmax'] for r in fitted], '.1f')}x "
         "traced peak memory", dn],
        *([[f"`quantize` on that model, {dn['bits']} bits per channel, everything included", "min-max / uniform / exponential / Lloyd-Max",
            f"plain vectorized torch round-to-nearest ({dn['rtn_s']:.2f} s)",
            " / ".join(f"{d4[m]['time_x_rtn']:.1f}x" for m in ("minmax", "uniform", "exponential", "lloyd_max"))
            + f" the time (issue 13's targets: {dn['targets']['minmax_x_rtn']:g}x for min-max, {dn['targets']['fit_x_rtn']:g}x for the fits)", dn]]
          if "rtn_s" in dn else []),
        *([[f"`quantize` on that model with `search=\"histogram\"` (sign 1 bit, ternary 2, the others {dn['bits']})",
            " / ".join(m.replace("lloyd_max", "Lloyd-Max") for m in hm), "the same round-to-nearest",
            " / ".join(f"{hist[m]['time_x_rtn']:.1f}x" for m in hm) + " the time (exact search: "
            + " / ".join(f"{exact[m]['time_x_rtn']:.0f}x" for m in hm) + ")"
            + ("; the fit alone, without the codes, the decoded weights and the report: "
               + " / ".join(f"{hist[m]['fit_x_rtn']:.1f}x" for m in hm) if all("fit_x_rtn" in hist[m] for m in hm) else "")
            + "; mean rho of the layers "
            + (f"{drho[-1]:.1e} below to {-drho[0]:.1e} above the exact search's" if drho[0] < 0
               else f"{drho[0]:.1e} to {drho[-1]:.1e} below the exact search's"), dn]]
          if hm else []),
        ["packed file of that model", f"{dn['bits']}-bit files", f"float32 safetensors ({dn['float_file_MiB']:g} MiB)",
         f"{rng([r['ratio_vs_float32'] for r in dn['rows']], '.1f')}x smaller; save {rng([r['save_MBps'] for r in dn['rows']], '.0f')} "
         f"MB/s, load {rng([r['load_MBps'] for r in dn['rows']], '.0f')} MB/s"
         + (f"; pack + save {rng([r['save_x_tofile'] for r in dn['rows']], '.1f')}x the time of numpy `tofile` of the same bytes"
            if "rtn_s" in dn else "")
         + (f" into the page cache, {rng([r['save_durable_x_tofile'] for r in dn['rows']], '.2f')}x with each write made durable "
            "(fsync)" if "save_durable_x_tofile" in dn["rows"][0] else ""), dn],
    ]
    out, prev = [], None
    for *cells, src in rows:
        out.append(cells + ["same" if src["command"] == prev else f"`{src['command']}`", src["date"]])
        prev = src["command"]
    table = _table(["what", "corrquant", "baseline", "ratio", "command", "date"], out)
    lead = _para(f"Every speed figure is a ratio to a baseline run in the same process on the same data (the machine "
                 f"is a {bench['machine']}; absolute times move, ratios less). Full tables, methods and caveats: "
                 "[docs/benchmarks.md](docs/benchmarks.md).")
    t, s1, s2 = hs["target_speedup"], hs["speedup_1_thread"], hs["speedup_2_threads"]
    if s1 >= t:
        met = f"met on a single thread ({s1:g}x)"
    elif s2 >= t:
        met = (f"met with the trials split over both cores (hopfieldkit runs on one), not on a single thread ({s1:g}x); "
               "docs/benchmarks.md says where the single-thread time goes")
    else:
        met = f"not met ({s1:g}x on one thread, {s2:g}x on two)"
    paras = [lead, table, _para(f"The issue's target for the Hopfield scan was {t:g}x after compilation: {met}.")]
    if "rtn_s" in dn and "targets" in dn:
        paras.append(_para(_deepnets_targets(dn, exact, hist)))
    return "\n\n".join(paras)


def _deepnets_targets(dn: dict, exact: dict, hist: dict) -> str:
    """One sentence: which of issue 13's speed targets for ``quantize`` the record meets, and which not."""
    tm, tf = dn["targets"]["minmax_x_rtn"], dn["targets"]["fit_x_rtn"]
    label = {"lloyd_max": "Lloyd-Max"}
    runs = [(f"{label.get(m, m)}{' (histogram)' if tag else ''}", r) for tag, rows in ((False, exact), (True, hist))
            for m, r in rows.items() if m != "minmax"]
    met = [name for name, r in runs if r["time_x_rtn"] <= tf]
    fit_met = [name for name, r in runs if r.get("fit_x_rtn", float("inf")) <= tf]
    mm = exact["minmax"]["time_x_rtn"]
    slow = [r["time_x_rtn"] for _, r in runs if r["time_x_rtn"] > tf]
    if mm <= tm and not slow:
        return (f"Issue 13's speed targets for `quantize` are met on this record: min-max {mm:.1f}x the plain "
                f"round-to-nearest (target {tm:g}x), every max-rho fit within {tf:g}x.")
    return (f"Issue 13's speed targets for `quantize` (min-max within {tm:g}x of the plain round-to-nearest, every "
            f"max-rho fit within {tf:g}x) are not all met on this record: min-max takes {mm:.1f}x"
            f"{' (met)' if mm <= tm else ''}; of the fits, {', '.join(met) if met else 'none'} "
            f"{'is' if len(met) == 1 else 'are'} within {tf:g}x with everything `quantize` does, and "
            f"{', '.join(fit_met) if fit_met else 'none'} with the fit alone; the other fits take "
            f"{min(slow):.0f}-{max(slow):.0f}x.  The ratios depend on the machine (round-to-nearest took "
            f"{dn['rtn_s']:.3f} s here); docs/benchmarks.md says where the time goes and what was tried.")

