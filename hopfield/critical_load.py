"""Storage capacity alpha_c(N, quantizer) from simulations, and its large-N extrapolation.

- alpha_c(N): the load where the retrieval probability crosses 1/2, from a
  logistic ``f(alpha) = 1 / (1 + exp((alpha - alpha_c) / width))`` fitted by
  binomial maximum likelihood to every probe; the 95% interval is a percentile
  bootstrap that resamples whole networks at each load (probes of one network
  share W and are not independent).
- Large N: weighted least squares of ``alpha_c(N) = alpha_inf + a N^(-nu)``
  with ``nu = 1/2`` by default, the scaling of the O(1/sqrt(N)) fluctuations of
  the crosstalk field.  Finite networks retrieve somewhat above the AGS value
  0.138 (D. J. Amit, H. Gutfreund, H. Sompolinsky, Ann. Phys. 173:30, 1987,
  simulations section; J. Steffan, R. Kuhn, Z. Phys. B 95:249, 1994, quote
  simulation studies at 0.145 +- 0.009).  The mean-field value itself moves
  little beyond replica symmetry (0.1379 RS; 0.1382 with replica-symmetry
  breaking, Steffan and Kuhn; the earlier RSB estimate of A. Crisanti,
  D. J. Amit, H. Gutfreund, Europhys. Lett. 2:337, 1986, is about 0.144), so
  the excess at finite N is a finite-size effect.  The exponent is a parameter
  because the finite-size form depends on the retrieval criterion.  Theory
  beside it: ``theory.predicted_capacity(rho)`` (AGS with Sompolinsky's 1986
  static synaptic noise, PRA 34:2571).
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from typing import Any, Sequence

import jax
import numpy as np
from scipy import optimize

import theory

from ._checks import check_int, check_key, check_network_size
from .experiments import retrieval
from .hebbian import QuantizerSpec, as_spec, quantizer_label, spec_recipe
from .records import CapacityRecord, FiniteSizeRecord


def _fit_logistic(alpha: np.ndarray, k: np.ndarray, n: np.ndarray, start: tuple[float, float] | None = None) -> tuple[float, float]:
    """Binomial MLE of (alpha_c, width) for successes ``k`` of ``n`` at loads ``alpha`` (``start``: one warm start)."""
    f = k.sum() / max(n.sum(), 1)
    span = float(alpha.max() - alpha.min()) or 1.0

    def nll(theta):
        ac, logw = theta
        z = (alpha - ac) / np.exp(logw)
        # log f = -log(1 + e^z), log(1 - f) = z - log(1 + e^z)
        l1p = np.logaddexp(0.0, z)
        return float(np.sum(k * l1p + (n - k) * (l1p - z)))

    cross = alpha[np.argmin(np.abs(k / np.maximum(n, 1) - 0.5))] if f not in (0.0, 1.0) else alpha.mean()
    best = None
    starts = [start] if start is not None else [(cross, 0.02 * span), (cross, 0.1 * span), (cross, 0.3 * span)]
    for a0, w0 in starts:
        res = optimize.minimize(nll, x0=[a0, np.log(w0)], method="Nelder-Mead",
                                options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    ac, logw = best.x
    lo, hi = alpha.min() - span, alpha.max() + span  # keep a degenerate (all 0 / all 1) fit finite
    return float(np.clip(ac, lo, hi)), float(np.exp(logw))


def _brackets(alpha: np.ndarray, k: np.ndarray, n: np.ndarray, interrupted: bool) -> bool:
    """Whether the retrieved fractions ``k / n`` at loads ``alpha`` reach 1/2 from above and below; warns if not."""
    f = k / np.maximum(n, 1)
    if alpha.size >= 2 and np.any(f >= 0.5) and np.any(f <= 0.5):
        return True
    if alpha.size < 2:
        if not interrupted:
            warnings.warn(f"alphas: {alpha.size} load(s) done, at least 2 are needed for alpha_c; the record has "
                          "bracketed=False and NaN estimates", RuntimeWarning, stacklevel=3)
        return False
    side = "above" if np.all(f > 0.5) else "below"
    where = f"above {alpha.max():g}" if side == "above" else f"below {alpha.min():g}"
    warnings.warn(f"alphas: the retrieved fraction is {side} 1/2 at every load of the grid {alpha.min():g}..{alpha.max():g} "
                  f"({np.round(f, 3).tolist()}), so alpha_c lies {where}, outside the grid: the record has "
                  "bracketed=False and NaN estimates; widen the grid", RuntimeWarning, stacklevel=3)
    return False


def measure_capacity(N: int, quantizer: QuantizerSpec = None, *, key: Any, alphas: Sequence[float] | None = None,
                     noise: float = 0.1, networks: int = 16, probes: int = 4, mode: str = "async", max_sweeps: int = 100,
                     criterion: float | str = 0.9, n_boot: int = 300, dist: str = "hebbian",
                     progress: bool = True, protocol: str = "basin") -> CapacityRecord:
    """Estimate alpha_c(N, quantizer) from simulations, with a 95% bootstrap interval.

    **Arguments:** as :func:`hopfield.retrieval` (`key` keyword-only; `protocol` ``"basin"`` or
    ``"stability"``); `alphas` default
    ``linspace(0.06, 0.26, 11)``; `n_boot`: bootstrap resamples (networks within each load).

    **Returns:** :class:`hopfield.records.CapacityRecord`: the retrieval record plus the fit
    (NaN when fewer than 2 loads were done). The prediction is ``theory.predicted_capacity``.
    When the retrieved fraction never crosses 1/2 on the loads done, no fit is made: the record
    has ``bracketed=False`` and NaN estimates, and a warning names the grid.
    """
    key = check_key(key)
    n_boot = check_int("n_boot", n_boot, 0)
    alphas = np.linspace(0.06, 0.26, 11) if alphas is None else alphas
    rec = retrieval(N, alphas, quantizer, key=key, noise=noise, networks=networks, probes=probes, mode=mode,
                    max_sweeps=max_sweeps, criterion=criterion, dist=dist, progress=progress, protocol=protocol)
    done = rec.done
    m = rec.m  # (A, networks, probes), NaN where p < probes or the load was not reached
    ok = np.where(np.isnan(m), 0.0, m >= (1.0 - 1e-6 if criterion == "exact" else criterion))
    valid = ~np.isnan(m)
    k_all, n_all = ok.sum(axis=2), valid.sum(axis=2)  # (A, networks)
    base = {f.name: getattr(rec, f.name) for f in fields(rec)}
    nan100 = np.full(100, np.nan)
    bracketed = _brackets(rec.alpha[done], k_all[done].sum(1), n_all[done].sum(1), rec.interrupted)
    if done.sum() < 2 or not bracketed:
        return CapacityRecord(**base, n_boot=n_boot, bracketed=False, alpha_c=np.nan, alpha_c_lo=np.nan, alpha_c_hi=np.nan, width=np.nan,
                              fit_alpha=nan100, fit_retrieved=nan100, k=k_all.sum(1).astype(int),
                              n=n_all.sum(1).astype(int), theory_alpha_c=np.nan)
    k_net, n_net, a = k_all[done], n_all[done], rec.alpha[done]
    ac, width = _fit_logistic(a, k_net.sum(1), n_net.sum(1))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    boot = []
    A, J = k_net.shape
    for _ in range(n_boot):
        idx = rng.integers(0, J, size=(A, J))
        kb = np.take_along_axis(k_net, idx, 1).sum(1)
        nb = np.take_along_axis(n_net, idx, 1).sum(1)
        boot.append(_fit_logistic(a, kb, nb, start=(ac, width))[0])
    lo, hi = (np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan))
    rho = float(np.mean(rec.rho[done]))
    grid = np.linspace(a.min(), a.max(), 100)
    with np.errstate(over="ignore"):  # a step-like fit: exp overflows to inf and the curve is exactly 0 there
        curve = 1.0 / (1.0 + np.exp((grid - ac) / width))
    return CapacityRecord(**base, n_boot=n_boot, alpha_c=ac, alpha_c_lo=float(lo), alpha_c_hi=float(hi), width=width,
                          fit_alpha=grid, fit_retrieved=curve,
                          k=k_all.sum(1).astype(int), n=n_all.sum(1).astype(int),
                          theory_alpha_c=theory.predicted_capacity(min(rho, 1.0)))


def _check_sizes(Ns: Sequence[int], quantizer: QuantizerSpec, kwargs: dict) -> None:
    """The memory and work checks of :func:`hopfield.retrieval` for every size of a finite-size scan, up front."""
    alphas = kwargs.get("alphas")
    a = np.asarray(np.linspace(0.06, 0.26, 11) if alphas is None else alphas, dtype=np.float64).ravel()
    if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alphas must be positive loads, got {alphas!r}")
    networks = check_int("networks", kwargs.get("networks", 16), 1)
    stability = kwargs.get("protocol", "basin") == "stability"
    noise = 0.0 if stability else float(kwargs.get("noise", 0.1))
    for N in sorted(set(Ns), reverse=True):
        ps = [max(1, int(round(x * N))) for x in a]
        probes = max(ps) if stability else check_int("probes", kwargs.get("probes", 4), 1)
        check_network_size(N, ps, networks, probes, int(round(noise * N)), 1, quantizer is not None, "finite_size")


def finite_size(Ns: Sequence[int], quantizer: QuantizerSpec = None, *, key: Any, nu: float = 0.5,
                **kwargs) -> FiniteSizeRecord:
    """alpha_c at several N and the fit ``alpha_c(N) = alpha_inf + a N^(-nu)`` (weighted least squares).

    **Arguments:** `Ns`: network sizes (at least 2 distinct, 3 for an error on the fit);
    `key` (keyword-only); `nu`: finite-size exponent (default 1/2); other keywords go to
    :func:`measure_capacity`.

    **Returns:** :class:`hopfield.records.FiniteSizeRecord`.  Ctrl-C stops after the current
    size: the record has ``interrupted=True``, NaN for the sizes not reached, and a fit of the
    sizes done (NaN with fewer than 2).
    """
    key = check_key(key)
    Ns = [check_int("Ns", n, 2) for n in Ns]
    if len(set(Ns)) < 2:
        raise ValueError(f"Ns must hold at least 2 distinct sizes, got {Ns!r}")
    quantizer = as_spec(quantizer)
    label = quantizer_label(quantizer)
    _check_sizes(Ns, quantizer, kwargs)  # every size before the first runs: a size that cannot fit is refused now
    runs: list[CapacityRecord] = []
    interrupted = False
    try:
        for n in Ns:  # an interrupted size ends the scan; the sizes done are fitted
            runs.append(measure_capacity(n, quantizer, key=jax.random.fold_in(key, n), **kwargs))
            if runs[-1].interrupted:
                interrupted = True
                break
    except KeyboardInterrupt:  # between two sizes
        interrupted = True
    S = len(Ns)
    ac, lo, hi = (np.full(S, np.nan) for _ in range(3))
    for i, r in enumerate(runs):
        ac[i], lo[i], hi[i] = r.alpha_c, r.alpha_c_lo, r.alpha_c_hi
    fit = np.isfinite(ac)
    out = dict(quantizer=label, recipe=spec_recipe(quantizer), nu=float(nu), interrupted=interrupted, N=np.array(Ns), alpha_c=ac, alpha_c_lo=lo,
               alpha_c_hi=hi, runs=tuple(runs))
    if fit.sum() < 2:
        th = [r.theory_alpha_c for r in runs if np.isfinite(r.alpha_c)]
        return FiniteSizeRecord(**out, alpha_inf=np.nan, alpha_inf_se=np.nan, a=np.nan,
                                theory_alpha_c=float(np.mean(th)) if th else np.nan)
    Nf, acf = np.asarray(Ns)[fit], ac[fit]
    half = (hi[fit] - lo[fit]) / 2
    sigma = np.where(np.isfinite(half) & (half > 0), half / 1.96, np.nanmax(np.r_[half, 1e-3]))
    X = np.c_[np.ones(len(Nf)), np.asarray(Nf, float) ** (-nu)]
    Wt = 1.0 / sigma**2
    cov = np.linalg.pinv(X.T @ (X * Wt[:, None]))
    beta = cov @ (X.T @ (Wt * acf))
    if len(Nf) > 2:  # scale by the reduced chi^2 when it exceeds 1 (errors underestimated)
        chi2 = float(np.sum(Wt * (acf - X @ beta) ** 2)) / (len(Nf) - 2)
        cov = cov * max(chi2, 1.0)
    return FiniteSizeRecord(**out, alpha_inf=float(beta[0]), alpha_inf_se=float(np.sqrt(cov[0, 0])), a=float(beta[1]),
                            theory_alpha_c=float(np.mean([r.theory_alpha_c for r in runs if np.isfinite(r.alpha_c)])))
