"""Experiments on Hebbian memories with quantized weights: retrieval, basins, capacity.

Each experiment returns a plain record (a dict of numpy arrays and numbers,
with its configuration written in) that :mod:`hopfield.plots` draws without
recomputing anything.  Results are reproducible from the key: network ``j`` at
grid point ``i`` uses ``fold_in(fold_in(key, i), j)``.  Long loops show a tqdm
bar; Ctrl-C (KeyboardInterrupt) stops them cleanly and returns the grid points
finished so far with ``record["interrupted"] = True``.

Protocol of one network: draw ``p = round(alpha N)`` random patterns, build the
Hebb matrix (Hopfield 1982), quantize it (optional), then start from
``probes`` of the stored patterns with exactly ``round(noise N)`` bits flipped
and run the zero-temperature dynamics.  The final overlap is
``m = xi . s / N``; a probe counts as retrieved when ``m >= criterion``
(``criterion="exact"``: ``m == 1``).  Standard errors treat networks as the
independent units (probes of one network share W): the SE of the mean over
networks of each network's mean.

Quantizer of the Hebbian matrix: ``theory.make(family, K, dist=("hebbian", p))``,
rho-optimal for the exact binomial density of the entries, applied with
``scale = sqrt(p)/N``, the exact std of those entries; measured rho is
``theory.rho(W, qW)`` over the off-diagonal entries (the zero diagonals add
nothing).  Theory beside it: ``theory.field_agreement(rho)``,
``theory.overlap(alpha, rho)`` and ``theory.predicted_capacity(rho)`` (AGS 1985/87 with
Sompolinsky's 1986 static synaptic noise).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize
from tqdm.auto import tqdm

import theory
from theory import Quantizer

from ._checks import check_fraction, check_int, check_key
from .dynamics import MODES, run_batch
from .hebbian import hebbian_jax, quantize_jax
from .patterns import _random_patterns, flip_exact

QuantizerSpec = Any  # None | Quantizer | family name ("sign", "ternary") | (family, K)


# -- quantizer specs ----------------------------------------------------------
@lru_cache(maxsize=256)
def _make(family: str, K: int, p: int, dist: str) -> Quantizer:
    return theory.make(family, K, ("hebbian", p) if dist == "hebbian" else dist)


def resolve_quantizer(spec: QuantizerSpec, p: int, dist: str = "hebbian") -> Quantizer | None:
    """The unit-sigma quantizer for a Hebbian matrix with ``p`` patterns.

    **Arguments:** `spec`: None (float weights), a :class:`theory.Quantizer`
    (used as is), a family name with a fixed K (``"sign"``, ``"ternary"``) or
    ``(family, K)``; `dist`: ``"hebbian"`` (exact entry density, default) or a
    name theory knows (``"gaussian"``).
    """
    if spec is None or isinstance(spec, Quantizer):
        return spec
    if isinstance(spec, str):
        fixed = {"sign": 2, "ternary": 3}
        if spec not in fixed:
            raise ValueError(f"quantizer must be None, a Quantizer, 'sign', 'ternary' or (family, K), got {spec!r}")
        spec = (spec, fixed[spec])
    if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in theory.FAMILIES):
        raise ValueError(f"quantizer must be None, a Quantizer, 'sign', 'ternary' or (family, K), got {spec!r}")
    return _make(spec[0], int(spec[1]), int(p), dist)


def quantizer_label(spec: QuantizerSpec) -> str:
    """A short label: ``"float"``, ``"sign"``, ``"uniform 3 bit"``, or the Quantizer's name."""
    if spec is None:
        return "float"
    if isinstance(spec, Quantizer):
        return spec.name
    if isinstance(spec, str):
        return spec
    family, K = spec
    bits = max(1, math.ceil(math.log2(K)))
    return f"{family} {bits} bit" if 2**bits == K else f"{family} K={K}"


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
        qW = quantize_jax(W, quantizer, jnp.float32(math.sqrt(p) / N))
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
    if criterion != "exact":
        c = float(criterion)
        if not -1.0 <= c <= 1.0:
            raise ValueError(f"criterion must be 'exact' or an overlap in [-1, 1], got {criterion!r}")
    return key, N, networks, probes, max_sweeps


def _se_over_networks(x: np.ndarray) -> np.ndarray:
    """x: (..., networks, probes) -> SE of the mean over networks of per-network means."""
    per_net = x.mean(axis=-1)
    n = per_net.shape[-1]
    return per_net.std(axis=-1, ddof=1) / np.sqrt(n) if n > 1 else np.full(per_net.shape[:-1], np.nan)


