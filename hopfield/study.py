"""The capacity study: alpha_c(N) per quantizer from the stability (or basin) protocol, and its N -> infinity limit.

``python -m hopfield.study --sizes 1000 2000 4000 --networks 20 --out docs/hopfield_study.json``

Per size N and network: one set of random patterns, the Hebb counts grown load
by load over the alpha grid (:mod:`hopfield.network`), every quantizer on the
same counts (paired), every stored pattern a probe.  Per (network, load,
quantizer) the record keeps the mean final overlap and the fraction of probes
with ``m >= m_star``.  Capacity criteria (``criterion``):

- ``"fraction"``: the load where the fraction of probes with m >= m* crosses
  1/2 (binomial logistic fit, as :func:`hopfield.measure_capacity`);
- ``"jump"``: the location of the jump of the mean overlap, the midpoint of a
  four-parameter logistic fitted to m(alpha) (the AGS retrieval state
  disappears at alpha_c with m = 0.967: Amit, Gutfreund, Sompolinsky, Ann.
  Phys. 173:30, 1987).

Intervals: percentile bootstrap over networks.  The finite-size fit
``alpha_c(N) = alpha_inf + a N^(-nu)`` has nu free: alpha_inf's interval is the
profile likelihood (Delta chi^2 <= 3.84) over a and nu, so it includes nu's
uncertainty; fits with nu = 1/2 and 2/3 are shown beside it.  References for
the value: replica symmetric 0.137905, one-step RSB 0.138186, simulations
0.145 +- 0.009 (J. Steffan, R. Kuhn, Z. Phys. B 95:249, 1994).

The command writes the record after every network; Ctrl-C keeps what is done,
and running it again with the same ``--out`` resumes from it (with more ``--sizes``
or ``--networks`` and everything else the same, it extends the study: each network's
patterns depend only on the seed, N and its index).  ``--window`` runs, at each N,
only the loads of the grid near that size's transition; ``--figure`` draws alpha_c(N)
against N^-nu with the fits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from .critical_load import _fit_logistic
from .hebbian import as_spec, quantizer_label, unit_quantizer
from .scaling import NU_GRID, _alpha_inf_points, fit_finite_size  # noqa: F401  (re-exported)
from .network import PROTOCOLS, bucket, check_memory, hebb_counts, probe_network, quantized_coupling

CRITERIA = ("fraction", "jump")
DEFAULT_QUANTIZERS = ("float", "sign", "ternary", "lloyd_max:2", "lloyd_max:3", "uniform:2", "uniform:3")
MIN_FIT_SIZES = 5  # sizes kept at least when the smallest are dropped (fit_by_min_size)


# -- running ------------------------------------------------------------------------------
def parse_quantizer(name: str):
    """``"float"`` -> None; ``"sign"``, ``"ternary"``; ``"uniform:3"`` -> 3 bits."""
    if name == "float":
        return None
    if ":" in name:
        import theory

        method, bits = name.split(":")
        return theory.Recipe(method, bits=int(bits))
    return as_spec(name)


def run_network(key, N: int, ps: Sequence[int], quantizers: Sequence[Any], *, protocol: str = "stability",
                m0: float = 0.8, m_star: float = 0.9, max_sweeps: int = 100, order: str = "hash") -> dict:
    """One network over the cumulative loads ``ps`` for every quantizer: arrays (Q, L) of the mean overlap,
    fraction with m >= m_star, mean sweeps and flips, and the fraction of probes that hit ``max_sweeps``."""
    ps = sorted(int(p) for p in ps)
    check_memory(N, ps[-1], any(q is not None for q in quantizers))
    kx, kd = jax.random.split(key)
    xi = jnp.where(jax.random.bernoulli(kx, 0.5, (ps[-1], N)), 1.0, -1.0).astype(jnp.float32)
    Q, L = len(quantizers), len(ps)
    out = {k: np.full((Q, L), np.nan) for k in ("m_mean", "retrieved", "sweeps", "flips", "limit")}
    C, before = None, 0
    for li, p in enumerate(ps):
        C = hebb_counts(xi[before:p], C, before)
        before = p
        for qi, q in enumerate(quantizers):
            if q is None:
                coupling, tol, bound = C, 0, p
            else:
                coupling, tol, bound = quantized_coupling(C, p, unit_quantizer(q, p))
            r = probe_network(coupling, tol, bound, xi[:p], key=jax.random.fold_in(kd, li), protocol=protocol,
                              m0=m0, max_sweeps=max_sweeps, order=order, pad_to=bucket(ps[-1]))
            out["m_mean"][qi, li] = r["m"].mean()
            out["retrieved"][qi, li] = np.mean(r["m"] >= m_star)
            out["sweeps"][qi, li] = r["sweeps"].mean()
            out["flips"][qi, li] = r["flips"].mean()
            out["limit"][qi, li] = np.mean(r["status"] != 0)
    return out


def _load(path: str | None) -> dict | None:
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def _save(path: str | None, rec: dict) -> None:
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, path)


def loads(cfg: dict, N: int) -> list[int]:
    """The pattern counts p of size ``N``: ``round(alpha N)`` for the grid's alphas, or, when the config has a
    ``window`` ``{"center": [c0, c1], "half": [h0, h1]}``, only the alphas within ``c0 + c1 / sqrt(N)`` +-
    ``h0 + h1 / sqrt(N)`` (one fine grid for every size, sampled where that size's transition lies; the
    window only places the loads, each size's alpha_c is its own fit, and a grid that misses the transition
    gives NaN with a warning)."""
    alphas = np.asarray(cfg["alphas"], float)
    win = cfg.get("window")
    if win is not None:
        r = 1.0 / math.sqrt(N)
        c, h = win["center"][0] + win["center"][1] * r, win["half"][0] + win["half"][1] * r
        alphas = alphas[np.abs(alphas - c) <= h + 1e-12]
        if alphas.size < 3:
            raise ValueError(f"window: fewer than 3 loads of the grid lie within {c:.4f} +- {h:.4f} at N={N}; "
                             "use a finer --alphas or a wider --window")
    return sorted({max(1, int(round(a * N))) for a in alphas})


def _window(window: Sequence[float] | None) -> dict | None:
    if window is None:
        return None
    w = [float(x) for x in window]
    if len(w) != 4 or not all(math.isfinite(x) for x in w) or w[2] + w[3] <= 0 or min(w[2], w[3]) < 0:
        raise ValueError(f"window must be four finite numbers c0 c1 h0 h1 with h0, h1 >= 0 and h0 + h1 > 0, got {window!r}")
    return dict(center=w[:2], half=w[2:])


def run_study(sizes: Sequence[int], alphas: Sequence[float], quantizers: Sequence[str] = DEFAULT_QUANTIZERS, *,
              networks: int = 20, seed: int = 0, protocol: str = "stability", m0: float = 0.8, m_star: float = 0.9,
              max_sweeps: int = 100, order: str = "hash", window: Sequence[float] | None = None,
              out: str | None = None, progress: bool = True, n_boot: int = 200) -> dict:
    """Run (or resume) the study; returns the record dict (raw per-network arrays plus :func:`analyze`'s results).

    ``window = (c0, c1, h0, h1)`` runs, at size N, only the loads of ``alphas`` within
    ``c0 + c1 / sqrt(N) +- (h0 + h1 / sqrt(N))`` (:func:`loads`)."""
    from tqdm.auto import tqdm

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    config = dict(sizes=[int(n) for n in sizes], alphas=[float(a) for a in alphas], quantizers=list(quantizers),
                  networks=int(networks), seed=int(seed), protocol=protocol, m0=float(m0), m_star=float(m_star),
                  max_sweeps=int(max_sweeps), order=order)
    if window is not None:
        config["window"] = _window(window)
    for N in config["sizes"]:
        loads(config, N)  # every size has loads, before anything runs
    rec = _load(out)
    if rec is not None and rec.get("config") != config:
        old = rec.get("config") or {}
        same = {k: v for k, v in old.items() if k not in ("sizes", "networks")} == \
            {k: v for k, v in config.items() if k not in ("sizes", "networks")}
        if not (same and set(old.get("sizes", ())) <= set(config["sizes"]) and old.get("networks", 0) <= networks):
            raise ValueError(f"out={out!r} holds a study with another configuration; use another --out (a study "
                             "can only be extended: more sizes or more networks, everything else the same)")
        rec["config"] = config  # extended: the networks already run keep their keys (fold_in(seed, N), j)
    if rec is None:
        rec = dict(config=config, runs={}, seconds={})
    qs = [parse_quantizer(q) for q in quantizers]
    todo = [(N, j) for N in config["sizes"] for j in range(networks) if f"{N}/{j}" not in rec["runs"]]
    key = jax.random.key(seed)
    bar = tqdm(total=len(todo), desc="hopfield study", disable=not progress)
    try:
        for N, j in todo:
            t = time.perf_counter()
            ps = loads(config, N)
            r = run_network(jax.random.fold_in(jax.random.fold_in(key, N), j), N, ps, qs, protocol=protocol, m0=m0,
                            m_star=m_star, max_sweeps=max_sweeps, order=order)
            rec["runs"][f"{N}/{j}"] = {k: v.tolist() for k, v in r.items()}
            rec["seconds"][f"{N}/{j}"] = time.perf_counter() - t
            _save(out, rec)
            bar.update(1)
    except KeyboardInterrupt:
        rec["interrupted"] = True
    finally:
        bar.close()
    rec["interrupted"] = len(rec["runs"]) < len(config["sizes"]) * networks
    rec["analysis"] = analyze(rec, n_boot=n_boot)
    _save(out, rec)
    return rec


# -- capacity per size -------------------------------------------------------------------------
def _jump(alpha: np.ndarray, m: np.ndarray) -> float:
    """Midpoint of ``lo + (hi - lo) / (1 + exp((alpha - ac) / w))`` fitted to the mean overlaps by least squares."""
    def f(a, ac, logw, lo, hi):
        return lo + (hi - lo) / (1.0 + np.exp(np.clip((a - ac) / np.exp(logw), -50, 50)))

    i = int(np.argmin(np.abs(m - 0.5 * (m.max() + m.min()))))
    if alpha.size < 5:
        return float(alpha[i])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(f, alpha, m, p0=[alpha[i], np.log(0.01), m.min(), m.max()], maxfev=4000)
        return float(np.clip(popt[0], alpha.min(), alpha.max()))
    except RuntimeError:
        return float(alpha[i])


def _bracketed(ps: np.ndarray, m_mean: np.ndarray, retrieved: np.ndarray, criterion: str) -> bool:
    """Whether the grid holds loads on both sides of the criterion: the pooled retrieved fraction reaches 1/2 and
    falls below it ('fraction'), or the mean overlap falls by at least 0.2 across the grid ('jump')."""
    if criterion == "jump":
        m = m_mean.mean(axis=0)
        return bool(np.nanmax(m) - np.nanmin(m) >= 0.2)
    frac = np.round(retrieved * ps).sum(axis=0) / (retrieved.shape[0] * ps)
    return bool(np.nanmax(frac) >= 0.5 > np.nanmin(frac))


def capacity(alpha: np.ndarray, ps: np.ndarray, m_mean: np.ndarray, retrieved: np.ndarray, criterion: str,
             *, n_boot: int = 200, seed: int = 0, return_boot: bool = False) -> tuple:
    """alpha_c and its 95% bootstrap interval over networks from per-network arrays ``(networks, L)``.

    The resampled networks depend only on ``seed`` and the number of networks, so calls with the same seed
    (every quantizer of one size) draw the same networks: their replicas (``return_boot``) are paired."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {list(CRITERIA)}, got {criterion!r}")

    def est(idx, start=None):
        """(alpha_c, logistic width or None) of the networks ``idx``."""
        if criterion == "jump":
            return _jump(alpha, m_mean[idx].mean(axis=0)), None
        k = np.round(retrieved[idx] * ps).sum(axis=0)
        return _fit_logistic(alpha, k, np.full(alpha.size, len(idx)) * ps, start=start)

    J = m_mean.shape[0]
    if not _bracketed(ps, m_mean, retrieved, criterion):
        warnings.warn(f"alpha: the load grid alpha = {float(alpha.min()):g}..{float(alpha.max()):g} does not bracket "
                      f"the {criterion!r} criterion (retrieval never falls through it): alpha_c is NaN, extend the grid",
                      RuntimeWarning, stacklevel=2)
        nan = (math.nan, math.nan, math.nan)
        return (*nan, np.empty(0)) if return_boot else nan
    ac, width = est(np.arange(J))
    warm = None if width is None else (ac, width)  # the resamples start from the full fit (one Nelder-Mead each)
    rng = np.random.default_rng(seed)
    boot = [est(rng.integers(0, J, J), warm)[0] for _ in range(n_boot)] if J > 1 else []
    lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (math.nan, math.nan)
    if return_boot:
        return float(ac), float(lo), float(hi), np.asarray(boot, float)
    return float(ac), float(lo), float(hi)


