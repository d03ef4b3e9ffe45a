"""capacity_scan: same bits as hopfield.run trial by trial, starts as flip_exact, AGS-range capacity, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopfield import capacity_scan, hebbian
from hopfield.dynamics import run_batch
from hopfield.scan import _keys_reproduce_permutation, _recall, _trial_inputs, unpack_patterns
from hopfield.patterns import flip_exact

KEY = jax.random.key(7)


def _reference(key, N, p, n_flip, max_sweeps):
    """One trial of the scan redone with the public pieces: hebbian(xi) and run_batch (float32 W)."""
    packed, s0, kd = _trial_inputs(key, N, p, n_flip)
    xi = unpack_patterns(packed, p)
    r = run_batch(hebbian(xi), s0[None], kd[None], mode="async", max_sweeps=max_sweeps)
    return xi, packed, s0, kd, r


def test_scan_equals_run_trial_by_trial():
    # Loads from easy to far above capacity (alpha up to 0.25), where the dynamics wanders for many sweeps.
    N, ps, trials, max_sweeps = 200, (4, 20, 33, 50), 6, 60
    rec = capacity_scan(N, ps, key=KEY, trials=trials, noise=0.15, max_sweeps=max_sweeps)
    n_flip = rec.n_flip
    assert n_flip == 30
    for g, p in enumerate(ps):
        for j in range(trials):
            xi, packed, s0, kd, r = _reference(jax.random.fold_in(jax.random.fold_in(KEY, g), j), N, p, n_flip, max_sweeps)
            m = float(jnp.mean(r.states[0] * xi[0]))
            assert rec.m[g, j] == pytest.approx(m, abs=1e-6), (p, j)
            assert rec.sweeps[g, j] == int(r.sweeps[0]), (p, j)
            # Same final state, not only the same overlap.
            s, t, st, n = jax.jit(_recall, static_argnums=(1, 5, 6))(packed, p, s0.astype(jnp.int32),
                                                                       _fields(xi, s0, p), kd, max_sweeps, True)
            assert np.array_equal(np.asarray(s), np.asarray(r.states[0]).astype(np.int32)), (p, j)
            assert int(st) == int(r.status[0])
            # Every flip changes one bit: at least the Hamming distance travelled, with its parity.
            d = int(jnp.sum(r.states[0] != s0))
            assert rec.flips[g, j] == int(n) >= d and (int(n) - d) % 2 == 0, (p, j)
    assert rec.status_counts.sum() == len(ps) * trials


def _fields(xi, s, p):
    return (jnp.round(xi.T @ (xi @ s)) - p * s).astype(jnp.int32)


def test_start_is_flip_exact_of_pattern_zero():
    for j in range(20):
        k = jax.random.fold_in(KEY, j)
        packed, s0, _ = _trial_inputs(k, 300, 40, 45)
        target = unpack_patterns(packed, 40)[0]
        _, kf, _ = jax.random.split(k, 3)
        assert np.array_equal(np.asarray(s0), np.asarray(flip_exact(kf, target, 45)))
        assert int(jnp.sum(s0 != target)) == 45


def test_packed_patterns_are_unbiased_and_padding_is_zero():
    packed, _, _ = _trial_inputs(KEY, 1000, 40, 1)  # two words, 8 pattern bits in the second
    assert packed.shape == (2, 1000) and int(jnp.max(packed[1])) < 2**8
    xi = np.asarray(unpack_patterns(packed, 40))
    # 40000 fair +-1 entries: mean within 5 standard errors (1/sqrt(40000) = 0.005).
    assert abs(xi.mean()) < 5 * 0.005, xi.mean()


def test_order_from_keys_and_from_permutation_agree():
    assert _keys_reproduce_permutation(200)
    assert not _keys_reproduce_permutation(2000)  # two sorting rounds: the fallback inverts the permutation
    from hopfield.scan import _scan
    a = _scan(KEY, 0, 200, (20, 40), 4, 30, 50, True)
    b = _scan(KEY, 0, 200, (20, 40), 4, 30, 50, False)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_exact_recall_falls_across_the_ags_range():
    # AGS (1985): retrieval with few errors up to alpha_c = 0.138; exact recall of all N bits needs a lower load
    # (Hopfield's N / (4 ln N) = 20 patterns at N = 500).  At p = 10 every bit is stable with overwhelming
    # probability (crosstalk std sqrt(alpha) = 0.14, P(flip) ~ Phi(-7) per bit); at alpha = 0.3 nothing is recalled.
    rec = capacity_scan(500, [10, 150], key=KEY, trials=20)
    assert rec.retrieved[0] == 1.0, rec.retrieved
    assert rec.retrieved[1] == 0.0, rec.retrieved
    se = rec.retrieved_se
    assert se[0] == 0.0 and np.all(np.isfinite(se))
    assert rec.alpha.tolist() == [0.02, 0.3] and rec.mode == "async" and rec.criterion == "exact"


@pytest.mark.parametrize("kwargs", [dict(N=1), dict(pattern_counts=[]), dict(pattern_counts=[0]),
                                    dict(pattern_counts=[2.5]), dict(trials=0), dict(noise=1.5),
                                    dict(max_sweeps=0), dict(threads=0), dict(key=None)])
def test_bad_arguments_raise_value_error(kwargs):
    args = dict(key=KEY, N=50, pattern_counts=[5])
    args.update(kwargs)
    with pytest.raises(ValueError):
        capacity_scan(args.pop("N"), args.pop("pattern_counts"), key=args.pop("key"), **args)


def test_threads_split_the_trials_without_changing_the_result():
    one = capacity_scan(120, [6, 15], key=KEY, trials=5, max_sweeps=30)
    for threads in (2, 3, 9):
        par = capacity_scan(120, [6, 15], key=KEY, trials=5, max_sweeps=30, threads=threads)
        for k in ("m", "sweeps", "flips", "status_counts", "retrieved"):
            assert np.array_equal(getattr(one, k), getattr(par, k)), (threads, k)
