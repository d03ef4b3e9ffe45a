"""Make the student version of an nbgrader-style instructor notebook, without nbgrader.

Does what ``nbgrader generate_assignment`` (nbgrader 0.9) does to a source
notebook, in the same output format, so the result can be handed out as is or
graded later with nbgrader's ``autograde``:

- **ClearSolutions**: in every cell, each region from a ``### BEGIN SOLUTION``
  line to its ``### END SOLUTION`` line becomes, at the indentation of the
  BEGIN line, ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (code) or
  ``YOUR ANSWER HERE`` (markdown).  A solution cell without a region is
  replaced whole by that stub.  A region outside a solution cell is an error.
- **ClearHiddenTests**: ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
  regions are deleted, delimiters included (only allowed in graded cells).
- **ClearOutput**: outputs and execution counts are removed.
- **LockCells**: locked and graded cells get ``editable: false`` and
  ``deletable: false``; solution cells ``deletable: false``.
- **ComputeChecksums**: graded, solution and locked cells get nbgrader's
  ``checksum`` (md5 of source, cell type, grade/solution/locked flags, grade_id
  and points) and ``cell_type`` in their ``nbgrader`` metadata, computed on the
  student source as the last step, as nbgrader does.

Not done: nbgrader's database (``SaveCells``), header/footer and mark schemes.
This tool only writes the student versions committed in
``notebooks/assignments/student/`` (so that building the notebooks needs no
nbgrader); the course itself is released and graded with nbgrader
(``course/README.md``), and ``tests/test_course.py`` checks that nbgrader's
release is byte-identical to what this tool writes.

Usage::

    .venv/bin/python tools/make_student.py                     # all of course/source/*/*.ipynb
    .venv/bin/python tools/make_student.py IN.ipynb [-o DIR]   # one or more notebooks
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "source"
STUDENT = ROOT / "notebooks" / "assignments" / "student"

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(_nbgrader(cell).get("solution", False))


def is_grade(cell) -> bool:
    return bool(_nbgrader(cell).get("grade", False))


def is_locked(cell) -> bool:
    """nbgrader's rule: solution cells never, other graded cells always, else the ``locked`` flag."""
    if is_solution(cell):
        return False
    return is_grade(cell) or bool(_nbgrader(cell).get("locked", False))


def checksum(cell) -> str:
    """nbgrader's ``utils.compute_checksum`` of a cell."""
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(is_grade(cell)), str(is_solution(cell)), str(is_locked(cell)),
                 _nbgrader(cell)["grade_id"]):
        m.update(part.encode("utf-8"))
    if is_grade(cell):
        m.update(str(float(_nbgrader(cell)["points"])).encode("utf-8"))
    return m.hexdigest()


def replace_solution_regions(source: str, stub: str) -> tuple[str, bool]:
    """``source`` with each BEGIN/END SOLUTION region replaced by ``stub`` (indented); and whether any was."""
    out, inside, replaced = [], False, False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            if inside:
                raise RuntimeError("encountered nested begin solution statements")
            inside = replaced = True
            indent = re.match(r"\s*", line).group(0)
            out.extend(indent + s for s in stub.split("\n"))
        elif END_SOLUTION in line:
            if not inside:
                raise RuntimeError("END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise RuntimeError("no end solution statement found")
    return "\n".join(out), replaced


def remove_hidden_tests(source: str) -> tuple[str, bool]:
    """``source`` without BEGIN/END HIDDEN TESTS regions (delimiters included); and whether any was."""
    out, inside, removed = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            if inside:
                raise RuntimeError("encountered nested begin hidden tests statements")
            inside = removed = True
        elif END_HIDDEN in line:
            if not inside:
                raise RuntimeError("END HIDDEN TESTS without BEGIN HIDDEN TESTS")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise RuntimeError("no end hidden tests statement found")
    return "\n".join(out), removed


def student_cell(cell):
    """The student version of one cell (a new cell; ``cell`` is not changed)."""
    cell = copy.deepcopy(cell)
    where = f"cell {cell.get('id', '?')!r}"
    stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
    try:
        source, replaced = replace_solution_regions(cell.source, stub)
        source, hidden = remove_hidden_tests(source)
    except RuntimeError as e:
        raise RuntimeError(f"{where}: {e}") from None
    if replaced and not is_solution(cell):
        raise RuntimeError(f"{where}: solution region detected in a non-solution cell")
    if hidden and not is_grade(cell):
        raise RuntimeError(f"{where}: hidden tests detected in a non-grade cell")
    if is_solution(cell) and not replaced:
        source = stub
    cell.source = source
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    if is_solution(cell):
        cell.metadata["deletable"] = False
    elif is_locked(cell):
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
    if is_grade(cell) or is_solution(cell) or is_locked(cell):
        if not _nbgrader(cell).get("grade_id"):
            raise RuntimeError(f"{where}: graded, solution and locked cells need an nbgrader grade_id")
        if is_grade(cell) and "points" not in _nbgrader(cell):
            raise RuntimeError(f"{where}: graded cells need nbgrader points")
        cell.metadata["nbgrader"]["checksum"] = checksum(cell)
        cell.metadata["nbgrader"]["cell_type"] = cell.cell_type
    return cell


def student_version(nb):
    """The student version of an instructor notebook (a new notebook)."""
    nb = copy.deepcopy(nb)
    nb.cells = [student_cell(c) for c in nb.cells]
    nb.metadata.pop("celltoolbar", None)
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write student versions of nbgrader-style instructor notebooks.")
    ap.add_argument("notebooks", nargs="*", type=Path, help=f"instructor notebooks (default: {SOURCE.relative_to(ROOT)}/*/*.ipynb)")
    ap.add_argument("-o", "--out", type=Path, default=STUDENT, help=f"output folder (default: {STUDENT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted(SOURCE.glob("*/*.ipynb"))
    if not paths:
        print("no instructor notebooks found", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        dst = args.out / p.name
        nbformat.write(student_version(nb), dst)
        print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
