"""Classroom assignments: the student generator, the structure of the sources, the unfilled student version.

- tools/make_student.py rewrites solution and hidden-test regions in the format
  of nbgrader's ``generate_assignment`` (small constructed cells).
- Every assignment takes its student id from nbgrader (no editable id cell), has
  a rubric for every manually graded cell, and its student version fails every
  autograded cell until filled in.
- The committed student versions are exactly what the generator makes now.
- Grading itself (correct, empty and cheating submissions) runs through the real
  nbgrader commands in tests/test_course.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "source"
STUDENT = ROOT / "notebooks" / "assignments" / "student"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ms = _load("make_student")
bn = _load("build_notebooks")

ASSIGNMENTS = sorted(SOURCE.glob("*/*.ipynb"))


def _nbg(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


# -- the generator, on constructed cells ------------------------------------------------------
def _code(source: str, **nbgrader):
    if nbgrader:
        nbgrader.setdefault("grade_id", "c1")
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})


def test_solution_region_becomes_indented_nbgrader_stub():
    cell = _code("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\nprint(f)", solution=True, grade=False)
    assert ms.student_cell(cell).source == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(f)"


def test_solution_cell_without_region_is_replaced_whole():
    assert ms.student_cell(_code("x = 1", solution=True)).source == "# YOUR CODE HERE\nraise NotImplementedError()"
    md = nbformat.v4.new_markdown_cell("The answer is 42.", metadata={"nbgrader": {"solution": True, "grade": True, "points": 1, "grade_id": "a1"}})
    assert ms.student_cell(md).source == "YOUR ANSWER HERE"


def test_markdown_region_becomes_text_stub():
    md = nbformat.v4.new_markdown_cell("Q?\n### BEGIN SOLUTION\nA.\n### END SOLUTION", metadata={"nbgrader": {"solution": True, "grade_id": "m1"}})
    assert ms.student_cell(md).source == "Q?\nYOUR ANSWER HERE"


def test_hidden_tests_removed_with_delimiters_and_outputs_cleared():
    cell = _code("assert a\n### BEGIN HIDDEN TESTS\nassert b\n### END HIDDEN TESTS\nassert c", grade=True, points=1, solution=False, locked=True)
    cell.outputs = [nbformat.v4.new_output("stream", text="x")]
    cell.execution_count = 3
    out = ms.student_cell(cell)
    assert out.source == "assert a\nassert c"
    assert out.outputs == [] and out.execution_count is None
    assert out.metadata["editable"] is False and out.metadata["deletable"] is False
    assert cell.source.startswith("assert a\n### BEGIN"), "the instructor cell must not be changed"


def test_locking_and_checksums_follow_nbgrader():
    grade = _code("assert x == 1", grade=True, solution=False, locked=False, points=2, grade_id="t1")
    sol = _code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", grade=False, solution=True, locked=True, grade_id="s1")
    ro = nbformat.v4.new_markdown_cell("Read me.", metadata={"nbgrader": {"locked": True, "grade_id": "r1"}})
    g, s, r = (ms.student_cell(c) for c in (grade, sol, ro))
    assert (g.metadata["editable"], g.metadata["deletable"]) == (False, False)  # graded cells are always locked
    assert s.metadata["deletable"] is False and "editable" not in s.metadata  # solution cells never are
    assert (r.metadata["editable"], r.metadata["deletable"]) == (False, False)
    # nbgrader's compute_checksum: md5 over source, type, grade/solution/locked flags, grade_id, float(points)
    want = hashlib.md5(("assert x == 1" + "code" + "True" + "False" + "True" + "t1" + "2.0").encode()).hexdigest()
    assert g.metadata["nbgrader"]["checksum"] == want and g.metadata["nbgrader"]["cell_type"] == "code"
    want = hashlib.md5(("# YOUR CODE HERE\nraise NotImplementedError()" + "code" + "False" + "True" + "False" + "s1").encode()).hexdigest()
    assert s.metadata["nbgrader"]["checksum"] == want


@pytest.mark.parametrize(
    "source, meta, message",
    [
        ("### BEGIN SOLUTION\nx = 1", {"solution": True}, "no end solution"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", {"solution": True}, "nested"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", {}, "non-solution cell"),
        ("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS", {"solution": True}, "non-grade cell"),
        ("assert 1", {"grade": True, "grade_id": ""}, "grade_id"),
        ("assert 1", {"grade": True}, "points"),
    ],
)
def test_malformed_regions_raise(source, meta, message):
    with pytest.raises(RuntimeError, match=message):
        ms.student_cell(_code(source, **meta))


# -- the shipped assignments -------------------------------------------------------------------
def test_at_least_three_assignments():
    assert len(ASSIGNMENTS) >= 3, f"expected at least 3 instructor notebooks, found {[p.name for p in ASSIGNMENTS]}"


def test_student_versions_are_generated_and_in_sync():
    built = bn.build()
    for path in ASSIGNMENTS:
        student = STUDENT / path.name
        assert student.exists(), f"missing {student}: run tools/build_notebooks.py"
        assert student.read_text() == built[student], f"{student.name} is stale: run tools/build_notebooks.py"
        assert path.read_text() == built[path], f"{path.name} is stale: run tools/build_notebooks.py"


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_assignment_structure(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and _nbg(first).get("locked"), "first cell: locked instructions"
    for heading in ("Learning goals", "Prerequisites", "Expected time"):
        assert heading in first.source, f"first cell must state the {heading}"
    ids = [_nbg(c)["grade_id"] for c in nb.cells if _nbg(c)]
    assert len(ids) == len(set(ids)), "grade_id values must be unique"
    tests = [c for c in nb.cells if _nbg(c).get("grade") and not _nbg(c).get("solution")]
    assert tests, "no autograded test cells"
    for c in tests:
        assert c.cell_type == "code" and _nbg(c)["locked"] and _nbg(c)["points"] > 0
    for c in nb.cells:
        if _nbg(c).get("solution") and c.cell_type == "code":
            assert "### BEGIN SOLUTION" in c.source, f"solution cell {c.id} has no solution region"
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"cell {c.id} has stored outputs"
    # the student id comes from nbgrader (the submission folder while grading), set in a locked cell only
    setup = [c for c in nb.cells if c.cell_type == "code" and re.search(r"^STUDENT_ID = nbgrader_student_id\(\)$", c.source, re.M)]
    assert len(setup) == 1 and _nbg(setup[0]).get("locked"), "one locked set-up cell sets STUDENT_ID from nbgrader"
    assert 'os.environ.get("NBGRADER_EXECUTION") == "autograde"' in setup[0].source and "Path.cwd().parent.name" in setup[0].source
    for c in nb.cells:
        if c.cell_type == "code" and not _nbg(c).get("locked") and not _nbg(c).get("grade"):
            assert not re.search(r"^\s*(STUDENT_ID|SEED)\s*=", ms.replace_solution_regions(c.source, "")[0], re.M), \
                f"cell {c.id}: the student may not set the id"


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_every_manually_graded_cell_has_a_rubric(path):
    """A rubric with the cell's points precedes every manually graded cell (a figure or a written answer),
    and the points in the first cell's grading line add up."""
    nb = nbformat.read(path, as_version=4)
    manual = [i for i, c in enumerate(nb.cells) if _nbg(c).get("grade") and _nbg(c).get("solution")]
    assert len(manual) >= 2, "a figure and a written answer, graded by hand"
    for i in manual:
        before = "\n".join(c.source for c in nb.cells[max(0, i - 4):i] if c.cell_type == "markdown")
        pts = int(_nbg(nb.cells[i])["points"])
        m = re.findall(r"\*Rubric[^*]*\((\d+) points?[^)]*\)", before)
        assert m and int(m[-1]) == pts, f"cell {nb.cells[i].id}: no rubric for {pts} points before it"
    total = sum(int(_nbg(c)["points"]) for c in nb.cells if _nbg(c).get("grade"))
    assert re.search(rf"\*\*Grading\.\*\* {total} points", nb.cells[0].source), f"the first cell should say {total} points"


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_student_version_fails_every_autograded_cell(path, tmp_path):
    nb = nbformat.read(STUDENT / path.name, as_version=4)
    for c in nb.cells:
        assert "BEGIN SOLUTION" not in c.source and "HIDDEN TESTS" not in c.source, f"cell {c.id} leaks a solution"
    out = bn.execute(nb, tmp_path, timeout=240, allow_errors=True)
    for c in out.cells:
        if c.cell_type != "code":
            continue
        nbg = _nbg(c)
        if nbg.get("grade"):
            assert _errors(c), f"graded cell {c.id} passes in the unfilled student version"
        elif nbg.get("solution"):
            # the stub either raises at once or sits in the body of a function the tests call
            assert "raise NotImplementedError()" in c.source, f"solution cell {c.id} has no stub"
            assert all(e.ename in ("NotImplementedError", "NameError") for e in _errors(c)), f"cell {c.id}: {_errors(c)}"
        else:
            assert not _errors(c), f"set-up cell {c.id} fails for students: {_errors(c)}"
