# %% [markdown]
# # 05 — The bridge: from the Hopfield result to a classifier, layer by layer
#
# Two facts about a quantized Hopfield matrix: a local field keeps its sign with
# probability $1 - \arccos(\rho)/\pi$ (Sheppard's formula for two jointly Gaussian fields with
# correlation $\rho$, W. F. Sheppard, Phil. Trans. R. Soc. A 192:101, 1899), and the quantization error acts as static noise of relative variance
# $1/\rho^2 - 1$ (H. Sompolinsky, PRA 34:2571, 1986). Here both are carried to a trained classifier:
#
# 1. **Layer by layer.** For a layer with inputs $x$ the fields are $z = w^\top x$ and $z' = q^\top x$.
#    Their correlation over the data is not $\rho$ but the *data-aware* correlation
#    $r = w^\top S q / \sqrt{w^\top S w \; q^\top S q}$ with $S = E[x x^\top]$, uncentred because the
#    event "sign changes" is unchanged by $x \to -x$ (so it is the same under the symmetrised,
#    zero-mean input distribution, whose covariance is exactly $S$). The bias is a constant input
#    that stays float. We count the sign changes of pre-activations when ONE layer is quantized.
# 2. **End to end.** Independent first-order noises add: $\varepsilon^2 = \sum_l (1/r_l^2 - 1)$; the
#    probability that the top-1 logit stays on top under Gaussian logit noise of that relative size
#    is a one-dimensional integral (`theory.layer_noise.predict_outputs`).
# 3. **Bit allocation.** Minimizing the summed predicted noise under a byte budget is a
#    multiple-choice knapsack, solved exactly (`theory.allocation.allocate`).

# %% parameters
# Small defaults (the test suite runs this notebook in well under a minute). For the full picture
# run the report's bridge stage: python -m report --stages bridge (every model, about 3 minutes on 2 CPU cores).
MODEL = "mlp"               # a model with committed weights in deepnets/weights
DATASET = "digits"
N_CAL, N_TEST = 256, 360    # calibration images (for S) and test images (the first N_TEST)
SIGN_CONFIGS = [("sign", 1), ("ternary", 2), ("uniform", 2), ("exponential", 3), ("lloyd_max", 4)]
E2E_CONFIGS = [(m, b) for m in ("uniform", "lloyd_max", "minmax") for b in (1, 2, 3, 4)]
AVG_BITS = (2.0, 2.5, 3.0)
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from deepnets import bridge, data, models

torch.set_num_threads(1)
x_cal = data.calibration_subset(DATASET, N_CAL, SEED)
x_test, y_test = data.test_subset(DATASET, N_TEST)
model = bridge.prepare(models.load_pretrained(MODEL, DATASET))
stats = bridge.layer_stats(model, x_cal, seed=SEED)
cache = bridge.WeightCache(model)
[(s.name, s.kind, s.params) for s in stats]

# %% [markdown]
# ## 1. Sign changes of one quantized layer: data-aware $r$ against plain $\rho$

# %%
sc = bridge.sign_changes(model, stats, x_test, SIGN_CONFIGS, cache, MODEL)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
for ax, predictor in zip(axes, ("pred_data", "pred_plain"), strict=True):
    bridge.plot_sign_changes(sc, ax, predictor)
plt.show()
for row in bridge.sign_change_summary(sc):
    print(row)

# %% [markdown]
# Trained weights point where the inputs vary most, while the quantization error is spread over
# all directions; through $S$ the error is seen much less than the signal, so the plain $\rho$
# overpredicts sign changes and the data-aware $r$ is close to the measurement.
#
# ## 2. End to end: predicted against measured output agreement

# %%
zc = bridge.logits_of(model, x_cal)
ee = bridge.end_to_end(model, stats, x_test, y_test, np.mean(zc * zc, 0), E2E_CONFIGS, cache, MODEL)
fig, ax = plt.subplots(figsize=(5, 4))
for kind, mk in (("calibrated", "o"), ("data_free", "s")):
    ax.scatter([getattr(r, f"pred_agreement_{kind}") for r in ee], [r.measured_agreement for r in ee], marker=mk, label=kind)
ax.plot([0, 100], [0, 100], "k--", lw=1)
ax.set_xlabel("predicted output agreement (%)")
ax.set_ylabel("measured output agreement (%)")
ax.legend()
plt.show()
bridge.end_to_end_summary(ee)

# %% [markdown]
# ## 3. Bit allocation at equal packed size
#
# The exact knapsack on the predicted noise (data-free: weight $\rho$; calibrated: from $S$), on the
# measured one-layer sensitivities (the expensive upper baseline), and the uniform width; sizes are
# those of the packed file written by `deepnets.storage.save`.

# %%
al = bridge.allocation_experiment(model, stats, x_cal, x_test, y_test, "lloyd_max", AVG_BITS, cache, MODEL)
fig, ax = plt.subplots(figsize=(5, 4))
bridge.plot_allocation(al, ax)
plt.show()
for r in al:
    print(f"{r.avg_bits:>4} {r.strategy:<11} bits {list(r.bits)}  top-1 {r.top1:.2f}%  file {r.file_bytes} B")
