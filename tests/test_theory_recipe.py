"""The recipe (which quantizer), granularity values and the grouped Quantizer."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import theory
from theory.granularity import as_granularity


def test_recipe_level_counts_and_bits():
    assert theory.Recipe("sign").K == 2 and theory.Recipe("sign").bits == 1
    assert theory.Recipe("ternary").K == 3 and theory.Recipe("ternary").bits == 2
    assert theory.Recipe("uniform", bits=3).K == 8
    assert theory.Recipe("lloyd_max", K=5).bits == 3
    assert theory.Recipe("sign", bits=1) == theory.Recipe("sign", K=2) == theory.Recipe("sign")
    assert theory.Recipe("lloyd_max", bits=2).shared_shape is True
    assert theory.Recipe("uniform", bits=2).shared_shape is False


@pytest.mark.parametrize("kw, match", [
    (dict(method="nope", bits=2), "^method"),
    (dict(method="uniform"), "bits or K"),
    (dict(method="uniform", bits=2, K=4), "bits or K"),
    (dict(method="uniform", bits=0), "^bits"),
    (dict(method="uniform", bits=2.5), "^bits"),
    (dict(method="uniform", K=1), "^K"),
    (dict(method="sign", K=3), "^K"),
    (dict(method="ternary", bits=1), "^bits"),
    (dict(method="uniform", bits=2, gain="max"), "^gain"),
    (dict(method="uniform", bits=2, shared_shape="yes"), "^shared_shape"),
])
def test_recipe_rejects_bad_settings(kw, match):
    method = kw.pop("method")
    bits = kw.pop("bits", None)
    with pytest.raises(ValueError, match=match):
        theory.Recipe(method, bits, **kw)


def test_recipe_round_trips_through_json():
    for r in (theory.Recipe("exponential", bits=3, gain="unbiased"), theory.Recipe("sign"),
              theory.Recipe("lloyd_max", K=5, shared_shape=False)):
        assert theory.Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_as_recipe_parses_each_form_once():
    r = theory.Recipe("uniform", K=8)
    assert theory.as_recipe(r) is r
    assert theory.as_recipe(("uniform", 8)) == r
    assert theory.as_recipe("uniform", bits=3) == r
    assert theory.as_recipe("sign") == theory.Recipe("sign")
    with pytest.raises(ValueError, match="not both"):
        theory.as_recipe(r, bits=3)
    with pytest.raises(ValueError, match="K in the spec"):
        theory.as_recipe(("uniform", 2.7))
    with pytest.raises(ValueError, match="Recipe, a method name"):
        theory.as_recipe(3)
    with pytest.raises(ValueError, match="not both"):
        theory.fit(np.ones(4), r, bits=3)


def test_optimal_is_the_family_member_and_minmax_has_none():
    assert theory.Recipe("uniform", bits=3).optimal("laplace") == theory.make("uniform", 8, "laplace")
    assert theory.Recipe("ternary").optimal() == theory.make("ternary", 3, "gaussian")
    with pytest.raises(ValueError, match="minmax"):
        theory.Recipe("minmax", bits=3).optimal()


def test_sign_is_symmetric_also_with_an_atom_at_zero():
    q = theory.make("sign", 2, ("hebbian", 40))  # even p: P(w = 0) > 0
    assert q.is_symmetric
    d = theory.get_density(("hebbian", 40))
    assert q.levels[1] == pytest.approx(float(np.sum(d.probs * np.abs(d.atoms))), rel=1e-12)  # E|w|


def test_unbiased_recipe_optimal_has_unit_regression():
    for method, K in (("uniform", 8), ("lloyd_max", 4), ("ternary", 3), ("sign", 2)):
        m = theory.moments(theory.Recipe(method, K=K, gain="unbiased").optimal("gaussian"))
        assert m["E_wq"] == pytest.approx(m["E_w2"], rel=1e-10), method


@pytest.mark.parametrize("g, G", [(theory.PerTensor(), 1), (theory.PerChannel(0), 4), (theory.PerChannel(2), 5),
                                  (theory.PerGroup(4), 16), (theory.PerGroup(15), 4), (theory.PerGroup(7, axis=1), 3 * 3)])
def test_granularity_rows_round_trip(g, G):
    x = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    assert g.n_groups(x.shape) == G
    rows = g.rows(x)
    assert rows.shape[0] == G
    np.testing.assert_array_equal(g.unrows(rows, x.shape), x)
    assert as_granularity(g.to_dict()) == g


def test_granularity_errors_name_the_argument():
    for bad, match in ((lambda: theory.PerGroup(0), "^size"), (lambda: theory.PerChannel(1.5), "^axis"),
                       (lambda: as_granularity("rows"), "^granularity"), (lambda: theory.PerChannel(3).n_groups((2, 2)), "^axis")):
        with pytest.raises(ValueError, match=match):
            bad()


def _weights(seed=0, shape=(6, 3, 7)):
    rng = np.random.default_rng(seed)
    return (rng.standard_t(4, size=shape) * rng.uniform(0.2, 2.0, size=(shape[0],) + (1,) * (len(shape) - 1))).astype(np.float32)


@pytest.mark.parametrize("method", theory.METHODS)
@pytest.mark.parametrize("g", [theory.PerChannel(0), theory.PerGroup(8), theory.PerGroup(21)])
def test_grouped_fit_equals_fitting_each_group(method, g):
    """Each group's codes are its own quantizer's, and its rho is at least that of fitting the group alone.

    (With own shapes the pooled shape, and for Lloyd-Max a second start, are also candidates,
    so a group can do better than its lone fit, never worse beyond the search tolerance.)
    """
    x = _weights()
    r = theory.Recipe(method, K=2 if method == "sign" else 3 if method == "ternary" else 4, shared_shape=False)
    q = r.fit(x, g)
    assert q.G == g.n_groups(x.shape) and q.granularity == g
    rows = g.rows(x.astype(np.float64))
    lengths = g.group_lengths(x.shape) if isinstance(g, theory.PerGroup) else [rows.shape[1]] * q.G
    codes = g.rows(q.encode(x))
    for i in range(q.G):
        own = r.fit(rows[i, : lengths[i]])
        np.testing.assert_array_equal(codes[i, : lengths[i]], q.group(i).encode(rows[i, : lengths[i]]))
        if method in ("sign", "ternary"):  # always one shared shape: compare rho instead
            continue
        w = rows[i, : lengths[i]]
        assert theory.rho(w, q.group(i)) >= theory.rho(w, own) - 2e-3


@pytest.mark.parametrize("g", [theory.PerChannel(0), theory.PerChannel(1), theory.PerGroup(5), theory.PerGroup(8, axis=1)])
def test_grouped_quantizer_bitwise_equal_across_backends(g):
    x = _weights(1)
    q = theory.Recipe("exponential", bits=3).fit(x, g)
    ref_q, ref_c = q(x), q.encode(x)
    assert ref_q.dtype == np.float32 and ref_q.shape == x.shape
    np.testing.assert_array_equal(q.decode(ref_c), ref_q)
    xt, xj = torch.from_numpy(x), jnp.asarray(x)
    for got_q, got_c in ((q(xt).numpy(), q.encode(xt).numpy()), (np.asarray(q(xj)), np.asarray(q.encode(xj))),
                         (np.asarray(jax.jit(q)(xj)), np.asarray(jax.jit(q.encode)(xj)))):
        np.testing.assert_array_equal(got_q, ref_q)
        np.testing.assert_array_equal(got_c, ref_c)
    np.testing.assert_array_equal(q.decode(torch.from_numpy(ref_c.astype(np.int64))).numpy(), ref_q)
    np.testing.assert_array_equal(np.asarray(q.decode(jnp.asarray(ref_c.astype(np.int32)))), ref_q)
    # vmap over a batch of such tensors
    batch = jnp.stack([xj, -xj])
    np.testing.assert_array_equal(np.asarray(jax.vmap(q)(batch))[1], q(-x))


def test_grouped_quantizer_value_semantics():
    x = _weights(2)
    q = theory.fit(x, "uniform", bits=2, granularity=theory.PerChannel(0))
    assert theory.Quantizer.from_dict(json.loads(json.dumps(q.to_dict()))) == q
    assert q != theory.Quantizer(q.thresholds, q.levels, granularity=theory.PerChannel(1))
    T = np.array(q.thresholds)
    q2 = theory.Quantizer(T, q.levels, granularity=theory.PerChannel(0))
    assert T.flags.writeable  # the caller's array is copied, not frozen
    np.testing.assert_array_equal(q2.scaled(np.arange(1.0, 7.0)).levels, q.levels * np.arange(1.0, 7.0)[:, None])
    with pytest.raises(ValueError, match="^thresholds must be a 2-D"):
        theory.Quantizer(q.thresholds[0], q.levels, granularity=theory.PerChannel(0))
    with pytest.raises(ValueError, match="^gain"):
        q.with_gain(np.ones(5))
