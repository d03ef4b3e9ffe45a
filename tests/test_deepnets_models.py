"""deepnets.models (four families, BatchNorm folding, committed weights), deepnets.train, deepnets.zoo."""

import hashlib
import json

import pytest
import torch
from torch import nn

from deepnets import models, train, zoo
from deepnets.data import get_dataset, load_digits
from deepnets.models import MODELS, WEIGHTS_DIR, build, count_params, fold_batchnorm, load_pretrained

BN_MODELS = ["resnet", "mobilenet"]
#: float top-1 floors of the committed Fashion-MNIST weights (measured on the first 2,000
#: test images; the full-test numbers are in deepnets/weights/*.json).
FASHION_FLOORS = {"mlp": 0.89, "vgg": 0.90, "resnet": 0.91, "mobilenet": 0.89}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dataset, size", [("fashion_mnist", 28), ("digits", 8)])
def test_models_shapes_and_sizes(name, dataset, size):
    torch.manual_seed(0)
    model = build(name, dataset).eval()
    out = model(torch.randn(3, 1, size, size))
    assert out.shape == (3, 10)
    n = count_params(model)
    assert 50_000 <= n <= 500_000, f"{name} on {dataset} has {n} parameters"


def test_build_validates():
    with pytest.raises(ValueError, match="name"):
        build("alexnet")
    with pytest.raises(ValueError, match="dataset"):
        build("mlp", "imagenet")
    with pytest.raises(ValueError, match="image_size"):
        MODELS["vgg"](1, 10, 2)


def test_mobilenet_has_depthwise_convs():
    depthwise = [m for m in build("mobilenet").modules()
                 if isinstance(m, nn.Conv2d) and m.groups == m.in_channels == m.out_channels > 1]
    assert len(depthwise) == len(models.MobileNet.DEFAULT_CONFIG)


def _randomize_batchnorm(model: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.randn(c, generator=g))
                m.bias.copy_(torch.randn(c, generator=g) * 0.3)


@pytest.mark.parametrize("name", BN_MODELS)
@pytest.mark.parametrize("dataset, size", [("fashion_mnist", 28), ("digits", 8)])
def test_fold_batchnorm_preserves_eval_outputs(name, dataset, size):
    torch.manual_seed(1)
    model = build(name, dataset)
    _randomize_batchnorm(model, seed=2)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model)
    x = torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        err = (folded(x) - model(x)).abs().max().item()
    assert err <= 1e-5, f"folded outputs differ by {err}"
    assert n_bn > 0 and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules()), "every BatchNorm folded"
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k]), k
    assert not torch.equal(folded.state_dict()["conv1.weight" if name == "resnet" else "features.0.0.weight"],
                           before["conv1.weight" if name == "resnet" else "features.0.0.weight"])


def test_fold_batchnorm_leaves_models_without_batchnorm_alone():
    torch.manual_seed(0)
    model = build("vgg", "digits").eval()
    folded = fold_batchnorm(model)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(folded(x), model(x))


def test_fold_batchnorm_skips_a_conv_whose_output_is_also_used_elsewhere():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    model = Branchy()
    _randomize_batchnorm(model, seed=0)
    model.eval()
    x = torch.randn(1, 1, 4, 4)
    folded = fold_batchnorm(model, example_input=x)
    assert isinstance(folded.bn, nn.BatchNorm2d)
    torch.testing.assert_close(folded(x), model(x))


# -- committed weights -------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_digits_weights_reproduce_logged_accuracy(name):
    model = load_pretrained(name, "digits")
    log = json.loads((WEIGHTS_DIR / f"{name}_digits.json").read_text())
    acc = train.top1(model, load_digits("test"))
    assert acc == pytest.approx(log["test_top1"], abs=1e-9), (acc, log["test_top1"])
    assert acc >= 0.9, f"{name} on digits: {acc}"


@pytest.fixture(scope="module")
def fashion_test_head():
    try:
        images, labels = get_dataset("fashion_mnist", "test").tensors
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return images[:2000], labels[:2000]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_fashion_weights_accuracy_floor(name, fashion_test_head):
    model = load_pretrained(name, "fashion_mnist")
    acc = train.top1(model, fashion_test_head)
    assert acc >= FASHION_FLOORS[name], f"{name} on Fashion-MNIST (2,000 test images): {acc}"
    log = json.loads((WEIGHTS_DIR / f"{name}_fashion_mnist.json").read_text())
    assert log["test_top1"] >= FASHION_FLOORS[name] and len(log["history"]) == log["epochs"]


def test_committed_weights_metadata():
    from safetensors import safe_open

    for name in MODELS:
        for dataset in ("digits", "fashion_mnist"):
            with safe_open(str(models.weights_path(name, dataset)), framework="pt") as f:
                meta = f.metadata()
            assert meta["model"] == name and meta["dataset"] == dataset and meta["seed"] == "0"
            assert float(meta["test_top1"]) > 0.8 and len(meta["git_commit"]) == 40


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mlp_digits.safetensors"):
        load_pretrained("mlp", "digits", weights_dir=tmp_path)
    (tmp_path / "mlp_digits.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ValueError, match="mlp_digits.safetensors"):
        load_pretrained("mlp", "digits", weights_dir=tmp_path)
    from safetensors.torch import save_file

    save_file(build("vgg", "digits").state_dict(), str(tmp_path / "mlp_digits.safetensors"))
    with pytest.raises(ValueError, match="missing"):
        load_pretrained("mlp", "digits", weights_dir=tmp_path)
    state = build("mlp", "fashion_mnist").state_dict()
    save_file(state, str(tmp_path / "mlp_digits.safetensors"))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_pretrained("mlp", "digits", weights_dir=tmp_path)


# -- training ----------------------------------------------------------------------------
def test_train_is_deterministic_and_saves_round_trip(tmp_path):
    kw = dict(epochs=2, progress=False)
    m1, log1 = train.train("mlp", "digits", seed=5, **kw)
    m2, _ = train.train("mlp", "digits", seed=5, **kw)
    m3, _ = train.train("mlp", "digits", seed=6, **kw)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1), "same seed, same weights"
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert log1["history"][-1]["loss"] < log1["history"][0]["loss"]
    assert {"test_top1", "wall_time_s", "torch_version", "git_commit"} <= set(log1)
    weights, log_path = train.save(m1, log1, tmp_path)
    assert weights.name == "mlp_digits.safetensors" and log_path.name == "mlp_digits.json"
    loaded = load_pretrained("mlp", "digits", weights_dir=tmp_path)
    assert all(torch.equal(v, s1[k]) for k, v in loaded.state_dict().items())


