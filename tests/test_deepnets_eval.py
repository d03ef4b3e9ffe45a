"""deepnets.evaluate / sweep: accuracy in real units on a small digits model trained here (seeded)."""

import math
import os

import pytest
import torch
from torch import nn

from deepnets import data
from deepnets.baselines import BASELINES
from deepnets.evaluate import evaluate
from deepnets.quantize import QuantConfig, quantize
from deepnets.plots import per_model_figure, plot_accuracy_vs_bits, plot_accuracy_vs_rho
from deepnets.records import Sweep, SweepRow
from deepnets.sweep import smallest_bits_within, sweep, write_csv
from report import deepnets_stage


def _train_digits_mlp():
    """Fallback when the committed weights are missing: a 64-64-10 MLP, 60 full-batch Adam steps, seed 0."""
    x, y = data.get_dataset("digits", "train").tensors
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _digits_model(arch):
    try:
        from deepnets import models

        return models.load_pretrained(arch, "digits")
    except (ImportError, FileNotFoundError):
        if arch != "mlp":
            pytest.skip(f"no committed {arch}_digits weights")
        return _train_digits_mlp()


@pytest.fixture(scope="module")
def digits_model():
    """The committed digits MLP (deepnets/weights), or one trained here if it is missing."""
    return _digits_model("mlp"), data.get_dataset("digits", "test")


def test_evaluate_counts_exactly():
    """Logits = one-hot of a known prediction: top-1 is the share of matches, top-5 counts ranks."""
    logits = torch.tensor([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [0, 0, 0, 0, 0, 9]])
    labels = torch.tensor([0, 0, 5, 5])
    model = nn.Identity()
    r = evaluate(model, (logits, labels), batch_size=3, progress=False)
    assert r == {"top1": 50.0, "top5": 50.0, "n": 4}  # row 1: label 0 ranks 6th; row 2: label 5 ranks 6th
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, (logits, labels), batch_size=0)


def test_float_model_is_good(digits_model):
    model, test = digits_model
    acc = evaluate(model, test, progress=False)
    assert acc["top1"] > 90.0, f"digits MLP top-1 only {acc['top1']:.2f}%"


@pytest.mark.parametrize("arch", ["mlp", "vgg"])
@pytest.mark.parametrize("method", ["minmax", "uniform", "exponential", "lloyd_max"])
def test_8_bits_keeps_accuracy_within_half_a_point(arch, method):
    model, test = _digits_model(arch), data.get_dataset("digits", "test")
    ref = evaluate(model, test, progress=False)["top1"]
    q, _ = quantize(model, QuantConfig(method, 8))
    drop = ref - evaluate(q, test, progress=False)["top1"]
    assert drop <= 0.5, f"{arch} {method} at 8 bits drops {drop:.2f} points (float {ref:.2f}%)"


def test_sweep_table_files_and_headline(digits_model, tmp_path):
    model, test = digits_model
    state = torch.random.get_rng_state()
    rows = sweep({"mlp": model}, ["minmax", "exponential", "sign", *BASELINES], [2, 4, 8], test, "channel")
    assert torch.equal(torch.random.get_rng_state(), state)  # no global seeding
    assert isinstance(rows, Sweep) and not rows.interrupted and all(isinstance(r, SweepRow) for r in rows)
    assert Sweep.from_dict(rows.to_dict()) == rows
    rows = [r.to_dict() for r in rows]
    methods = [(r["method"], r["bits"]) for r in rows]
    assert methods[0] == ("float", 32) and ("sign", 1) in methods and ("torch_int8_channel", 8) in methods
    assert len(rows) == 1 + 3 + 3 + 1 + len(BASELINES)
    for r in rows[1:]:
        assert math.isclose(r["ratio"], r["float_bytes"] / r["packed_bytes"]), r
        assert 0 < r["mean_rho"] <= 1
    four = {r["method"]: r for r in rows if r["bits"] == 4}
    # a 4.8k-parameter model (64 inputs per channel): header and per-channel scale/zero point weigh
    assert four["minmax"]["ratio"] > 3.0, f"4-bit packed file only {four['minmax']['ratio']:.2f}x smaller than float32"
    assert 4.5 < four["minmax"]["bound_ratio"] < 8.0, four["minmax"]["bound_ratio"]
    assert 5.5 < four["exponential"]["bound_ratio"] < 8.0, four["exponential"]["bound_ratio"]
    best = {b["method"]: b for b in smallest_bits_within(rows, 1.0)}
    assert best["minmax"]["bits"] in (4, 8) and best["minmax"]["drop"] <= 1.0
    h = deepnets_stage.headline(rows)
    assert set(h["exponential_vs_minmax"]) == {"mlp@4bits"}
    (tmp_path / "t.md").write_text(deepnets_stage.to_markdown(rows))
    for f in (write_csv(rows, tmp_path / "t.csv"), tmp_path / "t.md",
              per_model_figure(rows, plot_accuracy_vs_bits, tmp_path / "a.png"),
              per_model_figure(rows, plot_accuracy_vs_rho, tmp_path / "b.png")):
        assert os.path.getsize(f) > 100
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plot_accuracy_vs_bits(rows, ax, "mlp") is ax and ax.get_ylabel() == "top-1 accuracy (%)"
    plt.close(fig)


