"""deepnets.data (IDX reader, Fashion-MNIST, digits, loader) and deepnets.zoo's ImageFolder."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from deepnets import data
from deepnets.data import DATASETS, get_dataset, load_digits, load_fashion_mnist, loader, read_idx


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding, written independently of the reader: magic, big-endian dims, data."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_fashion(root: Path, n: int = 5, seed: int = 0, gz: bool = True, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    stems = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    root.mkdir(parents=True, exist_ok=True)
    for stem, arr in zip(stems, (images, labels), strict=True):
        raw = idx_bytes(arr)
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / stem).write_bytes(raw)
    return images, labels


# -- IDX reader ---------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(arr)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


def test_read_idx_big_endian_int32(tmp_path):
    arr = np.array([1, -2, 70000], dtype=np.int32)
    (tmp_path / "i").write_bytes(idx_bytes(arr, 0x0C))
    out = read_idx(tmp_path / "i")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", "length"),  # 2 bytes for 3
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "length"),  # 2 bytes for 1
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x01", "magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x01", "magic"),  # unknown type code
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated"),
        (b"\x00\x00", "too short"),
    ],
)
def test_read_idx_rejects_corrupt_files_naming_the_path(tmp_path, raw, match):
    path = tmp_path / "corrupt-idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 4), np.uint8)))[:-12])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gz"):
        read_idx(tmp_path / "nope.gz")


# -- Fashion-MNIST --------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist_from_small_files(tmp_path, gz):
    images, labels = write_fashion(tmp_path, n=7, gz=gz, split="test")
    x, y = load_fashion_mnist("test", root=tmp_path)
    info = DATASETS["fashion_mnist"]
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (7,) and y.dtype == torch.int64
    np.testing.assert_array_equal(y.numpy(), labels)
    expected = (images[:, None].astype(np.float32) / 255.0 - info.mean) / info.std
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-6)


def test_fashion_root_from_environment(tmp_path, monkeypatch):
    write_fashion(tmp_path / "fm", n=3)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path / "fm"))
    x, y = load_fashion_mnist("train")
    assert x.shape == (3, 1, 28, 28)


def test_missing_default_folder_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.delenv(data.FASHION_MNIST_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_FASHION_MNIST_ROOT", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist") as info:
        load_fashion_mnist("train")
    assert str(tmp_path / "absent") in str(info.value)


def test_missing_file_in_root_names_it(tmp_path):
    write_fashion(tmp_path, n=3, split="train")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_fashion_mnist("test", root=tmp_path)


def test_label_count_mismatch_and_wrong_image_dims(tmp_path):
    write_fashion(tmp_path, n=4)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        load_fashion_mnist("train", root=tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((3, 8, 8), np.uint8))))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        load_fashion_mnist("train", root=tmp_path)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="split"):
        load_digits("val")


@pytest.mark.skipif(not Path(data.DEFAULT_FASHION_MNIST_ROOT).is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_test_split():
    x, y = load_fashion_mnist("test", root=data.DEFAULT_FASHION_MNIST_ROOT)
    assert x.shape == (10000, 1, 28, 28)
    assert torch.bincount(y).tolist() == [1000] * 10, "the test split has 1,000 images per class"
    # the constants are the training-set statistics; the test split is close to them
    assert abs(float(x.mean())) < 0.02 and abs(float(x.std()) - 1) < 0.02, (float(x.mean()), float(x.std()))


# -- digits ----------------------------------------------------------------------------
def test_digits_split_is_deterministic_disjoint_and_complete():
    xtr, ytr = load_digits("train", seed=0)
    xte, yte = load_digits("test", seed=0)
    assert xtr.shape[1:] == (1, 8, 8) and xte.shape[1:] == (1, 8, 8)
    assert len(xtr) + len(xte) == 1797 and len(xte) == 359
    torch.testing.assert_close(load_digits("test", seed=0)[0], xte, rtol=0, atol=0)
    rows = {tuple(r) for r in torch.cat([xtr, xte]).reshape(-1, 64).tolist()}
    assert len(rows) >= 1790  # (a few duplicate images exist in the original set)
    other = load_digits("test", seed=1)[0]
    assert not torch.equal(other, xte)
    allx = torch.cat([xtr, xte])
    assert abs(float(allx.mean())) < 1e-2 and abs(float(allx.std()) - 1) < 1e-2


def test_get_dataset_and_names():
    ds = get_dataset("digits", "test")
    image, label = ds[0]
    assert image.shape == (1, 8, 8) and label.dtype == torch.int64
    with pytest.raises(ValueError, match="name"):
        get_dataset("cifar10", "test")


# -- loader ----------------------------------------------------------------------------
def _order(dl):
    return torch.cat([y for _, y in dl]).tolist()


def test_loader_is_deterministic_given_seed():
    x = torch.zeros(50, 1, 2, 2)
    y = torch.arange(50)
    a = _order(loader((x, y), 8, shuffle=True, seed=3))
    b = _order(loader((x, y), 8, shuffle=True, seed=3))
    c = _order(loader((x, y), 8, shuffle=True, seed=4))
    assert a == b and a != c and sorted(a) == list(range(50))
    assert _order(loader((x, y), 8)) == list(range(50))


def test_loader_validates():
    x, y = torch.zeros(4, 1), torch.zeros(4)
    with pytest.raises(ValueError, match="batch_size"):
        loader((x, y), 0)
    with pytest.raises(ValueError, match="seed"):
        loader((x, y), 2, shuffle=True)


# -- ImageFolder (deepnets.zoo) --------------------------------------------------------
def make_imagefolder(root: Path, colors: dict[str, tuple[int, int, int]], per_class: int = 2) -> None:
    from PIL import Image

    for c, rgb in colors.items():
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            size = (40 + 10 * i, 30)  # landscape and wider: exercises resize + center crop
            Image.new("RGB", size, rgb).save(root / c / f"{i}.png")
    (root / "notes.txt").write_text("not a class folder")


def test_imagefolder_reads_pngs_with_resize_crop_normalize(tmp_path):
    from deepnets.zoo import IMAGENET_MEAN, IMAGENET_STD, imagefolder

    colors = {"b_red": (255, 0, 0), "a_green": (0, 255, 0), "c_gray": (128, 128, 128)}
    make_imagefolder(tmp_path, colors)
    ds = imagefolder(tmp_path, image_size=16)
    assert ds.classes == ["a_green", "b_red", "c_gray"] and len(ds) == 6
    image, label = ds[2]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and label == 1
    expected = (torch.tensor([1.0, 0, 0]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(image.mean(dim=(1, 2)), expected, rtol=0, atol=1e-5)
    assert ds.resize == 18


def test_imagefolder_errors(tmp_path):
    from deepnets.zoo import imagefolder

    with pytest.raises(FileNotFoundError, match="absent"):
        imagefolder(tmp_path / "absent")
    with pytest.raises(ValueError, match="no class folders"):
        imagefolder(tmp_path)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "x.png").write_bytes(b"not a png")
    ds = imagefolder(tmp_path, image_size=8)
    with pytest.raises(ValueError, match="x.png"):
        ds[0]
    with pytest.raises(ValueError, match="image_size"):
        imagefolder(tmp_path, image_size=0)


def test_test_subset_is_the_first_n_test_images_and_calibration_subset_a_seeded_draw():
    from deepnets.data import calibration_subset, get_dataset, test_subset

    x, y = get_dataset("digits", "test").tensors
    xs, ys = test_subset("digits", 100)
    assert torch.equal(xs, x[:100]) and torch.equal(ys, y[:100])
    xa, ya = test_subset("digits")
    assert torch.equal(xa, x) and torch.equal(ya, y)
    xtr = get_dataset("digits", "train").tensors[0]
    idx = np.sort(np.random.default_rng(3).choice(xtr.shape[0], 50, replace=False))
    assert torch.equal(calibration_subset("digits", 50, 3), xtr[idx])
    assert calibration_subset("digits", 10**6, 0).shape[0] == xtr.shape[0]
    state = torch.random.get_rng_state()
    calibration_subset("digits", 50, 1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must"):
            test_subset("digits", bad)
        with pytest.raises(ValueError, match="n must"):
            calibration_subset("digits", bad, 0)
    with pytest.raises(ValueError, match="seed"):
        calibration_subset("digits", 5, None)


def test_training_leaves_the_global_generator_alone():
    from deepnets import train

    x, y = get_dataset("digits", "train").tensors
    state = torch.random.get_rng_state()
    m1, _ = train.train("mlp", "digits", 1, 0, progress=False, train_data=(x[:64], y[:64]), test_data=(x[:32], y[:32]))
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(123)  # a different global state does not change the seeded result
    m2, _ = train.train("mlp", "digits", 1, 0, progress=False, train_data=(x[:64], y[:64]), test_data=(x[:32], y[:32]))
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# -- MNIST from the pip package (extra "mnist", in dev) --------------------------------------
def test_mnist_from_the_pip_package_shapes_labels_normalisation():
    from deepnets.data import DATASETS, load_mnist

    info = DATASETS["mnist"]
    x, y = get_dataset("mnist", "test").tensors
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (10000,) and y.dtype == torch.int64
    # the published test set: its first labels and its class counts (LeCun et al. 1998)
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    pixels = x * info.std + info.mean  # back to [0, 1]: 8-bit values k / 255
    assert float(pixels.min()) == pytest.approx(0.0, abs=1e-6) and float(pixels.max()) == pytest.approx(1.0, abs=1e-6)
    k = pixels * 255
    assert float((k - k.round()).abs().max()) < 1e-3
    xtr, ytr = load_mnist("train")
    assert xtr.shape == (60000, 1, 28, 28) and torch.bincount(ytr).sum() == 60000 and set(ytr.unique().tolist()) == set(range(10))
    # the normalization constants are the training pixels' mean and std (to their 4 digits)
    assert abs(float(xtr.mean())) < 1e-3 and abs(float(xtr.std()) - 1) < 1e-3
    assert not torch.equal(xtr[:100], x[:100])


def test_mnist_without_the_extra_names_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pureml" else real(name, *a))
    with pytest.raises(ImportError, match=r"extra 'mnist'.*corrquant\[mnist\]"):
        get_dataset("mnist", "test")


# -- an ImageFolder-style directory, gray or RGB ------------------------------------------------
def test_load_image_folder_gray_and_rgb(tmp_path):
    from PIL import Image

    from deepnets.data import load_image_folder

    for c, value in (("b", 255), ("a", 0)):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.new("L", (12 + 4 * i, 10), value).save(tmp_path / c / f"{i}.png")
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "b" / "red.jpg", quality=100)
    x, y = load_image_folder(tmp_path, 1, 8, 0.5, 0.25)
    assert x.shape == (5, 1, 8, 8) and y.tolist() == [0, 0, 1, 1, 1]
    torch.testing.assert_close(x[:2], torch.full((2, 1, 8, 8), -2.0))  # 0 -> (0 - 0.5) / 0.25
    torch.testing.assert_close(x[2:4], torch.full((2, 1, 8, 8), 2.0))
    rgb, _ = load_image_folder(tmp_path, 3, 6, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert rgb.shape == (5, 3, 6, 6)
    assert float(rgb[4, 0].mean()) > 0.95 and float(rgb[4, 1:].mean()) < 0.05  # red stays red


def test_load_image_folder_errors(tmp_path):
    from deepnets.data import load_image_folder

    with pytest.raises(FileNotFoundError, match="absent"):
        load_image_folder(tmp_path / "absent", 1, 8, 0.5, 0.5)
    with pytest.raises(ValueError, match="no class folders"):
        load_image_folder(tmp_path, 1, 8, 0.5, 0.5)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="x.png"):
        load_image_folder(tmp_path, 1, 8, 0.5, 0.5)
    with pytest.raises(ValueError, match="channels"):
        load_image_folder(tmp_path, 2, 8, 0.5, 0.5)
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(tmp_path, 1, 0, 0.5, 0.5)
