"""corrquant against the data-free weight quantizers people use (HQQ, torchao), side by side in one process.

Usage: ``python benchmarks/bench_peers.py [--models mlp vgg resnet mobilenet] [--bits 2 3 4]
[--granularity channel group:64] [--n 1000] [--recipes ...] [--json FILE] [--markdown FILE]``;
``python benchmarks/bench_peers.py --merge A.json B.json ... --json docs/peers.json`` renders one
table from partial runs (each part keeps its own command and date).

Needs the ``peers`` extra (``pip install -e .[peers]``: ``hqq`` and ``torchao``; install them
with ``--no-deps`` beside a CPU-only torch, see ``docs/benchmarks.md``).

What runs, for every committed model (``deepnets.MODELS``, ``deepnets.load_pretrained``, the
Fashion-MNIST test set through ``deepnets.test_subset``) at every bit width and granularity:

- **corrquant**: ``deepnets.quantize`` with each recipe of ``--recipes`` (BatchNorm left
  unfolded, as for the peers).  A recipe ``A@F,B`` uses ``A`` on layers whose fan-in per output
  channel is at most ``F`` and ``B`` on the others (any number of tiers; a layer-name mapping of
  ``QuantConfig`` objects, data-free like every recipe).
- **HQQ** (Badri & Shaji 2023, half-quadratic quantization, data-free): its core
  ``hqq.core.quantize.Quantizer.quantize`` (``optimize=True``, ``axis=1``, ``device="cpu"``) on
  each weight reshaped to ``(out, in*kh*kw)``; HQQ has no Conv2d layer.  Scale and zero are
  rounded to float16 before decoding, as ``HQQLinear`` stores them (its default compute dtype).
- **torchao**: ``quantize_(IntxWeightOnlyConfig(weight_dtype=torch.intB, granularity=PerAxis(0)
  | PerGroup(g), mapping_type=ASYMMETRIC))`` on an ``nn.Linear`` holding the same reshaped
  weight (torchao's Conv2d path groups along input channels only and refuses convs with one
  input channel per group, so the 2-D form gives it every layer); decoded with ``dequantize()``.

Every tool quantizes the same layers in the same groups: all Conv2d and Linear weights, per
output channel, or in groups of ``g`` consecutive entries of each output channel's flattened
``in*kh*kw`` weights.  A layer whose fan-in is not a multiple of ``g`` (the peers cannot split
it) is quantized per output channel by every tool; those layers are listed.

**Effective bits per weight** = (codes at their bit width, packed, + every scale, zero point
and codebook entry at the dtype the tool keeps it in) / quantized weights: corrquant's
codebook tables (``LayerQuant.book``, what ``deepnets.save`` writes: float16 factors and no
thresholds with ``+fp16``, i.e. ``QuantConfig(codebook="float16")``, else float32); HQQ's float16 scale and
zero per group; torchao's float32 scale and int8 zero point per group.  torchao's
``IntxUnpackedToInt8Tensor`` holds the codes unpacked in int8 in memory; they are counted at
B bits here, as for the others.  **Quantize s** is the wall-clock of quantizing every layer
(excluding evaluation) on 1 torch thread.  Top-1 is on the first ``--n`` test images; a
difference between two tools on the same images has the paired standard error
``sqrt(b + c - (b - c)**2 / n) / n`` (b, c: images only one of the two gets right; McNemar's
pairs), reported beside every verdict.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time

import torch
from torch import nn

import deepnets
import theory
from deepnets.bias_correction import bias_correct
from deepnets.quantize import weight_layers
from deepnets.storage import packed_nbytes

DEFAULT_RECIPES = ("minmax+fp16", "uniform+unbiased+fp16", "lloyd_max+unbiased+fp16+bc", "lloyd_max+unbiased+offset+own+fp16",
                   "affine+unbiased+fp16", "affine+unbiased+fp16+bc", "affine+unbiased+fp16@32,lloyd_max+unbiased+fp16+bc",
                   "affine+unbiased+fp16@9,lloyd_max+unbiased+offset+own+fp16@32,lloyd_max+unbiased+fp16+bc")


def parse_recipe(text: str, bits: int) -> tuple[theory.Recipe, str]:
    """``"method[+unbiased][+own][+offset][+fp16][+bc]"`` at ``bits`` bits -> (a :class:`theory.Recipe`, codebook dtype).

    ``own``: shared_shape=False; ``fp16``: ``QuantConfig(codebook="float16")``; ``bc`` (read by the
    caller): data-free bias correction from BatchNorm statistics (``deepnets.bias_correction``).
    """
    method, *opts = text.split("+")
    kw, book = {}, "float32"
    for o in opts:
        if o in ("fp16", "bc"):
            book = {"fp16": "float16", "bc": book}[o]
            continue
        if o == "unbiased":
            kw["gain"] = "unbiased"
        elif o in ("mse",):
            kw["gain"] = o
        elif o == "own":
            kw["shared_shape"] = False  # each group its own rho-optimal shape (Lloyd-Max shares one by default)
        else:
            kw[o] = True  # boolean recipe options, e.g. offset
    return theory.Recipe(method, None if method in ("sign", "ternary") else bits, **kw), book


def parse_tiers(text: str, bits: int) -> list[tuple[int | None, theory.Recipe, str]]:
    """``"A@F,B"`` -> [(F, recipe A, dtype), (None, recipe B, dtype)]: the first tier whose F >= a layer's fan-in applies."""
    tiers = []
    parts = text.split(",")
    for i, part in enumerate(parts):
        spec, _, f = part.partition("@")
        if (not f) != (i == len(parts) - 1):
            raise ValueError(f"recipe {text!r}: every tier but the last needs '@FAN_IN', the last none")
        tiers.append((int(f) if f else None, *parse_recipe(spec, bits)))
    return tiers


