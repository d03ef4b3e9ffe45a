"""Time and peak memory to quantize and pack a 25.6M-parameter ResNet-50-shaped model, per method.

Usage: ``.venv/bin/python benchmarks/bench_deepnets.py [--bits 4] [--seed 0] [--repeats 2] [--methods ...]
[--searches exact histogram] [--fit-repeats 1] [--write docs/benchmarks.md] [--json docs/benchmarks.json]``

Random weights (no download): ``deepnets.zoo.resnet50_shaped(seed)``, 25,557,032 parameters.
Every method runs per output channel at ``--bits`` (sign and ternary at 1 and 2 bits) in ONE
process, the rho families with each ``--searches`` value (``theory.Recipe``'s ``search``: the
exact search on sorted weights and the histogram search), with the parameter-weighted mean rho
of the quantized layers beside the time (the report's exact rho of the real weights).  The baseline is a plain vectorized torch round-to-nearest over every Conv/Linear
weight, per output channel (min, max, scale, round, clamp to uint8 codes; no model copy, no
decoding, no report), timed alternately with the methods in the same run (min-max: alternately
with it, at least 5 times each); every quantize time is printed as a ratio to it (``x RTN``;
targets: min-max within 2x, every max-rho fit within 10x) and to corrquant's own min-max.  The fit
alone (``theory.fitting.fit_checked`` on every layer's float32 weights: the search that ``quantize``
runs first, without the codes, the decoded weights and the report) is timed too (``fit x RTN``).  ``quantize`` includes everything the call does: the
model copy, the finiteness check, the fit, the codes, the decoded weights and the per-layer
rho/relMSE report.  Pack + save is compared with writing the same number of bytes with
numpy ``tofile`` into the same directory in the same run (``x tofile``; both land in the page
cache, no fsync; target 1.5x; both timed alternately, best of 7) and durably (each followed by an
fsync of its file: the bytes on disk, best of 3), and load (rebuilding the model from a template, checking the
checksum, decoding) with ``numpy.fromfile`` of the same file (``x fromfile``).  Peak memory is ``tracemalloc``'s peak of Python and numpy allocations
during the step (torch tensor storage is not traced; the model itself is ~100 MB of float32),
taken from a second, traced call so that tracing does not slow the timed one.  Each time is
the best of ``--repeats`` runs.  Torch threads are set to 1 (shared machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch

from deepnets.baselines import int8_per_channel
from deepnets.quantize import FIXED_BITS, METHODS, QuantConfig, quantize, weight_layers
from deepnets.storage import load, save, save_float
from deepnets.zoo import resnet50_shaped
from theory.fitting import fit_checked


def _measure(fn, repeats: int = 1, trace: bool = True):
    """(result, best-of-``repeats`` seconds untraced, tracemalloc peak MiB of one more, traced call or nan)."""
    dt = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        dt = min(dt, time.perf_counter() - t)
    if not trace:
        return out, dt, math.nan
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak / 2**20


def rtn(model: torch.nn.Module, bits: int) -> list[torch.Tensor]:
    """Plain round-to-nearest per output channel, vectorized torch: uint8 codes of every Conv/Linear weight."""
    K = 2**bits
    out = []
    with torch.no_grad():
        for _, m in weight_layers(model):
            w = m.weight.reshape(m.weight.shape[0], -1)
            lo = w.amin(dim=1, keepdim=True).clamp(max=0)
            hi = w.amax(dim=1, keepdim=True).clamp(min=0)
            scale = ((hi - lo) / (K - 1)).clamp(min=1e-20)
            zp = torch.round(-lo / scale)
            out.append(torch.clamp(torch.round(w / scale) + zp, 0, K - 1).to(torch.uint8))
    return out


def _sync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tofile(path: str, nbytes: int, durable: bool = False) -> float:
    buf = np.zeros(nbytes, dtype=np.uint8)
    t = time.perf_counter()
    buf.tofile(path)
    if durable:
        _sync(path)
    return time.perf_counter() - t


def _save_vs_tofile(qm, path: str, raw: str, nbytes: int, n: int, durable: bool) -> tuple[float, float]:
    """Best-of-``n`` seconds of (pack + save, tofile of the same bytes), timed alternately; ``durable``: each
    followed by an fsync of its file (the bytes on disk, not only in the page cache)."""
    ts = tf = math.inf
    for _ in range(n):
        t = time.perf_counter()
        save(qm, path)
        if durable:
            _sync(path)
        ts = min(ts, time.perf_counter() - t)
        tf = min(tf, _tofile(raw, nbytes, durable))
    return ts, tf


def _fromfile(path: str) -> float:
    t = time.perf_counter()
    np.fromfile(path, dtype=np.uint8)
    return time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=4, help="bits per weight for the K-level methods (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per step; the minimum is reported (default 2)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), help="methods to time (default all; minmax always runs first)")
    ap.add_argument("--searches", nargs="+", default=["exact", "histogram"], choices=["exact", "histogram"],
                    help="shape searches of the rho fits to time (default both; min-max has none)")
    ap.add_argument("--fit-repeats", type=int, default=None, help="timed quantize runs of the max-rho fits (default --repeats)")
    ap.add_argument("--no-trace", action="store_true", help="skip the traced (peak memory) calls")
    ap.add_argument("--write", default=None, help="Markdown file whose '## deepnets' table part is replaced")
    ap.add_argument("--json", default=None, help="JSON record (docs/benchmarks.json) whose 'deepnets' entry is replaced")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    model = resnet50_shaped(a.seed)
    n = sum(p.numel() for p in model.parameters())
    weights = [m.weight.detach().cpu().numpy() for _, m in weight_layers(model)]  # as quantize hands them to the fit
    methods = [(m, s) for m in ["minmax"] + [m for m in a.methods if m != "minmax"]
               for s in (("exact",) if m == "minmax" else a.searches)]
    rows = []
    t_rtn = math.inf
    with tempfile.TemporaryDirectory() as tmp:
        fbytes = save_float(model, os.path.join(tmp, "float.safetensors"))
        for m, search in methods:
            _, t, _ = _measure(lambda: rtn(model, a.bits), a.repeats, trace=False)  # the baseline, beside every method
            t_rtn = min(t_rtn, t)
            bits = FIXED_BITS.get(m, a.bits)
            cfg = QuantConfig(m, bits, "channel", search=search)
            reps = a.repeats if m == "minmax" or a.fit_repeats is None else a.fit_repeats
            if m == "minmax":  # a fraction of a second: timed alternately with the baseline, at least 5 times each
                tq = math.inf
                for _ in range(max(5, reps)):
                    t_rtn = min(t_rtn, _measure(lambda: rtn(model, a.bits), 1, trace=False)[1])
                    tq = min(tq, _measure(lambda cfg=cfg: quantize(model, cfg), 1, trace=False)[1])
                (qm, report), _, mq = _measure(lambda cfg=cfg: quantize(model, cfg), 1, not a.no_trace)
            else:
                (qm, report), tq, mq = _measure(lambda cfg=cfg: quantize(model, cfg), reps, not a.no_trace)
            # the fit alone (theory's search for every layer's quantizer, what quantize calls first), best of reps
            _, tfit, _ = _measure(lambda cfg=cfg: [fit_checked(cfg.recipe, w, cfg.granularity) for w in weights], reps, trace=False)
            live = [r for r in report if not r.skipped]
            rho = sum(r.rho * r.params for r in live) / sum(r.params for r in live)
            path = os.path.join(tmp, f"{m}.safetensors")
            sizes, _, ms = _measure(lambda qm=qm, path=path: save(qm, path), 1, not a.no_trace)
            raw = os.path.join(tmp, "raw.bin")
            ts, tf = _save_vs_tofile(qm, path, raw, sizes["file"], max(7, a.repeats), durable=False)
            tsd, tfd = _save_vs_tofile(qm, path, raw, sizes["file"], max(3, a.repeats), durable=True)
            loaded, tl, ml = _measure(lambda path=path: load(path, model), a.repeats, not a.no_trace)
            tr = min(_fromfile(path) for _ in range(max(2, a.repeats)))  # reading the same file's bytes
            x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                assert torch.equal(loaded(x), qm(x)), f"{m}: load is not bitwise exact"
            mb = sizes["file"] / 2**20
            rows.append(dict(method=m, search=search, rho=rho, bits=bits, tq=tq, tfit=tfit, mq=mq, ts=ts, tf=tf, tsd=tsd, tfd=tfd, ms=ms, tl=tl, tr=tr, save_mbs=mb / ts, load_mbs=mb / tl,
                             mb=mb, ratio=fbytes / sizes["file"]))
            print(f"done {m} ({search}): quantize {tq:.2f}s (fit {tfit:.2f}s, RTN {t:.3f}s), mean rho {rho:.8f}", file=sys.stderr, flush=True)
            del qm, loaded
        (_, _, tsize), tt, mt = _measure(lambda: int8_per_channel(model, tmp), a.repeats, not a.no_trace)
    base = rows[0]
    stamp = datetime.datetime.now(datetime.timezone.utc)
    argv_s = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    command = f".venv/bin/python benchmarks/bench_deepnets.py {argv_s}".strip()
    lines = [
        f"{n / 1e6:.1f}M-parameter ResNet-50-shaped model, per output channel, float32 file {fbytes / 2**20:.1f} MiB; "
        f"{stamp:%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, numpy {np.__version__}, 1 torch thread, {os.cpu_count()} CPUs "
        f"shared with other jobs (load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end), best of {a.repeats}"
        f"{'' if a.fit_repeats is None else f' ({a.fit_repeats} for the max-rho fits)'}. "
        f"Plain torch round-to-nearest ({a.bits} bits, same weights, same run): {t_rtn:.3f} s.",
        "",
        f"Command: `{command}`",
        "",
        "| method | search | bits | mean rho | quantize s | x RTN | fit s | fit x RTN | x minmax | peak MiB (tracemalloc) | pack+save s | x tofile | durable x tofile | save MB/s | load s | x fromfile | load MB/s | file MiB | ratio vs float32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {'' if r['method'] == 'minmax' else r['search']} | {r['bits']} | {r['rho']:.6f} | {r['tq']:.2f} | {r['tq'] / t_rtn:.1f} | {r['tfit']:.2f} | {r['tfit'] / t_rtn:.1f} | {r['tq'] / base['tq']:.2f} | {r['mq']:.0f} | "
                     f"{r['ts']:.3f} | {r['ts'] / r['tf']:.1f} | {r['tsd'] / r['tfd']:.2f} | {r['save_mbs']:.0f} | {r['tl']:.3f} | {r['tl'] / r['tr']:.0f} | "
                     f"{r['load_mbs']:.0f} | {r['mb']:.1f} | {r['ratio']:.2f} |")
    lines.append(f"| torch_int8_channel (torch.ao observer + fake-quant, incl. save) | | 8 | | {tt:.2f} | {tt / t_rtn:.1f} | | | "
                 f"{tt / base['tq']:.2f} | {mt:.0f} | | | | | | | | {tsize / 2**20:.1f} | {fbytes / tsize:.2f} |")
    fitted = [r for r in rows if r["method"] != "minmax"]
    lines += ["", f"Targets: min-max within 2x of RTN: {'met' if base['tq'] <= 2 * t_rtn else 'NOT met'} "
              f"({base['tq'] / t_rtn:.1f}x); every max-rho fit within 10x: "
              + ", ".join(f"{_label(r)} {r['tq'] / t_rtn:.0f}x{'' if r['tq'] <= 10 * t_rtn else ' (NOT met)'}" for r in fitted)
              + "; the fit alone (theory's search, without the codes, the decoded weights and the report) within 10x: "
              + ", ".join(f"{_label(r)} {r['tfit'] / t_rtn:.1f}x{'' if r['tfit'] <= 10 * t_rtn else ' (NOT met)'}" for r in fitted)
              + "; pack + save within 1.5x of tofile: "
              + ", ".join(f"{_label(r)} {r['ts'] / r['tf']:.1f}x{'' if r['ts'] <= 1.5 * r['tf'] else ' (NOT met)'}" for r in rows)
              + "; durable (each write followed by fsync): "
              + ", ".join(f"{_label(r)} {r['tsd'] / r['tfd']:.2f}x{'' if r['tsd'] <= 1.5 * r['tfd'] else ' (NOT met)'}" for r in rows)
              + "."]
    out = "\n".join(lines) + "\n"
    print(out)
    if a.write:
        _write_md(a.write, out)
    if a.json:
        _write_json(a.json, rows, t_rtn, n, a.bits, fbytes, stamp, command)


def _label(r: dict) -> str:
    return r["method"] if r["search"] == "exact" else f"{r['method']} ({r['search']})"


def _write_md(path: str, body: str) -> None:
    """Replace the run block of the ``## deepnets`` section (from its 'Command:' stamp to the next heading)."""
    text = open(path).read()
    pat = re.compile(r"(^## deepnets\n.*?)(^<!-- bench_deepnets:begin -->\n.*?^<!-- bench_deepnets:end -->\n)", re.S | re.M)
    block = "<!-- bench_deepnets:begin -->\n" + body + "<!-- bench_deepnets:end -->\n"
    if pat.search(text):
        text = pat.sub(lambda mt: mt.group(1) + block, text)
    else:
        raise SystemExit(f"{path}: no '<!-- bench_deepnets:begin -->' block in the '## deepnets' section to replace")
    with open(path, "w") as f:
        f.write(text)


