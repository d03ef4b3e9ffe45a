"""theory.affine's blocked refinement against the whole-layer iteration it replaced, bit for bit (issue 13, item 6).

``theory.affine._refine`` runs every (start, row) pair in a few cache-sized slots and stops a pair
on a line equal bit for bit to the one before; the refinement below is the previous one, kept
verbatim, and its call as it was: every start of every row tiled into one array, whole-array passes
over the rows whose codes still change (the starts, the pick and the gain around it did not change
and are theory.affine's own).  Thresholds and levels must be equal (``np.array_equal``, not a tolerance)
for every row length, K, gain and dtype, with constant rows mixed in, with the refill and the
compaction of the slots exercised (small ``BLOCK``) and with pairs stopped by ``MAX_ITER``.
"""

import sys

import numpy as np
import pytest

import theory.affine as blocked

# ---- the reference: theory/affine.py before the blocked refinement, verbatim from here to the marker ----
#: Clipped starting ranges ``mean +- c * sd`` (besides the min-max grid and the full range).
CLIP_STARTS = (1.0, 1.5, 2.0, 2.5, 3.0)
#: Groups of at most this many weights (depthwise 3x3 convolutions have 9) also start from
#: each clipped grid shifted by these fractions of its step: their rho has many local maxima.
SMALL_GROUP = 64
SMALL_SHIFTS = (0.0, -0.5, -0.25, 0.25, 0.5)
#: At most this many alternations per start (each never lowers rho; most groups stop in < 20).
MAX_ITER = 200


def _assign(rows: np.ndarray, a: np.ndarray, b: np.ndarray, K: int) -> np.ndarray:
    return np.clip(np.round((rows - a[:, None]) / b[:, None]), 0, K - 1)


