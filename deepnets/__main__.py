"""Command line: ``python -m deepnets train|quantize|evaluate|sweep`` (see ``--help`` of each)."""

from __future__ import annotations

import argparse
import json
import os
import sys

METHOD_HELP = "minmax (min-max round-to-nearest baseline), uniform (max-rho step), exponential (max-rho base and " \
              "smallest level; Pushkareva & Karandashev 2020), lloyd_max (k-means weight sharing; Han et al. 2016), " \
              "sign (1 bit), ternary (2 bits)"


def _load_float(model: str, arch: str | None, dataset: str):
    """A float model from a registry name (committed weights) or a safetensors state_dict file."""
    from . import models

    if os.path.isfile(model):
        from .storage import is_packed, load, read_packed

        if is_packed(model):
            return load(model, arch), (read_packed(model)[0].get("arch") or {}).get("name", arch)
        if not arch:
            raise SystemExit("error: --arch is required when --model is a float weights file")
        import safetensors.torch

        net = models.build(arch, dataset)
        net.load_state_dict(safetensors.torch.load_file(model))
        return net.eval(), arch
    return models.load_pretrained(model, dataset).eval(), model


def cmd_train(a: argparse.Namespace) -> None:
    from . import train

    model, log = train.train(a.model, a.dataset, a.epochs, a.seed, progress=not a.quiet)
    weights, log_path = train.save(model, log, a.out or train.WEIGHTS_DIR)
    print(json.dumps({"weights": str(weights), "log": str(log_path), "test_top1": log["test_top1"], "epochs": log["epochs"]}))


