"""benchmarks/grid_spread.py: the near-identical min-max grids whose top-1 spread is the noise floor of a peers cell."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


_BENCH = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(_BENCH))  # as when the script runs: it imports bench_peers beside it
_spec = importlib.util.spec_from_file_location("grid_spread", _BENCH / "grid_spread.py")
gs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gs)


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("group", [None, 32])
@pytest.mark.parametrize("d", [-0.03, 0.0, 0.01, 0.03])
def test_scaled_grid_is_a_min_max_grid_on_the_scaled_range(bits, group, d):
    """Each group's values are ``(k - zp) * step``, k in 0..K-1, with ``step = (max - min)(1 + d)/(K - 1)`` and
    the unscaled grid's integer zero point, each weight on its nearest level, the ones beyond the ends on the ends."""
    K = 2**bits
    w = np.random.default_rng(bits).laplace(size=(6, 128)).astype(np.float32)
    q = gs.scaled_minmax(w, bits, group, d).astype(np.float64).reshape(-1, 128 if group is None else group)
    w64 = w.astype(np.float64).reshape(q.shape)
    lo0, hi0 = np.minimum(w64.min(1), 0), np.maximum(w64.max(1), 0)
    step = (hi0 - lo0) * (1 + d) / (K - 1)
    zp = np.round(-lo0 / ((hi0 - lo0) / (K - 1)))
    k = q / step[:, None] + zp[:, None]
    assert np.allclose(k, np.round(k), atol=1e-4) and np.all(np.round(k) >= 0) and np.all(np.round(k) <= K - 1)
    lo, hi = ((np.arange(K)[[0, -1]] - zp[:, None]) * step[:, None]).T
    inside = (w64 >= lo[:, None]) & (w64 <= hi[:, None])
    assert np.all(np.abs(q - w64)[inside] <= np.broadcast_to(step[:, None], q.shape)[inside] * (0.5 + 1e-5))  # nearest
    assert np.allclose(np.where(w64 < lo[:, None], q - lo[:, None], 0), 0, atol=1e-6 * step.max())  # below: the low end
    assert np.allclose(np.where(w64 > hi[:, None], q - hi[:, None], 0), 0, atol=1e-6 * step.max())  # above: the high end
    if d != 0:
        assert not np.allclose(q, gs.scaled_minmax(w, bits, group, 0.0).reshape(q.shape))  # the grid really moved


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        gs.main(["--count", "1"])
    assert e.value.code == 2 and "--count" in capsys.readouterr().err
