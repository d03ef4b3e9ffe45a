"""The lookup-table encoder (theory/_encode.py) gives exactly the codes of the float64 comparison count."""

import zlib

import numpy as np
import pytest

from theory._backend import count_le
from theory._encode import ceil_to, decode_rows, encode_rows


def _thresholds(rng, kind, G, k, scale, x):
    if kind == "random":
        t = np.sort(rng.standard_normal((G, k)) * scale, axis=1)
    elif kind == "uniform":  # a min-max / uniform grid
        t = (np.arange(k) - k / 2 + 0.5)[None, :] * rng.uniform(0.1, 1, (G, 1)) * scale
    elif kind == "at data":  # thresholds equal to data values: the comparison's tie
        t = np.sort(rng.choice(x.ravel().astype(np.float64), size=(G, k)), axis=1)
    elif kind == "clustered":  # many thresholds in one bin
        t = np.sort(rng.standard_normal((G, k)) * scale * 1e-7 + scale * 0.3, axis=1)
    else:  # a threshold beyond float32's range (its ceiling is +inf)
        t = np.sort(np.concatenate([rng.standard_normal((G, k - 1)) * scale, np.full((G, 1), 1e300)], axis=1), axis=1)
    return np.maximum.accumulate(t, axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["random", "uniform", "at data", "clustered", "huge"])
def test_encode_rows_equals_float64_count(dtype, kind):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{np.dtype(dtype).name}".encode()))
    for _ in range(30):
        G, m, k = int(rng.integers(1, 12)), int(rng.integers(1, 200)), int(rng.integers(1, 40))
        scale = 10.0 ** rng.uniform(-30, 30)
        x = (rng.standard_normal((G, m)) * scale).astype(dtype)
        t = _thresholds(rng, kind, G, k, scale, x)
        assert np.array_equal(encode_rows(x, t), count_le(t, x.astype(np.float64))), (G, m, k, scale)


def test_ceil_to_is_the_smallest_float32_above():
    rng = np.random.default_rng(0)
    t = rng.standard_normal(10_000) * 10.0 ** rng.uniform(-44, 37, 10_000)  # float32 range, subnormals included
    T = ceil_to(t, np.float32)
    assert np.all(T.astype(np.float64) >= t)
    below = np.nextafter(T, np.float32(-np.inf))
    assert np.all(below.astype(np.float64) < t)


def test_decode_rows_is_a_row_wise_gather():
    rng = np.random.default_rng(1)
    table = rng.standard_normal((7, 16)).astype(np.float32)
    codes = rng.integers(0, 16, size=(7, 33), dtype=np.uint8)
    assert np.array_equal(decode_rows(table, codes), np.take_along_axis(table, codes.astype(np.intp), axis=1))
