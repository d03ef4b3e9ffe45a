# %% [markdown] readonly:a3-intro
# # Assignment A3 — Design a 2-bit quantizer for a trained network and beat the min-max baseline
#
# Most toolkits quantize a weight tensor by rounding to $2^{\text{bits}}$ equally spaced levels spanning
# $[\min w, \max w]$ ("min-max"). With 2 bits that is 4 levels, and a few outlying weights stretch the grid
# so that most weights share one or two levels. In this assignment you design your own quantizer, judge it
# by the correlation $\rho$ between the weights and the quantized weights (Pushkareva & Karandashev,
# OMNN 29(3):179-186, 2020), and check whether a higher $\rho$ buys accuracy when the whole network is
# quantized without retraining.
#
# **Learning goals.** After this assignment you can
# 1. build a `theory.Quantizer` (thresholds and levels) from data;
# 2. implement Lloyd's algorithm (1-D k-means: thresholds at midpoints, levels at cell means), which
#    maximizes $\rho$ up to scale (J. Max 1960; S. Lloyd 1982; notebook 01);
# 3. measure the effect of a quantizer on a trained classifier's accuracy, and explain when $\rho$ and
#    accuracy agree.
#
# **Prerequisites.** numpy; basic PyTorch (`named_modules`, `weight`, `torch.no_grad`); notebooks 01 and 03
# (`notebooks/01_correlation_formula.ipynb`, `notebooks/03_quantize_classifier.ipynb`).
#
# **Expected time.** About 60 minutes.
#
# **Grading.** 11 points: 9 autograded in the test cells (some tests are hidden and run only when your work
# is graded), 2 for the written answer at the end. Do not change the test cells. Your network and layer are
# computed from your `STUDENT_ID`. Calling `theory.fit` or `theory.lloyd_max` inside your `design_quantizer`
# is not allowed: write the algorithm yourself (you may use them to check your result).

# %% [markdown] readonly:a3-id-md
# Put your student id (as given by your instructor) in the next cell and run all cells from the top.

# %%
STUDENT_ID = "student-0"  # replace with your student id

# %% readonly:a3-setup
import copy
import hashlib

import matplotlib.pyplot as plt
import numpy as np
import torch

import deepnets
import theory

torch.manual_seed(0)
torch.set_num_threads(2)
SEED = int(hashlib.sha256(STUDENT_ID.encode()).hexdigest()[:8], 16)   # your personal seed
MODEL = ("mlp", "vgg", "resnet")[SEED % 3]                            # your trained network (scikit-learn digits)
BITS = 2                                                              # 4 levels
model = deepnets.load_pretrained(MODEL, "digits")
big = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear) and m.weight.numel() >= 2000]
LAYER = big[(SEED // 3) % len(big)]                                  # your layer
x_test, y_test = deepnets.get_dataset("digits", "test").tensors
acc_float = deepnets.evaluate(model, (x_test, y_test), progress=False)["top1"]
print(f"STUDENT_ID={STUDENT_ID!r}: MODEL={MODEL!r}, LAYER={LAYER!r}, BITS={BITS}; float top-1 = {acc_float:.2f}%")

# %% [markdown] readonly:a3-part1
# ## Part 1 — the baseline (2 points)
#
# Store the weights of layer `LAYER` as a float64 numpy array `w` (any shape), the min-max baseline
# `q_base = theory.fit(w, "minmax", bits=BITS)` and its correlation `rho_base = theory.rho(w, q_base)`.

# %% solution:a3-baseline
### BEGIN SOLUTION
w = dict(model.named_modules())[LAYER].weight.detach().double().numpy()
q_base = theory.fit(w, "minmax", bits=BITS)
rho_base = theory.rho(w, q_base)
### END SOLUTION
print(f"{LAYER}: {w.size} weights, min-max rho = {rho_base:.4f}")

# %% test:a3-test-baseline points=2
_w = dict(model.named_modules())[LAYER].weight.detach().double().numpy()
assert np.array_equal(np.asarray(w, dtype=np.float64).ravel(), _w.ravel()), "w must hold the weights of LAYER"
assert isinstance(q_base, theory.Quantizer) and q_base.K == 2**BITS
assert abs(rho_base - theory.rho(_w, theory.fit(_w, "minmax", bits=BITS))) < 1e-12, f"rho_base = {rho_base}"

# %% [markdown] readonly:a3-part2
# ## Part 2 — your quantizer (4 points)
#
# Write `design_quantizer(w, bits)` returning a `theory.Quantizer(thresholds, levels, name)` with at most
# $2^{\text{bits}}$ levels that has a clearly higher $\rho$ than min-max on your layer: the test asks for
# $1 - \rho_{\text{mine}} \le 0.8\,(1 - \rho_{\text{base}})$. Suggested: Lloyd's algorithm — start with
# levels at evenly spaced quantiles of `w`, then repeat (thresholds = midpoints of neighbouring levels;
# levels = mean of the weights in each cell) until the levels stop moving. Thresholds and levels must be
# strictly increasing (handle empty cells). Your function must work for any 1-D or N-D float array.
# Then plot the histogram of `w` with the baseline's and your levels (labelled axes, legend).

# %% solution:a3-design
def design_quantizer(w, bits):
    """A rho-maximizing quantizer with at most 2**bits levels for data w (Lloyd's algorithm)."""
    ### BEGIN SOLUTION
    x = np.sort(np.asarray(w, dtype=np.float64).ravel())
    K = 2**bits
    levels = np.quantile(x, (np.arange(K) + 0.5) / K)
    for _ in range(500):
        thresholds = 0.5 * (levels[:-1] + levels[1:])
        cells = np.searchsorted(thresholds, x, side="right")
        sums = np.bincount(cells, weights=x, minlength=K)
        counts = np.bincount(cells, minlength=K)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), levels)
        if np.allclose(new, levels, rtol=0, atol=1e-12 * np.abs(x).max()):
            break
        levels = new
    levels = np.unique(levels)  # strictly increasing (drops duplicates from empty cells)
    return theory.Quantizer(0.5 * (levels[:-1] + levels[1:]), levels, f"lloyd(K={levels.size})")
    ### END SOLUTION

