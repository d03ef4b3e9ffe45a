"""Accuracy, rho and measured compression over models x methods x bits.

Each row is a :class:`deepnets.records.SweepRow`: model, method, bits, granularity, config,
top1, top5, drop (float top1 - top1, points), mean_rho, layer_rho (JSON), packed and
float32 file sizes on disk, the compression ratio and its information bound.  Our
methods (theory quantizers; Malsagov et al. 2019, Pushkareva & Karandashev 2020,
Han et al. 2016) sit beside PyTorch's int8 baselines in the same table.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from typing import Any, Iterable

from torch import nn

import theory
from tqdm.auto import tqdm

from . import baselines as _baselines
from .evaluate import evaluate
from .quantize import FIXED_BITS, METHODS, QuantConfig, as_granularity, mean_rho, quantize
from .records import Sweep, SweepRow
from .storage import compression, save_float

#: The CSV columns, in order (every field of :class:`SweepRow` but ``dataset`` and ``float_top1``).
COLUMNS = [
    "model", "method", "bits", "granularity", "bn_folded", "top1", "top5", "drop", "mean_rho", "packed_bytes",
    "float_bytes", "ratio", "bound_ratio", "n", "config", "layer_rho",
]


def _resolve_models(models: Any, dataset: Any) -> dict[str, nn.Module]:
    if isinstance(models, nn.Module):
        return {"model": models}
    if isinstance(models, dict):
        return dict(models)
    if isinstance(dataset, str):
        from . import models as zoo_models

        return {name: zoo_models.load_pretrained(name, dataset) for name in models}
    raise ValueError("models: give a dict name -> nn.Module, or model names together with a dataset name")


def _resolve_data(dataset: Any, limit: int | None) -> tuple[str, tuple]:
    if isinstance(dataset, str):
        from . import data

        return dataset, data.test_subset(dataset, limit)
    if hasattr(dataset, "tensors") and len(dataset.tensors) == 2:  # a TensorDataset
        (x, y), name = dataset.tensors, "custom"
    elif isinstance(dataset, tuple | list) and len(dataset) == 2:
        (x, y), name = dataset, "custom"
    else:
        raise ValueError(f"dataset must be a name or an (images, labels) tuple, got {type(dataset).__name__}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return name, (x, y)


def sweep(
    models: Any,
    methods: Iterable[str],
    bits_list: Iterable[int],
    dataset: Any,
    granularity: Any = "channel",
    skip: Any = (),
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = False,
    fold_bn: bool = False,
    gain: str = "mse",
    *,
    offset: bool = False,
    shared_shape: bool | None = None,
    codebook: str = "float32",
) -> Sweep:
    """Quantize every model with every method and bit width, evaluate, pack to disk and measure.

    **Arguments:**

    - `models`: dict name -> nn.Module, one module, or model names for ``models.load_pretrained``.
    - `methods`: names from ``METHODS`` and/or ``baselines.BASELINES``; sign and ternary run
      once at their own width (1 and 2 bits), the torch baselines once at 8 bits.
    - `bits_list`: bit widths 1..8.
    - `dataset`: a dataset name for ``data.get_dataset(name, "test")``, a ``TensorDataset``
      or ``(images, labels)``.
    - `granularity`: ``"channel"``/``"tensor"``/``PerChannel``/``PerTensor``.
    - `skip`: layers kept float (see :func:`deepnets.quantize.quantize`).
    - `limit`: evaluate on the first ``limit`` images only (:func:`deepnets.data.test_subset`).
    - `progress`: a tqdm bar over (model, method) pairs.
    - `fold_bn`: fold BatchNorm into the preceding convs before quantizing (as deployments
      do; the float reference stays the unfolded model); False (the default, as in
      :class:`deepnets.quantize.QuantConfig`) quantizes the raw conv weights.
    - `gain`: ``"mse"`` (least squares, default) or ``"unbiased"`` scale of the levels
      (see :class:`deepnets.quantize.QuantConfig`); recorded in each row's ``config``.
    - `offset`: mean-aware levels for the rho families (``theory.Recipe(..., offset=True)``;
      min-max and affine are affine grids already and run as they are); `shared_shape`: the recipe's option (None:
      the method's default); `codebook`: ``"float32"`` or ``"float16"`` (the lean codebook,
      :class:`deepnets.quantize.QuantConfig`).  All default to the settings of earlier sweeps.

    **Returns:** a :class:`Sweep` (a sequence of :class:`SweepRow`): one float row per model
    (``method == "float"``) then one per quantized variant.  Interrupted (Ctrl-C), it returns
    the rows finished so far with ``interrupted=True``.
    """
    methods, bits_list = list(methods), sorted(set(bits_list))
    for m in methods:
        if m not in METHODS and m not in _baselines.BASELINES:
            raise ValueError(f"methods: {m!r} is not one of {list(METHODS) + list(_baselines.BASELINES)}")
    for b in bits_list:
        QuantConfig("uniform", b)  # validates bits (ValueError naming bits)
    QuantConfig("uniform", 4, gain=gain, shared_shape=shared_shape, codebook=codebook)  # validates (ValueError naming each)
    if not isinstance(offset, bool):
        raise ValueError(f"offset must be a bool, got {offset!r}")
    opts = {"gain": gain, "offset": offset, "shared_shape": shared_shape, "codebook": codebook}
    g = as_granularity(granularity)
    dname, data = _resolve_data(dataset, limit)
    rows: list[SweepRow] = []
    resolved = _resolve_models(models, dataset)
    modes = [(m, m.training) for model in resolved.values() for m in model.modules()]  # the caller's, restored below
    bar = tqdm(total=len(resolved) * len(methods), desc="sweep (model x method)", disable=not progress)
    try:
        for mname, model in resolved.items():
            _sweep_model(rows, mname, model.eval(), dname, data, methods, bits_list, g, skip, batch_size, fold_bn, opts, bar)
    except KeyboardInterrupt:
        return Sweep(tuple(rows), interrupted=True)
    finally:
        bar.close()
        for m, training in modes:
            m.training = training
    return Sweep(tuple(rows))


def _sweep_model(rows: list, mname: str, model: nn.Module, dname: str, data: tuple, methods: list, bits_list: list,
                 g: Any, skip: Any, batch_size: int, fold_bn: bool, opts: dict, bar: Any) -> None:
    """Append the float row and one row per (method, width) of one model to ``rows``."""
    ref = evaluate(model, data, batch_size, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        fbytes = save_float(model, os.path.join(tmp, "float.safetensors"))
        base = {"model": mname, "dataset": dname, "float_top1": ref["top1"], "float_bytes": fbytes, "n": ref["n"]}
        rows.append(SweepRow(**base, method="float", bits=32, granularity="", bn_folded=False, top1=ref["top1"],
                             top5=ref["top5"], drop=0.0, mean_rho=1.0, packed_bytes=fbytes, ratio=1.0, bound_ratio=1.0,
                             config="", layer_rho="{}"))
        for method in methods:
            if method in _baselines.BASELINES:
                qm, report, size = _baselines.run_baseline(method, model, tmp)
                cfg = {"method": method, "bits": 8, "granularity": "channel" if method.endswith("channel") else "tensor"}
                sizes = {"packed_bytes": size, "ratio": fbytes / size, "bound_ratio": math.nan}
                widths = [8]
            else:
                widths = [FIXED_BITS[method]] if method in FIXED_BITS else bits_list
            for b in widths:
                if method not in _baselines.BASELINES:
                    qm, report = quantize(model, _config(method, b, g, skip, fold_bn and _has_bn(model), opts))
                    c = compression(model, qm, tmp)
                    cfg = qm.corrquant.config.to_dict()
                    sizes = {"packed_bytes": c["packed_bytes"], "ratio": c["ratio"], "bound_ratio": c["bound_ratio"]}
                acc = evaluate(qm, data, batch_size, progress=False)
                rows.append(SweepRow(
                    **base, method=method, bits=b, granularity=cfg["granularity"],
                    bn_folded=bool(fold_bn and method not in _baselines.BASELINES and _has_bn(model)), top1=acc["top1"],
                    top5=acc["top5"], drop=ref["top1"] - acc["top1"], mean_rho=mean_rho(report), **sizes,
                    config=json.dumps(cfg, sort_keys=True),
                    layer_rho=json.dumps({r.name: r.rho for r in report if not r.skipped}),
                ))
            bar.update(1)


def _config(method: str, bits: int, g: Any, skip: Any, fold: bool, opts: dict) -> QuantConfig:
    if opts["offset"] and method not in ("minmax", "affine"):  # both are affine grids already
        recipe = theory.Recipe(method, None if method in FIXED_BITS else bits, gain=opts["gain"],
                               shared_shape=opts["shared_shape"], offset=True)
        return QuantConfig(recipe, None, g, skip, fold_bn=fold, codebook=opts["codebook"])
    return QuantConfig(method, bits, g, skip, fold_bn=fold, gain=opts["gain"], shared_shape=opts["shared_shape"],
                       codebook=opts["codebook"])


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


# -- summaries ---------------------------------------------------------------------------
def _as_rows(table: Iterable) -> list[SweepRow]:
    """Rows as :class:`SweepRow` (dicts, e.g. read back from JSON, converted)."""
    return [r if isinstance(r, SweepRow) else SweepRow.from_dict(r) for r in table]


def smallest_bits_within(table: Iterable, points: float = 1.0) -> list[dict]:
    """Per (model, method): the smallest bit width whose top-1 is within ``points`` of float.

    **Arguments:** `table`: a :class:`Sweep`, or its rows (:class:`SweepRow` or their ``to_dict()``);
    `points`: the allowed drop in top-1 points.

    **Returns:** rows ``{"model", "method", "bits", "top1", "drop", "ratio", "mean_rho"}``;
    ``bits`` is None (and the rest nan) when no width in the table qualifies.
    """
    if not (isinstance(points, int | float) and math.isfinite(points) and points >= 0):
        raise ValueError(f"points must be a finite number >= 0, got {points!r}")
    out, groups = [], {}
    for r in _as_rows(table):
        if r.method != "float":
            groups.setdefault((r.model, r.method), []).append(r)
    for (model, method), rs in groups.items():
        ok = sorted((r for r in rs if r.drop <= points), key=lambda r: r.bits)
        if ok:
            r = ok[0]
            out.append({"model": model, "method": method, "bits": r.bits, "top1": r.top1, "drop": r.drop,
                        "ratio": r.ratio, "mean_rho": r.mean_rho})
        else:
            out.append({"model": model, "method": method, "bits": None, "top1": math.nan, "drop": math.nan,
                        "ratio": math.nan, "mean_rho": math.nan})
    return out


def write_csv(table: Iterable, path: str | os.PathLike, columns: list[str] | None = None) -> str:
    """Write the rows (a :class:`Sweep` or :class:`SweepRow` s) to CSV (default columns ``COLUMNS``); returns the path."""
    cols = list(columns or COLUMNS)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(r.to_dict() for r in _as_rows(table))
    return str(path)
