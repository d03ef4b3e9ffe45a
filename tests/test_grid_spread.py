"""benchmarks/grid_spread.py: the near-identical min-max grids whose top-1 spread is the noise floor of a peers cell."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import theory

_BENCH = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(_BENCH))  # as when the script runs: it imports bench_peers beside it
_spec = importlib.util.spec_from_file_location("grid_spread", _BENCH / "grid_spread.py")
gs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gs)


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("group", [None, 32])
def test_unscaled_grid_is_theorys_minmax(bits, group):
    """d = 0 is the toolkit min-max grid (theory's ``minmax`` recipe), to float32, per channel and per group."""
    w = np.random.default_rng(bits).standard_normal((10, 128)).astype(np.float32)
    g = theory.PerChannel(0) if group is None else theory.PerGroup(group)
    q = theory.Recipe("minmax", bits).fit(w.astype(np.float64), g)
    assert np.array_equal(gs.scaled_minmax(w, bits, group, 0.0), q(w.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("d", [-0.03, 0.01, 0.03])
def test_scaled_grid_is_a_min_max_grid_on_the_scaled_range(d):
    """Each group's values lie on ``(k - zp) * step`` with ``step = (max - min)(1 + d)/(K - 1)``, k in 0..K-1, zero a level."""
    bits, K = 3, 8
    w = np.random.default_rng(7).laplace(size=(6, 64)).astype(np.float32)
    q = gs.scaled_minmax(w, bits, None, d).astype(np.float64)
    w64 = w.astype(np.float64)
    step = (np.maximum(w64.max(1), 0) - np.minimum(w64.min(1), 0)) * (1 + d) / (K - 1)
    k = q / step[:, None]
    assert np.allclose(k, np.round(k), atol=1e-5)  # on the grid (float32 rounding of the values)
    assert np.all(np.ptp(np.round(k), axis=1) <= K - 1)  # at most K levels
    lo, hi = q.min(axis=1, keepdims=True), q.max(axis=1, keepdims=True)
    inside = (w64 >= lo) & (w64 <= hi)
    assert np.all(np.abs(q - w64)[inside] <= (np.broadcast_to(step[:, None], w.shape)[inside]) * (0.5 + 1e-5))  # nearest level
    assert np.all((q == lo) | ~(w64 < lo)) and np.all((q == hi) | ~(w64 > hi))  # beyond the ends: the end level
    assert not np.allclose(q, gs.scaled_minmax(w, bits, None, 0.0))  # the range really moved


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        gs.main(["--count", "1"])
    assert e.value.code == 2 and "--count" in capsys.readouterr().err
