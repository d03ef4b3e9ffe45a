"""Bad and edge inputs: each gives a clear ValueError naming the argument, or a correct result (never a silent wrong answer).

One row per class of bad input (theory's quantizers and fits, hopfield's sizes and specs,
deepnets' evaluation and files, the report's command line); each row asserts the error type
and that the message names the argument.  Sizes that cannot run are refused before anything
is compiled or allocated, so those rows take milliseconds.  A hypothesis property closes the
file: for finite inputs no public formula returns NaN.
"""

import json
import os
import struct
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hopfield
import theory
from _deepnets_models import small_cnn
from deepnets.evaluate import evaluate
from deepnets.quantize import QuantConfig, quantize
from deepnets.storage import _digest, load, pack, packed_nbytes, read_packed, save
from deepnets.sweep import sweep
from report import __main__ as report_cli
from report import pipeline

KEY = jax.random.key(0)
IMAGES = torch.linspace(-2, 2, 4 * 64).reshape(4, 1, 8, 8)
LABELS = torch.tensor([0, 1, 2, 3])
Q = theory.make("uniform", 4, "gaussian")
QG = theory.fit(np.random.default_rng(0).standard_normal((3, 8)), "uniform", bits=2, granularity=theory.PerChannel(0))
NAN = np.array([0.1, np.nan, -0.3])

