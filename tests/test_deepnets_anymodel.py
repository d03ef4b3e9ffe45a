"""Any PyTorch model, as a user brings it: folding without tracing, rebuilding from a packed file,
the command line on a model defined here (BatchNorm, control flow in forward, saved as .pth)."""

from __future__ import annotations

import concurrent.futures
import json
import os

import numpy as np
import pytest
import safetensors.numpy
import torch
import torch.nn.functional as F
from torch import nn

from deepnets import models
from deepnets.__main__ import main
from deepnets.folding import batchnorm_pairs, fold_batchnorm
from deepnets.quantize import QuantConfig, quantize
from deepnets.storage import _digest, compression, load, read_packed, save, save_float
from deepnets.sweep import sweep

SPEC = f"{__name__}:ControlNet"  # importable: pytest puts tests/ on sys.path


class ControlNet(nn.Module):
    """Conv-BN, conv-BN, linear-BN1d; its forward checks the input size (torch.fx cannot trace that)."""

    def __init__(self, channels: int = 4, num_classes: int = 3, image_size: int = 8):
        super().__init__()
        self.image_size = image_size
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, 8)
        self.bn3 = nn.BatchNorm1d(8)
        self.out = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got {tuple(x.shape)}")
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        if y.shape[1] > 1:  # more control flow, on a conv output's shape (reads no values)
            y = y.mean(dim=(2, 3))
        return self.out(F.relu(self.bn3(self.fc(y))))


def _randomized(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 2 + 0.1)
    return model.eval()


def _x(n: int = 6, size: int = 8, seed: int = 3) -> torch.Tensor:
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# -- folding -------------------------------------------------------------------------------
def test_tracing_fails_on_this_model_so_folding_must_not_trace():
    import torch.fx

    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(ControlNet())


def test_folding_with_control_flow_leaves_float_outputs_unchanged():
    model = _randomized(ControlNet(), seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _x()
    assert batchnorm_pairs(model, x[:1]) == [("conv1", "bn1"), ("conv2", "bn2"), ("fc", "bn3")]
    folded = fold_batchnorm(model, example_input=x[:1])
    with torch.no_grad():
        err = (folded(x) - model(x)).abs().max().item()
    assert err <= 1e-5, f"folded outputs differ by {err}"
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert folded.corrquant_folded == [["conv1", "bn1"], ["conv2", "bn2"], ["fc", "bn3"]]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # the caller's model is untouched
    explicit = fold_batchnorm(model, pairs=[("conv1", "bn1"), ("conv2", "bn2"), ("fc", "bn3")])  # no sample needed
    assert all(torch.equal(a, b) for a, b in zip(explicit.state_dict().values(), folded.state_dict().values(), strict=True))


def test_folding_needs_a_sample_input_or_a_recorded_shape():
    model = _randomized(ControlNet(), seed=2)
    with pytest.raises(ValueError, match="^example_input"):
        fold_batchnorm(model)
    with pytest.raises(ValueError, match="^example_input.*forward failed"):
        fold_batchnorm(model, example_input=_x(size=5))  # the model's own size check
    with pytest.raises(ValueError, match="^example_input must be"):
        fold_batchnorm(model, example_input="images")
    model.corrquant_input_shape = (1, 8, 8)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fold_batchnorm(model).modules())
    assert fold_batchnorm(nn.Sequential(nn.Linear(3, 3))).corrquant_folded == []  # no BatchNorm: no sample needed


def test_a_plain_sequential_folds_from_its_structure_as_the_sample_pass_finds():
    torch.manual_seed(0)
    shared = nn.BatchNorm2d(4)
    model = _randomized(nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.BatchNorm2d(4), nn.ReLU()),  # nested: still conv -> BN
        nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 1), shared, nn.ReLU(), shared,  # a BatchNorm used twice is not folded
        nn.Flatten(), nn.Linear(4 * 8 * 8, 3)), seed=10)
    want = [("0", "1.0"), ("2", "3")]
    assert batchnorm_pairs(model) == want == batchnorm_pairs(model, _x(1))
    x = _x()
    with torch.no_grad():
        assert (fold_batchnorm(model)(x) - model(x)).abs().max().item() <= 1e-5


def test_bad_explicit_pairs_are_refused():
    model = ControlNet()
    for pairs, match in ([("conv1", "nope")], "BatchNorm2d"), ([("bn1", "bn1")], "not a Conv"), \
                        ([("conv1", "bn3")], "BatchNorm2d"), ([("conv1", "bn1"), ("conv1", "bn1")], "twice"), \
                        ("conv1", "pairs must be"):
        with pytest.raises(ValueError, match=match):
            fold_batchnorm(model, pairs=pairs)


