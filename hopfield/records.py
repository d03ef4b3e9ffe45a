"""Typed records of the hopfield experiments: frozen dataclasses with ``to_dict`` / ``from_dict``.

One schema per experiment, whatever path the run takes: an interrupted run
(Ctrl-C, KeyboardInterrupt) returns the same type with ``interrupted=True`` and
NaN in every entry it did not reach, so code that reads a record never depends
on how far the run got.  ``to_dict()`` is JSON-safe (numpy arrays become nested
lists, NaN becomes ``None``) and ``from_dict`` inverts it.  The plot helpers in
:mod:`hopfield.plots` draw these records without recomputing anything.

The science behind the fields: retrieval and capacity of Hebbian networks
(D. J. Amit, H. Gutfreund, H. Sompolinsky, PRL 55:1530, 1985; Ann. Phys.
173:30, 1987), quantized synapses as static noise (H. Sompolinsky, PRA
34:2571, 1986), field agreement ``1 - arccos(rho)/pi`` (Sheppard's formula).
"""

from __future__ import annotations

import math
import sys
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np


def _array(dtype: type = float, ndim: int = 1) -> Any:
    return field(metadata={"array": dtype, "ndim": ndim})


def _float() -> Any:
    return field(metadata={"float": True})


def _records(kind: str) -> Any:
    return field(metadata={"records": kind})


def _strings() -> Any:
    return field(metadata={"strings": True})


def _recipe() -> Any:
    return field(metadata={"recipe": True})


def _encode(value: Any, meta: Any) -> Any:
    if "array" in meta:
        a = np.asarray(value)
        if a.dtype.kind == "f":
            obj = a.astype(object)
            obj[np.isnan(a)] = None
            return obj.tolist()
        return a.tolist()
    if "float" in meta:
        v = float(value)
        return None if math.isnan(v) else v
    if "records" in meta:
        return [r.to_dict() for r in value]
    if "strings" in meta:
        return list(value)
    if "recipe" in meta:
        return None if value is None else value.to_dict()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any, meta: Any) -> Any:
    if "array" in meta:
        a = np.array(value, dtype=meta["array"])
        return a.reshape((0,) * meta["ndim"]) if a.size == 0 else a
    if "float" in meta:
        return math.nan if value is None else float(value)
    if "records" in meta:
        cls = getattr(sys.modules[__name__], meta["records"])
        return tuple(cls.from_dict(d) for d in value)
    if "strings" in meta:
        return tuple(value)
    if "recipe" in meta:
        from theory import Recipe

        return None if value is None else Recipe.from_dict(value)
    return value


@dataclass(frozen=True, eq=False, kw_only=True)
class _Record:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: arrays as nested lists, NaN as None, nested records as lists of dicts."""
        return {f.name: _encode(getattr(self, f.name), f.metadata) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """The record back from :meth:`to_dict`'s dict (or its JSON)."""
        if not isinstance(d, dict):
            raise ValueError(f"d must be a dict from {cls.__name__}.to_dict(), got {type(d).__name__}")
        missing = [f.name for f in fields(cls) if f.name not in d and f.default is MISSING]
        if missing:
            raise ValueError(f"d is missing the {cls.__name__} fields {missing}")
        return cls(**{f.name: _decode(d[f.name], f.metadata) for f in fields(cls) if f.name in d})


