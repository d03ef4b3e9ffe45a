# %% [markdown]
# # 01 — The correlation formula: rho of a quantizer, derived, plotted, maximized
#
# corrquant judges a post-training weight quantizer $q$ by one number, the correlation between the
# weights and the quantized weights (Malsagov et al. 2019; Pushkareva & Karandashev 2020):
#
# $$\rho = \frac{E[w\,q(w)]}{\sqrt{E[w^2]\,E[q(w)^2]}}.$$
#
# This notebook
# 1. derives $\rho$ for a K-level quantizer and a weight density with sympy, step by step (`theory.derivation`);
# 2. checks the derived formula against corrquant's fast numerics and a Monte Carlo sample;
# 3. plots $\rho$ against bits per weight for every quantizer family and weight density;
# 4. shows that maximizing $\rho$ is the Lloyd-Max problem up to scale (J. Max 1960; S. Lloyd 1982),
#    and derives the optimal ternary dead zone.
#
# Sources: M. Yu. Malsagov et al., OMNN 28(4):262-270, 2019 (exponential levels);
# M. M. Pushkareva, I. M. Karandashev, OMNN 29(3):179-186, 2020 (choose parameters by maximizing rho).

# %% parameters
# Small defaults: the test suite runs this notebook in a few seconds.
# For smoother curves raise MAX_BITS (<= 8) and N_MC (e.g. 1_000_000).
MAX_BITS = 5          # plot 1..MAX_BITS bits per weight
N_MC = 50_000         # Monte Carlo sample size for the closed-form check
SEED = 0              # Monte Carlo seed
K_OPT = 4             # levels for the "maximize rho = Lloyd-Max" demonstration

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Math, display
import sympy as sp
from scipy import optimize

import theory
from theory import derivation

DISTS = theory.densities.DISTRIBUTIONS  # ("gaussian", "laplace", "uniform"), all zero mean, unit variance

# %% [markdown]
# ## Step 1 — a density and its partial moments
#
# Everything $\rho$ needs from the weight density $f$ are two partial moments,
# $F_0(x) = P(w < x)$ and $F_1(x) = E[w;\, w < x] = \int_{-\infty}^x w f(w)\,dw$.
# sympy integrates them from the densities (unit variance: Gaussian; Laplace with scale $1/\sqrt2$;
# uniform on $[-\sqrt3, \sqrt3]$):

# %%
latex = derivation.latex_formulas()
for name in DISTS:
    display(Math(rf"\text{{{name}:}}\quad f(w) = {sp.latex(derivation.pdf(name))}"))
    display(Math(latex[f"{name}_F0"]))
    display(Math(latex[f"{name}_F1"]))

# %% [markdown]
# The entries of a Hebbian matrix with $p$ random patterns are not continuous: standardised, they are
# $(2j - p)/\sqrt p$ with $j \sim \mathrm{Bin}(p, 1/2)$ (Hopfield 1982), and their partial moments are
# binomial sums:

# %%
display(Math(latex["hebbian_F0"]))
display(Math(latex["hebbian_F1"]))

# %% [markdown]
# ## Step 2 — $E[wq]$ and $E[q^2]$ cell by cell
#
# A K-level quantizer with thresholds $t_1 < \dots < t_{K-1}$ ($t_0 = -\infty$, $t_K = +\infty$) and levels
# $c_1 < \dots < c_K$ is constant on each cell, so both expectations are sums over the cells:

# %%
for key in ("E_wq", "E_q2", "rho"):
    display(Math(latex[key]))

# %% [markdown]
# For the Gaussian, $\int_a^b w\varphi(w)\,dw = \varphi(a) - \varphi(b)$, so a symmetric 4-level quantizer
# (thresholds $0, \pm s_1$; levels $\pm a_1, \pm a_2$) has, after sympy's simplification,

# %%
display(Math(r"\rho = " + sp.latex(derivation.symmetric_moments("gaussian", 4)["rho"])))

