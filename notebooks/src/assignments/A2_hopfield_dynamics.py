# %% [markdown] readonly:a2-intro
# # Assignment A2 — Write the dynamics of a Hopfield network, then measure its capacity
#
# A Hopfield network recalls a stored pattern by updating one neuron at a time,
# $s_i \leftarrow \mathrm{sign}(h_i)$ with the local field $h_i = \sum_j W_{ij} s_j$
# (J. J. Hopfield, PNAS 79:2554, 1982). In this assignment you write that update rule yourself as a
# *pluggable* function (the device of the neurodynex3 exercises, W. Gerstner et al., *Neuronal Dynamics*,
# ch. 17), check the property that makes it work — the energy $E(s) = -\frac12 s^\top W s$ never increases —
# and use it to measure how many patterns a network with **quantized** weights can store.
#
# **Learning goals.** After this assignment you can
# 1. implement asynchronous zero-temperature dynamics as a pure function of (weights, state, random key);
# 2. explain and test why asynchronous updates with symmetric, zero-diagonal weights never raise the energy;
# 3. write a recall loop that accepts any update rule (a function argument);
# 4. measure a storage capacity $\alpha_c$ from retrieval experiments and compare it with the mean-field
#    prediction $\alpha_c(\rho)$ for quantized weights (Amit, Gutfreund, Sompolinsky 1985; Sompolinsky 1986).
#
# **Prerequisites.** numpy (indexing, matrix-vector products); what a random key is in JAX
# (`jax.random.key`, `jax.random.fold_in`, `jax.random.permutation`); notebook 02 (`notebooks/02_hopfield_quantized.ipynb`)
# or the tour `hopfield.getting_started()` below.
#
# **Expected time.** About 75 minutes.
#
# **Grading.** 14 points: 10 autograded in the test cells (some tests are hidden and run only when your
# work is graded), 2 for the figure and 2 for the written answer, graded by hand (the rubric is in each part).
# Do not change the locked cells: the grader restores them. Your network size, quantizer and noise level
# come from your student id, which nbgrader sets: it is the name of your submission folder when your work
# is graded (your login while you work). A notebook copied from another student is graded with **your**
# parameters, and the grader re-runs your measurement functions on fresh random keys. Test cells must not
# write to stderr (no progress bars or warnings there): nbgrader gives a test cell that writes to stderr no points.

# %% readonly:a2-setup
import getpass
import hashlib
import os
import warnings
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import hopfield
import theory

warnings.filterwarnings("ignore")  # nothing on stderr: nbgrader scores a test cell with stderr output 0


