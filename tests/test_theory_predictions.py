"""Hopfield predictions: Sheppard's field agreement on sampled matrices, AGS capacity and overlap."""

import math

import numpy as np
import pytest

import theory


@pytest.mark.parametrize("family,K", [("sign", 2), ("ternary", 3), ("uniform", 4)])
def test_field_agreement_on_random_matrices(family, K):
    """sign(W s) vs sign(q(W) s) for a Gaussian symmetric W and random states, against 1 - arccos(rho)/pi."""
    rng = np.random.default_rng(K)
    N, M = 400, 1500
    A = rng.standard_normal((N, N))
    Wm = (A + A.T) / np.sqrt(2 * N)
    np.fill_diagonal(Wm, 0.0)
    q = theory.make(family, K, "gaussian").scaled(1 / np.sqrt(N))
    Q = q(Wm)
    np.fill_diagonal(Q, 0.0)
    S = rng.choice(np.array([-1.0, 1.0]), size=(N, M))
    H, Hq = Wm @ S, Q @ S
    # ternary levels make exact ties h' = 0 possible (integer sums); Sheppard's formula is for a
    # continuous pair, i.e. a tie broken by a fair coin: count it as half an agreement
    tie = np.abs(Hq) < 1e-9 * np.abs(q.levels).max()
    agree = np.where(tie, 0.5, np.sign(H) == np.sign(Hq))  # (N, M)
    # per row, the fields h_i and h'_i have correlation exactly rho_i (sum w q over the row)
    rho_rows = np.sum(Wm * Q, axis=1) / np.sqrt(np.sum(Wm**2, axis=1) * np.sum(Q**2, axis=1))
    pred = np.mean(theory.field_agreement(rho_rows))
    frac_rows = agree.mean(axis=1)  # rows as batches: batch-means standard error
    frac, se = frac_rows.mean(), frac_rows.std(ddof=1) / math.sqrt(N)
    assert abs(frac - pred) < 5 * se, f"{family}: measured {frac:.5f} +- {se:.1e}, Sheppard {pred:.5f}"
    # and with the single measured rho of the whole matrix
    r = theory.rho(Wm[~np.eye(N, dtype=bool)], Q[~np.eye(N, dtype=bool)])
    assert abs(frac - theory.field_agreement(r)) < 5 * se + 1e-3


def test_field_agreement_values():
    assert theory.field_agreement(1.0) == 1.0
    assert theory.field_agreement(0.0) == 0.5
    assert theory.field_agreement(math.sqrt(2 / math.pi)) == pytest.approx(1 - math.acos(math.sqrt(2 / math.pi)) / math.pi)
    np.testing.assert_allclose(theory.field_agreement(np.array([-1.0, 1.0])), [0.0, 1.0])


def test_synaptic_noise():
    assert theory.synaptic_noise(1.0) == 0.0
    assert theory.synaptic_noise(0.5) == pytest.approx(3.0)


def test_capacity_known_values():
    assert theory.predicted_capacity(1.0) == pytest.approx(0.1379, abs=2e-4)  # AGS 1985
    assert theory.predicted_capacity(math.sqrt(2 / math.pi)) == pytest.approx(0.102, abs=1e-3)  # Sompolinsky 1986, clipped


def test_capacity_monotone_in_rho():
    rhos = np.linspace(0.3, 1.0, 15)
    caps = np.array([theory.predicted_capacity(r) for r in rhos])
    assert np.all(np.diff(caps) > 0), caps


def _ags_iterate(alpha, delta2, n_iter=200_000, tol=1e-14):
    """Brute force: iterate the T = 0 AGS equations with static noise from m = 1, r = 1."""
    m, r = 1.0, 1.0
    for _ in range(n_iter):
        s = math.sqrt(2 * alpha * (r + delta2))
        m_new = math.erf(m / s)
        C = 2 * math.exp(-((m_new / s) ** 2)) / (math.sqrt(math.pi) * s)
        r = 1.0 / (1.0 - C) ** 2 if C < 1 else 1e12
        if abs(m_new - m) < tol:
            return m_new
        m = m_new
    return m


@pytest.mark.parametrize("rho", [1.0, 0.9])
@pytest.mark.parametrize("frac", [0.15, 0.45, 0.75, 0.9])
def test_overlap_matches_fixed_point_iteration(frac, rho):
    alpha = frac * theory.predicted_capacity(rho)
    assert theory.overlap(alpha, rho) == pytest.approx(_ags_iterate(alpha, 1 / rho**2 - 1), abs=1e-6)


def test_overlap_at_and_above_capacity():
    ac = theory.predicted_capacity(1.0)
    assert theory.overlap(ac, 1.0) == pytest.approx(0.967, abs=2e-3)
    assert theory.overlap(ac * 1.01, 1.0) == 0.0
    assert _ags_iterate(ac * 1.01, 0.0) < 0.5  # the iteration loses retrieval too
    assert theory.overlap(0.0) == 1.0
    m = theory.overlap(np.array([0.05, 0.1, 0.2]))
    assert m.shape == (3,) and m[0] > m[1] > 0 and m[2] == 0
