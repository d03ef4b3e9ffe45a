"""The README's Hopfield capacity-study paragraph and table, rendered from the committed study records.

The records are ``python -m hopfield.study`` runs committed in docs/ (``docs/hopfield_study_float.json``, the
float weights at N = 256..11585, and the records with quantizers on the same networks); each holds its own
analysis (:func:`hopfield.study.analyze`, written by the command), from which everything here is printed, and
``python -m hopfield.compare`` pairs the one-quantizer records with the float one (:func:`ratio_rows`).  The
report's Hopfield stage quotes the same records (:func:`study_rows`, :func:`ratio_rows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Published values the float alpha_inf is compared with: replica symmetric (Amit, Gutfreund, Sompolinsky 1987),
#: one-step replica-symmetry breaking and the simulations reported by Steffan and Kuhn (1994).
RS, RSB1, SIM, SIM_SE = 0.137905, 0.138186, 0.145, 0.009
TARGET_HALF_WIDTH = 0.003  # issue 12: alpha_inf for float within +-0.003


#: The committed record of ``python -m hopfield.study`` for float weights at N = 256..8192 (stability protocol,
#: nu fitted); the report quotes its alpha_inf.
STUDY_RECORD = Path(__file__).resolve().parent.parent / "docs" / "hopfield_study_float.json"
#: Records of the same command with the quantizers on the same networks as float (their ratios to float are quoted).
STUDY_EXTRA = [STUDY_RECORD.with_name(n) for n in ("hopfield_study.json", "hopfield_study_quantizers.json",
                                                   "hopfield_study_3bit.json")]


LIMIT_RECORD = STUDY_RECORD.with_name("hopfield_sweep_limit.json")  # tools/check_sweep_limit.py
#: ``python -m hopfield.compare``: each quantizer's own study (its loads where its transition lies) against the float
#: record on the same networks, paired ratios on their common sizes.
RATIO_RECORD = STUDY_RECORD.with_name("hopfield_study_ratios.json")


def limit_sentence(path: Path = LIMIT_RECORD) -> str:
    """Whether the sweep limit of the stability protocol changes the retrieved fraction, from the committed check."""
    import json

    if not Path(path).exists():
        return ""
    rec = json.loads(Path(path).read_text())
    rows = rec["rows"]
    d = max(abs(r["retrieved_high"] - r["retrieved_low"]) for r in rows)
    ms = [r["m_max_at_limit"] for r in rows if r["m_max_at_limit"] is not None]
    sizes = sorted({r["N"] for r in rows})
    alphas = sorted({r["alpha"] for r in rows})
    where = f"N = {', '.join(map(str, sizes))}, alpha = {', '.join(f'{a:g}' for a in alphas)}"
    top = max(ms) if ms else None
    harmless = d == 0 and (top is None or top < rec["m_star"])
    src = f"{where}; [docs/{Path(path).name}](docs/{Path(path).name}), `{rec['command']}`"
    if harmless:
        return (f" The sweep limit decides nothing here: on the same networks with the limit raised from {rec['low']} to "
                f"{rec['high']} sweeps ({src}) the retrieved fraction is the same, and the probes that hit "
                f"{rec['low']} sweeps had m <= {top if top is not None else 0:.2f}, below m* = {rec['m_star']:g}.")
    return (f" The sweep limit matters: with it raised from {rec['low']} to {rec['high']} sweeps on the same networks "
            f"({src}) the retrieved fraction changes by up to {d:.4f}"
            + (f", and a probe that hit the limit had m = {top:.2f}" if top is not None else "") + ".")

def study_rows(path: Path = STUDY_RECORD) -> dict[str, Any] | None:
    """The finite-size fits of the committed study record, per criterion and quantizer (None without a record)."""
    import json

    if not Path(path).exists():
        return None
    rec = json.loads(Path(path).read_text())
    rows = []
    for crit, per_q in rec.get("analysis", {}).items():
        for q, e in per_q.items():
            f = e.get("fit")
            if not f:
                continue
            h, t = e.get("fit_nu_1/2") or {}, e.get("fit_nu_2/3") or {}
            rows.append(dict(criterion=crit, quantizer=q, alpha_inf=f["alpha_inf"], lo=f["alpha_inf_lo"],
                             hi=f["alpha_inf_hi"], nu=f["nu"], nu_lo=f["nu_lo"], nu_hi=f["nu_hi"], chi2=f["chi2"],
                             dof=f["dof"], alpha_inf_half=h.get("alpha_inf"), alpha_inf_two_thirds=t.get("alpha_inf"),
                             by_min_size=[{k: g[k] for k in ("N_min", "alpha_inf", "alpha_inf_lo", "alpha_inf_hi", "nu", "nu_lo", "nu_hi",
                                                             "chi2", "dof")} for g in e.get("fit_by_min_size") or []]))
    ratios = []
    for q, e in rec.get("analysis", {}).get("fraction", {}).items():
        last = (e.get("sizes") or [{}])[-1]
        if "ratio" not in last or "theory_ratio" not in e:
            continue
        free, half = e.get("ratio_inf") or {}, e.get("ratio_inf_nu_1/2") or {}
        ratios.append(dict(quantizer=q, rho=e["rho"], theory_alpha_c=e["theory_alpha_c"], theory_ratio=e["theory_ratio"],
                           N=last["N"], ratio=last["ratio"], ratio_lo=last["ratio_lo"], ratio_hi=last["ratio_hi"],
                           half=half.get("ratio"), half_lo=half.get("lo"), half_hi=half.get("hi"),
                           free=free.get("ratio"), free_lo=free.get("lo"), free_hi=free.get("hi")))
    return dict(config=rec["config"], rows=rows, ratios=ratios, networks=len(rec.get("runs", {})),
                done_sizes=sorted({int(k.split("/")[0]) for k in rec.get("runs", {})}),
                interrupted=bool(rec.get("interrupted")),
                seconds=float(sum(rec.get("seconds", {}).values())), path=str(Path(path).name))


def ratio_rows(path: Path = RATIO_RECORD) -> dict[str, Any] | None:
    """The quantized-over-float ratios of the committed comparison record (fraction criterion; None without one).

    ``stale`` lists the input records whose file no longer has the sha256 the comparison read."""
    import hashlib
    import json

    if not Path(path).exists():
        return None
    rec = json.loads(Path(path).read_text())
    root = Path(path).resolve().parent.parent
    inputs = [rec["reference"], *rec["records"]]
    stale, records = [], []  # each input read once: its checksum against the comparison's, and the record
    for i in inputs:
        f = root / i["path"]
        raw = f.read_bytes() if f.exists() else None
        if raw is None or hashlib.sha256(raw).hexdigest() != i["sha256"]:
            stale.append(i["path"])
        records.append(json.loads(raw) if raw is not None else None)
    rows = []
    for q, e in rec["analysis"]["fraction"].items():
        if not e.get("sizes"):
            continue
        last, fit = e["sizes"][-1], e.get("fit") or {}
        free, half = e.get("ratio_inf") or {}, e.get("ratio_inf_nu_1/2") or {}
        rows.append(dict(quantizer=q, rho=e["rho"], theory_alpha_c=e["theory_alpha_c"], theory_ratio=e["theory_ratio"],
                         own_sizes=e["own_sizes"], alpha_inf=fit.get("alpha_inf"), lo=fit.get("alpha_inf_lo"),
                         hi=fit.get("alpha_inf_hi"), nu=fit.get("nu"), chi2=fit.get("chi2"), dof=fit.get("dof"),
                         common=[r["N"] for r in e["sizes"]], N=last["N"], ratio=last["ratio"],
                         ratio_lo=last["ratio_lo"], ratio_hi=last["ratio_hi"], free=free.get("ratio"),
                         free_lo=free.get("lo"), free_hi=free.get("hi"), half=half.get("ratio"), half_lo=half.get("lo"),
                         half_hi=half.get("hi"), record=inputs[1 + e["record"]]["path"]))
        c = records[1 + e["record"]]  # how the quantizer's own study was run, from its record
        if c is not None:
            rows[-1]["run"] = dict(sizes=c["config"]["sizes"], window=c["config"].get("window"), alphas=c["config"]["alphas"],
                                   networks=c["config"]["networks"], seconds=float(sum(c.get("seconds", {}).values())))
    runs = [r["run"] for r in rows if "run" in r]
    return dict(rows=rows, command=rec["command"], date=rec["date"], reference=rec["reference"]["path"], stale=stale,
                path=str(Path(path).name), runs=runs)


def ratio_block(rr: dict) -> list[str]:
    """The README's paired-ratio table (one study per quantizer against the float record) and what it shows."""
    from .readme_blocks import _para, _table

    rows, notes, absolute = [], [], []
    for r in rr["rows"]:
        q = _label(r["quantizer"])
        rows.append([q, f"{r['rho']:.4f}", f"{r['theory_alpha_c']:.4f}", f"{r['theory_ratio']:.3f}",
                     f"{min(r['common'])}..{max(r['common'])}", _ci(r["alpha_inf"], r["lo"], r["hi"], ".4f"),
                     "-" if r["nu"] is None else f"{r['nu']:.2f} ({r['chi2']:.1f} / {r['dof']})",
                     _ci(r["ratio"], r["ratio_lo"], r["ratio_hi"]), _ci(r["free"], r["free_lo"], r["free_hi"]),
                     _ci(r["half"], r["half_lo"], r["half_hi"]), f"[{r['record']}]({r['record']})"])
        side = {"below": "above theory", "above": "below theory", "inside": "consistent with theory"}
        if r["alpha_inf"] is not None:
            p_fit = _chi2_sf(r["chi2"], r["dof"])
            absolute.append(f"{q} {side[_where(r['theory_alpha_c'], r['lo'], r['hi'])]} "
                            f"({_ci(r['alpha_inf'], r['lo'], r['hi'], '.4f')} against {r['theory_alpha_c']:.4f}"
                            + (f"; the fit's chi-square has p = {p_fit:.2g}, so one power of N describes these sizes "
                               "only roughly" if p_fit < 0.05 else "") + ")")
        if r["free"] is not None:
            notes.append(f"{q} {side[_where(r['theory_ratio'], r['free_lo'], r['free_hi'])]} "
                         f"({_ci(r['free'], r['free_lo'], r['free_hi'])} against {r['theory_ratio']:.3f})")
    ivs = [(r["quantizer"], r["free_lo"], r["free_hi"]) for r in rr["rows"] if r["free"] is not None]
    ties = [f"{_label(a)} and {_label(b)}" for i, (a, alo, ahi) in enumerate(ivs) for (b, blo, bhi) in ivs[i + 1:]
            if alo <= bhi and blo <= ahi]
    common = rr["rows"][0]["common"] if rr["rows"] else []
    text = (f"Quantized weights, one study per quantizer with its loads placed where its own transition lies, on the "
            f"networks of the float record (same seed and networks per size, so the bootstrap over networks is paired; "
            f"`{rr['command']}`, {rr['date']}, record [docs/{rr['path']}](docs/{rr['path']})). Each quantizer's own "
            "alpha_inf (alpha_inf + a N^-nu, nu free, profile likelihood) is beside theory's alpha_c(rho) (AGS with Sompolinsky's static noise "
            "1/rho^2 - 1); both, and the ratios to float, are taken on the sizes both records hold"
            + (f", N = {min(common)}..{max(common)}" if common else "")
            + (f" (the quantizer records also hold N = {', '.join(map(str, extra))}, below the float record's sizes)"
               if (extra := sorted({n for r in rr["rows"] for n in r["own_sizes"]} - set(common))) else "")
            + "; the ratios at the largest of them and extrapolated "
            "(alpha_inf / alpha_inf(float), each fitted with nu free per bootstrap replica, and with nu = 1/2).")
    if rr.get("runs"):
        r0 = rr["runs"][0]
        text += (f" Each quantizer's study: `python -m hopfield.study --sizes {' '.join(map(str, r0['sizes']))} --networks "
                 f"{r0['networks']} --quantizers Q --window C0 C1 H0 H1` on the grid {min(r0['alphas']):g}-{max(r0['alphas']):g} "
                 f"(step {r0['alphas'][1] - r0['alphas'][0]:.3g}), its loads within "
                 "C0 + C1/sqrt(N) +- (H0 + H1/sqrt(N)), the centre from that quantizer's alpha_c(N) in the earlier records: "
                 + "; ".join(f"{_label(r['quantizer'])} {r['run']['window']['center'][0]:g} + "
                             f"{r['run']['window']['center'][1]:g}/sqrt(N)" for r in rr["rows"] if r.get("run", {}).get("window"))
                 + f" (half-width {r0['window']['half'][0]:g} + {r0['window']['half'][1]:g}/sqrt(N) for all); "
                 f"{sum(r['seconds'] for r in rr['runs']) / 60:.0f} minutes of runs on 2 cores in all.")
    if rr["stale"]:
        text += f" The comparison is out of date: {', '.join(rr['stale'])} changed since it ran."
    out = [_para(text), _table(["weights", "rho (Gaussian optimum)", "theory alpha_c(rho)", "theory / float",
                                "N", "alpha_inf, nu free [95%]", "nu (chi-square / dof)",
                                f"alpha_c / float at N = {rr['rows'][0]['N'] if rr['rows'] else '-'}",
                                "alpha_inf / float, nu free", "alpha_inf / float, nu = 1/2", "record"], rows)]
    at_n = {k: [_label(r["quantizer"]) for r in rr["rows"] if _where(r["theory_ratio"], r["ratio_lo"], r["ratio_hi"]) == k]
            for k in ("below", "inside", "above")}
    finite = (f"At N = {rr['rows'][0]['N']} the measured ratio lies above theory for "
              + (", ".join(at_n["below"]) or "none") + ", below it for " + (", ".join(at_n["above"]) or "none")
              + ", and agrees for " + (", ".join(at_n["inside"]) or "none") + ". ") if rr["rows"] else ""
    verdict = (finite + "alpha_inf against theory's alpha_c(rho): " + "; ".join(absolute) + ". "
               "The extrapolated ratio (nu free): " + "; ".join(notes) + ". "
               + (("Cannot be told apart at this precision: " + "; ".join(ties) + ".") if ties else
                  "Every pair of quantizers is told apart (their intervals do not overlap)." if len(ivs) > 1 else ""))
    out.append(_para(verdict))
    return out