def test_an_interrupted_sweep_returns_the_rows_done(digits_model, monkeypatch):
    import importlib

    sw = importlib.import_module("deepnets.sweep")  # the module (the package's attribute is the function)
    model, test = digits_model
    calls = []
    real = sw.quantize

    def quantize_then_stop(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(sw, "quantize", quantize_then_stop)
    rows = sweep({"mlp": model}, ["minmax"], [2, 4], test)
    assert rows.interrupted and [(r.method, r.bits) for r in rows] == [("float", 32), ("minmax", 2)]
    assert Sweep.from_dict(rows.to_dict()) == rows


def test_smallest_bits_within_on_a_constructed_table():
    base = {"model": "m", "ratio": 1.0, "mean_rho": 1.0, "top5": 0, "dataset": "d", "granularity": "channel",
            "bn_folded": False, "packed_bytes": 1, "float_bytes": 1, "bound_ratio": 1.0, "n": 100, "float_top1": 90.0,
            "config": "", "layer_rho": "{}"}
    t = [SweepRow(**base, method="float", bits=32, top1=90.0, drop=0.0)]
    t += [SweepRow(**{**base, "ratio": 32 / b}, method="a", bits=b, top1=90 - d, drop=d) for b, d in [(2, 5.0), (3, 1.0), (4, 0.2)]]
    t += [SweepRow(**base, method="b", bits=2, top1=80.0, drop=10.0)]
    best = {b["method"]: b for b in smallest_bits_within(t, 1.0)}
    assert best["a"]["bits"] == 3 and best["a"]["ratio"] == pytest.approx(32 / 3)
    assert best["b"]["bits"] is None
    assert {b["method"]: b["bits"] for b in smallest_bits_within(t, 0.5)}["a"] == 4
    with pytest.raises(ValueError, match="points"):
        smallest_bits_within(t, -1)


def test_sweep_rejects_bad_arguments(digits_model):
    model, test = digits_model
    with pytest.raises(ValueError, match="methods"):
        sweep({"m": model}, ["kmeans"], [4], test)
    with pytest.raises(ValueError, match="bits"):
        sweep({"m": model}, ["uniform"], [9], test)


def test_report_section_plumbing(tmp_path, monkeypatch):
    """The report's deepnets stage on a stand-in registry (two linear models) so the test does not wait for trained weights."""
    import sys
    import types

    import deepnets

    def load_pretrained(name, dataset):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(len(name))
            return nn.Sequential(nn.Flatten(), nn.Linear({"fashion_mnist": 784, "digits": 64}[dataset], 10)).eval()

    from deepnets import models as real  # the stand-in keeps the real helpers storage imports (rebuild records)

    fake = types.SimpleNamespace(MODELS={"lin_a": None, "lin_b": None, "lin_c": None}, load_pretrained=load_pretrained,
                                 rebuild_record=real.rebuild_record)
    monkeypatch.setitem(sys.modules, "deepnets.models", fake)
    monkeypatch.setattr(deepnets, "models", fake, raising=False)
    out = deepnets_stage.section(quick=True, out_dir=tmp_path)
    assert out["models"] == ["lin_a", "lin_b"] and out["dataset"] in ("fashion_mnist", "digits")
    assert all(os.path.getsize(f) > 1000 for f in out["figures"])
    assert {r["method"] for r in out["rows"]} >= {"float", "minmax", "exponential", "torch_int8_channel"}
    assert len(out["headline"]["smallest_bits_within"]) == 2 * (6 + len(BASELINES))
    assert isinstance(out["headline"]["exponential_beats_minmax_at_3_4_bits"], bool)
