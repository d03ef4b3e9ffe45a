"""Shortcuts of theory._search that must give the very same rows as the long way."""

import numpy as np
import pytest

import theory._search as S


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_magnitudes_is_magnitudes_pooled_bitwise(dtype):
    rng = np.random.default_rng(5)
    w = np.concatenate([rng.standard_normal((6, 301)), rng.laplace(size=(5, 301)), np.zeros((1, 301)),
                        np.round(rng.standard_normal((4, 301)), 1)]).astype(dtype)
    w[0, :7] = -0.0  # signed zeros sort anywhere among the zeros; their magnitudes are +0
    scale = np.sqrt(np.mean(w.astype(np.float64) ** 2, axis=1)) + 0.5
    for signed in (S.SortedRows.scaled(w, scale), S.SortedRows(w / scale[:, None])):
        a, b = signed.pooled_magnitudes(), signed.magnitudes().pooled()
        for name in ("sorted", "cs", "e2", "keys", "spread"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
            assert not np.signbit(getattr(a, name)).any() or name == "keys", name


@pytest.mark.parametrize("K", [2, 4, 16])
def test_lloyd_max_on_one_row_is_that_row_in_a_batch_bitwise(K):
    """Lloyd-Max of a row alone (a pooled tensor) gives the levels of that row among others, bit for bit."""
    rng = np.random.default_rng(K)
    for z in (rng.standard_normal(5000), rng.laplace(size=777), np.round(rng.standard_normal(400), 1), rng.standard_t(3, 2000)):
        one = S.SortedRows(z[None, :])
        two = S.SortedRows(np.vstack([z, z]))  # two rows: the batched loop
        init = S.uniform_rows(one.magnitudes(), K)
        got = S.lloyd_max_rows(one, init)
        want = S.lloyd_max_rows(two, np.vstack([init, init]))
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[0], want[1])
        short = S.lloyd_max_rows(one, init, max_iter=3)  # the iteration cap is the same too
        assert np.array_equal(short[0], S.lloyd_max_rows(two, np.vstack([init, init]), max_iter=3)[0])


@pytest.mark.parametrize("kind", ["gauss", "ties", "const", "one", "short"])
def test_bisection_is_the_binary_search_over_all_keys(kind):
    """The first small searches of SortedRows bisect each query's row: the very counts of np.searchsorted on the keys."""
    rng = np.random.default_rng(11)
    z = {"gauss": rng.standard_normal((30, 1000)), "ties": np.round(rng.standard_normal((12, 257)), 1),
         "const": np.vstack([np.full((2, 50), 1.5), np.zeros((1, 50)), rng.standard_t(2, (5, 50))]),
         "one": rng.laplace(size=(1, 4097)), "short": rng.standard_normal((40, 1))}[kind]
    r = S.SortedRows(z)
    C, n = r.C, r.n
    t = np.sort(rng.standard_normal((C, 3, 4)) * 2.0, axis=2)
    t[:, 1] = np.sort(r.sorted[np.arange(C)[:, None], rng.integers(0, n, (C, 4))], axis=1)  # on data values
    t[0, 0] = [r.lo - 5.0, r.lo, r.hi, r.hi + 9.0]
    rows = np.arange(C)[::-1]  # any order of rows
    q = np.clip(t, r.lo - 0.25, r.hi + 0.25) - r.lo + r.width * rows[:, None, None]
    assert r._keys is None  # nothing laid out yet
    got = r._bisect(q, rows)
    want = np.searchsorted(r.keys, q.ravel(), side="left").reshape(q.shape) - n * rows[:, None, None]
    assert np.array_equal(got, want)
    fresh = S.SortedRows(z)
    P1, M1 = fresh.cell_sums(t, rows)  # by bisection (a first, small search)
    assert fresh._keys is None or q.size * 64 >= C * n
    P2, M2 = r.cell_sums(t, rows)  # by the keys (laid out above)
    assert np.array_equal(P1, P2) and np.array_equal(M1, M2)


@pytest.mark.parametrize("K", [2, 3, 8, 16, 255])
def test_exponential_grid_with_one_base_is_the_broadcast_grid_bitwise(K):
    rng = np.random.default_rng(K)
    c = rng.uniform(1e-3, 2.0, (37, 24))
    for base in (1.0 + np.exp(-4.0), 1.37, 2.0, 7.9):
        one = S.exponential_grid(K, c, base)
        many = S.exponential_grid(K, c, np.full(c.shape, base))
        assert one.shape == many.shape == (37, 24, K) and np.array_equal(one, many)