@dataclass(frozen=True, eq=False, kw_only=True)
class RetrievalRecord(_Record):
    """Retrieval from a noisy start versus load (:func:`hopfield.retrieval`); A loads, every array has all A.

    - config: `N`, `quantizer` (label), `recipe` (the ``theory.Recipe``; None for float weights or
      a quantizer given as such), `protocol` (``"basin"``: from stored patterns with ``noise``
      flipped; ``"stability"``: from every stored pattern), `noise`, `networks`, `probes`, `mode`,
      `max_sweeps`, `criterion` (an overlap or ``"exact"``), `dist`, `interrupted`.
    - `alpha, p` (A,): the loads and pattern counts ``p = max(1, round(alpha N))``.
    - `m` (A, networks, probes'): final overlaps (NaN where a network has fewer patterns than
      probes, or the load was not reached); `m_mean, m_se, retrieved, retrieved_se, sweeps_mean` (A,);
      `status_counts` (A, 3) over FIXED_POINT, CYCLE, LIMIT (0 where not reached).
    - `rho, field_agreement` (A,): measured (1 for float weights); `theory_field_agreement`,
      `theory_overlap`, `theory_capacity` (A,): from the measured rho.
    - `theory_alpha_grid, theory_m_grid` (80,): the AGS curve at the mean measured rho, for plots.
    """

    N: int
    quantizer: str
    recipe: Any = _recipe()
    noise: float
    networks: int
    probes: int
    mode: str
    max_sweeps: int
    criterion: float | str
    dist: str
    interrupted: bool
    protocol: str = "basin"
    alpha: np.ndarray = _array()
    p: np.ndarray = _array(int)
    m: np.ndarray = _array(ndim=3)
    m_mean: np.ndarray = _array()
    m_se: np.ndarray = _array()
    retrieved: np.ndarray = _array()
    retrieved_se: np.ndarray = _array()
    sweeps_mean: np.ndarray = _array()
    status_counts: np.ndarray = _array(int, 2)
    rho: np.ndarray = _array()
    field_agreement: np.ndarray = _array()
    theory_field_agreement: np.ndarray = _array()
    theory_overlap: np.ndarray = _array()
    theory_capacity: np.ndarray = _array()
    theory_alpha_grid: np.ndarray = _array()
    theory_m_grid: np.ndarray = _array()

    @property
    def done(self) -> np.ndarray:
        """(A,) bool: the loads the run reached."""
        return ~np.all(np.isnan(self.m), axis=(1, 2))


@dataclass(frozen=True, eq=False, kw_only=True)
class CapacityRecord(RetrievalRecord):
    """:class:`RetrievalRecord` plus the capacity fit (:func:`hopfield.measure_capacity`).

    - `n_boot`: bootstrap resamples; `alpha_c, alpha_c_lo, alpha_c_hi, width`: the logistic fit's
      midpoint, its 95% percentile-bootstrap interval and its width (NaN with fewer than 2 loads done).
    - `fit_alpha, fit_retrieved` (100,): the fitted curve; `k, n` (A,): retrieved probes and probes per load.
    - `theory_alpha_c`: ``theory.predicted_capacity`` at the mean measured rho.
    - `bracketed`: whether the retrieved fraction of the loads done lies above 1/2 at one load and
      below at another; when False the fit is not made and `alpha_c`, its interval, `width` and
      the curve are NaN (the crossing lies outside the grid; a warning names the grid).
    """

    n_boot: int
    bracketed: bool = True
    alpha_c: float = _float()
    alpha_c_lo: float = _float()
    alpha_c_hi: float = _float()
    width: float = _float()
    fit_alpha: np.ndarray = _array()
    fit_retrieved: np.ndarray = _array()
    k: np.ndarray = _array(int)
    n: np.ndarray = _array(int)
    theory_alpha_c: float = _float()


@dataclass(frozen=True, eq=False, kw_only=True)
class BasinsRecord(_Record):
    """Retrieval versus initial overlap at one load (:func:`hopfield.basins`); L initial overlaps.

    - config: `N, alpha, p, quantizer, recipe, networks, probes, mode, max_sweeps, criterion, dist, interrupted`.
    - `m0` (L,): the realised initial overlaps ``1 - 2 n_flip / N``.
    - `m` (networks, L, probes'): final overlaps, NaN for networks not reached.
    - `m_mean, retrieved, retrieved_se` (L,) over the networks done; `rho`: mean measured rho.
    """

    N: int
    alpha: float
    p: int
    quantizer: str
    recipe: Any = _recipe()
    networks: int
    probes: int
    mode: str
    max_sweeps: int
    criterion: float | str
    dist: str
    interrupted: bool
    m0: np.ndarray = _array()
    m: np.ndarray = _array(ndim=3)
    m_mean: np.ndarray = _array()
    retrieved: np.ndarray = _array()
    retrieved_se: np.ndarray = _array()
    rho: float = _float()


