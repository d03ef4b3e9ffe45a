# %% [markdown] readonly:a3-intro
# # Assignment A3 — Design a few-bit quantizer for a trained network and beat the min-max baseline
#
# Most toolkits quantize a weight tensor by rounding to $2^{\text{bits}}$ equally spaced levels spanning
# $[\min w, \max w]$ ("min-max"). With 2 or 3 bits that is 4 or 8 levels, and a few outlying weights stretch
# the grid so that most weights share a few levels. In this assignment you design your own quantizer, judge it
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
# **Grading.** 13 points: 9 autograded in the test cells (some tests are hidden and run only when your work
# is graded), 2 for the figure and 2 for the written answer, graded by hand (the rubric is in each part).
# Do not change the locked cells: the grader restores them. Your network, layer and bit width come from
# your student id, which nbgrader sets: it is the name of your submission folder when your work is graded
# (your login while you work); a notebook copied from another student is graded with **your** parameters.
# Write the quantizer yourself with numpy: while the grader runs your `design_quantizer`, the library's
# quantizer fitting (`theory.fit`, `theory.lloyd_max`, `theory.make`, `theory.Recipe(...).fit` /
# `.optimal`, `deepnets.quantize`) and the k-means of scikit-learn and scipy are replaced by functions that
# raise (you may use them elsewhere to check your result). The grader recomputes $\rho$ and the accuracies
# itself, in a fresh Python process, so changing the library at run time does not help. Test cells must not
# write to stderr (no progress bars or warnings there): nbgrader gives a test cell that writes to stderr no points.

# %% readonly:a3-setup
import copy
import getpass
import hashlib
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import deepnets
import theory

warnings.filterwarnings("ignore")  # nothing on stderr: nbgrader scores a test cell with stderr output 0
torch.manual_seed(0)
torch.set_num_threads(2)


def nbgrader_student_id() -> str:
    """The student id nbgrader grades this notebook under (the submission folder), else your login."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        return Path.cwd().parent.name  # nbgrader runs autograded/<student id>/<assignment>/<notebook>
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


STUDENT_ID = nbgrader_student_id()
SEED = int(hashlib.sha256(f"A3/{STUDENT_ID}".encode()).hexdigest()[:8], 16)  # your personal seed
MODEL = ("mlp", "vgg", "resnet")[SEED % 3]                            # your trained network (scikit-learn digits)
BITS = (2, 3)[(SEED // 3) % 2]                                        # your bit width for the layer (Parts 1-2)
NET_BITS = 2                                                          # the whole network (Part 3), for everyone
model = deepnets.load_pretrained(MODEL, "digits")
big = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear) and m.weight.numel() >= 2000]
LAYER = big[(SEED // 6) % len(big)]                                  # your layer
x_test, y_test = deepnets.get_dataset("digits", "test").tensors
acc_float = deepnets.evaluate(model, (x_test, y_test), progress=False)["top1"]
print(f"student {STUDENT_ID!r}: MODEL={MODEL!r}, LAYER={LAYER!r}, BITS={BITS}; float top-1 = {acc_float:.2f}%")

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
# $2^{\text{bits}}$ levels that has a clearly higher $\rho$ than min-max on your layer at your `BITS`: the test
# asks for $1 - \rho_{\text{mine}} \le 0.8\,(1 - \rho_{\text{base}})$. Do not call the library's quantizer
# fitting inside it (see Grading). Suggested: Lloyd's algorithm — start with
# levels at evenly spaced quantiles of `w`, then repeat (thresholds = midpoints of neighbouring levels;
# levels = mean of the weights in each cell) until the levels stop moving. Thresholds and levels must be
# strictly increasing (handle empty cells). Your function must work for any 1-D or N-D float array.
# Then plot the histogram of `w` with the baseline's and your levels.
#
# *Rubric for the figure (2 points, by hand):* 1 point for the histogram with both sets of levels drawn and
# told apart (legend naming each with its rho); 1 point for labelled axes with units and a title naming the
# layer and the bit width.

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

# %% solution:a3-design-apply
### BEGIN SOLUTION
q_mine = design_quantizer(w, BITS)
### END SOLUTION

# %% answer:a3-figure points=2
### BEGIN SOLUTION
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
import os as _os
import pathlib as _pl
import sys as _sys
_sid = _pl.Path.cwd().parent.name if _os.environ.get("NBGRADER_EXECUTION") == "autograde" else STUDENT_ID
_seed = int(hashlib.sha256(f"A3/{_sid}".encode()).hexdigest()[:8], 16)
_model = ("mlp", "vgg", "resnet")[_seed % 3]
_big = [n for n, m in deepnets.load_pretrained(_model, "digits").named_modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear) and m.weight.numel() >= 2000]
assert (MODEL, BITS, LAYER) == (_model, (2, 3)[(_seed // 3) % 2], _big[(_seed // 6) % len(_big)]), \
    "the per-student parameters were changed"


def _np_rho(x, q):
    """rho between x and q's values on x, with numpy only (the thresholds and levels of q, no library call)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    qx = np.asarray(q.levels, dtype=np.float64)[np.searchsorted(np.asarray(q.thresholds, dtype=np.float64), x, side="right")]
    return float(x @ qx / np.sqrt((x @ x) * (qx @ qx)))