RAISES = [
    # (what, call, message regex) -- the regex starts with the argument's name
    ("NaN into q(x), numpy", lambda: Q(NAN), r"^x contains NaN"),
    ("NaN into q.encode, numpy", lambda: Q.encode(NAN), r"^x contains NaN"),
    ("NaN into q(x), torch", lambda: Q(torch.from_numpy(NAN)), r"^x contains NaN"),
    ("NaN into q(x), JAX", lambda: Q(jnp.asarray(NAN, dtype=jnp.float32)), r"^x contains NaN"),
    ("NaN into a grouped q", lambda: QG(np.full((3, 8), np.nan)), r"^x contains NaN"),
    ("complex into q(x)", lambda: Q(np.array([1 + 2j])), r"^x must be an array of real numbers"),
    ("complex torch into q(x)", lambda: Q(torch.tensor([1 + 2j])), r"^x must hold real numbers"),
    ("strings into q(x)", lambda: Q(np.array(["0.5"])), r"^x must be an array of real numbers"),
    ("None into q(x)", lambda: Q(None), r"^x must be an array of real numbers"),
    ("float codes into decode", lambda: Q.decode(np.array([0.7, 1.2])), r"^codes must be integers"),
    ("out-of-range torch codes", lambda: Q.decode(torch.tensor([0, 9])), r"^codes must lie in 0\.\.3"),
    ("out-of-range JAX codes", lambda: Q.decode(jnp.array([0, 9])), r"^codes must lie in 0\.\.3"),
    ("float JAX codes", lambda: Q.decode(jnp.array([0.5])), r"^codes must be integers"),
    ("complex into fit", lambda: theory.fit(np.array([1 + 1j, 2.0]), "uniform", bits=2), r"^x must be an array of real numbers"),
    ("strings into fit", lambda: theory.fit(["1", "2"], "uniform", bits=2), r"^x must be an array of real numbers"),
    ("None into fit", lambda: theory.fit(None, "uniform", bits=2), r"^x must be an array of real numbers"),
    ("overflowing values into fit", lambda: theory.fit(np.array([1e308, -1e308]) * 10, "uniform", bits=2), r"^x contains Inf"),
    ("rho of arrays of different shapes", lambda: theory.rho(np.ones((2, 3)), np.ones((3, 2))), r"^w and qw must have the same shape"),
    ("rho of an all-zero array", lambda: theory.rho(np.zeros(4), np.ones(4)), r"^rho is undefined when w is all zero"),
    ("rho of strings", lambda: theory.rho(["a"], ["b"]), r"^w must be an array of real numbers"),
    ("lloyd_max with 2**16 levels", lambda: theory.lloyd_max(2**16), r"^K=65536 is too many levels for lloyd_max"),
    ("Recipe lloyd_max with 16 bits", lambda: theory.Recipe("lloyd_max", bits=16), r"^K=65536 is too many levels"),
    ("non-integer K in a spec", lambda: theory.as_recipe(("uniform", 2.7)), r"^K in the spec"),
    ("predicted capacity at rho 1e-200", lambda: theory.predicted_capacity(1e-200), r"^rho=1e-200 is too small"),
    ("overlap at rho 1e-200", lambda: theory.overlap(0.1, 1e-200), r"^rho=1e-200 is too small"),
    ("static noise at rho 1e-200", lambda: theory.synaptic_noise(1e-200), r"^rho=1e-200 is too small"),
    ("PerChannel(5) on a 2-D weight", lambda: quantize(nn.Sequential(nn.Linear(4, 3)), QuantConfig("uniform", 2, theory.PerChannel(5))),
     r"^axis 5 is out of range"),
    ("packed_nbytes of a negative count", lambda: packed_nbytes(-5, 4), r"^n must be a non-negative integer"),
    ("pack float codes", lambda: pack(np.array([0.5, 1.7]), 2), r"^codes must be integers"),
    # hopfield: sizes that cannot run are refused up front, naming the sizes and the limit
    ("capacity_scan with N=10**6 (hours of work)", lambda: hopfield.capacity_scan(10**6, [10], key=KEY),
     r"^N=1000000, trials=20, .*needs at least .* operations, more than the limit 1e\+12"),
    ("capacity_scan with p=10**9 (a trace of 31M words)", lambda: hopfield.capacity_scan(100, [10**9], key=KEY),
     r"^pattern_counts up to p=1000000000 unroll 31250000 32-bit words .* more than the limit 1024"),
    ("capacity_scan with trials=10**9", lambda: hopfield.capacity_scan(100, [10], key=KEY, trials=10**9),
     r"^N=100, trials=1000000000, .*needs about .*B of memory, more than the limit"),
    ("random_patterns(10**6, 10**6)", lambda: hopfield.random_patterns(10**6, 10**6, key=KEY),
     r"^p=1000000, N=1000000: random_patterns needs about 8\.19 TiB of memory, more than the limit"),
    ("retrieval with N=2**31", lambda: hopfield.retrieval(2**31, [0.1], key=KEY, progress=False),
     r"^N=2147483648 .*retrieval needs about .* of memory, more than the limit"),
    ("retrieval with N=10**6", lambda: hopfield.retrieval(10**6, [0.1], "sign", key=KEY, progress=False),
     r"^N=1000000 .*retrieval needs about .* of memory, more than the limit"),
    ("measure_capacity with N=10**6", lambda: hopfield.measure_capacity(10**6, key=KEY, progress=False),
     r"^N=1000000 .*needs about .* of memory, more than the limit"),
    ("finite_size with a last size of 10**6 (refused before the small sizes run)",
     lambda: hopfield.finite_size([64, 10**6], key=KEY, progress=False),
     r"^N=1000000 .*finite_size needs about .* of memory, more than the limit"),
    ("basins with N=10**6", lambda: hopfield.basins(10**6, 0.1, key=KEY, progress=False),
     r"^N=1000000 .*basins needs about .* of memory, more than the limit"),
    ("hebbian of 10**6 neurons", lambda: hopfield.hebbian(np.ones((1, 10**6))),
     r"^patterns with N=1000000 neurons: hebbian's 1000000x1000000 weight matrix needs about"),
    ("non-integer K in a hopfield spec", lambda: hopfield.quantize(np.array([[0.0, 1.0], [1.0, 0.0]]), ("uniform", 2.7)),
     r"^quantizer must be .*K in the spec \(method, K\) must be an integer, got 2\.7"),
    ("non-integer K in a retrieval spec", lambda: hopfield.retrieval(20, [0.1], ("uniform", 2.7), key=KEY, progress=False),
     r"^quantizer must be .*must be an integer, got 2\.7"),
    ("retrieval criterion 'foo'", lambda: hopfield.retrieval(20, [0.1], key=KEY, criterion="foo", progress=False),
     r"^criterion must be 'exact' or an overlap in \[-1, 1\], got 'foo'"),
    ("finite float64 W beyond float32", lambda: hopfield.quantize(np.array([[0.0, 1e300], [1e300, 0.0]]), "sign"),
     r"^W has entries up to 1e\+300, beyond float32's range"),
    # deepnets.evaluate: labels, NaN images, images of the wrong size
    ("labels outside the classes", lambda: evaluate(small_cnn(), (IMAGES, torch.tensor([0, 1, 2, 10])), progress=False),
     r"^data: labels must lie in 0\.\.9 \(the model's 10 classes\), got labels from 0 to 10"),
    ("negative labels", lambda: evaluate(small_cnn(), (IMAGES, torch.tensor([0, -1, 2, 3])), progress=False),
     r"^data: labels must lie in 0\.\.9"),
    ("float labels", lambda: evaluate(small_cnn(), (IMAGES, torch.tensor([0.0, 1.0, 2.0, 3.0])), progress=False),
     r"^data: labels must be integer class indices"),
    ("NaN images", lambda: evaluate(small_cnn(), (IMAGES.masked_fill(IMAGES > 1.5, float("nan")), LABELS), progress=False),
     r"^data: images contain NaN or Inf"),
    ("integer images", lambda: evaluate(small_cnn(), (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), LABELS), progress=False),
     r"^data: images must be floating point"),
    ("images of the wrong size", lambda: evaluate(small_cnn(), (torch.zeros(4, 1, 28, 28), LABELS), progress=False),
     r"^data: images of shape \(4, 1, 28, 28\) do not fit the model"),
    ("images with the wrong channels", lambda: evaluate(small_cnn(), (torch.zeros(4, 3, 8, 8), LABELS), progress=False),
     r"^data: images of shape \(4, 3, 8, 8\) do not fit the model, which takes \(n, 1, H, W\) images"),
    # report: the seed of run_report (the command line's one-line errors are tested below)
    ("run_report with seed -1", lambda: pipeline.run_report("/nonexistent/never", quick=True, seed=-1, stages=["theory"]),
     r"^seed must be an integer in 0\.\.4294967295, got -1"),
]


