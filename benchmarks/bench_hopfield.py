"""Benchmark hopfield/ against the PyPI peer hopfieldkit, and its dynamics against the machine's matmul.

Command (the numbers in docs/benchmarks.md come from it):
``.venv/bin/python benchmarks/bench_hopfield.py --write docs/benchmarks.md``
(``--quick``: smaller throughput sizes).

1. The same capacity scan as ``hopfieldkit.empirical_capacity_scan(n_units=500,
   pattern_counts=range(10, 101, 10), n_trials=20, flip_fraction=0.1)``: per
   trial a fresh Hebbian network of p random patterns, pattern 0 with exactly 50
   bits flipped, asynchronous recall in a fresh random order each pass
   (hopfieldkit's ``recall(order="random")``, at most 200 passes, stop after a
   pass without a flip), success = exact recall.  Ours is
   :func:`hopfield.capacity_scan`: the dynamics of :func:`hopfield.run` (same
   bits, tested), all 200 trials in one compiled call.  hopfieldkit sets s_i = +1
   on a zero field, hopfield keeps s_i (ties are rare near a stored pattern).
   Compile time is the first call; run times are medians of calls with fresh
   keys, interleaved with the peer's runs (the machine is shared, so only the
   ratio within this run means anything).  Success rates: binomial standard
   errors, and a two-proportion z-test per p against ours at 20x the trials.
2. The engine at research scale (:mod:`hopfield.engine`, :mod:`hopfield.network`): every
   stored pattern of one network at alpha = 0.14 as a probe (the stability protocol),
   exact Hebb counts (int16), ``order="hash"``; per probe against hopfieldkit's
   ``recall`` on the same network; W build, starting fields and dynamics as ratios to
   the float32 product ``xi^T xi`` in the same run; bytes the dynamics reads per second
   against a copy's read bandwidth in the same run; cold (compile + run) and warm, and
   a second process with JAX's persistent compilation cache.
3. Throughput of batched sync and async sweeps (neuron updates per second) at
   N = 1000 and 4000, with the effective FLOP rate (2N flops per update) over the
   float32 matmul rate measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from hopfield import capacity_scan
from hopfield.dynamics import async_sweep, event_sweep, sign_keep, tie_tolerance
from hopfield.hebbian import hebbian_jax
from hopfield.network import _relax, bucket, hebb_counts, network_bytes, start_fields

N_UNITS, COUNTS, N_TRIALS, FLIP, MAX_PASSES = 500, list(range(10, 101, 10)), 20, 0.1, 200
PEER_RUNS, OUR_REPS, REF_FACTOR = 2, 9, 20


def _timed(f, *a, reps=3):
    t = time.perf_counter()
    jax.block_until_ready(f(*a))
    first = time.perf_counter() - t
    runs = []
    for r in range(reps):
        args = (jax.random.fold_in(a[0], 1000 + r),) + a[1:]
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        runs.append(time.perf_counter() - t)
    return first, statistics.median(runs)


def ours(key, trials=N_TRIALS, threads=1):
    return capacity_scan(N_UNITS, COUNTS, key=key, trials=trials, noise=FLIP, max_sweeps=MAX_PASSES, threads=threads)


def peer_scan(seed):
    from hopfieldkit import empirical_capacity_scan

    t = time.perf_counter()
    r = empirical_capacity_scan(n_units=N_UNITS, pattern_counts=COUNTS, n_trials=N_TRIALS, flip_fraction=FLIP, seed=seed)
    return np.asarray(r["success_rates"]), time.perf_counter() - t


def side_by_side(key, seed):
    """Peer runs interleaved with runs of ours (1 thread, then 2 threads) on fresh keys.

    **Returns:** peer rates (runs, P), the peer's seconds, ours {threads: seconds}, {threads: compile seconds}."""
    compile_s, our_t = {}, {1: [], 2: []}
    for th in our_t:
        t = time.perf_counter()
        ours(key, threads=th)
        compile_s[th] = time.perf_counter() - t
    peer_rates, peer_t = [], []
    for r in range(PEER_RUNS):
        rates, dt = peer_scan(seed + r)
        peer_rates.append(rates)
        peer_t.append(dt)
        for i in range(OUR_REPS):
            k = jax.random.fold_in(key, 1000 + r * OUR_REPS + i)
            for th in our_t:
                t = time.perf_counter()
                ours(k, threads=th)
                our_t[th].append(time.perf_counter() - t)
    return np.stack(peer_rates), peer_t, our_t, compile_s


