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
#    is a one-dimensional integral (`theory.layer_noise.predict_outputs`); each layer's noise can be
#    scaled by its measured gain to the logits (`theory.layer_noise.propagated_noise`). Every
#    prediction is scored beside the trivial predictors (the bit width alone, the weight $\rho$).
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
N_BOOT = 200                # bootstrap resamples of the test images
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
# ## 2. End to end: predicted against measured accuracy drop, beside the trivial predictors
#
# Every layer quantized at one width. Three predictions of the drop: the data-free sum of
# $1/\rho^2 - 1$, the calibrated sum of $1/r^2 - 1$ (data-aware $r$), and the calibrated noise of
# each layer times its measured *propagation gain* to the logits (a known random perturbation of
# one layer at a time on the float network; the gain depends on the network and the data, never on
# the quantizer). Each is scored beside baselines that need no noise model (the bit width alone,
# the mean and the parameter-weighted weight $\rho$) and the measured one-layer noise (the expensive
# upper baseline), with 95% bootstrap intervals over the test images, for the decision each metric
# serves: which quantizer at a given width (Kendall $\tau$ within a (model, bits) cell, where the bit
# width alone scores 0), ranking every point (Spearman), the drop in points (MAE).

# %%
gains = bridge.propagation_gains(model, stats, x_cal, seed=SEED)
print("propagation gain per layer:", dict(zip((s.name for s in stats), np.round(gains, 3).tolist(), strict=True)))
ee = bridge.end_to_end(model, stats, x_cal, x_test, y_test, E2E_CONFIGS, cache, MODEL, gains=gains)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
for ax, kind in zip(axes, ("calibrated", "propagated"), strict=True):
    bridge.plot_end_to_end(ee, ax, kind)
fig.suptitle(f"{MODEL} on {DATASET}: predicted vs measured top-1 drop, every layer at one width")
plt.show()
scores = bridge.end_to_end_scores(ee, n_boot=N_BOOT, seed=SEED)
print(f"{'predictor':<14}" + "".join(f"{m:>24}" for m in ("cell_tau", "spearman", "mae")))
for r in scores["rows"]:
    print(f"{r['predictor']:<14}" + "".join(f"{r[m]:>8.2f} [{r[m + '_lo']:5.2f}, {r[m + '_hi']:5.2f}]"
                                            for m in ("cell_tau", "spearman", "mae")))
for v in scores["versus"]:
    if v["best"] and v["prediction"] != "measured":
        print(f"{v['prediction']:<11} vs best baseline {v['baseline']:<13} {v['metric']:<15} "
              f"{v['diff']:+.2f} [{v['lo']:+.2f}, {v['hi']:+.2f}]  {v['verdict']}")

# %% [markdown]
# A prediction is said to beat a baseline only when the interval of the difference lies above 0
# (a positive difference is better: a higher $\tau$ or Spearman, a smaller MAE). On this small
# model with the default parameters the calibrated predictions get the drop in points much closer
# than any baseline (MAE), while at one width the weight $\rho$ alone already ranks the quantizers
# and the noise models do not rank them better (read the `vs best baseline` lines: an interval
# that contains 0 is no skill). The report's bridge section shows the same table for every model.
#
# ## 3. Bit allocation at equal packed size
#
# The exact knapsack on each strategy's per-layer loss, against the baselines at the same packed
# size (one width for all layers; parameter counts alone; the mean and the parameter-weighted $\rho$)
# and the measured one-layer sensitivities (the upper baseline); sizes are those of the packed file
# written by `deepnets.storage.save`, intervals from the bootstrap over test images.

# %%
al = bridge.allocation_experiment(model, stats, x_cal, x_test, y_test, "lloyd_max", AVG_BITS, cache, MODEL)
fig, ax = plt.subplots(figsize=(5.5, 4.2))
bridge.plot_allocation(al, ax)
ax.set_title(f"{MODEL} on {DATASET}: top-1 against packed size per allocation strategy", fontsize=10)
plt.show()
for row in bridge.allocation_scores(al, n_boot=N_BOOT, seed=SEED):
    for v in row["versus"]:
        print(f"{row['avg_bits']:>4} bits  {v['strategy']:<11} minus best baseline ({v['baseline']}): "
              f"{v['diff']:+.2f} [{v['lo']:+.2f}, {v['hi']:+.2f}] points  {v['verdict']}")
