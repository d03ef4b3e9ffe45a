"""The recipe options that answer the data-free peers on BatchNorm nets (issue 13, item 1).

``Recipe("affine")``: the maximum-rho affine grid ``a + b k`` per group (theory.affine), its
unbiased gain about the group mean, and its lean storage (one float16 scale and one float16
shift per group, the bits HQQ and torchao pay for their scale and zero point).  Each against
a closed form, Monte Carlo or brute force.
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import deepnets
import theory
from deepnets.codebook import HALF_BOUND
from deepnets.storage import packed_nbytes
from theory.affine import affine_rows


def _rho_se(w, q):
    """rho of (w, q) and its standard error by the delta method on the sample means of w q, w^2, q^2."""
    A, B, C = w * q, w * w, q * q
    a, b, c = A.mean(), B.mean(), C.mean()
    r = a / np.sqrt(b * c)
    grad = np.array([r / a, -0.5 * r / b, -0.5 * r / c])
    cov = np.cov(np.stack([A, B, C])) / w.size
    return r, float(np.sqrt(grad @ cov @ grad))


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_affine_on_a_gaussian_sample_is_the_rho_optimal_uniform_quantizer(bits):
    """For a symmetric density the best affine grid is the rho-optimal uniform one: the fit on 200,000
    Gaussian draws is at least as good as that closed-form optimum applied to the same draws, and its
    rho agrees with the closed form within 5 standard errors of the sample rho."""
    x = np.random.default_rng(bits).standard_normal(200_000)
    q = theory.Recipe("affine", bits).fit(x)
    u = theory.Recipe("uniform", bits).optimal()
    s = float(np.std(x))
    u_on_x = theory.Quantizer(u.thresholds * s, u.levels * s, "uniform")
    r_fit = theory.rho(x, q)
    assert r_fit >= theory.rho(x, u_on_x) - 1e-9
    _, se = _rho_se(x, u_on_x(x))
    assert abs(r_fit - theory.rho(u)) <= 5 * se + 1e-12, (r_fit, theory.rho(u), se)


def _rho_rows(rows, lv):
    K = lv.shape[1]
    idx = np.clip(np.round((rows - lv[:, :1]) / (lv[:, 1:2] - lv[:, :1])), 0, K - 1).astype(int)
    q = np.take_along_axis(lv, idx, axis=1)
    return np.sum(rows * q, axis=1) / np.sqrt(np.sum(rows * rows, axis=1) * np.sum(q * q, axis=1))


def test_affine_against_brute_force_and_min_max_on_tiny_groups():
    """Groups of 9 weights (a depthwise 3x3 channel), K = 4: every grid is reached from some monotone code
    assignment (its least-squares line, then nearest levels), so enumerating all C(12, 3) assignments gives
    the best affine grid.  The fit is never below min-max (its first start), on average within 1e-3 of the
    brute-force optimum and never more than 0.03 below it (a local search)."""
    rng = np.random.default_rng(1)
    rows = rng.standard_t(3, (150, 9)) + rng.normal(0, 0.5, (150, 1))
    K = 4
    _, lv = affine_rows(rows, K)
    r = _rho_rows(rows, lv)
    mm = theory.Recipe("minmax", K=K).fit(rows, theory.PerChannel(0))
    r_mm = np.array([theory.rho(rows[i], mm.group(i)) for i in range(rows.shape[0])])
    assert np.all(r >= r_mm - 1e-12)
    best = np.zeros(rows.shape[0])
    for i, w in enumerate(rows):
        w = np.sort(w)
        for cuts in itertools.combinations_with_replacement(range(w.size + 1), K - 1):
            codes = np.zeros(w.size)
            for c in cuts:
                codes[c:] += 1
            if np.ptp(codes) == 0:
                continue
            (a, b), *_ = np.linalg.lstsq(np.stack([np.ones(w.size), codes], axis=1), w, rcond=None)
            if b > 0:
                best[i] = max(best[i], _rho_rows(w[None], (a + b * np.arange(K))[None])[0])
    assert np.all(r <= best + 1e-9)
    assert np.mean(best - r) < 1e-3 and np.max(best - r) < 0.03, (np.mean(best - r), np.max(best - r))


def test_affine_unbiased_gain_keeps_the_mean_and_a_unit_centred_slope():
    """Per group: the quantized group's mean is the float group's (so a layer's response to the mean of
    its input, which BatchNorm's running mean expects, does not move), and the regression slope of q on
    w about the mean is 1; the thresholds and codes are those of the least-squares (mse) fit."""
    rng = np.random.default_rng(2)
    x = rng.standard_t(4, (12, 40)) * rng.uniform(0.1, 3, (12, 1)) + rng.normal(0, 1, (12, 1))
    g = theory.PerGroup(20)
    mse = theory.Recipe("affine", 2).fit(x, g)
    unb = theory.Recipe("affine", 2, gain="unbiased").fit(x, g)
    assert np.array_equal(mse.encode(x), unb.encode(x))
    rows, qrows = g.rows(x), g.rows(unb(x))
    m = rows.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(qrows.mean(axis=1), m[:, 0], rtol=0, atol=1e-12 * np.abs(x).max())
    slope = np.sum((rows - m) * (qrows - m), axis=1) / np.sum((rows - m) ** 2, axis=1)
    np.testing.assert_allclose(slope, 1.0, rtol=1e-10)


def test_affine_unbiased_output_mean_after_a_relu_matches_monte_carlo():
    """A linear layer fed relu(N(beta, 1)) inputs (the input of a layer after BatchNorm + ReLU): with the
    gain about the mean the expected output shift sum_i (q_i - w_i) E[x_i] is 0 exactly (equal input
    means); measured by Monte Carlo on 100,000 inputs it is within 4 standard errors of 0, while the
    gain about 0 (uniform+unbiased, E[w q] = E[w^2]) moves it by many standard errors."""
    rng = np.random.default_rng(3)
    w = rng.normal(0.3, 1.0, (8, 144))  # channels with a mean, as after BatchNorm folding
    beta = 0.5
    x = np.maximum(rng.normal(beta, 1.0, (100_000, 144)), 0)
    for recipe, centred in ((theory.Recipe("affine", 2, gain="unbiased"), True), (theory.Recipe("uniform", 2, gain="unbiased"), False)):
        q = recipe.fit(w, theory.PerChannel(0))(w)
        d = x @ (q - w).T  # (N, 8) output shift per channel
        z = d.mean(axis=0) / (d.std(axis=0) / np.sqrt(x.shape[0]))
        if centred:
            assert np.all(np.abs(z) < 4), z
            np.testing.assert_allclose((q - w).sum(axis=1), 0, atol=1e-9)
        else:
            assert np.max(np.abs(z)) > 20, z


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))


@pytest.mark.parametrize("granularity", ["channel", theory.PerGroup(32)])
def test_affine_lean_file_stores_one_float16_scale_and_shift_per_group(tmp_path, granularity):
    """The lean (float16) affine codebook is two float16 numbers per group and no unit row (the centred
    integer grid is implicit), i.e. bits + 32 / group size bits per weight, exactly HQQ's scale + zero
    point; the decoded levels are within HALF_BOUND of the fit, and the saved file loads bitwise equal."""
    model = _model()
    cfg = deepnets.QuantConfig(theory.Recipe("affine", 3, gain="unbiased"), granularity=granularity, codebook="float16")
    qm, _ = deepnets.quantize(model, cfg)
    nbits = nw = 0
    for name, lq in qm.corrquant.layers.items():
        arrays = lq.book.arrays("w")
        assert not any(k.endswith(".unit") or ".thresholds" in k for k in arrays), (name, list(arrays))
        assert all(a.dtype == np.float16 and a.shape == (lq.fitted.G,) for a in arrays.values()), (name, list(arrays))
        fit = lq.fitted.levels.reshape(lq.fitted.G, -1)
        assert np.all(np.abs(lq.levels() - fit) <= HALF_BOUND * np.max(np.abs(fit), axis=1, keepdims=True))
        nbits += 8 * (packed_nbytes(lq.codes.size, lq.bits) + lq.book.nbytes)
        nw += lq.codes.size
        m = lq.codes.size // lq.fitted.G
        assert 8 * lq.book.nbytes == 32 * lq.fitted.G and lq.codes.size == m * lq.fitted.G
    assert nbits / nw <= 3 + 32 * sum(lq.fitted.G for lq in qm.corrquant.layers.values()) / nw + 8 * len(qm.corrquant.layers) / nw
    path = tmp_path / "a.safetensors"
    deepnets.save(qm, path)
    back = deepnets.load(path, _model())
    for (k, v), (k2, v2) in zip(qm.state_dict().items(), back.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k


def test_affine_recipe_errors():
    with pytest.raises(ValueError, match="offset"):
        theory.Recipe("affine", 2, offset=True)
    with pytest.raises(ValueError, match="affine"):
        theory.Recipe("affine", 2).optimal()
    assert theory.Recipe.from_dict(theory.Recipe("affine", 3, gain="unbiased").to_dict()) == theory.Recipe("affine", 3, gain="unbiased")


def test_the_report_sweeps_the_options_per_group_and_finds_the_smallest_bits():
    """The report's option sweep (report.deepnets_stage.OPTIONS) runs per group on a model defined here; its
    smallest-bits rows carry the granularity, and the affine rows' packed files hold 2 float16 per group."""
    from report import deepnets_stage

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4)).eval()
    x = torch.randn(400, 32)
    y = model(x).argmax(1)
    rows = [r.to_dict() for r in deepnets.sweep(model, deepnets_stage.OPTIONS["methods"], [2, 4], (x, y), "group:16",
                                                 **deepnets_stage.OPTIONS["kw"])]
    q = [r for r in rows if r["method"] == "affine"]
    assert {r["bits"] for r in q} == {2, 4} and all("group" in r["granularity"] for r in q)
    best = deepnets_stage.smallest_bits_within_rows(rows, points=100.0)
    assert {r["method"] for r in best} == set(deepnets_stage.OPTIONS["methods"])
    assert all(r["bits"] == 2 and "group" in r["granularity"] for r in best)
    lean = next(r for r in q if r["bits"] == 2)
    n_w, n_groups = 32 * 64 + 64 * 4, (32 * 64 + 64 * 4) // 16
    assert lean["packed_bytes"] >= n_w * 2 // 8 + 4 * n_groups


