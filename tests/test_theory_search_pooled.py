"""Shortcuts of theory._search that must give the very same rows as the long way."""

import numpy as np
import pytest

import theory._search as S


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_magnitudes_is_magnitudes_pooled_bitwise(dtype):
    rng = np.random.default_rng(5)
    w = np.concatenate([rng.standard_normal((6, 301)), rng.laplace(size=(5, 301)), np.zeros((1, 301)),
                        np.round(rng.standard_normal((4, 301)), 1)]).astype(dtype)
    w[0, :7] = -0.0  # signed zeros sort anywhere among the zeros; their magnitudes are +0
    scale = np.sqrt(np.mean(w.astype(np.float64) ** 2, axis=1)) + 0.5
    for signed in (S.SortedRows.scaled(w, scale), S.SortedRows(w / scale[:, None])):
        a, b = signed.pooled_magnitudes(), signed.magnitudes().pooled()
        for name in ("sorted", "cs", "e2", "keys", "spread"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
            assert not np.signbit(getattr(a, name)).any() or name == "keys", name
