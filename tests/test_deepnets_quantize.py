"""deepnets.quantize: new model, per-layer report, granularity values, validation."""

import numpy as np
import pytest
import torch
from torch import nn

import theory
from deepnets.quantize import METHODS, PerChannel, PerTensor, QuantConfig, as_granularity, mean_rho, quantize
from _deepnets_models import small_cnn


def bits_for(method):
    return None if method in ("sign", "ternary") else 4


@pytest.mark.parametrize("method", METHODS)
def test_original_untouched_and_weights_are_levels_of_codes(method):
    model = small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qmodel, report = quantize(model, QuantConfig(method, bits_for(method)))
    assert qmodel is not model
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"quantize modified the original model's {k}"
    state = qmodel.corrquant
    assert [r.type for r in report] == ["conv", "depthwise conv", "linear"]
    for name, lq in state.layers.items():
        w = dict(qmodel.named_modules())[name].weight.detach().numpy()
        assert np.array_equal(w, lq.dequantize()), name
        assert lq.codes.shape == w.shape and int(lq.codes.max()) < lq.K
        assert isinstance(lq.quantizer, theory.Quantizer) and lq.quantizer.G == w.shape[0]
        assert lq.fitted.granularity == lq.quantizer.granularity == theory.PerChannel(0)
    # biases and BatchNorm stay float and equal
    assert torch.equal(qmodel[1].running_var, model[1].running_var)
    assert torch.equal(qmodel[6].bias, model[6].bias)


def test_rho_floors_at_4_bits_and_report_fields():
    """rho in real units: 4-bit fits on near-Gaussian weights are above 0.98 (Gaussian 4-bit Lloyd-Max: 0.995)."""
    model = small_cnn()
    rhos = {}
    for method in ("minmax", "uniform", "exponential", "lloyd_max"):
        qm, report = quantize(model, QuantConfig(method, 4))
        for r in report:
            assert r.K == 16 and r.bits == 4 and not r.skipped
            assert r.rho >= 0.98, f"{method} {r.name}: rho={r.rho:.4f} below 0.98"
            # least-squares levels in each channel c: |w_c - q_c|^2 = |w_c|^2 (1 - rho_c^2) exactly; min-max
            # (range scale, no least-squares gain) can only be worse than that bound
            wt = dict(model.named_modules())[r.name].weight
            w = wt.detach().double().numpy().reshape(wt.shape[0], -1)
            q = dict(qm.named_modules())[r.name].weight.detach().double().numpy().reshape(w.shape)
            e2 = np.sum(w * w, axis=1)
            rho_c = np.sum(w * q, axis=1) / np.sqrt(e2 * np.sum(q * q, axis=1))
            bound = float(np.sum(e2 * (1 - rho_c**2)) / np.sum(e2))
            if method == "minmax":
                assert r.rel_mse >= bound * (1 - 1e-9), f"{method} {r.name}: relMSE {r.rel_mse} below the LS bound {bound}"
            else:
                assert r.rel_mse == pytest.approx(bound, rel=1e-6), f"{method} {r.name}: relMSE {r.rel_mse} vs LS {bound}"
        rhos[method] = mean_rho(report)
    assert rhos["lloyd_max"] >= rhos["uniform"] - 1e-3, rhos
    _, rs = quantize(model, QuantConfig("sign"))
    assert all(0.6 < r.rho < 0.95 and r.K == 2 and r.bits == 1 for r in rs), [r.rho for r in rs]
    _, rt = quantize(model, QuantConfig("ternary"))
    assert all(r.K == 3 and r.bits == 2 for r in rt)


def test_per_tensor_has_one_quantizer_and_granularity_values():
    model = small_cnn()
    q, _ = quantize(model, QuantConfig("uniform", 3, PerTensor()))
    assert all(lq.quantizer.G == 1 and lq.axis is None for lq in q.corrquant.layers.values())
    assert as_granularity("tensor") == PerTensor() and as_granularity("channel") == PerChannel(0)
    q2, _ = quantize(model, QuantConfig("uniform", 3, "channel"))
    assert q2.corrquant.config.granularity == PerChannel(0)
    assert q2.corrquant.config.to_dict() == {"method": "uniform", "bits": 3, "K": 8, "granularity": "channel", "skip": [], "fold_bn": False,
                                              "shared_shape": False, "gain": "mse"}
    assert QuantConfig.from_dict(q2.corrquant.config.to_dict()) == q2.corrquant.config


