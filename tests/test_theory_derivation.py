"""The sympy derivations run, agree with the numeric code (one formula, one home) and prove the facts."""

import numpy as np
import pytest
import sympy as sp

import theory
from theory import derivation as D

DISTS = ["gaussian", "laplace", "uniform", ("hebbian", 5), ("hebbian", 8)]
X = np.concatenate((np.linspace(-4.0, 4.0, 161), [-1e9, 1e9]))


@pytest.mark.parametrize("dist", DISTS, ids=str)
def test_lambdified_partial_moments_match_densities(dist):
    F0, F1 = D.partial_moment_functions(dist)
    dens = theory.get_density(dist)
    x = X if dist in D.CONTINUOUS else np.concatenate((X, dens.atoms - 1e-9, dens.atoms + 1e-9))  # both sides of each jump
    np.testing.assert_allclose(np.broadcast_to(F0(x), x.shape), dens.F0(x), atol=1e-13)
    np.testing.assert_allclose(np.broadcast_to(F1(x), x.shape), dens.F1(x), atol=1e-13)


@pytest.mark.parametrize("dist", DISTS, ids=str)
def test_second_moment_is_one(dist):
    assert sp.simplify(D.second_moment(dist) - 1) == 0


def test_hebbian_second_moment_symbolic_p():
    expr = D.hebbian_second_moment()
    for p in range(1, 7):
        assert sp.simplify(expr.subs(D.P_SYM, p).doit()) == 1


@pytest.mark.parametrize("dist", DISTS, ids=str)
def test_general_moments_function_matches_correlation(dist):
    rng = np.random.default_rng(1)
    f = D.moments_function(dist, 5)
    for _ in range(5):
        t = np.sort(rng.normal(size=4) * 1.2)
        c = np.sort(rng.normal(size=5) * 1.5)
        q = theory.Quantizer(t, c)
        got, want = f(t, c), theory.moments(q, dist)
        assert got["E_wq"] == pytest.approx(want["E_wq"], abs=1e-12)
        assert got["E_q2"] == pytest.approx(want["E_q2"], abs=1e-12)
        assert got["rho"] == pytest.approx(theory.rho(q, dist), abs=1e-12)


@pytest.mark.parametrize("dist", D.CONTINUOUS)
def test_symmetric_moments_reduce_general_ones(dist):
    t, c, syms = D.symmetric_quantizer(4)
    fn = sp.lambdify(syms, D.symmetric_moments(dist, 4)["rho"], ["scipy", "numpy"])
    vals = (0.9, 0.4, 1.5)  # s_1, a_1, a_2
    sub = dict(zip(syms, vals, strict=True))
    q = theory.Quantizer([float(v.subs(sub)) for v in t], [float(v.subs(sub)) for v in c])
    assert fn(*vals) == pytest.approx(theory.rho(q, dist), abs=1e-12)


@pytest.mark.parametrize("dist", DISTS, ids=str)
@pytest.mark.parametrize("family,K", [("sign", 2), ("ternary", 3), ("uniform", 4), ("uniform", 7), ("exponential", 6), ("exponential", 7)])
def test_family_rho_function_matches_families(family, K, dist):
    f = D.family_rho_function(family, dist, K)
    if family == "sign":
        q, args = theory.Quantizer([0.0], [-1.3, 1.3]), (1.3,)  # theory.sign uses asymmetric centroids on atoms at 0
    elif family == "ternary":
        q, args = theory.ternary(0.8, dist), (0.8, 2.0)
    elif family == "uniform":
        q, args = theory.uniform(K, 0.45, dist, gain=None), (0.45,)
    else:
        q, args = theory.exponential(K, 1.7, dist, gain=None, c=0.3), (0.3, 1.7)
    assert float(f(*args)) == pytest.approx(theory.rho(q, dist), abs=1e-12)


def test_closed_forms_of_sign():
    assert sp.simplify(D.family_rho("sign", "gaussian", 2)[0] - sp.sqrt(2 / sp.pi)) == 0
    assert sp.simplify(D.family_rho("sign", "laplace", 2)[0] - 1 / sp.sqrt(2)) == 0
    assert sp.simplify(D.family_rho("sign", "uniform", 2)[0] - sp.sqrt(3) / 2) == 0


def test_scale_invariance():
    assert D.scale_invariance(4) == 0


def test_centroid_stationarity():
    res = D.centroid_stationarity(4)
    ratios = [sp.simplify(s / c) for s, c in zip(res["solutions"], res["centroids"], strict=True)]
    assert all(sp.simplify(r - res["scale"]) == 0 for r in ratios)  # one common factor
    assert res["gradient_at_centroids"] == [0, 0, 0, 0]


def test_centroid_identity():
    assert D.centroid_identity(4) == 0


@pytest.mark.parametrize("dist,want", [("gaussian", 0.6120), ("laplace", 1 / np.sqrt(2)), ("uniform", 1 / np.sqrt(3))])
def test_ternary_optimum(dist, want):
    t = D.ternary_optimum(dist)
    assert t == pytest.approx(want, abs=1e-4)
    assert t == pytest.approx(theory.ternary(dist=dist).thresholds[1], abs=1e-6)


def test_ternary_optimum_rejects_discrete_and_unknown():
    with pytest.raises(ValueError, match="dist"):
        D.ternary_optimum(("hebbian", 5))
    with pytest.raises(ValueError, match="dist"):
        D.ternary_optimum("cauchy")


def test_latex_formulas():
    out = D.latex_formulas()
    for key in ["E_wq", "E_q2", "rho", "centroid", "hebbian_F0", "gaussian_F1", "laplace_ternary_rho", "uniform_ternary_condition"]:
        assert isinstance(out[key], str) and out[key]
    assert r"\binom" in out["hebbian_F0"] or "binom" in out["hebbian_F0"]
    assert "erfc" in out["gaussian_F0"]


def test_lambdified_functions_are_vectorized():
    steps = np.linspace(0.1, 1.0, 7)
    f = D.family_rho_function("uniform", "laplace", 8)
    want = [theory.rho(theory.uniform(8, s, "laplace", gain=None), "laplace") for s in steps]
    np.testing.assert_allclose(f(steps), want, atol=1e-12)
    g = D.moments_function("gaussian", 3)
    t = np.stack([-steps, steps])  # (K-1, n)
    c = np.stack([-2 * steps, np.zeros_like(steps), 2 * steps])  # (K, n)
    want = [theory.rho(theory.Quantizer([-s, s], [-2 * s, 0, 2 * s]), "gaussian") for s in steps]
    np.testing.assert_allclose(g(t, c)["rho"], want, atol=1e-12)