# -- retrieval ------------------------------------------------------------------
def retrieval(key: Any, N: int, alphas: Sequence[float], quantizer: QuantizerSpec = None, *, noise: float = 0.1,
              networks: int = 8, probes: int = 8, mode: str = "async", max_sweeps: int = 100,
              criterion: float | str = 0.9, dist: str = "hebbian", progress: bool = True) -> dict:
    """Retrieval from a noisy start versus load ``alpha = p/N`` (AGS 1985/87).

    **Arguments:**

    - `key`: JAX PRNG key; `N`: neurons (>= 2); `alphas`: loads, each giving ``p = max(1, round(alpha N))``.
    - `quantizer`: see :func:`resolve_quantizer` (None = float weights).
    - `noise`: fraction of flipped bits of the start, in [0, 1].
    - `networks`, `probes`: independent networks per load, stored patterns probed per network (<= p).
    - `mode`, `max_sweeps`: dynamics (see :func:`hopfield.run`).
    - `criterion`: retrieved when ``m >= criterion``, or ``"exact"``.
    - `dist`: the density the quantizer is optimized for (see :func:`resolve_quantizer`).

    **Returns:** dict with config keys and, per load (A = len(alphas) done):
    ``alpha, p`` (A,); ``m`` (A, networks, probes) final overlaps; ``m_mean, m_se,
    retrieved, retrieved_se`` (A,); ``sweeps_mean`` (A,); ``status_counts`` (A, 3);
    ``rho, field_agreement`` (A,) measured (1 for float weights);
    ``theory_overlap, theory_field_agreement`` (A,) and ``theory_capacity`` (A,)
    from the measured rho; ``theory_alpha_grid, theory_m_grid`` (80,) the AGS
    curve at the mean measured rho; ``interrupted`` (bool).
    """
    key, N, networks, probes, max_sweeps = _check_common(key, N, networks, probes, mode, max_sweeps, criterion)
    noise = check_fraction("noise", noise)
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alphas must be positive loads, got {alphas!r}")
    resolve_quantizer(quantizer, 1 if quantizer is None else max(1, round(a[0] * N)), dist)  # validate spec early
    n_flip = np.array([int(round(noise * N))])
    rows: list[dict] = []
    interrupted = False
    bar = tqdm(total=a.size * networks, desc=f"retrieval N={N} {quantizer_label(quantizer)}", disable=not progress, leave=False)
    try:
        for i, alpha in enumerate(a):
            p = max(1, int(round(alpha * N)))
            q = resolve_quantizer(quantizer, p, dist)
            nets = []
            for j in range(networks):
                k = jax.random.fold_in(jax.random.fold_in(key, i), j)
                nets.append(_network(k, N, p, q, n_flip, min(probes, p), mode, max_sweeps, measure=True))
                bar.update(1)
            rows.append({"alpha": alpha, "p": p, "nets": nets})
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    return _retrieval_record(rows, dict(N=N, quantizer=quantizer_label(quantizer), noise=noise, networks=networks,
                                        probes=probes, mode=mode, max_sweeps=max_sweeps, criterion=criterion,
                                        dist=dist), interrupted)


def _retrieval_record(rows: list[dict], config: dict, interrupted: bool) -> dict:
    A = len(rows)
    rec: dict[str, Any] = dict(config, interrupted=interrupted, alpha=np.array([r["alpha"] for r in rows]),
                               p=np.array([r["p"] for r in rows], dtype=int))
    if A == 0:
        return rec
    width = max(len(r["nets"][0]["m"][0]) for r in rows)
    m = np.full((A, config["networks"], width), np.nan)
    st = np.zeros((A, 3), dtype=int)
    sweeps = np.zeros(A)
    for i, r in enumerate(rows):
        for j, net in enumerate(r["nets"]):
            m[i, j, : net["m"].shape[1]] = net["m"][0]
        st[i] = np.bincount(np.concatenate([n["status"].ravel() for n in r["nets"]]), minlength=3)[:3]
        sweeps[i] = np.mean([n["sweeps"].mean() for n in r["nets"]])
    ok = _retrieved(np.nan_to_num(m, nan=-2.0), config["criterion"]).astype(float)
    ok[np.isnan(m)] = np.nan
    rho = np.array([np.mean([n["rho"] for n in r["nets"]]) for r in rows])
    rec.update(
        m=m,
        m_mean=np.nanmean(m, axis=(1, 2)),
        m_se=_nan_se(m),
        retrieved=np.nanmean(ok, axis=(1, 2)),
        retrieved_se=_nan_se(ok),
        sweeps_mean=sweeps,
        status_counts=st,
        rho=rho,
        field_agreement=np.array([np.mean([n["field_agreement"] for n in r["nets"]]) for r in rows]),
        theory_field_agreement=np.asarray(theory.field_agreement(np.clip(rho, -1, 1)), dtype=float).reshape(-1),
        theory_overlap=np.array([theory.overlap(al, min(r_, 1.0)) for al, r_ in zip(rec["alpha"], rho)]),
        theory_capacity=np.array([theory.predicted_capacity(min(r_, 1.0)) for r_ in rho]),
    )
    # The theory curve on a fine grid at the mean measured rho, for plots (which never recompute science).
    rho_mean = float(min(np.mean(rho), 1.0))
    grid = np.linspace(0.0, 1.15 * float(rec["alpha"].max()), 80)
    rec.update(theory_alpha_grid=grid, theory_m_grid=np.asarray(theory.overlap(grid, rho_mean), dtype=float))
    return rec


