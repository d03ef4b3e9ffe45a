"""Patterns: random, biased, correlated, noisy copies, and letters/digits drawn in code.

In the spirit of neurodynex3's ``pattern_tools`` (EPFL-LCN neuronaldynamics
exercises, book chapter 17 "Memory and attractor dynamics"), but with explicit
PRNG keys and no hidden state.  All patterns are float32 in {-1, +1}.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_fraction, check_int, check_key, check_patterns_size, check_states


def random_patterns(p: int, N: int, *, key: Any, bias: float = 0.0, correlation: float = 0.0) -> jax.Array:
    """``p`` random patterns of ``N`` neurons.

    **Arguments:**

    - `p`, `N`: number of patterns (>= 1) and neurons (>= 2).
    - `key`: a JAX PRNG key (keyword-only).
    - `bias`: mean activity ``a`` in (-1, 1): ``P(xi_i = +1) = (1 + a)/2`` (default 0: unbiased).
    - `correlation`: ``c`` in [0, 1): every pattern copies a common random
      ancestor bit with probability ``c`` and is otherwise fresh, so two patterns
      overlap by about ``c^2`` (a simple model of correlated memories).

    **Returns:** (p, N) float32 in {-1, +1}.
    """
    key = check_key(key)
    p = check_int("p", p, 1)
    N = check_int("N", N, 2)
    b = float(bias)
    if not -1.0 < b < 1.0:
        raise ValueError(f"bias must lie in (-1, 1), got {bias!r}")
    c = float(correlation)
    if not 0.0 <= c < 1.0:
        raise ValueError(f"correlation must lie in [0, 1), got {correlation!r}")
    check_patterns_size(p, N, c != 0.0)  # before anything is allocated
    return _random_patterns(key, p, N, b, c)


def _random_patterns(key, p: int, N: int, bias: float = 0.0, correlation: float = 0.0) -> jax.Array:
    k1, k2, k3 = jax.random.split(key, 3)
    prob = (1.0 + bias) / 2.0
    fresh = jnp.where(jax.random.bernoulli(k1, prob, (p, N)), 1.0, -1.0).astype(jnp.float32)
    if correlation == 0.0:
        return fresh
    ancestor = jnp.where(jax.random.bernoulli(k2, prob, (1, N)), 1.0, -1.0).astype(jnp.float32)
    copy = jax.random.bernoulli(k3, correlation, (p, N))
    return jnp.where(copy, ancestor, fresh)


def flip_exact(key: jax.Array, s: jax.Array, n_flip: int) -> jax.Array:
    """Jit-able kernel (key positional for ``jax.vmap``): ``s: (N,)`` with exactly ``n_flip`` distinct entries flipped (positions uniform)."""
    N = s.shape[-1]
    u = jax.random.uniform(key, (N,))
    rank = jnp.argsort(jnp.argsort(u))
    return jnp.where(rank < n_flip, -s, s)


def flip_bits(s: Any, noise: float, *, key: Any) -> jax.Array:
    """Noisy copies: exactly ``round(noise * N)`` distinct bits of each state flipped.

    **Arguments:** `s`: (N,) or (B, N) in {-1, +1}; `noise`: fraction of flipped bits
    in [0, 1]; `key`: PRNG key (keyword-only; state b uses ``split(key, B)[b]``).

    **Returns:** same shape as `s`, float32.  The initial overlap with `s` is ``1 - 2 n_flip / N``.
    """
    key = check_key(key)
    noise = check_fraction("noise", noise)
    arr = np.asarray(s)
    x, single = check_states(arr, arr.shape[-1] if arr.ndim else 0, name="s")
    N = x.shape[1]
    n_flip = int(round(noise * N))
    keys = jax.random.split(key, x.shape[0])
    out = jax.vmap(flip_exact, in_axes=(0, 0, None))(keys, jnp.asarray(x), n_flip)
    return out[0] if single else out


# -- letters and digits drawn in code (5 x 7 bitmaps, '#' = +1) -------------
_GLYPHS = {
    "A": [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
    "B": ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."],
    "C": [".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."],
    "D": ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
    "E": ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
    "F": ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
    "H": ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
    "L": ["#....", "#....", "#....", "#....", "#....", "#....", "#####"],
    "O": [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
    "P": ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
    "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
    "X": ["#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"],
    "Z": ["#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"],
    "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
    "3": ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
    "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
    "6": ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
    "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
    "9": [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
}

#: Characters :func:`glyph` can draw.
GLYPHS = "".join(sorted(_GLYPHS))


def glyph(char: str, scale: int = 1) -> np.ndarray:
    """A letter or digit as a ±1 image of shape ``(7 * scale, 5 * scale)`` (float32; +1 = ink).

    **Arguments:** `char`: one of :data:`GLYPHS`; `scale`: integer magnification >= 1.
    """
    if not isinstance(char, str) or char.upper() not in _GLYPHS:
        raise ValueError(f"char must be one of {GLYPHS!r}, got {char!r}")
    scale = check_int("scale", scale, 1)
    img = np.array([[1.0 if ch == "#" else -1.0 for ch in row] for row in _GLYPHS[char.upper()]], dtype=np.float32)
    return np.kron(img, np.ones((scale, scale), dtype=np.float32))


def glyph_patterns(chars: str, scale: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """Letters/digits as network patterns.

    **Returns:** ``(patterns, shape)``: patterns (len(chars), 35 * scale^2) in
    {-1, +1} (row-major flattened images) and the image shape for reshaping.
    """
    if not chars:
        raise ValueError("chars must name at least one character")
    imgs = [glyph(ch, scale) for ch in chars]
    return np.stack([im.ravel() for im in imgs]), imgs[0].shape