def test_the_options_table_renders_from_the_record_fields():
    """The README's options table (report.readme_peers.options_table) reads the stage's option_headline: a
    changed width shows; a record without option rows (before issue 13) renders nothing."""
    from report.readme_peers import options_table

    def row(model, method, bits, ratio):
        return {"model": model, "method": method, "bits": bits, "top1": 90.0, "drop": 0.5, "ratio": ratio,
                "mean_rho": 0.99, "granularity": "x", "options": {"gain": "unbiased", "codebook": "float16"}}

    deep = {"models": ["resnet"], "option_headline": {"channel": [row("resnet", "affine", 3, 9.87)],
                                                      "group:64": [row("resnet", "affine", 4, 7.65)]}}
    text = options_table(deep)
    assert "| affine, channel | affine, group:64 |" in text and "| 3 bits, 9.87x | 4 bits, 7.65x |" in text
    deep["option_headline"]["channel"][0]["bits"] = None
    assert "| - | 4 bits, 7.65x |" in options_table(deep)
    assert options_table({"models": ["resnet"]}) == ""


def test_sweep_with_offset_runs_affine_as_it_is():
    """``sweep(..., offset=True)`` gives offset levels to the rho families; affine (an affine grid already) runs as is."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(50, 16)
    rows = deepnets.sweep(model, ["affine", "uniform"], [2], (x, model(x).argmax(1)), offset=True)
    cfg = {r.method: r.config for r in rows if r.method != "float"}
    assert '"offset": true' in cfg["uniform"] and '"offset"' not in cfg["affine"]
