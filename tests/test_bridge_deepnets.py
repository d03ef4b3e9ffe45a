"""The torch side of the bridge: hooks, sign changes of real layers, packed-size budgets."""

import numpy as np
import pytest
import torch
from torch import nn

from deepnets import bridge, storage
from deepnets.quantize import quantize_weight, QuantConfig, weight_layers


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices on a shared 2-core machine: BLAS threads only contend (restored afterwards)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def _gaussian_model(seed):
    torch.manual_seed(seed)
    # non-overlapping patches (stride = kernel) keep conv rows independent for the binomial error
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=3), nn.Conv2d(16, 16, 3, stride=3, groups=16), nn.Flatten(), nn.Linear(16 * 16, 10),
    )
    with torch.no_grad():
        for layer in m:
            if isinstance(layer, nn.Conv2d | nn.Linear):
                layer.weight.normal_()
                layer.bias.zero_()  # zero bias: Sheppard's formula is exact for zero-mean Gaussian fields
    return m.eval()


@pytest.mark.parametrize("method,bits", [("sign", 1), ("uniform", 2), ("exponential", 3)])
def test_sign_change_rate_of_gaussian_layers_matches_prediction(method, bits):
    """Each layer gets its float input; with Gaussian weights and inputs the rate is arccos(r)/pi up to binomial error.

    Only the first layer has Gaussian inputs, but for every layer the fields are Gaussian given its
    input only approximately; the first layer is exact, later ones must agree within the same error
    because their inputs are linear images of Gaussian inputs (zero bias, no nonlinearity).
    """
    m = _gaussian_model(0)
    g = torch.Generator().manual_seed(1)
    x_cal = torch.randn(400, 3, 36, 36, generator=g)
    x_test = torch.randn(400, 3, 36, 36, generator=g)
    stats = bridge.layer_stats(m, x_cal, max_rows=50_000, seed=0)
    assert [s.kind for s in stats] == ["conv", "depthwise conv", "linear"]
    cache = bridge.WeightCache(m)
    recs = bridge.sign_changes(m, stats, x_test, [(method, bits)], cache)
    for r in recs:
        # 4.5 standard errors, plus the sampling error of S itself (relative 1/sqrt(rows) on r's noise part)
        tol = 4.5 * r["se"] * np.sqrt(2) + 0.002
        assert abs(r["measured"] - r["pred_data"]) < tol, r


def test_layer_stats_second_moment_matches_unfold_by_hand():
    m = _gaussian_model(3)
    x = torch.randn(5, 3, 36, 36, generator=torch.Generator().manual_seed(0))
    st = bridge.layer_stats(m, x, max_rows=10**6)[0]
    # patch at output (0, 0) of image 0 is x[0, :, 0:3, 0:3]
    patches = x.unfold(2, 3, 3).unfold(3, 3, 3)  # (n, C, 12, 12, 3, 3)
    rows = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 27).double().numpy()
    rows = np.concatenate([rows, np.ones((rows.shape[0], 1))], 1)
    assert np.allclose(st.S[0], rows.T @ rows / rows.shape[0])
    assert st.S.shape == (1, 28, 28)


