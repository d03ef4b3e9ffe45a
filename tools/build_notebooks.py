"""Build corrquant's notebooks from their plain-text sources.

Sources live in ``notebooks/src/`` as "percent" scripts (the format of jupytext
and VS Code): a line ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell whose lines carry a leading ``# ``.  After the marker a cell may
carry one role, which becomes its metadata:

==============================  ==============================================
``# %% parameters``             code cell tagged ``parameters`` (papermill)
``# %% [markdown] readonly:ID`` nbgrader read-only cell (locked instructions)
``# %% readonly:ID``            locked code cell (set-up the student must run)
``# %% solution:ID``            nbgrader autograded-answer cell
``# %% test:ID points=N``       nbgrader autograder test cell, N points
``# %% [markdown] answer:ID points=N``  manually graded written answer
``# %% answer:ID points=N``     manually graded code answer (e.g. a figure)
==============================  ==============================================

``notebooks/src/NN_name.py`` becomes ``notebooks/NN_name.ipynb``;
``notebooks/src/assignments/NAME.py`` becomes the instructor version
``course/source/NAME/NAME.ipynb`` (the nbgrader course's source folder, see
``course/README.md``) and, through :mod:`tools.make_student` (what ``nbgrader
generate_assignment`` writes, byte for byte; the course tests check that), the
student version in ``notebooks/assignments/student/``.  Built notebooks have no outputs and
deterministic cell ids, so rebuilding an unchanged source is a no-op.

Usage::

    .venv/bin/python tools/build_notebooks.py          # rebuild everything
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 if anything is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
NB_DIR = ROOT / "notebooks"
COURSE = ROOT / "course"
SOURCE = COURSE / "source"  # nbgrader's source folder: SOURCE/<assignment>/<assignment>.ipynb
STUDENT = NB_DIR / "assignments" / "student"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")
_ROLE = re.compile(r"^(?P<role>readonly|solution|test|answer):(?P<id>[A-Za-z0-9_-]+)(?: points=(?P<points>\d+))?$")


def _nbgrader(role: str, grade_id: str, points: int | None) -> dict:
    """nbgrader cell metadata (schema version 3) for a cell role."""
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": False, "task": False}
    if role == "readonly":
        meta["locked"] = True
    elif role == "solution":
        meta["solution"] = True
    elif role == "test":
        meta.update(grade=True, locked=True, points=points)
    elif role == "answer":
        meta.update(grade=True, solution=True, points=points)
    return meta


def _cell(kind: str, header: str, lines: list[str], index: int, stem: str) -> nbformat.NotebookNode:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
    source = "\n".join(lines)
    meta: dict = {}
    cell_id = f"{stem[:40]}-{index:02d}"
    header = header.strip()
    if header == "parameters":
        meta["tags"] = ["parameters"]
    elif header:
        m = _ROLE.match(header)
        if not m:
            raise ValueError(f"{stem}: cell {index}: cannot read cell header {header!r}")
        role, gid = m["role"], m["id"]
        points = int(m["points"]) if m["points"] else None
        if (role in ("test", "answer")) != (points is not None):
            raise ValueError(f"{stem}: cell {index}: points= is required exactly for test and answer cells")
        meta["nbgrader"] = _nbgrader(role, gid, points)
        cell_id = gid
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(source, metadata=meta, id=cell_id)
    return nbformat.v4.new_code_cell(source, metadata=meta, id=cell_id)


def parse(text: str, stem: str) -> nbformat.NotebookNode:
    """A notebook (no outputs) from percent-format ``text``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    cells, kind, header, lines = [], None, "", []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            if kind is not None:
                cells.append(_cell(kind, header, lines, len(cells), stem))
            kind, header, lines = ("markdown" if m["md"] else "code"), m["rest"], []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append(_cell(kind, header, lines, len(cells), stem))
    ids = [c.id for c in cells]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"{stem}: duplicate cell ids {sorted(dupes)}")
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def _make_student():
    spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def targets() -> list[tuple[Path, Path]]:
    """(source, built notebook) pairs: study notebooks and instructor versions."""
    pairs = [(p, NB_DIR / f"{p.stem}.ipynb") for p in sorted(SRC.glob("*.py"))]
    pairs += [(p, SOURCE / p.stem / f"{p.stem}.ipynb") for p in sorted((SRC / "assignments").glob("*.py"))]
    return pairs


def build() -> dict[Path, str]:
    """Every built file's path and its text (study notebooks, instructor and student versions)."""
    ms = _make_student()
    out: dict[Path, str] = {}
    for src, dst in targets():
        nb = parse(src.read_text(), src.stem)
        out[dst] = nbformat.writes(nb) + "\n"
        if dst.parent.parent == SOURCE:
            out[STUDENT / dst.name] = nbformat.writes(ms.student_version(nb)) + "\n"
    return out


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 300, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run ``nb`` (a copy) top to bottom in the ``python3`` kernel of this interpreter, in folder ``cwd``.

    Raises ``nbclient.exceptions.CellExecutionError`` at the first failing cell
    unless ``allow_errors``; then each failing cell carries an ``error`` output.
    """
    import copy

    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report notebooks that differ from their sources")
    args = ap.parse_args(argv)
    stale = []
    for path, text in build().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for p in stale:
        print(("stale: " if args.check else "wrote: ") + str(p.relative_to(ROOT)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
