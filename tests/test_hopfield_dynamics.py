"""Dynamics: fixed points, retrieval and failure, energy descent, 2-cycles, reproducibility, sharding."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from hopfield import CYCLE, FIXED_POINT, LIMIT, energy, flip_bits, hebbian, quantize, random_patterns, run
from hopfield.dynamics import sign_keep, tie_tolerance, update_neuron

KEY = jax.random.key(42)


def test_stored_patterns_are_fixed_points_at_small_load():
    # alpha = 0.02: the crosstalk std sqrt(alpha) = 0.14 against a signal of 1,
    # P(one bit unstable) = Phi(-1/0.14) ~ 5e-13 -> all 2000 bits stable.
    xi = random_patterns(4, 500, key=KEY)
    W = hebbian(xi)
    for mode in ("async", "sync"):
        r = run(W, xi, key=KEY, mode=mode)
        assert np.array_equal(np.asarray(r.states), np.asarray(xi)), mode
        assert np.all(np.asarray(r.sweeps) == 0) and np.all(np.asarray(r.status) == FIXED_POINT), mode


def _retrieval(N, alpha, noise, quantizer=None, mode="async", B=16):
    p = int(round(alpha * N))
    k1, k2, k3 = jax.random.split(jax.random.fold_in(KEY, N * 1000 + p), 3)
    xi = random_patterns(p, N, key=k1)
    W = hebbian(xi)
    if quantizer is not None:
        W = quantize(W, quantizer, p=p)  # rho-optimal for the exact Hebbian entry density, scale sqrt(p)/N
    tgt = xi[np.arange(B) % p]
    r = run(W, flip_bits(tgt, noise, key=k2), key=k3, mode=mode)
    return np.asarray(jnp.mean(r.states * tgt, axis=1)), np.asarray(r.status)


def test_retrieval_from_noisy_start_at_alpha_005_N_1000():
    # AGS: at alpha = 0.05 the retrieval state has m = 1 - 2 Phi(-1/sqrt(0.05)) ~ 0.99999,
    # and 10% start noise lies deep inside its basin: every one of 16 probes must end at m >= 0.99.
    for mode, q in (("async", None), ("sync", None), ("async", ("uniform", 8)), ("async", ("sign", 2))):
        m, status = _retrieval(1000, 0.05, 0.1, q, mode)
        assert np.all(m >= 0.99), f"{mode} {q}: overlaps {m}"
        assert np.all(status == FIXED_POINT) or mode == "sync"


def test_retrieval_fails_well_above_capacity():
    # alpha = 0.25 is far above alpha_c = 0.138 (and above finite-N values ~0.17 at N=500):
    # the retrieval state no longer exists, the overlap falls to ~0.3-0.5.  Allow at most
    # 3 of 16 probes above 0.9 (a finite-size fluke); the mean must be far below 1.
    m, _ = _retrieval(500, 0.25, 0.1)
    assert np.sum(m >= 0.9) <= 3 and m.mean() < 0.8, f"overlaps {m}"


def test_async_energy_never_increases_per_flip():
    N = 120
    xi = random_patterns(30, N, key=KEY)  # alpha = 0.25: many flips
    W = hebbian(xi)
    s = jnp.where(jax.random.bernoulli(jax.random.key(3), 0.5, (N,)), 1.0, -1.0)
    h = W @ s
    tol = tie_tolerance(W)
    step = jax.jit(update_neuron)
    e = float(energy(W, s))
    flips = 0
    for sweep in range(4):
        for i in np.asarray(jax.random.permutation(jax.random.fold_in(KEY, sweep), N)):
            s, h, flipped = step(W, s, h, jnp.int32(i), tol)
            e_new = float(energy(W, s))
            if bool(flipped):
                flips += 1
                assert e_new < e + 1e-6, f"energy rose on a flip: {e} -> {e_new}"
            else:
                assert abs(e_new - e) < 1e-6
            e = e_new
        np.testing.assert_allclose(np.asarray(h), np.asarray(W @ s), atol=1e-4)  # incremental field stays exact
    assert flips > 10, "the test needs flips to mean anything"


def test_async_run_lowers_energy_and_ends_stable():
    xi = random_patterns(40, 200, key=KEY)
    W = hebbian(xi)
    s0 = jnp.where(jax.random.bernoulli(jax.random.key(5), 0.5, (8, 200)), 1.0, -1.0)
    r = run(W, s0, key=KEY)
    e0 = jax.vmap(energy, (None, 0))(W, s0)
    e1 = jax.vmap(energy, (None, 0))(W, r.states)
    assert np.all(np.asarray(e1) <= np.asarray(e0))
    assert np.all(np.asarray(r.status) == FIXED_POINT)
    assert np.array_equal(np.asarray(sign_keep(r.states @ W, r.states, tie_tolerance(W))), np.asarray(r.states))


def test_sync_two_cycle_detected_on_constructed_example():
    W = jnp.array([[0.0, -1.0], [-1.0, 0.0]])
    r = run(W, jnp.array([1.0, 1.0]), mode="sync")
    assert int(r.status) == CYCLE and np.array_equal(np.asarray(r.states), [1.0, 1.0]) and int(r.sweeps) == 2
    r = run(W, jnp.array([1.0, -1.0]), mode="sync")  # an antiferromagnetic fixed point
    assert int(r.status) == FIXED_POINT and int(r.sweeps) == 0
    r = run(W, jnp.array([1.0, 1.0]), key=KEY, mode="async")  # async has no cycles: it settles
    assert int(r.status) == FIXED_POINT and float(r.states[0] * r.states[1]) == -1.0


def test_zero_field_keeps_current_state_and_limit_status():
    W = jnp.zeros((3, 3))
    s = jnp.array([1.0, -1.0, 1.0])
    r = run(W, s, key=KEY)
    assert np.array_equal(np.asarray(r.states), np.asarray(s)) and int(r.status) == FIXED_POINT
    # A 2-cycle cut short by max_sweeps=1 reports LIMIT.
    r = run(jnp.array([[0.0, -1.0], [-1.0, 0.0]]), jnp.array([1.0, 1.0]), mode="sync", max_sweeps=1)
    assert int(r.status) == LIMIT


def test_same_key_same_result_different_key_different_order():
    xi = random_patterns(30, 150, key=KEY)
    W = hebbian(xi)
    s0 = jnp.where(jax.random.bernoulli(jax.random.key(9), 0.5, (16, 150)), 1.0, -1.0)
    a, b = run(W, s0, key=KEY), run(W, s0, key=KEY)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    c = run(W, s0, key=jax.random.key(43))
    assert not np.array_equal(np.asarray(a.states), np.asarray(c.states)), "update order must depend on the key"


def test_sharded_run_equals_single_device_run():
    code = textwrap.dedent("""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, jax.numpy as jnp, numpy as np
        from hopfield import hebbian, random_patterns, flip_bits, run, run_sharded
        assert len(jax.devices()) == 2, jax.devices()
        key = jax.random.key(7)
        xi = random_patterns(30, 200, key=key)
        W = hebbian(xi)
        s0 = flip_bits(xi[:8], 0.25, key=jax.random.key(8))
        for mode in ("async", "sync"):
            a = run(W, s0, key=key, mode=mode)
            b = run_sharded(W, s0, key=key, mode=mode)
            assert len(b.states.sharding.device_set) == 2, b.states.sharding
            for x, y in zip(a, b, strict=True):
                assert np.array_equal(np.asarray(x), np.asarray(y)), mode
        print("OK")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]