def nbgrader_student_id() -> str:
    """The student id nbgrader grades this notebook under (the submission folder), else your login."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        return Path.cwd().parent.name  # nbgrader runs autograded/<student id>/<assignment>/<notebook>
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


STUDENT_ID = nbgrader_student_id()
SEED = int(hashlib.sha256(f"A2/{STUDENT_ID}".encode()).hexdigest()[:8], 16)  # your personal seed
N = 100 + 10 * (SEED % 5)                                            # your number of neurons
RECIPE = [theory.Recipe("sign"), theory.Recipe("ternary"), theory.Recipe("uniform", bits=2)][(SEED // 5) % 3]  # your weight quantizer
NOISE = [0.05, 0.1, 0.15][(SEED // 15) % 3]                          # fraction of flipped bits in a start state
ALPHAS = [0.04, 0.08, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32]              # loads p/N to test
TRIALS = 8                                                           # networks per load
KEY = jax.random.key(SEED % 2**31)
print(f"student {STUDENT_ID!r}: N={N}, quantizer={RECIPE.label} (K={RECIPE.K}), NOISE={NOISE}, seed={SEED}")

# %% readonly:a2-tour
# A two-minute tour of the library (recall of a letter with float and 1-bit weights).
_ = hopfield.getting_started(seed=SEED % 1000)

# %% [markdown] readonly:a2-part1
# ## Part 1 — one asynchronous sweep (5 points)
#
# Write `async_sweep_np(W, s, key)` that returns the state after **one asynchronous sweep**:
# - visit the neurons in the order `np.asarray(jax.random.permutation(key, N))`;
# - for each visited neuron $i$ compute its field $h_i = \sum_j W_{ij} s_j$ **with the current state**
#   (the neurons already updated in this sweep count with their new values);
# - set $s_i = +1$ if $h_i > 0$, $-1$ if $h_i < 0$, and leave $s_i$ unchanged if $h_i = 0$.
#
# Arguments: `W` (N, N) numpy array, symmetric with zero diagonal; `s` (N,) numpy array in $\{-1, +1\}$;
# `key` a JAX key. Return a **new** (N,) float numpy array; do not modify `s` (a pure function).
# A Python loop over the visiting order is fine here.

# %% solution:a2-sweep
def async_sweep_np(W, s, key):
    """One asynchronous sweep of s_i <- sign(sum_j W_ij s_j) in the order permutation(key, N)."""
    ### BEGIN SOLUTION
    s = np.array(s, dtype=np.float64, copy=True)
    for i in np.asarray(jax.random.permutation(key, s.shape[0])):
        h = W[i] @ s
        if h > 0:
            s[i] = 1.0
        elif h < 0:
            s[i] = -1.0
    return s
    ### END SOLUTION

# %% test:a2-test-sweep-basics points=2
# A stored pattern is a fixed point at low load; the function is pure and returns +-1 states.
_rng = np.random.default_rng(0)
_xi = _rng.choice([-1.0, 1.0], size=(2, 50))
_W = np.asarray(hopfield.hebbian(_xi), dtype=np.float64)
_s = _xi[0].copy()
_out = async_sweep_np(_W, _s, jax.random.key(1))
assert np.array_equal(_s, _xi[0]), "async_sweep_np modified its input state"
assert _out.shape == (50,) and set(np.unique(_out)) <= {-1.0, 1.0}, "the new state must be (N,) with entries +-1"
assert np.array_equal(_out, _xi[0]), "a stored pattern of a 2-pattern network must be a fixed point"
# A hand-made 3-neuron example: neuron 2's field is 0, so it keeps its state.
_W3 = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
assert np.array_equal(async_sweep_np(_W3, np.array([1.0, -1.0, -1.0]), jax.random.key(0))[2:], [-1.0]), \
    "a neuron with zero field must keep its state"

# %% test:a2-test-energy points=3
# On your quantized network the energy never increases, and sweeps reach a fixed point.
_p = max(1, round(0.1 * N))
_xi = np.asarray(hopfield.random_patterns(_p, N, key=jax.random.fold_in(KEY, 99)))
_qW = np.asarray(hopfield.quantize(hopfield.hebbian(_xi), RECIPE, p=_p), dtype=np.float64)
for _trial in range(4):
    _s = np.random.default_rng(_trial).choice([-1.0, 1.0], size=N)
    _E = [float(hopfield.energy(_qW, _s))]
    for _t in range(30):
        _new = async_sweep_np(_qW, _s, jax.random.fold_in(KEY, _t))
        _E.append(float(hopfield.energy(_qW, _new)))
        assert _E[-1] <= _E[-2] + 1e-9 * max(1.0, abs(_E[-2])), f"energy rose from {_E[-2]} to {_E[-1]}"
        if np.array_equal(_new, _s):
            break
        _s = _new
    else:
        raise AssertionError("no fixed point after 30 sweeps")
### BEGIN HIDDEN TESTS
# Same visiting order and tie rule as Hopfield's rule, on your quantized network, from a fresh state.
def _reference_sweep(W, s, key):
    s = np.array(s, dtype=np.float64)
    for i in np.asarray(jax.random.permutation(key, s.shape[0])):
        h = W[i] @ s
        s[i] = 1.0 if h > 0 else (-1.0 if h < 0 else s[i])
    return s


for _k in (5, 17):
    _s0 = np.random.default_rng(_k).choice([-1.0, 1.0], size=N)
    assert np.array_equal(async_sweep_np(_qW, _s0, jax.random.key(_k)), _reference_sweep(_qW, _s0, jax.random.key(_k))), \
        "the sweep differs from Hopfield's asynchronous rule"
### END HIDDEN TESTS

# %% [markdown] readonly:a2-part2
# ## Part 2 — a recall loop with a pluggable update rule (2 points)
#
# Write `recall(W, s0, key, update, max_sweeps=50)` that applies `update(W, s, key_t)` with
# `key_t = jax.random.fold_in(key, t)` for `t = 0, 1, ...` until the state stops changing (a fixed point)
# or `max_sweeps` updates have been made. Return `(s, sweeps)`: the final state and the number of calls
# of `update` that **changed** the state. `update` is any function with the signature of
# `async_sweep_np` — for example the synchronous rule defined in the next cell, which can end in a 2-cycle.

# %% readonly:a2-sync
def sync_update(W, s, key):
    """Synchronous rule: all neurons at once, s <- sign(W s) (ties keep the state). The key is unused."""
    h = W @ s
    return np.where(h > 0, 1.0, np.where(h < 0, -1.0, s))

# %% solution:a2-recall
def recall(W, s0, key, update, max_sweeps=50):
    """Iterate update(W, s, fold_in(key, t)) until a fixed point or max_sweeps; return (s, sweeps)."""
    ### BEGIN SOLUTION
    s = np.array(s0, dtype=np.float64, copy=True)
    sweeps = 0
    for t in range(max_sweeps):
        new = update(W, s, jax.random.fold_in(key, t))
        if np.array_equal(new, s):
            break
        s, sweeps = new, sweeps + 1
    return s, sweeps
    ### END SOLUTION

# %% test:a2-test-recall points=2
_xi = np.random.default_rng(3).choice([-1.0, 1.0], size=(3, 60))
_W = np.asarray(hopfield.hebbian(_xi), dtype=np.float64)
_start = _xi[1].copy()
_start[:6] *= -1  # 10% of the bits flipped
_s, _n = recall(_W, _start, jax.random.key(0), async_sweep_np)
assert np.array_equal(_s, _xi[1]) and _n >= 1, "recall with async_sweep_np should restore the pattern"
# A 2-cycle of the synchronous rule: two neurons coupled by a negative weight, both starting at +1.
_W2 = np.array([[0.0, -1.0], [-1.0, 0.0]])
_s, _n = recall(_W2, np.array([1.0, 1.0]), jax.random.key(0), sync_update, max_sweeps=7)
assert _n == 7, f"the synchronous 2-cycle never stops: expected 7 changing sweeps, got {_n}"
_s, _n = recall(_W2, np.array([1.0, 1.0]), jax.random.key(0), async_sweep_np)
assert _n == 1 and _s[0] != _s[1], "asynchronous updates end the 2-cycle in one sweep"

# %% [markdown] readonly:a2-part3
# ## Part 3 — measure the capacity of your quantized network (3 points, and 2 for the figure)
#
# Write two measurement functions (the grader runs them again with other random keys, so the numbers must
# come out of them):
#
# `measure_retrieval(alphas, trials, key)`: for each load $\alpha$ in `alphas` and each of `trials` networks
# 1. draw $p = \max(1, \mathrm{round}(\alpha N))$ random patterns (`hopfield.random_patterns(p, N, key=...)`,
#    a new key for every network, derived from `key` with `jax.random.fold_in` / `jax.random.split`);
# 2. build the Hebbian matrix (`hopfield.hebbian`) and quantize it with **your** quantizer recipe,
#    `hopfield.quantize(W, RECIPE, p=p)` (the recipe's rho-optimal quantizer for the Hebbian entries of p patterns);
# 3. flip a fraction `NOISE` of the bits of the first pattern (`hopfield.flip_bits(xi[0], NOISE, key=...)`),
#    run `recall` with your `async_sweep_np`, and count a success if the overlap
#    $m = \frac1N \sum_i \xi^1_i s_i \ge 0.9$.
#
# It returns a numpy array with the fraction of successes at each load (same length as `alphas`).
#
# `measure_rho(p, trials, key)`: the mean over `trials` networks with `p` patterns of `theory.rho(W, qW)`
# between the Hebbian matrix and your quantized one (numpy arrays).
#
# Then store `retrieved = measure_retrieval(ALPHAS, TRIALS, KEY)`,
# `rho_measured = measure_rho(round(0.12 * N), TRIALS, KEY)`, and `alpha_c`, your estimate of the capacity:
# the load where `retrieved` crosses 0.5, by linear interpolation between the two loads around the crossing.

# %% solution:a2-capacity
def measure_retrieval(alphas, trials, key):
    """Fraction of `trials` quantized networks per load that recall a noisy pattern (m >= 0.9)."""
    ### BEGIN SOLUTION
    out = []
    for i, alpha in enumerate(alphas):
        p = max(1, round(alpha * N))
        ok = 0
        for j in range(trials):
            k_pat, k_flip, k_run = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, i), j), 3)
            xi = np.asarray(hopfield.random_patterns(p, N, key=k_pat))
            qW = np.asarray(hopfield.quantize(hopfield.hebbian(xi), RECIPE, p=p), dtype=np.float64)
            s0 = np.asarray(hopfield.flip_bits(xi[0], NOISE, key=k_flip), dtype=np.float64)
            s, _ = recall(qW, s0, k_run, async_sweep_np)
            ok += float(np.mean(s * xi[0])) >= 0.9
        out.append(ok / trials)
    return np.array(out)
    ### END SOLUTION


def measure_rho(p, trials, key):
    """Mean rho between the Hebbian matrix of p patterns and its quantized version, over `trials` networks."""
    ### BEGIN SOLUTION
    rhos = []
    for j in range(trials):
        W = hopfield.hebbian(hopfield.random_patterns(p, N, key=jax.random.fold_in(key, 1000 + j)))
        rhos.append(theory.rho(np.asarray(W), np.asarray(hopfield.quantize(W, RECIPE, p=p))))
    return float(np.mean(rhos))
    ### END SOLUTION


### BEGIN SOLUTION
retrieved = measure_retrieval(ALPHAS, TRIALS, KEY)
rho_measured = measure_rho(round(0.12 * N), TRIALS, KEY)
a = np.array(ALPHAS)
below = np.nonzero(retrieved < 0.5)[0]
j = int(below[0]) if below.size else len(a) - 1
alpha_c = float(a[j]) if j == 0 else float(np.interp(0.5, [retrieved[j], retrieved[j - 1]], [a[j], a[j - 1]]))
print(f"retrieved = {retrieved}, rho = {rho_measured:.4f}, alpha_c = {alpha_c:.3f}, theory {theory.predicted_capacity(rho_measured):.3f}")
### END SOLUTION

# %% test:a2-test-capacity points=3
retrieved = np.asarray(retrieved, dtype=float)
assert retrieved.shape == (len(ALPHAS),), f"retrieved must have one entry per load, has shape {retrieved.shape}"
assert np.all((0 <= retrieved) & (retrieved <= 1)), "retrieved holds fractions"
assert retrieved[0] >= 0.75, f"at alpha = {ALPHAS[0]} nearly every network should recall, got {retrieved[0]}"
assert retrieved[-1] <= 0.5, f"at alpha = {ALPHAS[-1]} (over twice the capacity) most networks should fail, got {retrieved[-1]}"
_p12 = round(0.12 * N)
_rho = theory.rho(RECIPE.optimal(theory.hebbian_density(_p12)), theory.hebbian_density(_p12))
assert abs(rho_measured - _rho) < 0.02, f"rho_measured = {rho_measured:.4f}, the closed form gives {_rho:.4f}"
assert 0.05 < alpha_c < 0.3, f"alpha_c = {alpha_c} is not a plausible capacity"
### BEGIN HIDDEN TESTS
import os as _os
import pathlib as _pl
_sid = _pl.Path.cwd().parent.name if _os.environ.get("NBGRADER_EXECUTION") == "autograde" else STUDENT_ID
_seed = int(hashlib.sha256(f"A2/{_sid}".encode()).hexdigest()[:8], 16)
_recipe = [theory.Recipe("sign"), theory.Recipe("ternary"), theory.Recipe("uniform", bits=2)][(_seed // 5) % 3]
assert (N, RECIPE, NOISE) == (100 + 10 * (_seed % 5), _recipe, [0.05, 0.1, 0.15][(_seed // 15) % 3]), \
    "the per-student parameters were changed"
_ok = retrieved >= 0.5
_j = int(np.argmin(_ok)) if not _ok.all() else len(ALPHAS) - 1
assert ALPHAS[max(_j - 1, 0)] - 1e-9 <= alpha_c <= ALPHAS[_j] + 1e-9, f"alpha_c = {alpha_c} is not where retrieved crosses 0.5"
# The measurements are re-run from your functions on fresh keys: typed-in numbers do not pass.
_fresh = np.asarray(measure_retrieval([0.04, 0.36], 6, jax.random.key(_seed % 9973 + 1)), dtype=float)
assert _fresh.shape == (2,) and _fresh[0] >= 0.66 and _fresh[1] <= 0.5, f"measure_retrieval on fresh keys gives {_fresh}"
_fresh_rho = measure_rho(round(0.2 * N), 4, jax.random.key(_seed % 7919 + 2))
_ref = theory.rho(RECIPE.optimal(theory.hebbian_density(round(0.2 * N))), theory.hebbian_density(round(0.2 * N)))
assert abs(_fresh_rho - _ref) < 0.02, f"measure_rho on fresh keys gives {_fresh_rho:.4f}, the closed form {_ref:.4f}"
### END HIDDEN TESTS

# %% [markdown] readonly:a2-figure-md
# Plot `retrieved` against $\alpha$ with the predicted capacity `theory.predicted_capacity(rho_measured)` and
# your `alpha_c` as labelled vertical lines.
#
# *Rubric for the figure (2 points, by hand):* 1 point for the measured curve with both vertical lines, each
# named in the legend; 1 point for labelled axes (the load $p/N$, the fraction that recalls), a title naming
# $N$ and the quantizer, and a legend readable at normal size.

# %% answer:a2-figure points=2
### BEGIN SOLUTION
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(ALPHAS, retrieved, "o-", label=f"measured, N={N}, {RECIPE.label} weights")
ax.axvline(theory.predicted_capacity(rho_measured), color="k", ls=":", label=f"theory alpha_c(rho={rho_measured:.3f})")
ax.axvline(alpha_c, color="C0", ls="--", label=f"measured alpha_c = {alpha_c:.3f}")
ax.set_xlabel("load alpha = p/N (patterns per neuron)")
ax.set_ylabel("fraction of networks that recall (m >= 0.9)")
ax.set_title(f"Capacity of a Hopfield network, N={N}, {RECIPE.label} weights")
ax.legend(fontsize=9)
plt.show()
### END SOLUTION

# %% [markdown] readonly:a2-part4
# ## Part 4 — interpretation (2 points, graded by hand)
#
# In three to five sentences: compare your measured $\alpha_c$ with `theory.predicted_capacity(rho_measured)` and with
# `theory.predicted_capacity(1.0)` (float weights). Is your value above or below the theory, and why could a network
# of $N \approx 100$ neurons differ from the $N \to \infty$ theory? How would you make the measurement more
# precise, and what would change with `sync_update` instead of your asynchronous rule?

# *Rubric (2 points):* 1 point for the comparison with the three numbers and the direction stated; 1 point
# for a reason for the finite-N difference (fluctuating crosstalk, the m >= 0.9 criterion, the noisy start)
# and one concrete way to a more precise measurement. Half a point off for a claim the data contradict.

# %% [markdown] answer:a2-interpretation points=2
# The measured capacity is above the mean-field value: the theory is for N -> infinity, while in a network
# of about 100 neurons the crosstalk noise fluctuates from network to network, the start is only 5-15% away
# from the pattern, and the criterion m >= 0.9 accepts imperfect recall; AGS (1987) and later simulations
# report finite-N capacities above 0.138 that approach it roughly like N^(-1/2). The quantizer lowers the
# capacity relative to float weights as the static-noise theory says (rho < 1 adds noise of variance
# 1/rho^2 - 1). More precision: more networks per load, a finer grid of loads near the crossing, several
# N and an extrapolation to N -> infinity (hopfield.finite_size), and error bars (binomial or bootstrap).
# The synchronous rule updates all neurons at once, so the energy argument fails and it can end in
# 2-cycles; recall from a noisy start is usually similar at low load but fails earlier near capacity.