def _granularity_arg(text: str) -> str:
    from theory.granularity import as_granularity

    try:
        as_granularity(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected channel, tensor or group:SIZE, got {text!r}") from None
    return text


def cmd_quantize(a: argparse.Namespace) -> None:
    from .quantize import QuantConfig, quantize
    from .storage import compression, save

    config = QuantConfig(a.method, a.bits, a.granularity, tuple(a.skip), a.fold_bn, gain=a.gain)  # validate before loading anything
    net, name = _load_float(a.model, a.arch, a.dataset)
    qnet, report = quantize(net, config, arch={"name": name, "dataset": a.dataset})
    out = a.out or f"{name}_{a.dataset}_{a.method}{qnet.corrquant.config.bits}.safetensors"
    sizes = save(qnet, out)
    for r in report:
        print(f"{r.name:32s} {r.type:15s} {r.params:>9d} " + (f"skipped ({r.reason})" if r.skipped else f"K={r.K:<4d} rho={r.rho:.5f} relMSE={r.rel_mse:.3e}"))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        c = compression(net, qnet, tmp)
    print(json.dumps({"out": out, "file_bytes": sizes["file"], "bound_bytes": sizes["bound"], "float32_bytes": c["float_bytes"], "ratio": round(c["ratio"], 3)}))


def cmd_evaluate(a: argparse.Namespace) -> None:
    from . import data
    from .evaluate import evaluate

    net, _ = _load_float(a.model, a.arch, a.dataset)
    x, y = data.get_dataset(a.dataset, "test").tensors
    if a.limit:
        x, y = x[: a.limit], y[: a.limit]
    print(json.dumps(evaluate(net, (x, y), a.batch_size, progress=True)))


def cmd_sweep(a: argparse.Namespace) -> None:
    from .plots import per_model_figure, plot_accuracy_vs_bits, plot_accuracy_vs_rho
    from .sweep import smallest_bits_within, sweep, write_csv

    rows = sweep(a.models, a.methods, a.bits, a.dataset, a.granularity, tuple(a.skip), a.batch_size, a.limit, progress=True, gain=a.gain)
    os.makedirs(a.out_dir, exist_ok=True)
    write_csv(rows, os.path.join(a.out_dir, "sweep.csv"))
    per_model_figure(rows, plot_accuracy_vs_bits, os.path.join(a.out_dir, "accuracy_vs_bits.png"))
    per_model_figure(rows, plot_accuracy_vs_rho, os.path.join(a.out_dir, "accuracy_vs_rho.png"))
    print(json.dumps({"smallest_bits_within": smallest_bits_within(rows), "interrupted": rows.interrupted}, default=str, indent=1))


def parser() -> argparse.ArgumentParser:
    from .baselines import BASELINES
    from .quantize import METHODS

    p = argparse.ArgumentParser(prog="python -m deepnets", description="Post-training weight quantization of image classifiers with corrquant's quantizers.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s, model_help: str) -> None:
        s.add_argument("--model", required=True, help=model_help)
        s.add_argument("--arch", default=None, help="architecture name (mlp, vgg, resnet, mobilenet) when --model is a weights file")
        s.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "digits"], help="dataset the model was trained on / is evaluated on (default fashion_mnist)")

    t = sub.add_parser("train", help="train a model (delegates to deepnets.train)", description="Train a registry model (deepnets.train.train) and write <model>_<dataset>.safetensors + .json log.")
    t.add_argument("--model", required=True, help="architecture name: mlp, vgg, resnet or mobilenet")
    t.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "digits"], help="training set (default fashion_mnist)")
    t.add_argument("--epochs", type=int, default=None, help="training epochs (default: deepnets.train.DEFAULT_EPOCHS for the model and dataset)")
    t.add_argument("--seed", type=int, default=0, help="seed of initialization and batch order (default 0)")
    t.add_argument("--out", default=None, help="output folder (default deepnets/weights, where load_pretrained looks)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    q = sub.add_parser("quantize", help="quantize a model and write the packed file", description="Quantize Conv2d/Linear weights post-training and write codes packed at the real bit width in one safetensors file.")
    common(q, "registry name (committed weights) or a float32 safetensors weights file (then give --arch)")
    q.add_argument("--method", required=True, choices=list(METHODS), help=METHOD_HELP)
    q.add_argument("--bits", type=int, default=None, help="bits per weight 1..8 (K = 2**bits levels); omit for sign/ternary")
    q.add_argument("--granularity", default="channel", type=_granularity_arg,
                   help="channel (one quantizer per output channel, default), tensor, or group:SIZE (groups of SIZE consecutive weights per channel)")
    q.add_argument("--skip", action="append", default=[], help="keep a layer float: 'first', 'last' or an fnmatch name pattern; repeatable")
    q.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the preceding conv before quantizing")
    q.add_argument("--gain", default="mse", choices=["mse", "unbiased"],
                   help="scale of the levels: mse (least squares, default; minmax keeps its range scale) or unbiased "
                        "(E[w q] = E[w^2] per channel/tensor: no rho^2 shrinkage of the weights against float biases); "
                        "codes and rho are the same")
    q.add_argument("--out", default=None, help="output packed file (default <model>_<dataset>_<method><bits>.safetensors)")
    q.set_defaults(func=cmd_quantize)

    e = sub.add_parser("evaluate", help="top-1/top-5 accuracy on the test split", description="Evaluate a registry model, a float weights file or a packed quantized file on the test split.")
    common(e, "registry name, float32 safetensors file (with --arch) or packed file from 'quantize'")
    e.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    e.add_argument("--limit", type=int, default=None, help="evaluate the first N test images only")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sweep", help="accuracy, rho and compression over methods x bits", description="Sweep methods x bits on committed models; writes sweep.csv and two plots.")
    s.add_argument("--models", nargs="+", default=["mlp"], help="registry model names (committed weights), default mlp")
    s.add_argument("--methods", nargs="+", default=list(METHODS) + list(BASELINES), help=f"methods: {list(METHODS)} and torch baselines {list(BASELINES)} (default all)")
    s.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4, 5, 6, 8], help="bit widths 1..8 (sign/ternary run at 1/2, torch baselines at 8)")
    s.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "digits"], help="dataset (default fashion_mnist)")
    s.add_argument("--granularity", default="channel", choices=["channel", "tensor"], help="per output channel (default) or per tensor")
    s.add_argument("--skip", action="append", default=[], help="keep a layer float: 'first', 'last' or a name pattern; repeatable")
    s.add_argument("--gain", default="mse", choices=["mse", "unbiased"], help="scale of the levels: mse (least squares, default) or unbiased (E[w q] = E[w^2]); see quantize --help")
    s.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    s.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    s.add_argument("--out-dir", default="out/deepnets", help="folder for CSV, Markdown and plots (default out/deepnets)")
    s.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        a.func(a)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
