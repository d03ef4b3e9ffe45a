"""Config-first deepnets.quantize: one config, a recipe, or a mapping (mixed precision); group-wise storage."""

import numpy as np
import pytest
import torch
from torch import nn

import theory
from _deepnets_models import small_cnn
from deepnets.quantize import QuantConfig, quantize
from deepnets.storage import load, read_packed, save


def test_config_and_loose_arguments_together_is_an_error():
    with pytest.raises(ValueError, match="give every setting in the config"):
        quantize(small_cnn(), QuantConfig("uniform", 3), 4)
    with pytest.raises(ValueError, match="give every setting in the config"):
        quantize(small_cnn(), "uniform", bits=3)
    with pytest.raises(ValueError, match="^config must be"):
        quantize(small_cnn(), "uniform")
    with pytest.raises(ValueError, match="not both"):
        QuantConfig(theory.Recipe("uniform", bits=3), 4)


def test_a_recipe_is_per_output_channel():
    m = small_cnn()
    a, ra = quantize(m, theory.Recipe("exponential", bits=3))
    b, rb = quantize(m, QuantConfig("exponential", 3, "channel"))
    for x, y in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(x, y)
    assert [r.rho for r in ra] == [r.rho for r in rb]


def test_mapping_gives_each_layer_its_own_recipe_and_round_trips(tmp_path):
    m = small_cnn()
    names = [n for n, mod in m.named_modules() if isinstance(mod, nn.Conv2d | nn.Linear)]
    config = {names[0]: None, names[1]: theory.Recipe("uniform", bits=4), "*": QuantConfig("lloyd_max", 2, "tensor")}
    q, report = quantize(m, config)
    assert [r.skipped for r in report] == [True, False, False]
    assert report[0].reason == f"{names[0]!r} maps to None"
    assert (report[1].bits, report[1].K, report[2].bits, report[2].K) == (4, 16, 2, 4)  # each layer its own width
    assert report[2].granularity == "tensor" and report[1].granularity == "channel"
    assert torch.equal(dict(q.named_modules())[names[0]].weight, dict(m.named_modules())[names[0]].weight)
    save(q, tmp_path / "mixed.safetensors")
    back = load(tmp_path / "mixed.safetensors", small_cnn())
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back.eval()(x), q.eval()(x))
    assert back.corrquant.config == q.corrquant.config
    with pytest.raises(ValueError, match="fold_bn"):
        quantize(m, {"a*": QuantConfig("uniform", 3, fold_bn=True), "*": QuantConfig("uniform", 3)})
    with pytest.raises(ValueError, match="patterns"):
        quantize(m, {3: QuantConfig("uniform", 3)})


@pytest.mark.parametrize("size", [4, 8, 64])
def test_per_group_quantize_store_and_load_bitwise(tmp_path, size):
    """PerGroup(size): one codebook row per group of `size` consecutive weights of a channel (the tail shorter)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))
    cfg = QuantConfig("uniform", 2, theory.PerGroup(size))
    q, report = quantize(m, cfg)
    lq = q.corrquant.layers["0"]
    assert lq.quantizer.G == 16 * -(-40 // size) and lq.granularity == theory.PerGroup(size)
    # each group's weights take only that group's levels
    w = q[0].weight.detach().numpy()
    rows = theory.PerGroup(size).rows(w)
    lens = theory.PerGroup(size).group_lengths(w.shape)
    for g in range(lq.quantizer.G):
        assert set(np.unique(rows[g, : lens[g]])) <= set(lq.levels()[g].tolist())
    # finer groups fit better than one quantizer per channel
    per_channel = quantize(m, QuantConfig("uniform", 2))[1]
    if size < 40:
        assert report[0].rho > per_channel[0].rho
    sizes = save(q, tmp_path / "g.safetensors")
    _, layers, _ = read_packed(tmp_path / "g.safetensors")
    assert layers["0"].quantizer == lq.quantizer
    assert sizes["codebooks"] == sum(lq_.book.nbytes for lq_ in q.corrquant.layers.values())
    back = load(tmp_path / "g.safetensors", nn.Sequential(nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10)))
    x = torch.randn(3, 40)
    assert torch.equal(back(x), q(x))
