"""The histogram search's own solvers: Newton steps for Lloyd-Max, the affine alternation on cell sums,
the folded pooled |z| and the product form of the exponential grid (theory._hist, theory._search,
theory.affine)."""

import numpy as np
import pytest

import theory
from theory import _search as S
from theory._hist import HistRows
from theory._rows import SortedRows
from theory.affine import affine_hist_rows, affine_rows


def _rows(kind, C=64, n=2048, seed=0):
    rng = np.random.default_rng(seed)
    x = {"gauss": rng.normal(size=(C, n)), "laplace": rng.laplace(size=(C, n)),
         "uniform": rng.uniform(-1, 1, size=(C, n))}[kind]
    return (x * rng.uniform(0.5, 2.0, size=(C, 1))).astype(np.float32)


def _hist(x, absolute=False):
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
    return HistRows.of(x, rms, np.full(x.shape[0], float(x.shape[1])), absolute=absolute)


def _plain_lloyd(rows, init, iters):
    """The textbook Lloyd iteration on the same rows (thresholds at midpoints, levels at centroids)."""
    c = np.array(init, float)
    for _ in range(iters):
        P, M1 = rows.cell_sums(S.midpoints(c)[:, None, :], np.arange(rows.C))
        P, M1 = P[:, 0], M1[:, 0]
        c = np.maximum.accumulate(np.where(P > 0, M1 / np.where(P > 0, P, 1), c), axis=1)
    return c


def _energy(rows, c):
    P, M1 = rows.cell_sums(S.midpoints(c)[:, None, :], np.arange(rows.C))
    P, M1 = P[:, 0], M1[:, 0]
    return np.sum(np.where(P > 0, M1 * M1 / np.where(P > 0, P, 1), 0), axis=1)


@pytest.mark.parametrize("kind", ["gauss", "laplace", "uniform"])
@pytest.mark.parametrize("K", [4, 8, 16])
def test_newton_lloyd_reaches_a_lloyd_fixed_point_at_least_as_good_as_plain_lloyd(kind, K):
    p = _hist(_rows(kind)).pooled()
    init = S.uniform_rows(_hist(_rows(kind), absolute=True).pooled(), K)
    c = S.lloyd_max_rows(p, init)
    # a fixed point of the Lloyd map: one more plain step moves the levels by little and gains no energy
    # beyond the stopping tolerance (1e-10 E[z^2] per step) times a few steps' worth of slack
    one = _plain_lloyd(p, c, 1)
    assert np.max(np.abs(one - c)) < 5e-3 * np.max(np.abs(c))
    assert _energy(p, one)[0] - _energy(p, c)[0] <= 1e-8 * p.e2[0]
    # and not worse than 300 plain Lloyd steps from the same start (Newton only keeps steps that gain energy)
    assert _energy(p, c)[0] >= _energy(p, _plain_lloyd(p, init, 300))[0] - 1e-9 * p.e2[0]
    assert np.all(np.diff(c, axis=1) > 0)


def test_lloyd_on_sorted_rows_takes_no_newton_steps():
    """The exact search keeps its own iteration: SortedRows have no density, so lloyd_max_rows runs plain Lloyd."""
    x = _rows("gauss", C=4, n=500).astype(np.float64)
    rows = SortedRows(x)
    init = S.uniform_rows(rows.magnitudes(), 8)
    assert not hasattr(rows, "density")
    c = S.lloyd_max_rows(rows, init)
    P, M1 = rows.cell_sums(S.midpoints(c)[:, None, :], np.arange(4))
    np.testing.assert_allclose(c, M1[:, 0] / P[:, 0], rtol=1e-12)  # exact centroids of its cells


def test_density_is_the_histogram_height():
    x = _rows("gauss", C=3, n=4000)
    h = _hist(x)
    cc, _, start, w, _ = h._tab
    t = np.array([[0.1, 0.5, 1.3]] * 3)
    i = np.floor((t - start) / w).astype(int)
    want = np.take_along_axis(np.diff(cc, axis=1), i, axis=1) / w
    np.testing.assert_allclose(h.density(t, np.arange(3)), want)
    assert np.all(h.density(np.array([[-1e9, 1e9]] * 3), np.arange(3)) == 0)  # outside the grid


