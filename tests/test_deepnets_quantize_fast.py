"""deepnets.quantize's fast min-max path and model copy: the same codes, weights and report as the exact path.

The min-max layers guess codes by float32 arithmetic and check every block against the cells
(``deepnets._blocked.guess_and_check``); these tests compare it, bit for bit, with the exact
lookup-table encoder (``quantize_weight``: theory's ``encode_rows``, ``#{t_j <= x}`` in float64)
on weights built to sit on, just below and just above every threshold.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import theory
from deepnets._blocked import _moments, guess_and_check
from deepnets._modcopy import copy_model
from deepnets.quantize import QuantConfig, _quantize_layer, quantize, quantize_weight
from _deepnets_models import small_cnn


def _on_thresholds(rng, shape, bits, scale=1.0):
    """float32 weights (O, ...) whose interior entries include every threshold of each row's min-max fit, as
    float32 and one float32 step either side (the row's min and max are kept, so the fit does not change)."""
    w = (rng.standard_normal(shape) * scale).astype(np.float32)
    rows = w.reshape(shape[0], -1)
    q = theory.fit(rows, "minmax", bits=bits, granularity=theory.PerChannel(0))
    t = q.thresholds.reshape(shape[0], -1)
    for g in range(shape[0]):
        lo, hi = rows[g].min(), rows[g].max()
        vals = np.concatenate([np.nextafter(t[g].astype(np.float32), np.float32(d)) for d in (-np.inf, np.inf)]
                              + [t[g].astype(np.float32)])
        vals = vals[(vals > lo) & (vals < hi)]
        inner = np.flatnonzero((rows[g] > lo) & (rows[g] < hi))[: vals.size]
        rows[g, inner] = vals[: inner.size]
    return w


def _reference(w, cfg):
    lq = quantize_weight(w, cfg)
    deq = lq.dequantize()
    return lq, deq, _moments(w, deq)


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("shape,scale", [((16, 3, 3, 3), 1.0), ((7, 300), 1e-3), ((5, 9000), 1.0), ((40, 64), 1e30)])
def test_fast_minmax_is_the_exact_encoder_bit_for_bit(bits, shape, scale):
    rng = np.random.default_rng(100 * bits + shape[0])
    w = _on_thresholds(rng, shape, bits, scale)
    w[1] = 0.0  # an all-zero row
    w[2] = np.abs(w[2])  # a row without negative weights
    cfg = QuantConfig("minmax", bits)
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes)
    assert np.array_equal(deq.view(np.uint32), rdeq.view(np.uint32))
    assert np.array_equal(lq.levels(), ref.levels()) and np.array_equal(lq.thresholds(), ref.thresholds())
    # the report's sums: the same numbers to float64 rounding (other summation order)
    np.testing.assert_allclose(mom, rmom, rtol=1e-12, atol=1e-300)
    # and the codes are #{t <= x} in float64 by brute force
    rows, t = w.reshape(shape[0], -1).astype(np.float64), lq.fitted.thresholds.reshape(shape[0], -1)
    assert np.array_equal(lq.codes.reshape(shape[0], -1), (rows[:, :, None] >= t[:, None, :]).sum(axis=2))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_guessed_blocks_that_pass_the_check_are_exact(bits, monkeypatch):
    """Plain weights (no weight planted on a threshold): the guessed blocks pass the check as they are."""
    import deepnets._blocked as B

    redone = []
    monkeypatch.setattr(B, "_moments", lambda *a: redone.append(1) or _moments(*a))
    w = np.random.default_rng(bits).standard_normal((300, 64, 3, 3)).astype(np.float32)
    cfg = QuantConfig("minmax", bits)
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    n_blocks = -(-300 // ((1 << 16) // 576))
    assert len(redone) < n_blocks  # the guess was used as it is in some blocks
    monkeypatch.undo()
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq, rdeq)
    np.testing.assert_allclose(mom, rmom, rtol=1e-12)