def loads_text(cfg: dict) -> str:
    """The loads of a study config in words: the grid, or the window of it that each size ran."""
    a = cfg["alphas"]
    w = cfg.get("window")
    if not w:
        return f"loads {min(a):g}-{max(a):g}"
    (c0, c1), (h0, h1) = w["center"], w["half"]
    return (f"loads from the grid {min(a):g}-{max(a):g} (step {a[1] - a[0]:.3g}) within {c0:g} + {c1:g}/sqrt(N) +- "
            f"({h0:g} + {h1:g}/sqrt(N)) at each N, where that size's transition lies")


def _where(v: float, lo: float, hi: float) -> str:
    return "below" if v < lo else "above" if v > hi else "inside"


def _chi2_sf(chi2: float, dof: int) -> float:
    from scipy.stats import chi2 as dist

    return float(dist.sf(chi2, dof)) if dof > 0 else float("nan")


def _ci(x: Any, lo: Any, hi: Any, fmt: str = ".3f") -> str:
    if x is None or lo is None or hi is None:
        return "-"
    return f"{x:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _label(q: str) -> str:
    return q.replace("lloyd_max", "Lloyd-Max")


def study_block(st: dict | None, extra: list[dict] | None, finite: str) -> str:
    """The report's own small finite-size sentence (``finite``), then the study's fits and ratios; ``finite`` alone
    for records without a study."""
    if not st:
        return finite
    cfg = st["config"]
    rows = {(r["criterion"], r["quantizer"]): r for r in st["rows"]}
    f = rows.get(("fraction", "float"))
    sizes = st.get("done_sizes") or cfg["sizes"]
    head = (f"**The capacity study** (`python -m hopfield.study`, record [docs/{st['path']}](docs/{st['path']}), "
            f"{cfg['protocol']} protocol: every stored pattern a probe, relaxed asynchronously to a fixed point, retrieved "
            f"when m >= {cfg['m_star']:g}, alpha_c where the retrieved fraction crosses 1/2; N = {min(sizes)}..{max(sizes)} "
            f"({len(sizes)} sizes, a factor of {max(sizes) / min(sizes):.3g}), {st['networks']} networks in all, "
            f"{loads_text(cfg)}, {st['seconds'] / 60:.0f} minutes of runs on 2 cores"
            + (", stopped before every size had all its networks" if st.get("interrupted") else "") + ").")
    if f:
        half = (f["hi"] - f["lo"]) / 2
        head += (f" Float weights, alpha_inf + a N^-nu with nu free: alpha_inf = {_ci(f['alpha_inf'], f['lo'], f['hi'], '.4f')} "
                 f"(profile likelihood over a and nu; nu = {_ci(f['nu'], f['nu_lo'], f['nu_hi'], '.2f')}, chi-square "
                 f"{f['chi2']:.1f} on {f['dof']} dof), against {RS} (replica symmetric), {RSB1} (one-step RSB) and "
                 f"{SIM} +- {SIM_SE} (simulations; Steffan and Kuhn 1994). With the exponent fixed, nu = 1/2 gives "
                 f"{f['alpha_inf_half']:.4f} and nu = 2/3 gives {f['alpha_inf_two_thirds']:.4f}: the choice of exponent "
                 f"moves the answer by {abs(f['alpha_inf_two_thirds'] - f['alpha_inf_half']):.3f}. The target of +-"
                 f"{TARGET_HALF_WIDTH} with nu free is "
                 + (f"met by this fit (half-width {half:.4f})." if half <= TARGET_HALF_WIDTH else
                    f"not met (half-width {half:.3f}): over these sizes the exponent is known only to "
                    f"[{f['nu_lo']:.2f}, {f['nu_hi']:.2f}], and the interval carries that."))
        by = f.get("by_min_size") or []
        if len(by) > 1:
            lo, hi = min(g["alpha_inf_lo"] for g in by), max(g["alpha_inf_hi"] for g in by)
            c_lo, c_hi = min(g["alpha_inf"] for g in by), max(g["alpha_inf"] for g in by)
            s_lo = f["lo"] - max(0.0, f["alpha_inf"] - c_lo)
            s_hi = f["hi"] + max(0.0, c_hi - f["alpha_inf"])
            wide = max(by, key=lambda g: g["alpha_inf_hi"] - g["alpha_inf_lo"])
            p_fit = _chi2_sf(f["chi2"], f["dof"])
            head += (f" The fit's chi-square has p = {p_fit:.2g}, and the smallest sizes carry the largest corrections to "
                     "scaling, so the fit was repeated with them dropped one by one: "
                     + "; ".join(f"N >= {g['N_min']}: {_ci(g['alpha_inf'], g['alpha_inf_lo'], g['alpha_inf_hi'], '.4f')} "
                                 f"(nu = {g['nu']:.2f}, chi-square {g['chi2']:.1f} / {g['dof']})" for g in by)
                     + f". Their estimates lie in [{c_lo:.4f}, {c_hi:.4f}]. Counting the choice of range as that shift (the "
                     f"largest shifts below and above added to the fit's interval): alpha_inf = {f['alpha_inf']:.4f} in "
                     f"[{s_lo:.4f}, {s_hi:.4f}] (half-width {(s_hi - s_lo) / 2:.4f}), "
                     + ("within the target." if (s_hi - s_lo) / 2 <= TARGET_HALF_WIDTH else
                        "not within the target: the choice of range moves alpha_inf by more than it.")
                     + f" The stricter union of all these intervals, [{lo:.4f}, {hi:.4f}] (half-width {(hi - lo) / 2:.4f}), "
                     + ("is within it too." if (hi - lo) / 2 <= TARGET_HALF_WIDTH else
                        f"is not: the widest, N >= {wide['N_min']}, spans a factor of {max(sizes) / wide['N_min']:.3g} and "
                        f"leaves nu at {wide['nu']:.2f} [{wide['nu_lo']:.2f}, {wide['nu_hi']:.2f}], so its width is that "
                        "fit's statistical uncertainty more than a shift of the estimate.")
                     + f" The replica-symmetric {RS} and one-step RSB {RSB1} lie "
                     + (f"{_where(RS, s_lo, s_hi)}" if _where(RS, s_lo, s_hi) == _where(RSB1, s_lo, s_hi) else
                        f"{_where(RS, s_lo, s_hi)} and {_where(RSB1, s_lo, s_hi)}")
                     + f" the range with the shift counted; the simulations' {SIM} +- {SIM_SE} "
                     + ("contains it." if SIM - SIM_SE <= s_lo and s_hi <= SIM + SIM_SE else
                        "overlaps it." if SIM - SIM_SE <= s_hi and s_lo <= SIM + SIM_SE else "lies apart from it."))
        head += limit_sentence()
    rr = ratio_rows()
    paired = {r["quantizer"] for r in rr["rows"]} if rr else set()
    best: dict[str, tuple] = {}  # each quantizer from the record where it reached the largest N (the first on ties)
    for rec in [st, *(extra or [])]:
        for r in rec["ratios"]:
            if r["quantizer"] in paired:
                continue
            if r["quantizer"] != "float" and (r["quantizer"] not in best or r["N"] > best[r["quantizer"]][0]["N"]):
                best[r["quantizer"]] = (r, rec)
    old_rows, notes = [], []
    for r, rec in best.values():
        old_rows.append([_label(r["quantizer"]), f"{r['rho']:.4f}", f"{r['theory_ratio']:.3f}", str(r["N"]),
                         _ci(r["ratio"], r["ratio_lo"], r["ratio_hi"]), _ci(r["half"], r["half_lo"], r["half_hi"]),
                         f"[docs/{rec['path']}](docs/{rec['path']})"])
        if r["ratio_lo"] > r["theory_ratio"]:
            notes.append(f"{_label(r['quantizer'])} (N = {r['N']}) above theory by {r['ratio'] - r['theory_ratio']:.3f}")
        elif r["ratio_hi"] < r["theory_ratio"]:
            notes.append(f"{_label(r['quantizer'])} (N = {r['N']}) below theory by {r['theory_ratio'] - r['ratio']:.3f}")
    from .readme_blocks import _para, _table

    out = [_para(" ".join(finite.split()) + " The exponent is assumed there; the study below fits it."), _para(head)]
    fig = STUDY_RECORD.with_suffix(".png")
    if fig.exists():  # written beside the record by the command's --figure
        out.append(f"![alpha_c(N) of the float study against N^-nu with its fits](docs/{fig.name})")
    if rr:
        out.extend(ratio_block(rr))
    if old_rows:
        if rr:
            out.append(_para("The other quantizers, from the earlier records with every quantizer on one load grid:"))
        out.append(_table(["weights", "rho (a-priori optimum, Gaussian)", "theory alpha_c(rho) / float",
                           "N", "measured alpha_c / float at N [95% CI, paired bootstrap]",
                           "extrapolated with nu = 1/2 [95% CI]", "record"], old_rows))
        out.append(_para("Measured ratios outside their interval from theory: " + ("; ".join(notes) if notes else "none")
                         + ". Whether such a gap closes as N grows cannot be decided from these sizes."))
    return "\n\n".join(out)
