"""theory/ imports no JAX, torch or sympy at import time (STYLE.md: dependencies point one way)."""

import json
import subprocess
import sys


def test_import_theory_loads_no_jax_torch_sympy():
    code = (
        "import sys, json, theory; import theory.families, theory.fitting, theory.predictions; "
        "print(json.dumps(sorted(m for m in ('jax', 'jaxlib', 'torch', 'sympy') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import theory loaded {loaded}"


def test_derivation_is_not_imported_by_theory():
    code = "import sys, theory; print('theory.derivation' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