def test_overlap_space_run_equals_matrix_run():
    from hopfield import run_hebbian

    for p, N in ((38, 200),):  # even p: exact ties occur and must be resolved alike
        xi = random_patterns(p, N, key=jax.random.fold_in(KEY, p))
        s0 = jnp.concatenate([flip_bits(xi[:6], 0.3, key=jax.random.key(1)),
                              jnp.where(jax.random.bernoulli(jax.random.key(2), 0.5, (6, N)), 1.0, -1.0)])
        a = run(hebbian(xi), s0, key=KEY)
        b = run_hebbian(xi, s0, key=KEY)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y)), (p, N)


def test_event_driven_sweep_equals_visiting_every_neuron():
    # The jump-to-next-flip sweep used by run() must give the states of the literal
    # sweep that visits all N neurons in the permuted order (Hopfield 1982 dynamics).
    from hopfield.dynamics import async_sweep, event_sweep

    N = 150
    W = hebbian(random_patterns(45, N, key=KEY))  # alpha = 0.3: many flips per sweep
    tol = tie_tolerance(W)
    lit, ev = jax.jit(async_sweep), jax.jit(event_sweep)
    for trial in range(3):
        s = jnp.where(jax.random.bernoulli(jax.random.key(trial), 0.5, (N,)), 1.0, -1.0)
        a_s, b_s = s, s
        for t in range(4):
            k = jax.random.fold_in(jax.random.key(100 + trial), t)
            a_s, _, na = lit(W, a_s, W @ a_s, k, tol)
            b_s, _, nb = ev(W, b_s, W @ b_s, k, tol)
            assert np.array_equal(np.asarray(a_s), np.asarray(b_s)) and int(na) == int(nb), (trial, t)
