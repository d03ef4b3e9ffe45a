"""Closed-form rho and moments against Monte Carlo (10^6 samples, 5 standard errors) and quadrature."""

import zlib

import numpy as np
import pytest
from scipy import integrate

import theory
from _theory_stats import mean_and_se, rho_and_se

N_MC = 1_000_000
DENSITIES = ["gaussian", "laplace", "uniform"]
FAMILIES = [("sign", 2), ("ternary", 3), ("uniform", 4), ("uniform", 8), ("exponential", 8), ("lloyd_max", 4)]


def _samples(dist, seed):
    return theory.get_density(dist).sample(N_MC, seed)


@pytest.mark.parametrize("dist", DENSITIES)
@pytest.mark.parametrize("family,K", FAMILIES)
def test_rho_closed_form_vs_monte_carlo(family, K, dist):
    q = theory.make(family, K, dist)
    w = _samples(dist, seed=zlib.crc32(f'{family}{K}{dist}'.encode()))
    r_mc, se = rho_and_se(w, q(w))
    r = theory.rho(q, dist)
    assert abs(r - r_mc) < 5 * se, f"{family} K={K} {dist}: closed form {r:.6f}, MC {r_mc:.6f} +- {se:.1e}"


@pytest.mark.parametrize("dist", DENSITIES)
def test_moments_vs_monte_carlo(dist):
    q = theory.make("exponential", 8, dist).scaled(2.0)  # also checks sigma
    w = 2.0 * _samples(dist, seed=7)
    qw = q(w)
    m = theory.moments(q, dist, sigma=2.0)
    for key, v in [("E_wq", w * qw), ("E_q2", qw * qw), ("E_w2", w * w), ("mse", (w - qw) ** 2)]:
        mean, se = mean_and_se(v)
        assert abs(m[key] - mean) < 5 * se, f"{key} {dist}: closed form {m[key]:.6f}, MC {mean:.6f} +- {se:.1e}"


def _rho_quad(q, dist):
    """rho by adaptive quadrature of w q(w) f(w) and q(w)^2 f(w) over each cell."""
    f = theory.get_density(dist).pdf
    lim = 40.0 if dist != "uniform" else np.sqrt(3.0)
    edges = np.concatenate(([-lim], np.clip(q.thresholds, -lim, lim), [lim]))
    ewq = eq2 = 0.0
    for c, a, b in zip(q.levels, edges[:-1], edges[1:], strict=True):
        if b > a:
            ewq += c * integrate.quad(lambda x: x * f(x), a, b, epsabs=1e-13)[0]
            eq2 += c * c * integrate.quad(f, a, b, epsabs=1e-13)[0]
    ew2 = integrate.quad(lambda x: x * x * f(x), -lim, 0.0, epsabs=1e-13)[0] + integrate.quad(lambda x: x * x * f(x), 0.0, lim, epsabs=1e-13)[0]
    return ewq / np.sqrt(ew2 * eq2)


@pytest.mark.parametrize("dist", DENSITIES)
@pytest.mark.parametrize("family,K", FAMILIES + [("uniform", 5), ("exponential", 7)])
def test_rho_closed_form_vs_quadrature(family, K, dist):
    q = theory.make(family, K, dist)
    assert theory.rho(q, dist) == pytest.approx(_rho_quad(q, dist), abs=1e-9)


def _hebbian_entries(p, N, seed):
    """Off-diagonal entries of a Hebbian matrix from p random +-1 patterns, standardised: (2j - p)/sqrt(p)."""
    xi = np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=(p, N))
    Wm = xi.T @ xi / np.sqrt(p)
    return Wm[np.triu_indices(N, k=1)]


@pytest.mark.parametrize("p", [7, 8])
@pytest.mark.parametrize("family,K", [("sign", 2), ("ternary", 3), ("uniform", 4), ("exponential", 6), ("lloyd_max", 4)])
def test_hebbian_exact_vs_real_hebbian_matrices(p, family, K):
    """Exact finite-p formula vs entries of real Hebbian matrices (pairwise independent, so the delta-method SE holds)."""
    dist = ("hebbian", p)
    q = theory.make(family, K, dist)
    w = _hebbian_entries(p, 1420, seed=p * 100 + K)  # ~10^6 entries
    r_mc, se = rho_and_se(w, q(w))
    r = theory.rho(q, dist)
    assert abs(r - r_mc) < 5 * se, f"{family} p={p}: exact {r:.6f}, sampled {r_mc:.6f} +- {se:.1e}"
    # the exact law itself: atom frequencies
    d = theory.hebbian_density(p)
    freq = np.array([np.mean(np.isclose(w, a)) for a in d.atoms])
    assert np.all(np.abs(freq - d.probs) < 5 * np.sqrt(d.probs * (1 - d.probs) / w.size) + 1e-12)


def test_hebbian_approaches_gaussian():
    q = theory.make("uniform", 4, "gaussian")
    assert theory.rho(q, ("hebbian", 4001)) == pytest.approx(theory.rho(q, "gaussian"), abs=2e-3)
