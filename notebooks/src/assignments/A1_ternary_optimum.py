# %% [markdown] readonly:a1-intro
# # Assignment A1 — The optimal few-level quantizer of a new weight density: derive it, then check it by Monte Carlo
#
# A ternary quantizer keeps only the sign of the large weights and sets the small ones to zero:
# $q(w) = -c$ for $w < -t$, $0$ for $|w| < t$, $+c$ for $w \ge t$. A 4-level uniform (mid-rise)
# quantizer with step $t$ has thresholds $-t, 0, t$ and levels $\pm t/2, \pm 3t/2$.
# How should the parameter $t$ be chosen? corrquant's answer: choose it to maximize the
# correlation $\rho = E[w\,q(w)] / \sqrt{E[w^2]\,E[q(w)^2]}$ between the weights and the quantized weights
# (Malsagov et al., OMNN 28(4):262-270, 2019; Pushkareva & Karandashev, OMNN 29(3):179-186, 2020).
#
# `theory` ships three weight densities (Gaussian, Laplace, uniform). Yours is **another** one, so the
# library cannot do the derivation for you: you write it with sympy.
#
# **Learning goals.** After this assignment you can
# 1. write $\rho$ of a few-level quantizer as a closed-form function of its parameter $t$ for a given weight density, with sympy;
# 2. explain why an overall scale of the levels drops out of $\rho$ (scale invariance);
# 3. find the optimal parameter $t^*$ from $d\rho/dt = 0$;
# 4. verify a closed form by Monte Carlo with a tolerance derived from the sample size.
#
# **Prerequisites.** Probability densities and expectations; basic sympy (`symbols`, `integrate`, `diff`,
# `nsolve`); numpy. Read `theory/correlation.py` (the formula) and `theory/families.py` (`ternary`, `uniform`).
#
# **Expected time.** About 60 minutes.
#
# **Grading.** 13 points: 9 autograded in the test cells (some tests are hidden and run only when your
# work is graded), 2 for the figure and 2 for the written answer, graded by hand (the rubric is in each part).
# Do not change the locked cells: the grader restores them. Your weight density, quantizer family and
# Monte Carlo sample come from your student id, which nbgrader sets: it is the name of your submission
# folder when your work is graded (your login while you work). A notebook copied from another student is
# graded with **your** parameters. Test cells must not write to stderr (no progress bars or warnings
# there): nbgrader gives a test cell that writes to stderr no points.

# %% readonly:a1-setup
import getpass
import hashlib
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import theory

warnings.filterwarnings("ignore")  # nothing on stderr: nbgrader scores a test cell with stderr output 0