@pytest.mark.parametrize("what, call, match", RAISES, ids=[r[0] for r in RAISES])
def test_bad_input_is_a_value_error_naming_the_argument(what, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_quantizer_does_not_freeze_the_callers_arrays():
    t, c = np.array([-1.0, 0.0, 1.0]), np.array([-2.0, -0.5, 0.5, 2.0])
    theory.Quantizer(t, c)
    assert t.flags.writeable and c.flags.writeable
    t[0] = -3.0  # and the quantizer did not alias them
    assert theory.Quantizer(np.array([-1.0, 0.0, 1.0]), c) != theory.Quantizer(t, c)


def test_integer_inputs_follow_one_rule_on_every_backend():
    """Integers are promoted to the backend's float (never truncating thresholds): same values everywhere."""
    x = [-2, 0, 1, 2]
    want = Q(np.array(x, dtype=np.float64))
    np.testing.assert_array_equal(Q(np.array(x)), want)
    np.testing.assert_array_equal(Q(torch.tensor(x)).numpy(), want)
    np.testing.assert_array_equal(np.asarray(Q(jnp.array(x))), want.astype(np.float32))
    assert Q(torch.tensor(x)).dtype == torch.float64


def test_under_jit_nan_propagates_and_bad_codes_decode_to_nan():
    """A traced value cannot raise: NaN in gives NaN out (code -1), an out-of-range code decodes to NaN, never a level."""
    x = jnp.asarray(NAN, dtype=jnp.float32)
    out = np.asarray(jax.jit(Q)(x))
    assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2]]))
    assert int(np.asarray(jax.jit(Q.encode)(x))[1]) == -1
    dec = np.asarray(jax.jit(Q.decode)(jnp.array([0, 9, -1])))
    assert dec[0] == np.float32(Q.levels[0]) and np.isnan(dec[1]) and np.isnan(dec[2])