def theory_capacity(qname: str) -> tuple[float, float]:
    """``(rho, theory.predicted_capacity(rho))`` for a study quantizer at N -> infinity: rho of its a-priori
    optimum for the Gaussian limit of the Hebbian entries (float: rho = 1)."""
    import theory

    q = parse_quantizer(qname)
    if q is None:
        return 1.0, float(theory.predicted_capacity(1.0))
    r = float(theory.rho(unit_quantizer(q, 1, dist="gaussian"), "gaussian"))
    return r, float(theory.predicted_capacity(r))


def _interval(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    return tuple(float(v) for v in np.percentile(x, [2.5, 97.5])) if x.size > 1 else (math.nan, math.nan)


def size_boots(rec: dict, qi: int, crit: str, *, n_boot: int = 200) -> tuple[list[dict], dict | None]:
    """Quantizer ``qi`` of a record under ``crit``: per size ``{N, networks, alpha_c, lo, hi}``, and for the sizes
    with an interval ``{N, w, ac, reps, sizes}`` (weights, estimates and bootstrap replicas (n_boot, sizes); the
    replicas of every quantizer, and of every record with the same networks per size, are paired)."""
    cfg = rec["config"]
    rows, bs = [], []
    for N in cfg["sizes"]:
        nets = [rec["runs"][k] for k in sorted(rec["runs"]) if k.split("/")[0] == str(N)]
        if len(nets) < 2:
            continue
        ps = np.array(loads(cfg, N))
        m = np.array([n["m_mean"][qi] for n in nets])
        f = np.array([n["retrieved"][qi] for n in nets])
        ac, lo, hi, boot = capacity(ps / N, ps, m, f, crit, n_boot=n_boot, seed=N, return_boot=True)
        rows.append(dict(N=N, networks=len(nets), alpha_c=ac, lo=lo, hi=hi))
        bs.append(boot)
    ok = [i for i, r in enumerate(rows) if np.isfinite(r["lo"]) and r["hi"] > r["lo"]]
    if not ok:
        return rows, None
    sig = np.array([(rows[i]["hi"] - rows[i]["lo"]) / (2 * 1.96) for i in ok])
    return rows, dict(N=np.array([rows[i]["N"] for i in ok], float), w=1 / sig**2,
                      ac=np.array([rows[i]["alpha_c"] for i in ok]), reps=np.stack([bs[i] for i in ok], axis=1),
                      sizes=[rows[i]["N"] for i in ok])


def paired_ratios(entry: dict, bq: dict, bf: dict, theory_ratio: float) -> None:
    """Into ``entry``: alpha_c / alpha_c(float) per size of ``entry["sizes"]`` and of alpha_inf (nu free and 1/2),
    each with the interval of the paired bootstrap replicas ``bq``, ``bf`` (the same sizes, the same networks)."""
    for k, row in enumerate(r for r in entry["sizes"] if r["N"] in bq["sizes"]):
        lo, hi = _interval(bq["reps"][:, k] / bf["reps"][:, k])
        row.update(ratio=row["alpha_c"] / bf["ac"][k], ratio_lo=lo, ratio_hi=hi)
    for tag, nu in (("ratio_inf", None), ("ratio_inf_nu_1/2", 0.5)):
        if len(bq["sizes"]) < (4 if nu is None else 3):
            continue
        point = _alpha_inf_points(bq["N"], bq["ac"][None], bq["w"], nu)[0] / \
            _alpha_inf_points(bf["N"], bf["ac"][None], bf["w"], nu)[0]
        rat = _alpha_inf_points(bq["N"], bq["reps"], bq["w"], nu) / _alpha_inf_points(bf["N"], bf["reps"], bf["w"], nu)
        lo, hi = _interval(rat)
        entry[tag] = dict(ratio=float(point), lo=lo, hi=hi, theory_inside=bool(lo <= theory_ratio <= hi))


def size_fits(rows: list[dict], b: dict | None) -> dict:
    """The finite-size fits of one quantizer's sizes (nu free with 4 or more sizes, nu = 1/2 and 2/3 with 3 or
    more, and the nu-free fit with the smallest sizes dropped one by one while MIN_FIT_SIZES remain)."""
    entry: dict[str, Any] = dict(sizes=rows)
    if b is None or len(b["sizes"]) < 3:
        return entry
    Ns, ac, sig = b["N"], b["ac"], 1 / np.sqrt(b["w"])
    entry["fit"] = fit_finite_size(Ns, ac, sig) if len(Ns) >= 4 else None
    entry["fit_nu_1/2"] = fit_finite_size(Ns, ac, sig, nu=0.5)
    entry["fit_nu_2/3"] = fit_finite_size(Ns, ac, sig, nu=2 / 3)
    # the smallest sizes carry the largest corrections to scaling: the nu-free fit with them dropped one
    # by one (while MIN_FIT_SIZES remain) shows how much the choice of the size range moves alpha_inf
    entry["fit_by_min_size"] = [dict(N_min=int(Ns[i]), **fit_finite_size(Ns[i:], ac[i:], sig[i:]))
                                for i in range(len(Ns) - MIN_FIT_SIZES + 1)]
    return entry


def analyze(rec: dict, *, n_boot: int = 200) -> dict:
    """Per (criterion, quantizer): alpha_c per size with intervals, the finite-size fits (nu free, 1/2, 2/3),
    and beside theory: rho, ``theory.predicted_capacity(rho)`` and its ratio to float, the measured ratio
    alpha_c / alpha_c(float) per size and of alpha_inf (nu free and nu = 1/2), each with a 95% interval from
    the same bootstrap over networks for every quantizer (paired: the quantizers share their networks)."""
    names = list(rec["config"]["quantizers"])
    _, th_float = theory_capacity("float")
    out: dict[str, Any] = {}
    for crit in CRITERIA:
        per_q, boots = {}, {}
        for qi, qname in enumerate(names):
            rows, boots[qname] = size_boots(rec, qi, crit, n_boot=n_boot)
            entry = size_fits(rows, boots[qname])
            rho, th = theory_capacity(qname)
            entry.update(rho=rho, theory_alpha_c=th, theory_ratio=th / th_float)
            per_q[quantizer_label(parse_quantizer(qname))] = entry
        bf = boots.get("float")
        for qname in names if bf is not None else ():
            bq = boots[qname]
            if bq is not None and bq["sizes"] == bf["sizes"] and bq["reps"].shape == bf["reps"].shape:
                e = per_q[quantizer_label(parse_quantizer(qname))]
                paired_ratios(e, bq, bf, e["theory_ratio"])
        out[crit] = per_q
    return out


#: Published values beside which alpha_inf (float) is drawn: replica symmetric (Amit, Gutfreund, Sompolinsky 1987),
#: one-step RSB and the simulations' central value (J. Steffan, R. Kuhn, Z. Phys. B 95:249, 1994).
REFERENCES = ((0.137905, "replica symmetric"), (0.138186, "one-step RSB"), (0.145, "simulations (Steffan, Kuhn)"))


def save_figure(rec: dict, path: str, quantizer: str = "float", criterion: str = "fraction") -> str:
    """alpha_c(N) against N^-nu with the fits of one quantizer (:func:`hopfield.plots.plot_study_fit`), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_study_fit

    label = quantizer_label(parse_quantizer(quantizer))
    entry = rec["analysis"][criterion][label]
    if not entry.get("fit"):
        raise ValueError(f"figure: the record has no nu-free fit for {quantizer!r} (fewer than 4 sizes with intervals)")
    fig, ax = plt.subplots(figsize=(8, 5.5))
    plot_study_fit(entry, ax, label=label, refs=REFERENCES if quantizer == "float" else ())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="Capacity of quantized Hebbian memory vs N (stability protocol).")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 1414, 2000, 2828, 4000, 5657])
    ap.add_argument("--alphas", type=float, nargs="+", default=[round(x, 3) for x in np.arange(0.08, 0.201, 0.01)])
    ap.add_argument("--quantizers", nargs="+", default=list(DEFAULT_QUANTIZERS))
    ap.add_argument("--networks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocol", choices=PROTOCOLS, default="stability")
    ap.add_argument("--m0", type=float, default=0.8, help="initial overlap of the basin protocol")
    ap.add_argument("--m-star", type=float, default=0.9, help="retrieved when m >= m*")
    ap.add_argument("--max-sweeps", type=int, default=100)
    ap.add_argument("--order", choices=("hash", "permutation"), default="hash")
    ap.add_argument("--out", default="hopfield_study.json")
    ap.add_argument("--window", type=float, nargs=4, metavar=("C0", "C1", "H0", "H1"), default=None,
                    help="at size N run only the loads within C0 + C1/sqrt(N) +- (H0 + H1/sqrt(N))")
    ap.add_argument("--figure", metavar="PNG", help="also save alpha_c(N) against N^-nu with the fits (float, fraction)")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the networks")
    a = ap.parse_args(argv)
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/corrquant_jax"))
    t = time.perf_counter()
    try:
        rec = run_study(a.sizes, a.alphas, a.quantizers, networks=a.networks, seed=a.seed, protocol=a.protocol, m0=a.m0,
                        m_star=a.m_star, max_sweeps=a.max_sweeps, order=a.order, window=a.window, out=a.out,
                        n_boot=a.n_boot)
    except ValueError as e:  # a user error (window, sizes that do not fit, another study in --out): one line, exit 2
        print(f"hopfield.study: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if a.figure:
        save_figure(rec, a.figure)
    print(f"{len(rec['runs'])} networks in {sum(rec['seconds'].values()):.0f} s of runs "
          f"({time.perf_counter() - t:.0f} s this call); record: {a.out}")
    for crit, per_q in rec["analysis"].items():
        for q, e in per_q.items():
            fit = e.get("fit")
            if fit:
                print(f"{crit:8s} {q:18s} alpha_inf = {fit['alpha_inf']:.4f} [{fit['alpha_inf_lo']:.4f}, "
                      f"{fit['alpha_inf_hi']:.4f}], nu = {fit['nu']:.2f} [{fit['nu_lo']:.2f}, {fit['nu_hi']:.2f}], "
                      f"chi2 = {fit['chi2']:.2f} / {fit['dof']}")
            last = (e.get("sizes") or [{}])[-1]
            if "ratio" in last:
                r2 = e.get("ratio_inf_nu_1/2", {})
                print(f"{'':8s} {'':18s} / float: at N = {last['N']} {last['ratio']:.3f} [{last['ratio_lo']:.3f}, "
                      f"{last['ratio_hi']:.3f}]; alpha_inf (nu = 1/2) {r2.get('ratio', math.nan):.3f} "
                      f"[{r2.get('lo', math.nan):.3f}, {r2.get('hi', math.nan):.3f}]; theory {e['theory_ratio']:.3f} "
                      f"(rho = {e['rho']:.4f}, alpha_c = {e['theory_alpha_c']:.4f})")
    return rec


if __name__ == "__main__":
    main()