def nbgrader_student_id() -> str:
    """The student id nbgrader grades this notebook under (the submission folder), else your login."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        return Path.cwd().parent.name  # nbgrader runs autograded/<student id>/<assignment>/<notebook>
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


STUDENT_ID = nbgrader_student_id()
SEED = int(hashlib.sha256(f"A1/{STUDENT_ID}".encode()).hexdigest()[:8], 16)  # your personal seed
DIST = ("triangular", "epanechnikov", "biweight")[SEED % 3]  # your weight density (zero mean, unit variance)
FAMILY = ("ternary", "uniform4")[(SEED // 3) % 2]            # your quantizer family
N_MC = 20_000 + 1_000 * ((SEED // 6) % 11)                    # your Monte Carlo sample size
MC_SEED = SEED % 2**31                                        # your Monte Carlo seed
SUPPORT = {"triangular": np.sqrt(6.0), "epanechnikov": np.sqrt(5.0), "biweight": np.sqrt(7.0)}[DIST]


def pdf_np(x):
    """Your density (numpy), zero outside [-SUPPORT, SUPPORT]."""
    u = np.abs(np.asarray(x, dtype=np.float64)) / SUPPORT
    shape = {"triangular": 1 - u, "epanechnikov": 0.75 * (1 - u**2), "biweight": 15 / 16 * (1 - u**2) ** 2}[DIST]
    return np.where(u < 1, shape / SUPPORT, 0.0)


def sample_weights(n, seed):
    """n weights drawn from your density (rejection sampling with numpy's Generator(seed))."""
    rng, out = np.random.default_rng(seed), np.empty(0)
    top = float(pdf_np(0.0))
    while out.size < n:
        x = rng.uniform(-SUPPORT, SUPPORT, 2 * n)
        out = np.concatenate([out, x[rng.uniform(0, top, 2 * n) < pdf_np(x)]])
    return out[:n]


print(f"student {STUDENT_ID!r}: DIST={DIST!r}, FAMILY={FAMILY!r}, N_MC={N_MC}, MC_SEED={MC_SEED}")

# %% [markdown] readonly:a1-part1
# ## Part 1 — $\rho(t)$ in closed form (2 points)
#
# Your weights $w$ have the density `DIST`, zero mean and **unit variance**, supported on $[-a, a]$ with
# $a$ = `SUPPORT`, and $u = |w|/a$:
# `"triangular"`: $f(w) = (1-u)/a$, $a = \sqrt 6$;
# `"epanechnikov"`: $f(w) = \frac34 (1-u^2)/a$, $a = \sqrt 5$;
# `"biweight"`: $f(w) = \frac{15}{16}(1-u^2)^2/a$, $a = \sqrt 7$.
#
# Your quantizer family `FAMILY`: `"ternary"` (parameter $t$ = the dead zone, levels $0, \pm 1$; the level
# $c$ cancels in $\rho$) or `"uniform4"` (parameter $t$ = the step; thresholds $-t, 0, t$, levels
# $\pm t/2, \pm 3t/2$). Since $E[w^2] = 1$, $\rho(t) = E[w q] / \sqrt{E[q^2]}$, and both expectations are
# sums of integrals of $w f$ and $f$ over the cells (by symmetry, twice the integrals over $w > 0$).
#
# Define a positive sympy symbol `t`, the density `f` of **your** `DIST` (for $w > 0$), and the
# expressions `E_wq`, `E_qq` and `rho_t` (sympy expressions in `t` only) for **your** `FAMILY`.
# `theory.derivation` knows only the shipped densities and will not help here.

# %% solution:a1-rho-expression
### BEGIN SOLUTION
w, t = sp.symbols("w t", positive=True)
a = {"triangular": sp.sqrt(6), "epanechnikov": sp.sqrt(5), "biweight": sp.sqrt(7)}[DIST]
u = w / a
f = {"triangular": 1 - u, "epanechnikov": sp.Rational(3, 4) * (1 - u**2),
     "biweight": sp.Rational(15, 16) * (1 - u**2) ** 2}[DIST] / a
cells = [(t, a, 1)] if FAMILY == "ternary" else [(0, t, t / 2), (t, a, 3 * t / 2)]  # (from, to, level) on w > 0
E_wq = 2 * sum(level * sp.integrate(w * f, (w, lo, hi)) for lo, hi, level in cells)
E_qq = 2 * sum(level**2 * sp.integrate(f, (w, lo, hi)) for lo, hi, level in cells)
rho_t = sp.simplify(E_wq / sp.sqrt(E_qq))
### END SOLUTION
rho_t

# %% test:a1-test-rho-expression points=2
# rho_t is a sympy expression in one symbol and agrees with a numerical integration at three values of t.
from scipy import integrate as _integrate


def _reference_rho(x, dist=DIST, family=FAMILY):
    """rho(t = x) of the family for the density, by numerical integration (scipy.integrate.quad)."""
    _a = {"triangular": 6**0.5, "epanechnikov": 5**0.5, "biweight": 7**0.5}[dist]
    _f = {"triangular": lambda v: (1 - v / _a) / _a, "epanechnikov": lambda v: 0.75 * (1 - (v / _a) ** 2) / _a,
          "biweight": lambda v: 15 / 16 * (1 - (v / _a) ** 2) ** 2 / _a}[dist]
    _cells = [(x, _a, 1.0)] if family == "ternary" else [(0.0, x, x / 2), (x, _a, 1.5 * x)]
    _ewq = 2 * sum(lv * _integrate.quad(lambda v: v * _f(v), lo, hi)[0] for lo, hi, lv in _cells)
    _eqq = 2 * sum(lv**2 * _integrate.quad(_f, lo, hi)[0] for lo, hi, lv in _cells)
    return _ewq / np.sqrt(_eqq)


assert isinstance(rho_t, sp.Expr), "rho_t must be a sympy expression"
assert len(rho_t.free_symbols) == 1, f"rho_t must depend on t only, has {rho_t.free_symbols}"
(_t,) = rho_t.free_symbols
for _x in (0.4, 0.7, 1.0):
    _mine, _ref = float(rho_t.subs(_t, _x)), _reference_rho(_x)
    assert abs(_mine - _ref) < 1e-9, f"rho({_x}) = {_mine}, expected {_ref}"
### BEGIN HIDDEN TESTS
import os as _os
import pathlib as _pl
_sid = _pl.Path.cwd().parent.name if _os.environ.get("NBGRADER_EXECUTION") == "autograde" else STUDENT_ID
_seed = int(hashlib.sha256(f"A1/{_sid}".encode()).hexdigest()[:8], 16)
_dist, _family = ("triangular", "epanechnikov", "biweight")[_seed % 3], ("ternary", "uniform4")[(_seed // 3) % 2]
for _x in (0.55, 0.85, 1.15):
    _mine, _ref = float(rho_t.subs(_t, _x)), _reference_rho(_x, _dist, _family)
    assert abs(_mine - _ref) < 1e-9, f"rho({_x}) = {_mine} is not rho of {_family} for {_dist} weights"
### END HIDDEN TESTS

# %% [markdown] readonly:a1-part2
# ## Part 2 — the optimal parameter (4 points)
#
# Differentiate: store $d\rho/dt$ in `drho_dt`, then solve $d\rho/dt = 0$ numerically (e.g. `sp.nsolve`)
# for the optimal parameter `t_star` (a Python float, in units of the weights' standard deviation).
# Also store `rho_star` $= \rho(t^*)$ and `outer_fraction`, the fraction of the weights that the optimal
# quantizer maps to its outermost levels, $P(|w| \ge t^*)$ (both Python floats).

# %% solution:a1-optimum
### BEGIN SOLUTION
drho_dt = sp.diff(rho_t, t)
t_star = float(sp.nsolve(drho_dt, t, 0.8))
rho_star = float(rho_t.subs(t, t_star))
outer_fraction = float(2 * sp.integrate(f, (w, t_star, a)))
print(f"t* = {t_star:.6f} sigma, rho(t*) = {rho_star:.6f}, outer fraction = {outer_fraction:.4f}")
### END SOLUTION

# %% test:a1-test-optimum points=3
# t_star is a stationary point of rho(t), drho_dt is the derivative of rho_t, and rho_star = rho(t_star).
from scipy import optimize as _optimize

(_t,) = rho_t.free_symbols
assert abs(float(drho_dt.subs(_t, t_star))) < 1e-8, "drho_dt is not zero at t_star"
_h = 1e-5
_fd = (float(rho_t.subs(_t, 0.8 + _h)) - float(rho_t.subs(_t, 0.8 - _h))) / (2 * _h)
assert abs(float(drho_dt.subs(_t, 0.8)) - _fd) < 1e-6, "drho_dt is not the derivative of rho_t"
assert abs(rho_star - _reference_rho(t_star)) < 1e-9, f"rho_star = {rho_star}"
### BEGIN HIDDEN TESTS
_best = _optimize.minimize_scalar(lambda x: -_reference_rho(x, _dist, _family), bounds=(0.05, 2.0),
                                  method="bounded", options={"xatol": 1e-10})
assert abs(t_star - _best.x) < 1e-5, f"t_star = {t_star}, the optimum of {_family} for {_dist} is {_best.x:.6f}"
### END HIDDEN TESTS

# %% test:a1-test-outer-fraction points=1
assert 0.0 < outer_fraction < 1.0, f"outer_fraction = {outer_fraction} is not a fraction"
_ref = 2 * _integrate.quad(pdf_np, t_star, SUPPORT)[0]
assert abs(outer_fraction - _ref) < 1e-8, f"outer_fraction = {outer_fraction}, expected {_ref}"

# %% [markdown] readonly:a1-part3
# ## Part 3 — Monte Carlo check (3 points, and 2 for the figure)
#
# Draw `N_MC` weights from your density with seed `MC_SEED` (`w_sample = sample_weights(N_MC, MC_SEED)`),
# build your optimal quantizer `q_star = theory.Quantizer(thresholds, levels, name)` (your `FAMILY` with
# parameter `t_star`; any overall scale of the levels), and store the empirical correlation
# `rho_mc = theory.rho(w_sample, q_star)`. Then plot $\rho(t)$ of the closed form and the Monte Carlo
# estimate on the same sample for about 20 values of $t$, with labelled axes, a title and a legend.
#
# How close must `rho_mc` be to `rho_star`? The standard deviation of the sample correlation of these
# quantizers is below $0.3/\sqrt{n}$ (measured over 200 samples of $n = 20\,000$), so the test allows
# $2/\sqrt{n}$, more than six standard deviations.
#
# *Rubric for the figure (2 points, by hand):* 1 point for both curves over a range of $t$ that contains
# $t^*$, with $t^*$ marked; 1 point for labelled axes with units, a title and a legend naming the sample size.

# %% solution:a1-monte-carlo
### BEGIN SOLUTION
def family_quantizer(x):
    """Your FAMILY's quantizer with parameter x."""
    if FAMILY == "ternary":
        return theory.Quantizer(np.array([-x, x]), np.array([-1.0, 0.0, 1.0]), "ternary")
    return theory.Quantizer(np.array([-x, 0.0, x]), np.array([-1.5, -0.5, 0.5, 1.5]) * x, "uniform4")


w_sample = sample_weights(N_MC, MC_SEED)
q_star = family_quantizer(t_star)
rho_mc = theory.rho(w_sample, q_star)
print(f"Monte Carlo rho = {rho_mc:.5f}, closed form {rho_star:.5f}, difference {rho_mc - rho_star:+.2e}")
### END SOLUTION

# %% answer:a1-figure points=2
# Your figure: rho(t) of the closed form and the Monte Carlo estimate (graded by hand, see the rubric above).
### BEGIN SOLUTION
ts = np.linspace(0.1, 1.6, 20)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(ts, [float(rho_t.subs(t, x)) for x in ts], label="closed form (sympy)")
ax.plot(ts, [theory.rho(w_sample, family_quantizer(x)) for x in ts], "o", ms=4, label=f"Monte Carlo, n={N_MC}")
ax.axvline(t_star, color="gray", ls=":", label=f"optimum t* = {t_star:.3f}")
ax.set_xlabel("parameter t (units of the weights' std)")
ax.set_ylabel("correlation rho (dimensionless)")
ax.set_title(f"{FAMILY} quantizer, {DIST} weights")
ax.legend()
plt.show()
### END SOLUTION

# %% test:a1-test-monte-carlo points=3
assert isinstance(rho_mc, float), "rho_mc must be a Python float"
_tol = 2.0 / np.sqrt(N_MC)
assert abs(rho_mc - rho_star) < _tol, f"|rho_mc - rho_star| = {abs(rho_mc - rho_star):.2e} exceeds {_tol:.2e}"
### BEGIN HIDDEN TESTS
_n, _mc = 20_000 + 1_000 * ((_seed // 6) % 11), _seed % 2**31
_w = sample_weights(_n, _mc)
assert abs(rho_mc - theory.rho(_w, q_star)) < 1e-12, "rho_mc was not computed on the prescribed sample (N_MC, MC_SEED)"
_x = _best.x
_levels = np.array([-1.0, 0.0, 1.0]) if _family == "ternary" else np.array([-1.5, -0.5, 0.5, 1.5]) * _x
_thr = np.array([-_x, _x]) if _family == "ternary" else np.array([-_x, 0.0, _x])
_q = np.asarray(q_star(_w))
_ref = _levels[np.searchsorted(_thr, _w, side="right")]
assert abs(np.corrcoef(_q, _ref)[0, 1] - 1) < 1e-6, f"q_star is not the optimal {_family} quantizer"
### END HIDDEN TESTS

# %% [markdown] readonly:a1-part4
# ## Part 4 — interpretation (2 points, graded by hand)
#
# In three to five sentences: compare your $t^*$, $\rho(t^*)$ and outer fraction with those of the same family
# for Gaussian weights (`theory.ternary()` or `theory.uniform(4)`, and `theory.rho(q, "gaussian")`).
# Your density has a bounded support (light tails): does it want a wider or a narrower parameter, and a
# higher or lower $\rho$, than the Gaussian, and why, in terms of where the density puts its mass? What
# would you expect for heavy-tailed weights?
#
# *Rubric (2 points):* 1 point for the comparison with numbers (your $t^*$, $\rho^*$ against the Gaussian
# ones, the direction stated correctly); 1 point for an explanation in terms of where the mass lies (light
# tails: no far outliers to cover, so the levels can sit closer and $\rho$ is higher) and a reasoned
# statement for heavy tails. Half a point off for each wrong number.

# %% [markdown] answer:a1-interpretation points=2
# For Gaussian weights the rho-optimal ternary threshold is 0.612 (rho = 0.900) and the 4-level uniform
# step 0.996 (rho = 0.939). The bounded densities here give about the same or a smaller parameter
# (ternary 0.592-0.612, uniform4 step 0.919-0.954) and a higher rho (0.919-0.927 ternary, 0.952-0.958
# uniform4): without a tail, no level has to reach far out, so the levels sit closer to where the mass
# lies and the quantization error is smaller. Heavy-tailed weights (Laplace) push the other way: more
# mass near zero and far outliers, so the ternary dead zone widens (1/sqrt(2) = 0.707 for Laplace) and
# rho drops.
