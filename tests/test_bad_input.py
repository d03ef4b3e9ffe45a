"""Bad and edge inputs: each gives a clear ValueError naming the argument, or a correct result (never a silent wrong answer).

One row per class of bad input (theory's quantizers and fits, deepnets' files); each row
asserts the error type and that the message names the argument.
"""

import json
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy
import torch
from torch import nn

import theory
from _deepnets_models import small_cnn
from deepnets.quantize import QuantConfig, quantize
from deepnets.storage import _digest, load, pack, packed_nbytes, read_packed, save

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
    ("PerChannel(5) on a 2-D weight", lambda: quantize(nn.Sequential(nn.Linear(4, 3)), QuantConfig("uniform", 2, theory.PerChannel(5))),
     r"^axis 5 is out of range"),
    ("packed_nbytes of a negative count", lambda: packed_nbytes(-5, 4), r"^n must be a non-negative integer"),
    ("pack float codes", lambda: pack(np.array([0.5, 1.7]), 2), r"^codes must be integers"),
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