def layer_plan(model: nn.Module, granularity: str) -> tuple[list[tuple[str, nn.Module, int | None]], list[str]]:
    """[(name, module, group size or None = per channel)] and the names that fall back to per channel."""
    g = None if granularity == "channel" else int(granularity.split(":")[1])
    plan, fallback = [], []
    for name, m in weight_layers(model):
        fan_in = m.weight[0].numel()
        if g is not None and fan_in % g:
            fallback.append(name)
            plan.append((name, m, None))
        else:
            plan.append((name, m, g))
    return plan, fallback


def _set_weights(model: nn.Module, new: dict[str, torch.Tensor]) -> nn.Module:
    with torch.no_grad():
        for name, m in weight_layers(model):
            if name in new:
                m.weight.copy_(new[name].reshape(m.weight.shape).to(m.weight.dtype))
    return model


def run_corrquant(model: nn.Module, plan: list, spec: tuple, override: dict | None = None) -> tuple[nn.Module, float, float]:
    """(quantized model, effective bits per weight, seconds); ``spec = (tiers, bias correction, input shape)`` (:func:`parse_tiers`);
    ``override``: layer name -> tiers used for that layer instead."""
    tiers, bc, input_shape = spec

    def tier(name, m):
        fan_in = m.weight[0].numel()
        return next((r, b) for f, r, b in (override or {}).get(name, tiers) if f is None or fan_in <= f)

    config = {}
    for name, m, g in plan:
        recipe, book = tier(name, m)
        config[name] = deepnets.QuantConfig(recipe, granularity="channel" if g is None else deepnets.PerGroup(g), codebook=book)
    t = time.perf_counter()
    qmodel, _ = deepnets.quantize(model, config)
    if bc:  # data-free: zeros only let the correction read the graph
        bias_correct(model, qmodel, torch.zeros(1, *input_shape))
    dt = time.perf_counter() - t
    state = qmodel.corrquant
    nbits = sum(8 * (packed_nbytes(lq.codes.size, lq.bits) + lq.book.nbytes) for lq in state.layers.values())
    n = sum(lq.codes.size for lq in state.layers.values())
    return qmodel, nbits / n, dt


def run_hqq(model: nn.Module, plan: list, bits: int) -> tuple[nn.Module, float, float]:
    from hqq.core.quantize import Quantizer

    new, nbits, n, dt = {}, 0, 0, 0.0
    for name, m, g in plan:
        w2 = m.weight.detach().reshape(m.weight.shape[0], -1).float()
        gs = w2.shape[1] if g is None else g
        t = time.perf_counter()
        wq, meta = Quantizer.quantize(w2, nbits=bits, channel_wise=True, group_size=gs, optimize=True, axis=1,
                                      bitpack=False, compute_dtype=torch.float32, device="cpu")
        dt += time.perf_counter() - t
        meta["scale"] = meta["scale"].half().float()  # HQQLinear keeps scale and zero in its compute dtype (float16)
        meta["zero"] = meta["zero"].half().float()
        meta["compute_dtype"] = torch.float32
        new[name] = Quantizer.dequantize(wq, meta)
        groups = w2.numel() // gs
        nbits += bits * w2.numel() + 2 * 16 * groups
        n += w2.numel()
    return _set_weights(_copy(model), new), nbits / n, dt


