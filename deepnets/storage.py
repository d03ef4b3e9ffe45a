"""Packed on-disk format of a quantized model: one safetensors file, codes at their real bit width.

Layout (all in ONE safetensors file; no pickle, loading never runs code from the file):

- ``<layer>.weight.codes``: uint8, the layer's codes packed at ``bits`` bits each
  (little-endian bit order, ``ceil(n * bits / 8)`` bytes; true packing at every
  width 1..8, like HQQ's bit packing but without wide containers).
- ``<layer>.weight.levels`` (C, K) and ``<layer>.weight.thresholds`` (C, K-1), float32
  (thresholds only where they are not the midpoints of the levels, e.g. ternary's dead zone;
  :class:`deepnets.codebook.Codebook`):
  the per-channel codebooks (C = 1 per tensor), or, when every channel's row is
  ``scale[c] * (unit + shift[c])`` (per-channel uniform: one grid times a step;
  min-max: scale and zero point), ``.unit`` (K,), ``.scale`` (C,) and ``.shift`` (C,)
  instead, or, when every row is ``scale[c] * [-b**j..., 1, b, ...]`` (per-channel
  exponential levels and their midpoint thresholds), ``.scale`` (C,) and ``.base`` (C,)
  (:class:`deepnets.codebook.Table`).  Per group (``PerGroup``) the rows are the groups.
  Decoding is ``levels[g, code]`` (:meth:`theory.Quantizer.decode`).
- every other state_dict entry (biases, BatchNorm, skipped layers) as float32
  (integer buffers keep their integer dtype).
- metadata ``"corrquant-v1"``: ``{"meta": JSON with format version, arch, config and per-layer
  shape/bits/K/granularity, "sha256": a checksum over that JSON and all tensors}`` (files
  written before the one-entry metadata, with ``"corrquant"`` and ``"sha256"`` entries, load too).

:func:`save` writes the file itself, in the layout of ``safetensors.numpy.save_file`` (any
safetensors reader takes it): the tensors in sorted key order straight from their arrays (the
codes packed one layer at a time), the sha256 of the same bytes computed in a second thread
while they are written (hashlib and file writes release the GIL), the header last.

The information bound of a file is ``bits * params / 8`` plus codebooks plus float
params; the rest is the safetensors header.  Deep Compression (Han et al. 2016)
reports sizes the same way (codes + codebook).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import queue
import struct
import threading
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
from torch import nn

import theory

from theory.granularity import as_granularity

from ._modcopy import copy_model
from .codebook import Codebook, quantizer
from .packing import pack, packed_nbytes, unpack
from .quantize import LayerQuant, PerChannel, PerTensor, QuantConfig, QuantState

FORMAT = "corrquant-packed-v1"


# -- checksum -------------------------------------------------------------------------------
def _digest(meta_json: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta_json.encode())
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}".encode())
        h.update(memoryview(a).cast("B") if a.size else b"")  # the same bytes as a.tobytes(), without a copy
    return h.hexdigest()


# -- save -------------------------------------------------------------------------------------
_ST_DTYPES = {np.dtype(t): n for t, n in ((np.float64, "F64"), (np.float32, "F32"), (np.float16, "F16"), (np.int64, "I64"),
              (np.int32, "I32"), (np.int16, "I16"), (np.int8, "I8"), (np.uint64, "U64"), (np.uint32, "U32"),
              (np.uint16, "U16"), (np.uint8, "U8"), (np.bool_, "BOOL"))}


class _Packed:
    """A layer's codes, packed (:func:`deepnets.packing.pack`) only when the file is written, into its place."""

    dtype, ndim = np.dtype(np.uint8), 1

    def __init__(self, codes: np.ndarray, bits: int):
        self.codes, self.bits = codes, bits
        self.nbytes = packed_nbytes(codes.size, bits)
        self.shape = (self.nbytes,)

    def pack_into(self, out: np.ndarray) -> None:
        pack(self.codes, self.bits, out=out)