@pytest.mark.parametrize("kind", ["gauss", "laplace"])
def test_folded_pooled_magnitudes_equal_the_pooled_abs_histogram(kind):
    """Folding the pooled signed histogram at 0 (a bin edge) is exact: the same counts as binning |z| on that grid."""
    x = _rows(kind)
    h = _hist(x)
    assert h.pooled().C == 1  # the signed table is built, |z| is not: pooled_magnitudes folds
    f = h.pooled_magnitudes()
    assert h._magnitudes is None
    cc, _, start, w, _ = h._tab
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
    z = np.abs(x / rms[:, None].astype(np.float32))
    # brute force: bin |z| with the folded grid's width (the signed grid's bins mirrored)
    u = (x / rms[:, None].astype(np.float32)) * np.float32(1 / w) + np.float32(round(-start / w))
    idx = u.astype(np.intp)
    neg = round(-start / w)
    folded = np.where(idx >= neg, idx - neg, neg - 1 - idx)
    want = np.bincount(folded.ravel(), minlength=f.bins)
    np.testing.assert_array_equal(np.diff(f._tab[0][0]), want)
    assert f._tab[0][0, -1] == z.size and f.spread[0] == pytest.approx(z.max(), rel=1e-6)


def test_product_powers_equal_the_power_grid():
    rng = np.random.default_rng(1)
    c, b = rng.uniform(0.01, 1, size=(50, 7)), rng.uniform(1.01, 3, size=(50, 7))
    for K in (4, 7, 16, 33):
        np.testing.assert_allclose(S.exponential_grid(K, c, b, products=True), S.exponential_grid(K, c, b),
                                   rtol=K * 2.3e-16, atol=0)  # one rounding per multiplication


def _rho(x, t, lv):
    codes = np.stack([np.searchsorted(t[i], x[i], side="right") for i in range(x.shape[0])])
    q = np.take_along_axis(lv, codes, axis=1)
    x = x.astype(np.float64)
    return np.sum(x * q, axis=1) / np.sqrt(np.sum(x * x, axis=1) * np.sum(q * q, axis=1)), q


@pytest.mark.parametrize("kind", ["gauss", "laplace", "uniform"])
@pytest.mark.parametrize("K", [4, 16])
def test_affine_histogram_rho_close_to_the_exact_alternation(kind, K):
    x = _rows(kind, C=48, n=1024) + np.float32(0.3)  # off-centre rows: the offset matters
    t, lv = affine_hist_rows(x, K)
    te, lve = affine_rows(x, K)
    r, _ = _rho(x, t, lv)
    re, _ = _rho(x, te, lve)
    # the levels are equally spaced (an affine grid) and the thresholds their midpoints
    d = np.diff(lv, axis=1)
    np.testing.assert_allclose(d, np.broadcast_to(d[:, :1], d.shape), rtol=1e-9)
    np.testing.assert_allclose(t, S.midpoints(lv), rtol=1e-12, atol=1e-12)
    # distortion 1 - rho within 10% of the exact search's per row (observed: up to 5.5% worse on Laplace rows
    # of 1024 weights at 16 levels, and better on others; the histogram's 16 bins per level move the
    # optimum by about a bin, and the two alternations can end on different local optima)
    assert np.all(1 - r <= (1 - re) * 1.10 + 1e-9), np.max((1 - r) / (1 - re))
    assert np.mean(1 - r) <= np.mean(1 - re) * 1.01  # on average within 1% (observed 0.2%)
    # and never below the min-max grid, which is one of the starts
    tm = theory.fitting._minmax_rows(x.astype(np.float64), K)
    rm, _ = _rho(x, S.midpoints(tm), tm)
    assert np.all(r >= rm - 1e-6)


