"""Notebook text is clean: no control characters in the sources or the generated notebooks.

A Python string without the r prefix once turned ``\\alpha`` into a BEL byte and ``\\rho`` into a
carriage return (a line break in Jupyter) inside notebook 02's markdown; this test fails on any such byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks" / "src").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # everything below space except tab and newline, and DEL


def _where(text: str) -> list[str]:
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()!r} in {text[max(0, m.start() - 20):m.end() + 20]!r}"
            for m in CONTROL.finditer(text)]


def test_there_is_something_to_check():
    assert len(SOURCES) >= 8 and len(NOTEBOOKS) >= len(SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_notebook_source_has_no_control_characters(path):
    bad = _where(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)}: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_generated_notebook_has_no_control_characters(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    bad = []
    for i, cell in enumerate(nb["cells"]):
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        bad += [f"cell {i} ({cell['cell_type']}) {w}" for w in _where(src)]
    assert not bad, f"{path.relative_to(ROOT)}: {bad}"


def test_the_check_catches_the_old_corruption():
    assert _where("drops to zero at $\x07lpha_c(\rho)$") and not _where("drops to zero at $\\alpha_c(\\rho)$\n\t")