def test_guess_and_check_redoes_a_block_whose_guess_is_off():
    """A wrong guess (offset by half a step) is caught by the cell check and every block is redone exactly."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 50)).astype(np.float32)
    cfg = QuantConfig("minmax", 4)
    ref, rdeq, _ = _reference(w, cfg)
    rows = w.reshape(32, -1)
    q = theory.fit(rows, "minmax", bits=4, granularity=theory.PerChannel(0))
    import deepnets._blocked as B

    real = B.uniform_guess
    try:
        B.uniform_guess = lambda t: tuple(a + np.float32(0.5) * (i == 1) for i, a in enumerate(real(t)))
        codes, deq = np.empty(rows.shape, np.uint8), np.empty(rows.shape, np.float32)
        acc = guess_and_check(rows, q.thresholds.reshape(32, -1), ref.book.levels, ref.book.levels.decoder(), codes, deq)
    finally:
        B.uniform_guess = real
    assert acc is not None and np.array_equal(codes, ref.codes) and np.array_equal(deq, rdeq)


def test_rows_longer_than_8192_and_float64_take_the_exact_path():
    rng = np.random.default_rng(4)
    for w in (rng.standard_normal((3, 9000)).astype(np.float32), rng.standard_normal((4, 20))):
        lq, deq, _ = _quantize_layer(w, QuantConfig("minmax", 3), checked=True)
        ref, rdeq, _ = _reference(w, QuantConfig("minmax", 3))
        assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq, rdeq)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_minmax_refuses_non_finite_weights_naming_the_layer(bad):
    """Min-max layers skip the up-front finiteness pass; their fit refuses NaN and Inf with the same message."""
    model = small_cnn()
    with torch.no_grad():
        model[6].weight[3, 5] = bad
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"non-finite \(NaN or Inf\) values in '6.weight'"):
        quantize(model, QuantConfig("minmax", 4))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) or (before[k].isnan() == after[k].isnan()).all() for k in before)
    with pytest.raises(ValueError, match="non-finite"):  # and a non-finite float that is not a min-max weight
        m2 = small_cnn()
        with torch.no_grad():
            m2[1].running_var[0] = bad
        quantize(m2, QuantConfig("minmax", 4))


def test_quantize_report_matches_theory_rho_on_a_model():
    model = small_cnn()
    qm, rep = quantize(model, QuantConfig("minmax", 3))
    for r in rep:
        w = dict(model.named_modules())[r.name].weight.detach().double().numpy()
        q = dict(qm.named_modules())[r.name].weight.detach().double().numpy()
        assert r.rho == pytest.approx(theory.rho(w, q), rel=1e-12)
        assert r.rel_mse == pytest.approx(np.sum((w - q) ** 2) / np.sum(w**2), rel=1e-12)


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight  # weight tying
        self.register_buffer("scratch", torch.ones(3), persistent=False)
        self.notes = ["mutable"]
        self.shared = self.a  # the same submodule twice

    def forward(self, x):
        return self.b(self.a(x)) * self.scratch.sum()


class _OwnCopy(nn.Linear):
    def __deepcopy__(self, memo):
        out = nn.Linear(self.in_features, self.out_features)
        out.load_state_dict(self.state_dict())
        out.copied_by_own = True
        return out


def test_copy_model_is_deepcopy():
    m = _Tied()
    m.a.weight.requires_grad_(False)
    c = copy_model(m, {})
    d = copy.deepcopy(m)
    assert c.b.weight is c.a.weight and c.shared is c.a and c.notes == ["mutable"] and c.notes is not m.notes
    assert not c.a.weight.requires_grad and c.a.bias.requires_grad and type(c.a.weight) is nn.Parameter
    for k, v in m.state_dict(keep_vars=True).items():
        assert torch.equal(c.state_dict()[k], v) and c.state_dict()[k].data_ptr() != v.data_ptr()
    assert torch.equal(c.scratch, m.scratch) and c.scratch.data_ptr() != m.scratch.data_ptr()
    assert [type(x) for x in c.modules()] == [type(x) for x in d.modules()]
    assert all(vars(x).keys() == vars(y).keys() for x, y in zip(c.modules(), d.modules(), strict=True))
    x = torch.randn(2, 4)
    assert torch.equal(c(x), m(x))
    own = nn.Sequential(_OwnCopy(2, 2))
    assert getattr(copy_model(own, {})[0], "copied_by_own", False)  # its own protocol: copy.deepcopy


def test_quantize_leaves_the_float_model_untouched_and_shares_nothing():
    model = small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qm, _ = quantize(model, QuantConfig("minmax", 2))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    ptrs = {v.data_ptr() for v in model.state_dict().values()}
    assert not ptrs & {v.data_ptr() for v in qm.state_dict().values()}


@pytest.mark.parametrize("method,bits", [("uniform", 3), ("uniform", 4), ("exponential", 3), ("lloyd_max", 3),
                                         ("ternary", None), ("sign", None), ("affine", 3)])
def test_every_method_per_channel_is_the_exact_encoder(method, bits):
    """The guess is also taken where another method's grid is uniform (e.g. max-rho uniform: clipped tails)."""
    rng = np.random.default_rng(7)
    w = (rng.standard_t(3, (40, 8, 3, 3)) * 0.05).astype(np.float32)
    cfg = QuantConfig(method, bits)
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq.view(np.uint32), rdeq.view(np.uint32))
    np.testing.assert_allclose(mom, rmom, rtol=1e-12)