# rho recomputed without theory.rho; the baseline's levels recomputed with numpy (min-max: round to nearest on
# K levels spanning [min, max] with an integer zero point, as PyTorch's MinMaxObserver)
_x = _w.ravel()
_lo, _hi = min(_x.min(), 0.0), max(_x.max(), 0.0)
_scale = (_hi - _lo) / (2**BITS - 1)
_lv = (np.arange(2**BITS) - np.clip(np.round(-_lo / _scale), 0, 2**BITS - 1)) * _scale
_base = theory.Quantizer(0.5 * (_lv[:-1] + _lv[1:]), _lv, "minmax")
_rho_base = _np_rho(_x, _base)
assert abs(_rho_base - rho_base) < 1e-6, f"rho_base = {rho_base:.6f}, but min-max gives {_rho_base:.6f}"
assert 1 - _np_rho(_x, _q) <= 0.8 * (1 - _rho_base), "design_quantizer does not beat min-max (rho recomputed with numpy)"
# design_quantizer with the library's quantizer fitting and k-means replaced by functions that raise
_FORBIDDEN = ("fit", "fit_rows", "fit_recipe", "lloyd_max", "lloyd_max_rows", "optimal", "make", "uniform",
              "exponential", "quantize", "kmeans", "kmeans2", "KMeans", "MiniBatchKMeans", "k_means")


def _raiser(name):
    def _forbidden(*args, **kwargs):
        raise RuntimeError(f"design_quantizer calls {name}, which this assignment does not allow")
    return _forbidden


_patched, _originals = [], {}
for _mn, _mod in list(_sys.modules.items()):
    if _mod is None or not _mn.split(".")[0] in ("theory", "deepnets", "sklearn", "scipy"):
        continue
    if _mn.split(".")[0] in ("sklearn", "scipy") and "cluster" not in _mn:
        continue
    for _an in _FORBIDDEN:
        _obj = getattr(_mod, _an, None)
        if callable(_obj) and not isinstance(_obj, type(_sys)):
            _originals[id(_obj)] = _an
            _patched.append((_mod, _an, _obj))
for _cls in (theory.Recipe,):
    for _an in ("fit", "optimal"):
        _obj = _cls.__dict__[_an]
        _originals[id(_obj)] = f"Recipe.{_an}"
        _patched.append((_cls, _an, _obj))
_globals = [(_gn, _gv) for _gn, _gv in list(globals().items()) if id(_gv) in _originals]
_hidden_refs = [c.cell_contents for c in (design_quantizer.__closure__ or ())] + list(design_quantizer.__defaults__ or ()) \
    + list((design_quantizer.__kwdefaults__ or {}).values())
try:
    for _tgt, _an, _obj in _patched:
        setattr(_tgt, _an, _raiser(_originals[id(_obj)]))
    for _gn, _gv in _globals:
        globals()[_gn] = _raiser(_originals[id(_gv)])
    assert not any(id(v) in _originals for v in _hidden_refs), "design_quantizer holds a library quantizer in a default or closure"
    _qz = design_quantizer(theory.get_density("laplace").sample(20_000, _seed), 2)
finally:
    for _tgt, _an, _obj in _patched:
        setattr(_tgt, _an, _obj)
    for _gn, _gv in _globals:
        globals()[_gn] = _gv