def _refine(rows: np.ndarray, a: np.ndarray, b: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alternate nearest-level codes and the least-squares line until no code changes; (a, b, |q|^2 / |w|^2 = rho^2)."""
    a, b = a.copy(), b.copy()
    codes = _assign(rows, a, b, K)
    wb = rows.mean(axis=1)
    act = np.arange(rows.shape[0])  # rows whose codes still change
    for _ in range(MAX_ITER):
        c, w = codes[act], rows[act]
        kb = c.mean(axis=1)
        dk = c - kb[:, None]
        vk = np.sum(dk * dk, axis=1)
        ck = np.sum(dk * (w - wb[act, None]), axis=1)
        ok = (vk > 0) & (ck > 0)  # a line needs two distinct codes and a positive slope; else keep the grid
        b[act] = np.where(ok, ck / np.where(ok, vk, 1.0), b[act])
        a[act] = np.where(ok, wb[act] - b[act] * kb, a[act])
        new = _assign(w, a[act], b[act], K)
        moved = np.any(new != c, axis=1)
        codes[act] = new
        act = act[moved]
        if act.size == 0:
            break
    q = a[:, None] + b[:, None] * codes
    e2 = np.sum(rows * rows, axis=1)
    err = np.sum((rows - q) ** 2, axis=1)
    r2 = np.where(e2 > 0, 1.0 - err / np.where(e2 > 0, e2, 1.0), 0.0)
    return a, b, r2


# ---- end of the verbatim reference ----
# The starts, the pick of the best start and the gain are theory.affine's own (unchanged by the blocked
# refinement, whose only change there is the call): the reference runs them with the refinement above.


def _whole_layer_refine(rows: np.ndarray, a: np.ndarray, b: np.ndarray, K: int):
    """The previous call: every start of every row tiled into one array, then the refinement above."""
    return _refine(np.tile(rows, (a.size // max(rows.shape[0], 1), 1)), a, b, K)


def affine_rows(rows: np.ndarray, K: int, gain: str = "mse") -> tuple[np.ndarray, np.ndarray]:
    """theory.affine.affine_rows as it was: its starts and gain with the whole-layer refinement."""
    new = blocked._refine
    blocked._refine = _whole_layer_refine
    try:
        return blocked.affine_rows(rows, K, gain)
    finally:
        blocked._refine = new

THIS = sys.modules[__name__]
LENGTHS = (9, 27, 64, 65, 147, 1152, 4608)


def _rows(m: int, seed: int, dtype) -> np.ndarray:
    """About 20,000 weights (at least 6 rows) of length ``m``: Gaussian, Laplace and t3 rows of random
    scale and offset in turn, and two constant rows (one of them zero) among them."""
    rng = np.random.default_rng(seed)
    G = max(6, 20_000 // m)
    draws = (lambda n: rng.standard_normal(n), lambda n: rng.laplace(size=n), lambda n: rng.standard_t(3, size=n))
    x = np.stack([draws[i % 3](m) * rng.uniform(0.01, 2.0) + rng.normal(0, 0.3) for i in range(G)])
    x[G // 3] = 0.0
    x[(2 * G) // 3] = -0.25
    return x.astype(dtype)


def _check(x: np.ndarray, K: int, gain: str) -> None:
    before = x.copy()
    t_ref, lv_ref = affine_rows(x, K, gain)
    t, lv = blocked.affine_rows(x, K, gain)
    assert t.dtype == t_ref.dtype and lv.dtype == lv_ref.dtype
    assert np.array_equal(t, t_ref), f"thresholds differ in rows {np.flatnonzero(np.any(t != t_ref, axis=1))}"
    assert np.array_equal(lv, lv_ref), f"levels differ in rows {np.flatnonzero(np.any(lv != lv_ref, axis=1))}"
    assert np.array_equal(x, before)  # the input is not mutated


def test_the_reference_uses_the_same_constants():
    assert (CLIP_STARTS, SMALL_GROUP, SMALL_SHIFTS, MAX_ITER) == (
        blocked.CLIP_STARTS, blocked.SMALL_GROUP, blocked.SMALL_SHIFTS, blocked.MAX_ITER)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gain", ["mse", "unbiased"])
@pytest.mark.parametrize("K", [2, 4, 8, 16])
def test_blocked_fit_is_bitwise_the_whole_layer_fit(K, gain, dtype):
    for i, m in enumerate(LENGTHS):
        _check(_rows(m, 1000 * K + i, dtype), K, gain)


@pytest.mark.parametrize("gain", ["mse", "unbiased"])
def test_no_rows_and_one_row_are_the_same(gain):
    _check(np.empty((0, 5)), 4, gain)
    _check(_rows(4608, 3, np.float64)[:1], 16, gain)
    _check(np.full((1, 7), 3.5), 4, gain)


@pytest.mark.parametrize("block", [1, 64, 3000])
@pytest.mark.parametrize("max_iter", [1, 2, 7])
def test_refill_compaction_and_the_iteration_cap_are_bitwise_the_same(monkeypatch, block, max_iter):
    """One slot, a few slots, many: pairs finish at different steps, finished slots are refilled and,
    at the end, filled from the last live ones; with a small MAX_ITER most pairs stop at the cap
    (some exactly when their codes stop changing)."""
    monkeypatch.setattr(blocked, "BLOCK", block)
    monkeypatch.setattr(blocked, "MAX_ITER", max_iter)
    monkeypatch.setattr(THIS, "MAX_ITER", max_iter)
    for i, m in enumerate((9, 65, 147)):
        for K in (2, 16):
            _check(_rows(m, 7 * i + K, np.float64)[:40], K, "mse")


def test_a_resnet50_shaped_conv_layer_is_bitwise_the_same():
    """A real 3x3 convolution of deepnets.zoo.resnet50_shaped(0) (128 output channels of 1152 weights)."""
    import torch  # a dependency of corrquant; imported here only, the other tests need no torch

    from deepnets.zoo import resnet50_shaped

    with torch.no_grad():
        w = resnet50_shaped(0).layer2[0].conv2.weight
        assert tuple(w.shape) == (128, 128, 3, 3)
        rows = w.reshape(w.shape[0], -1).numpy().copy()
    for K, gain in ((16, "mse"), (4, "unbiased")):
        _check(rows, K, gain)


@pytest.mark.parametrize("m", LENGTHS)
def test_row_sums_do_not_depend_on_the_other_rows(m):
    """What the blocked version rests on: np.sum / np.add.reduce / mean along axis 1 of a C-contiguous
    array gives each row the sum of that row alone (pairwise), in any subset, order, tiling or
    prefix view of the rows, and np.round with no decimals is np.rint."""
    rng = np.random.default_rng(m)
    x = rng.standard_normal((50, m)) * np.exp(rng.normal(0, 3, (50, 1)))
    full = np.sum(x, axis=1)
    assert np.array_equal(np.add.reduce(x, axis=1), full)
    assert np.array_equal(x.mean(axis=1), full / m)
    one = np.array([np.sum(x[i : i + 1], axis=1)[0] for i in range(50)])
    assert np.array_equal(one, full)
    pick = rng.permutation(50)[:17]
    assert np.array_equal(np.sum(x[pick], axis=1), full[pick])
    assert np.array_equal(np.sum(np.tile(x, (3, 1)), axis=1), np.tile(full, 3))
    buf = np.empty((64, m))
    buf[:23] = x[pick[:5].repeat(5)[:23]]
    assert np.array_equal(np.add.reduce(buf[:23], axis=1), full[pick[:5].repeat(5)[:23]])
    # sequential sums differ from pairwise ones in general: the check above is not vacuous for long rows
    if m >= 1152:
        seq = np.array([float(np.cumsum(r)[-1]) for r in x])
        assert not np.array_equal(seq, full)
    h = np.concatenate([np.arange(-20, 21) * 0.5, [-0.0, 0.0, 2.5000000000000004, -1.4999999999999998]])
    assert np.array_equal(np.round(h), np.rint(h)) and np.array_equal(np.signbit(np.round(h)), np.signbit(np.rint(h)))


@pytest.mark.parametrize("K", [4, 16])
def test_rows_that_are_not_c_contiguous_give_the_same_bits(K):
    """A transposed or Fortran-ordered array of rows (what a per-channel view of axis 1 can give) is fitted
    as its C-ordered copy: the reference tiled it into one, the blocked version copies it once."""
    x = _rows(1152, K, np.float64)[:12]
    x = x[x.max(axis=1) > x.min(axis=1)]  # no constant row: those send the others through a (contiguous) copy
    assert not np.array_equal(np.asfortranarray(x).mean(axis=1), x.mean(axis=1))  # the order of the sums differs
    for view in (np.asfortranarray(x), np.ascontiguousarray(x.T).T, np.repeat(x, 2, axis=1)[:, ::2]):
        assert not view.flags.c_contiguous and np.array_equal(view, x)
        _check(view, K, "mse")
