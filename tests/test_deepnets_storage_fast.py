"""deepnets.storage's own safetensors writer: a standard file, the same checksum, files of the old writer still load."""

import json

import numpy as np
import pytest
import safetensors
import safetensors.numpy
import torch

from deepnets.packing import pack, unpack
from deepnets.quantize import QuantConfig, quantize
from deepnets.storage import _digest, load, read_packed, save
from _deepnets_models import small_cnn


def _x():
    return torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("method,bits", [("minmax", 2), ("minmax", 4), ("minmax", 8), ("uniform", 3), ("sign", None)])
def test_written_file_is_plain_safetensors_with_the_old_checksum(tmp_path, method, bits):
    model = small_cnn()
    qm, _ = quantize(model, QuantConfig(method, bits))
    path = tmp_path / "q.safetensors"
    sizes = save(qm, path)
    assert sizes["file"] == path.stat().st_size
    tensors = safetensors.numpy.load_file(str(path))  # the reference reader takes it
    with safetensors.safe_open(str(path), "np") as f:
        md = f.metadata()
    assert list(md) == ["corrquant-v1"]
    outer = json.loads(md["corrquant-v1"])
    assert outer["sha256"] == _digest(outer["meta"], tensors)  # the checksum is the one read_packed verifies
    for name, lq in qm.corrquant.layers.items():
        assert np.array_equal(tensors[f"{name}.weight.codes"], pack(lq.codes, lq.bits))
    back = load(path, model)
    with torch.no_grad():
        assert torch.equal(back(_x()), qm(_x()))


def test_files_of_the_old_writer_still_load(tmp_path):
    """A file written by safetensors' own writer (how save wrote before) with the same tensors and metadata."""
    model = small_cnn()
    qm, _ = quantize(model, QuantConfig("minmax", 4))
    new = tmp_path / "new.safetensors"
    save(qm, new)
    tensors = safetensors.numpy.load_file(str(new))
    with safetensors.safe_open(str(new), "np") as f:
        md = f.metadata()
    old = tmp_path / "old.safetensors"
    safetensors.numpy.save_file(tensors, str(old), metadata=md)
    a, b = load(new, model), load(old, model)
    with torch.no_grad():
        assert torch.equal(a(_x()), b(_x())) and torch.equal(a(_x()), qm(_x()))
    # a flipped byte in the old file's payload is still caught by the checksum
    raw = bytearray(old.read_bytes())
    raw[-3] ^= 0x10
    old.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256|corrupt|range"):
        read_packed(old)


def test_flipped_byte_anywhere_in_the_new_payload_fails(tmp_path):
    qm, _ = quantize(small_cnn(), QuantConfig("minmax", 4))
    path = tmp_path / "q.safetensors"
    save(qm, path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    rng = np.random.default_rng(0)
    for pos in rng.integers(8 + n, len(raw), 8):
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match="path"):
            load(path, small_cnn())


def test_load_assigns_fresh_parameters_and_leaves_the_template_alone(tmp_path):
    model = small_cnn()
    model[0].bias.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qm, _ = quantize(model, QuantConfig("minmax", 3))
    save(qm, tmp_path / "q.safetensors")
    back = load(tmp_path / "q.safetensors", model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    ptrs = {v.data_ptr() for v in model.state_dict().values()}
    assert not ptrs & {v.data_ptr() for v in back.state_dict().values()}
    for (k, p), (_, t) in zip(back.named_parameters(), model.named_parameters(), strict=True):
        assert type(p) is torch.nn.Parameter and p.requires_grad == t.requires_grad, k
        assert p.dtype == t.dtype
    with torch.no_grad():
        assert torch.equal(back(_x()), qm(_x()))


@pytest.mark.parametrize("bits", range(1, 8))
@pytest.mark.parametrize("n", [5, 8, 64, 70001])
def test_pack_rejects_a_code_out_of_range_anywhere(bits, n):
    rng = np.random.default_rng(bits * n)
    codes = rng.integers(0, 2**bits, n).astype(np.uint8)
    assert np.array_equal(unpack(pack(codes, bits), n, bits), codes)
    for pos in (0, n // 2, n - 1):  # in the 64-bit words and in the tail
        bad = codes.copy()
        bad[pos] = rng.integers(2**bits, 256)
        with pytest.raises(ValueError, match="codes must lie in"):
            pack(bad, bits)


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_into_a_given_buffer(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2**bits, 1003).astype(np.uint8)
    big = np.full(2000, 0xAA, np.uint8)
    nb = (1003 * bits + 7) // 8
    out = pack(codes, bits, out=big[5 : 5 + nb])
    assert out.base is big and np.array_equal(out, pack(codes, bits))
    assert np.all(big[:5] == 0xAA) and np.all(big[5 + nb :] == 0xAA)  # nothing written outside its place
    with pytest.raises(ValueError, match="out must be"):
        pack(codes, bits, out=np.empty(nb + 1, np.uint8))


def test_a_layer_refused_while_packing_leaves_an_existing_file_untouched(tmp_path):
    """The codes are packed (and hashed) before the file is opened: a code out of range is refused, old file intact."""
    torch.manual_seed(0)
    qm, _ = quantize(small_cnn(), QuantConfig("minmax", 3))
    path = tmp_path / "q.safetensors"
    save(qm, path)
    before = path.read_bytes()
    name = sorted(qm.corrquant.layers)[-1]  # the last layer in the file's key order: every other part is laid out first
    codes = qm.corrquant.layers[name].codes
    codes.reshape(-1)[-1] = 8  # out of range for 3 bits
    with pytest.raises(ValueError, match="code"):
        save(qm, path)
    assert path.read_bytes() == before
