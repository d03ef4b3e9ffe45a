"""The bit-allocation solver is an exact multiple-choice knapsack: checked by brute force."""

import numpy as np
import pytest

from theory import allocation as al


def _case(rng, L, J, int_costs=True):
    loss = rng.random((L, J))
    cost = rng.integers(0, 12, size=(L, J)) if int_costs else None
    return loss, cost


@pytest.mark.parametrize("seed", range(30))
def test_allocate_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    L, J = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    loss, cost = _case(rng, L, J)
    lo, hi = int(cost.min(1).sum()), int(cost.max(1).sum())
    for budget in range(lo, hi + 1, max(1, (hi - lo) // 5)):
        bf = al.brute_force(loss, cost, budget)
        dp = al.allocate(loss, cost, budget)
        gr = al.allocate_grid(loss, cost, budget)
        assert dp.loss == pytest.approx(bf.loss, abs=1e-12), (budget, dp, bf)
        assert gr.loss == pytest.approx(bf.loss, abs=1e-12), (budget, gr, bf)
        for a in (dp, gr):
            assert a.cost == int(cost[np.arange(L), a.choice].sum()) <= budget
            assert float(loss[np.arange(L), a.choice].sum()) == pytest.approx(a.loss, abs=1e-12)


def test_allocate_bits_respects_budget_and_prefers_sensitive_layers():
    # layer 0 is very sensitive (noise falls slowly), layer 1 barely: the sensitive layer gets more bits
    bits = np.arange(1, 9)
    noise = np.stack([10.0 * 4.0 ** -bits, 0.1 * 4.0 ** -bits])
    params = np.array([1000, 1000])
    b = al.allocate_bits(noise, params, avg_bits=3.0)
    assert (b * params).sum() <= 3.0 * params.sum()
    assert b[0] > b[1], b
    # brute force over the 64 choices agrees
    best = min(((noise[0, i] + noise[1, j], (bits[i], bits[j])) for i in range(8) for j in range(8)
                if (bits[i] + bits[j]) * 1000 <= 6000))
    assert tuple(b) == best[1]


def test_large_costs_are_handled_exactly():
    rng = np.random.default_rng(1)
    params = np.array([1_000_003, 12_345, 777_777, 5])
    noise = np.sort(rng.random((4, 8)), axis=1)[:, ::-1] * rng.random((4, 1))
    C = al.bit_costs(params)
    budget = int(2.5 * params.sum())
    a = al.allocate(noise, C, budget)
    bf = al.brute_force(noise, C, budget)
    assert a.loss == pytest.approx(bf.loss, abs=1e-12) and a.cost <= budget


def test_bad_inputs_raise_value_error_naming_argument():
    with pytest.raises(ValueError, match="loss"):
        al.allocate([1.0, 2.0], [[1, 2]], 3)
    with pytest.raises(ValueError, match="cost"):
        al.allocate([[1.0, 2.0]], [[1.5, 2]], 3)
    with pytest.raises(ValueError, match="budget"):
        al.allocate([[1.0, 2.0]], [[5, 6]], 3)
    with pytest.raises(ValueError, match="budget"):
        al.allocate([[1.0, 2.0]], [[5, 6]], -1)
    with pytest.raises(ValueError, match="avg_bits"):
        al.allocate_bits([[1.0, 2.0]], [10], 0)
    with pytest.raises(ValueError, match="params"):
        al.allocate_bits([[1.0, 2.0]], [[10]], 2, bits=[1, 2])
