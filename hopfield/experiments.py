"""Experiments on Hebbian memories with quantized weights: retrieval, basins, quantizer comparison.

Each experiment returns a typed record (:mod:`hopfield.records`, numpy arrays
and numbers, with its configuration written in) that :mod:`hopfield.plots`
draws without recomputing anything.  Results are reproducible from the key:
network ``j`` at grid point ``i`` uses ``fold_in(fold_in(key, i), j)``.  Long
loops show a tqdm bar; Ctrl-C (KeyboardInterrupt) stops them cleanly and
returns the same record type with ``interrupted=True`` and NaN where the run
did not get.

Protocol of one network: draw ``p = round(alpha N)`` random patterns, build the
Hebb matrix (Hopfield 1982), quantize it (optional), then start from
``probes`` of the stored patterns with exactly ``round(noise N)`` bits flipped
and run the zero-temperature dynamics.  The final overlap is
``m = xi . s / N``; a probe counts as retrieved when ``m >= criterion``
(``criterion="exact"``: ``m == 1``).  Standard errors treat networks as the
independent units (probes of one network share W): the SE of the mean over
networks of each network's mean.

Quantizer of the Hebbian matrix: the recipe's a-priori optimum for the exact
binomial density of the entries, ``recipe.optimal(theory.hebbian_density(p))``,
applied with ``scale = sqrt(p)/N``, the exact std of those entries, by the same
code as ``hopfield.quantize(W, recipe, p=p)``; measured rho is
``theory.rho(W, qW)`` over the off-diagonal entries (the zero diagonals add
nothing).  Theory beside it: ``theory.field_agreement(rho)`` (Sheppard),
``theory.overlap(alpha, rho)`` and ``theory.predicted_capacity(rho)`` (D. J. Amit,
H. Gutfreund, H. Sompolinsky, PRL 55:1530, 1985; Ann. Phys. 173:30, 1987, with
H. Sompolinsky's static synaptic noise, PRA 34:2571, 1986).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import theory
from theory import Quantizer

from ._checks import check_criterion, check_fraction, check_int, check_key, check_network_size
from .dynamics import MODES, run_batch
from .hebbian import (QuantizerSpec, apply_quantizer, as_spec, hebbian_jax, hebbian_scale, quantizer_label, spec_recipe,
                      unit_quantizer)
from .patterns import _random_patterns, flip_exact
from .records import BasinsRecord, ComparisonRecord, RetrievalRecord

#: Where the probes start: ``"basin"`` (stored patterns with flipped bits) or ``"stability"`` (the stored patterns).
PROTOCOLS = ("basin", "stability")


# -- one network ----------------------------------------------------------------
#: Random states per network on which field agreement is measured (each gives N fields).
FIELD_STATES = 64


@jax.jit
def _field_agreement(key, W, qW):
    """Fraction of local fields of ``FIELD_STATES`` random states whose sign W and qW agree.

    A zero field (common for lattice-valued quantized matrices, e.g. ternary)
    counts as half an agreement, i.e. ties broken at random, which is what
    Sheppard's formula for continuous fields describes.
    """
    S = jnp.where(jax.random.bernoulli(key, 0.5, (FIELD_STATES, W.shape[0])), 1.0, -1.0).astype(W.dtype)
    prod = jnp.sign(S @ W) * jnp.sign(S @ qW)
    return jnp.mean(jnp.where(prod > 0, 1.0, jnp.where(prod < 0, 0.0, 0.5)))


def _network(key, N: int, p: int, quantizer: Quantizer | None, n_flip: np.ndarray, probes: int, mode: str,
             max_sweeps: int, measure: bool) -> dict:
    """One network, probed from each stored pattern 0..probes-1 at every flip count in ``n_flip``."""
    kx, kf, kd, ka = jax.random.split(key, 4)
    xi = _random_patterns(kx, p, N)
    W = hebbian_jax(xi)
    out = {}
    if quantizer is not None:
        qW = apply_quantizer(W, quantizer, hebbian_scale(p, N))
        if measure:
            out["rho"] = theory.rho(np.asarray(W), np.asarray(qW))
            out["field_agreement"] = float(_field_agreement(ka, W, qW))
        W = qW
    elif measure:
        out["rho"], out["field_agreement"] = 1.0, 1.0
    targets = xi[:probes]
    L = len(n_flip)
    tgt = jnp.tile(targets, (L, 1))
    flips = jnp.repeat(jnp.asarray(n_flip, jnp.int32), probes)
    s0 = jax.vmap(flip_exact)(jax.random.split(kf, L * probes), tgt, flips)
    res = run_batch(W, s0, jax.random.split(kd, L * probes), mode=mode, max_sweeps=max_sweeps)
    m = jnp.mean(res.states * tgt, axis=1)
    out["m"] = np.asarray(m).reshape(L, probes)
    out["sweeps"] = np.asarray(res.sweeps).reshape(L, probes)
    out["status"] = np.asarray(res.status).reshape(L, probes)
    return out


def _retrieved(m: np.ndarray, criterion: float | str) -> np.ndarray:
    return m >= (1.0 - 1e-6 if criterion == "exact" else criterion)


def _check_common(key, N, networks, probes, mode, max_sweeps, criterion):
    key = check_key(key)
    N = check_int("N", N, 2)
    networks = check_int("networks", networks, 1)
    probes = check_int("probes", probes, 1)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    check_criterion(criterion)
    return key, N, networks, probes, max_sweeps


def _nan_se(x: np.ndarray) -> np.ndarray:
    """x: (A, networks, probes) -> (A,) SE of the mean over networks of the per-network means.

    NaN probes (fewer patterns than probes) are left out of a network's mean; rows with
    networks not reached use the networks done; fewer than 2 networks give NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: loads or networks not reached
        per_net = np.nanmean(x, axis=2)
    out = np.full(per_net.shape[0], np.nan)
    n = np.sum(~np.isnan(per_net), axis=1)
    full = n == per_net.shape[1]
    if per_net.shape[1] > 1:
        out[full] = per_net[full].std(axis=1, ddof=1) / np.sqrt(per_net.shape[1])
    part = ~full & (n > 1)
    if part.any():
        out[part] = np.nanstd(per_net[part], axis=1, ddof=1) / np.sqrt(n[part])
    return out