def se(rate, n):
    return np.sqrt(rate * (1 - rate) / n)


def compare_rates(peer, ours, n_peer, n_ours):
    """Two-proportion z per p and the chi-square p-value of all of them together."""
    pooled = (peer * n_peer + ours * n_ours) / (n_peer + n_ours)
    s = np.sqrt(pooled * (1 - pooled) * (1 / n_peer + 1 / n_ours))
    z = np.where(s > 0, (peer - ours) / np.where(s > 0, s, 1), 0.0)
    return z, float(stats.chi2.sf(np.sum(z**2), max(1, np.sum(s > 0))))


# -- throughput -------------------------------------------------------------
def throughput(N, B, sweeps, key):
    xi = jnp.where(jax.random.bernoulli(key, 0.5, (int(0.3 * N), N)), 1.0, -1.0)  # alpha = 0.3: many flips
    W = hebbian_jax(xi)
    s0 = jnp.where(jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (B, N)), 1.0, -1.0)
    tol = tie_tolerance(W)

    @jax.jit
    def sync(k, s):
        return jax.lax.fori_loop(0, sweeps, lambda t, s: sign_keep(s @ W, s, tol), s)

    def async_with(sweep_fn):
        @jax.jit
        def f(k, s):
            def one(s, kk):
                def body(t, c):
                    s, h, n = c
                    s, h, dn = sweep_fn(W, s, h, jax.random.fold_in(kk, t), tol)
                    return s, h, n + dn
                return jax.lax.fori_loop(0, sweeps, body, (s, W @ s, jnp.int32(0)))[2]
            return jax.vmap(one)(s, jax.random.split(k, s.shape[0]))
        return f

    @jax.jit
    def mm(k, s):
        return jax.lax.fori_loop(0, sweeps, lambda t, x: x @ W, s)

    out = {}
    for name, f in (("sync", sync), ("async visiting", async_with(async_sweep)), ("async event-driven", async_with(event_sweep)),
                    ("matmul", mm)):
        comp, run = _timed(f, key, s0)
        if name.startswith("async"):
            out.setdefault("flips_per_update", float(jnp.sum(f(key, s0))) / (B * N * sweeps))
        out[name] = dict(compile=comp, run=run, updates_per_s=B * N * sweeps / run, gflops=2.0 * B * N * N * sweeps / run / 1e9)
    return out


# -- the engine at research scale ------------------------------------------------------
def _best(f, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t)
    return min(ts)