def _write(path: str, meta_json: str, tensors: dict) -> None:
    """One safetensors file (the format of :func:`safetensors.numpy.save_file`: 8-byte header length, JSON header,
    raw little-endian tensor bytes), the tensors in sorted key order.

    The metadata is ONE entry ``"corrquant-v1"``: ``{"meta": meta_json, "sha256": _digest(meta_json, tensors)}``.
    Every tensor is laid out in one data buffer (the codes packed straight into it) while a second thread
    hashes each part, in :func:`_digest`'s order, as soon as it is laid out (hashlib releases the GIL); the
    buffer is written behind the header's place, and the header goes last (a hex digest has a fixed length).
    Nothing is opened before every part is laid out, so a refused tensor leaves an existing file untouched.
    """
    keys = sorted(tensors)
    header, pos, parts = {}, 0, []
    for k in keys:
        a = tensors[k]
        if a.dtype.newbyteorder("=") not in _ST_DTYPES:
            raise ValueError(f"qmodel: tensor {k!r} has dtype {a.dtype}, which a safetensors file cannot hold")
        header[k] = {"dtype": _ST_DTYPES[a.dtype.newbyteorder("=")], "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        shape = a.shape if isinstance(a, _Packed) else np.shape(np.ascontiguousarray(a))  # _digest's shape (0-d: (1,))
        parts.append((f"{k}|{a.dtype.newbyteorder('<').str}|{shape}".encode(), pos, pos + a.nbytes))
        pos += a.nbytes

    def head(sha: str) -> bytes:
        wrapped = json.dumps({"meta": meta_json, "sha256": sha}, sort_keys=True)
        b = json.dumps({"__metadata__": {"corrquant-v1": wrapped}, **header}, separators=(",", ":")).encode()
        return b + b" " * (-len(b) % 8)  # 8-byte aligned data, as safetensors writes it

    n = len(head("0" * 64))
    h = hashlib.sha256(meta_json.encode())
    data = np.empty(pos, np.uint8)
    mv = memoryview(data)
    ready: queue.SimpleQueue = queue.SimpleQueue()  # parts laid out, in order; None ends

    def hash_parts():
        while (part := ready.get()) is not None:
            prefix, p0, p1 = part
            h.update(prefix)
            h.update(mv[p0:p1])

    worker = threading.Thread(target=hash_parts, daemon=True)
    worker.start()
    try:
        for k, part in zip(keys, parts, strict=True):  # each part is hashed as soon as it is laid out
            a, (_, p0, p1) = tensors[k], part
            if isinstance(a, _Packed):
                a.pack_into(data[p0:p1])
            elif p1 > p0:
                np.copyto(data[p0:p1], np.ascontiguousarray(a, a.dtype.newbyteorder("<")).reshape(-1).view(np.uint8))
            ready.put(part)
        ready.put(None)
        with open(path, "wb") as f:
            f.seek(8 + n)
            f.write(mv)
            worker.join()
            b = head(h.hexdigest())
            if len(b) != n:  # cannot happen: a hex digest has 64 characters
                raise RuntimeError("packed file header changed length")
            f.seek(0)
            f.write(struct.pack("<Q", n) + b)
    finally:
        ready.put(None)
        worker.join()


def _float_tensors(model: nn.Module, exclude: set[str]) -> dict[str, np.ndarray]:
    out = {}
    for k, v in model.state_dict().items():
        if k in exclude:
            continue
        v = v.detach().cpu()
        out[k] = (v.float() if v.is_floating_point() else v).contiguous().numpy()
    return out


def save(qmodel: nn.Module, path: str | os.PathLike, arch: Any = None) -> dict:
    """Write a quantized model (from :func:`deepnets.quantize.quantize`) as one packed safetensors file.

    **Arguments:** `qmodel`: carries ``qmodel.corrquant``; `path`: destination; `arch`: how
    :func:`load` rebuilds the model: ``"module:Class"`` or ``{"class": "module:Class", "kwargs": {...}}``
    (None: the model's own importable class with its ``.corrquant_kwargs``, which the zoo models set,
    else nothing is recorded and :func:`load` needs a model or factory).  Folded BatchNorm pairs
    (``.corrquant_folded``) are recorded too.

    **Returns:** sizes in bytes: ``{"file": ..., "codes": ..., "codebooks": ..., "float": ..., "bound": ...}``
    where ``bound = codes + codebooks + float`` is the information bound (no header).
    """
    state = getattr(qmodel, "corrquant", None)
    if not isinstance(state, QuantState):
        raise ValueError("qmodel must be a model returned by deepnets.quantize (it has no .corrquant state)")
    tensors: dict[str, np.ndarray] = {}
    layers = {}
    sizes = {"codes": 0, "codebooks": 0, "float": 0}
    for name, lq in state.layers.items():
        key = f"{name}.weight" if name else "weight"
        tensors[key + ".codes"] = _Packed(lq.codes, lq.bits)  # packed while the file is written
        books = lq.book.arrays(key)
        tensors.update(books)
        layers[name] = {"key": key, "shape": list(lq.codes.shape), "bits": lq.bits, "K": lq.K,
                        "granularity": lq.granularity.to_dict(), "name": lq.quantizer.name,
                        "config": lq.config.to_dict() if lq.config is not None else None}
        sizes["codes"] += tensors[key + ".codes"].nbytes
        sizes["codebooks"] += sum(a.nbytes for a in books.values())
    floats = _float_tensors(qmodel, {v["key"] for v in layers.values()})
    clash = set(floats) & set(tensors)
    if clash:
        raise ValueError(f"qmodel: state_dict keys clash with packed keys: {sorted(clash)}")
    sizes["float"] = sum(a.nbytes for a in floats.values())
    tensors.update(floats)
    from .models import rebuild_record

    arch_meta = dict(state.arch)
    given = {k: arch_meta[k] for k in ("class", "kwargs") if k in arch_meta} or None
    arch_meta.update(rebuild_record(qmodel, arch if arch is not None else given))
    if getattr(qmodel, "corrquant_folded", None):
        arch_meta["folded"] = [list(p) for p in qmodel.corrquant_folded]
    meta = {
        "format": FORMAT,
        "arch": arch_meta,
        "config": state.config_dict(),
        "layers": layers,
        "float_keys": sorted(floats),
    }
    meta_json = json.dumps(meta, sort_keys=True)
    _check_writable("path", path)
    _write(str(path), meta_json, tensors)
    sizes["bound"] = sizes["codes"] + sizes["codebooks"] + sizes["float"]
    sizes["file"] = os.path.getsize(path)
    return sizes


def _check_writable(name: str, path: str | os.PathLike) -> None:
    p = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(p))
    if os.path.isdir(p):
        raise ValueError(f"{name}: {p!r} is a directory; give a file path")
    if not os.path.isdir(parent):
        raise ValueError(f"{name}: the directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name}: cannot write into {parent!r}")