def test_affine_histogram_unbiased_gain_keeps_the_group_mean_and_unit_slope():
    x = _rows("laplace", C=32, n=2048) + np.float32(0.5)
    t, lv = affine_hist_rows(x, 8, gain="unbiased")
    _, q = _rho(x, t, lv)
    xd = x.astype(np.float64)
    m = xd.mean(axis=1, keepdims=True)
    # the rule: mean(q) = mean(w) and E[(w-m)(q-m)] = E[(w-m)^2]; from the histogram's cell sums, so up to
    # its resolution: a bin is 1/16 of a level step, about 0.06 sd on these Laplace rows; the means agree
    # within a sixth of a bin (observed 0.0085 sd at most)
    np.testing.assert_allclose(q.mean(axis=1), m[:, 0], atol=0.01 * xd.std(axis=1).max())
    slope = np.sum((xd - m) * (q - m), axis=1) / np.sum((xd - m) ** 2, axis=1)
    np.testing.assert_allclose(slope, 1.0, atol=5e-3)
    tm, lvm = affine_hist_rows(x, 8)
    np.testing.assert_allclose(t, tm)  # the gain moves levels only, not the thresholds


def test_affine_recipe_with_histogram_search_routes_small_groups_and_constant_rows_exactly():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(512, 64)).astype(np.float32)  # 64 weights a group: SMALL_GROUP, the exact path
    a = theory.Recipe("affine", 3, search="histogram").fit(x, "channel")
    b = theory.Recipe("affine", 3).fit(x, "channel")
    np.testing.assert_array_equal(a.levels, b.levels)
    y = rng.normal(size=(256, 256)).astype(np.float32)
    y[5] = 0.25  # a constant row
    a = theory.Recipe("affine", 3, search="histogram").fit(y, "channel")
    b = theory.Recipe("affine", 3).fit(y, "channel")
    np.testing.assert_array_equal(a.levels, b.levels)  # any constant row: the whole tensor exactly
    y[5] = rng.normal(size=256)
    a = theory.Recipe("affine", 3, search="histogram").fit(y, "channel")
    b = theory.Recipe("affine", 3).fit(y, "channel")
    assert not np.array_equal(a.levels, b.levels)  # the histogram path really ran
    ra, _ = _rho(y, a.thresholds, a.levels)
    rb, _ = _rho(y, b.thresholds, b.levels)
    assert np.all(1 - ra <= (1 - rb) * 1.10 + 1e-9)


def _iterations_to_stop(rows, init, limit=2000):
    """The fewest ``max_iter`` at which lloyd_max_rows stops by its own rule (the result no longer changes)."""
    final = S.lloyd_max_rows(rows, init)
    lo, hi = 1, limit
    assert np.array_equal(S.lloyd_max_rows(rows, init, max_iter=hi), final), "not stopped within the limit"
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if np.array_equal(S.lloyd_max_rows(rows, init, max_iter=mid), final) else (mid + 1, hi)
    return lo


def test_aitken_candidates_stop_lloyd_in_fewer_iterations_within_the_histograms_resolution(monkeypatch):
    """Pooled histograms of 64 rows x 576 (a conv layer's shape), Gaussian and Laplace, 3 seeds each, 16 levels
    from the uniform optimum.  Their slowest Lloyd mode (Jacobian eigenvalue near 0) makes the Newton point lose
    to the plain step for long stretches; with Aitken's extrapolations evaluated beside them (_AITKEN) the median
    number of iterations to the stopping rule is at most half of Newton's alone (the same solver without them).
    The fixed point may be another one than 3,000 plain Lloyd steps reach, but its energy is lower by at most
    the within-bin variance the histogram discards (w^2 / 12 of E[z^2], w the bin width in RMS units)."""
    cases = []
    for kind in ("normal", "laplace"):
        for seed in range(3):
            rng = np.random.default_rng(seed)
            x = getattr(rng, kind)(size=(64, 576))
            rms = np.sqrt(np.mean(x * x, axis=1))
            h = HistRows.of(x, rms, np.full(64, 576.0), bins=256)
            cases.append((h.pooled(), S.uniform_rows(h.pooled_magnitudes(), 16)))
    fast = []
    for p, init in cases:
        c = S.lloyd_max_rows(p, init)
        w = p._tab[3]
        assert _energy(p, c)[0] >= _energy(p, _plain_lloyd(p, init, 3000))[0] - w * w / 12 * p.e2[0]
        fast.append(_iterations_to_stop(p, init))
    monkeypatch.setattr(S, "_AITKEN", np.zeros(0))
    newton_only = [_iterations_to_stop(p, init) for p, init in cases]
    assert np.median(fast) <= np.median(newton_only) / 2, (fast, newton_only)