def _nan_se(x: np.ndarray) -> np.ndarray:
    per_net = np.nanmean(x, axis=2)
    n = per_net.shape[1]
    return per_net.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.full(per_net.shape[0], np.nan)


# -- basins of attraction -----------------------------------------------------------
def basins(key: Any, N: int, alpha: float, quantizer: QuantizerSpec = None, *, m0: Sequence[float] = (1.0, 0.8, 0.6, 0.4, 0.2),
           networks: int = 8, probes: int = 8, mode: str = "async", max_sweeps: int = 100,
           criterion: float | str = 0.9, dist: str = "hebbian", progress: bool = True) -> dict:
    """Retrieval probability versus initial overlap ``m0`` at one load (basins of attraction).

    A start with overlap ``m0`` has ``round((1 - m0) N / 2)`` flipped bits.  Every
    network is probed at all ``m0`` (same patterns and W), so differences across
    ``m0`` are paired.

    **Returns:** dict with config keys, ``m0`` (L,) the realised initial overlaps,
    ``m`` (networks, L, probes), ``retrieved, retrieved_se, m_mean`` (L,), ``rho``, ``interrupted``.
    """
    key, N, networks, probes, max_sweeps = _check_common(key, N, networks, probes, mode, max_sweeps, criterion)
    m0 = np.asarray(m0, dtype=np.float64).ravel()
    if m0.size == 0 or np.any(~np.isfinite(m0)) or np.any(np.abs(m0) > 1):
        raise ValueError(f"m0 must be initial overlaps in [-1, 1], got {m0!r}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive load, got {alpha!r}")
    p = max(1, int(round(alpha * N)))
    q = resolve_quantizer(quantizer, p, dist)
    n_flip = np.round((1.0 - m0) * N / 2).astype(int)
    nets, interrupted = [], False
    try:
        for j in tqdm(range(networks), desc=f"basins N={N} alpha={alpha:g}", disable=not progress, leave=False):
            nets.append(_network(jax.random.fold_in(key, j), N, p, q, n_flip, min(probes, p), mode, max_sweeps, measure=True))
    except KeyboardInterrupt:
        interrupted = True
    rec = dict(N=N, alpha=alpha, p=p, quantizer=quantizer_label(quantizer), networks=len(nets), probes=probes, mode=mode,
               max_sweeps=max_sweeps, criterion=criterion, dist=dist, interrupted=interrupted, m0=1.0 - 2.0 * n_flip / N)
    if not nets:
        return rec
    m = np.stack([n["m"] for n in nets])  # (networks, L, probes)
    ok = _retrieved(m, criterion).astype(float)
    rec.update(m=m, m_mean=m.mean(axis=(0, 2)), retrieved=ok.mean(axis=(0, 2)),
               retrieved_se=_se_over_networks(np.moveaxis(ok, 0, 1)), rho=float(np.mean([n["rho"] for n in nets])))
    return rec


# -- theory side by side ------------------------------------------------------------
#: The quantizers compared with theory: sign, ternary, uniform and exponential at 2-5 bits, Lloyd-Max at 2-3 bits.
COMPARISON_QUANTIZERS = (None, "sign", "ternary",
                         *[(f, 2**b) for f in ("uniform", "exponential") for b in (2, 3, 4, 5)],
                         ("lloyd_max", 4), ("lloyd_max", 8))


def compare_quantizers(key: Any, N: int, alphas: Sequence[float], quantizers: Sequence[QuantizerSpec] = COMPARISON_QUANTIZERS,
                       *, progress: bool = True, **kwargs) -> dict:
    """Measured versus predicted behaviour for several quantizers of the same networks.

    Every quantizer sees the same patterns, W and starts (same key), so the
    comparison across quantizers is paired.

    **Arguments:** `quantizers`: specs (see :func:`resolve_quantizer`); other
    keywords go to :func:`retrieval`.

    **Returns:** dict with ``labels`` (Q,), ``runs`` (the Q retrieval records),
    ``rho, field_agreement, theory_field_agreement, theory_capacity`` (Q,)
    averaged over loads, the Sheppard curve ``rho_grid, field_agreement_grid``
    (200,), and ``interrupted``.
    """
    runs, interrupted = [], False
    for q in tqdm(list(quantizers), desc="quantizers", disable=not progress, leave=False):
        r = retrieval(key, N, alphas, q, progress=progress, **kwargs)
        if len(r["alpha"]):
            runs.append(r)
        if r["interrupted"]:
            interrupted = True
            break
    grid = np.linspace(0.0, 1.0, 200)
    return dict(
        N=N, labels=[r["quantizer"] for r in runs], runs=runs, interrupted=interrupted,
        rho=np.array([np.mean(r["rho"]) for r in runs]),
        field_agreement=np.array([np.mean(r["field_agreement"]) for r in runs]),
        theory_field_agreement=np.array([float(theory.field_agreement(min(np.mean(r["rho"]), 1.0))) for r in runs]),
        theory_capacity=np.array([float(np.mean(r["theory_capacity"])) for r in runs]),
        rho_grid=grid, field_agreement_grid=np.asarray(theory.field_agreement(grid), dtype=float),
    )