@pytest.mark.parametrize("scale", [1e-170, 1e200])
def test_extreme_scales_fit_and_rho_like_unit_scale(scale):
    w = np.random.default_rng(1).standard_normal(2000)
    q1 = theory.fit(w, "exponential", bits=3)
    qs = theory.fit(w * scale, "exponential", bits=3)
    assert theory.rho(w * scale, qs) == pytest.approx(theory.rho(w, q1), abs=1e-9)
    assert theory.rho(w * scale, q1(w) * scale) == pytest.approx(theory.rho(w, q1(w)), abs=1e-12)


def test_fit_takes_a_tensor_that_requires_grad():
    w = torch.randn(64, requires_grad=True)
    q = theory.fit(w, "uniform", bits=2)
    assert q == theory.fit(w.detach().numpy(), "uniform", bits=2)


def test_all_zero_layer_decodes_to_zero_with_rho_one_and_no_error():
    m = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with torch.no_grad():
        m[0].weight.zero_()
    for method in ("uniform", "exponential", "lloyd_max", "minmax", "sign"):
        q, rep = quantize(m, QuantConfig(method, None if method == "sign" else 2))
        assert torch.equal(q[0].weight, torch.zeros(3, 4)), method
        assert rep[0].rho == 1.0 and rep[0].rel_mse == 0.0, (method, rep[0])


def _header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def test_same_model_same_file_bytes(tmp_path):
    q, _ = quantize(small_cnn(), QuantConfig("exponential", 3))
    save(q, tmp_path / "a.safetensors")
    save(q, tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_save_refuses_a_missing_directory_and_a_directory(tmp_path):
    q, _ = quantize(small_cnn(), QuantConfig("uniform", 2))
    with pytest.raises(ValueError, match=r"^path: the directory .* does not exist"):
        save(q, tmp_path / "missing" / "x.safetensors")
    with pytest.raises(ValueError, match=r"^path: .* is a directory"):
        save(q, tmp_path)


def _rewrite(path, tensors, meta):
    mj = json.dumps(meta, sort_keys=True)
    safetensors.numpy.save_file(tensors, str(path), metadata={"corrquant": mj, "sha256": _digest(mj, tensors)})


def test_files_with_nan_bad_config_or_nested_header_are_refused_naming_the_file(tmp_path):
    q, _ = quantize(small_cnn(), QuantConfig("uniform", 3))
    path = tmp_path / "f.safetensors"
    save(q, path)
    meta = json.loads(json.loads(_header(path)["corrquant-v1"])["meta"])
    tensors = safetensors.numpy.load_file(str(path))
    nan_bias = dict(tensors)
    nan_bias["6.bias"] = np.full_like(tensors["6.bias"], np.nan)
    _rewrite(path, nan_bias, meta)  # checksum recomputed after writing NaN
    with pytest.raises(ValueError, match=r"^path: .*'6\.bias' holds NaN"):
        load(path, small_cnn)
    bad = json.loads(json.dumps(meta))
    bad["layers"]["6"]["config"]["bits"] = 99
    _rewrite(path, tensors, bad)
    with pytest.raises(ValueError, match=r"^path: .*layer '6' has an invalid config \(bits must be"):
        read_packed(path)
    nested = "[" * 100_000 + "]" * 100_000
    safetensors.numpy.save_file(tensors, str(path), metadata={"corrquant": nested, "sha256": "0"})
    with pytest.raises(ValueError, match=r"^path: .*(nested too deeply|corrupt metadata)"):
        read_packed(path)
    wrong_types = dict(meta, layers=[1, 2])
    _rewrite(path, tensors, wrong_types)
    with pytest.raises(ValueError, match=r"^path: .*corrupt metadata"):
        read_packed(path)
    assert os.path.exists(path)


# -- hopfield: a load grid that never crosses the criterion is flagged, never a silent estimate ----------
# N = 16 with p = 1 (alpha 0.06-0.07) or p = 32 (alpha 2.0-2.01), one probe: two compiled shapes for all three runs.
CAP = dict(key=KEY, networks=2, probes=1, n_boot=5, progress=False)


@pytest.mark.parametrize("alphas, side", [([0.06, 0.07], "above"), ([2.0, 2.01], "below")])
def test_capacity_on_a_grid_that_never_crosses_is_flagged(alphas, side):
    with pytest.warns(RuntimeWarning, match=rf"^alphas: the retrieved fraction is {side} 1/2 at every load of the grid "
                                              rf"{alphas[0]:g}\.\.{alphas[1]:g}"):
        rec = hopfield.measure_capacity(16, alphas=alphas, **CAP)
    assert rec.bracketed is False and not rec.interrupted
    assert np.isnan([rec.alpha_c, rec.alpha_c_lo, rec.alpha_c_hi, rec.width]).all()
    assert np.all(rec.retrieved == (1.0 if side == "above" else 0.0))
    again = type(rec).from_dict(json.loads(json.dumps(rec.to_dict())))
    assert again.bracketed is False


def test_capacity_on_a_grid_that_crosses_is_bracketed():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="alphas:")  # the grid warning of measure_capacity
        rec = hopfield.measure_capacity(16, alphas=[0.06, 2.0], **CAP)
    assert rec.bracketed is True and 0.06 <= rec.alpha_c <= 2.0 and np.isfinite(rec.alpha_c_lo)


