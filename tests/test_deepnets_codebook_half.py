"""float16 codebooks (QuantConfig(codebook="float16")) and offset thresholds: error bound, fallback, round trip."""

import os

import numpy as np
import pytest
import torch

import deepnets
import theory
from deepnets.codebook import HALF_BOUND, Table, codebook, quantizer

U16 = 2.0 ** -11  # float16 unit roundoff


def _fits(seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((24, 50)) * rng.uniform(1e-3, 1e2, (24, 1)) + rng.normal(0, 0.3, (24, 1))
    for method, bits in [("minmax", 2), ("minmax", 4), ("minmax", 8), ("uniform", 2), ("uniform", 5), ("exponential", 3),
                         ("lloyd_max", 2), ("lloyd_max", 4), ("sign", None), ("ternary", None)]:
        for kw in ({}, {"gain": "unbiased"}, {"offset": True}, {"shared_shape": False, "offset": True, "gain": "unbiased"}):
            if method == "minmax" and kw.get("offset"):
                continue
            yield w, theory.Recipe(method, bits, **kw).fit(w, theory.PerChannel(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_half_codebook_decodes_within_the_bound_and_is_smaller(seed):
    for _w, q in _fits(seed):
        half, full = codebook(q, half=True), codebook(q)
        lv = half.levels.values().astype(np.float64)
        amax = np.max(np.abs(q.levels), axis=1, keepdims=True)
        assert np.all(np.abs(lv - q.levels) <= HALF_BOUND * amax), q.name
        assert np.all(np.diff(lv, axis=1) > 0)
        assert half.nbytes <= full.nbytes
        assert all(a.dtype == np.float16 for a in half.levels.arrays("k").values()), q.name  # normal ranges: all half
        quantizer(half, q.granularity, q.name)  # no ties after rounding


def test_the_bound_is_the_float16_rounding_of_the_factors():
    # affine rows a * (unit + shift), unit centred on 0: with each factor rounded once to float16
    # (a(1+e1), unit_k(1+e2), shift(1+e3), |e| <= u = 2^-11) and two float32 operations (|f| <= 2^-24),
    # |decoded - exact| <= |a| (|unit_k| + |shift|) u + |a (unit_k + shift)| (u + 2^-23) + O(u^2)
    #                   <= (2u + 2^-23 + O(u^2)) * row max,  since row max = |a| (max|unit| + |shift|);
    # HALF_BOUND = 4u leaves room for rows that are affine only up to float64 rounding
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(200):
        K = int(rng.integers(3, 64))
        unit = np.linspace(-1, 1, K) * rng.uniform(0.5, 3)
        scale = 10.0 ** rng.uniform(-3, 2, 16)
        shift = rng.normal(0, 2, 16)
        M = scale[:, None] * (unit[None, :] + shift[:, None])
        t = Table.fit(M, half=True)
        err = np.max(np.abs(t.values() - M) / np.max(np.abs(M), axis=1, keepdims=True))
        worst = max(worst, err)
    assert worst <= 2.0 * U16 + 2.0 ** -23 + 4 * U16**2 < HALF_BOUND


def test_half_falls_back_to_float32_where_float16_cannot_hold_the_levels():
    rng = np.random.default_rng(3)
    for s in (1e-9, 1e6):  # subnormal / overflowing in float16
        w = rng.standard_normal((8, 40)) * s
        q = theory.Recipe("uniform", 3).fit(w, theory.PerChannel(0))
        book = codebook(q, half=True)
        assert all(a.dtype == np.float32 for a in book.levels.arrays("k").values())
        np.testing.assert_array_equal(book.levels.values(), codebook(q).levels.values())


def test_offset_thresholds_are_derived_not_stored():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 72)) + rng.normal(0, 0.5, (16, 1))
    q = theory.Recipe("uniform", 3, gain="unbiased", offset=True).fit(w, theory.PerChannel(0))
    book = codebook(q, offset=True)
    keys = set(book.arrays("k"))
    assert "k.thresholds" not in keys and "k.thresholds.ratio_about_mean" in keys and "k.thresholds.centre" not in keys
    np.testing.assert_allclose(book.threshold_values(), q.thresholds, rtol=0, atol=1e-5 * np.abs(q.thresholds).max())
    ql = theory.Recipe("lloyd_max", 2, gain="unbiased", shared_shape=False, offset=True).fit(w, theory.PerChannel(0))
    bl = codebook(ql, offset=True)
    assert "k.thresholds" not in bl.arrays("k")  # ratio and centre: 2 numbers per group instead of K - 1
    np.testing.assert_allclose(bl.threshold_values(), ql.thresholds, rtol=0, atol=1e-5 * np.abs(ql.thresholds).max())
    # fits without an offset keep the forms they always had (ternary's dead zone stays a table)
    qt = theory.Recipe("ternary").fit(w, theory.PerChannel(0))
    assert "k.thresholds.unit" in codebook(qt).arrays("k") or "k.thresholds" in codebook(qt).arrays("k")


@pytest.mark.parametrize("granularity", ["channel", deepnets.PerGroup(32)])
def test_half_offset_model_saves_and_loads_bitwise(tmp_path, granularity):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 10)).eval()
    cfg = deepnets.QuantConfig(theory.Recipe("lloyd_max", 2, gain="unbiased", shared_shape=False, offset=True),
                               granularity=granularity, codebook="float16")
    assert deepnets.QuantConfig.from_dict(cfg.to_dict()) == cfg
    assert "codebook" not in deepnets.QuantConfig("uniform", 2).to_dict()
    qm, _ = deepnets.quantize(model, cfg)
    half = deepnets.save(qm, os.path.join(tmp_path, "h.safetensors"))
    q32, _ = deepnets.quantize(model, deepnets.QuantConfig(cfg.recipe, granularity=granularity))
    full = deepnets.save(q32, os.path.join(tmp_path, "f.safetensors"))
    assert half["codebooks"] < full["codebooks"]
    loaded = deepnets.load(os.path.join(tmp_path, "h.safetensors"), model)
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), qm(x))
    with pytest.raises(ValueError, match="^codebook"):
        deepnets.QuantConfig("uniform", 2, codebook="bfloat16")


def test_sweep_takes_the_new_options_and_records_them():
    import json

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    rows = deepnets.sweep({"m": model}, ["minmax", "uniform"], [2], (x, y), offset=True, codebook="float16",
                          gain="unbiased", fold_bn=False)
    cfg = {r.method: json.loads(r.config) for r in rows if r.method != "float"}
    assert cfg["uniform"]["offset"] is True and cfg["uniform"]["codebook"] == "float16"
    assert "offset" not in cfg["minmax"] and cfg["minmax"]["codebook"] == "float16"  # min-max is affine already
    plain = deepnets.sweep({"m": model}, ["uniform"], [2], (x, y), gain="unbiased", fold_bn=False)
    assert "offset" not in json.loads(plain[1].config) and "codebook" not in json.loads(plain[1].config)
    with pytest.raises(ValueError, match="^offset"):
        deepnets.sweep({"m": model}, ["uniform"], [2], (x, y), offset="yes")
    with pytest.raises(ValueError, match="^codebook"):
        deepnets.sweep({"m": model}, ["uniform"], [2], (x, y), codebook="fp8")