# -- retrieval ------------------------------------------------------------------
def retrieval(N: int, alphas: Sequence[float], quantizer: QuantizerSpec = None, *, key: Any, noise: float = 0.1,
              networks: int = 8, probes: int = 8, mode: str = "async", max_sweeps: int = 100,
              criterion: float | str = 0.9, dist: str = "hebbian", progress: bool = True,
              protocol: str = "basin") -> RetrievalRecord:
    """Retrieval from a noisy start (or from the stored patterns) versus load ``alpha = p/N`` (AGS 1985/87).

    **Arguments:**

    - `N`: neurons (>= 2); `alphas`: loads, each giving ``p = max(1, round(alpha N))``.
    - `quantizer`: None (float weights), a ``theory.Recipe`` (or ``"sign"``, ``("uniform", 8)``),
      or a unit-sigma ``theory.Quantizer`` (see :func:`hopfield.quantize`).
    - `key`: JAX PRNG key (keyword-only).
    - `noise`: fraction of flipped bits of the start, in [0, 1].
    - `networks`, `probes`: independent networks per load, stored patterns probed per network (<= p).
    - `mode`, `max_sweeps`: dynamics (see :func:`hopfield.run`).
    - `criterion`: retrieved when ``m >= criterion``, or ``"exact"``.
    - `dist`: the density a recipe is optimized for: ``"hebbian"`` (the exact entry density,
      default) or a name theory knows (``"gaussian"``).
    - `protocol`: ``"basin"`` (start at `probes` stored patterns with ``round(noise N)`` bits
      flipped) or ``"stability"`` (start at every stored pattern, ``noise`` 0, `probes` ignored:
      the fixed point the mean-field theory is about).

    **Returns:** :class:`hopfield.records.RetrievalRecord` (NaN at loads not reached when interrupted).
    """
    key, N, networks, probes, max_sweeps = _check_common(key, N, networks, probes, mode, max_sweeps, criterion)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    noise = check_fraction("noise", noise)
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alphas must be positive loads, got {alphas!r}")
    if protocol == "stability":  # every stored pattern, unperturbed
        noise, probes = 0.0, max(1, int(round(a.max() * N)))
    check_network_size(N, [max(1, int(round(x * N))) for x in a], networks, probes, int(round(noise * N)), 1,
                       quantizer is not None, "retrieval")  # memory and work, before anything is allocated
    quantizer = as_spec(quantizer)  # strings and tuples parsed once, here
    unit_quantizer(quantizer, max(1, round(a[0] * N)), dist)  # a spec without an a-priori quantizer fails early
    return _retrieval(key, N, a, quantizer, dict(noise=noise, networks=networks, probes=probes, mode=mode,
                                                 max_sweeps=max_sweeps, criterion=criterion, dist=dist,
                                                 protocol=protocol), progress)


