"""The torch side of the bridge: hooks, sign changes of real layers, packed-size budgets."""

import numpy as np
import pytest
import torch
from torch import nn

from report import bridge_stage

from deepnets import QuantConfig, bridge, quantize, storage
from deepnets.quantize import weight_layers
from deepnets.records import AllocationRecord, BridgeAnalysis, EndToEndRecord, SignChangeRecord


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _gaussian_model(seed):
    g = torch.Generator().manual_seed(seed)
    # non-overlapping patches (stride = kernel) keep conv rows independent for the binomial error
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=3), nn.Conv2d(16, 16, 3, stride=3, groups=16), nn.Flatten(), nn.Linear(16 * 16, 10),
    )
    with torch.no_grad():
        for layer in m:
            if isinstance(layer, nn.Conv2d | nn.Linear):
                layer.weight.normal_(generator=g)
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
        assert isinstance(r, SignChangeRecord) and SignChangeRecord.from_dict(r.to_dict()) == r
        tol = 4.5 * r.se * np.sqrt(2) + 0.002
        assert abs(r.measured - r.pred_data) < tol, r


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


def test_mixed_widths_take_each_layer_from_deepnets_quantize_and_pack_each_width():
    m = _gaussian_model(4)
    names = [n for n, _ in weight_layers(m)]
    bits = dict(zip(names, [2, 5, 3], strict=True))
    q = bridge.WeightCache(m).mixed("lloyd_max", bits)
    # the same model as the one entry point with a mapping config, weight for weight and config for config
    ref, _ = quantize(m, {n: QuantConfig("lloyd_max", b) for n, b in bits.items()})
    assert q.corrquant.config == ref.corrquant.config
    for (n, layer), (_, rl) in zip(weight_layers(q), weight_layers(ref), strict=True):
        assert torch.equal(layer.weight, rl.weight)
        assert q.corrquant.layers[n].bits == bits[n]
        assert np.array_equal(q.corrquant.layers[n].codes, ref.corrquant.layers[n].codes)
    size = bridge.packed_size(q)
    params = [dict(weight_layers(m))[n].weight.numel() for n in names]
    assert size["codes"] == sum(-(-p * bits[n] // 8) for p, n in zip(params, names, strict=True))


def test_mixed_widths_round_trip_through_the_packed_file(tmp_path):
    m = _gaussian_model(8)
    names = [n for n, _ in weight_layers(m)]
    q = bridge.WeightCache(m).mixed("exponential", dict(zip(names, [3, 1, 6], strict=True)))
    storage.save(q, tmp_path / "q.safetensors")
    back = storage.load(tmp_path / "q.safetensors", m)
    for (_, a), (_, b) in zip(weight_layers(q), weight_layers(back), strict=True):
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
            size = bridge.packed_size(cache.mixed("lloyd_max", dict(zip(names, map(int, bvec), strict=True))))
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
    recs = bridge.end_to_end(m, stats, x_cal, x_test, y, [("uniform", b) for b in (1, 2, 4, 6)], cache)
    assert all(isinstance(r, EndToEndRecord) and EndToEndRecord.from_dict(r.to_dict()) == r for r in recs)
    pa = [r.pred_agreement_calibrated for r in recs]
    ma = [r.measured_agreement for r in recs]
    assert all(a < b for a, b in zip(pa, pa[1:], strict=False)), pa
    # percent: agreement with the float model's top class
    assert ma[-1] > ma[0] and all(0 <= v <= 100 for v in pa + ma) and max(pa + ma) > 1


def test_propagation_gain_of_a_single_linear_layer_is_one():
    """One linear layer: its outputs are the logits, so a relative noise eps2 reaches them unchanged (gain 1),
    up to the sampling error of the calibration images; a ReLU network in front damps the first layer's noise."""
    g = torch.Generator().manual_seed(0)
    lin = nn.Sequential(nn.Linear(40, 10)).eval()
    with torch.no_grad():
        lin[0].weight.normal_(generator=g)
        lin[0].bias.zero_()
    x = torch.randn(2000, 40, generator=g)
    gains = bridge.propagation_gains(lin, bridge.layer_stats(lin, x), x, draws=4)
    assert gains.shape == (1,) and abs(gains[0] - 1) < 0.05, gains
    deep = _gaussian_model(9)
    xd = torch.randn(200, 3, 36, 36, generator=g)
    state = torch.random.get_rng_state()
    gd = bridge.propagation_gains(deep, bridge.layer_stats(deep, xd), xd)
    assert torch.equal(torch.random.get_rng_state(), state)  # an explicit generator, no global seeding
    # no ReLU in _gaussian_model: every layer is linear, so every gain is 1 up to sampling error
    assert np.all(np.abs(gd - 1) < 0.15), gd


def test_bad_inputs_raise_value_error():
    m = _gaussian_model(0)
    with pytest.raises(ValueError, match="bits"):
        bridge.WeightCache(m).mixed("uniform", {"nope": 3})
    with pytest.raises(ValueError, match="model"):
        bridge.prepare("not a model")
    with pytest.raises(ValueError, match="model"):
        bridge.WeightCache("not a model")
    with pytest.raises(ValueError, match="max_rows"):
        bridge.layer_stats(m, torch.zeros(1, 3, 36, 36), max_rows=0)
    with pytest.raises(ValueError, match="quick"):
        bridge_stage.section(quick="yes")
    with pytest.raises(ValueError, match="predictor"):
        bridge.plot_sign_changes([], None, "nope")
    with pytest.raises(ValueError, match="keys"):
        SignChangeRecord.from_dict({"model": "m"})


def test_analyse_model_returns_typed_records_and_keeps_what_is_done_when_interrupted(monkeypatch):
    m = _gaussian_model(7)
    g = torch.Generator().manual_seed(4)
    x_cal, x_test = torch.randn(60, 3, 36, 36, generator=g), torch.randn(80, 3, 36, 36, generator=g)
    y = torch.randint(0, 10, (80,), generator=g)
    args = (m, "gauss", x_cal, x_test, y, [("uniform", 2)], [("uniform", 3)], "lloyd_max", (3.0,))
    state, np_state = torch.random.get_rng_state(), np.random.get_state()
    res = bridge.analyse_model(*args, measured=False)
    # no global seeding: the global torch and numpy generators are untouched
    assert torch.equal(torch.random.get_rng_state(), state) and np.array_equal(np.random.get_state()[1], np_state[1])
    assert not res.interrupted and len(res.sign_changes) == 3 and len(res.end_to_end) == 1
    assert {r.strategy for r in res.allocation} == {"uniform", "params", "mean_rho", "weighted_rho", "data_free",
                                                    "calibrated", "propagated"}
    assert len(res.gains) == 3 and all(g > 0 for g in res.gains) and res.layer_ranking == ()  # no measured table
    assert all(isinstance(r, AllocationRecord) and 0 <= r.top1 <= 100 for r in res.allocation)
    assert [(layer.name, layer.kind) for layer in res.layers] == [("0", "conv"), ("1", "depthwise conv"), ("3", "linear")]
    assert BridgeAnalysis.from_dict(res.to_dict()) == res

    def stop(*a, **k):
        raise KeyboardInterrupt
        yield  # pragma: no cover

    monkeypatch.setattr(bridge, "iter_end_to_end", stop)
    cut = bridge.analyse_model(*args, measured=False)
    assert cut.interrupted and cut.sign_changes == res.sign_changes and cut.end_to_end == () and cut.allocation == ()
    assert BridgeAnalysis.from_dict(cut.to_dict()) == cut


def _readme_renders(res):
    import json

    from report import readme as rr

    record = json.loads(rr.RECORD.read_text())
    record["environment"]["mode"] = "full"
    record["results"]["bridge"] = json.loads(json.dumps({k: res[k] for k in bridge_stage.KEEP if k in res}))
    text = rr.results_block(record)
    sc = res["end_to_end_scores"]
    best = next(v for v in sc["versus"] if v["metric"] == "cell_tau" and v["best"])
    rows = {r["predictor"]: r for r in sc["rows"]}
    flat = " ".join(text.split())
    assert f"Best baseline: the {rr_name(best['baseline'])}, {rows[best['baseline']]['cell_tau']:.2f}" in flat
    assert "| MLP | 2.5 | - |" in text and "weighted rho" in text
    top = max((v for v in sc["versus"] if v["metric"] == "cell_tau" and v["best"]
               and v["prediction"] in ("data_free", "calibrated", "propagated")), key=lambda v: v["diff"])
    say = {"beats": "beats it", "no skill": "no skill over it", "worse": "worse than it"}[top["verdict"]]
    assert f"differs by {top['diff']:.2f} [{top['lo']:.2f}, {top['hi']:.2f}] (positive is better): {say}" in flat


def rr_name(k):
    from report.readme_bridge import NAMES

    return NAMES[k].removeprefix("the ")


def test_report_section_quick(tmp_path):
    """The report's bridge stage on the committed digits MLP: records, figures, rendering, and quality floors."""
    from deepnets import models

    if not models.weights_path("mlp", "digits").is_file():
        pytest.skip("no committed mlp_digits weights")
    res = bridge_stage.section(quick=True, seed=0, out_dir=tmp_path)
    for f in res["figures"].values():
        assert (tmp_path / f.split("/")[-1]).is_file()
    allk = next(r for r in res["sign_change_summary"] if r["kind"] == "all")
    # a dense layer on real images: the data-aware r must beat the plain weight rho, and be accurate
    assert allk["mae_data"] < 0.5 * allk["mae_plain"], allk
    assert allk["mae_data"] < 0.01, allk
    e = res["end_to_end_summary"]
    assert e["agreement_calibrated_spearman"] > 0.5, e
    # the whole digits test split (359 images), in percent, the same images as the deepnets stage's
    assert res["n_test"] == 359
    assert all(r["float_top1"] > 90 for r in res["allocation"])
    table = next(b for b in bridge_stage.blocks(res) if b[0] == "table" and b[1][0] == "model")
    assert ["mlp", 2.5] == table[2][1][:2]
    # the baselines are in the same tables as the predictions, computed from the same records
    sc = res["end_to_end_scores"]
    assert {r["predictor"] for r in sc["rows"]} == {"bits", "mean_rho", "weighted_rho", "data_free", "calibrated",
                                                     "propagated", "measured"}
    assert bridge.end_to_end_scores([EndToEndRecord.from_dict(r) for r in res["end_to_end"]], res["n_boot"], 0) == sc
    assert bridge.allocation_scores([AllocationRecord.from_dict(r) for r in res["allocation"]], res["n_boot"], 0) \
        == res["allocation_scores"]
    e2e = next(b for b in bridge_stage.blocks(res) if b[0] == "table" and "Spearman over all points" in b[1])
    assert [row[0] for row in e2e[2]][:3] == [bridge_stage.LABELS[k] for k in ("bits", "mean_rho", "weighted_rho")]
    # the README renderer on this quick record patched to a full run (what the lead renders after the full report)
    _readme_renders(res)
    for r in res["allocation"]:
        assert AllocationRecord.from_dict(r).to_dict() == r
        assert 8 * (r["codes_bytes"] + r["codebook_bytes"]) <= 8 * r["budget_bytes"] + 1e-9, r


def test_end_to_end_reuses_measured_one_layer_noise_exactly():
    m = _gaussian_model(10)
    g = torch.Generator().manual_seed(5)
    x_cal, x_test = torch.randn(60, 3, 36, 36, generator=g), torch.randn(80, 3, 36, 36, generator=g)
    y = torch.randint(0, 10, (80,), generator=g)
    stats, cache = bridge.layer_stats(m, x_cal), bridge.WeightCache(m)
    gains = bridge.propagation_gains(m, stats, x_cal)
    sens = bridge.measured_sensitivity(m, x_cal, "lloyd_max", (2, 3), cache)
    fresh = bridge.end_to_end(m, stats, x_cal, x_test, y, [("lloyd_max", 2), ("lloyd_max", 3)], cache, gains=gains)
    reused = list(bridge.iter_end_to_end(m, stats, x_cal, x_test, y, [("lloyd_max", 2), ("lloyd_max", 3)], cache,
                                         gains=gains, one_layer={("lloyd_max", 2): sens[:, 0], ("lloyd_max", 3): sens[:, 1]}))
    assert reused == fresh
    assert [r.eps2_measured for r in fresh] == pytest.approx([sens[:, 0].sum(), sens[:, 1].sum()], rel=1e-12)
