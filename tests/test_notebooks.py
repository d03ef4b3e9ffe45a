"""Every study notebook runs top to bottom, is stored clean, and draws readable figures.

Each notebook in notebooks/ is executed with nbclient in the ``python3`` kernel
of this interpreter (the venv's ipykernel) with its small default parameters.
A cell injected before the notebook's first cell checks every figure that is
drawn with tests/_figures.py (labels, titles, legends of at least 8 pt, labelled
reference lines, no overlapping texts), and one injected after the last cell fails
on any problem found.
(The assignments are graded with nbgrader in tests/test_course.py.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
STUDY = sorted(NB_DIR.glob("*.ipynb"))
COURSE_SOURCE = ROOT / "course" / "source"  # the assignments' instructor versions (nbgrader's source folder)
ALL = STUDY + sorted((NB_DIR / "assignments").glob("*/*.ipynb")) + sorted(COURSE_SOURCE.glob("*/*.ipynb"))

spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
bn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bn)

# The kernel imports the one figure checker of the test suite (tests/_figures.py), shared with tests/test_report.py.
FIGURE_CHECK = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import _figures
_FIGURE_LOG = _figures.install()
"""

FIGURE_ASSERT = r'''
assert not _FIGURE_LOG.problems, "figures hard to read: " + "; ".join(sorted(set(_FIGURE_LOG.problems)))
print(f"{_FIGURE_LOG.count} figures checked")
'''


def _nb_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", STUDY, ids=_nb_id)
def test_study_notebook_runs_with_labelled_figures(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_CHECK))
    nb.cells.append(nbformat.v4.new_code_cell(FIGURE_ASSERT))
    out = bn.execute(nb, tmp_path, timeout=300)  # in a scratch folder; raises CellExecutionError at a failing cell
    last = "".join(o.get("text", "") for o in out.cells[-1].outputs)
    assert int(last.split()[0]) >= 1, f"{path.name} draws no figure"


@pytest.mark.parametrize("path", ALL, ids=_nb_id)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [c.get("id") for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells with stored outputs {dirty}; clear outputs before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", STUDY, ids=_nb_id)
def test_study_notebook_has_a_parameters_cell_and_prose(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code", f"{path.name}: needs one code cell tagged 'parameters'"
    assert nb.cells[0].cell_type == "markdown", f"{path.name}: the first cell should say what the notebook shows"


def test_built_notebooks_match_their_sources():
    stale = [str(p.relative_to(ROOT)) for p, text in bn.build().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"notebooks differ from notebooks/src: {stale}; run .venv/bin/python tools/build_notebooks.py"


def test_readme_lists_every_notebook_and_assignment():
    readme = (NB_DIR / "README.md").read_text()
    missing = [p.name for p in STUDY + sorted(COURSE_SOURCE.glob("*/*.ipynb")) if p.name not in readme]
    assert not missing, f"notebooks/README.md does not mention {missing}"


def test_figure_checker_finds_each_problem_and_passes_a_readable_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from _figures import figure_problems

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [0, 1], label="one")
    a.plot([0, 1], [1, 0], label="two")
    a.legend(fontsize=5)
    a.axhline(0.5)                       # an unlabelled reference line
    a.text(0.2, 0.2, "first note", fontsize=9)
    a.text(0.2, 0.2, "second note", fontsize=9)  # on top of the first
    b.plot([0, 2], [0, 2], "k:")         # an unlabelled diagonal y = x
    b.set_title("titled")
    problems = " | ".join(figure_problems(fig))
    plt.close(fig)
    for want in ("font 5 pt", "reference line '_child2'", "no x label", "no y label", "no title", "overlap",
                 "reference line '_child0'"):
        assert want in problems, (want, problems)

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="data")
    ax.plot([0, 1], [0, 1], "k:", label="y = x")
    ax.axhline(0.5, label="half")
    ax.set(xlabel="x (units)", ylabel="y (units)", title="a readable figure")
    ax.legend(fontsize=8)
    assert figure_problems(fig) == []
    plt.close(fig)
