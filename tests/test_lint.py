"""The whole repository is clean under ruff's pyflakes (F) and bugbear (B) rules (pyproject.toml's [tool.ruff]).

Control characters in notebook text (a non-raw ``"\\alpha"``) are tests/test_notebook_text.py's job."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _ruff(repo_root, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *args],
                         cwd=repo_root, input=stdin, capture_output=True, text=True, timeout=300)
    assert "No module named ruff" not in out.stderr, "ruff is in the dev extra: pip install -e '.[dev]'"
    return out


def test_ruff_is_clean(repo_root):
    # the rules and exclusions are pyproject.toml's [tool.ruff]: the same command a developer runs
    out = _ruff(repo_root, ".")
    assert out.returncode == 0, f"ruff check found problems:\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize("code,rule", [("import os\n", "F401"),
                                       ("def f(x=[]):\n    return x\n", "B006"),
                                       ("print(undefined_name)\n", "F821")])
def test_ruff_config_catches_pyflakes_and_bugbear(repo_root, code, rule):
    # the clean result above means something: the project's configuration reports both rule families
    out = _ruff(repo_root, "--stdin-filename", "theory/_lint_probe.py", "-", stdin=code)
    assert out.returncode == 1 and rule in out.stdout, out.stdout + out.stderr

