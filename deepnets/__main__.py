"""Command line: ``python -m deepnets train|quantize|evaluate|sweep`` (see ``--help`` of each).

Any PyTorch model comes in as ``--model FILE`` (a ``.safetensors``, ``.pt`` or ``.pth`` state_dict,
read without running pickled code) with ``--arch package.module:Class`` and ``--arch-kwargs JSON``;
a packed file from ``quantize`` rebuilds the model it records.  Every user error prints one line
naming the flag and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

METHOD_HELP = "minmax (min-max round-to-nearest baseline), uniform (max-rho step), exponential (max-rho base and " \
              "smallest level; Pushkareva & Karandashev 2020), lloyd_max (k-means weight sharing; Han et al. 2016), " \
              "sign (1 bit), ternary (2 bits)"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
DATASET_NAMES = ("fashion_mnist", "mnist", "digits")  # deepnets.data.DATASETS (not imported: --help stays fast)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: <prog>: <message>``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())}\n")


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value
    return parse


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"num_classes\": 10}}', got {text!r}")
    return value


def _granularity_arg(text: str) -> str:
    from theory.granularity import as_granularity

    try:
        as_granularity(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected channel, tensor or group:SIZE, got {text!r}") from None
    return text


# -- the model -------------------------------------------------------------------------
def _looks_packed(path: str) -> bool:
    """The safetensors header carries corrquant metadata (read even when the data is cut short)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100 * 2**20:
                return False
            md = json.loads(f.read(n)).get("__metadata__") or {}
    except (OSError, struct.error, ValueError, AttributeError):
        return False
    return isinstance(md, dict) and any(k.startswith("corrquant") for k in md)


def _build_arch(a: argparse.Namespace):
    """The model named by ``--arch`` (registry name or module:Class with ``--arch-kwargs``), or None."""
    from . import models

    if a.arch is None:
        if a.arch_kwargs is not None:
            raise ValueError("--arch-kwargs: give it together with --arch package.module:Class")
        return None
    if ":" in a.arch:
        return models.build_from_spec(a.arch, a.arch_kwargs, what="--arch")
    if a.arch_kwargs is not None:
        raise ValueError("--arch-kwargs: only with --arch package.module:Class (registry models take --dataset)")
    if a.arch not in models.MODELS:
        raise ValueError(f"--arch must be a registry name {sorted(models.MODELS)} or package.module:Class, got {a.arch!r}")
    return models.build(a.arch, a.dataset)


def _load_float(a: argparse.Namespace):
    """``(model, name)`` from ``--model``: a packed file, a weights file with ``--arch``, or a registry name."""
    from . import models

    path = a.model
    if os.path.isfile(path):
        if _looks_packed(path):
            from .storage import load

            net = _build_arch(a)
            try:
                qnet = load(path, net)
            except ValueError as e:
                raise ValueError(f"--model: {e}") from None
            arch = qnet.corrquant.arch
            return qnet, arch.get("name") or str(arch.get("class", "model")).rpartition(":")[2].lower()
        if not path.endswith(WEIGHT_SUFFIXES):
            raise ValueError(f"--model: {path!r} is not a {'/'.join(WEIGHT_SUFFIXES)} weights file nor a packed file")
        if a.arch is None:
            raise ValueError("--arch: required when --model is a weights file (a registry name such as "
                             f"{sorted(models.MODELS)[0]}, or package.module:Class with --arch-kwargs)")
        net = _build_arch(a)
        from .zoo import read_state_dict

        try:
            state = read_state_dict(path)
        except ValueError as e:
            cause = type(e.__cause__).__name__
            why = {"UnpicklingError": "is a pickle that needs code to load (a whole pickled model?), refused",
                   "EOFError": "is empty or truncated"}.get(cause, str(e))
            raise ValueError(f"--model: {path!r} {why}; give a state_dict: torch.save(model.state_dict(), "
                             "'net.pth') or a .safetensors file" if cause in ("UnpicklingError", "EOFError")
                             else f"--model: {e}") from None
        for key, value in net.state_dict().items():  # counters absent from some published files
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = value
        try:
            models.check_state_dict(net, state, source=path)
        except ValueError as e:
            raise ValueError(f"--model: the weights do not match --arch {a.arch}: {e}") from None
        net.load_state_dict(state, strict=True)
        return net.eval(), (a.arch if ":" not in a.arch else a.arch.rpartition(":")[2].rpartition(".")[2].lower())
    if os.path.exists(path) or os.sep in path or path.endswith(WEIGHT_SUFFIXES):
        raise ValueError(f"--model: no such file {path!r}")
    if path not in models.MODELS:
        raise ValueError(f"--model: {path!r} is neither a file nor a registry model {sorted(models.MODELS)}")
    if a.arch is not None or a.arch_kwargs is not None:
        raise ValueError("--arch: only with a weights file as --model (a registry name brings its own)")
    try:
        return models.load_pretrained(path, a.dataset).eval(), path
    except FileNotFoundError as e:
        raise ValueError(f"--model: {e}") from None