def run_torchao(model: nn.Module, plan: list, bits: int) -> tuple[nn.Module, float, float]:
    from torchao.quantization import IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup
    from torchao.quantization.quant_primitives import MappingType

    new, nbits, n, dt = {}, 0, 0, 0.0
    for name, m, g in plan:
        w2 = m.weight.detach().reshape(m.weight.shape[0], -1).float()
        lin = nn.Linear(w2.shape[1], w2.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w2)
        gran = PerAxis(0) if g is None else PerGroup(g)
        t = time.perf_counter()
        quantize_(lin, IntxWeightOnlyConfig(weight_dtype=getattr(torch, f"int{bits}"), granularity=gran,
                                            mapping_type=MappingType.ASYMMETRIC))
        dt += time.perf_counter() - t
        qw = lin.weight
        new[name] = qw.dequantize().detach()
        side = sum(8 * getattr(qw, k).numel() * getattr(qw, k).element_size() for k in ("scale", "zero_point"))
        nbits += bits * w2.numel() + side
        n += w2.numel()
    return _set_weights(_copy(model), new), nbits / n, dt


PEERS = {"HQQ": run_hqq, "torchao": run_torchao}


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


@torch.no_grad()
def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """(n,) bool: which images ``model`` classifies right (top-1)."""
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(y), batch)])


def paired_se(a: torch.Tensor, b: torch.Tensor) -> float:
    """Standard error (points) of top1(a) - top1(b) on the same images: ``sqrt(n10 + n01 - (n10 - n01)^2 / n) / n``."""
    n, n10, n01 = a.numel(), int((a & ~b).sum()), int((~a & b).sum())
    return 100.0 * math.sqrt(max(n10 + n01 - (n10 - n01) ** 2 / n, 0.0)) / n


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(deepnets.MODELS))
    ap.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--granularity", nargs="+", default=["channel", "group:64", "group:128"])
    ap.add_argument("--n", type=int, default=3000, help="test images (the first n of Fashion-MNIST's 10,000)")
    ap.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES),
                    help="corrquant recipes 'method[+unbiased][+OPTION]', tiers 'A@FAN_IN,B' (default: %(default)s)")
    ap.add_argument("--peers", nargs="+", default=["hqq", "torchao"])
    ap.add_argument("--merge", nargs="+", default=None, help="render one record from these partial --json records (runs nothing)")
    ap.add_argument("--json", default=None, help="write the record (rows, cells, command, date, versions) as JSON here")
    ap.add_argument("--markdown", default=None, help="write the markdown tables here")
    a = ap.parse_args(argv)
    if a.merge:
        record = merge([json.load(open(f)) for f in a.merge])
        record["merge"] = "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:])
    else:
        record = run(a)
    write_record(record, render(record), a.json, a.markdown)
    return record


def write_record(record: dict, md: str, json_path: str | None, md_path: str | None) -> None:
    """Print the markdown ``md`` of ``record``; write the record as JSON and the markdown where asked."""
    print(md)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    if md_path:
        with open(md_path, "w") as f:
            f.write(md)


def _versions() -> dict:
    out = {"torch": torch.__version__}
    for mod in ("hqq", "torchao"):
        try:
            from importlib.metadata import version

            out[mod] = version(mod)
        except Exception:  # noqa: BLE001 - a peer not installed: its column stays empty
            out[mod] = None
    return out


def run(a) -> dict:
    torch.set_num_threads(1)
    x, y = deepnets.test_subset("fashion_mnist", a.n)
    rows, cells = [], []
    start = time.perf_counter()
    for mname in a.models:
        model = deepnets.load_pretrained(mname, "fashion_mnist")
        top_float = 100.0 * float(correct(model, x, y).float().mean())
        for gran in a.granularity:
            plan, fallback = layer_plan(model, gran)
            for bits in a.bits:
                runs = [(f"corrquant {r}", run_corrquant, (parse_tiers(r, bits), "+bc" in r, tuple(x.shape[1:]))) for r in a.recipes]
                runs += [(t, PEERS[t], bits) for t in ("HQQ", "torchao") if t.lower() in a.peers]
                hits = {}
                for tool, fn, arg in runs:
                    qm, bpw, dt = fn(model, plan, arg)
                    hits[tool] = correct(qm, x, y)
                    top1 = 100.0 * float(hits[tool].float().mean())
                    row = {"model": mname, "granularity": gran, "bits": bits, "tool": tool, "top1": top1,
                           "bits_per_weight": bpw, "quantize_s": dt, "float_top1": top_float, "n": int(y.shape[0]),
                           "per_channel_fallback": fallback}
                    rows.append(row)
                    print(f"{mname:9s} {gran:9s} {bits}b {tool:40s} top1 {top1:6.2f}  bpw {bpw:5.3f}  {dt:7.3f}s", flush=True)
                cells.append(verdict([r for r in rows if (r["model"], r["granularity"], r["bits"]) == (mname, gran, bits)], hits))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    part = {"command": "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:]), "date": now,
            "seconds": round(time.perf_counter() - start, 1), "n": int(y.shape[0]), "versions": _versions(),
            "models": list(a.models)}
    return {"parts": [part], "cells": cells, "rows": rows}


