"""Standard errors for the Monte Carlo tests of theory/ (delta method for the ratio rho)."""

import numpy as np


def rho_and_se(w: np.ndarray, qw: np.ndarray) -> tuple[float, float]:
    """Sample rho = mean(wq)/sqrt(mean(w^2) mean(q^2)) and its delta-method standard error.

    With a = mean(wq), b = mean(w^2), c = mean(q^2), the influence of sample i is
    grad g . (w_i q_i, w_i^2, q_i^2); SE = std(influence)/sqrt(n).  Valid for
    pairwise independent samples (entries of a Hebbian matrix are).
    """
    w = np.asarray(w, dtype=np.float64).ravel()
    qw = np.asarray(qw, dtype=np.float64).ravel()
    a, b, c = np.mean(w * qw), np.mean(w * w), np.mean(qw * qw)
    r = a / np.sqrt(b * c)
    z = w * qw / np.sqrt(b * c) - 0.5 * r * (w * w / b + qw * qw / c)
    return float(r), float(np.std(z) / np.sqrt(w.size))


def mean_and_se(v: np.ndarray) -> tuple[float, float]:
    v = np.asarray(v, dtype=np.float64).ravel()
    return float(np.mean(v)), float(np.std(v) / np.sqrt(v.size))