def _check_out_file(flag: str, path: str | None) -> None:
    if path is not None:
        from .storage import _check_writable

        _check_writable(flag, path)


def _check_out_dir(flag: str, path: str | None) -> None:
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag}: {path!r} exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(path) and not os.path.isdir(parent):
        raise ValueError(f"{flag}: the parent directory {parent!r} does not exist")


# -- the commands ----------------------------------------------------------------------
def cmd_train(a: argparse.Namespace) -> None:
    from . import train

    _check_out_dir("--out", a.out)
    model, log = train.train(a.model, a.dataset, a.epochs, a.seed, progress=not a.quiet)
    weights, log_path = train.save(model, log, a.out or train.WEIGHTS_DIR)
    print(json.dumps({"weights": str(weights), "log": str(log_path), "test_top1": log["test_top1"], "epochs": log["epochs"]}))


def cmd_quantize(a: argparse.Namespace) -> None:
    from . import data, models
    from .quantize import QuantConfig, quantize
    from .storage import compression, save

    try:  # validate before loading anything
        config = QuantConfig(a.method, a.bits, a.granularity, tuple(a.skip), a.fold_bn, gain=a.gain, search=a.search)
    except ValueError as e:
        msg = str(e)
        raise ValueError(f"--{msg}" if msg.split()[0].rstrip(":") in {"method", "bits", "granularity", "skip", "gain", "search"} else msg) from None
    _check_out_file("--out", a.out)
    net, name = _load_float(a)
    if getattr(net, "corrquant_input_shape", None) is None:  # the sample input of BatchNorm folding
        info = data.DATASETS[a.dataset]
        net.corrquant_input_shape = (info.in_channels, info.image_size, info.image_size)
    arch = {"dataset": a.dataset}
    if a.arch is not None and ":" in a.arch:
        arch.update({"class": a.arch, "kwargs": a.arch_kwargs or {}})
    elif name in models.MODELS:
        arch["name"] = name
    qnet, report = quantize(net, config, arch=arch, progress=sys.stderr.isatty())  # a bar only on a terminal
    out = a.out or f"{name}_{a.dataset}_{a.method}{qnet.corrquant.config.bits}.safetensors"
    _check_out_file("--out", out)
    sizes = save(qnet, out)
    for r in report:
        print(f"{r.name:32s} {r.type:15s} {r.params:>9d} " + (f"skipped ({r.reason})" if r.skipped else f"K={r.K:<4d} rho={r.rho:.5f} relMSE={r.rel_mse:.3e}"))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        c = compression(net, qnet, tmp)
    print(json.dumps({"out": out, "file_bytes": sizes["file"], "bound_bytes": sizes["bound"], "float32_bytes": c["float_bytes"], "ratio": round(c["ratio"], 3)}))


def _eval_data(a: argparse.Namespace, net):
    from . import data

    source = a.data if a.data is not None else a.dataset
    if source in data.DATASETS:
        return data.test_subset(source, a.limit)
    if not os.path.isdir(source):
        raise ValueError(f"--data: {source!r} is neither a registered dataset {sorted(data.DATASETS)} nor a folder")
    info = data.DATASETS[a.dataset]
    shape = getattr(net, "corrquant_input_shape", None) or (info.in_channels, info.image_size, info.image_size)
    if len(shape) != 3 or shape[0] not in (1, 3) or shape[1] != shape[2]:
        raise ValueError(f"--data: a folder of images needs a model of square 1- or 3-channel inputs, not {tuple(shape)}")
    if shape[0] == info.in_channels:
        mean, std = info.mean, info.std
    else:
        from .zoo import IMAGENET_MEAN, IMAGENET_STD

        mean, std = IMAGENET_MEAN, IMAGENET_STD
    try:
        x, y = data.load_image_folder(source, shape[0], shape[1], mean, std)
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"--data: {e}") from None
    return (x, y) if a.limit is None else (x[: a.limit], y[: a.limit])