class _Reused(nn.Module):
    """A conv output that BatchNorm reads, and that ``how`` also uses (or only measures)."""

    def __init__(self, how: str):
        super().__init__()
        self.how, self.conv, self.bn = how, nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2)

    def forward(self, x):
        y = self.conv(x)
        if self.how == "add":
            return self.bn(y) + y.mean()
        if self.how == "view":
            return self.bn(y), y.view(-1)
        if self.how == "return":
            return self.bn(y), y
        if self.how == "inplace":
            return self.bn(y.relu_())
        if y.dim() == 4 and y.size(1) == 2 and len(y) == x.shape[0]:  # "shape": no values read
            return self.bn(y)
        raise AssertionError("unreachable")


@pytest.mark.parametrize("how, folds", [("add", False), ("view", False), ("return", False), ("inplace", False),
                                        ("shape", True)])
def test_a_conv_output_read_elsewhere_is_not_folded(how, folds):
    model = _randomized(_Reused(how), seed=4)
    x = _x(2, 4)
    folded = fold_batchnorm(model, example_input=x)
    assert isinstance(folded.bn, nn.Identity) == folds
    with torch.no_grad():
        want, got = model(x.clone()), folded(x.clone())
    for a, b in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_finding_pairs_leaves_the_model_as_it_was():
    model = _randomized(ControlNet(), seed=11).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert len(batchnorm_pairs(model, _x(4))) == 3
    assert all(m.training for m in model.modules())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # running statistics unmoved


def test_a_layer_called_twice_is_not_folded():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x):
            return self.bn(self.conv(self.conv(x)))

    assert batchnorm_pairs(_randomized(Twice(), 5), torch.randn(1, 2, 3, 3)) == []


# -- rebuilding from the file ----------------------------------------------------------------
def test_save_records_module_class_and_kwargs_and_load_rebuilds_folded(tmp_path):
    model = _randomized(ControlNet(channels=5), seed=6)
    model.corrquant_input_shape = (1, 8, 8)
    q, _ = quantize(model, QuantConfig("uniform", 3, fold_bn=True))
    path = tmp_path / "q.safetensors"
    save(q, path, arch={"class": SPEC, "kwargs": {"channels": 5}})
    arch = read_packed(path)[0]["arch"]
    assert arch["class"] == SPEC and arch["kwargs"] == {"channels": 5} and len(arch["folded"]) == 3
    back = load(path)  # nothing given: rebuilt from the file, folded as recorded
    x = _x()
    with torch.no_grad():
        assert torch.equal(back(x), q(x))
    model.corrquant_kwargs = {"channels": 5}  # the attribute instead of arch=
    save(q, tmp_path / "same.safetensors", arch={"class": SPEC, "kwargs": {"channels": 5}})
    q.corrquant_kwargs = {"channels": 5}
    save(q, tmp_path / "attr.safetensors")
    assert (tmp_path / "attr.safetensors").read_bytes() == (tmp_path / "same.safetensors").read_bytes()


def test_nothing_recorded_means_a_model_or_factory_must_be_given(tmp_path):
    model = _randomized(ControlNet(), seed=7)
    q, _ = quantize(model, QuantConfig("minmax", 4))
    save(q, tmp_path / "q.safetensors")  # the class is importable, but its kwargs are unknown
    assert "class" not in read_packed(tmp_path / "q.safetensors")[0]["arch"]
    with pytest.raises(ValueError, match="^model_or_factory.*factory"):
        load(tmp_path / "q.safetensors")
    x = _x()
    with torch.no_grad():
        assert torch.equal(load(tmp_path / "q.safetensors", ControlNet)(x), q(x))
        assert torch.equal(load(tmp_path / "q.safetensors", ControlNet())(x), q(x))
    with pytest.raises(ValueError, match="^model_or_factory: shape of .conv1.weight"):
        load(tmp_path / "q.safetensors", lambda: ControlNet(channels=2))
    with pytest.raises(ValueError, match="^model_or_factory: the factory returned"):
        load(tmp_path / "q.safetensors", lambda: 3)
    for bad in ("os:path", "os.path:join", "no_such_module_xyz:Net", "ControlNet", {"class": SPEC, "extra": 1}):
        with pytest.raises(ValueError, match="^arch"):
            save(q, tmp_path / "bad.safetensors", arch=bad)


def _rewrite_arch(path, arch: dict) -> None:
    """Re-sign a packed file with other arch metadata (the older one-key metadata layout)."""
    meta, tensors = read_packed(path)[0], safetensors.numpy.load_file(str(path))
    meta["arch"] = arch
    mj = json.dumps(meta, sort_keys=True)
    safetensors.numpy.save_file(tensors, str(path), metadata={"corrquant": mj, "sha256": _digest(mj, tensors)})