# %% [markdown]
# ## Step 3 — the derived formula agrees with the numerics and with Monte Carlo
#
# `theory.rho(q, dist)` is the fast closed form; `derivation.moments_function` is the sympy expression
# lambdified; `theory.rho(w, q)` is the empirical correlation of a sample. The Monte Carlo standard
# error is about $\sqrt{(1-\rho^2)/n}$ times a density-dependent factor of order one.

# %%
rows = []
for name in DISTS:
    q = theory.make("lloyd_max", K_OPT, name)
    rho_sympy = float(derivation.moments_function(name, K_OPT)(q.thresholds, q.levels)["rho"])
    w = theory.get_density(name).sample(N_MC, SEED)
    rows.append((name, theory.rho(q, name), rho_sympy, theory.rho(w, q), np.sqrt((1 - theory.rho(q, name) ** 2) / N_MC)))
print(f"Lloyd-Max, K={K_OPT}; Monte Carlo n={N_MC}")
print(f"{'density':>9} {'closed form':>12} {'sympy':>12} {'Monte Carlo':>12} {'~std err':>9}")
for r in rows:
    print(f"{r[0]:>9} {r[1]:12.6f} {r[2]:12.6f} {r[3]:12.6f} {r[4]:9.1e}")

# %% [markdown]
# ## Step 4 — rho against bits for every family and density
#
# Each family's free parameters (ternary dead zone, uniform step, exponential base and smallest level)
# are chosen to maximize $\rho$ for the density (`theory.make(family, K, dist)`). Sign is 1 bit and
# ternary $\log_2 3 \approx 1.58$ bits of information (2 bits of storage). The right panel shows
# $1 - \rho$ on a log scale, where the families separate.

# %%
bits = np.arange(1, MAX_BITS + 1)
curves = {
    (name, fam): [theory.rho(theory.make(fam, 2**b, name), name) for b in bits]
    for name in DISTS
    for fam in ("uniform", "exponential", "lloyd_max")
}
points = {(name, fam): theory.rho(theory.make(fam, K, name), name) for name in DISTS for fam, K in (("sign", 2), ("ternary", 3))}

colors = {"uniform": "C0", "exponential": "C1", "lloyd_max": "C2", "sign": "C3", "ternary": "C4"}
fig, axes = plt.subplots(2, len(DISTS), figsize=(12, 6.5), sharex=True)
for j, name in enumerate(DISTS):
    for i, transform in enumerate((lambda r: np.asarray(r), lambda r: 1 - np.asarray(r))):
        ax = axes[i, j]
        for fam in ("uniform", "exponential", "lloyd_max"):
            ax.plot(bits, transform(curves[name, fam]), "o-", ms=3, color=colors[fam], label=fam)
        for fam, K in (("sign", 2), ("ternary", 3)):
            ax.plot(np.log2(K), transform(points[name, fam]), "s", mfc="none", color=colors[fam], label=fam)
        ax.grid(alpha=0.3)
    axes[0, j].set_title(f"{name} weights: rho")
    axes[1, j].set_title(f"{name} weights: 1 - rho")
    axes[1, j].set_yscale("log")
    axes[1, j].set_xlabel("bits per weight, log2 K")
axes[0, 0].set_ylabel("rho (dimensionless)")
axes[1, 0].set_ylabel("1 - rho (dimensionless, log scale)")
axes[0, 0].legend(fontsize=8)
fig.suptitle("Correlation of weights and quantized weights, rho-optimal member of each family")
fig.tight_layout()
plt.show()

# %% [markdown]
# What the figure shows: at every bit width Lloyd-Max is on top (it is the optimum, next step);
# the rho-optimal uniform grid is close for the light-tailed densities and falls behind for the
# heavy-tailed Laplace, where the exponential grid does better (for the uniform density the uniform grid *is*
# Lloyd-Max, and the two curves coincide). Malsagov et al. (2019) report that exponential levels reach
# the accuracy of linear levels with 1-2 fewer bits on ImageNet classifiers, whose weights are
# heavy-tailed. This project's own trained classifiers do not show that saving (the report's stage 5,
# "The published anchors", and the README's Results): per channel and per tensor, exponential levels
# need as many bits as min-max uniform to stay within 1 point of float top-1, or more. The rho gained
# over the uniform grid here is a few thousandths at 3-4 bits, and a classifier's loss can be decided by
# one sensitive layer rather than by the mean rho. Each extra bit cuts
# $1 - \rho$ by roughly a factor of four, as the $6$ dB/bit rule for the MSE predicts
# ($1 - \rho \approx D/2$ for small distortion $D$).
#
# ## Step 5 — maximizing rho is Lloyd-Max up to scale
#
# **Scale.** Multiplying all levels by $\lambda > 0$ leaves $\rho$ unchanged (sympy: the difference simplifies to):

