"""Dependencies point one way: theory <- hopfield (JAX), theory <- deepnets (PyTorch), never between them.

Each check runs in a fresh interpreter, imports the package and then every one of its modules in turn,
and names the first module whose import brought in a forbidden one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import importlib, json, pkgutil, sys
pkg, banned, walk, skip = sys.argv[1], sys.argv[2].split(","), sys.argv[3] == "1", sys.argv[4].split(",")
loaded = lambda: sorted(b for b in banned if b in sys.modules)
mod = importlib.import_module(pkg)
steps = [[pkg, loaded()]]
if walk:
    for m in pkgutil.iter_modules(mod.__path__):
        if m.name not in skip:
            importlib.import_module(f"{pkg}.{m.name}")
            steps.append([f"{pkg}.{m.name}", loaded()])
print(json.dumps(steps))
"""


def _imports(pkg: str, banned: tuple[str, ...], walk: bool, skip: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    out = subprocess.run([sys.executable, "-c", PROBE, pkg, ",".join(banned), "1" if walk else "0", ",".join(("__main__", *skip))],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return [tuple(s) for s in json.loads(out.stdout.strip().splitlines()[-1])]


@pytest.mark.parametrize("pkg,banned", [("hopfield", ("torch", "deepnets")),
                                        ("deepnets", ("jax", "jaxlib", "hopfield")),
                                        ("theory", ("jax", "jaxlib", "torch", "hopfield", "deepnets"))])
def test_package_and_every_module_load_no_forbidden_dependency(pkg, banned):
    steps = _imports(pkg, banned, walk=True)
    assert len(steps) > 3  # the walk did visit the modules
    first = next(((name, got) for name, got in steps if got), None)
    assert first is None, f"importing {first[0]} loaded {first[1]} (the package must not depend on them)"


def test_theory_loads_sympy_only_for_the_derivation():
    # sympy is for theory.derivation, which a user imports explicitly; the numeric closed forms need none of it
    steps = _imports("theory", ("sympy", "theory.derivation"), walk=True, skip=("derivation",))
    assert len(steps) > 3
    first = next(((name, got) for name, got in steps if got), None)
    assert first is None, f"importing {first[0]} loaded {first[1]}"


def test_the_probe_detects_a_forbidden_import():
    # the checks above can fail: json imports json.decoder, so banning it must be reported
    assert _imports("json", ("json.decoder",), walk=False) == [("json", ["json.decoder"])]
