"""The bridge against the trivial predictors: baselines from the same records, skill claimed only when it is there."""

import copy

import numpy as np
import pytest
import torch
from scipy import stats as sst
from torch import nn

from deepnets import bridge, data
from deepnets.bridge import scoring
from deepnets.models import MobileNet
from deepnets.records import BridgeAnalysis, EndToEndRecord, pack_bools, unpack_bools


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _sensitive_net(seed=0, d=32, h=48, classes=10):
    """Two linear layers; the first has 2% outlier weights (x21), so quantizers at one width differ a lot in rho."""
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, classes))
    with torch.no_grad():
        m[0].weight.copy_(torch.randn(h, d, generator=g) * (1 + 20 * (torch.rand(h, d, generator=g) < 0.02)))
        m[2].weight.normal_(generator=g)
        m[0].bias.zero_()
        m[2].bias.zero_()
    return m.eval()


@pytest.fixture(scope="module")
def net():
    m = _sensitive_net()
    g = torch.Generator().manual_seed(1)
    x_cal, x_test = torch.randn(256, 32, generator=g), torch.randn(2000, 32, generator=g)
    y = m(x_test).argmax(1)  # the float model is right on every image: drops are what quantization costs
    stats = bridge.layer_stats(m, x_cal)
    return m, stats, bridge.WeightCache(m), x_cal, x_test, y


def _e2e(net, configs):
    m, stats, cache, x_cal, x_test, y = net
    return bridge.end_to_end(m, stats, x_cal, x_test, y, configs, cache)


@pytest.fixture(scope="module")
def low_bits(net):
    return _e2e(net, [(q, b) for b in (2, 3) for q in ("minmax", "uniform", "lloyd_max", "exponential")])


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_kendall_and_spearman_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        k = int(rng.integers(3, 9))
        x, Y = rng.integers(0, 4, k).astype(float), rng.integers(0, 4, (5, k)).astype(float)
        tau, rs = scoring.kendall_tau_b(x, Y), scoring.spearman(x, Y)
        for b in range(5):
            want = sst.kendalltau(x, Y[b]).statistic
            assert (np.isnan(want) and (np.isnan(tau[b]) or np.ptp(x) == 0)) or tau[b] == pytest.approx(want, abs=1e-12)
            want = sst.spearmanr(x, Y[b]).statistic
            assert np.isnan(want) or rs[b] == pytest.approx(want, abs=1e-12)
    # a constant predictor (the bit width inside one cell) ranks nothing: 0, not NaN
    assert scoring.kendall_tau_b(np.ones(4), [[1.0, 2.0, 3.0, 4.0]])[0] == 0.0


def test_per_image_correctness_round_trips_compactly():
    a = np.random.default_rng(0).random(1001) < 0.7
    s = pack_bools(a)
    assert np.array_equal(unpack_bools(s), a) and len(s) < 1001 // 8 * 4 / 3 + 12
    with pytest.raises(ValueError, match="bool"):
        pack_bools(np.array([1, 0]))
    with pytest.raises(ValueError, match="pack_bools"):
        unpack_bools("no colon")
    with pytest.raises(ValueError, match="bits"):
        unpack_bools("9:" + s.split(":")[1])


def test_prediction_beats_bits_alone_when_quantizers_at_one_width_differ_in_rho(low_bits):
    """Min-max, max-rho uniform, Lloyd-Max, exponential at 2 and at 3 bits on a layer with outliers."""
    rho = {(r.method, r.bits): r.rho_mean for r in low_bits}
    assert max(rho.values()) - min(v for (_, b), v in rho.items() if b == 2) > 0.1  # very different rho at one width
    sc = scoring.end_to_end_scores(low_bits, n_boot=200, seed=0)
    assert sc["n_cells"] == 2
    rows = {r["predictor"]: r for r in sc["rows"]}
    assert rows["bits"]["cell_tau"] == 0.0  # one width per cell: the bit width ranks nothing
    for p in ("calibrated", "propagated", "data_free"):
        v = next(v for v in sc["versus"] if (v["prediction"], v["metric"], v["baseline"]) == (p, "cell_tau", "bits"))
        assert v["verdict"] == "beats" and v["lo"] > 0, v
        assert rows[p]["cell_tau"] >= 0.5, rows[p]


def test_no_claim_when_the_quantizers_differences_are_within_the_noise(net):
    """At 6 bits the four quantizers' drops differ by a few test images: no predictor may claim to rank them."""
    recs = _e2e(net, [(q, 6) for q in ("minmax", "uniform", "lloyd_max", "exponential")] + [("uniform", 2), ("uniform", 3)])
    sc = scoring.end_to_end_scores(recs, n_boot=200, seed=0)
    vs = [v for v in sc["versus"] if v["metric"] == "cell_tau"]
    assert vs and all(v["verdict"] != "beats" for v in vs), vs
    assert all(v["lo"] <= 0 <= v["hi"] for v in vs if v["baseline"] == "bits")
    # the rendered sentence says so in words
    from report import bridge_stage

    assert "does no better than" in bridge_stage.versus_sentence(sc, "cell_tau")


