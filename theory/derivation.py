"""Symbolic derivations (sympy) of the correlation rho, and their fast numeric forms.

Everything here runs: the expressions are *derived* by sympy from the densities,
then rendered to LaTeX (:func:`latex_formulas`) and lambdified to vectorized
numpy (:func:`moments_function`, :func:`family_rho_function`,
:func:`partial_moment_functions`, all cached).  The numeric code in
:mod:`theory.densities` and :mod:`theory.correlation` is tied to these
expressions by the tests (one formula, one home).

A K-level quantizer (J. Max, IRE Trans. Inf. Theory 6:7, 1960) has thresholds
``t_1 < ... < t_{K-1}`` and levels ``c_1 < ... < c_K``.  With the partial
moments ``F0(x) = P(w < x)`` and ``F1(x) = E[w ; w < x]`` of a zero-mean
density (so ``F0(-oo) = 0``, ``F0(oo) = 1``, ``F1(+-oo) = 0``)::

    E[w q]  = sum_k c_k   (F1(t_k) - F1(t_{k-1}))
    E[q^2]  = sum_k c_k^2 (F0(t_k) - F0(t_{k-1}))
    rho     = E[w q] / sqrt(E[w^2] E[q^2])

Densities (unit variance): ``"gaussian"``, ``"laplace"`` (scale 1/sqrt 2),
``"uniform"`` (on [-sqrt 3, sqrt 3]) and ``("hebbian", p)``, the exact finite-p
law of a standardised Hebbian entry ``(2j - p)/sqrt(p)``, ``j ~ Bin(p, 1/2)``
(Hopfield, PNAS 79:2554, 1982), whose partial moments are binomial sums.

Facts derived symbolically (each a function returning the sympy result):

- :func:`scale_invariance`: rho(lambda c) = rho(c) for lambda > 0.
- :func:`centroid_stationarity`: d rho / d c_k = 0 gives ``c_k = lambda M_k / P_k``,
  the cell centroids up to scale (J. Max, IRE Trans. Inf. Theory 6(1):7-12,
  1960; S. Lloyd, IEEE Trans. Inf. Theory 28(2):129-137, 1982).
- :func:`centroid_identity`: at the centroids rho^2 = 1 - D / E[w^2].
- :func:`ternary_optimum`: the rho-optimal ternary dead zone from d rho / dt = 0
  (0.6120 for the Gaussian, 1/sqrt 2 for the Laplace, 1/sqrt 3 for the uniform).

sympy is imported here only; ``theory/__init__`` does not import this module.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np
import sympy as sp

X = sp.Symbol("x", real=True)
W = sp.Symbol("w", real=True)
J = sp.Symbol("j", integer=True, nonnegative=True)
P_SYM = sp.Symbol("p", integer=True, positive=True)

CONTINUOUS = ("gaussian", "laplace", "uniform")
FAMILY_NAMES = ("sign", "ternary", "uniform", "exponential")
_MODULES = ["scipy", "numpy"]


def _key(dist: Any) -> Any:
    """Canonical hashable key: a name in CONTINUOUS or ("hebbian", p)."""
    if isinstance(dist, str) and dist in CONTINUOUS:
        return dist
    if isinstance(dist, tuple) and len(dist) == 2 and dist[0] == "hebbian":
        p = dist[1]
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
            raise ValueError(f"dist: p must be an integer >= 1 in ('hebbian', p), got {p!r}")
        return ("hebbian", int(p))
    raise ValueError(f"dist must be one of {list(CONTINUOUS)} or ('hebbian', p), got {dist!r}")


# -- densities and their partial moments ------------------------------------
def pdf(dist: str) -> sp.Expr:
    """The unit-variance density of ``dist`` in ``w`` (continuous densities only)."""
    key = _key(dist)
    if key == "gaussian":
        return sp.exp(-W**2 / 2) / sp.sqrt(2 * sp.pi)
    if key == "laplace":
        b = 1 / sp.sqrt(2)
        return sp.exp(-sp.Abs(W) / b) / (2 * b)
    if key == "uniform":
        return sp.Piecewise((1 / (2 * sp.sqrt(3)), sp.Abs(W) <= sp.sqrt(3)), (0, True))
    raise ValueError(f"dist must be continuous for a pdf, got {dist!r}")


def hebbian_partial_moments(p: Any = P_SYM, unevaluated: bool = True) -> tuple[sp.Expr, sp.Expr]:
    """``(F0, F1)`` of the standardised Hebbian entry as binomial sums over ``j = 0..p``.

    ``F0(x) = sum_j C(p, j) 2^-p H(x - a_j)``, ``F1(x) = sum_j C(p, j) 2^-p a_j H(x - a_j)``
    with atoms ``a_j = (2j - p)/sqrt(p)`` and ``H(0) = 0`` (strict ``w < x``).
    """
    a = (2 * J - p) / sp.sqrt(p)
    wt = sp.binomial(p, J) / 2**p
    F0 = sp.Sum(wt * sp.Heaviside(X - a, 0), (J, 0, p))
    F1 = sp.Sum(wt * a * sp.Heaviside(X - a, 0), (J, 0, p))
    return (F0, F1) if unevaluated else (F0.doit(), F1.doit())


def hebbian_second_moment() -> sp.Expr:
    """``E[w^2] = sum_j C(p,j) 2^-p (2j - p)^2 / p``, simplified by sympy (it is 1 for every p)."""
    s = sp.Sum(sp.binomial(P_SYM, J) / 2**P_SYM * (2 * J - P_SYM) ** 2 / P_SYM, (J, 0, P_SYM))
    return sp.simplify(s.doit())


@lru_cache(maxsize=None)
def partial_moments(dist: Any) -> tuple[sp.Expr, sp.Expr]:
    """``(F0(x), F1(x)) = (P(w < x), E[w ; w < x])`` derived by integrating the density.

    Laplace and uniform are integrated piece by piece (left and right of 0,
    inside and outside the support) and joined with ``Piecewise``.
    """
    key = _key(dist)
    if isinstance(key, tuple):
        return hebbian_partial_moments(key[1], unevaluated=False)
    f = pdf(key)
    if key == "gaussian":
        return (sp.simplify(sp.integrate(f, (W, -sp.oo, X))), sp.simplify(sp.integrate(W * f, (W, -sp.oo, X))))
    if key == "laplace":
        left = sp.exp(sp.sqrt(2) * W) / sp.sqrt(2)   # the density for w < 0
        right = sp.exp(-sp.sqrt(2) * W) / sp.sqrt(2)  # the density for w > 0
        F0 = sp.Piecewise(
            (sp.integrate(left, (W, -sp.oo, X)), X < 0),
            (sp.integrate(left, (W, -sp.oo, 0)) + sp.integrate(right, (W, 0, X)), True),
        )
        F1 = sp.Piecewise(
            (sp.integrate(W * left, (W, -sp.oo, X)), X < 0),
            (sp.integrate(W * left, (W, -sp.oo, 0)) + sp.integrate(W * right, (W, 0, X)), True),
        )
        return sp.simplify(F0), sp.simplify(F1)
    h, r3 = 1 / (2 * sp.sqrt(3)), sp.sqrt(3)
    F0 = sp.Piecewise((0, X < -r3), (sp.integrate(h, (W, -r3, X)), X < r3), (1, True))
    F1 = sp.Piecewise((0, X < -r3), (sp.integrate(W * h, (W, -r3, X)), X < r3), (0, True))
    return F0, F1


def second_moment(dist: Any) -> sp.Expr:
    """``E[w^2]`` derived from the density (1 for all densities here)."""
    key = _key(dist)
    if isinstance(key, tuple):
        p = key[1]
        return sp.nsimplify(sp.Sum(sp.binomial(p, J) / 2**p * (2 * J - p) ** 2 / p, (J, 0, p)).doit())
    return sp.simplify(sp.integrate(W**2 * pdf(key), (W, -sp.oo, sp.oo)))


# -- a general K-level quantizer ---------------------------------------------
def quantizer_symbols(K: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """Symbols ``(t_1..t_{K-1}), (c_1..c_K)`` of a general K-level quantizer."""
    if K < 2:
        raise ValueError(f"K must be >= 2, got {K}")
    return sp.symbols(f"t_1:{K}", real=True), sp.symbols(f"c_1:{K + 1}", real=True)


def symmetric_quantizer(K: int) -> tuple[list[sp.Expr], list[sp.Expr], tuple[sp.Symbol, ...]]:
    """An odd-symmetric K-level quantizer ``(thresholds, levels, free symbols)``.

    Positive thresholds ``s_i`` and levels ``a_i``; a zero threshold for even K,
    a zero level for odd K (the symmetric case of Max 1960).
    """
    if K < 2:
        raise ValueError(f"K must be >= 2, got {K}")
    n = K // 2
    a = sp.symbols(f"a_1:{n + 1}", positive=True)
    if K % 2 == 0:
        s = sp.symbols(f"s_1:{n}", positive=True)
        t = [-si for si in reversed(s)] + [sp.Integer(0)] + list(s)
        c = [-ai for ai in reversed(a)] + list(a)
    else:
        s = sp.symbols(f"s_1:{n + 1}", positive=True)
        t = [-si for si in reversed(s)] + list(s)
        c = [-ai for ai in reversed(a)] + [sp.Integer(0)] + list(a)
    return t, c, tuple(s) + tuple(a)


def moments_expr(dist: Any, thresholds: list, levels: list) -> dict[str, sp.Expr]:
    """``E[w q]``, ``E[q^2]``, ``E[w^2]``, ``rho`` and the MSE for a quantizer given by sympy lists."""
    F0, F1 = partial_moments(dist)
    t = list(thresholds)
    c = list(levels)
    f0 = [sp.Integer(0)] + [F0.subs(X, tk) for tk in t] + [sp.Integer(1)]
    f1 = [sp.Integer(0)] + [F1.subs(X, tk) for tk in t] + [sp.Integer(0)]
    ewq = sp.Add(*[c[k] * (f1[k + 1] - f1[k]) for k in range(len(c))])
    eq2 = sp.Add(*[c[k] ** 2 * (f0[k + 1] - f0[k]) for k in range(len(c))])
    ew2 = second_moment(dist)
    return {"E_wq": ewq, "E_q2": eq2, "E_w2": ew2, "rho": ewq / sp.sqrt(ew2 * eq2), "mse": ew2 - 2 * ewq + eq2}


@lru_cache(maxsize=None)
def general_moments(dist: Any, K: int) -> dict[str, sp.Expr]:
    """:func:`moments_expr` for the general quantizer of :func:`quantizer_symbols`."""
    t, c = quantizer_symbols(K)
    return moments_expr(_key(dist), list(t), list(c))


@lru_cache(maxsize=None)
def symmetric_moments(dist: Any, K: int) -> dict[str, sp.Expr]:
    """:func:`moments_expr` for :func:`symmetric_quantizer`, simplified with the density's symmetry."""
    t, c, _ = symmetric_quantizer(K)
    m = moments_expr(_key(dist), t, c)
    quick = _key(dist) in ("gaussian", "laplace")  # simplify of the uniform Piecewise takes seconds, gains nothing
    return {k: sp.simplify(v) if quick else v for k, v in m.items()}


