"""Habits the whole repository keeps: ruff's pyflakes (F) and bugbear (B) rules report nothing, and no
notebook source holds a control character (``"\\alpha"`` in a non-raw string is a BEL byte and "lpha")."""

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


def test_notebook_sources_hold_no_control_characters(repo_root):
    bad = []
    for src in sorted((repo_root / "notebooks" / "src").rglob("*.py")):
        for i, line in enumerate(src.read_text(encoding="utf-8").split("\n"), start=1):
            found = sorted({hex(ord(c)) for c in line if ord(c) < 32 and c != "\t"})
            if found:
                bad.append(f"{src.relative_to(repo_root)}:{i}: {found} {line.strip()[:60]!r}")
    assert not bad, "control characters (a non-raw string's \\a, \\b, \\f, \\r ...; write LaTeX in r'...'):\n" + "\n".join(bad)