# %%
display(Math(r"\rho(\lambda c) - \rho(c) = " + sp.latex(derivation.scale_invariance(K_OPT))))

# %% [markdown]
# **Levels.** With the cell probabilities $P_k$ and first moments $M_k = E[w;\, \text{cell } k]$,
# $E[wq] = S_1 = \sum_k c_k M_k$ and $E[q^2] = S_2 = \sum_k c_k^2 P_k$. Solving $\partial\rho/\partial c_k = 0$:

# %%
stat = derivation.centroid_stationarity(K_OPT)
for k, sol in enumerate(stat["solutions"], start=1):
    display(Math(rf"c_{k} = {sp.latex(sol)}"))
display(Math(r"\frac{\partial \rho}{\partial c_k}\Big|_{c_k = \lambda M_k / P_k} = "
             + sp.latex(sp.Matrix(stat["gradient_at_centroids"]).T)))

# %% [markdown]
# Every optimal level is the cell centroid $M_k/P_k = E[w \mid \text{cell } k]$ times the same factor
# $S_2/S_1$: centroids up to scale, one of Lloyd-Max's two conditions. At the centroids,
# $\rho^2 = 1 - D/E[w^2]$ with $D$ the mean squared error (sympy: the difference simplifies to):

# %%
display(Math(r"\rho^2 - \left(1 - \frac{D}{E[w^2]}\right)\Big|_{\text{centroids}} = "
             + sp.latex(derivation.centroid_identity(K_OPT))))

# %% [markdown]
# **Thresholds.** With centroid levels, maximizing $\rho$ over the thresholds is minimizing $D$, whose
# stationarity condition puts each threshold at the midpoint of its neighbouring levels — Lloyd-Max's
# other condition. So $\arg\max \rho$ = Lloyd-Max, up to the scale of the levels.
#
# **Numerical check.** Maximize the lambdified $\rho(t_1..t_{K-1}, c_1..c_K)$ over all $2K - 1$ free
# parameters with a generic optimizer (Nelder-Mead, from a deliberately poor start), then rescale the
# levels by least squares and compare with `theory.lloyd_max`:

# %%
rho_fn = derivation.moments_function("gaussian", K_OPT)
x0 = np.concatenate([np.linspace(-1.0, 1.0, K_OPT - 1), np.linspace(-2.0, 2.0, K_OPT) * 0.3])
res = optimize.minimize(lambda v: -rho_fn(np.sort(v[: K_OPT - 1]), np.sort(v[K_OPT - 1 :]))["rho"], x0,
                        method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 40_000})