def test_a_recorded_class_that_is_not_a_module_is_refused_and_old_files_still_load(tmp_path):
    torch.manual_seed(0)
    net = models.build("resnet", "digits").eval()
    q, _ = quantize(net, QuantConfig("lloyd_max", 3, fold_bn=True), arch={"name": "resnet", "dataset": "digits"})
    path = tmp_path / "q.safetensors"
    save(q, path)
    arch = read_packed(path)[0]["arch"]
    assert arch["class"] == "deepnets.models:ResNet" and arch["kwargs"]["image_size"] == 8
    x = _x()
    with torch.no_grad():
        want = q(x)
        assert torch.equal(load(path)(x), want)
        for bad, match in (("collections:OrderedDict", "not a torch.nn.Module"), ("no_such_module_xyz:Net", "cannot import")):
            _rewrite_arch(path, {"class": bad, "kwargs": {}})
            with pytest.raises(ValueError, match=match):
                load(path)
        _rewrite_arch(path, {"name": "resnet", "dataset": "digits"})  # written before classes and folded pairs
        assert torch.equal(load(path)(x), want)


def test_compression_twice_and_concurrently_in_one_directory(tmp_path):
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(64, 32 * (i + 1)), nn.ReLU(), nn.Linear(32 * (i + 1), 10)) for i in range(4)]
    qs = [quantize(n, QuantConfig("uniform", 2 + i))[0] for i, n in enumerate(nets)]
    alone = [compression(n, q, tmp_path) for n, q in zip(nets, qs, strict=True)]
    assert alone[0] == compression(nets[0], qs[0], tmp_path)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda nq: compression(*nq, tmp_path), zip(nets, qs, strict=True)))
    assert together == alone and len({c["packed_bytes"] for c in alone}) == 4
    assert os.listdir(tmp_path) == []


def test_sweep_folds_only_when_asked():
    model = _randomized(ControlNet(), seed=8)
    x, y = _x(16), torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(0))
    rows = sweep({"m": model}, ["uniform"], [3], (x, y))  # no sample shape needed: nothing is folded
    assert rows[1].bn_folded is False and json.loads(rows[1].config)["fold_bn"] is False
    model.corrquant_input_shape = (1, 8, 8)
    assert sweep({"m": model}, ["uniform"], [3], (x, y), fold_bn=True)[1].bn_folded is True


# -- the command line (Must show) -------------------------------------------------------------
def test_a_user_model_saved_as_pth_quantized_by_the_cli_reloads_bitwise(tmp_path, capsys):
    model = _randomized(ControlNet(channels=6, num_classes=10), seed=9)
    torch.save(model.state_dict(), tmp_path / "net.pth")
    out = tmp_path / "net3.safetensors"
    kwargs = {"channels": 6, "num_classes": 10}
    rc = main(["quantize", "--model", str(tmp_path / "net.pth"), "--arch", SPEC, "--arch-kwargs", json.dumps(kwargs),
               "--dataset", "digits", "--method", "lloyd_max", "--bits", "3", "--fold-bn", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    # in process: the same model, the same settings
    model.corrquant_input_shape = (1, 8, 8)
    q, _ = quantize(model, QuantConfig("lloyd_max", 3, fold_bn=True))
    back = load(out)  # rebuilt from the recorded module:Class and kwargs, BatchNorm folded as recorded
    assert type(back) is ControlNet and back.corrquant.arch["kwargs"] == kwargs
    assert set(back.corrquant.layers) == set(q.corrquant.layers) == {"conv1", "conv2", "fc", "out"}
    for name, lq in q.corrquant.layers.items():
        got = back.corrquant.layers[name].dequantize()
        assert got.dtype == lq.dequantize().dtype and np.array_equal(got, lq.dequantize()), name
    want_sd, got_sd = q.state_dict(), back.state_dict()
    assert set(want_sd) == set(got_sd) and all(torch.equal(want_sd[k], got_sd[k]) for k in want_sd)
    x = _x()
    with torch.no_grad():
        assert torch.equal(back(x), q(x))
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--dataset", "digits", "--limit", "20"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 20
    save_float(model, tmp_path / "net.safetensors")  # the same model as safetensors evaluates too
    assert main(["evaluate", "--model", str(tmp_path / "net.safetensors"), "--arch", SPEC, "--arch-kwargs",
                 json.dumps(kwargs), "--dataset", "digits", "--limit", "5"]) == 0
