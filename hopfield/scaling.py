"""Finite-size scaling of a critical load: ``alpha_c(N) = alpha_inf + a N^(-nu)`` fitted by weighted least squares
with the exponent free (profile likelihood over a and nu) or fixed.

For each nu the model is linear in (alpha_inf, a), so the fit is a closed-form two-parameter weighted least
squares on a grid of nu; the profile of chi^2 over nu gives nu's interval and, minimised over nu at each
alpha_inf, alpha_inf's interval with nu's uncertainty included (Delta chi^2 <= 3.84, 95%).  Used by
:mod:`hopfield.study`; cf. the finite-size analyses of the Hopfield capacity in J. Steffan, R. Kuhn,
Z. Phys. B 95:249 (1994).
"""

from __future__ import annotations

import math

import numpy as np

NU_GRID = np.linspace(0.05, 2.5, 491)


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    A = X.T @ (X * w[:, None])
    cov = np.linalg.inv(A)
    beta = cov @ (X.T @ (w * y))
    return beta, cov, float(np.sum(w * (y - X @ beta) ** 2))


def fit_finite_size(N: np.ndarray, ac: np.ndarray, sigma: np.ndarray, nu: float | None = None,
                    nu_grid: np.ndarray = NU_GRID) -> dict:
    """Weighted fit of ``alpha_c(N) = alpha_inf + a N^(-nu)``; nu free when ``nu`` is None.

    For each nu the model is linear, so chi^2 profiled over a is a parabola in alpha_inf; its minimum
    over nu is the profile likelihood, and the 95% interval is where it lies within 3.84 of the best
    (so it includes nu's uncertainty).  nu's interval likewise.  **Returns:** dict with ``alpha_inf,
    alpha_inf_lo, alpha_inf_hi, a, nu, nu_lo, nu_hi, chi2, dof``.
    """
    N, y, s = (np.asarray(x, float) for x in (N, ac, sigma))
    w = 1.0 / s**2
    grid = np.asarray([nu] if nu is not None else nu_grid, float)
    fits = []
    for v in grid:
        beta, cov, chi2 = _wls(np.c_[np.ones(N.size), N ** (-v)], y, w)
        fits.append((chi2, beta, cov))
    chi = np.array([f[0] for f in fits])
    b = int(np.argmin(chi))
    chi2, beta, cov = fits[b]
    a_hat = np.array([f[1][0] for f in fits])
    a_var = np.array([f[2][0, 0] for f in fits])
    # profile of alpha_inf: min over nu of chi2(nu) + (alpha_inf - a_hat(nu))^2 / var(nu)
    span = 6 * math.sqrt(a_var.max())
    ag = np.linspace(a_hat.min() - span, a_hat.max() + span, 4001)
    prof = np.min(chi[:, None] + (ag[None, :] - a_hat[:, None]) ** 2 / a_var[:, None], axis=0)
    inside = ag[prof <= chi2 + 3.84]
    nus = grid[chi <= chi2 + 3.84]
    return dict(alpha_inf=float(beta[0]), alpha_inf_lo=float(inside.min()), alpha_inf_hi=float(inside.max()),
                a=float(beta[1]), nu=float(grid[b]), nu_lo=float(nus.min()), nu_hi=float(nus.max()),
                chi2=chi2, dof=int(N.size - (2 if nu is not None else 3)), nu_free=nu is None)


def _alpha_inf_points(N: np.ndarray, y: np.ndarray, w: np.ndarray, nu: float | None) -> np.ndarray:
    """alpha_inf of the weighted fit (nu free on NU_GRID, or fixed) for replicas ``y: (R, S)``: closed-form
    two-parameter least squares at every nu at once, the best nu per replica."""
    grid = NU_GRID if nu is None else np.array([nu])
    X = N[None, :] ** -grid[:, None]  # (V, S)
    Sw, Sx, Sxx = w.sum(), X @ w, (X * X) @ w
    Sy, Sxy = y @ w, (y * w) @ X.T  # (R,), (R, V)
    det = Sw * Sxx - Sx**2
    a1 = (Sw * Sxy - Sx[None, :] * Sy[:, None]) / det[None, :]
    a0 = (Sy[:, None] - a1 * Sx[None, :]) / Sw
    chi = np.sum(w * (y[:, None, :] - a0[..., None] - a1[..., None] * X[None]) ** 2, axis=2)
    return a0[np.arange(y.shape[0]), np.argmin(chi, axis=1)]