q_best = theory.Quantizer(np.sort(res.x[: K_OPT - 1]), np.sort(res.x[K_OPT - 1 :]), "argmax rho")
m = theory.moments(q_best, "gaussian")
q_best = q_best.with_gain(m["E_wq"] / m["E_q2"])  # least-squares scale
q_lm = theory.lloyd_max(K_OPT, "gaussian")
print("argmax rho :", q_best, f"rho = {theory.rho(q_best, 'gaussian'):.8f}")
print("Lloyd-Max  :", q_lm, f"rho = {theory.rho(q_lm, 'gaussian'):.8f}")
print("max |difference| in thresholds, levels:",
      f"{np.max(np.abs(q_best.thresholds - q_lm.thresholds)):.1e},", f"{np.max(np.abs(q_best.levels - q_lm.levels)):.1e}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.5))
xs = np.linspace(-3, 3, 2001)
ax.plot(xs, q_lm(xs), lw=3, alpha=0.5, label=f"Lloyd-Max, K={K_OPT}")
ax.plot(xs, q_best(xs), "--", label="argmax rho, rescaled")
ax.plot(xs, xs, ":", color="gray", label="identity q(w) = w")
ax.set_xlabel("weight w (units of the weights' std)")
ax.set_ylabel("quantized weight q(w) (same units)")
ax.set_title("Maximizing rho gives the Lloyd-Max quantizer (Gaussian weights)")
ax.legend()
plt.show()

# %% [markdown]
# ## Step 6 — the optimal ternary dead zone
#
# For the ternary quantizer ($-c, 0, +c$ with dead zone $|w| < t$) the level cancels and $\rho$ is a
# function of $t$ alone; setting $d\rho/dt = 0$ gives the optimal dead zone
# (assignment A1 asks students to derive this themselves):

# %%
for name in DISTS:
    display(Math(latex[f"{name}_ternary_rho"]))
    display(Math(r"\frac{d\rho}{dt} = 0 \iff " + latex[f"{name}_ternary_condition"]))
    t_star = derivation.ternary_optimum(name)
    q3 = theory.ternary(dist=name)
    print(f"{name}: t* = {t_star:.6f} (theory.ternary: {q3.thresholds[1]:.6f}), rho(t*) = {theory.rho(q3, name):.5f}")

# %%
ts = np.linspace(0.01, 1.7, 200)
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for name in DISTS:
    r = derivation.family_rho_function("ternary", name)(ts, 1.0)
    (line,) = ax.plot(ts, r, label=name)
    ax.plot(derivation.ternary_optimum(name), theory.rho(theory.ternary(dist=name), name), "o", color=line.get_color())
ax.set_xlabel("dead-zone threshold t (units of the weights' std)")
ax.set_ylabel("rho (dimensionless)")
ax.set_title("Ternary quantizer: rho against the dead zone (dots: optimum)")
ax.legend()
plt.show()

# %% [markdown]
# ## Step 7 — Hebbian weights: the exact finite-p correlation
#
# For a Hopfield matrix the density is the binomial law above. The sign quantizer (clipped synapse) has
# $\rho^2 \to 2/\pi$ as $p \to \infty$ (Sompolinsky 1986); for small $p$ the exact formula differs:

# %%
ps = np.arange(1, 61)
fig, ax = plt.subplots(figsize=(9, 3.8))
for fam, K in (("sign", 2), ("ternary", 3), ("lloyd_max", 4)):
    ax.plot(ps, [theory.rho(theory.make(fam, K, ("hebbian", int(p))), ("hebbian", int(p))) for p in ps], ".-", ms=3, label=f"{fam} (exact, binomial)")
    ax.axhline(theory.rho(theory.make(fam, K, "gaussian"), "gaussian"), ls=":", color=ax.lines[-1].get_color(), label=f"{fam}, Gaussian limit")
ax.set_xlabel("number of stored patterns p")
ax.set_ylabel("rho (dimensionless)")
ax.set_title("Quantized Hebbian weights")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes, off the curves
ax.set_ylim(0.75, 1.02)
fig.tight_layout()
plt.show()

# %% [markdown]
# At $p = 1$ every entry is $\pm 1/N$ and all three quantizers are exact ($\rho = 1$). Even $p$ gives
# entries that are exactly zero (probability $\binom{p}{p/2}2^{-p}$), which fall into the upper cell
# ($t_{k-1} \le w < t_k$): the sign quantizer then gets asymmetric centroid levels and a lower $\rho$, hence
# the zig-zag. All curves approach their Gaussian limit from above (sign: $\sqrt{2/\pi} = 0.798$) within
# a few per cent by $p \approx 20$, so for loaded networks ($p$ in the tens or more) the Gaussian formula is enough.
#
# **Summary.** $\rho$ is a closed-form function of the thresholds, levels and density; it ignores the
# scale of the levels; its maximizer is Lloyd-Max; and each extra bit divides $1-\rho$ by about four.
# Notebook 02 turns $\rho$ into predictions for a Hopfield network; notebook 03 measures it on a trained
# classifier.