def test_study_capacity_on_a_grid_that_never_crosses_is_nan_with_a_warning():
    from hopfield.study import capacity

    ps = np.array([8, 9, 10]); alpha = ps / 128.0
    m = np.ones((4, 3)); retrieved = np.ones((4, 3))  # every network retrieves at every load: above the criterion
    for crit in ("fraction", "jump"):
        with pytest.warns(RuntimeWarning, match=rf"^alpha: the load grid .* does not bracket the '{crit}' criterion"):
            out = capacity(alpha, ps, m, retrieved, crit, n_boot=5, return_boot=True)
        assert np.isnan(out[:3]).all() and out[3].size == 0
    m[:, 2], retrieved[:, 2] = 0.2, 0.0  # the last load falls through: bracketed, a finite estimate
    assert np.isfinite(capacity(alpha, ps, m, retrieved, "fraction", n_boot=5)[0])


# -- deepnets.sweep leaves the caller's model as it was ------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_sweep_restores_the_callers_train_mode_and_weights(training):
    model = small_cnn().train(training)
    model[1].eval()  # a mixed model: every module's own flag comes back
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    table = sweep({"cnn": model}, ["uniform"], [2], (IMAGES, LABELS))
    assert [r.method for r in table] == ["float", "uniform"]
    assert [m.training for m in model.modules()] == flags
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_evaluate_restores_train_mode_after_refusing():
    model = small_cnn().train()
    with pytest.raises(ValueError, match=r"^data: labels"):
        evaluate(model, (IMAGES, torch.tensor([0, 1, 2, 99])), progress=False)
    assert model.training


# -- report: every user error on the command line is one line on stderr and exit 2, before any stage ----
def _cli_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        report_cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("python -m report: error: --"), err
    return err