def _retrieval(key, N: int, a: np.ndarray, quantizer: QuantizerSpec, opts: dict, progress: bool,
               skip: bool = False) -> RetrievalRecord:
    """The loop of :func:`retrieval` on checked inputs; ``skip``: the record of a run not started."""
    n_flip = np.array([int(round(opts["noise"] * N))])
    rows: list[dict] = []
    interrupted = skip
    bar = tqdm(total=a.size * opts["networks"], desc=f"retrieval N={N} {quantizer_label(quantizer)}",
               disable=not progress or skip, leave=False)
    try:
        for i, alpha in enumerate([] if skip else a):
            p = max(1, int(round(alpha * N)))
            q = unit_quantizer(quantizer, p, opts["dist"])
            nets = []
            for j in range(opts["networks"]):
                k = jax.random.fold_in(jax.random.fold_in(key, i), j)
                nets.append(_network(k, N, p, q, n_flip, min(opts["probes"], p), opts["mode"], opts["max_sweeps"],
                                     measure=True))
                bar.update(1)
            rows.append({"alpha": alpha, "p": p, "nets": nets})
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    return _retrieval_record(rows, a, dict(N=N, quantizer=quantizer_label(quantizer), recipe=spec_recipe(quantizer), **opts),
                             interrupted)


def _retrieval_record(rows: list[dict], a: np.ndarray, config: dict, interrupted: bool) -> RetrievalRecord:
    """The record of the loads in ``rows`` (the first ``len(rows)`` of ``a``), NaN at the others."""
    A, D, N = a.size, len(rows), config["N"]
    p_all = np.array([max(1, int(round(x * N))) for x in a], dtype=int)
    width = int(min(config["probes"], p_all.max()))
    m = np.full((A, config["networks"], width), np.nan)
    st = np.zeros((A, 3), dtype=int)
    nan = np.full(A, np.nan)
    sweeps, rho, fa, th_fa, th_m, th_c = (nan.copy() for _ in range(6))
    for i, r in enumerate(rows):
        for j, net in enumerate(r["nets"]):
            m[i, j, : net["m"].shape[1]] = net["m"][0]
        st[i] = np.bincount(np.concatenate([n["status"].ravel() for n in r["nets"]]), minlength=3)[:3]
        sweeps[i] = np.mean([n["sweeps"].mean() for n in r["nets"]])
        rho[i] = np.mean([n["rho"] for n in r["nets"]])
        fa[i] = np.mean([n["field_agreement"] for n in r["nets"]])
    if D:
        done = rho[:D]
        th_fa[:D] = np.asarray(theory.field_agreement(np.clip(done, -1, 1)), dtype=float).reshape(-1)
        th_m[:D] = [theory.overlap(al, min(r_, 1.0)) for al, r_ in zip(a[:D], done, strict=True)]
        th_c[:D] = [theory.predicted_capacity(min(r_, 1.0)) for r_ in done]
        # The theory curve on a fine grid at the mean measured rho, for plots (which never recompute science).
        grid = np.linspace(0.0, 1.15 * float(a[:D].max()), 80)
        m_grid = np.asarray(theory.overlap(grid, float(min(np.mean(done), 1.0))), dtype=float)
    else:
        grid, m_grid = np.full(80, np.nan), np.full(80, np.nan)
    ok = _retrieved(np.nan_to_num(m, nan=-2.0), config["criterion"]).astype(float)
    ok[np.isnan(m)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # loads not reached are all NaN
        m_mean, retrieved = np.nanmean(m, axis=(1, 2)), np.nanmean(ok, axis=(1, 2))
    return RetrievalRecord(**config, interrupted=bool(interrupted), alpha=a.copy(), p=p_all, m=m, m_mean=m_mean,
                           m_se=_nan_se(m), retrieved=retrieved, retrieved_se=_nan_se(ok), sweeps_mean=sweeps,
                           status_counts=st, rho=rho, field_agreement=fa, theory_field_agreement=th_fa,
                           theory_overlap=th_m, theory_capacity=th_c, theory_alpha_grid=grid, theory_m_grid=m_grid)


# -- basins of attraction -----------------------------------------------------------
def basins(N: int, alpha: float, quantizer: QuantizerSpec = None, *, key: Any, m0: Sequence[float] = (1.0, 0.8, 0.6, 0.4, 0.2),
           networks: int = 8, probes: int = 8, mode: str = "async", max_sweeps: int = 100,
           criterion: float | str = 0.9, dist: str = "hebbian", progress: bool = True) -> BasinsRecord:
    """Retrieval probability versus initial overlap ``m0`` at one load (basins of attraction).

    A start with overlap ``m0`` has ``round((1 - m0) N / 2)`` flipped bits.  Every
    network is probed at all ``m0`` (same patterns and W), so differences across
    ``m0`` are paired.  Arguments as :func:`retrieval`, with one load `alpha`.

    **Returns:** :class:`hopfield.records.BasinsRecord` (NaN for networks not reached when interrupted).
    """
    key, N, networks, probes, max_sweeps = _check_common(key, N, networks, probes, mode, max_sweeps, criterion)
    m0 = np.asarray(m0, dtype=np.float64).ravel()
    if m0.size == 0 or np.any(~np.isfinite(m0)) or np.any(np.abs(m0) > 1):
        raise ValueError(f"m0 must be initial overlaps in [-1, 1], got {m0!r}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive load, got {alpha!r}")
    p = max(1, int(round(alpha * N)))
    n_flip = np.round((1.0 - m0) * N / 2).astype(int)
    check_network_size(N, [p], networks, probes, int(n_flip.max()), n_flip.size, quantizer is not None, "basins")
    quantizer = as_spec(quantizer)
    q = unit_quantizer(quantizer, p, dist)
    nets, interrupted = [], False
    try:
        for j in tqdm(range(networks), desc=f"basins N={N} alpha={alpha:g}", disable=not progress, leave=False):
            nets.append(_network(jax.random.fold_in(key, j), N, p, q, n_flip, min(probes, p), mode, max_sweeps, measure=True))
    except KeyboardInterrupt:
        interrupted = True
    m = np.full((networks, n_flip.size, min(probes, p)), np.nan)
    for j, net in enumerate(nets):
        m[j] = net["m"]
    ok = _retrieved(np.nan_to_num(m, nan=-2.0), criterion).astype(float)
    ok[np.isnan(m)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no network done: all NaN
        m_mean, retrieved = np.nanmean(m, axis=(0, 2)), np.nanmean(ok, axis=(0, 2))
    return BasinsRecord(N=N, alpha=alpha, p=p, quantizer=quantizer_label(quantizer), recipe=spec_recipe(quantizer),
                        networks=networks, probes=probes,
                        mode=mode, max_sweeps=max_sweeps, criterion=criterion, dist=dist, interrupted=interrupted,
                        m0=1.0 - 2.0 * n_flip / N, m=m, m_mean=m_mean, retrieved=retrieved,
                        retrieved_se=_nan_se(np.moveaxis(ok, 0, 1)),
                        rho=float(np.mean([n["rho"] for n in nets])) if nets else math.nan)


# -- theory side by side ------------------------------------------------------------
#: The quantizers compared with theory: sign, ternary, uniform and exponential at 2-5 bits, Lloyd-Max at 2-3 bits.
COMPARISON_QUANTIZERS = (None, theory.Recipe("sign"), theory.Recipe("ternary"),
                         *[theory.Recipe(f, bits=b) for f in ("uniform", "exponential") for b in (2, 3, 4, 5)],
                         theory.Recipe("lloyd_max", bits=2), theory.Recipe("lloyd_max", bits=3))


def compare_quantizers(N: int, alphas: Sequence[float], quantizers: Sequence[QuantizerSpec] = COMPARISON_QUANTIZERS,
                       *, key: Any, progress: bool = True, **kwargs) -> ComparisonRecord:
    """Measured versus predicted behaviour for several quantizers of the same networks.

    Every quantizer sees the same patterns, W and starts (same key), so the
    comparison across quantizers is paired.

    **Arguments:** `quantizers`: specs (see :func:`retrieval`); `key` (keyword-only);
    other keywords go to :func:`retrieval`.

    **Returns:** :class:`hopfield.records.ComparisonRecord`; after an interruption the
    quantizers not reached have all-NaN runs.
    """
    quantizers = [as_spec(q) for q in quantizers]  # every spec parsed and checked before the first run
    for q in quantizers:
        unit_quantizer(q, 1)
    runs: list[RetrievalRecord] = []
    for q in tqdm(quantizers, desc="quantizers", disable=not progress, leave=False):
        if runs and runs[-1].interrupted:  # not reached: the same configuration, all NaN
            last = runs[-1]
            opts = {k: getattr(last, k) for k in ("noise", "networks", "probes", "mode", "max_sweeps", "criterion", "dist",
                                                  "protocol")}
            runs.append(_retrieval(key, last.N, last.alpha, q, opts, False, skip=True))
        else:
            runs.append(retrieval(N, alphas, q, key=key, progress=progress, **kwargs))
    return ComparisonRecord.from_runs(runs, any(r.interrupted for r in runs))
