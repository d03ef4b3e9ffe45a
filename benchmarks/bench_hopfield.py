"""Benchmark hopfield/ against the PyPI peer hopfieldkit, and its dynamics against the machine's matmul.

1. The same capacity scan as ``hopfieldkit.empirical_capacity_scan(n_units=500,
   pattern_counts=range(10, 101, 10), n_trials=20, flip_fraction=0.1)``: per
   trial a fresh network of p random patterns, pattern 0 with exactly 50 bits
   flipped, asynchronous recall in a fresh random order each pass (hopfieldkit's
   ``recall(order="random")``, at most 200 passes), success = exact recall.
   hopfieldkit sets s_i = +1 on a zero field, hopfield keeps s_i (ties are rare
   near a stored pattern).  Ours runs the trials with the engine of
   :func:`hopfield.run` (``async_single`` on W, the one quantized weights use),
   two jitted calls per p (Hebb matrices, then the recalls).  Compile time is measured separately (first call); run times are the median
   of repeated calls with fresh keys.  Success rates are compared with a
   two-proportion z-test per p, against ours at 10x the trials.
2. Throughput of batched sync and async sweeps (neuron updates per second) at
   N = 1000 and 4000, with the effective FLOP rate (2N flops per update) over the
   float32 matmul rate measured in the same run.

Usage: ``.venv/bin/python benchmarks/bench_hopfield.py [--quick] [--write docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from hopfield.dynamics import async_single, async_sweep, event_sweep, sign_keep, tie_tolerance
from hopfield.hebbian import hebbian_jax
from hopfield.patterns import flip_exact

N_UNITS, COUNTS, N_TRIALS, FLIP, MAX_PASSES = 500, list(range(10, 101, 10)), 20, 0.1, 200


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


@jax.jit
def _group_inputs(key, xi):
    """Hebb matrices, starts (pattern 0 with exactly FLIP*N bits flipped) and dynamics keys for ``xi: (T, p, N)``."""
    kf, kd = jax.random.split(key)
    T = xi.shape[0]
    s0 = jax.vmap(flip_exact, (0, 0, None))(jax.random.split(kf, T), xi[:, 0], int(FLIP * N_UNITS))
    return jax.vmap(hebbian_jax)(xi), s0, jax.random.split(kd, T)


@jax.jit
def _group_recall(W, s0, keys, target):
    """``lax.map`` runs the trials one after the other, each to its own end (a vmapped batch would
    run every trial as long as the slowest one).  Returns exact-recall flags (T,)."""

    def one(a):
        w, s, k, x = a
        return jnp.all(async_single(w, s, k, MAX_PASSES)[0] == x)

    return jax.lax.map(one, (W, s0, keys, target))


def scan_matrix(key, trials=N_TRIALS, hebb_only=False):
    """The hopfieldkit scan with the engine of ``hopfield.run``: per p, ``trials`` fresh networks.

    One jitted call builds a group's Hebb matrices (one compile per p), one jitted
    call runs its trials (the same compiled function for every p)."""
    rates = []
    for g, p in enumerate(COUNTS):
        kx, kg = jax.random.split(jax.random.fold_in(key, g))
        xi = jnp.where(jax.random.bernoulli(kx, 0.5, (trials, p, N_UNITS)), 1.0, -1.0)
        W, s0, keys = _group_inputs(kg, xi)
        rates.append(jnp.sum(W[:, 0, 1]) if hebb_only else jnp.mean(_group_recall(W, s0, keys, xi[:, 0])))
    return jnp.stack(rates)


def peer_scan(seed):
    from hopfieldkit import empirical_capacity_scan

    t = time.perf_counter()
    r = empirical_capacity_scan(n_units=N_UNITS, pattern_counts=range(10, 101, 10), n_trials=N_TRIALS,
                                flip_fraction=FLIP, seed=seed)
    return np.asarray(r["success_rates"]), time.perf_counter() - t


def compare_rates(peer, ours, n_peer, n_ours):
    """Two-proportion z per p and the chi-square p-value of all of them together."""
    pooled = (peer * n_peer + ours * n_ours) / (n_peer + n_ours)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_peer + 1 / n_ours))
    z = np.where(se > 0, (peer - ours) / np.where(se > 0, se, 1), 0.0)
    return z, float(stats.chi2.sf(np.sum(z**2), np.sum(se > 0)))


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller throughput sizes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", metavar="PATH", help="replace the '## Hopfield' section of this Markdown file")
    args = ap.parse_args(argv)
    key = jax.random.key(args.seed)
    lines = []
    say = lambda s="": (print(s), lines.append(s))  # noqa: E731

    peer, t_peer = peer_scan(args.seed)
    load0 = os.getloadavg()[0]
    scan = scan_matrix
    comp_w, t_w = _timed(scan, key)
    _, t_hebb = _timed(lambda k: scan_matrix(k, hebb_only=True), key)
    ours_w = np.asarray(scan(key))
    ours_ref = np.asarray(scan(jax.random.fold_in(key, 7), 10 * N_TRIALS))
    z, pval = compare_rates(peer, ours_ref, N_TRIALS, 10 * N_TRIALS)

    say(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, JAX {jax.__version__} on "
        f"{jax.devices()[0].platform}; numpy {np.__version__}.")
    say()
    say("Capacity scan of hopfieldkit 0.1.0 (N=500, p=10..100, 20 trials, 10% flipped, async random order, exact recall):")
    say()
    say("| implementation | compile (s) | run (s) | speed-up vs hopfieldkit |")
    say("|---|---|---|---|")
    say(f"| hopfieldkit `empirical_capacity_scan` | - | {t_peer:.3f} | 1x |")
    say(f"| hopfield (`async_single` on W: Hebb matrices + dynamics, 2 jitted calls per p) | {comp_w:.2f} | {t_w:.4f} | {t_peer / t_w:.1f}x |")
    say()
    say(f"Of our run time, drawing the patterns and building the 200 Hebb matrices alone takes {t_hebb:.3f} s. "
        "hopfieldkit's `recall` draws its update order from an unseeded generator, so its rates vary run to run "
        "even with `seed` fixed.")
    say()
    say("| p | hopfieldkit (20 trials) | hopfield (20 trials) | hopfield (200 trials) | z (peer vs 200 trials) |")
    say("|---|---|---|---|---|")
    for p, a, b, c, zz in zip(COUNTS, peer, ours_w, ours_ref, z):
        say(f"| {p} | {a:.2f} | {b:.2f} | {c:.3f} | {zz:+.2f} |")
    say()
    say(f"Same success rates within sampling error: chi-square over the p values, p-value {pval:.2f} "
        f"(max |z| = {np.max(np.abs(z)):.2f}).")
    say()
    sizes = ((1000, 64, 2), (2000, 32, 2)) if args.quick else ((1000, 256, 2), (4000, 64, 2))
    flips_note = []
    say("Dynamics throughput, float32, a batch of B random states of a Hebbian network at alpha = 0.3, "
        "`sweeps` sweeps per call; an update = one neuron's sign(h_i) decision (N per sweep). "
        "'async visiting' is `async_sweep` (N sequential steps per sweep), 'async event-driven' is `event_sweep` "
        "(jumps from flip to flip; what `hopfield.run` uses). Ratio = effective GFLOP/s over the matmul's.")
    say()
    say("| N | B | sweeps | dynamics | neuron updates/s | effective GFLOP/s (2N per update) | matmul GFLOP/s (same W, B) | ratio to matmul | compile (s) |")
    say("|---|---|---|---|---|---|---|---|---|")
    for N, B, sw in sizes:
        r = throughput(N, B, sw, jax.random.fold_in(key, N))
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
        write_section(args.write, lines, " ".join(["python", "benchmarks/bench_hopfield.py", *(argv or sys.argv[1:])]))


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