def cmd_evaluate(a: argparse.Namespace) -> None:
    from .evaluate import evaluate

    net, _ = _load_float(a)
    x, y = _eval_data(a, net)
    try:
        result = evaluate(net, (x, y), a.batch_size, progress=True)
    except RuntimeError as e:  # the model cannot take these images (shape, channels)
        raise ValueError(f"--data: the model cannot run on these images {tuple(x.shape[1:])} ({str(e).splitlines()[0]})") from None
    print(json.dumps(result))


def cmd_sweep(a: argparse.Namespace) -> None:
    from .plots import per_model_figure, plot_accuracy_vs_bits, plot_accuracy_vs_rho
    from .sweep import smallest_bits_within, sweep, write_csv

    _check_out_dir("--out-dir", a.out_dir)
    rows = sweep(a.models, a.methods, a.bits, a.dataset, a.granularity, tuple(a.skip), a.batch_size, a.limit, progress=True,
                 gain=a.gain, fold_bn=a.fold_bn)
    os.makedirs(a.out_dir, exist_ok=True)
    write_csv(rows, os.path.join(a.out_dir, "sweep.csv"))
    per_model_figure(rows, plot_accuracy_vs_bits, os.path.join(a.out_dir, "accuracy_vs_bits.png"))
    per_model_figure(rows, plot_accuracy_vs_rho, os.path.join(a.out_dir, "accuracy_vs_rho.png"))
    print(json.dumps({"smallest_bits_within": smallest_bits_within(rows), "interrupted": rows.interrupted}, default=str, indent=1))


