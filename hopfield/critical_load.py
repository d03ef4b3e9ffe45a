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
  simulations section; A. Crisanti, D. J. Amit, H. Gutfreund, Europhys. Lett.
  2:337, 1986); the exponent is a parameter because the finite-size form
  depends on the retrieval criterion.  Theory beside it: ``theory.predicted_capacity(rho)``
  (AGS with Sompolinsky's 1986 static synaptic noise).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from scipy import optimize

import theory

from ._checks import check_int, check_key
from .experiments import QuantizerSpec, retrieval


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


def capacity(key: Any, N: int, quantizer: QuantizerSpec = None, *, alphas: Sequence[float] | None = None,
             noise: float = 0.1, networks: int = 16, probes: int = 4, mode: str = "async", max_sweeps: int = 100,
             criterion: float | str = 0.9, n_boot: int = 300, dist: str = "hebbian", progress: bool = True) -> dict:
    """Estimate alpha_c(N, quantizer) with a 95% bootstrap interval.

    **Arguments:** as :func:`hopfield.retrieval`; `alphas` default ``linspace(0.06, 0.26, 11)``;
    `n_boot`: bootstrap resamples (networks within each load).

    **Returns:** the retrieval record plus ``alpha_c, alpha_c_lo, alpha_c_hi, width``
    (logistic fit) and the fitted curve ``fit_alpha, fit_retrieved`` (100,), ``k, n`` (A,) retrieved probes and probes per load, and
    ``theory_alpha_c`` = ``theory.predicted_capacity(mean measured rho)``.
    """
    key = check_key(key)
    n_boot = check_int("n_boot", n_boot, 0)
    alphas = np.linspace(0.06, 0.26, 11) if alphas is None else alphas
    rec = retrieval(key, N, alphas, quantizer, noise=noise, networks=networks, probes=probes, mode=mode,
                    max_sweeps=max_sweeps, criterion=criterion, dist=dist, progress=progress)
    if len(rec["alpha"]) < 2:
        return dict(rec, alpha_c=np.nan, alpha_c_lo=np.nan, alpha_c_hi=np.nan, width=np.nan, theory_alpha_c=np.nan)
    m = rec["m"]  # (A, networks, probes), NaN where p < probes
    ok = np.where(np.isnan(m), 0.0, m >= (1.0 - 1e-6 if criterion == "exact" else criterion))
    valid = ~np.isnan(m)
    k_net, n_net = ok.sum(axis=2), valid.sum(axis=2)  # (A, networks)
    a = rec["alpha"]
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
    rho = float(np.mean(rec["rho"]))
    grid = np.linspace(a.min(), a.max(), 100)
    return dict(rec, alpha_c=ac, alpha_c_lo=float(lo), alpha_c_hi=float(hi), width=width,
                fit_alpha=grid, fit_retrieved=1.0 / (1.0 + np.exp((grid - ac) / width)),
                k=k_net.sum(1), n=n_net.sum(1), theory_alpha_c=theory.predicted_capacity(min(rho, 1.0)))


def finite_size(key: Any, Ns: Sequence[int], quantizer: QuantizerSpec = None, *, nu: float = 0.5, **kwargs) -> dict:
    """alpha_c at several N and the fit ``alpha_c(N) = alpha_inf + a N^(-nu)`` (weighted least squares).

    **Arguments:** `Ns`: network sizes (at least 2 distinct, 3 for an error on the fit);
    `nu`: finite-size exponent (default 1/2); other keywords go to :func:`capacity`.

    **Returns:** dict with ``N, alpha_c, alpha_c_lo, alpha_c_hi`` (len(Ns),),
    ``alpha_inf, alpha_inf_se, a, nu``, ``theory_alpha_c``, the per-N records in ``runs`` and
    ``interrupted`` (Ctrl-C stops after the current size; fewer than 2 sizes done gives NaN fits).
    """
    key = check_key(key)
    Ns = [check_int("Ns", n, 2) for n in Ns]
    if len(set(Ns)) < 2:
        raise ValueError(f"Ns must hold at least 2 distinct sizes, got {Ns!r}")
    runs = []
    for n in Ns:  # an interrupted size ends the scan; the sizes done are fitted
        runs.append(capacity(jax.random.fold_in(key, n), n, quantizer, **kwargs))
        if runs[-1].get("interrupted"):
            break
    interrupted = bool(runs[-1].get("interrupted"))
    runs = [r for r in runs if np.isfinite(r["alpha_c"])]
    Ns = Ns[: len(runs)]
    if len(Ns) < 2:
        return dict(N=np.array(Ns), runs=runs, interrupted=interrupted, alpha_inf=np.nan, alpha_inf_se=np.nan, a=np.nan,
                    nu=float(nu), quantizer=runs[0]["quantizer"] if runs else None)
    ac = np.array([r["alpha_c"] for r in runs])
    half = np.array([(r["alpha_c_hi"] - r["alpha_c_lo"]) / 2 for r in runs])
    sigma = np.where(np.isfinite(half) & (half > 0), half / 1.96, np.nanmax(np.r_[half, 1e-3]))
    X = np.c_[np.ones(len(Ns)), np.asarray(Ns, float) ** (-nu)]
    Wt = 1.0 / sigma**2
    cov = np.linalg.pinv(X.T @ (X * Wt[:, None]))
    beta = cov @ (X.T @ (Wt * ac))
    if len(Ns) > 2:  # scale by the reduced chi^2 when it exceeds 1 (errors underestimated)
        chi2 = float(np.sum(Wt * (ac - X @ beta) ** 2)) / (len(Ns) - 2)
        cov = cov * max(chi2, 1.0)
    return dict(N=np.array(Ns), alpha_c=ac, alpha_c_lo=np.array([r["alpha_c_lo"] for r in runs]),
                alpha_c_hi=np.array([r["alpha_c_hi"] for r in runs]), alpha_inf=float(beta[0]),
                alpha_inf_se=float(np.sqrt(cov[0, 0])), a=float(beta[1]), nu=float(nu),
                theory_alpha_c=float(np.mean([r["theory_alpha_c"] for r in runs])), runs=runs,
                quantizer=runs[0]["quantizer"], interrupted=interrupted)