# %% solution:a3-design-plot
### BEGIN SOLUTION
q_mine = design_quantizer(w, BITS)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(w.ravel(), bins=100, color="0.8", label=f"{LAYER} weights")
top = ax.get_ylim()[1]
ax.vlines(q_base.levels, 0, top, colors="C0", linestyles="--", label=f"min-max levels, rho = {rho_base:.4f}")
ax.vlines(q_mine.levels, 0, top, colors="C3", label=f"my levels, rho = {theory.rho(w, q_mine):.4f}")
ax.set_xlabel("weight value (the layer's units)")
ax.set_ylabel("number of weights per bin")
ax.set_title(f"{MODEL}.{LAYER}, {BITS}-bit quantizers")
ax.legend(fontsize=8)
plt.show()
### END SOLUTION

# %% test:a3-test-design points=3
_q = design_quantizer(w, BITS)
assert isinstance(_q, theory.Quantizer), "design_quantizer must return a theory.Quantizer"
assert 2 <= _q.K <= 2**BITS, f"at most {2**BITS} levels allowed, got {_q.K}"
_rho = theory.rho(w, _q)
assert 1 - _rho <= 0.8 * (1 - rho_base), f"rho = {_rho:.4f} does not beat min-max ({rho_base:.4f}) clearly enough"
### BEGIN HIDDEN TESTS
_z = theory.get_density("laplace").sample(20_000, SEED)
_qz = design_quantizer(_z, 2)
assert _qz.K <= 4 and theory.rho(_z, _qz) >= theory.rho(_z, theory.fit(_z, "uniform", bits=2)) - 0.002, \
    "design_quantizer is far from rho-optimal on Laplace data"
### END HIDDEN TESTS

# %% test:a3-test-design-general points=1
# Works on other data: a 3-bit quantizer of a Gaussian sample reaches close to the Lloyd-Max optimum.
_g = np.random.default_rng(SEED).standard_normal((64, 80))
_qg = design_quantizer(_g, 3)
assert _qg.K <= 8 and theory.rho(_g, _qg) >= theory.rho(theory.lloyd_max(8), "gaussian") - 0.003, \
    f"3-bit rho on Gaussian data = {theory.rho(_g, _qg):.4f}"

