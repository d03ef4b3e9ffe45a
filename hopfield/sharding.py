"""The trial (batch) axis of the dynamics over several devices with ``jax.sharding``.

The weights are replicated and the states and keys split along the batch axis
over a 1-D mesh; each device runs the same :func:`run_batch` on its share
(``shard_map``), so a sharded run returns the same bits as a single-device run
(each trial owns its key and the probes do not interact).  On CPU, test with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
set before JAX is imported; on GPU/TPU nothing changes.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .dynamics import RunResult, check_run_args, run_batch


def batch_sharding(devices: Sequence[jax.Device] | None = None) -> tuple[NamedSharding, NamedSharding]:
    """``(batch, replicated)`` shardings over a 1-D mesh named ``"trials"`` of ``devices`` (default: all)."""
    devs = np.asarray(list(devices) if devices is not None else jax.devices())
    mesh = Mesh(devs, ("trials",))
    return NamedSharding(mesh, P("trials")), NamedSharding(mesh, P())


def run_sharded(W: Any, s0: Any, *, key: Any = None, mode: str = "async", max_sweeps: int = 100,
                devices: Sequence[jax.Device] | None = None) -> RunResult:
    """:func:`hopfield.run` with the batch axis split over ``devices``.

    **Arguments:** as :func:`hopfield.run`, with `s0`: (B, N) and B a multiple
    of the number of devices; `devices`: default ``jax.devices()``.

    **Returns:** :class:`RunResult` whose arrays stay sharded along the batch axis.
    """
    w, s, keys, single, max_sweeps = check_run_args(W, s0, key, mode, max_sweeps)
    batch, replicated = batch_sharding(devices)
    n_dev = batch.mesh.devices.size
    if single or s.shape[0] % n_dev:
        raise ValueError(f"s0 must be (B, N) with B a multiple of the {n_dev} devices, got shape {tuple(s.shape)}")
    w = jax.device_put(w, replicated)
    s = jax.device_put(s, batch)
    keys = jax.device_put(keys, batch)
    return _sharded(batch.mesh, mode, max_sweeps)(w, s, keys)


def _sharded(mesh: Mesh, mode: str, max_sweeps: int):
    """``run_batch`` with the batch axis split over ``mesh`` (each device its own share, no communication)."""
    return jax.jit(jax.shard_map(lambda w, s, k: run_batch(w, s, k, mode=mode, max_sweeps=max_sweeps), mesh=mesh,
                             in_specs=(P(), P("trials"), P("trials")), out_specs=P("trials"), check_vma=False))
