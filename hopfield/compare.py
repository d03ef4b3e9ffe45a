"""Quantized capacity against float across study records run on the same networks: paired ratios.

``python -m hopfield.compare docs/hopfield_study_float.json docs/hopfield_study_sign.json ... --out
docs/hopfield_study_ratios.json``

Each quantizer's study can place its loads where its own transition lies (``--window``), so it is a record
of its own; with the same seed, protocol and per-size network count as the float record, its networks are
the float record's networks (a network's patterns depend only on the seed, N and its index), and the
bootstrap replicas of both (resampled networks seeded by N) are paired.  On the sizes both records hold,
this gives alpha_c / alpha_c(float) per size and alpha_inf / alpha_inf(float) (each fitted alpha_inf +
a N^-nu, nu free per replica, and nu = 1/2), with percentile intervals, beside the theory ratio
``theory.predicted_capacity(rho) / 0.138`` (Sompolinsky 1986's static synaptic noise), and the quantizer's own
alpha_inf (nu free) fitted on the same sizes.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .scaling import fit_finite_size
from .study import CRITERIA, paired_ratios, parse_quantizer, quantizer_label, size_boots, theory_capacity

#: Config keys that must agree for two records to share their networks and their retrieval rule.
SHARED = ("seed", "protocol", "m0", "m_star", "max_sweeps", "order")


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _restrict(b: dict, sizes: list[int]) -> dict:
    """The paired-bootstrap entry ``b`` of :func:`hopfield.study.size_boots` on the sizes ``sizes`` only."""
    idx = [b["sizes"].index(n) for n in sizes]
    return dict(N=b["N"][idx], w=b["w"][idx], ac=b["ac"][idx], reps=b["reps"][:, idx], sizes=list(sizes))


def compare(ref: dict, recs: list[dict], *, n_boot: int = 200) -> dict:
    """Per criterion and quantizer of ``recs``: the ratios to ``ref``'s float on their common sizes (see module)."""
    rq = ref["config"]["quantizers"]
    if "float" not in rq:
        raise ValueError("reference: the record has no float weights to compare with")
    _, th_float = theory_capacity("float")
    out: dict[str, Any] = {}
    for crit in CRITERIA:
        _, bf = size_boots(ref, rq.index("float"), crit, n_boot=n_boot)
        per_q: dict[str, Any] = {}
        for i, rec in enumerate(recs):
            cfg = rec["config"]
            bad = [k for k in SHARED if cfg.get(k) != ref["config"].get(k)]
            if bad or cfg["networks"] != ref["config"]["networks"]:
                raise ValueError(f"records[{i}]: not run on the reference's networks (differs in "
                                 f"{', '.join(bad) or 'networks'})")
            for qi, qname in enumerate(cfg["quantizers"]):
                if qname == "float":
                    continue
                rows, bq = size_boots(rec, qi, crit, n_boot=n_boot)
                label = quantizer_label(parse_quantizer(qname))
                rho, th = theory_capacity(qname)
                e: dict[str, Any] = dict(rho=rho, theory_alpha_c=th, theory_ratio=th / th_float, record=i)
                e["own_sizes"] = [r["N"] for r in rows]
                common = [] if bq is None or bf is None else [n for n in bq["sizes"] if n in bf["sizes"]]
                e["sizes"] = [r for r in rows if r["N"] in common]
                e["fit"] = None  # alpha_inf of the quantizer, nu free, on the sizes of its ratios to float
                if len(common) >= 3:
                    c = _restrict(bq, common)
                    paired_ratios(e, c, _restrict(bf, common), e["theory_ratio"])
                    if len(common) >= 4:
                        e["fit"] = fit_finite_size(c["N"], c["ac"], 1 / np.sqrt(c["w"]))
                per_q[label] = e
        out[crit] = per_q
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="Quantized alpha_c and alpha_inf over float's, paired across study "
                                             "records run on the same networks.")
    ap.add_argument("reference", help="a hopfield.study record with float weights")
    ap.add_argument("records", nargs="+", help="hopfield.study records with quantizers (same seed and networks)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the networks")
    a = ap.parse_args(argv)
    try:
        if a.n_boot < 2:
            raise ValueError(f"n-boot must be at least 2, got {a.n_boot}")
        loaded = []
        for p in [a.reference, *a.records]:
            try:
                loaded.append(json.loads(Path(p).read_text()))
            except (OSError, json.JSONDecodeError) as e:
                raise ValueError(f"{p}: cannot read a study record ({e.__class__.__name__})") from None
        res = compare(loaded[0], loaded[1:], n_boot=a.n_boot)
    except ValueError as e:
        print(f"hopfield.compare: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    rec = dict(command="python -m hopfield.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
               date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               reference=dict(path=a.reference, sha256=_sha(a.reference)),
               records=[dict(path=p, sha256=_sha(p)) for p in a.records], n_boot=a.n_boot, analysis=res)
    tmp = a.out + ".tmp"
    Path(tmp).write_text(json.dumps(rec))
    Path(tmp).replace(a.out)
    for q, e in res["fraction"].items():
        r = e.get("ratio_inf") or {}
        print(f"{q:18s} alpha_inf / float (N = {e['sizes'][0]['N'] if e['sizes'] else '-'}..): "
              f"{r.get('ratio', float('nan')):.3f} [{r.get('lo', float('nan')):.3f}, {r.get('hi', float('nan')):.3f}]"
              f"; theory {e['theory_ratio']:.3f}")
    return rec


if __name__ == "__main__":
    main()