# -- the families -----------------------------------------------------------
TERNARY_T, LEVEL_C, STEP, BASE = sp.symbols("t c Delta b", positive=True)


def family_quantizer(family: str, K: int) -> tuple[list, list, tuple[sp.Symbol, ...]]:
    """Thresholds, levels and parameters of a family as in :mod:`theory.families` (before the gain).

    sign ``(0; -c, c)``; ternary ``(-t, t; -c, 0, c)``; uniform levels
    ``Delta (k - (K-1)/2)``; exponential levels ``+-c b^j`` (zero level for odd K);
    uniform and exponential thresholds at the level midpoints.
    """
    if family == "sign":
        return [sp.Integer(0)], [-LEVEL_C, LEVEL_C], (LEVEL_C,)
    if family == "ternary":
        return [-TERNARY_T, TERNARY_T], [-LEVEL_C, sp.Integer(0), LEVEL_C], (TERNARY_T, LEVEL_C)
    if family == "uniform":
        c = [STEP * (sp.Integer(2 * k - (K - 1)) / 2) for k in range(K)]
        params = (STEP,)
    elif family == "exponential":
        pos = [LEVEL_C * BASE**j for j in range(K // 2)]
        c = [-v for v in reversed(pos)] + ([sp.Integer(0)] if K % 2 else []) + pos
        params = (LEVEL_C, BASE)
    else:
        raise ValueError(f"family must be one of {list(FAMILY_NAMES)}, got {family!r}")
    return [(c[k] + c[k + 1]) / 2 for k in range(K - 1)], c, params


@lru_cache(maxsize=None)
def family_rho(family: str, dist: Any, K: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """rho of ``family`` with K levels for ``dist``, as a sympy expression of the family's parameters."""
    if family in ("sign", "ternary"):
        K = {"sign": 2, "ternary": 3}[family]
    t, c, params = family_quantizer(family, K)
    r = moments_expr(_key(dist), t, c)["rho"]
    key = _key(dist)
    small = K <= 3 or (K <= 4 and key == "gaussian")  # simplify only where it is quick (for display)
    return (sp.simplify(r) if key in CONTINUOUS and small else r), params


# -- lambdified numerics (cached) ---------------------------------------------
@lru_cache(maxsize=None)
def partial_moment_functions(dist: Any) -> tuple[Callable, Callable]:
    """Vectorized numpy ``F0(x)``, ``F1(x)`` lambdified from :func:`partial_moments`."""
    F0, F1 = partial_moments(_key(dist))
    return _quiet(sp.lambdify(X, F0, _MODULES)), _quiet(sp.lambdify(X, F1, _MODULES))


def _quiet(fn: Callable) -> Callable:
    """``fn`` with numpy's overflow warnings off: ``Piecewise`` evaluates every branch, the unused ones may overflow."""

    def wrapped(*args):
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(*args)

    wrapped.__doc__ = fn.__doc__
    return wrapped


@lru_cache(maxsize=None)
def moments_function(dist: Any, K: int) -> Callable[..., dict[str, np.ndarray]]:
    """Vectorized numpy ``f(thresholds, levels) -> {"E_wq", "E_q2", "rho"}`` for K levels.

    ``thresholds``: (K-1, ...) and ``levels``: (K, ...) arrays; trailing axes broadcast.
    """
    t, c = quantizer_symbols(K)
    m = general_moments(_key(dist), K)
    fn = sp.lambdify(t + c, [m["E_wq"], m["E_q2"]], _MODULES)
    ew2 = float(m["E_w2"])

    def f(thresholds: Any, levels: Any) -> dict[str, np.ndarray]:
        th = np.asarray(thresholds, dtype=np.float64)
        lv = np.asarray(levels, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            ewq, eq2 = fn(*th, *lv)
        ewq, eq2 = np.asarray(ewq, dtype=np.float64), np.asarray(eq2, dtype=np.float64)
        return {"E_wq": ewq, "E_q2": eq2, "rho": ewq / np.sqrt(ew2 * eq2)}

    return f


@lru_cache(maxsize=None)
def family_rho_function(family: str, dist: Any, K: int = 2) -> Callable[..., np.ndarray]:
    """Vectorized numpy rho of a family as a function of its parameters (see :func:`family_quantizer`)."""
    expr, params = family_rho(family, _key(dist), K)
    return _quiet(sp.lambdify(params, expr, _MODULES))


# -- facts, derived -------------------------------------------------------------
def _abstract_rho(K: int):
    """rho in terms of abstract cell moments: P_k = P(cell k), M_k = E[w ; cell k]."""
    c = sp.symbols(f"c_1:{K + 1}", real=True)
    P = sp.symbols(f"P_1:{K + 1}", positive=True)
    M = sp.symbols(f"M_1:{K + 1}", real=True)
    E2 = sp.Symbol("E_w2", positive=True)
    S1 = sum(ci * Mi for ci, Mi in zip(c, M, strict=True))
    S2 = sum(ci**2 * Pi for ci, Pi in zip(c, P, strict=True))
    return c, P, M, E2, S1, S2, S1 / sp.sqrt(E2 * S2)


def scale_invariance(K: int = 4) -> sp.Expr:
    """``rho(lambda c) - rho(c)`` for ``lambda > 0``, simplified: 0."""
    c, _, _, _, _, _, r = _abstract_rho(K)
    lam = sp.Symbol("lambda", positive=True)
    return sp.simplify(r.subs({ci: lam * ci for ci in c}, simultaneous=True) - r)


def centroid_stationarity(K: int = 4) -> dict[str, Any]:
    """Solve ``d rho / d c_k = 0``.

    With ``S1 = E[w q]`` and ``S2 = E[q^2]`` held as symbols, each stationarity
    equation is linear in ``c_k`` and sympy solves it to
    ``c_k = (S2/S1) M_k / P_k``: the cell centroid ``M_k / P_k`` times one
    common factor, i.e. centroids up to scale.  Substituting
    ``c_k = lambda M_k / P_k`` back into the full gradient gives 0 for every
    ``lambda > 0``.

    **Returns:** ``{"solutions": [c_k solution], "gradient_at_centroids": [0, ...]}``.
    """
    c, P, M, E2, S1e, S2e, r = _abstract_rho(K)
    S1, S2 = sp.symbols("S_1 S_2", positive=True)
    rs = S1 / sp.sqrt(E2 * S2)
    sols = []
    for k in range(K):
        grad = sp.diff(rs, S1) * sp.diff(S1e, c[k]) + sp.diff(rs, S2) * sp.diff(S2e, c[k])
        (sol,) = sp.solve(grad, c[k])
        sols.append(sp.simplify(sol))
    lam = sp.Symbol("lambda", positive=True)
    at = {c[k]: lam * M[k] / P[k] for k in range(K)}
    grad0 = [sp.simplify(sp.diff(r, ck).subs(at)) for ck in c]
    return {"solutions": sols, "centroids": [M[k] / P[k] for k in range(K)], "scale": S2 / S1, "gradient_at_centroids": grad0}


def centroid_identity(K: int = 4) -> sp.Expr:
    """``rho^2 - (1 - D / E[w^2])`` at the centroid levels ``c_k = M_k / P_k``, simplified: 0."""
    c, P, M, E2, S1, S2, r = _abstract_rho(K)
    at = {c[k]: M[k] / P[k] for k in range(K)}
    D = E2 - 2 * S1 + S2
    return sp.simplify((r**2 - (1 - D / E2)).subs(at))


@lru_cache(maxsize=None)
def ternary_rho(dist: Any) -> sp.Expr:
    """rho of the ternary quantizer as a function of the dead zone ``t`` (independent of ``c``)."""
    key = _key(dist)
    if key not in CONTINUOUS:
        raise ValueError(f"dist must be continuous ({list(CONTINUOUS)}) for d rho/dt, got {dist!r}")
    expr, _ = family_rho("ternary", key, 3)
    return sp.simplify(expr.subs(LEVEL_C, 1))


@lru_cache(maxsize=None)
def ternary_condition(dist: Any) -> sp.Expr:
    """The stationarity condition ``d rho / dt = 0`` reduced to its numerator (an expression = 0)."""
    num = sp.numer(sp.together(sp.diff(ternary_rho(dist), TERNARY_T)))
    return sp.simplify(num)


_TERNARY_GUESS = {"gaussian": 0.6, "laplace": 0.7, "uniform": 0.6}


@lru_cache(maxsize=None)
def ternary_optimum(dist: Any = "gaussian") -> float:
    """The rho-optimal ternary threshold: the root of ``d rho / dt = 0``.

    Gaussian: ``2 t (1 - Phi(t)) = phi(t)``, t = 0.6120 (rho = 0.8999, rho^2 = 0.8098);
    Laplace: ``t = 1/sqrt(2)``; uniform: ``t = 1/sqrt(3)`` (the root of
    ``3t^2 - 4 sqrt(3) t + 3`` inside the support).  Cited by
    :func:`theory.families.ternary`.
    """
    key = _key(dist)
    cond = ternary_condition(key)
    root = sp.nsolve(cond, TERNARY_T, _TERNARY_GUESS.get(key, 0.6), prec=30)
    return float(root)


# -- LaTeX ----------------------------------------------------------------------
def latex_formulas() -> dict[str, str]:
    """LaTeX strings of the derived formulas, keyed by name (for reports and notebooks)."""
    t, c = quantizer_symbols(3)
    F0s, F1s = sp.Function("F_0"), sp.Function("F_1")
    k = sp.Symbol("k", integer=True)
    tk, ck = sp.IndexedBase("t"), sp.IndexedBase("c")
    Ks = sp.Symbol("K", integer=True, positive=True)
    out = {
        "E_wq": sp.latex(sp.Eq(sp.Symbol(r"E[wq]"), sp.Sum(ck[k] * (F1s(tk[k]) - F1s(tk[k - 1])), (k, 1, Ks)))),
        "E_q2": sp.latex(sp.Eq(sp.Symbol(r"E[q^{2}]"), sp.Sum(ck[k] ** 2 * (F0s(tk[k]) - F0s(tk[k - 1])), (k, 1, Ks)))),
        "rho": r"\rho = \frac{E[wq]}{\sqrt{E[w^2]\,E[q^2]}}",
        "scale_invariance": sp.latex(sp.Eq(sp.Symbol(r"\rho(\lambda c) - \rho(c)"), scale_invariance(3))),
        "centroid": sp.latex(sp.Eq(sp.Symbol("c_k"), centroid_stationarity(2)["solutions"][0].subs(
            {sp.Symbol("M_1", real=True): sp.Symbol("M_k"), sp.Symbol("P_1", positive=True): sp.Symbol("P_k")}))),
        "centroid_identity": r"\rho^2 = 1 - \frac{D}{E[w^2]}",
        "hebbian_F0": sp.latex(sp.Eq(sp.Function("F_0")(X), hebbian_partial_moments()[0])),
        "hebbian_F1": sp.latex(sp.Eq(sp.Function("F_1")(X), hebbian_partial_moments()[1])),
    }
    for name in CONTINUOUS:
        F0, F1 = partial_moments(name)
        out[f"{name}_F0"] = sp.latex(sp.Eq(sp.Function("F_0")(X), F0))
        out[f"{name}_F1"] = sp.latex(sp.Eq(sp.Function("F_1")(X), F1))
        out[f"{name}_sign_rho"] = sp.latex(sp.Eq(sp.Symbol(r"\rho_{\mathrm{sign}}"), family_rho("sign", name, 2)[0]))
        out[f"{name}_ternary_rho"] = sp.latex(sp.Eq(sp.Symbol(r"\rho_{\mathrm{ternary}}(t)"), ternary_rho(name)))
        out[f"{name}_ternary_condition"] = sp.latex(sp.Eq(ternary_condition(name), 0))
    out["uniform_family_rho_K4_gaussian"] = sp.latex(family_rho("uniform", "gaussian", 4)[0])
    out["exponential_family_rho_K4_gaussian"] = sp.latex(family_rho("exponential", "gaussian", 4)[0])
    return out


__all__ = [
    "CONTINUOUS", "FAMILY_NAMES", "pdf", "partial_moments", "hebbian_partial_moments", "hebbian_second_moment",
    "second_moment", "quantizer_symbols", "symmetric_quantizer", "moments_expr", "general_moments",
    "symmetric_moments", "family_quantizer", "family_rho", "partial_moment_functions", "moments_function",
    "family_rho_function", "scale_invariance", "centroid_stationarity", "centroid_identity", "ternary_rho",
    "ternary_condition", "ternary_optimum", "latex_formulas",
]
