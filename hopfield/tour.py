"""``getting_started()``: a tiny printed tour of hopfield/ (the teaching device of neurodynex3's demo.py)."""

from __future__ import annotations

import numpy as np


def getting_started(seed: int = 0) -> dict:
    """Store a few letters, recall one from a noisy copy with float and sign-quantized weights, print it.

    **Arguments:** `seed`: key for the noise and update order (vary it per student).

    **Returns:** dict with the overlaps after recall, ``{"float": m, "sign": m}``, and ``rho`` of the sign weights.
    """
    import jax

    import theory

    from .dynamics import run
    from .hebbian import hebbian, quantize
    from .patterns import flip_bits, glyph_patterns

    def show(s, shape):
        return "\n".join("".join("#" if v > 0 else "." for v in row) for row in np.asarray(s).reshape(shape))

    xi, shape = glyph_patterns("HTZ", scale=2)
    W = hebbian(xi)
    qW = quantize(W, "sign")  # the Gaussian-optimal clipped synapse, scaled to the RMS of W
    k1, k2 = jax.random.split(jax.random.key(seed))
    s0 = flip_bits(xi[0], 0.2, key=k1)
    print("hopfield tour: 3 letters (14 x 10 pixels) stored with the Hebb rule W = xi^T xi / N (Hopfield 1982).")
    print("Start: letter H with 20% of its pixels flipped\n" + show(s0, shape))
    out = {}
    for name, w in (("float", W), ("sign", qW)):
        r = run(w, s0, key=k2, mode="async")
        m = float(np.mean(np.asarray(r.states) * xi[0]))
        out[name] = m
        print(f"\nAfter asynchronous recall with {name} weights ({int(r.sweeps)} sweeps), overlap m = {m:.3f}\n" + show(r.states, shape))
    rho = theory.rho(np.asarray(W), np.asarray(qW))
    out["rho"] = rho
    print(f"\nSign weights keep rho = {rho:.3f} of the Hebbian matrix; theory predicts capacity "
          f"{theory.predicted_capacity(rho):.3f} vs {theory.predicted_capacity(1.0):.3f} (Sompolinsky 1986; AGS 1985).")
    print("Next: hopfield.retrieval(N, alphas, quantizer, key=key), hopfield.measure_capacity(N, quantizer, key=key), "
          "and `python -m report --quick --stages hopfield`.")
    return out