class _SpyEncoder:
    """theory._encode.RowEncoder, recording the number of rows of every block it encodes."""

    def __init__(self, calls):
        self.calls = calls

    def __call__(self, *a):
        from theory._encode import RowEncoder

        enc, calls = RowEncoder(*a), self.calls
        real = enc.encode
        enc.encode = lambda x, *b: calls.append(x.shape[0]) or real(x, *b)
        return enc


@pytest.mark.parametrize("method,bits", [("minmax", 4), ("minmax", 8), ("uniform", 3), ("uniform", 4)])
def test_blocks_forced_to_fail_the_check_give_the_exact_encoders_codes(method, bits, monkeypatch):
    """No cell margin at all (every level judged outside its cell): every row of every block (3 blocks) fails both
    checks and is encoded again; codes, weights and sums are still those of the exact encoder."""
    import deepnets._blocked as B

    rng = np.random.default_rng(11 + bits)
    shape = (300, 64, 3, 3)  # blocks of 113 rows
    w = _on_thresholds(rng, shape, bits) if method == "minmax" else (rng.standard_t(3, shape) * 0.05).astype(np.float32)
    cfg = QuantConfig(method, bits)
    calls = []
    monkeypatch.setattr(B, "_cell_margin", lambda t, L: np.zeros(t.shape[0]))
    monkeypatch.setattr(B, "RowEncoder", _SpyEncoder(calls))
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    assert calls == [113, 113, 74]  # every row was encoded again, block by block
    monkeypatch.undo()
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq.view(np.uint32), rdeq.view(np.uint32))
    np.testing.assert_allclose(mom, rmom, rtol=1e-12)


@pytest.mark.parametrize("method,bits", [("minmax", 3), ("uniform", 4)])
def test_a_guess_off_in_one_row_is_redone_in_that_row_only(method, bits, monkeypatch):
    """The guess of row 5 shifted by half a step (about half its codes wrong): only that row is encoded again."""
    import deepnets._blocked as B

    rng = np.random.default_rng(5)
    w = (rng.standard_t(3, (40, 8, 3, 3)) * 0.05).astype(np.float32)
    cfg = QuantConfig(method, bits)
    real, calls = B.uniform_guess, []

    def off_in_row_5(t):
        inv, off = real(t)
        off = off.copy()
        off[5] += np.float32(0.5)
        return inv, off

    monkeypatch.setattr(B, "uniform_guess", off_in_row_5)
    monkeypatch.setattr(B, "RowEncoder", _SpyEncoder(calls))
    real_exact = B._encode_exact
    monkeypatch.setattr(B, "_encode_exact", lambda x, *a: calls.append(x.shape[0]) or real_exact(x, *a))
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    monkeypatch.undo()
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq.view(np.uint32), rdeq.view(np.uint32))
    np.testing.assert_allclose(mom, rmom, rtol=1e-12)
    if method == "minmax":  # centred levels: every other row is proven right by the cell margin
        assert calls == [1]  # (row 5, by searchsorted)
    else:  # gained levels: rows may be encoded again, row 5 among them
        assert calls and sum(calls) <= 40