_GOLDEN_SHRINK = S._GOLDEN  # each golden-section step keeps this fraction of the bracket


@pytest.mark.parametrize("R", [1, 3, 7])
def test_maximize_1d_nested_grids_on_few_smooth_rows_match_golden_section_in_fewer_calls(R):
    """With few rows and ``smooth=True`` (histograms), _maximize_1d replaces golden section by nested grids of
    _ZOOM points: 1 + passes calls of f instead of 2 + n_golden, and the argmax of a smooth unimodal f within
    the bracket the passes leave, (1/64 of the log range's grid cell) * (2 / (_ZOOM + 1))**passes."""
    rng = np.random.default_rng(R)
    c = rng.uniform(np.log(0.01), np.log(0.9), 8)
    calls = []

    def f(r, x):
        calls.append(x.shape[1])
        d = np.log(x) - c[r][:, None]
        return 1.5 * d - np.exp(1.5 * d)  # unimodal, asymmetric, its maximum at d = 0

    lo, hi = np.full(R, 1e-3), np.full(R, 1.0)
    for n_golden in (10, 24):
        calls.clear()
        got = S._maximize_1d(f, lo, hi, n_golden=n_golden, smooth=True)
        passes = int(np.ceil(n_golden * np.log(1 / S._GOLDEN) / np.log((S._ZOOM + 1) / 2)))
        assert len(calls) == 1 + passes < 2 + n_golden
        cell = np.log(hi / lo)[0] / 63
        assert np.all(np.abs(np.log(got) - c[:R]) <= cell * (2 / (S._ZOOM + 1)) ** passes)
        calls.clear()
        golden = S._maximize_1d(f, lo, hi, n_golden=n_golden)  # golden section: as precise, more calls
        assert len(calls) == 2 + n_golden
        assert np.all(np.abs(np.log(golden) - c[:R]) <= 2 * cell * _GOLDEN_SHRINK ** n_golden)  # its bracket
    calls.clear()
    S._maximize_1d(f, np.full(8, 1e-3), np.full(8, 1.0), smooth=True)  # _ZOOM_ROWS rows and more: golden section
    assert len(calls) == 2 + 40


def test_candidates_shared_by_every_row_give_the_same_numbers_as_repeated():
    """HistRows.rho and below take candidates (1, m, K) for all rows (one grid for every row, so the bins and
    fractions are computed once), bit for bit as the (R, m, K) repetition; and so does _maximize_1d(shared=True)."""
    x = _rows("laplace", C=40, n=900)
    h = _hist(x, absolute=True)
    rows = np.arange(40)
    lv = S._half(S.uniform_grid(8, np.geomspace(0.05, 0.9, 7)), 8)[None]  # (1, 7, 4)
    rep = np.repeat(lv, 40, axis=0)
    assert np.array_equal(h.rho(lv, rows), h.rho(rep, rows))
    t = S.midpoints(lv)
    for a, b in zip(h.below(t, rows), h.below(np.repeat(t, 40, axis=0), rows), strict=True):
        assert np.array_equal(a, b)
    assert HistRows.shared_candidates and not SortedRows.shared_candidates

    def f(r, step):
        return h.rho(S._half(S.uniform_grid(8, step), 8), r)

    lo, hi = np.full(40, 0.02), np.full(40, 1.0)
    calls = []
    assert np.array_equal(S._maximize_1d(lambda r, s: calls.append(s.shape) or f(r, s), lo, hi, shared=True),
                          S._maximize_1d(f, lo, hi))
    assert calls[0] == (1, 64)  # the grid once for all rows
