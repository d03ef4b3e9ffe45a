"""Weight densities with closed-form partial moments.

Every density here has zero mean and unit variance (quantizers are defined in
units of the weights' standard deviation).  What the correlation formula needs
(Max 1960; Pushkareva & Karandashev 2020) are the cell moments of a cell ``[a, b)``::

    P(a <= w < b)          = F0(b) - F0(a)
    E[w ; a <= w < b]      = F1(b) - F1(a)

with ``F0(x) = P(w < x)`` and ``F1(x) = E[w ; w < x]``.  For the standard
normal ``F0 = Phi`` and ``F1 = -phi`` (so ``integral_a^b w phi = phi(a) - phi(b)``).
The sympy derivations in :mod:`theory.derivation` produce the same expressions
and a test ties them to these numerics.

The exact finite-p distribution of Hebbian matrix entries (Hopfield 1982):
``W_ij = (1/N) sum_mu xi_i^mu xi_j^mu = (2j - p)/N`` with ``j ~ Binomial(p, 1/2)``;
standardised, ``w = (2j - p)/sqrt(p)``.  An :class:`Empirical` density built
from data lets the same machinery fit quantizers to real weight tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

SQRT3 = math.sqrt(3.0)
LAPLACE_B = 1.0 / math.sqrt(2.0)  # Laplace scale giving unit variance

DISTRIBUTIONS = ("gaussian", "laplace", "uniform")


class Density:
    """A zero-mean, unit-variance weight density with partial moments ``F0``, ``F1``."""

    name: str = "density"
    discrete: bool = False

    def F0(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def F1(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def second_moment(self) -> float:
        return 1.0

    def sample(self, n: int, seed: int | np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def cell_moments(self, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P_k, M1_k) for the K cells cut by ``thresholds`` (K-1,), cells ``[t_{k-1}, t_k)``."""
        edges = np.concatenate(([-np.inf], np.asarray(thresholds, dtype=np.float64), [np.inf]))
        f0 = self.F0(edges)
        f1 = self.F1(edges)
        return np.diff(f0), np.diff(f1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Gaussian(Density):
    name = "gaussian"

    def F0(self, x):
        return special.ndtr(x)

    def F1(self, x):
        return -np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)

    def pdf(self, x):
        return np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)

    def sample(self, n, seed):
        return np.random.default_rng(seed).standard_normal(n)


class Laplace(Density):
    """Laplace density with scale ``b = 1/sqrt(2)`` (unit variance)."""

    name = "laplace"

    def F0(self, x):
        x = np.asarray(x, dtype=np.float64)
        e = np.exp(-np.abs(x) / LAPLACE_B)
        return np.where(x < 0, 0.5 * e, 1.0 - 0.5 * e)

    def F1(self, x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            t = 0.5 * (np.abs(x) + LAPLACE_B) * np.exp(-np.abs(x) / LAPLACE_B)
        t = np.where(np.isinf(x), 0.0, t)
        return -t  # symmetric: F1(x) = -0.5 (|x| + b) e^{-|x|/b} on both sides

    def pdf(self, x):
        return np.exp(-np.abs(x) / LAPLACE_B) / (2 * LAPLACE_B)

    def sample(self, n, seed):
        return np.random.default_rng(seed).laplace(0.0, LAPLACE_B, n)


class Uniform(Density):
    """Uniform density on ``[-sqrt(3), sqrt(3)]`` (unit variance)."""

    name = "uniform"

    def F0(self, x):
        return np.clip((np.asarray(x, dtype=np.float64) + SQRT3) / (2 * SQRT3), 0.0, 1.0)

    def F1(self, x):
        xc = np.clip(np.asarray(x, dtype=np.float64), -SQRT3, SQRT3)
        return (np.square(xc) - 3.0) / (4 * SQRT3)

    def pdf(self, x):
        return np.where(np.abs(x) <= SQRT3, 1 / (2 * SQRT3), 0.0)

    def sample(self, n, seed):
        return np.random.default_rng(seed).uniform(-SQRT3, SQRT3, n)


@dataclass(eq=False, repr=False)
class Discrete(Density):
    """A discrete density: ``atoms`` (sorted) with probabilities ``probs``."""

    atoms: np.ndarray
    probs: np.ndarray
    name: str = "discrete"
    discrete: bool = field(default=True, init=False)

    def __post_init__(self):
        self.atoms = np.asarray(self.atoms, dtype=np.float64)
        self.probs = np.asarray(self.probs, dtype=np.float64)
        self._c0 = np.concatenate(([0.0], np.cumsum(self.probs)))
        self._c1 = np.concatenate(([0.0], np.cumsum(self.probs * self.atoms)))
        self._m2 = float(np.sum(self.probs * self.atoms**2))

    def F0(self, x):
        return self._c0[np.searchsorted(self.atoms, x, side="left")]

    def F1(self, x):
        return self._c1[np.searchsorted(self.atoms, x, side="left")]

    def second_moment(self):
        return self._m2

    def sample(self, n, seed):
        rng = np.random.default_rng(seed)
        return rng.choice(self.atoms, size=n, p=self.probs)


def hebbian_density(p: int) -> Discrete:
    """Exact distribution of a standardised Hebbian entry ``(2j - p)/sqrt(p)``, ``j ~ Bin(p, 1/2)``."""
    if not isinstance(p, int | np.integer) or p < 1:
        raise ValueError(f"p must be an integer >= 1 (number of stored patterns), got {p!r}")
    j = np.arange(p + 1)
    return Discrete((2 * j - p) / math.sqrt(p), stats.binom.pmf(j, p, 0.5), name=f"hebbian(p={int(p)})")


class Empirical(Discrete):
    """The empirical distribution of data ``x`` (any shape), each value with weight 1/n.

    Not standardised: :func:`theory.fitting.fit` divides by the RMS first.
    """

    def __init__(self, x: Any):
        v = np.sort(np.asarray(x, dtype=np.float64).ravel())
        super().__init__(v, np.full(v.size, 1.0 / v.size), name=f"empirical(n={v.size})")

    def sample(self, n, seed):
        return np.random.default_rng(seed).choice(self.atoms, size=n)


_NAMED = {"gaussian": Gaussian(), "laplace": Laplace(), "uniform": Uniform()}


def get_density(dist: Any) -> Density:
    """Resolve ``dist``: a name in ``DISTRIBUTIONS``, ``("hebbian", p)``, or a :class:`Density`."""
    if isinstance(dist, Density):
        return dist
    if isinstance(dist, str) and dist in _NAMED:
        return _NAMED[dist]
    if isinstance(dist, tuple) and len(dist) == 2 and dist[0] == "hebbian":
        return hebbian_density(dist[1])
    raise ValueError(
        f"dist must be one of {list(DISTRIBUTIONS)}, ('hebbian', p) or a Density, got {dist!r}"
    )