def test_baselines_are_computed_from_the_same_records(low_bits):
    recs = low_bits
    sc = scoring.end_to_end_scores(recs, n_boot=50, seed=3)
    # the dicts of the records (as results.json keeps them) give the same scores: no second run
    assert scoring.end_to_end_scores([r.to_dict() for r in recs], n_boot=50, seed=3) == sc
    rows = {r["predictor"]: r for r in sc["rows"]}
    drop = np.array([r.measured_drop for r in recs])
    assert rows["bits"]["spearman"] == pytest.approx(sst.spearmanr([-r.bits for r in recs], drop).statistic, abs=1e-12)
    cells = [[i for i, r in enumerate(recs) if r.bits == b] for b in (2, 3)]
    for name, key in (("mean_rho", "rho_mean"), ("weighted_rho", "rho_weighted"), ("calibrated", "eps2_calibrated")):
        score = np.array([getattr(r, key) for r in recs]) * (-1 if "rho" in key else 1)
        want = np.mean([sst.kendalltau(score[c], drop[c]).statistic for c in cells])
        assert rows[name]["cell_tau"] == pytest.approx(want, abs=1e-12), name
    assert rows["calibrated"]["mae"] == pytest.approx(np.mean([abs(r.pred_drop_calibrated - r.measured_drop) for r in recs]))
    # the bootstrap resamples those records' own per-image correctness: a drop that does not match it is refused
    bad = [EndToEndRecord(**{**r.to_dict(), "measured_drop": r.measured_drop + 1.0}) if i == 0 else r
           for i, r in enumerate(recs)]
    with pytest.raises(ValueError, match="correctness"):
        scoring.end_to_end_scores(bad, n_boot=50)
    # nothing the caller passes in is changed
    before = copy.deepcopy([r.to_dict() for r in recs])
    scoring.end_to_end_scores(recs, n_boot=50)
    assert [r.to_dict() for r in recs] == before


def test_bad_inputs_raise_value_error(low_bits):
    with pytest.raises(ValueError, match="n_boot"):
        scoring.end_to_end_scores(low_bits, n_boot=3)
    with pytest.raises(ValueError, match="recs"):
        scoring.end_to_end_scores(low_bits[:2])
    with pytest.raises(ValueError, match="gains"):
        bridge.end_to_end(*_args(low_bits), gains=np.ones(5))


def _args(_):
    m = _sensitive_net()
    x = torch.randn(20, 32, generator=torch.Generator().manual_seed(0))
    return m, bridge.layer_stats(m, x), x, x, m(x).argmax(1), [("uniform", 2)], bridge.WeightCache(m)


def test_allocation_on_an_architecture_the_project_did_not_train():
    """A depthwise-separable net with another width multiplier (stem 8, 12-40 channels), trained here on digits:
    the allocations against every baseline at equal packed size, and the layer ranking behind them."""
    x, y = data.load_digits("train")
    xt, yt = data.load_digits("test")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = MobileNet(1, 10, 8, stem=8, config=((12, 1), (24, 2), (24, 1), (40, 1)))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    m.train()
    for _ in range(15):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 64):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x[perm[i : i + 64]]), y[perm[i : i + 64]]).backward()
            opt.step()
    m.eval()
    res = bridge.analyse_model(m, "dwnet", x[:256], xt, yt, [], [("lloyd_max", 2)], "lloyd_max", (2.0, 2.5, 3.0))
    assert res.allocation[0].float_top1 > 85
    assert BridgeAnalysis.from_dict(res.to_dict()) == res and len(res.layer_ranking) == 6
    for r in res.allocation:  # equal packed size: codes + codebooks within the uniform model's budget
        assert 8 * (r.codes_bytes + r.codebook_bytes) <= 8 * r.budget_bytes + 1e-9, r
    rows = scoring.allocation_scores(list(res.allocation), n_boot=200, seed=0)
    assert [r["avg_bits"] for r in rows] == [2.0, 2.5, 3.0]
    for r in rows:
        assert {"params", "mean_rho", "weighted_rho", "calibrated", "propagated", "measured"} <= set(r)
        for v in r["versus"]:
            assert v["lo"] <= v["diff"] <= v["hi"] and (v["verdict"] == "beats") == (v["lo"] > 0), v
    # the propagated prediction beats the best baseline strategy at 2 bits on this unseen architecture, and is not
    # worse at 3 bits.  The training run decides the 3-bit cell: trained with 1 torch thread (this module's) on one
    # Xeon the propagated allocation beat the best baseline there too; with 1 thread on another, 0.8 [-2.0, 3.6]
    # points (no skill), with 2 threads there 6.1 [2.8, 9.8]; at 2 bits it beat in all three (lo 3.1 and more).
    prop = {r["avg_bits"]: next(v for v in r["versus"] if v["strategy"] == "propagated") for r in rows}
    assert prop[2.0]["verdict"] == "beats" and prop[3.0]["verdict"] != "worse", prop
    # because it ranks the layers: its tau's interval lies above every baseline's
    lr = {r.predictor: r for r in res.layer_ranking}
    assert lr["propagated"].lo > max(lr[b].hi for b in ("params", "mean_rho", "weighted_rho")), lr