def parser() -> argparse.ArgumentParser:
    from .baselines import BASELINES
    from .quantize import METHODS

    p = _Parser(prog="python -m deepnets", description="Post-training weight quantization of image classifiers with corrquant's quantizers.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s, model_help: str) -> None:
        s.add_argument("--model", required=True, help=model_help)
        s.add_argument("--arch", default=None,
                       help="the model when --model is a weights file: a registry name (mlp, vgg, resnet, mobilenet) "
                            "or package.module:Class of any importable nn.Module")
        s.add_argument("--arch-kwargs", type=_json_object, default=None,
                       help="keyword arguments of --arch package.module:Class as a JSON object, e.g. '{\"num_classes\": 10}'")
        s.add_argument("--dataset", default="fashion_mnist", choices=DATASET_NAMES,
                       help="dataset the model was trained on: its input shape and normalization (default fashion_mnist; "
                            "mnist needs the extra: pip install 'corrquant[mnist]')")

    t = sub.add_parser("train", help="train a model (delegates to deepnets.train)", description="Train a registry model (deepnets.train.train) and write <model>_<dataset>.safetensors + .json log.")
    t.add_argument("--model", required=True, choices=["mlp", "vgg", "resnet", "mobilenet"], help="architecture name: mlp, vgg, resnet or mobilenet")
    t.add_argument("--dataset", default="fashion_mnist", choices=DATASET_NAMES, help="training set (default fashion_mnist)")
    t.add_argument("--epochs", type=_int_at_least(1), default=None, help="training epochs (default: deepnets.train.DEFAULT_EPOCHS for the model and dataset)")
    t.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of initialization and batch order, an integer >= 0 (default 0)")
    t.add_argument("--out", default=None, help="output folder (default deepnets/weights, where load_pretrained looks)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    q = sub.add_parser("quantize", help="quantize a model and write the packed file", description="Quantize Conv/Linear weights post-training and write codes packed at the real bit width in one safetensors file.")
    common(q, "registry name (committed weights), a .safetensors/.pt/.pth state_dict (then give --arch) or a packed file")
    q.add_argument("--method", required=True, choices=list(METHODS), help=METHOD_HELP)
    q.add_argument("--bits", type=int, default=None, help="bits per weight 1..8 (K = 2**bits levels); omit for sign/ternary")
    q.add_argument("--granularity", default="channel", type=_granularity_arg,
                   help="channel (one quantizer per output channel, default), tensor, or group:SIZE (groups of SIZE consecutive weights per channel)")
    q.add_argument("--skip", action="append", default=[], help="keep a layer float: 'first', 'last' or an fnmatch name pattern; repeatable")
    q.add_argument("--fold-bn", action="store_true",
                   help="fold BatchNorm into the preceding conv/linear before quantizing (pairs found on a sample input "
                        "of the --dataset's shape; works with control flow in forward)")
    q.add_argument("--gain", default="mse", choices=["mse", "unbiased"],
                   help="scale of the levels: mse (least squares, default; minmax keeps its range scale) or unbiased "
                        "(E[w q] = E[w^2] per channel/tensor: no rho^2 shrinkage of the weights against float biases); "
                        "codes and rho are the same")
    q.add_argument("--search", default="exact", choices=["exact", "histogram"],
                   help="shape search of the rho families: exact (on sorted weights, default) or histogram (on per-channel "
                        "histograms: several times faster on large models, rho within ~1e-5, top-1 can move; docs/benchmarks.md)")
    q.add_argument("--out", default=None, help="output packed file (default <model>_<dataset>_<method><bits>.safetensors)")
    q.set_defaults(func=cmd_quantize)

    e = sub.add_parser("evaluate", help="top-1/top-5 accuracy on the test split", description="Evaluate a registry model, a float weights file or a packed quantized file on test images.")
    common(e, "registry name, a .safetensors/.pt/.pth state_dict (with --arch) or a packed file from 'quantize'")
    e.add_argument("--data", default=None,
                   help="test images: a registered dataset (fashion_mnist, mnist, digits) or an ImageFolder-style folder "
                        "root/<class>/<image> of PNG/JPG files, fitted to the model's input shape and normalized as --dataset "
                        "(default: the --dataset test split)")
    e.add_argument("--batch-size", type=_int_at_least(1), default=256, help="images per forward pass (default 256)")
    e.add_argument("--limit", type=_int_at_least(1), default=None, help="evaluate the first N test images only (N >= 1)")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sweep", help="accuracy, rho and compression over methods x bits", description="Sweep methods x bits on committed models; writes sweep.csv and two plots.")
    s.add_argument("--models", nargs="+", default=["mlp"], help="registry model names (committed weights), default mlp")
    s.add_argument("--methods", nargs="+", default=list(METHODS) + list(BASELINES), help=f"methods: {list(METHODS)} and torch baselines {list(BASELINES)} (default all)")
    s.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4, 5, 6, 8], help="bit widths 1..8 (sign/ternary run at 1/2, torch baselines at 8)")
    s.add_argument("--dataset", default="fashion_mnist", choices=DATASET_NAMES, help="dataset (default fashion_mnist)")
    s.add_argument("--granularity", default="channel", choices=["channel", "tensor"], help="per output channel (default) or per tensor")
    s.add_argument("--skip", action="append", default=[], help="keep a layer float: 'first', 'last' or a name pattern; repeatable")
    s.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the preceding convs before quantizing (default: raw conv weights, as quantize)")
    s.add_argument("--gain", default="mse", choices=["mse", "unbiased"], help="scale of the levels: mse (least squares, default) or unbiased (E[w q] = E[w^2]); see quantize --help")
    s.add_argument("--batch-size", type=_int_at_least(1), default=256, help="images per forward pass (default 256)")
    s.add_argument("--limit", type=_int_at_least(1), default=None, help="evaluate on the first N test images only (N >= 1)")
    s.add_argument("--out-dir", default="out/deepnets", help="folder for CSV, Markdown and plots (default out/deepnets)")
    s.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error prints ``error: <message>`` (one line, naming the flag) and returns 2."""
    a = parser().parse_args(argv)
    try:
        a.func(a)
    except (ValueError, FileNotFoundError, ImportError, PermissionError, IsADirectoryError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