_z = theory.get_density("laplace").sample(20_000, _seed)
assert _qz.K <= 4 and _np_rho(_z, _qz) >= _np_rho(_z, theory.fit(_z, "uniform", bits=2)) - 0.002, \
    f"design_quantizer is far from rho-optimal on Laplace data (rho = {_np_rho(_z, _qz):.4f})"
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
# Quantize **every** `Conv2d` and `Linear` weight of `model` at `NET_BITS` = 2 bits (one quantizer per tensor,
# biases stay float) with your `design_quantizer(weight, NET_BITS)`, in a copy `qmodel_mine` (use
# `copy.deepcopy(model)`; do not change `model`), and store its test accuracy `acc_mine`
# (`deepnets.evaluate(qmodel_mine, (x_test, y_test), progress=False)["top1"]`). Store the baseline accuracy
# `acc_base` of `deepnets.quantize(model, deepnets.QuantConfig("minmax", NET_BITS, granularity="tensor"))`
# (the same min-max per tensor on every layer). The test asks you to beat the baseline by at least 2 points.

# %% solution:a3-network
### BEGIN SOLUTION
qmodel_mine = copy.deepcopy(model)
with torch.no_grad():
    for m in qmodel_mine.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            wl = m.weight.detach().double().numpy()
            m.weight.copy_(torch.from_numpy(design_quantizer(wl, NET_BITS)(wl)).to(m.weight.dtype))
acc_mine = deepnets.evaluate(qmodel_mine, (x_test, y_test), progress=False)["top1"]
qmodel_base, _ = deepnets.quantize(model, deepnets.QuantConfig("minmax", NET_BITS, granularity="tensor"))
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
import json as _json
import subprocess as _subprocess
import tempfile as _tempfile

_state = {}
for _n, _m in qmodel_mine.named_modules():
    if isinstance(_m, torch.nn.Conv2d | torch.nn.Linear):
        assert torch.unique(_m.weight).numel() <= 2**NET_BITS, f"layer {_n} has more than {2**NET_BITS} distinct weights"
        _state[_n] = _m.weight.detach().clone()
assert set(_state) == {n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)}
# The accuracies recomputed in a fresh Python process (the library as installed, whatever this kernel changed).
_CHECK = """
import copy, json, sys
import torch, deepnets
torch.set_num_threads(2)
model_name, bits, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = deepnets.load_pretrained(model_name, "digits")
data = deepnets.get_dataset("digits", "test").tensors
mine = copy.deepcopy(model)
state = torch.load(path)
with torch.no_grad():
    for name, m in mine.named_modules():
        if name in state:
            m.weight.copy_(state[name])
base, _ = deepnets.quantize(model, deepnets.QuantConfig("minmax", bits, granularity="tensor"))
print(json.dumps({"mine": deepnets.evaluate(mine, data, progress=False)["top1"],
                  "base": deepnets.evaluate(base, data, progress=False)["top1"]}))
"""
with _tempfile.TemporaryDirectory() as _tmp:
    torch.save(_state, _os.path.join(_tmp, "state.pt"))
    _proc = _subprocess.run([_sys.executable, "-c", _CHECK, MODEL, str(NET_BITS), _os.path.join(_tmp, "state.pt")],
                            capture_output=True, text=True, timeout=25)
assert _proc.returncode == 0, "the grader could not evaluate qmodel_mine in a fresh process"
_fresh = _json.loads(_proc.stdout.strip().splitlines()[-1])
assert abs(acc_mine - _fresh["mine"]) < 1e-6, f"acc_mine = {acc_mine:.2f}%, but qmodel_mine scores {_fresh['mine']:.2f}%"
assert abs(acc_base - _fresh["base"]) < 1e-6, f"acc_base = {acc_base:.2f}%, but min-max scores {_fresh['base']:.2f}%"
assert _fresh["mine"] >= _fresh["base"] + 2.0, "qmodel_mine does not beat min-max by 2 points (recomputed)"
### END HIDDEN TESTS

# %% [markdown] readonly:a3-part4
# ## Part 4 — interpretation (2 points, graded by hand)
#
# In three to five sentences: why does min-max lose so much $\rho$ at few bits on trained weights? Did the
# gain in $\rho$ translate into accuracy, layer by layer and for the whole network? Try also
# `theory.fit(w, "uniform", bits=BITS)` (equidistant levels with a $\rho$-optimal step): how close does
# it come to your design, and what does that say about where the loss of min-max comes from? When can a
# higher $\rho$ fail to give a higher accuracy?
#
# *Rubric (2 points):* 1 point for the mechanism of min-max's loss (the range set by a few outliers, most
# weights in few cells) supported by your layer's numbers; 1 point for whether rho translated into accuracy
# (layer versus network, with the numbers) and one valid reason a higher rho can fail to help. Half a point
# off for a claim the data contradict.

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
