"""The Hopfield section of the corrquant report: m(alpha) for float, sign and 3-bit weights beside theory."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from .experiments import quantizer_label, retrieval

#: Quantizers of the report section: float weights, the clipped (sign) synapse, 3-bit uniform.
REPORT_QUANTIZERS = (None, "sign", ("uniform", 8))


def report_section(quick: bool = False, seed: int = 0, out_dir: str | os.PathLike = ".", progress: bool = False) -> dict:
    """Retrieval curves m(alpha) for unquantized, sign and 3-bit uniform Hebbian weights, with the AGS/Sompolinsky theory.

    **Arguments:**

    - `quick`: small run (N=200, about 10 s on 2 CPU cores) instead of the full one (N=500, about a minute).
    - `seed`: the experiment's key is ``jax.random.key(seed)``; same seed, same numbers.
    - `out_dir`: directory for ``hopfield_retrieval.png`` (created if missing).

    **Returns:** dict with ``figure`` (path), ``config`` (N, alphas, networks, probes,
    noise, mode, seed, quick) and ``rows``: one dict per quantizer with
    ``quantizer, rho, theory_capacity`` and per-load lists ``alpha, m_mean, m_se,
    retrieved, retrieved_se, theory_overlap``.
    """
    import matplotlib.pyplot as plt

    from .plots import plot_overlap, plot_retrieved

    if quick:
        N, alphas, networks, probes = 200, np.array([0.04, 0.08, 0.12, 0.16, 0.2]), 3, 4
    else:
        N, alphas, networks, probes = 500, np.round(np.arange(0.02, 0.25, 0.02), 3), 10, 6
    cfg = dict(N=N, alphas=alphas.tolist(), networks=networks, probes=probes, noise=0.1, mode="async", seed=int(seed),
               quick=bool(quick), criterion=0.9)
    key = jax.random.key(seed)
    records = [retrieval(key, N, alphas, q, noise=0.1, networks=networks, probes=probes, mode="async",
                         criterion=0.9, progress=progress) for q in REPORT_QUANTIZERS]
    os.makedirs(out_dir, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_overlap(records, ax=axes[0])
    plot_retrieved(records, ax=axes[1])
    axes[0].set_title(f"Hebbian memory, N={N}, 10% start noise")
    fig.tight_layout()
    path = os.path.join(os.fspath(out_dir), "hopfield_retrieval.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    rows = [dict(quantizer=quantizer_label(q), rho=float(np.mean(r["rho"])), theory_capacity=float(np.mean(r["theory_capacity"])),
                 alpha=r["alpha"].tolist(), m_mean=r["m_mean"].tolist(), m_se=r["m_se"].tolist(),
                 retrieved=r["retrieved"].tolist(), retrieved_se=r["retrieved_se"].tolist(),
                 theory_overlap=r["theory_overlap"].tolist())
            for q, r in zip(REPORT_QUANTIZERS, records)]
    return dict(figure=path, config=cfg, rows=rows)