def copy_bandwidth(mib=64, reps=10):
    """Bytes read per second by ``reps`` elementwise passes over ``mib`` MiB inside one jitted loop (each pass
    reads and writes the array; the buffers are reused, so no page faults are timed)."""
    x = jnp.ones((mib * 2**20 // 4,), jnp.int32)
    f = jax.jit(lambda x: jax.lax.fori_loop(0, reps, lambda i, y: y + 1, x))
    jax.block_until_ready(f(x))
    return reps * x.nbytes / _best(lambda: f(x))


def peak_rss():
    """The process's peak resident memory so far (bytes; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def engine_network(N, alpha, key, slots=8, reps=None):
    """One network, all p stored patterns as probes: times of build, fields, dynamics (cold and warm), the matmul.

    ``reps`` (default 3, or 1 from N = 16384 on, where one call takes minutes): warm repeats of each timing;
    with ``reps=1`` the dynamics run once, so 'warm' is the cold call (compilation included, a few seconds)."""
    reps = (3 if N < 16384 else 1) if reps is None else reps
    p = int(round(alpha * N))
    xi = jnp.where(jax.random.bernoulli(key, 0.5, (p, N)), 1.0, -1.0).astype(jnp.float32)
    mm = jax.jit(lambda x: x.T @ x)
    jax.block_until_ready(mm(xi))
    t_mm = _best(lambda: mm(xi), reps)
    if reps > 1:
        jax.block_until_ready(hebb_counts(xi))
    t_build = _best(lambda: hebb_counts(xi), reps)
    C = hebb_counts(xi)
    s0 = xi.astype(jnp.int8)
    t_fields = _best(lambda: start_fields(C, s0, p), min(reps, 2))
    H0 = start_fields(C, s0, p)
    B = bucket(p)
    pad = lambda x: jnp.concatenate([x, jnp.repeat(x[:1], B - p, axis=0)]) if B > p else x  # noqa: E731
    keys = jax.random.split(jax.random.fold_in(key, 1), p)
    args = (C, pad(s0), pad(H0), pad(keys), 0, jnp.int32(p), jnp.int32(100), "hash", slots)
    t = time.perf_counter()
    out = jax.block_until_ready(_relax(*args))
    cold = time.perf_counter() - t
    warm = _best(lambda: _relax(*args), reps=2) if reps > 1 else cold
    s, H, sweeps, status, flips = (np.asarray(x[:p]) for x in out)
    m = np.mean(s.astype(np.float32) * np.asarray(xi), axis=1)
    return dict(N=N, p=p, matmul=t_mm, build=t_build, fields=t_fields, cold=cold, warm=warm, flips=int(flips.sum()),
                sweeps=int(sweeps.sum()), m=float(m.mean()), limit=int(np.sum(status != 0)), xi=xi,
                bytes=network_bytes(N, p, False), rss=peak_rss(), reps=reps)


def quantized_network(N, alpha, key, quantizer="sign"):
    """One network with quantized weights, every stored pattern a probe: one call each (wall seconds) of the Hebb
    counts, the quantized coupling (int8 lattice codes, or float32 levels), the starting fields and the dynamics,
    beside the float32 product xi^T xi; the process's peak RSS after it."""
    from hopfield.hebbian import unit_quantizer
    from hopfield.network import check_memory, probe_network, quantized_coupling
    from hopfield.study import parse_quantizer

    p = int(round(alpha * N))
    check_memory(N, p, True)
    xi = jnp.where(jax.random.bernoulli(key, 0.5, (p, N)), 1.0, -1.0).astype(jnp.float32)
    mm = jax.jit(lambda x: x.T @ x)
    t_mm = _best(lambda: mm(xi), 1)
    t = time.perf_counter()
    C = jax.block_until_ready(hebb_counts(xi))
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    coupling, tol, bound = quantized_coupling(C, p, unit_quantizer(parse_quantizer(quantizer), p))
    jax.block_until_ready(coupling)
    t_q = time.perf_counter() - t
    del C
    t = time.perf_counter()
    r = probe_network(coupling, tol, bound, xi, key=jax.random.fold_in(key, 1))
    t_run = time.perf_counter() - t
    return dict(N=N, p=p, quantizer=quantizer, dtype=str(coupling.dtype), matmul=t_mm, build=t_build, quantize=t_q,
                fields_and_dynamics=t_run, m=float(np.mean(r["m"])), retrieved=float(np.mean(r["m"] >= 0.9)),
                flips=int(r["flips"].sum()), limit=int(np.sum(r["status"] != 0)), rss=peak_rss(),
                bytes=network_bytes(N, p, True))


def peer_recall(xi, probes):
    """hopfieldkit on the same patterns: its Hebbian build and its recall from the first ``probes`` stored patterns."""
    from hopfieldkit import HopfieldNetwork

    x = np.asarray(xi, dtype=float)
    t = time.perf_counter()
    net = HopfieldNetwork(x.shape[1]).fit(x)
    build = time.perf_counter() - t
    t = time.perf_counter()
    m = [float(np.mean(net.recall(x[i], order="random", seed=i) * x[i])) for i in range(probes)]
    return build, (time.perf_counter() - t) / probes, float(np.mean(m))


def _in_new_process(cache_dir, body):
    """Run ``body`` (Python statements that set ``out``, a dict) in a fresh process with JAX's persistent compilation
    cache in ``cache_dir``; returns ``out``."""
    import json
    import subprocess

    code = (f"import jax, json, time; jax.config.update('jax_compilation_cache_dir', {cache_dir!r}); "
            "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0); "
            "import sys; sys.path.insert(0, 'benchmarks'); import bench_hopfield as b; "
            f"{body}; print(json.dumps(out))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_in_new_process(N, alpha, cache_dir):
    """The cold call of the engine in a fresh process (cold and warm seconds)."""
    return _in_new_process(cache_dir, f"r = b.engine_network({N}, {alpha}, jax.random.key(0)); "
                                      "out = dict(cold=r['cold'], warm=r['warm'])")


def scan_cold_in_new_process(cache_dir, threads=1):
    """The capacity scan's first call (compile + run) and a second call in a fresh process."""
    return _in_new_process(cache_dir, f"t = time.perf_counter(); b.ours(jax.random.key(0), threads={threads}); "
                                      "c = time.perf_counter() - t; t = time.perf_counter(); "
                                      f"b.ours(jax.random.key(1), threads={threads}); "
                                      "out = dict(cold=c, warm=time.perf_counter() - t)")


def scan_cold(say):
    """Cold calls of ``capacity_scan`` in fresh processes (empty cache, then cached) beside hopfieldkit's scan."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        first, second = scan_cold_in_new_process(d), scan_cold_in_new_process(d)
    t = time.perf_counter()
    peer_scan(0)
    peer = time.perf_counter() - t
    say(f"Cold calls of `capacity_scan` (1 thread) in fresh processes: {first['cold']:.2f} s with an empty JAX "
        f"compilation cache (compile + run; a second call {first['warm'] * 1e3:.0f} ms), {second['cold']:.2f} s in a "
        f"second process that found the cache (then {second['warm'] * 1e3:.0f} ms); hopfieldkit's scan in this process "
        f"{peer:.2f} s: **{peer / first['cold']:.1f}x** counting compilation with an empty cache, "
        f"**{peer / second['cold']:.1f}x** with the cache.")
    return dict(cold_empty_s=first["cold"], cold_cached_s=second["cold"], warm_s=second["warm"], baseline_s=peer,
                cold_speedup_empty_cache=peer / first["cold"], cold_speedup_cached=peer / second["cold"])


def engine_section(say, key, sizes, peer_probes):
    import tempfile

    bw = copy_bandwidth()
    say("### The engine: every stored pattern a probe (stability protocol), alpha = 0.14")
    say()
    say("One network per N: p = 0.14 N random patterns, exact Hebb counts C = xi^T xi - p I (int16), every stored "
        "pattern a probe, asynchronous dynamics to a fixed point (at most 100 sweeps) on `hopfield.engine.relax` "
        "(8 slots, `order=\"hash\"`), fields int32 kept by adding the flipped neuron's column. Times are the best of "
        "2-3 warm calls; 'x mm' = the time over the float32 product xi^T xi (p N^2 multiply-adds) in the same run. "
        f"Column bytes = flips x N x 2 bytes (the int16 columns the flips read), per second of dynamics, against "
        f"a copy's read bandwidth measured in the same run ({bw / 1e9:.1f} GB/s). Peak memory: the process's peak "
        "resident set (ru_maxrss) after the network, sizes ascending, so it is the largest network's so far "
        "(JAX's runtime and the compiled code included), beside the estimate that `check_memory` uses. "
        "From N = 16384 on each timing is one call (minutes each); 'dynamics warm' is then the cold call.")
    say()
    say("| N | p | xi^T xi (s) | build C (s, x mm) | starting fields (s, x mm) | dynamics warm (s, x mm) | dynamics cold (s) "
        "| per probe (ms) | flips / probe | sweeps / probe | mean m | column GB/s (x copy) | peak RSS (GiB) | memory estimate (GiB) |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for N in sizes:
        r = engine_network(N, 0.14, jax.random.fold_in(key, N))
        rows.append(r)
        col = r["flips"] * N * 2 / r["warm"]
        say(f"| {N} | {r['p']} | {r['matmul']:.3f} | {r['build']:.3f} ({r['build'] / r['matmul']:.1f}x) | "
            f"{r['fields']:.3f} ({r['fields'] / r['matmul']:.1f}x) | {r['warm']:.3f} ({r['warm'] / r['matmul']:.1f}x) | "
            f"{r['cold']:.2f} | {r['warm'] / r['p'] * 1e3:.3f} | {r['flips'] / r['p']:.1f} | {r['sweeps'] / r['p']:.2f} | "
            f"{r['m']:.3f} | {col / 1e9:.2f} ({col / bw:.2f}x) | {r['rss'] / 2**30:.2f} | {r['bytes'] / 2**30:.2f} |")
    say()
    big = next((r for r in rows if r["N"] == 4096), rows[-1])
    pb, pt, pm = peer_recall(big["xi"], peer_probes)
    ours = big["warm"] / big["p"]
    say(f"hopfieldkit on the same N = {big['N']} network: `fit` {pb:.2f} s, `recall(order='random')` from the first "
        f"{peer_probes} stored patterns {pt * 1e3:.0f} ms per probe (mean m {pm:.3f}); the engine: {ours * 1e3:.2f} ms per "
        f"probe warm (mean m {big['m']:.3f} over all {big['p']}), **{pt / ours:.0f}x**; counting the engine's compilation "
        f"(cold call), {big['cold'] / big['p'] * 1e3:.2f} ms per probe, {pt / (big['cold'] / big['p']):.2g}x.")
    with tempfile.TemporaryDirectory() as d:
        first = cold_in_new_process(big["N"], 0.14, d)
        second = cold_in_new_process(big["N"], 0.14, d)
    say()
    say(f"JAX's persistent compilation cache (`jax_compilation_cache_dir`, which `python -m hopfield.study` sets): a "
        f"fresh process's cold call took {first['cold']:.2f} s with an empty cache and {second['cold']:.2f} s in a second "
        f"process that found it (warm {second['warm']:.2f} s).")
    say()
    keep = ("N", "p", "matmul", "build", "fields", "warm", "cold", "flips", "sweeps", "m", "limit", "rss", "bytes", "reps")
    return dict(copy_GBps=bw / 1e9, sizes=[{k: r[k] for k in keep} for r in rows],
                wall=dict(N=big["N"], ms_per_probe=ours * 1e3, baseline_ms_per_probe=pt * 1e3, speedup_per_probe=pt / ours,
                          cold_speedup_per_probe=pt / (big["cold"] / big["p"]), baseline_fit_s=pb),
                cache=dict(cold_empty_s=first["cold"], cold_cached_s=second["cold"], warm_s=second["warm"]))


def cpu_time_ratios(say, key, N=4096, alpha=0.14, peer_probes=12):
    """Load-robust ratios: process CPU seconds (time.process_time, all threads) of hopfieldkit and ours, interleaved
    in one process: per probe on one network (its W handed to hopfieldkit directly, the same matrix its ``fit``
    builds), and the capacity scan of section 2 (one thread)."""
    from hopfieldkit import HopfieldNetwork, empirical_capacity_scan

    p = int(round(alpha * N))
    k = jax.random.fold_in(key, N)
    xi = jnp.where(jax.random.bernoulli(k, 0.5, (p, N)), 1.0, -1.0).astype(jnp.float32)
    C, s0 = hebb_counts(xi), xi.astype(jnp.int8)
    B = bucket(p)
    pad = lambda x: jnp.concatenate([x, jnp.repeat(x[:1], B - p, axis=0)]) if B > p else x  # noqa: E731
    args = (C, pad(s0), pad(start_fields(C, s0, p)), pad(jax.random.split(jax.random.fold_in(k, 1), p)), 0,
            jnp.int32(p), jnp.int32(100), "hash", 8)
    jax.block_until_ready(_relax(*args))
    net = HopfieldNetwork(N)
    net.weights = np.asarray(C, float) / N
    x = np.asarray(xi, float)
    eng, peer, mmt = [], [], []
    per = max(1, peer_probes // 3)
    mm = jax.jit(lambda x: x.T @ x)
    jax.block_until_ready(mm(xi))
    for r in range(3):
        t = time.process_time()
        jax.block_until_ready(mm(xi))
        mmt.append(time.process_time() - t)
        t = time.process_time()
        jax.block_until_ready(_relax(*args))
        eng.append((time.process_time() - t) / p)
        t = time.process_time()
        for i in range(per * r, per * (r + 1)):
            net.recall(x[i], order="random", seed=i)
        peer.append((time.process_time() - t) / per)
    ours(key)
    sc, ps = [], []
    for r in range(2):
        t = time.process_time()
        empirical_capacity_scan(n_units=N_UNITS, pattern_counts=COUNTS, n_trials=N_TRIALS, flip_fraction=FLIP, seed=r)
        ps.append(time.process_time() - t)
        for i in range(3):
            t = time.process_time()
            ours(jax.random.fold_in(key, 500 + 10 * r + i))
            sc.append(time.process_time() - t)
    med = statistics.median
    say(f"CPU time (process_time, interleaved in one process): engine at N = {N}, alpha = {alpha}: "
        f"{med(eng) * 1e3:.2f} ms per probe (all {p} stored patterns: {med(eng) * p:.2f} s, "
        f"{med(eng) * p / med(mmt):.1f}x the float32 xi^T xi's {med(mmt):.2f} s), hopfieldkit `recall` "
        f"{med(peer) * 1e3:.0f} ms per probe (its first {3 * per} stored patterns), **{med(peer) / med(eng):.0f}x**; "
        f"capacity scan: hopfieldkit {med(ps):.2f} s, `capacity_scan` (1 thread) {med(sc) * 1e3:.0f} ms, "
        f"**{med(ps) / med(sc):.0f}x**.")
    return dict(N=N, alpha=alpha, ms_per_probe=med(eng) * 1e3, baseline_ms_per_probe=med(peer) * 1e3,
                speedup_per_probe=med(peer) / med(eng), dynamics_over_matmul=med(eng) * p / med(mmt),
                scan_baseline_s=med(ps), scan_s=med(sc), scan_speedup_1_thread=med(ps) / med(sc), peer_probes=3 * per)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller throughput sizes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", metavar="PATH", help="replace the '## Hopfield' section of this Markdown file")
    ap.add_argument("--engine-sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--peer-probes", type=int, default=12)
    ap.add_argument("--cpu-only", action="store_true", help="only the CPU-time ratios (robust on a loaded machine)")
    ap.add_argument("--quantized", type=int, nargs="*", metavar="N", default=None,
                    help="only one quantized network per N (sign and 2-bit uniform, alpha 0.1; with --json: stored as "
                         "hopfield_engine's 'quantized')")
    ap.add_argument("--scan-cold", action="store_true", help="only the capacity scan's cold calls in fresh processes "
                    "(with --json: stored as hopfield_scan's 'cold')")
    ap.add_argument("--json", metavar="PATH", help="write this run's hopfield_engine / hopfield_scan / hopfield_dynamics "
                    "entries into this JSON file (docs/benchmarks.json), leaving its other entries alone")
    args = ap.parse_args(argv)
    key = jax.random.key(args.seed)
    command = " ".join(["python", "benchmarks/bench_hopfield.py", *(argv if argv is not None else sys.argv[1:])])
    if args.cpu_only:
        cpu_time_ratios(print, key, peer_probes=args.peer_probes)
        return
    if args.quantized:
        rows = []
        for N in args.quantized:
            for q in ("sign", "uniform:2"):
                r = quantized_network(N, 0.1, jax.random.fold_in(key, N), q)
                rows.append(r)
                print(f"N = {N}, {q} ({r['dtype']} coupling), p = {r['p']}, one call each with compilation: xi^T xi {r['matmul']:.1f} s; counts "
                      f"{r['build']:.1f} s, quantized coupling {r['quantize']:.1f} s, starting fields + dynamics of all p "
                      f"probes {r['fields_and_dynamics']:.1f} s ({r['fields_and_dynamics'] / r['matmul']:.1f}x xi^T xi); "
                      f"mean m {r['m']:.3f}, retrieved {r['retrieved']:.3f}; peak RSS {r['rss'] / 2**30:.2f} GiB "
                      f"(estimate {r['bytes'] / 2**30:.2f} GiB)", flush=True)
        if args.json:
            write_json(args.json, dict(quantized=dict(rows=rows)), command, parent="hopfield_engine")
        return
    if args.scan_cold:
        cold = scan_cold(print)
        if args.json:
            write_json(args.json, dict(cold=cold), command, parent="hopfield_scan")
        return
    lines = []
    say = lambda s="": (print(s), lines.append(s))  # noqa: E731

    load0 = os.getloadavg()[0]
    say(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, JAX {jax.__version__} on "
        f"{jax.devices()[0].platform} ({len(jax.devices())} device(s): {jax.devices()[0].device_kind}); numpy {np.__version__}. "
        "The engine is plain JAX: the same code runs on a GPU "
        + ("(none was present for this run)." if jax.devices()[0].platform == "cpu" else "(this run's device above)."))
    say()
    eng = engine_section(say, key, args.engine_sizes, args.peer_probes)
    cpu = cpu_time_ratios(say, key, peer_probes=args.peer_probes)
    say()
    say("### The exact-recall capacity scan")
    say()
    peer_runs, t_peer, t_ours, comp = side_by_side(key, args.seed)
    peer = peer_runs.mean(axis=0)  # PEER_RUNS x 20 trials pooled
    n_peer, n_ref = PEER_RUNS * N_TRIALS, REF_FACTOR * N_TRIALS
    mine = ours(key)
    ref = ours(jax.random.fold_in(key, 7), n_ref)
    z, pval = compare_rates(peer, ref.retrieved, n_peer, n_ref)
    med = statistics.median
    ratio = {th: med(t_peer) / med(t) for th, t in t_ours.items()}

    say("Capacity scan of hopfieldkit 0.1.0 (N=500, p=10..100, 20 trials, 10% flipped, async random order each pass, "
        "at most 200 passes, exact recall), run side by side in one process:")
    say()
    say("| implementation | first call in this process (s) | run (s), median | speed-up vs hopfieldkit |")
    say("|---|---|---|---|")
    say(f"| hopfieldkit `empirical_capacity_scan` ({PEER_RUNS} runs: " + ", ".join(f"{t:.2f}" for t in t_peer)
        + f" s) | - | {med(t_peer):.3f} | 1x |")
    for th, t in t_ours.items():
        what = "1 thread" if th == 1 else f"`threads={th}`: the trials split over {th} threads, one per core"
        say(f"| hopfield `capacity_scan`, {what} ({len(t)} runs on fresh keys, {min(t) * 1e3:.1f} to "
            f"{max(t) * 1e3:.1f} ms) | {comp[th]:.2f} | {med(t):.4f} | **{ratio[th]:.0f}x** |")
    say()
    say("The first call in this process comes after the CPU-time section above has compiled the same kernel, so "
        "it is not a cold call; the cold calls, in fresh processes:")
    say()
    cold = scan_cold(say)
    say()
    say("hopfieldkit runs on one core; the machine has 2, shared with other jobs (load below), which preempt a "
        "40 ms call more erratically than a 3 s one, hence the spread of our times.")
    say()
    say("`capacity_scan` draws the patterns as packed bits and never builds W: the coupling of i and j is "
        "(p - 2 popcount(c_i xor c_j))/N, fields are exact integers N h updated by one such column per flip, and "
        "sweeps jump from flip to flip (as `event_sweep`), in the order `jax.random.permutation(fold_in(k, t), N)` "
        "that `hopfield.run` uses, so it returns the same bits as `run(hebbian(xi), ...)` "
        "(tests/test_hopfield_capacity_scan.py). Each of our threads loops over flips, hopfieldkit over neurons.")
    say()
    say(f"Where one thread's time goes: the 200 trials of the timed work run {int(mine.sweeps.sum())} sweeps "
        f"and {int(mine.flips.sum())} flips. All trials of all p are the probes of one engine call: 8 slots advance "
        "together, a slot takes the next trial when its trial ends (no waiting for the slowest of a batch), and each "
        "slot's column comes from its own trial's packed bits, so a step (a few small XLA:CPU kernels) serves up "
        "to 8 flips; a sweep draws N threefry bits for its order, one slot per step. hopfieldkit pays about 10 us "
        "per visited neuron (a Python-level loop with a 500-long dot product) and visits every neuron of every "
        "pass; event-driven sweeps pay only per flip.")
    say()
    say(f"Success rates (fraction of exact recalls +- binomial SE). hopfieldkit's `recall` draws its update order from "
        f"an unseeded generator, so its rates vary run to run even with `seed` fixed; its {PEER_RUNS} timed runs are "
        f"pooled ({n_peer} trials). z: two-proportion test of hopfieldkit ({n_peer}) against hopfield ({n_ref}).")
    say()
    say(f"| p | hopfieldkit ({n_peer} trials) | hopfield (20 trials, the timed work) | hopfield ({n_ref} trials) | z |")
    say("|---|---|---|---|---|")
    for i, p in enumerate(COUNTS):
        say(f"| {p} | {peer[i]:.3f} +- {se(peer[i], n_peer):.3f} | {mine.retrieved[i]:.2f} +- {mine.retrieved_se[i]:.2f} | "
            f"{ref.retrieved[i]:.3f} +- {ref.retrieved_se[i]:.3f} | {z[i]:+.2f} |")
    say()
    say(f"Same success rates within sampling error: chi-square over the p values, p-value {pval:.2f} "
        f"(max |z| = {np.max(np.abs(z)):.2f}).")
    say()
    sizes = ((1000, 64, 2), (2000, 32, 2)) if args.quick else ((1000, 256, 2), (4000, 64, 2))
    flips_note, thr = [], {}
    say("Dynamics throughput, float32, a batch of B random states of a Hebbian network at alpha = 0.3, "
        "`sweeps` sweeps per call; an update = one neuron's sign(h_i) decision (N per sweep). "
        "'async visiting' is `async_sweep` (N sequential steps per sweep), 'async event-driven' is `event_sweep` "
        "(jumps from flip to flip: the sweep the engine under `hopfield.run` reproduces, per state). Ratio = effective GFLOP/s over the matmul's.")
    say()
    say("| N | B | sweeps | dynamics | neuron updates/s | effective GFLOP/s (2N per update) | matmul GFLOP/s (same W, B) | ratio to matmul | compile (s) |")
    say("|---|---|---|---|---|---|---|---|---|")
    for N, B, sw in sizes:
        r = throughput(N, B, sw, jax.random.fold_in(key, N))
        thr[N] = r
        flips_note.append(f"N={N}: {r['flips_per_update']:.3f} flips per update")
        for mode in ("sync", "async visiting", "async event-driven"):
            say(f"| {N} | {B} | {sw} | {mode} | {r[mode]['updates_per_s']:.3g} | {r[mode]['gflops']:.2f} | "
                f"{r['matmul']['gflops']:.2f} | {r[mode]['gflops'] / r['matmul']['gflops']:.3f} | {r[mode]['compile']:.2f} |")
    say()
    say("Flips in the async runs: " + "; ".join(flips_note) + ".")
    say()
    say(f"Load average (1 min) at start / end of the run: {load0:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other jobs share the machine; compare the ratios within this run, not absolute times).")
    if args.write:
        write_section(args.write, lines, command)
    if args.json:
        scan = dict(baseline="hopfieldkit 0.1.0", N=N_UNITS, p_min=COUNTS[0], p_max=COUNTS[-1], trials=N_TRIALS,
                    flipped=FLIP, speedup_1_thread=round(ratio[1]), speedup_2_threads=round(ratio[2]),
                    chi_square_p=round(float(pval), 2), target_speedup=100, compile_s={str(k): v for k, v in comp.items()},
                    cpu_time_speedup_1_thread=round(cpu["scan_speedup_1_thread"]), cold=cold)
        engine = dict(N=cpu["N"], alpha=cpu["alpha"], measure="process CPU time, interleaved in one process",
                      baseline=f"hopfieldkit 0.1.0 recall(order='random'), {cpu['peer_probes']} stored patterns",
                      ms_per_probe=round(cpu["ms_per_probe"], 2), baseline_ms_per_probe=round(cpu["baseline_ms_per_probe"]),
                      speedup_per_probe=round(cpu["speedup_per_probe"]), target_speedup=50,
                      dynamics_over_matmul=round(cpu["dynamics_over_matmul"], 1), target_dynamics_over_matmul=5, **eng)
        dyn = dict(rows=[dict(N=N, dynamics=mode, ratio_to_matmul=round(r[mode]["gflops"] / r["matmul"]["gflops"], 3))
                         for N, r in thr.items() for mode in ("sync", "async visiting", "async event-driven")])
        load = dict(load_average_start=round(load0, 1), load_average_end=round(os.getloadavg()[0], 1))
        write_json(args.json, dict(hopfield_engine=engine, hopfield_scan=scan, hopfield_dynamics=dyn), command, load)


def write_json(path, entries, command, load=None, parent=None):
    """Replace ``entries`` (each stamped with the command, date and load) in the JSON file ``path``; with
    ``parent``, as sub-entries of that existing entry (the single-measurement options), dated to the minute."""
    import json

    now = datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y-%m-%d" if parent is None else "%Y-%m-%d %H:%M UTC")
    rec = json.load(open(path)) if os.path.exists(path) else {}
    into = rec if parent is None else rec[parent]
    for k, v in entries.items():
        into[k] = dict(date=date, command=command, **(load or {}), **v)
    with open(path + ".tmp", "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def write_section(path, lines, command):
    """Replace (or append) the '## Hopfield' section of ``path``, leaving every other section alone."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "## Hopfield\n\n" + f"Command: `{command}` ({stamp}).\n\n" + "\n".join(lines).rstrip() + "\n"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    pat = re.compile(r"^## Hopfield\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _: body + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + body
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