@dataclass(frozen=True, eq=False, kw_only=True)
class FiniteSizeRecord(_Record):
    """alpha_c at S sizes and the fit ``alpha_c(N) = alpha_inf + a N^(-nu)`` (:func:`hopfield.finite_size`).

    - `quantizer`, `recipe`, `nu`, `interrupted`; `N` (S,) every requested size;
      `alpha_c, alpha_c_lo, alpha_c_hi` (S,), NaN for sizes not reached.
    - `alpha_inf, alpha_inf_se, a`: weighted least squares over the sizes done (NaN with fewer than 2).
    - `theory_alpha_c`: mean of the per-size predictions; `runs`: the :class:`CapacityRecord` of each size run.
    """

    quantizer: str
    recipe: Any = _recipe()
    nu: float
    interrupted: bool
    N: np.ndarray = _array(int)
    alpha_c: np.ndarray = _array()
    alpha_c_lo: np.ndarray = _array()
    alpha_c_hi: np.ndarray = _array()
    alpha_inf: float = _float()
    alpha_inf_se: float = _float()
    a: float = _float()
    theory_alpha_c: float = _float()
    runs: tuple = _records("CapacityRecord")


@dataclass(frozen=True, eq=False, kw_only=True)
class ComparisonRecord(_Record):
    """Measured versus predicted behaviour for Q quantizers on the same networks (:func:`hopfield.compare_quantizers`).

    - `N`, `interrupted`; `labels` (Q,); `runs`: Q retrieval records (all NaN for quantizers not reached).
    - `rho, field_agreement, theory_field_agreement, theory_capacity` (Q,): averages over the loads done.
    - `rho_grid, field_agreement_grid` (200,): Sheppard's curve ``1 - arccos(rho)/pi``.
    """

    N: int
    interrupted: bool
    labels: tuple = _strings()
    runs: tuple = _records("RetrievalRecord")
    rho: np.ndarray = _array()
    field_agreement: np.ndarray = _array()
    theory_field_agreement: np.ndarray = _array()
    theory_capacity: np.ndarray = _array()
    rho_grid: np.ndarray = _array()
    field_agreement_grid: np.ndarray = _array()

    @classmethod
    def from_runs(cls, runs: Any, interrupted: bool = False) -> ComparisonRecord:
        """The comparison of retrieval (or capacity) records that are already measured."""
        import theory

        runs = tuple(runs)

        def per_run(r: RetrievalRecord, x: np.ndarray) -> float:
            d = r.done
            return float(np.mean(x[d])) if d.any() else math.nan

        rho = np.array([per_run(r, r.rho) for r in runs])
        grid = np.linspace(0.0, 1.0, 200)
        return cls(N=int(runs[0].N) if runs else 0, interrupted=bool(interrupted), labels=tuple(r.quantizer for r in runs),
                   runs=runs, rho=rho, field_agreement=np.array([per_run(r, r.field_agreement) for r in runs]),
                   theory_field_agreement=np.array([float(theory.field_agreement(min(x, 1.0))) if x == x else math.nan
                                                    for x in rho]),
                   theory_capacity=np.array([per_run(r, r.theory_capacity) for r in runs]),
                   rho_grid=grid, field_agreement_grid=np.asarray(theory.field_agreement(grid), dtype=float))


@dataclass(frozen=True, eq=False, kw_only=True)
class ScanRecord(_Record):
    """Exact-recall capacity scan (:func:`hopfield.capacity_scan`), P pattern counts, one compiled call.

    - config: `N, trials, noise, n_flip, max_sweeps, mode` (``"async"``), `criterion` (``"exact"``).
    - `p, alpha` (P,); `m` (P, trials) final overlaps with pattern 0; `retrieved, retrieved_se` (P,):
      fraction of exact recalls and its binomial SE; `sweeps, flips` (P, trials); `status_counts` (P, 3).
    """

    N: int
    trials: int
    noise: float
    n_flip: int
    max_sweeps: int
    mode: str
    criterion: str
    p: np.ndarray = _array(int)
    alpha: np.ndarray = _array()
    m: np.ndarray = _array(ndim=2)
    retrieved: np.ndarray = _array()
    retrieved_se: np.ndarray = _array()
    sweeps: np.ndarray = _array(int, 2)
    flips: np.ndarray = _array(int, 2)
    status_counts: np.ndarray = _array(int, 2)


__all__ = ["RetrievalRecord", "CapacityRecord", "BasinsRecord", "FiniteSizeRecord", "ComparisonRecord", "ScanRecord"]
