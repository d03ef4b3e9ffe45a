"""Fitting quantizers to real data (a weight tensor), per tensor, per channel or per group.

Every group of weights (the whole tensor, a channel, or a group of consecutive weights;
:mod:`theory.granularity`) is one row of data, its own empirical density.  Within each
family the shape parameters maximize the *empirical* rho of the row, for all rows at once
(:mod:`theory._search`, the same search that the a-priori families use; per tensor is one
row).  Lloyd-Max on data is 1-D k-means (Deep Compression's weight sharing; Han, Mao,
Dally, ICLR 2016), deterministic, and stops when no weight changes cell.  ``"minmax"`` is
the round-to-nearest asymmetric uniform baseline with min-max range that most toolkits use.

Per channel or group (Pushkareva & Karandashev 2020, per channel instead of per layer),
``shared_shape=False`` gives each group its own rho-optimal shape (the pooled shape is
always a candidate, so a group's own fit is at least as good as the shared one in that
group's rho); ``shared_shape=True`` keeps one unit-RMS shape fitted on the pooled
group-normalised weights, times a scale per group: cheaper to store, worse when groups
differ in shape.  Sign and ternary always share their shape.

The gain of the levels follows ``gain`` (:func:`theory.correlation.gain_factor`):
``"mse"`` (default) is the least-squares scale, which leaves the quantized weights shrunk
by rho^2 along the float weights; ``"unbiased"`` scales the levels so that
``E[w q] = E[w^2]`` in each group, so the regression coefficient of q on w is 1.  The gain
only multiplies the levels: thresholds, codes and rho are the same for both rules.  For
``"minmax"`` the levels keep their range scale under ``"mse"`` (the toolkit baseline, not
least squares) and get the same unbiased factor under ``"unbiased"``.

``offset=True`` (mean-aware levels) takes each group's mean out, fits the centred weights for
maximum rho, and adds the mean back to the levels and thresholds: an affine grid per group
placed for correlation, where the asymmetric toolkits place theirs by min and max.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _search as S
from ._quantizer import Quantizer
from ._search import midpoints
from ._hist import BINS, HistRows
from .affine import SMALL_GROUP, affine_hist_rows, affine_rows
from .correlation import GAINS, gain_factor
from .granularity import PerGroup, PerTensor, as_granularity
from .recipe import METHODS, Recipe, as_recipe

#: ``search="histogram"`` reads histograms for tensors of at least this many weights; smaller ones are
#: searched exactly (their sort is cheap, and a histogram of few weights is a coarse density).
HIST_MIN_WEIGHTS = 1 << 14
#: Scale used for an all-zero group (keeps levels strictly increasing).
_TINY = 1e-20


def check_data(name: str, x: Any) -> np.ndarray:
    """A finite, non-empty float64 copy of real data ``x`` (numpy, JAX or torch; raises ValueError naming ``name``)."""
    if x is None:
        raise ValueError(f"{name} must be an array of real numbers, got None")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, possibly requiring grad: its values
        x = x.detach().cpu().numpy()
    raw = np.asarray(x)
    if raw.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be an array of real numbers, got dtype {raw.dtype} ({type(x).__name__})")
    arr = raw.astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.any(np.isnan(arr)) else "Inf"
        raise ValueError(f"{name} contains {bad} values; quantizers can only be fitted to finite data")
    return arr


def check_gain(gain: Any) -> str:
    """``gain`` if it is one of :data:`theory.GAINS` (raises ValueError naming ``gain``)."""
    if not isinstance(gain, str) or gain not in GAINS:
        raise ValueError(f"gain must be one of {list(GAINS)}, got {gain!r}")
    return gain


# -- rows of data -> unit levels ------------------------------------------------------
def _minmax_rows(rows: np.ndarray, K: int) -> np.ndarray:
    """(G, K) levels of round-to-nearest on K levels spanning ``[min, max]`` of each row (zero included).

    Asymmetric affine quantization as in common toolkits (PyTorch's MinMaxObserver):
    ``scale = (max - min)/(K - 1)``, integer zero point ``round(-min/scale)``.
    """
    lo = np.minimum(rows.min(axis=1).astype(np.float64), 0.0)  # min and max are exact in float32 rows too
    hi = np.maximum(rows.max(axis=1).astype(np.float64), 0.0)
    span = np.where(hi - lo > 0, hi - lo, _TINY * (K - 1))
    scale = span / (K - 1)
    zp = np.clip(np.round(-lo / scale), 0, K - 1)
    return (np.arange(K)[None, :] - zp[:, None]) * scale[:, None]


def _family_levels(signed: S._Rows, absz: S._Rows, method: str, K: int, around: np.ndarray | None = None) -> np.ndarray:
    """(C, K) unit levels of ``method``'s rho-optimal quantizer for each row (rows of z and of |z|).

    ``around`` (C, K): search each row only near these levels (the pooled shape, histogram search).
    """
    if method == "exponential":
        return S.exponential_rows(absz, K, around=around)
    if method == "lloyd_max" and around is not None:
        return S.lloyd_max_rows(signed, init=around)
    uni = S.uniform_rows(absz, K, around=around)
    if method == "uniform":
        return uni
    return S.lloyd_max_rows(signed, init=uni)  # Lloyd-Max from the uniform optimum


def _shape_levels(signed: S._Rows, method: str, K: int, shared: bool) -> np.ndarray:
    """(C, K) unit levels for the unit-RMS rows in ``signed``: own shapes (best of own and pooled) or the pooled one.

    Histogram rows (:class:`theory._hist.HistRows`) search each row's own shape near the pooled
    one, and compare symmetric candidates on the rows of |z| (the same rho, no signed table).
    """
    C = signed.C
    if C == 1:
        return _family_levels(signed, signed.magnitudes(), method, K)
    hist = isinstance(signed, HistRows)
    pooled_signed = signed.pooled() if method == "lloyd_max" else None
    pooled = np.broadcast_to(_family_levels(pooled_signed, signed.pooled_magnitudes(), method, K), (C, K))
    if shared:  # the rows' own |z| are not needed
        return np.array(pooled)
    if hist:
        cands = [pooled, _family_levels(signed, signed.magnitudes(), method, K, around=pooled)]
    else:
        cands = [pooled, _family_levels(signed, signed.magnitudes(), method, K)]
        if method == "lloyd_max":
            cands.append(S.lloyd_max_rows(signed, init=pooled))
    rows = np.arange(C)
    if hist and method != "lloyd_max":
        r = np.stack([signed.magnitudes().rho(c[:, None, K // 2:], rows)[:, 0] for c in cands])
    else:
        r = np.stack([signed.rho(c[:, None, :], rows)[:, 0] for c in cands])  # (candidates, C)
    best = np.argmax(r, axis=0)
    return np.stack(cands)[best, rows]


def fit_rows(rows: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds (G, K-1), levels (G, K)) of ``recipe`` fitted to each row of ``rows`` (G, m), in data units.

    ``rows`` may be float32 (exact in float64, so the fit is the one of ``rows.astype(float64)``,
    bit for bit; the rows are sorted in float32, which is faster) or float64.
    """
    G, K, method = rows.shape[0], recipe.K, recipe.method
    if rows.dtype != np.float64 and (recipe.offset or (method == "minmax" and recipe.gain != "mse")):
        rows = rows.astype(np.float64)
    if recipe.offset:
        # mean-aware levels: fit the centred weights for maximum rho, then shift levels and thresholds back
        m = np.mean(rows, axis=1)
        t, lv = fit_rows(rows - m[:, None], _centred(recipe))
        return t + m[:, None], S.strictly_increasing(lv + m[:, None])
    if method == "affine":  # the maximum-rho affine grid (theory.affine)
        if recipe.search == "histogram" and rows.size >= HIST_MIN_WEIGHTS and rows.shape[1] > SMALL_GROUP:
            out = affine_hist_rows(rows, K, recipe.gain)  # None with a constant row
            if out is not None:
                return out
        return affine_rows(rows, K, recipe.gain)
    if method == "minmax":
        lv = _minmax_rows(rows, K)
        t = midpoints(lv)
        if recipe.gain != "mse":
            e2 = np.sum(rows * rows, axis=1)
            ewq, eq2 = _data_moments(rows, t, lv)
            lv = lv * np.asarray(gain_factor(recipe.gain, e2, ewq, eq2))[:, None]
        return t, lv
    extent = np.min(rows, axis=1).astype(np.float64), np.max(rows, axis=1).astype(np.float64)
    amax = np.maximum(-extent[0], extent[1])  # max |w| (exactly), in two passes without a copy
    live = amax > 0
    safe = np.where(live, amax, 1.0)
    rms = safe * np.sqrt(np.mean((rows / safe[:, None]) ** 2, axis=1))  # scaled first: no underflow at 1e-170
    rms = np.where(live, rms, 0.0)
    t = np.empty((G, K - 1))
    lv = np.empty((G, K))
    if not np.all(live):  # all-zero groups: a tiny uniform grid whose level for 0 is exactly 0
        t[~live], lv[~live] = _zero_group(K)
        if not np.any(live):
            return t, lv
    data = rows[live] if not np.all(live) else rows
    if recipe.search == "histogram" and data.size >= HIST_MIN_WEIGHTS:
        return _fit_hist(data, rms[live], tuple(e[live] for e in extent), recipe, t, lv, live)
    signed = S.SortedRows.scaled(data, rms[live])  # sorted rows / rms
    if method == "sign":
        unit_t, unit = np.zeros((signed.C, 1)), np.tile([-1.0, 1.0], (signed.C, 1))
    elif method == "ternary":
        pt, pl = S.ternary_rows(signed.pooled() if signed.C > 1 else signed)
        unit_t, unit = np.repeat(pt, signed.C, axis=0), np.repeat(pl, signed.C, axis=0)
    else:
        unit = _shape_levels(signed, method, K, recipe.shared_shape)
        unit = S.strictly_increasing(unit)
        unit_t = midpoints(unit)
    g = signed.gain(unit, recipe.gain, unit_t)
    lv[live] = S.strictly_increasing(unit * (g * rms[live])[:, None])
    t[live] = unit_t * rms[live, None]
    return t, lv


def _fit_hist(data: np.ndarray, rms: np.ndarray, extent: tuple, recipe: Recipe, t: np.ndarray,
              lv: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fit_rows` of the live rows ``data`` with ``search="histogram"`` (:mod:`theory._hist`).

    The same families and rules as the exact search; symmetric levels take their gain from the
    rows of |z|; sign's gain is exact (``E[z q] = E|z|``).
    """
    method, K = recipe.method, recipe.K
    C, n = data.shape
    e2 = np.full(C, float(n))  # the rows are divided by their own RMS
    signed = HistRows.of(data, rms, e2, extent=extent, bins=max(BINS, 16 * K))  # at least 16 bins per level
    if method == "sign":
        unit_t, unit = np.zeros((C, 1)), np.tile([-1.0, 1.0], (C, 1))
        ewq = np.sum(np.abs(data), axis=1, dtype=np.float64) / rms
        g = np.asarray(gain_factor(recipe.gain, e2, ewq, e2))
    else:
        if method == "ternary":
            pt, pl = S.ternary_rows(signed.pooled() if C > 1 else signed)
            unit_t, unit = np.repeat(pt, C, axis=0), np.repeat(pl, C, axis=0)
        else:
            unit = S.strictly_increasing(_shape_levels(signed, method, K, recipe.shared_shape))
            unit_t = midpoints(unit)
        if method in ("uniform", "exponential"):
            g = signed.magnitudes().gain(unit[:, K // 2:], recipe.gain, midpoints(unit[:, K // 2:]))
        else:
            g = signed.gain(unit, recipe.gain, unit_t)
    lv[live] = S.strictly_increasing(unit * (g * rms)[:, None])
    t[live] = unit_t * rms[:, None]
    return t, lv


def _centred(recipe: Recipe) -> Recipe:
    """The same recipe without the offset (fitted to centred rows)."""
    return Recipe(recipe.method, K=recipe.K, gain=recipe.gain, shared_shape=recipe.shared_shape, search=recipe.search)


def _zero_group(K: int) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and levels for an all-zero group: ``_TINY * (k - K//2)``, so ``q(0) = 0`` exactly."""
    lv = _TINY * (np.arange(K) - K // 2.0)
    return midpoints(lv), lv


def _data_moments(rows: np.ndarray, t: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = S.SortedRows(rows)
    return r.moments(lv, t)


def fit_recipe(recipe: Recipe, x: Any, granularity: Any = None) -> Quantizer:
    """``recipe`` fitted to ``x`` under ``granularity`` (see :meth:`theory.Recipe.fit`)."""
    return fit_checked(recipe, check_data("x", x), granularity)


def fit_checked(recipe: Recipe, arr: np.ndarray, granularity: Any = None) -> Quantizer:
    """:func:`fit_recipe` on an array already known to be finite and non-empty, float32 or float64 (no copy)."""
    g = PerTensor() if granularity is None else as_granularity(granularity)
    name = f"{recipe.method}(K={recipe.K})"
    if isinstance(g, PerTensor):
        t, lv = fit_rows(arr.reshape(1, -1), recipe)
        return Quantizer(t[0], lv[0], name)
    rows = g.rows(arr)
    t, lv = _fit_groups(rows, g, arr.shape, recipe)
    return Quantizer(t, lv, name, g)


def _fit_groups(rows: np.ndarray, g: Any, shape: tuple[int, ...], recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """Fit every row; a :class:`PerGroup` tail group (shorter than ``size``) is fitted on its real entries only."""
    if not isinstance(g, PerGroup):
        return fit_rows(rows, recipe)
    lengths = np.asarray(g.group_lengths(shape))
    full = lengths == g.size
    if np.all(full):
        return fit_rows(rows, recipe)
    t = np.empty((rows.shape[0], recipe.K - 1))
    lv = np.empty((rows.shape[0], recipe.K))
    for mask in (full, ~full):
        if np.any(mask):
            n = int(lengths[mask][0])
            t[mask], lv[mask] = fit_rows(rows[mask][:, :n], recipe)
    return t, lv


def fit(x: Any, method: Any, K: int | None = None, *, bits: int | None = None, gain: str = "mse",
        granularity: Any = None, shared_shape: bool | None = None) -> Quantizer:
    """Fit a quantizer to data ``x`` (any shape), in the data's units: ``as_recipe(method, ...).fit(x, granularity)``.

    **Arguments:**

    - `x`: the weights, finite and non-empty.
    - `method`: a :class:`theory.Recipe`, or one of ``METHODS`` with `K` or `bits`
      (ignored for sign/ternary), `gain` and `shared_shape` (see :class:`theory.Recipe`).
    - `granularity`: ``PerTensor()`` (default), ``PerChannel(axis)``, ``PerGroup(size, axis)``.

    **Returns:** a :class:`Quantizer` whose shape maximizes the empirical rho within the
    family in each group and whose levels have the recipe's gain.
    """
    if isinstance(method, Recipe):
        if K is not None or bits is not None or gain != "mse" or shared_shape is not None:
            raise ValueError("pass either a Recipe or loose settings (K, bits, gain, shared_shape), not both")
        return method.fit(x, granularity)
    if isinstance(method, str) and method in ("sign", "ternary"):
        K = bits = None  # fixed level counts: the recipe knows them
    check_gain(gain)
    return as_recipe(method, bits=bits, K=K, gain=gain, shared_shape=shared_shape).fit(x, granularity)


def minmax_uniform(x: Any, bits: int | None = None, K: int | None = None) -> Quantizer:
    """Round-to-nearest on ``2**bits`` (or K) equally spaced levels spanning ``[min(x), max(x)]`` (zero included)."""
    return fit(x, "minmax", K, bits=bits)


__all__ = ["METHODS", "GAINS", "check_gain", "check_data", "fit", "fit_recipe", "fit_checked", "fit_rows", "minmax_uniform"]