def test_quantize_mixed_uses_the_one_quantizer_and_packs_each_width():
    m = _gaussian_model(4)
    names = [n for n, _ in weight_layers(m)]
    bits = dict(zip(names, [2, 5, 3]))
    q = bridge.quantize_mixed(m, "lloyd_max", bits)
    for n, layer in weight_layers(q):
        ref = quantize_weight(dict(weight_layers(m))[n].weight.detach().numpy(), QuantConfig("lloyd_max", bits[n]))
        assert np.array_equal(layer.weight.detach().numpy(), ref.dequantize())
        assert q.corrquant.layers[n].bits == bits[n]
    size = bridge.packed_size(q)
    params = [dict(weight_layers(m))[n].weight.numel() for n in names]
    assert size["codes"] == sum(-(-p * bits[n] // 8) for p, n in zip(params, names))


def test_mixed_widths_round_trip_through_the_packed_file(tmp_path):
    m = _gaussian_model(8)
    names = [n for n, _ in weight_layers(m)]
    q = bridge.quantize_mixed(m, "exponential", dict(zip(names, [3, 1, 6])))
    storage.save(q, tmp_path / "q.safetensors")
    back = storage.load(tmp_path / "q.safetensors", m)
    for (_, a), (_, b) in zip(weight_layers(q), weight_layers(back)):
        assert torch.equal(a.weight, b.weight)


def test_allocations_respect_budget_on_the_packed_file():
    m = _gaussian_model(5)
    x = torch.randn(200, 3, 36, 36, generator=torch.Generator().manual_seed(2))
    stats = bridge.layer_stats(m, x, seed=0)
    cache = bridge.WeightCache(m)
    noise = bridge.layer_noise_tables(stats, "lloyd_max", bridge.BITS, cache)
    params = np.array([s.params for s in stats])
    names = [s.name for s in stats]
    uni = {}
    for a in (2.0, 2.5, 3.0):
        al = bridge.allocations(noise, None, params, a)
        budget = bridge.budget_bits(a, params, noise["codebook_bits"], bridge.BITS)
        for strat, bvec in al.items():
            size = bridge.packed_size(bridge.quantize_mixed(m, "lloyd_max", dict(zip(names, map(int, bvec))), cache=cache))
            assert 8 * (size["codes"] + size["codebooks"]) <= budget, (a, strat, size, budget)
            if strat == "uniform":
                uni[a] = size["codes"] + size["codebooks"]
    # at integer widths the allocations cost no more than the uniform model on disk
    assert set(uni) == {2.0, 3.0}
    for a in (2.0, 3.0):
        assert 8 * uni[a] == bridge.budget_bits(a, params, noise["codebook_bits"], bridge.BITS)


def test_predicted_agreement_rises_with_bits():
    m = _gaussian_model(6)
    g = torch.Generator().manual_seed(3)
    x_cal, x_test = torch.randn(100, 3, 36, 36, generator=g), torch.randn(200, 3, 36, 36, generator=g)
    y = torch.randint(0, 10, (200,), generator=g)
    stats = bridge.layer_stats(m, x_cal)
    cache = bridge.WeightCache(m)
    zc = bridge.logits_of(m, x_cal)
    recs = bridge.end_to_end(m, stats, x_test, y, np.mean(zc * zc, 0), [("uniform", b) for b in (1, 2, 4, 6)], cache)
    pa = [r["pred_agreement_calibrated"] for r in recs]
    ma = [r["measured_agreement"] for r in recs]
    assert all(a < b for a, b in zip(pa, pa[1:])), pa
    assert ma[-1] > ma[0] and all(0 <= v <= 1 for v in pa + ma)


def test_bad_inputs_raise_value_error():
    m = _gaussian_model(0)
    with pytest.raises(ValueError, match="bits"):
        bridge.quantize_mixed(m, "uniform", {"nope": 3})
    with pytest.raises(ValueError, match="model"):
        bridge.prepare("not a model")
    with pytest.raises(ValueError, match="max_rows"):
        bridge.layer_stats(m, torch.zeros(1, 3, 36, 36), max_rows=0)
    with pytest.raises(ValueError, match="quick"):
        bridge.report_section(quick="yes")


def test_report_section_quick(tmp_path):
    """The report's entry point on the committed digits MLP: records, figures, summary, and quality floors."""
    from deepnets import models

    if not models.weights_path("mlp", "digits").is_file():
        pytest.skip("no committed mlp_digits weights")
    res = bridge.report_section(quick=True, seed=0, out_dir=tmp_path)
    for f in res["figures"].values():
        assert (tmp_path / f.split("/")[-1]).is_file()
    allk = next(r for r in res["sign_change_summary"] if r["kind"] == "all")
    # a dense layer on real images: the data-aware r must beat the plain weight rho, and be accurate
    assert allk["mae_data"] < 0.5 * allk["mae_plain"], allk
    assert allk["mae_data"] < 0.01, allk
    e = res["end_to_end_summary"]
    assert e["agreement_calibrated_spearman"] > 0.5, e
    assert "| mlp | 2.5 |" in res["summary"]
    for r in res["allocation"]:
        assert 8 * (r["codes_bytes"] + r["codebook_bytes"]) <= 8 * r["budget_bytes"] + 1e-9, r