def _write_json(path: str, rows: list, t_rtn: float, n: int, bits: int, fbytes: int, stamp, command: str) -> None:
    with open(path) as f:
        rec = json.load(f)
    base = rows[0]

    def row(r):
        return {"method": r["method"], "search": r["search"], "mean_rho": round(r["rho"], 8), "bits": r["bits"], "quantize_s": round(r["tq"], 3), "time_x_rtn": round(r["tq"] / t_rtn, 1),
                "fit_s": round(r["tfit"], 3), "fit_x_rtn": round(r["tfit"] / t_rtn, 1),
                "time_x_minmax": round(r["tq"] / base["tq"], 2), "peak_x_minmax": round(r["mq"] / base["mq"], 2) if base["mq"] == base["mq"] else None,
                "save_x_tofile": round(r["ts"] / r["tf"], 1), "save_durable_x_tofile": round(r["tsd"] / r["tfd"], 2), "save_MBps": round(r["save_mbs"], 1), "load_MBps": round(r["load_mbs"], 1),
                "load_x_fromfile": round(r["tl"] / r["tr"], 1),
                "ratio_vs_float32": round(r["ratio"], 2)}

    rec["deepnets"] = {
        "date": f"{stamp:%Y-%m-%d}", "command": command, "params_millions": round(n / 1e6, 1), "bits": bits,
        "float_file_MiB": round(fbytes / 2**20, 1), "rtn_s": round(t_rtn, 4),
        "targets": {"minmax_x_rtn": 2, "fit_x_rtn": 10, "save_x_tofile": 1.5},
        "rows": [row(r) for r in rows if r["bits"] == bits or r["method"] in ("minmax",)],
        "fixed_rows": [row(r) for r in rows if not (r["bits"] == bits or r["method"] in ("minmax",))],
    }
    with open(path, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