def save_float(model: nn.Module, path: str | os.PathLike) -> int:
    """The float32 reference: the model's state_dict via safetensors; returns bytes on disk."""
    sd = {k: (v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu()).contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, str(path))
    return os.path.getsize(path)


def compression(float_model: nn.Module, qmodel: nn.Module, directory: str | os.PathLike) -> dict:
    """Measured compression: float32 safetensors size / packed file size, both written to ``directory``
    under unique temporary names (so calls sharing a directory never collide) and removed afterwards.

    **Returns:** ``{"float_bytes", "packed_bytes", "ratio", "bound_bytes", "bound_ratio", "codes_bytes",
    "codebook_bytes", "float_param_bytes"}`` (the last three add up to ``bound_bytes``).
    """
    import tempfile

    paths = []
    try:
        for prefix in ("float-", "packed-"):
            fd, p = tempfile.mkstemp(suffix=".safetensors", prefix=prefix, dir=directory)
            os.close(fd)
            paths.append(p)
        fb = save_float(float_model, paths[0])
        sizes = save(qmodel, paths[1])
    finally:
        for p in paths:
            if os.path.exists(p):
                os.remove(p)
    return {
        "float_bytes": fb,
        "packed_bytes": sizes["file"],
        "ratio": fb / sizes["file"],
        "bound_bytes": sizes["bound"],
        "bound_ratio": fb / sizes["bound"],
        "codes_bytes": sizes["codes"],
        "codebook_bytes": sizes["codebooks"],
        "float_param_bytes": sizes["float"],
    }


