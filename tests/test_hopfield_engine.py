"""The one asynchronous engine: numpy reference trajectories, exact incremental fields, cumulative counts, the study."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from hopfield import hebbian
from hopfield.engine import hash_keys, hash_seed, relax
from hopfield.hebbian import unit_quantizer
from hopfield.network import check_memory, hebb_counts, lattice, probe_network, quantized_coupling
from hopfield.study import capacity, fit_finite_size, run_study

KEY = jax.random.key(11)


def _network(N, p, quantizer, seed=0):
    xi = jnp.where(jax.random.bernoulli(jax.random.key(seed), 0.5, (p, N)), 1.0, -1.0)
    C = hebb_counts(xi)
    if quantizer is None:
        return xi, C, 0, p
    return (xi, *quantized_coupling(C, p, unit_quantizer(quantizer, p)))


def _order(k, t, N, order):
    k = jax.random.fold_in(k, t)
    if order == "hash":
        return np.argsort(np.asarray(hash_keys(hash_seed(k), N)), kind="stable")
    return np.asarray(jax.random.permutation(k, N))


def _reference(W, s0, keys, max_sweeps, order, tol=0.0):
    """Plain numpy asynchronous dynamics: visit every neuron in the sweep's order, field recomputed as W[i] @ s."""
    W = np.asarray(W, np.float64)
    out = []
    for s, k in zip(np.asarray(s0, np.float64), keys, strict=True):
        s = s.copy()
        sweeps, flips, status, trail = 0, 0, 2, []
        for t in range(max_sweeps):
            changed = False
            for i in _order(k, t, len(s), order):
                if s[i] * (W[i] @ s) < -tol:
                    s[i] = -s[i]
                    flips += 1
                    changed = True
            if not changed:
                status = 0
                break
            sweeps += 1
            trail.append(s.copy())
        else:
            if np.all(s * (W @ s) >= -tol):
                status = 0
        out.append((s, sweeps, status, flips, trail))
    return out


@pytest.mark.parametrize("quantizer", [None, theory.Recipe("sign"), theory.Recipe("ternary"), theory.Recipe("lloyd_max", bits=2)],
                         ids=["float", "sign", "ternary", "lloyd_max2"])
@pytest.mark.parametrize("order", ["hash", "permutation"])
def test_stability_protocol_equals_numpy_reference_trajectory_by_trajectory(quantizer, order):
    N, p = 120, 20  # alpha = 0.17, above capacity: many probes wander for several sweeps
    xi, coupling, tol, bound = _network(N, p, quantizer)
    r = probe_network(coupling, tol, bound, xi, key=KEY, protocol="stability", max_sweeps=30, order=order, slots=4)
    _, kd = jax.random.split(KEY)
    ref = _reference(coupling, xi, list(jax.random.split(kd, p)), 30, order, float(tol))
    assert sum(x[3] for x in ref) > 20, "the test needs flips to mean anything"
    for b, (s, sweeps, status, flips, _) in enumerate(ref):
        assert np.array_equal(np.asarray(r["states"][b], np.float64), s), b
        assert (r["sweeps"][b], r["status"][b], r["flips"][b]) == (sweeps, status, flips), b
        assert r["m"][b] == pytest.approx(float(s @ np.asarray(xi[b])) / N, abs=1e-6)


@pytest.mark.parametrize("quantizer", [None, theory.Recipe("sign"), theory.Recipe("uniform", bits=3)], ids=["counts", "sign", "uniform3"])
def test_incremental_fields_equal_recomputed_fields_exactly_after_every_sweep(quantizer):
    N, p = 150, 27
    xi, coupling, tol, bound = _network(N, p, quantizer, seed=3)
    assert tol == 0 and jnp.issubdtype(coupling.dtype, jnp.integer)  # exact integer arithmetic
    _, kd = jax.random.split(KEY)
    ref = _reference(coupling, xi, list(jax.random.split(kd, p)), 12, "hash")
    C = np.asarray(coupling, np.int64)
    for T in range(1, 8):  # a run cut after T sweeps ends with the fields of its T-th sweep
        r = probe_network(coupling, tol, bound, xi, key=KEY, max_sweeps=T, order="hash", slots=5)
        s, H = np.asarray(r["states"], np.int64), np.asarray(r["fields"])
        assert H.dtype == np.int32 and np.array_equal(H, s @ C), T
        for b, x in enumerate(ref):
            want = x[4][T - 1] if len(x[4]) >= T else x[0]
            assert np.array_equal(s[b], want), (T, b)


def test_cumulative_counts_equal_a_fresh_build():
    N = 90
    xi = jnp.where(jax.random.bernoulli(KEY, 0.5, (40, N)), 1.0, -1.0)
    C = None
    for a, b in ((0, 7), (7, 22), (22, 40)):
        C = hebb_counts(xi[a:b], C, a)
        fresh = hebb_counts(xi[:b])
        assert C.dtype == fresh.dtype == jnp.int16 and np.array_equal(np.asarray(C), np.asarray(fresh)), b
    assert np.array_equal(np.asarray(C), np.rint(np.asarray(hebbian(xi)) * N).astype(np.int16))
    assert np.all(np.diag(np.asarray(C)) == 0) and np.array_equal(np.asarray(C), np.asarray(C).T)


