# %% [markdown] readonly:a1-intro
# # Assignment A1 — The optimal ternary quantizer: derive it, then check it by Monte Carlo
#
# A ternary quantizer keeps only the sign of the large weights and sets the small ones to zero:
# $q(w) = -c$ for $w < -t$, $0$ for $|w| < t$, $+c$ for $w \ge t$.
# How wide should the dead zone $|w| < t$ be? corrquant's answer: choose $t$ to maximize the
# correlation $\rho = E[w\,q(w)] / \sqrt{E[w^2]\,E[q(w)^2]}$ between the weights and the quantized weights
# (Malsagov et al., OMNN 28(4):262-270, 2019; Pushkareva & Karandashev, OMNN 29(3):179-186, 2020).
#
# **Learning goals.** After this assignment you can
# 1. write $\rho$ of a ternary quantizer as a closed-form function of the threshold $t$ for a given weight density, with sympy;
# 2. explain why the level $c$ drops out of $\rho$ (scale invariance);
# 3. find the optimal threshold $t^*$ from $d\rho/dt = 0$;
# 4. verify a closed form by Monte Carlo with a tolerance derived from the sample size.
#
# **Prerequisites.** Probability densities and expectations; the standard normal, Laplace and uniform
# distributions; basic sympy (`symbols`, `integrate`, `diff`, `nsolve`); numpy.
# Read `theory/correlation.py` (the formula) and `theory/families.py` (`ternary`).
#
# **Expected time.** About 60 minutes.
#
# **Grading.** 11 points: 9 autograded in the test cells (some tests are hidden and run only when your
# work is graded), 2 for the written answer at the end. Do not change the test cells.
# Every student gets a different weight density and Monte Carlo sample, computed from your `STUDENT_ID`.

# %% [markdown] readonly:a1-id-md
# Put your student id (as given by your instructor) in the next cell and run all cells from the top.

# %%
STUDENT_ID = "student-0"  # replace with your student id

# %% readonly:a1-setup
import hashlib

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import theory

SEED = int(hashlib.sha256(STUDENT_ID.encode()).hexdigest()[:8], 16)  # your personal seed
DIST = ("gaussian", "laplace", "uniform")[SEED % 3]                  # your weight density (zero mean, unit variance)
N_MC = 20_000 + 1_000 * (SEED % 11)                                  # your Monte Carlo sample size
MC_SEED = SEED                                                       # your Monte Carlo seed
print(f"STUDENT_ID={STUDENT_ID!r}: DIST={DIST!r}, N_MC={N_MC}, MC_SEED={MC_SEED}")

# %% [markdown] readonly:a1-part1
# ## Part 1 — $\rho(t)$ in closed form (2 points)
#
# Your weights $w$ have the density `DIST` with zero mean and **unit variance**:
# `"gaussian"`: $f(w) = e^{-w^2/2}/\sqrt{2\pi}$;
# `"laplace"`: $f(w) = e^{-|w|/b}/(2b)$ with $b = 1/\sqrt{2}$;
# `"uniform"`: $f(w) = 1/(2\sqrt 3)$ on $[-\sqrt 3, \sqrt 3]$.
#
# For the symmetric ternary quantizer with threshold $t > 0$ and level $c > 0$,
# $E[w q] = c \cdot M(t)$ and $E[q^2] = c^2 P(t)$, where $P(t) = P(|w| \ge t) = 2\int_t^\infty f$ and
# $M(t) = 2 \int_t^\infty w f(w)\,dw$. Since $E[w^2] = 1$, $\rho(t) = M(t)/\sqrt{P(t)}$: the level $c$ cancels.
#
# Define sympy symbols `w` and `t` (positive), the density `f` of **your** `DIST`, and the expressions
# `P`, `M` and `rho_t` (a sympy expression in `t` only).

