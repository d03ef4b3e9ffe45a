"""The README's examples run as written and print what the README says they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```python\n(.*?)```\s*```text\n(.*?)```", re.S)
EXAMPLES = {m.group(1): (m.group(2), m.group(3)) for m in EXAMPLE.finditer(README)}
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def same_output(got: str, want: str) -> bool:
    """Same words; numbers equal to the printed precision, give or take 0.5% (other BLAS, other CPU)."""
    g, w = got.strip().splitlines(), want.strip().splitlines()
    if len(g) != len(w):
        return False
    for gl, wl in zip(g, w):
        if NUMBER.sub("#", gl).split() != NUMBER.sub("#", wl).split():
            return False
        for a, b in zip(NUMBER.findall(gl), NUMBER.findall(wl)):
            digits = len(b.split(".")[1]) if "." in b else 0
            if abs(float(a) - float(b)) > max(10.0**-digits, 0.005 * abs(float(b))):
                return False
    return True


def test_readme_has_the_three_examples_and_the_two_commands():
    assert set(EXAMPLES) == {"theory", "hopfield", "deepnets"}
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README  # .ci/run calls exactly the README's test command
    assert "bash run.sh report" in README


@pytest.mark.parametrize("name", ["theory", "hopfield", "deepnets"])
def test_readme_example_output(name, tmp_path):
    if name == "deepnets":
        from deepnets import data

        if not Path(data.DEFAULT_FASHION_MNIST_ROOT).is_dir():
            pytest.skip("the deepnets example uses Fashion-MNIST (Debian package dataset-fashion-mnist)")
    code, want = EXAMPLES[name]
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert same_output(out.stdout, want), f"README says:\n{want}\nthe code prints:\n{out.stdout}"


def test_same_output_is_not_vacuous():
    assert same_output("rho 0.9826 ok", "rho 0.9826 ok")
    assert not same_output("rho 0.9726 ok", "rho 0.9826 ok")
    assert not same_output("rho 0.9826 bad", "rho 0.9826 ok")
    assert not same_output("a\nb", "a")