# %% [markdown] readonly:a3-part3
# ## Part 3 — the whole network (3 points)
#
# Quantize **every** `Conv2d` and `Linear` weight of `model` (one quantizer per tensor, biases stay float)
# with your `design_quantizer(weight, BITS)`, in a copy `qmodel_mine` (use `copy.deepcopy(model)`; do not
# change `model`), and store its test accuracy `acc_mine` (`deepnets.evaluate(qmodel_mine,
# (x_test, y_test), progress=False)["top1"]`). Store the baseline accuracy `acc_base` of
# `deepnets.quantize(model, deepnets.QuantConfig("minmax", BITS, granularity="tensor"))` (the same min-max per tensor on every
# layer). The test asks you to beat the baseline by at least 2 points.

# %% solution:a3-network
### BEGIN SOLUTION
qmodel_mine = copy.deepcopy(model)
with torch.no_grad():
    for _, m in qmodel_mine.named_modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            wl = m.weight.detach().double().numpy()
            m.weight.copy_(torch.from_numpy(design_quantizer(wl, BITS)(wl)).to(m.weight.dtype))
acc_mine = deepnets.evaluate(qmodel_mine, (x_test, y_test), progress=False)["top1"]
qmodel_base, _ = deepnets.quantize(model, deepnets.QuantConfig("minmax", BITS, granularity="tensor"))
acc_base = deepnets.evaluate(qmodel_base, (x_test, y_test), progress=False)["top1"]
### END SOLUTION
print(f"top-1: float {acc_float:.2f}%, min-max {acc_base:.2f}%, mine {acc_mine:.2f}%")

# %% test:a3-test-network points=3
assert acc_mine >= acc_base + 2.0, f"your quantizer ({acc_mine:.2f}%) does not beat min-max ({acc_base:.2f}%) by 2 points"
_orig = dict(deepnets.load_pretrained(MODEL, "digits").named_modules())
for _n, _m in model.named_modules():
    if isinstance(_m, torch.nn.Conv2d | torch.nn.Linear):
        assert torch.equal(_m.weight, _orig[_n].weight), f"model was modified ({_n}); quantize a copy"
### BEGIN HIDDEN TESTS
for _n, _m in qmodel_mine.named_modules():
    if isinstance(_m, torch.nn.Conv2d | torch.nn.Linear):
        assert torch.unique(_m.weight).numel() <= 2**BITS, f"layer {_n} has more than {2**BITS} distinct weights"
assert abs(acc_mine - deepnets.evaluate(qmodel_mine, (x_test, y_test), progress=False)["top1"]) < 1e-9
_qb, _ = deepnets.quantize(model, deepnets.QuantConfig("minmax", BITS, granularity="tensor"))
assert abs(acc_base - deepnets.evaluate(_qb, (x_test, y_test), progress=False)["top1"]) < 1e-9
### END HIDDEN TESTS

# %% [markdown] readonly:a3-part4
# ## Part 4 — interpretation (2 points, graded by hand)
#
# In three to five sentences: why does min-max lose so much $\rho$ at 2 bits on trained weights? Did the
# gain in $\rho$ translate into accuracy, layer by layer and for the whole network? Try also
# `theory.fit(w, "uniform", bits=BITS)` (equidistant levels with a $\rho$-optimal step): how close does
# it come to your design, and what does that say about where the loss of min-max comes from? When can a
# higher $\rho$ fail to give a higher accuracy?

# %% [markdown] answer:a3-interpretation points=2
# Min-max puts its 4 levels evenly over the full range, which a few large weights stretch, so most weights
# (concentrated near zero) fall into the two middle cells and the quantizer is almost a sign function with
# a poor level; in these networks rho drops to about 0.8-0.93. Lloyd's levels follow the density, and rho rises to
# about 0.94-0.96.
# For the whole network at 2 bits this is worth several points to tens of points of accuracy, because the
# errors of all layers add up; for a single layer the accuracy differences are within one or two test
# images. The rho-optimal *uniform* grid comes within about 0.001 of Lloyd's rho, so the loss of min-max
# comes from its range (clipping nothing), not from equal spacing. A higher rho can fail to give higher
# accuracy when the layers and weights that carry the decision are not the ones rho weighs most (rho
# averages over all weights equally), when the quantization noise of different layers interacts, and
# whenever the differences are smaller than the test set's resolution (here one image is 0.28 points).
