"""Does the bridge beat the trivial predictors?  Every prediction scored beside its baselines, from the same records.

Nothing here runs a network: the scores are computed from the bridge's records alone (their
per-image correctness, :func:`deepnets.records.pack_bools`, is what the bootstrap resamples).
Each metric is the one for a decision:

- ranking quantizers at equal width: the mean over (model, bits) cells of Kendall's tau-b
  between a predictor's score and the measured drop (cells of 3 points or more; a predictor
  constant in a cell, like the bit width, ranks nothing there and scores 0);
- ranking every point (the pooled Spearman correlation, and its mean within each model);
- predicting the drop in points: the mean absolute error.  The noise models predict points
  themselves; the baselines get a monotone (isotonic) fit of the measured drop on their score,
  fitted on the other models' points (leave one model out; one model: leave one method out);
- ranking layers (:func:`layer_ranking`): Kendall's tau-b between a per-layer score and the
  measured one-layer sensitivity;
- allocation (:func:`allocation_scores`): top-1 at equal packed size.

Intervals: 95% percentile bootstrap (B. Efron, Ann. Stat. 7:1, 1979) over test images, the
images of a model resampled together so that every point of one replicate sees the same images
(paired differences); the predictions are held fixed (they are computed from the weights, the
calibration images and the float logits; only the measured side is resampled).  A prediction
is said to beat a baseline only if the interval of the difference excludes 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..records import LayerRankRecord, unpack_bools

#: End-to-end predictors: the baselines (no model of the noise), the predictions, the upper baseline.
BASELINES = ("bits", "mean_rho", "weighted_rho")
PREDICTIONS = ("data_free", "calibrated", "propagated")
UPPER = "measured"
LABELS = {"bits": "bit width alone", "mean_rho": "mean weight rho", "weighted_rho": "parameter-weighted rho",
          "data_free": "data-free (sum 1/rho^2 - 1)", "calibrated": "calibrated (data-aware r, S)",
          "propagated": "calibrated x measured layer gains", "measured": "measured one-layer noise (upper baseline)",
          "params": "parameter count alone", "uniform": "uniform width"}
#: Metrics: name -> (higher is better, label).
METRICS = {"cell_tau": (True, "Kendall tau within (model, bits)"), "spearman": (True, "Spearman, all points"),
           "model_spearman": (True, "Spearman within model (mean)"), "mae": (False, "MAE drop (points)")}


def _get(r: Any, k: str) -> Any:
    return r[k] if isinstance(r, dict) else getattr(r, k)


def _check_boot(n_boot: int, seed: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 10:
        raise ValueError(f"n_boot must be an int >= 10, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {seed!r}")


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multinomial counts: how often each of n images is drawn in each bootstrap replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def kendall_tau_b(x: Any, Y: Any) -> np.ndarray:
    """Kendall's tau-b between one score vector ``x`` (k,) and each row of ``Y`` (B, k).

    ``sum sign(dx) sign(dy) / sqrt(#pairs untied in x * #pairs untied in y)`` (M. G. Kendall,
    Biometrika 33:239, 1945).  A constant ``x`` ranks nothing: 0; a constant row of ``Y``: NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    if x.ndim != 1 or Y.shape[1] != x.size or x.size < 2:
        raise ValueError(f"x must be (k,) with k >= 2 and Y (B, k), got {x.shape} and {Y.shape}")
    iu = np.triu_indices(x.size, 1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    sy = np.sign(Y[:, :, None] - Y[:, None, :])[:, iu[0], iu[1]]
    nx, ny = np.sum(sx * sx), np.sum(sy * sy, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sy @ sx) / np.sqrt(nx * ny)
    return np.where(nx == 0, 0.0, np.where(ny == 0, np.nan, tau))


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=-1)


