"""Runs the report's stages in order, times them, and writes the document."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import document

STAGES = ("theory", "hopfield", "deepnets", "bridge", "anchors")
#: The largest seed (every stage's generators take 0 .. 2^32 - 1).
SEED_MAX = 2**32 - 1


def check_seed(seed: Any) -> int:
    """``seed`` as an int in 0 .. :data:`SEED_MAX`, else a ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    return int(seed)


def check_out_dir(out_dir: Any) -> Path:
    """The output folder, created if missing and probed with a temporary file, before any stage runs.

    A ValueError starting with ``out:`` when it is a file, cannot be created (a parent is a file,
    no permission) or cannot be written."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {str(out)!r} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent that is a file, no permission, a read-only file system
        raise ValueError(f"out: cannot create the directory {str(out)!r} ({e.strerror or e})") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ValueError(f"out: cannot write into the directory {str(out)!r} ({e.strerror or e})") from None
    return out


def _stage_modules() -> dict[str, Any]:
    from . import anchors_stage, bridge_stage, deepnets_stage, hopfield_stage, theory_stage

    return {"theory": theory_stage, "hopfield": hopfield_stage, "deepnets": deepnets_stage,
            "bridge": bridge_stage, "anchors": anchors_stage}


def environment(seed: int, quick: bool) -> dict[str, Any]:
    import jax
    import scipy
    import sympy
    import torch

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": f"{os.cpu_count()}-core {platform.machine()} CPU",
        "numpy": np.__version__, "scipy": scipy.__version__, "sympy": sympy.__version__,
        "jax": jax.__version__, "jax devices": ", ".join(str(d) for d in jax.devices()),
        "torch": torch.__version__, "torch threads": torch.get_num_threads(),
        "seed": seed, "mode": "quick" if quick else "full",
    }


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float | int | str | bool) or x is None:
        return x
    return repr(x)


def run_report(out_dir: Path, quick: bool, seed: int, stages: list[str] | None = None,
               progress: Callable[[str], None] = print) -> tuple[Path, Path]:
    stages = list(STAGES if stages is None else stages)
    bad = [s for s in stages if s not in STAGES]
    if not stages or bad:
        raise ValueError(f"stages: expected a non-empty subset of {STAGES}, got {stages!r}")
    seed = check_seed(seed)
    out_dir = check_out_dir(out_dir)  # writable before the first stage runs
    mods = _stage_modules()
    results: dict[str, Any] = {}
    timing: dict[str, float] = {}
    blocks: list = [("p", "Every number and figure below was produced by this run of `python -m report` "
                          f"({'--quick, small sizes' if quick else 'default sizes'}, seed {seed}); nothing is copied from stored text.")]
    t_all = time.perf_counter()
    for name in STAGES:
        if name not in stages:
            continue
        progress(f"[report] stage {name} ...")
        t0 = time.perf_counter()
        results[name] = mods[name].run(out_dir, quick=quick, seed=seed, results=results)
        timing[name] = time.perf_counter() - t0
        progress(f"[report] stage {name} done in {timing[name]:.1f} s")
        blocks += mods[name].blocks(results[name])
    timing["total"] = time.perf_counter() - t_all
    env = environment(seed, quick)
    blocks += [("h", 2, "Environment and timing"),
               ("table", ["item", "value"], [[k, str(v)] for k, v in env.items()]),
               ("table", ["stage", "wall time (s)"], [[k, round(v, 1)] for k, v in timing.items()])]
    (out_dir / "results.json").write_text(json.dumps(_jsonable({"results": results, "timing": timing, "environment": env}), indent=1))
    return document.write(blocks, out_dir, "corrquant study report")