def test_skip_rules():
    model = small_cnn()
    _, r = quantize(model, QuantConfig("minmax", 4, skip=("first", "last")))
    assert [x.skipped for x in r] == [True, False, True] and r[0].reason == "first layer" and r[2].reason == "last layer"
    q, r = quantize(model, QuantConfig("minmax", 4, skip=("3",)))
    assert [x.skipped for x in r] == [False, True, False] and "3" not in q.corrquant.layers
    assert torch.equal(q[3].weight, model[3].weight)
    _, r = quantize(model, QuantConfig("minmax", 4), filter_fn=lambda m, name: not isinstance(m, nn.Linear))
    assert [x.skipped for x in r] == [False, False, True] and r[2].reason == "filter_fn"
    with pytest.raises(ValueError, match="^skip"):
        QuantConfig("minmax", 4, skip=lambda name, m: True)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(method="kmeans", bits=4), "method"),
        (dict(method="uniform", bits=0), "bits"),
        (dict(method="uniform", bits=9), "bits"),
        (dict(method="uniform", bits=4, granularity="row"), "granularity"),
        (dict(method="sign", bits=3), "bits"),
    ],
)
def test_bad_arguments_raise_valueerror_naming_them(kwargs, word):
    with pytest.raises(ValueError, match=word):
        quantize(small_cnn(), QuantConfig(**kwargs))


def test_nan_weights_raise():
    model = small_cnn()
    with torch.no_grad():
        model[6].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        quantize(model, QuantConfig("uniform", 4))


def test_shared_shape_defaults_and_per_channel_gain():
    """Own per-channel shapes for uniform/exponential, shared for Lloyd-Max (compact codebook) unless asked.

    On a layer whose output channels have very different shapes (Gaussian, heavy-tailed,
    uniform, one outlier), every channel's rho with its own shape is >= with the shared one.
    """
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.standard_normal((4, 64)), rng.standard_t(2, (4, 64)) * 0.3,
                        rng.uniform(-2, 2, (4, 64)), rng.standard_normal((4, 64)) * 0.2])
    w[12:, 0] = 3.0
    model = nn.Sequential(nn.Linear(64, 16, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(w).float())
    w32 = model[0].weight.detach().numpy().astype(np.float64)

    def channel_rho(q):
        d = q[0].weight.detach().numpy().astype(np.float64)
        return np.sum(w32 * d, 1) / np.sqrt(np.sum(w32**2, 1) * np.sum(d**2, 1))

    assert QuantConfig("exponential", 3).shared_shape is False and QuantConfig("uniform", 3).shared_shape is False
    assert QuantConfig("lloyd_max", 3).shared_shape is True
    for method in ("uniform", "exponential", "lloyd_max"):
        own, _ = quantize(model, QuantConfig(method, 3, shared_shape=False))
        shared, _ = quantize(model, QuantConfig(method, 3, shared_shape=True))
        gain = channel_rho(own) - channel_rho(shared)
        assert np.min(gain) >= -1e-6, f"{method}: a channel lost {-np.min(gain):.2g} of rho with its own shape"
        if method == "exponential":
            assert np.mean(gain) > 0.003, f"exponential own-shape mean rho gain only {np.mean(gain):.4f}"
    books = quantize(model, QuantConfig("lloyd_max", 3))[0].corrquant.layers["0"].book.levels
    assert books.full is None, "default Lloyd-Max codebook should be one shape times a per-channel scale"


def test_progress_bar_counts_the_quantized_weights_and_changes_nothing(capsys, monkeypatch):
    import importlib

    dq = importlib.import_module("deepnets.quantize")  # the module (deepnets.quantize is also the function's name)
    updates, totals = [], []

    class Recording(dq.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            totals.append(self.total)

        def update(self, n=1):
            updates.append(n)
            return super().update(n)

    monkeypatch.setattr(dq, "tqdm", Recording)
    torch.manual_seed(0)
    net = small_cnn()
    cfg = QuantConfig("uniform", 3, skip=("first",))
    quiet, rep_quiet = quantize(net, cfg)
    assert capsys.readouterr().err == ""  # no bar unless asked
    loud, rep_loud = quantize(net, cfg, progress=True)
    assert "quantize" in capsys.readouterr().err  # the bar, on stderr
    n = sum(r.params for r in rep_loud if not r.skipped)
    assert totals == [n, n] and sum(updates) == 2 * n  # counted in quantized weights (the first layer is skipped)
    for a, b in zip(quiet.parameters(), loud.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [r.rho for r in rep_quiet] == [r.rho for r in rep_loud]
    with pytest.raises(ValueError, match="progress must be a bool"):
        quantize(net, cfg, progress="yes")