def spearman(x: Any, Y: Any) -> np.ndarray:
    """Spearman's rank correlation of ``x`` (k,) with each row of ``Y`` (B, k) (average ranks for ties; 0 if ``x`` is constant)."""
    x = np.asarray(x, dtype=np.float64)
    Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    rx = _ranks(x) - (x.size + 1) / 2
    ry = _ranks(Y) - (x.size + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (ry @ rx) / np.sqrt(np.sum(rx * rx) * np.sum(ry * ry, axis=1))
    return np.where(np.sum(rx * rx) == 0, 0.0, s)


def _score(r: Any, name: str) -> float:
    """Ranking score of one end-to-end record (larger: larger predicted drop)."""
    if name == "bits":
        return -float(_get(r, "bits"))
    if name in ("mean_rho", "weighted_rho"):
        return 1.0 - float(_get(r, {"mean_rho": "rho_mean", "weighted_rho": "rho_weighted"}[name]))
    return float(_get(r, f"eps2_{name}"))


def _pred_drop(r: Any, name: str) -> float:
    return float(_get(r, f"pred_drop_{name}"))


def _isotonic_drop(x_fit: np.ndarray, y_fit: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Monotone non-decreasing fit of drop on score (other points), evaluated at ``x``."""
    from sklearn.isotonic import IsotonicRegression

    ok = np.isfinite(x_fit)
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x_fit[ok], y_fit[ok])
    return iso.predict(np.where(np.isfinite(x), x, np.max(x_fit[ok])))


def measured_drops(recs: list, n_boot: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(P,) measured drops (points) and (P, n_boot) bootstrap replicates, from each record's per-image correctness.

    The test images of one model are resampled together (one draw per replicate for all its points).
    """
    _check_boot(n_boot, seed)
    rng = np.random.default_rng(seed)
    point = np.array([float(_get(r, "measured_drop")) for r in recs])
    boot = np.zeros((len(recs), n_boot))
    for m in sorted({_get(r, "model") for r in recs}):
        idx = [i for i, r in enumerate(recs) if _get(r, "model") == m]
        C = np.stack([unpack_bools(_get(recs[i], "correct")) for i in idx]).astype(np.float64)
        F = np.stack([unpack_bools(_get(recs[i], "float_correct")) for i in idx]).astype(np.float64)
        if not np.all(F == F[0]):
            raise ValueError(f"recs: the records of model {m!r} do not share one float model and test set")
        K = resample_counts(C.shape[1], n_boot, rng) / C.shape[1]
        boot[idx] = 100.0 * (K @ (F - C).T).T
        pt = 100.0 * (F - C).mean(1)
        if not np.allclose(pt, point[idx], atol=1e-9):
            raise ValueError(f"recs: the per-image correctness of model {m!r} does not give its recorded drops")
    return point, boot


def _interval(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    return (float("nan"), float("nan")) if v.size == 0 else tuple(float(x) for x in np.percentile(v, [2.5, 97.5]))


def _verdict(lo: float, hi: float) -> str:
    """``"beats"`` if the interval of a difference (better is > 0) excludes 0 from below, ``"worse"`` from above."""
    if not np.isfinite(lo):
        return "no skill"
    return "beats" if lo > 0 else ("worse" if hi < 0 else "no skill")


def end_to_end_scores(recs: list, n_boot: int = 1000, seed: int = 0, min_cell: int = 3) -> dict:
    """Every end-to-end predictor (:data:`BASELINES`, :data:`PREDICTIONS`, :data:`UPPER`) on every metric
    (:data:`METRICS`), with bootstrap intervals, and each prediction against the best baseline.

    **Arguments:** `recs`: :class:`deepnets.records.EndToEndRecord` s (or their dicts); `n_boot`
    replicates; `seed` of the bootstrap's ``numpy`` Generator; `min_cell`: smallest (model, bits)
    cell scored by Kendall's tau.

    **Returns:** ``{"n", "n_cells", "n_boot", "rows", "versus"}``: ``rows`` one per predictor
    ``{"predictor", "role", <metric>, <metric>_lo, <metric>_hi}``; ``versus`` one per (prediction,
    metric, baseline) ``{"prediction", "metric", "baseline", "best" (the best baseline by point
    value), "diff" (better is > 0: a higher tau or Spearman, a smaller MAE), "lo", "hi", "verdict"
    ("beats", "no skill" or "worse")}``.
    """
    if len(recs) < 3:
        raise ValueError(f"recs must hold at least 3 end-to-end records, got {len(recs)}")
    point, boot = measured_drops(recs, n_boot, seed)
    Y = np.concatenate([point[:, None], boot], axis=1).T  # (1 + B, P): row 0 the point estimate
    models = [_get(r, "model") for r in recs]
    cells: dict[tuple, list[int]] = {}
    for i, r in enumerate(recs):
        cells.setdefault((_get(r, "model"), int(_get(r, "bits"))), []).append(i)
    cells = {k: v for k, v in cells.items() if len(v) >= min_cell}
    group = models if len(set(models)) > 1 else [_get(r, "method") for r in recs]
    names = (*BASELINES, *PREDICTIONS, UPPER)
    vals: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        s = np.array([_score(r, name) for r in recs])
        if name in BASELINES:  # drop in points from the other groups' measured drops
            d = np.zeros(len(recs))
            for g in set(group):
                out = np.array([x == g for x in group])
                d[out] = _isotonic_drop(s[~out], point[~out], s[out]) if (~out).any() else np.nan
        else:
            d = np.array([_pred_drop(r, name) for r in recs])
        v = {"mae": np.mean(np.abs(d[None, :] - Y), axis=1), "spearman": spearman(d if name not in BASELINES else s, Y)}
        per_model = [spearman(s[[i for i, m in enumerate(models) if m == mm]],
                              Y[:, [i for i, m in enumerate(models) if m == mm]]) for mm in sorted(set(models))]
        v["model_spearman"] = np.nanmean(np.stack(per_model), axis=0)
        taus = [kendall_tau_b(s[ix], Y[:, ix]) for ix in cells.values()]
        with np.errstate(invalid="ignore"):
            v["cell_tau"] = np.nanmean(np.stack(taus), axis=0) if taus else np.full(Y.shape[0], np.nan)
        vals[name] = v
    rows = []
    for name in names:
        row = {"predictor": name, "role": "baseline" if name in BASELINES else "upper" if name == UPPER else "prediction"}
        for met in METRICS:
            row[met] = float(vals[name][met][0])
            row[f"{met}_lo"], row[f"{met}_hi"] = _interval(vals[name][met][1:])
        rows.append(row)
    versus = []
    for met, (higher, _) in METRICS.items():
        sign = 1.0 if higher else -1.0
        pts = {b: vals[b][met][0] for b in BASELINES if np.isfinite(vals[b][met][0])}
        if not pts:
            continue
        best = max(pts, key=lambda b: sign * pts[b])
        for name in (*PREDICTIONS, UPPER):
            for b in pts:
                diff = sign * (vals[name][met] - vals[b][met])
                lo, hi = _interval(diff[1:])
                versus.append({"prediction": name, "metric": met, "baseline": b, "best": b == best, "diff": float(diff[0]),
                               "lo": lo, "hi": hi, "verdict": _verdict(lo, hi)})
    return {"n": len(recs), "n_cells": len(cells), "n_boot": int(n_boot), "rows": rows, "versus": versus}


def allocation_scores(recs: list, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Top-1 (%) at equal packed size per (model, average bits) and strategy, with bootstrap intervals,
    and each predicted strategy against the best baseline strategy of that row.

    **Returns:** one dict per (model, avg_bits): ``{"model", "avg_bits", "float", <strategy>,
    <strategy>_lo, <strategy>_hi, <strategy>_kib, "versus": [{"strategy", "baseline", "diff", "lo",
    "hi", "verdict"}]}`` (the ``versus`` rows for the predictions and the measured upper baseline).
    """
    from .allocation import BASELINE_STRATEGIES, PREDICTED_STRATEGIES

    _check_boot(n_boot, seed)
    rng = np.random.default_rng(seed)
    out = []
    for m in sorted({_get(r, "model") for r in recs}):
        rm = [r for r in recs if _get(r, "model") == m]
        n = unpack_bools(_get(rm[0], "correct")).size
        K = resample_counts(n, n_boot, rng) / n
        for a in sorted({float(_get(r, "avg_bits")) for r in rm}):
            ra = {_get(r, "strategy"): r for r in rm if float(_get(r, "avg_bits")) == a}
            row: dict[str, Any] = {"model": m, "avg_bits": a, "float": float(_get(next(iter(ra.values())), "float_top1"))}
            acc = {}
            for s, r in ra.items():
                c = unpack_bools(_get(r, "correct")).astype(np.float64)
                acc[s] = np.concatenate([[100.0 * c.mean()], 100.0 * (K @ c)])
                row[s] = float(_get(r, "top1"))
                row[f"{s}_lo"], row[f"{s}_hi"] = _interval(acc[s][1:])
                row[f"{s}_kib"] = float(_get(r, "file_bytes")) / 1024
            base = [s for s in BASELINE_STRATEGIES if s in acc]
            row["versus"] = []
            if base:
                best = max(base, key=lambda s: acc[s][0])
                for s in (*PREDICTED_STRATEGIES, UPPER):
                    if s in acc:
                        d = acc[s] - acc[best]
                        lo, hi = _interval(d[1:])
                        row["versus"].append({"strategy": s, "baseline": best, "diff": float(d[0]), "lo": lo, "hi": hi,
                                              "verdict": _verdict(lo, hi)})
            out.append(row)
    return out


def layer_ranking(model: str, method: str, params: np.ndarray, noise: dict[str, np.ndarray], gains: np.ndarray,
                  prods: np.ndarray, bits_list: tuple[int, ...], bits: tuple[int, ...] = (2, 3, 4), n_boot: int = 1000,
                  seed: int = 0) -> list[LayerRankRecord]:
    """How well each per-layer score ranks the layers by measured one-layer sensitivity.

    **Arguments:** `params` (L,); `noise`: :func:`deepnets.bridge.layer_noise_tables` (L, J);
    `gains` (L,) propagation gains; `prods`: (L, J, n, 3) per-image logit products of the
    one-layer measurements (:func:`deepnets.bridge.measured_sensitivity` with ``per_image``),
    bootstrapped over the n calibration images; `bits`: the widths averaged over.

    Scores: baselines ``"params"`` (parameter count: bigger layers matter more), ``"mean_rho"``
    (``1 - rho``), ``"weighted_rho"`` (``params (1 - rho)``); predictions ``"data_free"``,
    ``"calibrated"``, ``"propagated"``.  Fewer than 3 layers: nothing to rank, no records.
    """
    from .calibration import noise_of_products

    _check_boot(n_boot, seed)
    L, J, n, _ = prods.shape
    if L < 3:
        return []
    js = [list(bits_list).index(b) for b in bits if b in bits_list]
    K = resample_counts(n, n_boot, np.random.default_rng(seed)) / n
    meas = np.concatenate([noise_of_products(prods.sum(2) / n)[None], noise_of_products(np.einsum("bn,ljnk->bljk", K, prods))])
    meas = np.where(np.isfinite(meas), meas, 1e6)
    p = np.asarray(params, dtype=np.float64)[:, None]
    scores = {"params": np.broadcast_to(p, (L, J)), "mean_rho": 1 - noise["rho"], "weighted_rho": p * (1 - noise["rho"]),
              "data_free": noise["data_free"], "calibrated": noise["calibrated"],
              "propagated": np.asarray(gains)[:, None] * noise["calibrated"]}
    out = []
    for name, sc in scores.items():
        sc = np.where(np.isfinite(sc), sc, 1e6)
        tau = np.nanmean(np.stack([kendall_tau_b(sc[:, j], meas[:, :, j]) for j in js]), axis=0)
        lo, hi = _interval(tau[1:])
        out.append(LayerRankRecord(model, method, name, tuple(bits_list[j] for j in js), float(tau[0]), lo, hi, L))
    return out