# %% solution:a1-rho-expression
### BEGIN SOLUTION
w, t = sp.symbols("w t", positive=True)
b = 1 / sp.sqrt(2)
densities = {  # (density on w > 0, upper end of the support)
    "gaussian": (sp.exp(-w**2 / 2) / sp.sqrt(2 * sp.pi), sp.oo),
    "laplace": (sp.exp(-w / b) / (2 * b), sp.oo),
    "uniform": (1 / (2 * sp.sqrt(3)), sp.sqrt(3)),
}
f, top = densities[DIST]
P = 2 * sp.integrate(f, (w, t, top))
M = 2 * sp.integrate(w * f, (w, t, top))
rho_t = sp.simplify(M / sp.sqrt(P))
### END SOLUTION
rho_t

# %% test:a1-test-rho-expression points=2
# rho_t is a sympy expression in one symbol and agrees with corrquant's closed form at three thresholds.
assert isinstance(rho_t, sp.Expr), "rho_t must be a sympy expression"
assert len(rho_t.free_symbols) == 1, f"rho_t must depend on t only, has {rho_t.free_symbols}"
(_t,) = rho_t.free_symbols
for _th in (0.3, 0.5, 1.0):
    _mine = float(rho_t.subs(_t, _th))
    _ref = theory.rho(theory.ternary(_th, dist=DIST), DIST)
    assert abs(_mine - _ref) < 1e-9, f"rho({_th}) = {_mine}, expected {_ref}"

# %% [markdown] readonly:a1-part2
# ## Part 2 — the optimal threshold (4 points)
#
# Differentiate: store $d\rho/dt$ in `drho_dt`, then solve $d\rho/dt = 0$ numerically (e.g. `sp.nsolve`)
# for the optimal threshold `t_star` (a Python float, in units of the weights' standard deviation).
# Also store `rho_star` $= \rho(t^*)$ and `zero_fraction`, the fraction of weights that the optimal
# quantizer sets to zero, $P(|w| < t^*)$ (both Python floats).
#
# *Hint:* for two of the three densities $t^*$ has a simple closed form. Can you find it with `sp.solve`?

# %% solution:a1-optimum
### BEGIN SOLUTION
drho_dt = sp.diff(rho_t, t)
t_star = float(sp.nsolve(drho_dt, t, 0.6))
rho_star = float(rho_t.subs(t, t_star))
zero_fraction = 1.0 - float(P.subs(t, t_star))
print(f"t* = {t_star:.6f} sigma, rho(t*) = {rho_star:.6f}, zero fraction = {zero_fraction:.4f}")
### END SOLUTION

# %% test:a1-test-optimum points=3
# t_star is a stationary point of rho(t) and matches corrquant's rho-optimal ternary quantizer.
(_t,) = rho_t.free_symbols
assert abs(float(drho_dt.subs(_t, t_star))) < 1e-8, "drho_dt is not zero at t_star"
_ref = theory.ternary(dist=DIST)
assert abs(t_star - _ref.thresholds[1]) < 1e-5, f"t_star = {t_star}, expected {_ref.thresholds[1]}"
assert abs(rho_star - theory.rho(_ref, DIST)) < 1e-9, f"rho_star = {rho_star}"
### BEGIN HIDDEN TESTS
_known = {"gaussian": 0.612003, "laplace": 1 / np.sqrt(2), "uniform": 1 / np.sqrt(3)}
assert abs(t_star - _known[DIST]) < 1e-5, f"t_star = {t_star}, the optimum for {DIST} is {_known[DIST]:.6f}"
from theory import derivation as _derivation
assert abs(t_star - _derivation.ternary_optimum(DIST)) < 1e-6, f"t_star = {t_star}"
### END HIDDEN TESTS

# %% test:a1-test-zero-fraction points=1
assert 0.0 < zero_fraction < 1.0, f"zero_fraction = {zero_fraction} is not a fraction"
_d = theory.get_density(DIST)
_ref = float(_d.F0(np.array(t_star)) - _d.F0(np.array(-t_star)))
assert abs(zero_fraction - _ref) < 1e-9, f"zero_fraction = {zero_fraction}, expected {_ref}"