def test_quantized_codes_are_the_quantize_path_and_lattices_are_found():
    from hopfield.hebbian import apply_quantizer, hebbian_scale

    N, p = 100, 15
    xi = jnp.where(jax.random.bernoulli(KEY, 0.5, (p, N)), 1.0, -1.0)
    C = hebb_counts(xi)
    for rec, is_lattice in ((theory.Recipe("sign"), True), (theory.Recipe("ternary"), True),
                            (theory.Recipe("uniform", bits=2), True), (theory.Recipe("lloyd_max", bits=2), False)):
        q = unit_quantizer(rec, p)
        assert (lattice(np.asarray(q.levels)) is not None) == is_lattice, rec
        coupling, tol, _ = quantized_coupling(C, p, q)
        qW = np.asarray(apply_quantizer(C.astype(jnp.float32) / N, q, hebbian_scale(p, N)))
        # same matrix up to one positive factor: the codes are the quantize path's levels
        ratio = np.asarray(coupling, np.float64)[qW != 0] / qW[qW != 0]
        assert np.allclose(ratio, ratio[0], rtol=1e-5) and ratio[0] > 0 and np.all((np.asarray(coupling) == 0) == (qW == 0)), rec


def test_memory_is_checked_before_allocation_with_the_size_named():
    with pytest.raises(ValueError, match=r"^N=32768 with p=4600"):
        check_memory(32768, 4600, True, available=2**30)
    assert check_memory(1000, 140, False, available=2**34) < 2**30


def test_engine_rejects_an_unknown_order():
    s = jnp.ones((2, 4), jnp.int8)
    with pytest.raises(ValueError, match="^order"):
        relax(lambda C, j: C[j], jnp.zeros((4, 4), jnp.int32), s, jnp.zeros((2, 4), jnp.int32), jax.random.split(KEY, 2),
              max_sweeps=3, order="sorted")


def test_finite_size_fit_with_free_nu_recovers_truth_and_covers_it():
    # alpha_c(N) = 0.138 + 2 N^-0.7 at 6 sizes spanning a factor of 32, Gaussian errors of 0.001.
    rng = np.random.default_rng(0)
    N = 1000 * 2.0 ** np.arange(6)
    truth = 0.138 + 2.0 * N ** -0.7
    sig = np.full(N.size, 0.001)
    cover_a = cover_nu = 0
    nus = []
    for _ in range(50):
        f = fit_finite_size(N, truth + rng.normal(0, sig), sig)
        cover_a += f["alpha_inf_lo"] <= 0.138 <= f["alpha_inf_hi"]
        cover_nu += f["nu_lo"] <= 0.7 <= f["nu_hi"]
        nus.append(f["nu"])
    assert cover_a >= 45 and cover_nu >= 45, (cover_a, cover_nu)
    assert abs(np.median(nus) - 0.7) < 0.1, np.median(nus)
    exact = fit_finite_size(N, truth, sig)
    assert exact["alpha_inf"] == pytest.approx(0.138, abs=2e-4) and exact["nu"] == pytest.approx(0.7, abs=0.01)
    assert exact["chi2"] < 1e-3 and exact["dof"] == 3


def test_capacity_criteria_find_a_known_jump():
    alpha = np.linspace(0.08, 0.2, 13)
    ps = np.round(alpha * 1000).astype(int)
    m = np.tile(np.where(alpha < 0.142, 0.97, 0.35), (6, 1))
    f = np.tile(1.0 / (1.0 + np.exp((alpha - 0.15) / 0.005)), (6, 1))
    assert capacity(alpha, ps, m, f, "jump", n_boot=20)[0] == pytest.approx(0.14, abs=0.006)
    assert capacity(alpha, ps, m, f, "fraction", n_boot=20)[0] == pytest.approx(0.15, abs=0.002)
    with pytest.raises(ValueError, match="^criterion"):
        capacity(alpha, ps, m, f, "median")


