"""Deterministic CPU training of the small classifiers, and the committed weights.

``python -m deepnets.train --model vgg --dataset fashion_mnist --epochs 4 --seed 0 --out deepnets/weights``
writes ``vgg_fashion_mnist.safetensors`` (the state_dict, with metadata) and
``vgg_fashion_mnist.json`` (the training log).  ``python -m deepnets.train --all``
trains every model on every dataset with the epochs in :data:`DEFAULT_EPOCHS`.

Determinism: the model is built and trained inside ``torch.random.fork_rng`` seeded with
``seed`` (initialization and dropout draw from it; the caller's global generator is left
as it was), a seeded generator for the shuffling, single-process loading, a fixed number of threads and
``torch.use_deterministic_algorithms(True)``.  Same seed, same threads, same torch build:
same weights bit for bit.  (Different thread counts may change float summation order.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .data import DATASETS, get_dataset, loader
from .models import MODELS, WEIGHTS_DIR, build, count_params

#: Epochs used by ``--all`` and as the CLI default, per (model, dataset); chosen so that
#: all four Fashion-MNIST models train in about 20 minutes on 1-2 shared CPU cores.
DEFAULT_EPOCHS = {
    ("mlp", "fashion_mnist"): 15,
    ("vgg", "fashion_mnist"): 5,
    ("resnet", "fashion_mnist"): 4,
    ("mobilenet", "fashion_mnist"): 5,
    ("mlp", "digits"): 30,
    ("vgg", "digits"): 30,
    ("resnet", "digits"): 30,
    ("mobilenet", "digits"): 60,
}


def git_commit() -> str:
    """The HEAD commit of the repository holding this file, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@torch.no_grad()
def top1(model: nn.Module, dataset, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on a dataset of ``(image, label)``.

    Arguments:
        model: classifier mapping ``(b, C, H, W)`` to logits ``(b, classes)``.
        dataset: torch Dataset or ``(images, labels)`` pair.
        batch_size: evaluation batch size.

    Returns:
        fraction of examples whose arg-max logit is the label, in [0, 1].
    """
    model.eval()
    correct = total = 0
    for images, labels in loader(dataset, batch_size):
        correct += int((model(images).argmax(1) == labels).sum())
        total += len(labels)
    if total == 0:
        raise ValueError("dataset must not be empty")
    return correct / total


def train(
    name: str,
    dataset: str = "fashion_mnist",
    epochs: int | None = None,
    seed: int = 0,
    *,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    num_threads: int = 1,
    progress: bool = True,
    train_data=None,
    test_data=None,
) -> tuple[nn.Module, dict]:
    """Train ``name`` on ``dataset`` from scratch, deterministically.

    AdamW (I. Loshchilov, F. Hutter, ICLR 2019) with a one-cycle learning-rate schedule
    (L. N. Smith, N. Topin, 2017), cross-entropy loss, no augmentation.

    Arguments:
        name: a key of :data:`deepnets.models.MODELS`.
        dataset: ``"fashion_mnist"`` or ``"digits"``.
        epochs: passes over the training set; default :data:`DEFAULT_EPOCHS`.
        seed: seeds the initialization and the shuffling.
        batch_size, lr, weight_decay: optimizer settings (``lr`` is the peak rate).
        num_threads: torch CPU threads during training (restored afterwards).
        progress: show tqdm bars.
        train_data, test_data: override the datasets (``(images, labels)`` or Dataset), e.g.
            a small slice for tests; default ``get_dataset(dataset, split)``.

    Returns:
        model: the trained model in eval mode.
        log: dict with the settings, per-epoch ``loss`` / ``train_acc`` / ``test_acc``,
            ``test_top1`` (final float top-1), ``wall_time_s``, ``params``,
            ``torch_version``, ``git_commit``.
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    if epochs is None:
        epochs = DEFAULT_EPOCHS[(name, dataset)]
    for arg, value in (("epochs", epochs), ("batch_size", batch_size), ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")

    train_data = train_data if train_data is not None else get_dataset(dataset, "train")
    test_data = test_data if test_data is not None else get_dataset(dataset, "test")

    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):  # seeded here; the caller's global generator is left as it was
            torch.manual_seed(seed)
            model = build(name, dataset)
            batches = loader(train_data, batch_size, shuffle=True, seed=seed)
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=len(batches), pct_start=0.25
            )
            history = []
            for epoch in range(1, epochs + 1):
                model.train()
                loss_sum, correct, seen = 0.0, 0, 0
                bar = tqdm(batches, desc=f"{name}/{dataset} epoch {epoch}/{epochs}", disable=not progress, leave=False)
                for images, labels in bar:
                    logits = model(images)
                    loss = F.cross_entropy(logits, labels)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    loss_sum += float(loss.detach()) * len(labels)
                    correct += int((logits.argmax(1) == labels).sum())
                    seen += len(labels)
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
                test_acc = top1(model, test_data)
                history.append({"epoch": epoch, "loss": loss_sum / seen, "train_acc": correct / seen, "test_acc": test_acc})
                if progress:
                    tqdm.write(f"{name}/{dataset} epoch {epoch}: loss {loss_sum / seen:.4f} "
                               f"train {correct / seen:.4f} test {test_acc:.4f}")
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_deterministic)
    model.eval()
    log = {
        "model": name,
        "dataset": dataset,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "optimizer": "AdamW + OneCycleLR(pct_start=0.25)",
        "num_threads": num_threads,
        "params": count_params(model),
        "history": history,
        "test_top1": history[-1]["test_acc"],
        "wall_time_s": round(time.perf_counter() - start, 2),
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
    }
    return model, log


def save(model: nn.Module, log: dict, out: str | Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """Write ``{model}_{dataset}.safetensors`` (state_dict + metadata) and ``.json`` (log).

    Arguments:
        model: the trained model.
        log: the log from :func:`train` (needs ``model``, ``dataset``, ``epochs``,
            ``seed``, ``test_top1``, ``git_commit``).
        out: output folder (created if missing).

    Returns:
        ``(safetensors_path, json_path)``.
    """
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{log['model']}_{log['dataset']}"
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "model": str(log["model"]),
        "dataset": str(log["dataset"]),
        "epochs": str(log["epochs"]),
        "seed": str(log["seed"]),
        "test_top1": f"{log['test_top1']:.6f}",
        "git_commit": str(log["git_commit"]),
        "torch_version": str(log.get("torch_version", torch.__version__)),
    }
    weights = out / f"{stem}.safetensors"
    save_file(state, str(weights), metadata=metadata)
    log_path = out / f"{stem}.json"
    log_path.write_text(json.dumps(log, indent=2) + "\n")
    return weights, log_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deepnets.train", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS))
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=None, help="default: DEFAULT_EPOCHS[(model, dataset)]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(WEIGHTS_DIR))
    parser.add_argument("--all", action="store_true", help="train every model on every dataset")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.all == (args.model is not None):
        parser.error("give exactly one of --model NAME or --all")
    jobs = [(m, d) for d in ("digits", "fashion_mnist") for m in MODELS] if args.all else [(args.model, args.dataset)]
    for name, dataset in jobs:
        epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS[(name, dataset)]
        model, log = train(name, dataset, epochs, args.seed, num_threads=args.threads, progress=not args.quiet)
        weights, log_path = save(model, log, args.out)
        print(f"{name}/{dataset}: test top-1 {log['test_top1']:.4f} in {log['wall_time_s']:.0f}s -> {weights}, {log_path}")


if __name__ == "__main__":
    main()