def verdict(cell: list[dict], hits: dict) -> dict:
    """One (model, granularity, bits) cell: the best corrquant run overall and at <= the best peer's bpw, vs that peer."""
    cq = [r for r in cell if r["tool"].startswith("corrquant")]
    peers = [r for r in cell if not r["tool"].startswith("corrquant")]
    r0 = cell[0]
    out = {"model": r0["model"], "granularity": r0["granularity"], "bits": r0["bits"], "float_top1": r0["float_top1"], "n": r0["n"]}
    best = max(cq, key=lambda r: r["top1"]) if cq else None
    bp = max(peers, key=lambda r: r["top1"]) if peers else None
    out["best"] = None if best is None else {k: best[k] for k in ("tool", "top1", "bits_per_weight")}
    out["best_peer"] = None if bp is None else {k: bp[k] for k in ("tool", "top1", "bits_per_weight")}
    out["peers"] = {r["tool"]: {"top1": r["top1"], "bits_per_weight": r["bits_per_weight"], "quantize_s": r["quantize_s"]} for r in peers}
    ok = [r for r in cq if bp is not None and r["bits_per_weight"] <= bp["bits_per_weight"] + 1e-9]
    top = max(ok, key=lambda r: r["top1"]) if ok else None
    out["at_peer_bits"] = None if top is None else {
        "tool": top["tool"], "top1": top["top1"], "bits_per_weight": top["bits_per_weight"], "diff": top["top1"] - bp["top1"],
        "paired_se": paired_se(hits[top["tool"]], hits[bp["tool"]])}
    return out


def merge(records: list[dict]) -> dict:
    """One record from partial ones: parts by date, cells and rows by model (deepnets.MODELS order), granularity, bits."""
    out = {"parts": [], "cells": [], "rows": []}
    for r in sorted(records, key=lambda r: r["parts"][0]["date"]):
        for k in out:
            out[k] += r[k]
    models = list(deepnets.MODELS)

    def key(r):
        g = r["granularity"]
        return (models.index(r["model"]) if r["model"] in models else len(models), g != "channel",
                int(g.split(":")[1]) if ":" in g else 0, r["bits"])

    out["cells"].sort(key=key)
    out["rows"].sort(key=key)  # stable: the tools keep their order within a cell
    return out


def _short(tool: str) -> str:
    return tool[len("corrquant "):] if tool.startswith("corrquant ") else tool


def render(record: dict) -> str:
    """The markdown of a record: each part's command, the verdict table, every run, the fallback layers."""
    rows, cells = record["rows"], record["cells"]
    out = []
    for p in record["parts"]:
        v = p["versions"]
        out.append(f"Command: `{p['command']}` ({p['date']}, {p['seconds']:.0f} s; torch {v['torch']}, hqq {v['hqq']}, "
                   f"torchao {v['torchao']}; models {', '.join(p['models'])}; top-1 on the first {p['n']} Fashion-MNIST test images)")
    out += ["", "| model | granularity | bits | best corrquant (recipe) | bpw | HQQ | bpw | torchao | bpw | "
            "corrquant at <= bits of the best peer (diff +- paired SE) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        b, ap = c["best"], c["at_peer_bits"]
        h, t = c["peers"].get("HQQ"), c["peers"].get("torchao")

        def fmt(r):
            return ("", "") if r is None else (f"{r['top1']:.1f}", f"{r['bits_per_weight']:.2f}")

        if ap is None:
            v = "no corrquant recipe at <= bits" if c["best_peer"] else ""
        else:
            word = "WIN" if ap["diff"] >= 0 else "LOSS"
            v = (f"{word} {ap['diff']:+.1f} +- {ap['paired_se']:.1f} ({_short(ap['tool'])}, {ap['bits_per_weight']:.2f} b)")
        label = "" if b is None else f"{b['top1']:.1f} ({_short(b['tool'])})"
        out.append(f"| {c['model']} (float {c['float_top1']:.1f}) | {c['granularity']} | {c['bits']} | {label} | "
                   f"{fmt(b)[1]} | {fmt(h)[0]} | {fmt(h)[1]} | {fmt(t)[0]} | {fmt(t)[1]} | {v} |")
    out += ["", "Every run (quantize s = wall-clock of quantizing all layers, 1 torch thread):", "",
            "| model | granularity | bits | tool | top-1 | bits/weight | quantize s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['granularity']} | {r['bits']} | {r['tool']} | {r['top1']:.1f} | "
                   f"{r['bits_per_weight']:.3f} | {r['quantize_s']:.3f} |")
    fb = {(r["model"], r["granularity"]): r["per_channel_fallback"] for r in rows if r["per_channel_fallback"]}
    if fb:
        out += ["", "Layers quantized per output channel by every tool at group granularity (fan-in not a multiple of the group):"]
        out += [f"- {m} {g}: {', '.join(v)}" for (m, g), v in fb.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