@pytest.mark.parametrize("bits", range(2, 9))
def test_minmax_codebook_by_closed_form_is_the_least_squares_one(bits, monkeypatch):
    """The min-max level tables factored without np.linalg.lstsq: the same float32 unit row, scales and shifts."""
    import deepnets.codebook as CB

    rng = np.random.default_rng(bits)
    real, calls = CB._integer_shifts, []
    for w in (rng.standard_normal((300, 40)), np.abs(rng.standard_normal((50, 9))), -np.abs(rng.standard_normal((50, 9))),
              rng.standard_normal((64, 30)) * 10.0 ** rng.integers(-30, 30, (64, 1)), rng.standard_normal((8, 3)) + 5):
        M = theory.fit(w.astype(np.float32), "minmax", bits=bits, granularity=theory.PerChannel(0)).levels
        calls.clear()
        monkeypatch.setattr(CB, "_integer_shifts", lambda *a: calls.append(1) or real(*a))
        fast = CB.Table._affine(M)
        monkeypatch.setattr(CB, "_integer_shifts", lambda *a: None)
        slow = CB.Table._affine(M)
        monkeypatch.undo()
        assert calls and fast is not None and slow is not None
        for k in ("unit", "scale", "shift"):
            assert getattr(fast, k).dtype == np.float32
            assert np.array_equal(getattr(fast, k).view(np.uint32), getattr(slow, k).view(np.uint32)), k


@pytest.mark.parametrize("R", [1, 8, 9, 40])
def test_encode_exact_is_the_float64_count_on_and_beside_thresholds(R):
    """Both branches of the fallback encoder (searchsorted up to 8 rows, RowEncoder above): #{t <= x} in float64."""
    from deepnets._blocked import _encode_exact

    rng = np.random.default_rng(R)
    t = np.sort(rng.standard_normal((R, 15)), axis=1)
    t[:, 3] = t[:, 2]  # a tie
    t32 = t.astype(np.float32)
    x = np.concatenate([rng.standard_normal((R, 50)).astype(np.float32), t32, np.nextafter(t32, np.float32(np.inf)),
                        np.nextafter(t32, np.float32(-np.inf))], axis=1)
    want = (x.astype(np.float64)[:, :, None] >= t[:, None, :]).sum(axis=2)
    got = _encode_exact(x, t, np.uint8)
    assert got.dtype == np.uint8 and np.array_equal(got, want)


def test_exact_codes_first_after_a_failed_block_and_back_to_the_guess(monkeypatch):
    """Block 0 (rows 0..112) has weights on every threshold of every row: the guess is proven for none of its rows,
    so it is encoded whole and block 1 is encoded exactly first; block 1's exact codes all pass the margin, so it
    goes back to the guess (which decides its sums: the fast ones), and block 2 is guessed only."""
    import deepnets._blocked as B

    rng = np.random.default_rng(21)
    w = rng.standard_normal((300, 64, 3, 3)).astype(np.float32)
    w[:113] = _on_thresholds(rng, (113, 64, 3, 3), 4)
    cfg = QuantConfig("minmax", 4)
    encoded, slow = [], []
    monkeypatch.setattr(B, "RowEncoder", _SpyEncoder(encoded))
    monkeypatch.setattr(B, "_moments", lambda x, q: slow.append(x.shape[0]) or _moments(x, q))
    lq, deq, mom = _quantize_layer(w, cfg, checked=True)
    monkeypatch.undo()
    assert encoded == [113, 113] and slow == [113]
    ref, rdeq, rmom = _reference(w, cfg)
    assert np.array_equal(lq.codes, ref.codes) and np.array_equal(deq.view(np.uint32), rdeq.view(np.uint32))
    np.testing.assert_allclose(mom, rmom, rtol=1e-12)