# -- load --------------------------------------------------------------------------------------
def _read_header(path: str) -> dict:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"path: {path!r} is not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 * 2**20:
            raise ValueError(f"path: {path!r} is truncated or corrupt (header length {n} > file size {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"path: {path!r} has a corrupt safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"path: {path!r} has a corrupt safetensors header")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise ValueError(f"path: {path!r} is truncated or corrupt: header says {8 + n + end} bytes, file has {size}")
    return header


def read_packed(path: str | os.PathLike) -> tuple[dict, dict[str, LayerQuant], dict[str, np.ndarray]]:
    """Validate and read a packed file: ``(meta, layers, float_tensors)``; ValueError on any inconsistency."""
    path = str(path)
    header = _read_header(path)
    md = header.get("__metadata__") or {}
    try:
        if "corrquant-v1" in md:
            outer = json.loads(md["corrquant-v1"])
            if not isinstance(outer, dict) or not isinstance(outer.get("meta"), str) or not isinstance(outer.get("sha256"), str):
                raise ValueError("corrquant metadata must hold 'meta' and 'sha256' strings")
            meta_json, sha = outer["meta"], outer["sha256"]
        elif "corrquant" in md and "sha256" in md:  # files written before the one-entry metadata
            meta_json, sha = md["corrquant"], md["sha256"]
        else:
            raise ValueError(f"path: {path!r} is not a corrquant packed file (no corrquant metadata)")
        meta = json.loads(meta_json)
        if not isinstance(meta, dict) or not isinstance(meta.get("layers"), dict) or not isinstance(meta.get("float_keys"), list):
            raise ValueError("metadata must be an object with 'layers' (object) and 'float_keys' (list)")
        tensors = safetensors.numpy.load_file(path)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith("path:") else f"path: {path!r} has corrupt metadata ({msg})") from None
    except RecursionError:
        raise ValueError(f"path: {path!r} has corrupt metadata (nested too deeply)") from None
    except Exception as e:  # safetensors raises its own error type on corrupt data
        raise ValueError(f"path: {path!r} is corrupt ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"path: {path!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
    if _digest(meta_json, tensors) != sha:
        raise ValueError(f"path: {path!r} fails its sha256 checksum (tampered or corrupt)")
    layers = {}
    try:
        for name, L in meta["layers"].items():
            key, shape, bits, K = L["key"], tuple(int(s) for s in L["shape"]), int(L["bits"]), int(L["K"])
            g = _layer_granularity(L)
            n = math.prod(shape)
            G = g.n_groups(shape)
            if not 2 <= K <= 1 << bits:
                raise ValueError(f"layer {name!r}: K={K} does not fit in {bits} bits")
            book = Codebook.from_arrays(key, tensors, G, K)
            codes = unpack(tensors[key + ".codes"], n, bits)
            if codes.size and int(codes.max()) >= K:
                raise ValueError(f"layer {name!r}: codes out of range (max {int(codes.max())} >= K={K})")
            try:
                cfg = QuantConfig.from_dict(L["config"]) if L.get("config") else None
            except ValueError as e:
                raise ValueError(f"path: {path!r}: layer {name!r} has an invalid config ({e})") from None
            layers[name] = LayerQuant(codes.reshape(shape), quantizer(book, g, L.get("name", f"K={K}")), bits, book, None, cfg)
        floats = {k: tensors[k] for k in meta["float_keys"]}
        for k, a in floats.items():
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise ValueError(f"path: {path!r}: tensor {k!r} holds NaN or Inf")
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"path: {path!r} has inconsistent metadata ({type(e).__name__}: {e})") from None
    return meta, layers, floats


def is_packed(path: str | os.PathLike) -> bool:
    """True if ``path`` is a safetensors file written by :func:`save` (reads the header only)."""
    try:
        md = _read_header(str(path)).get("__metadata__") or {}
    except (ValueError, OSError):
        return False
    return "corrquant-v1" in md or ("corrquant" in md and "sha256" in md)


def _layer_granularity(L: dict):
    """A layer's granularity from its metadata (older files: ``"axis"``: None per tensor, else the channel axis)."""
    if "granularity" in L:
        return as_granularity(L["granularity"])
    return PerTensor() if L["axis"] is None else PerChannel(int(L["axis"]))


def load(path: str | os.PathLike, model_or_factory: Any = None) -> nn.Module:
    """Rebuild a quantized model from a packed file; its outputs are bitwise those of the saved model.

    **Arguments:**

    - `path`: a file written by :func:`save`.
    - `model_or_factory`: an ``nn.Module`` of the right architecture (copied, not modified), a
      zero-argument factory returning one, or None: the model the file records, built by importing
      its ``module:Class`` (a module import, never unpickling) with the recorded keyword arguments,
      or (older files) the arch name and dataset of ``deepnets.models.build``.  A registry arch name
      (str) is still taken.  BatchNorm pairs folded before saving are folded in the rebuilt model.

    **Returns:** the model with dequantized weights and ``.corrquant`` restored, in eval mode.
    """
    meta, layers, floats = read_packed(path)
    arch = meta.get("arch") or {}
    if not isinstance(arch, dict):
        raise ValueError(f"path: {str(path)!r} has corrupt metadata (arch must be an object)")
    from .folding import refold
    from .models import model_from_record

    if isinstance(model_or_factory, nn.Module):  # a copy whose quantized weights (overwritten below) are not cloned
        template, keys = model_or_factory, {meta["layers"][n]["key"] for n in layers}
        model_or_factory = lambda: copy_model(template, {  # noqa: E731
            id(p): nn.Parameter(torch.empty_like(p), p.requires_grad) if isinstance(p, nn.Parameter) else torch.empty_like(p)
            for k, p in template.state_dict(keep_vars=True).items() if k in keys})
    net = refold(model_from_record(model_or_factory, arch, str(path)), arch.get("folded"), meta.get("config"))
    sd = {k: torch.from_numpy(np.array(v)) for k, v in floats.items()}
    for name, lq in layers.items():
        sd[meta["layers"][name]["key"]] = torch.from_numpy(lq.dequantize())
    net_sd = net.state_dict()
    expected = set(net_sd)
    if set(sd) != expected:
        raise ValueError(
            f"model_or_factory: architecture does not match the file (missing {sorted(expected - set(sd))[:5]}, unexpected {sorted(set(sd) - expected)[:5]})"
        )
    for k, v in net_sd.items():
        if tuple(v.shape) != tuple(sd[k].shape):
            raise ValueError(f"model_or_factory: shape of {k!r} is {tuple(v.shape)} in the model but {tuple(sd[k].shape)} in the file")
    net.load_state_dict({k: v.to(net_sd[k].dtype) for k, v in sd.items()}, assign=True)  # the decoded arrays themselves
    try:
        config = QuantState.config_from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"path: {path!r} has an invalid config ({e})") from None
    net.corrquant = QuantState(config, layers, [], meta.get("arch") or {})
    return net.eval()


def file_rho(path: str | os.PathLike, float_model: nn.Module) -> dict[str, float]:
    """Empirical rho per layer between ``float_model``'s weights and the weights decoded from ``path``."""
    meta, layers, _ = read_packed(path)
    sd = float_model.state_dict()
    return {
        name: theory.rho(sd[meta["layers"][name]["key"]].double().numpy(), lq.dequantize())
        for name, lq in layers.items()
    }


def state_bytes(obj: Any) -> int:
    """Bytes of ``torch.save(obj)`` (used only to size the torch baselines; never loaded back)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


__all__ = ["pack", "unpack", "packed_nbytes", "save", "save_float", "load", "read_packed", "is_packed", "compression", "file_rho", "state_bytes"]
