"""Bit allocation across layers: an exact multiple-choice knapsack.

Each layer ``l`` picks one option ``j`` (a bit width) with an integer cost
``cost[l, j]`` (bits on disk: parameters times bits, plus any codebook) and a
loss ``loss[l, j]`` (the predicted relative noise ``1/rho^2 - 1`` that the
layer adds at the logits, see :mod:`theory.layer_noise`).  Under the first-order
noise model the relative noise variances of independently quantized layers
add, and the predicted output agreement falls monotonically with the sum, so
maximizing predicted agreement under a size budget is

    minimize  sum_l loss[l, j_l]   subject to   sum_l cost[l, j_l] <= budget,

the multiple-choice knapsack problem (Sinha & Zoltners, Oper. Res. 27:503, 1979).

:func:`allocate` solves it exactly by dynamic programming over layers on the
integer cost grid.  The dense table ``best[l][c]`` (least loss of layers
``0..l`` at total cost exactly ``c``) is stored sparsely: only its
non-dominated cells, the Pareto front of (cost, loss), are kept, which is what
makes it cheap when the costs are large (a million parameters times eight
bits); the answer is the same as the dense grid, with no rounding of costs.
:func:`allocate_grid` is the dense textbook version (costs divided by their gcd)
and :func:`brute_force` enumerates every choice; the tests tie all three.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

#: Bit widths considered by :func:`bit_options` (1..8 bits per weight, the packed widths).
BITS = tuple(range(1, 9))


@dataclass(frozen=True)
class Allocation:
    """The chosen option per layer.

    - `choice`: (L,) int, option index per layer.
    - `loss`: total loss of the choice.
    - `cost`: total cost of the choice (same integer units as the input costs).
    - `budget`: the budget it was solved for.
    """

    choice: np.ndarray
    loss: float
    cost: int
    budget: int


def _check_tables(loss: Any, cost: Any) -> tuple[np.ndarray, np.ndarray]:
    L = np.asarray(loss, dtype=np.float64)
    if L.ndim != 2 or L.size == 0:
        raise ValueError(f"loss must be a non-empty 2-D (layers, options) array, got shape {L.shape}")
    if not np.all(np.isfinite(L)):
        raise ValueError("loss must be finite (no NaN or Inf)")
    C = np.asarray(cost)
    if C.shape != L.shape:
        raise ValueError(f"cost must have the shape of loss {L.shape}, got {C.shape}")
    if not np.issubdtype(C.dtype, np.integer):
        Cf = np.asarray(C, dtype=np.float64)
        if not np.all(np.isfinite(Cf)) or not np.all(Cf == np.round(Cf)):
            raise ValueError("cost must be integers (e.g. bits on disk)")
        C = Cf.astype(np.int64)
    C = C.astype(np.int64)
    if np.any(C < 0):
        raise ValueError("cost must be >= 0")
    return L, C


def _check_budget(budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer | float):
        raise ValueError(f"budget must be a number, got {budget!r}")
    if not math.isfinite(float(budget)) or budget < 0:
        raise ValueError(f"budget must be finite and >= 0, got {budget!r}")
    return int(math.floor(budget))


def pareto_front(loss: Any, cost: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every non-dominated (cost, loss) total of the multiple-choice knapsack, exactly.

    **Returns:** ``(costs, losses, choices)``: (P,) int64 increasing costs,
    (P,) strictly decreasing losses, and (P, L) the option per layer reaching each.
    """
    L, C = _check_tables(loss, cost)
    n_layers, _ = L.shape
    costs = np.zeros(1, dtype=np.int64)
    losses = np.zeros(1)
    parents: list[tuple[np.ndarray, np.ndarray]] = []
    for l in range(n_layers):
        cand_c = (costs[:, None] + C[l][None, :]).ravel()
        cand_l = (losses[:, None] + L[l][None, :]).ravel()
        cand_p = np.repeat(np.arange(costs.size), C.shape[1])
        cand_j = np.tile(np.arange(C.shape[1]), costs.size)
        # sort by cost, then loss; keep a point only if its loss beats every cheaper one
        order = np.lexsort((cand_l, cand_c))
        cand_c, cand_l, cand_p, cand_j = cand_c[order], cand_l[order], cand_p[order], cand_j[order]
        prev_min = np.concatenate(([np.inf], np.minimum.accumulate(cand_l)[:-1]))
        keep = cand_l < prev_min
        costs, losses = cand_c[keep], cand_l[keep]
        parents.append((cand_p[keep], cand_j[keep]))
    choices = np.empty((costs.size, n_layers), dtype=np.int64)
    idx = np.arange(costs.size)
    for l in range(n_layers - 1, -1, -1):
        p, j = parents[l]
        choices[:, l] = j[idx]
        idx = p[idx]
    return costs, losses, choices


def allocate(loss: Any, cost: Any, budget: Any) -> Allocation:
    """Exact least total loss with total cost <= ``budget`` (multiple-choice knapsack).

    **Arguments:**

    - `loss`: (L, J) float, loss of option j in layer l.
    - `cost`: (L, J) int >= 0, cost of option j in layer l.
    - `budget`: the largest allowed total cost.

    **Returns:** an :class:`Allocation`.  Ties in loss go to the cheaper choice.
    Raises ValueError if even the cheapest choice exceeds the budget.
    """
    b = _check_budget(budget)
    costs, losses, choices = pareto_front(loss, cost)
    ok = np.nonzero(costs <= b)[0]
    if ok.size == 0:
        raise ValueError(f"budget {b} is below the cheapest allocation (cost {int(costs[0])})")
    i = ok[-1]  # losses fall with cost along the front
    return Allocation(choices[i].copy(), float(losses[i]), int(costs[i]), b)


