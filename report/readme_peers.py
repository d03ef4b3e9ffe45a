"""README blocks for issue 13: corrquant against HQQ and torchao (docs/peers.json, written by
``benchmarks/bench_peers.py``) and the smallest bits within 1 point with the recipe options, per
channel and per group (the ``option_headline`` of the report's deepnets stage, when the record
has one).  Each function takes the record's fields and returns Markdown; nothing is typed in.
"""

from __future__ import annotations

import re

from .readme_blocks import _model, _para, _table


def _tool(tool: str) -> str:
    return tool.removeprefix("corrquant ")


def cell_word(at: dict | None) -> str:
    """"win" (at or above the best peer), "loss (within 2 SE)" or "loss"; "no recipe at <= bits" without a candidate."""
    if at is None:
        return "no recipe at <= bits"
    if at["diff"] >= 0:
        return "win"
    return "loss (within 2 SE)" if -at["diff"] < 2 * at["paired_se"] else "loss"


def peers_block(peers: dict) -> str:
    cells = peers["cells"]
    parts = peers["parts"]
    v = parts[0]["versions"]
    n = sorted({p["n"] for p in parts})
    cmds = "; ".join(f"`{p['command']}` ({p['date']})" for p in parts)
    if len(parts) > 1:  # one run per model and granularity, merged: the pattern, the dates, the merge command
        pat = {re.sub(r"--(models|granularity|json) \S+", lambda m: f"--{m.group(1)} {m.group(1).upper()}", p["command"])
               for p in parts}
        dates = sorted(p["date"] for p in parts)
        cmds = (" / ".join(f"`{c}`" for c in sorted(pat)) + f", one run per model and granularity ({len(parts)} runs, "
                f"{dates[0]} to {dates[-1]}, {sum(p['seconds'] for p in parts):.0f} s in all)")
        if peers.get("merge"):
            merged = re.sub(r"--merge( \S+\.json)+", "--merge PARTS.json", peers["merge"])
            cmds += f", merged by `{merged}`"
    lead = _para(
        f"**Against the data-free peers** (HQQ {v['hqq']}, torchao {v['torchao']}, torch {v['torch']}; "
        f"{' / '.join(f'{x:,}' for x in n)} Fashion-MNIST test images; every Conv/Linear weight quantized by every tool "
        "in the same groups, BatchNorm unfolded; bpw = effective bits per weight, counting every scale, zero point and "
        "codebook entry as each tool stores it). For each cell: the best peer, and the best corrquant recipe whose bpw is "
        "at most that peer's, with the difference and its paired standard error (the same images). Commands: " + cmds + ".")
    rows = []
    for c in cells:
        bp, at = c["best_peer"], c["at_peer_bits"]
        ours = "-" if at is None else f"{at['top1']:.1f} at {at['bits_per_weight']:.2f} (`{_tool(at['tool'])}`)"
        diff = "-" if at is None else f"{at['diff']:+.2f} +- {at['paired_se']:.2f}"  # 0.01 point = 1 image in 10,000
        rows.append([f"{_model(c['model'])} ({c['float_top1']:.1f})", c["granularity"], c["bits"],
                     f"{bp['top1']:.1f} at {bp['bits_per_weight']:.2f} ({bp['tool']})", ours, diff, cell_word(at)])
    table = _table(["model (float)", "granularity", "bits", "best peer (top-1 at bpw)", "corrquant at <= its bpw",
                    "difference", "verdict"], rows)
    words = [cell_word(c["at_peer_bits"]) for c in cells]
    wins, near = words.count("win"), words.count("loss (within 2 SE)")
    losses = [c for c, w in zip(cells, words, strict=True) if w not in ("win", "loss (within 2 SE)")]
    lost = ", ".join(f"{_model(c['model'])} {c['granularity']} {c['bits']} bits" for c in losses) or "none"
    summary = _para(f"corrquant is at or above the best peer at no more bits in **{wins} of {len(cells)}** cells; "
                    f"{near} more are losses within two paired standard errors; losses beyond that: {lost}.")
    return "\n\n".join([lead, table, summary])


def options_table(deep: dict) -> str:
    """Smallest bits within 1 point with the recipe options, one row per model, per granularity ("" without them)."""
    heads = deep.get("option_headline")
    if not heads:
        return ""
    grans = list(heads)
    methods = sorted({r["method"] for g in grans for r in heads[g]})
    opts = next((r.get("options", {}) for g in grans for r in heads[g]), {})
    hl = {(g, r["model"], r["method"]): r for g in grans for r in heads[g]}

    def cell(r: dict | None) -> str:
        return "-" if r is None or r["bits"] is None else f"{r['bits']} bits, {r['ratio']:.2f}x"

    table = _table(["model"] + [f"{m}, {g}" for g in grans for m in methods],
                   [[_model(m)] + [cell(hl.get((g, m, meth))) for g in grans for meth in methods] for m in deep["models"]])
    lead = _para("Smallest bit width within 1 point of float with the recipe options of issue 13 "
                 f"({', '.join(f'{k}={v}' for k, v in opts.items())}; `affine` = the maximum-rho affine grid per group, "
                 "BatchNorm folded), per output channel and per group, and the compression of the packed file:")
    return "\n\n".join([lead, table])