@pytest.mark.parametrize("seed", ["-1", "-5", str(2**32)])
def test_report_refuses_a_bad_seed(seed, tmp_path, capsys):
    err = _cli_error(["--quick", "--seed", seed, "--out", str(tmp_path / "out"), "--stages", "theory"], capsys)
    assert err.startswith(f"python -m report: error: --seed {seed}: must be an integer in 0..4294967295"), err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_report_refuses_an_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    err = _cli_error(["--quick", "--out", str(f), "--stages", "theory"], capsys)
    assert err.startswith(f"python -m report: error: --out: {str(f)!r} is a file, not a directory"), err
    assert f.read_text() == "x"


def test_report_refuses_an_out_that_cannot_be_created(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    err = _cli_error(["--quick", "--out", str(f / "sub"), "--stages", "theory"], capsys)
    assert err.startswith(f"python -m report: error: --out: cannot create the directory {str(f / 'sub')!r}"), err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, a directory no one can write into, is Linux's")
def test_report_refuses_an_out_that_cannot_be_written(capsys):
    err = _cli_error(["--quick", "--out", "/proc", "--stages", "theory"], capsys)
    assert err.startswith("python -m report: error: --out: cannot write into the directory '/proc'"), err


def test_run_report_checks_out_before_the_first_stage(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(pipeline, "_stage_modules", lambda: ran.append(1) or {})
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"^out: .* is a file, not a directory"):
        pipeline.run_report(f, quick=True, seed=0, stages=["theory"], progress=lambda s: None)
    assert ran == []


# -- property: for finite inputs no public formula returns NaN (a value or a ValueError, never NaN) ------
_unit = st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=2, max_size=40)
_scale = st.sampled_from([1e-300, 1e-170, 1e-20, 1.0, 1e20, 1e170, 1e300])
_method = st.sampled_from(["uniform", "exponential", "lloyd_max", "minmax", "sign", "ternary"])


def _finite_or_value_error(f):
    try:
        out = f()
    except ValueError:
        return None
    assert np.all(np.isfinite(np.asarray(out, dtype=float))), out
    return out


@settings(max_examples=60, deadline=None)
@given(_unit, _unit, _scale, _scale)
def test_rho_of_finite_arrays_is_finite(a, b, sa, sb):
    n = min(len(a), len(b))
    r = _finite_or_value_error(lambda: theory.rho(np.array(a[:n]) * sa, np.array(b[:n]) * sb))
    assert r is None or -1.0 - 1e-12 <= r <= 1.0 + 1e-12


@settings(max_examples=60, deadline=None)
@given(_unit, _scale, _method, st.integers(2, 4))
def test_fit_and_quantize_finite_data_give_finite_values(x, scale, method, bits):
    data = np.array(x) * scale
    try:
        q = theory.fit(data, method, bits=None if method in ("sign", "ternary") else bits)
    except ValueError:
        return
    assert np.all(np.isfinite(q.thresholds)) and np.all(np.isfinite(q.levels))
    out = q(data)
    assert np.all(np.isfinite(out))
    codes = q.encode(data)
    assert codes.min() >= 0 and codes.max() < q.levels.shape[-1]
    _finite_or_value_error(lambda: theory.rho(data, out))


@settings(max_examples=60, deadline=None)
@given(st.floats(-1.0, 1.0, allow_nan=False), st.floats(0.0, 10.0, allow_nan=False))
def test_theory_predictions_of_finite_inputs_are_finite(rho, alpha):
    _finite_or_value_error(lambda: theory.field_agreement(rho))
    _finite_or_value_error(lambda: theory.synaptic_noise(rho))
    _finite_or_value_error(lambda: theory.predicted_capacity(rho))
    _finite_or_value_error(lambda: theory.overlap(alpha, rho))


@settings(max_examples=40, deadline=None)
@given(_unit, _scale)
def test_made_quantizers_on_finite_arrays_of_any_scale_are_finite(x, scale):
    data = np.array(x) * scale
    for q in (Q, theory.make("exponential", 3, "laplace"), theory.sign()):
        assert np.all(np.isfinite(q(data))) and np.all(np.isfinite(q(torch.from_numpy(data)).numpy()))