def allocate_grid(loss: Any, cost: Any, budget: Any) -> Allocation:
    """The dense integer-grid DP (costs divided by their gcd); same answer as :func:`allocate`.

    ``best[c]`` is the least loss at total cost exactly ``c`` (units of the gcd);
    layer by layer ``best'[c] = min_j best[c - cost[l, j]] + loss[l, j]``.
    Memory is (L, budget/gcd); use it for checking, :func:`allocate` for work.
    """
    L, C = _check_tables(loss, cost)
    b = _check_budget(budget)
    g = reduce(math.gcd, [int(v) for v in C.ravel() if v > 0], 0) or 1
    Cg = C // g
    B = b // g
    best = np.full(B + 1, np.inf)
    best[0] = 0.0
    arg = np.zeros((L.shape[0], B + 1), dtype=np.int64)
    for l in range(L.shape[0]):
        new = np.full(B + 1, np.inf)
        for j in range(L.shape[1]):
            c = int(Cg[l, j])
            if c > B:
                continue
            shifted = np.full(B + 1, np.inf)
            shifted[c:] = best[: B + 1 - c] + L[l, j]
            better = shifted < new
            new[better] = shifted[better]
            arg[l, better] = j
        best = new
    if not np.any(np.isfinite(best)):
        raise ValueError(f"budget {b} is below the cheapest allocation")
    finite = np.isfinite(best)
    m = best[finite].min()
    # cheapest cost reaching the minimum (ties to cheaper, as in allocate)
    c = int(np.nonzero(finite & (best <= m))[0][0])
    total = c
    choice = np.empty(L.shape[0], dtype=np.int64)
    for l in range(L.shape[0] - 1, -1, -1):
        j = int(arg[l, c])
        choice[l] = j
        c -= int(Cg[l, j])
    return Allocation(choice, float(m), int(total * g), b)


def brute_force(loss: Any, cost: Any, budget: Any) -> Allocation:
    """Every combination (J**L of them): the reference for small tests."""
    L, C = _check_tables(loss, cost)
    b = _check_budget(budget)
    best: tuple[float, int, tuple[int, ...]] | None = None
    rows = range(L.shape[0])
    for combo in itertools.product(range(L.shape[1]), repeat=L.shape[0]):
        c = int(sum(C[l, j] for l, j in zip(rows, combo, strict=True)))
        if c > b:
            continue
        v = float(sum(L[l, j] for l, j in zip(rows, combo, strict=True)))
        if best is None or (v, c) < (best[0], best[1]):
            best = (v, c, combo)
    if best is None:
        raise ValueError(f"budget {b} is below the cheapest allocation")
    return Allocation(np.array(best[2], dtype=np.int64), best[0], best[1], b)


def bit_costs(params: Any, bits: Any = BITS, overhead: Any = 0) -> np.ndarray:
    """(L, J) int cost in bits: ``params[l] * bits[j] + overhead[l, j]`` (overhead: codebooks)."""
    p = np.asarray(params)
    if p.ndim != 1 or p.size == 0 or not np.issubdtype(np.asarray(p).dtype, np.integer) and not np.all(p == np.round(p)):
        raise ValueError(f"params must be a non-empty 1-D array of integer counts, got {params!r}")
    if np.any(p < 0):
        raise ValueError("params must be >= 0")
    bts = np.asarray(bits)
    if bts.ndim != 1 or bts.size == 0 or np.any(bts < 1) or not np.all(bts == np.round(bts)):
        raise ValueError(f"bits must be a non-empty 1-D array of positive integers, got {bits!r}")
    oh = np.broadcast_to(np.asarray(overhead), (p.size, bts.size))
    if np.any(oh < 0) or not np.all(oh == np.round(oh)):
        raise ValueError("overhead must be integer bits >= 0")
    return p.astype(np.int64)[:, None] * bts.astype(np.int64)[None, :] + oh.astype(np.int64)


def allocate_bits(noise: Any, params: Any, avg_bits: float, bits: Any = BITS, overhead: Any = 0) -> np.ndarray:
    """Bits per layer minimizing ``sum_l noise[l, b_l]`` with ``sum_l params_l b_l (+ overhead) <= avg_bits * sum params``.

    **Arguments:**

    - `noise`: (L, J) predicted relative noise ``1/rho^2 - 1`` of layer l at ``bits[j]``.
    - `params`: (L,) number of weights per layer.
    - `avg_bits`: the budget as average bits per weight (e.g. 2.5).
    - `bits`: (J,) the widths to choose from (default 1..8).
    - `overhead`: optional (L, J) extra integer bits (codebooks), counted in the budget.

    **Returns:** (L,) int bits per layer.
    """
    a = float(avg_bits)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"avg_bits must be a finite positive number, got {avg_bits!r}")
    C = bit_costs(params, bits, overhead)
    budget = math.floor(a * int(np.sum(np.asarray(params, dtype=np.int64))) + 1e-9)
    alloc = allocate(noise, C, budget)
    return np.asarray(bits, dtype=np.int64)[alloc.choice]


__all__ = ["BITS", "Allocation", "allocate", "allocate_grid", "allocate_bits", "bit_costs", "brute_force", "pareto_front"]