def test_train_cli_writes_files(tmp_path):
    train.main(["--model", "mlp", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    log = json.loads((tmp_path / "mlp_digits.json").read_text())
    assert log["epochs"] == 1 and (tmp_path / "mlp_digits.safetensors").is_file()


def test_train_validates():
    with pytest.raises(ValueError, match="epochs"):
        train.train("mlp", "digits", epochs=0)
    with pytest.raises(ValueError, match="name"):
        train.train("lenet", "digits", epochs=1)


# -- zoo: torchvision-compatible ResNets ---------------------------------------------------
#: sha256 of repr([(key, shape), ...]) of torchvision 0.28.0's resnet18()/resnet50()
#: state_dict, computed from torchvision/models/resnet.py of the 0.28.0 wheel.
TORCHVISION_KEYS_SHA256 = {
    "resnet18": "9682c6fd405d8d701ab48875427c1aae63e06927fe09b4b1f8d66f5cc28da7d3",
    "resnet50": "f398fe5f16a958c815e2e2a8a6359aa7364268391e2d346b12b97b523d9b02f0",
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS_SHA256))
def test_resnet_state_dict_matches_torchvision_names_and_shapes(name):
    model = zoo.OWN_MODELS[name]()
    keys = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert keys[0] == ("conv1.weight", (64, 3, 7, 7)) and keys[-1][0] == "fc.bias"
    assert hashlib.sha256(repr(keys).encode()).hexdigest() == TORCHVISION_KEYS_SHA256[name]


def test_resnet50_shaped_size_and_seeding():
    state = torch.get_rng_state()
    a = zoo.resnet50_shaped(0)
    assert torch.equal(torch.get_rng_state(), state), "global RNG untouched"
    assert zoo.count_params(a) == 25_557_032
    b, c = zoo.resnet50_shaped(0), zoo.resnet50_shaped(1)
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)


def test_resnet_loads_pth_and_safetensors_and_refuses_pickled_code(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = zoo.resnet18(num_classes=10)
    torch.save(src.state_dict(), tmp_path / "w.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "wrapped.pth")
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "w.safetensors"))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = src.eval()(x)
        for f in ("w.pth", "wrapped.pth", "w.safetensors"):
            torch.testing.assert_close(zoo.resnet18(tmp_path / f, num_classes=10)(x), want, rtol=0, atol=0)
    torch.save({"conv1.weight": torch.zeros(1), "evil": zoo.ResNet}, tmp_path / "pickled.pth")
    with pytest.raises(ValueError, match="pickled.pth"):
        zoo.resnet18(tmp_path / "pickled.pth", num_classes=10)
    with pytest.raises(ValueError, match="shape mismatch"):
        zoo.resnet18(tmp_path / "w.pth")  # 10-class file into a 1000-class model


def test_topk_accuracy_on_synthetic_imagefolder(tmp_path):
    from PIL import Image

    names = [f"class{i}" for i in range(6)]
    for i, c in enumerate(names):
        (tmp_path / c).mkdir()
        for j in range(2):
            Image.new("RGB", (36, 36), (40 * i, 10 * j, 0)).save(tmp_path / c / f"{j}.png")
    ds = zoo.imagefolder(tmp_path, image_size=32)

    class RedReader(nn.Module):
        """Knows the answer: the class is in the red channel; ranks the true class 1st."""

        def forward(self, x):
            red = x[:, 0].mean(dim=(1, 2)) * zoo.IMAGENET_STD[0] + zoo.IMAGENET_MEAN[0]
            label = torch.round(red * 255 / 40)
            return -(torch.arange(6.0) - label[:, None]).abs()

    assert zoo.topk_accuracy(RedReader(), ds, ks=(1, 5)) == {1: 1.0, 5: 1.0}
    torch.manual_seed(0)
    acc = zoo.topk_accuracy(zoo.resnet18(num_classes=6), ds, ks=(1, 5), batch_size=4)
    assert 0 <= acc[1] <= acc[5] <= 1
    with pytest.raises(ValueError, match="ks"):
        zoo.topk_accuracy(RedReader(), ds, ks=(7,))


def test_torchvision_model_explains_how_to_install_when_missing():
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ImportError, match="pip install"):
            zoo.torchvision_model("resnet18")
    else:
        model = zoo.torchvision_model("resnet18")
        own = [(k, tuple(v.shape)) for k, v in zoo.resnet18().state_dict().items()]
        assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == own


def test_fold_batchnorm_on_torchvision_named_resnet18():
    torch.manual_seed(0)
    model = zoo.resnet18(num_classes=10)
    _randomize_batchnorm(model, seed=4)
    model.eval()
    assert len(models.batchnorm_pairs(model)) == 20  # 17 convs + 3 downsample convs
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want, got = model(x), fold_batchnorm(model)(x)
    rel = ((got - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, f"relative error {rel}"