# %% [markdown] readonly:a1-part3
# ## Part 3 — Monte Carlo check (3 points)
#
# Draw `N_MC` weights from your density with seed `MC_SEED`
# (`theory.get_density(DIST).sample(N_MC, MC_SEED)`), quantize them with the ternary quantizer with
# threshold `t_star` (`theory.ternary(t_star, dist=DIST)`), and store the empirical correlation in `rho_mc`
# (`theory.rho(w_sample, q)` computes it). Then plot $\rho(t)$ of the closed form and the Monte Carlo
# estimate on the same sample for about 20 thresholds, with labelled axes and a legend.
#
# How close must `rho_mc` be to `rho_star`? The standard deviation of the sample correlation is below
# $0.3/\sqrt{n}$ for all three densities (measured over 200 samples of $n = 20\,000$), so the test allows
# $2/\sqrt{n}$, more than six standard deviations.

# %% solution:a1-monte-carlo
### BEGIN SOLUTION
w_sample = theory.get_density(DIST).sample(N_MC, MC_SEED)
rho_mc = theory.rho(w_sample, theory.ternary(t_star, dist=DIST))
print(f"Monte Carlo rho = {rho_mc:.5f}, closed form {rho_star:.5f}, difference {rho_mc - rho_star:+.2e}")

ts = np.linspace(0.05, 1.6, 20)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(ts, [float(rho_t.subs(t, x)) for x in ts], label="closed form (sympy)")
ax.plot(ts, [theory.rho(w_sample, theory.ternary(x, dist=DIST)) for x in ts], "o", ms=4, label=f"Monte Carlo, n={N_MC}")
ax.axvline(t_star, color="gray", ls=":", label=f"t* = {t_star:.3f}")
ax.set_xlabel("threshold t (units of the weights' std)")
ax.set_ylabel("correlation rho (dimensionless)")
ax.set_title(f"Ternary quantizer, {DIST} weights")
ax.legend()
plt.show()
### END SOLUTION

# %% test:a1-test-monte-carlo points=3
assert isinstance(rho_mc, float), "rho_mc must be a Python float"
_tol = 2.0 / np.sqrt(N_MC)
assert abs(rho_mc - rho_star) < _tol, f"|rho_mc - rho_star| = {abs(rho_mc - rho_star):.2e} exceeds {_tol:.2e}"
### BEGIN HIDDEN TESTS
_w = theory.get_density(DIST).sample(N_MC, MC_SEED)
_ref = theory.rho(_w, theory.ternary(t_star, dist=DIST))
assert abs(rho_mc - _ref) < 1e-12, "rho_mc was not computed on the prescribed sample (N_MC, MC_SEED)"
### END HIDDEN TESTS

# %% [markdown] readonly:a1-part4
# ## Part 4 — interpretation (2 points, graded by hand)
#
# In three to five sentences: compare your $t^*$ and zero fraction with those of the other two densities
# (call `theory.ternary(dist=...)`). Which density wants the widest dead zone, relative to its standard
# deviation, and why, in terms of where the density puts its mass? What does that suggest for
# quantizing heavy-tailed neural-network weights?

# %% [markdown] answer:a1-interpretation points=2
# The optimal thresholds are t* = 0.612 (Gaussian), 1/sqrt(3) = 0.577 (uniform) and 1/sqrt(2) = 0.707
# (Laplace), which zero 46%, 33% and 63% of the weights. The heavy-tailed Laplace density wants the
# widest dead zone: most of its mass sits close to zero, where a weight contributes little to E[w q],
# while a few large weights carry most of the second moment; zeroing the many small weights costs little
# correlation and lets the single level c fit the large ones. The uniform density has no such
# concentration, so it zeroes the fewest. Trained network weights are often closer to Laplace than to
# Gaussian, so a rho-optimal ternary code for them is sparse (most weights zero).
