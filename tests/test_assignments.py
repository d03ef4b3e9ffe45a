"""Classroom assignments: the student generator and both grading directions.

- tools/make_student.py rewrites solution and hidden-test regions in the format
  of nbgrader's ``generate_assignment`` (small constructed cells).
- The instructor version of every assignment passes all its autograded cells
  (executed with nbclient, for several students' parameters where they change
  the task), and its student version fails every autograded cell until filled in.
- The committed student versions are exactly what the generator makes now.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = ROOT / "notebooks" / "assignments" / "instructor"
STUDENT = ROOT / "notebooks" / "assignments" / "student"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ms = _load("make_student")
bn = _load("build_notebooks")

ASSIGNMENTS = sorted(INSTRUCTOR.glob("*.ipynb"))
# Student ids that draw different variants of the per-student parameters:
# A1 gaussian/laplace/uniform density; A2 sign/uniform(K=4) weights; A3 resnet/mlp (vgg: see notebook 03).
STUDENT_IDS = {
    "A1_ternary_optimum": ["student-3", "student-2", "student-0"],
    "A2_hopfield_dynamics": ["student-1", "student-0"],
    "A3_layer_quantizer": ["student-0", "student-3"],
}


def _nbg(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _with_student_id(nb, student_id: str):
    nb = nbformat.from_dict(nb)
    cells = [c for c in nb.cells if c.cell_type == "code" and re.match(r"\s*STUDENT_ID\s*=", c.source)]
    assert len(cells) == 1, "an assignment needs exactly one cell that sets STUDENT_ID"
    cells[0].source = f"STUDENT_ID = {student_id!r}"
    return nb


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
    assert any("STUDENT_ID" in c.source and "SEED" in c.source for c in nb.cells), "per-student seed cell missing"


def _cases():
    for p in ASSIGNMENTS:
        for sid in STUDENT_IDS.get(p.stem, ["student-0"]):
            yield pytest.param(p, sid, id=f"{p.stem}-{sid}")


@pytest.mark.parametrize("path, student_id", list(_cases()))
def test_instructor_version_passes_all_autograded_cells(path, student_id, tmp_path):
    nb = _with_student_id(nbformat.read(path, as_version=4), student_id)
    out = bn.execute(nb, tmp_path, timeout=240, allow_errors=True)
    failed = {c.id: f"{e.ename}: {e.evalue}" for c in out.cells for e in _errors(c)}
    assert not failed, f"instructor version of {path.stem} ({student_id}) fails: {failed}"
    graded = [c for c in out.cells if c.cell_type == "code" and _nbg(c).get("grade")]
    assert all(c.execution_count for c in graded), "some graded cells did not run"


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


ag = _load("autograde")


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_filled_in_student_version_earns_full_autograded_score(path):
    """A student notebook whose solution cells are filled in (here: with the instructor's answers) scores full
    marks under tools/autograde.py, which restores the hidden tests from the instructor version."""
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(STUDENT / path.name, as_version=4)
    answers = {_nbg(c)["grade_id"]: c.source for c in source.cells if _nbg(c).get("solution")}
    for c in student.cells:
        if _nbg(c).get("solution"):
            c.source = answers[_nbg(c)["grade_id"]]
    res = ag.autograde(student, source, timeout=240)
    assert res["score"] == res["autograded_points"] > 0, f"{path.stem}: {res['tests']}"
    assert res["manual"], "each assignment has a written answer graded by hand"