def test_study_interrupted_resumes_to_the_same_record(tmp_path, monkeypatch):
    import hopfield.study as st

    args = dict(sizes=[40, 60], alphas=[0.1, 0.2], quantizers=["float", "sign"], networks=2, progress=False, n_boot=3)
    full = run_study(**args, out=str(tmp_path / "a.json"))
    real, calls = st.run_network, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(st, "run_network", flaky)
    part = run_study(**args, out=str(tmp_path / "b.json"))
    assert part["interrupted"] and len(part["runs"]) == 2
    monkeypatch.setattr(st, "run_network", real)
    done = run_study(**args, out=str(tmp_path / "b.json"))
    assert not done["interrupted"] and done["runs"] == full["runs"]
    with pytest.raises(ValueError, match="^out="):
        run_study(**dict(args, alphas=[0.1, 0.3]), out=str(tmp_path / "b.json"))
    with pytest.raises(ValueError, match="can only be extended"):
        run_study(**dict(args, networks=1), out=str(tmp_path / "b.json"))
    # extending with a size and a network runs only the new ones; the old runs stay bit for bit
    more = run_study(**dict(args, sizes=[40, 60, 80], networks=3), out=str(tmp_path / "b.json"))
    assert set(more["runs"]) == {f"{N}/{j}" for N in (40, 60, 80) for j in range(3)}
    assert all(more["runs"][k] == full["runs"][k] for k in full["runs"])
    fresh = run_study(**dict(args, sizes=[40, 60, 80], networks=3), out=str(tmp_path / "c.json"))
    assert fresh["runs"] == more["runs"]


def test_ratio_machinery_matches_the_profile_fit_and_theory():
    from hopfield.study import _alpha_inf_points, theory_capacity

    rng = np.random.default_rng(1)
    N = 1000 * 2.0 ** np.arange(6)
    sig = np.full(N.size, 0.001)
    y = 0.138 + 2.0 * N ** -0.7 + rng.normal(0, sig, (5, N.size))
    for nu in (None, 0.5):
        pts = _alpha_inf_points(N, y, 1 / sig**2, nu)
        want = [fit_finite_size(N, row, sig, nu=nu)["alpha_inf"] for row in y]
        assert np.allclose(pts, want, atol=1e-9), nu
    assert theory_capacity("float") == (1.0, pytest.approx(theory.predicted_capacity(1.0)))
    r, ac = theory_capacity("sign")  # clipped synapses: rho = sqrt(2 / pi), alpha_c about 0.10 (Sompolinsky 1986)
    assert r == pytest.approx(np.sqrt(2 / np.pi), abs=1e-9) and 0.09 < ac < 0.11
    r3, _ = theory_capacity("uniform:3")
    assert theory.rho(unit_quantizer(theory.Recipe("uniform", bits=3), 1, dist="gaussian"), "gaussian") == r3 > r


def test_report_quotes_the_committed_study_ratios_beside_theory():
    from hopfield.study import theory_capacity
    from report.hopfield_stage import STUDY_EXTRA, study_rows

    st = study_rows(STUDY_EXTRA[0])  # the quantizers on the float networks (docs/hopfield_study.json)
    fr = json.loads(STUDY_EXTRA[0].read_text())["analysis"]["fraction"]
    by = {r["quantizer"]: r for r in st["ratios"]}
    assert {"float", "sign", "ternary"} <= set(by)
    for name, label in (("sign", "sign"), ("ternary", "ternary")):
        r, e, f = by[label], fr[label], fr["float"]
        assert r["ratio"] == pytest.approx(e["sizes"][-1]["alpha_c"] / f["sizes"][-1]["alpha_c"])
        assert r["ratio_lo"] <= r["ratio"] <= r["ratio_hi"]
        assert r["theory_ratio"] == pytest.approx(theory_capacity(name)[1] / theory_capacity("float")[1])


def test_window_places_each_size_loads_around_its_transition_and_bad_windows_are_refused(tmp_path):
    import hopfield.study as st

    grid = [round(0.10 + 0.005 * i, 4) for i in range(31)]
    cfg = dict(alphas=grid, window=st._window([0.138, 0.86, 0.008, 0.3]))
    for N in (256, 1024, 8192):
        c, h = 0.138 + 0.86 / np.sqrt(N), 0.008 + 0.3 / np.sqrt(N)
        want = sorted({int(round(a * N)) for a in grid if abs(a - c) <= h})
        assert st.loads(cfg, N) == want and len(want) >= 3
    assert st.loads(dict(alphas=[0.1, 0.2]), 100) == [10, 20]  # no window: every load of the grid
    with pytest.raises(ValueError, match="^window: fewer than 3 loads"):
        run_study([64], [0.1, 0.2, 0.3], ["float"], networks=2, window=[0.5, 0, 0.01, 0], progress=False)
    with pytest.raises(ValueError, match="^window must be four finite numbers"):
        run_study([64], [0.1, 0.2, 0.3], ["float"], networks=2, window=[0.1, 0, -1, 0], progress=False)
    rec = run_study([40, 80], grid, ["float"], networks=2, window=[0.138, 0.86, 0.01, 0.3], progress=False, n_boot=3,
                    out=str(tmp_path / "w.json"))
    for N in (40, 80):
        assert len(rec["runs"][f"{N}/0"]["m_mean"][0]) == len(st.loads(rec["config"], N))


def test_study_command_line_errors_are_one_line_with_exit_2(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hopfield.study", "--sizes", "64", "--quantizers", "float",
                          "--alphas", "0.1", "0.2", "--window", "0.5", "0", "0.01", "0", "--out", str(tmp_path / "x.json")],
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hopfield.study: error: window: fewer than 3 loads"), out.stderr
