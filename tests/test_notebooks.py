"""Every study notebook runs top to bottom, is stored clean, and draws readable figures.

Each notebook in notebooks/ is executed with nbclient in the ``python3`` kernel
of this interpreter (the venv's ipykernel) with its small default parameters.
A cell injected before the notebook's first cell records every figure that is
drawn, and one injected after the last cell fails if any axes with data (pictures
exempt) lacks an x or y label, or a plot with several labelled lines lacks a legend.
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

FIGURE_CHECK = r'''
import matplotlib.backend_bases as _mbb
_FIGURE_PROBLEMS, _FIGURES_DRAWN = [], [0]
_print_figure = _mbb.FigureCanvasBase.print_figure

def _check_figure(fig):
    def same(a, b, attr):
        sa, sb = a.get_subplotspec(), b.get_subplotspec()
        return a is b or (sa is not None and sb is not None and getattr(sa, attr) == getattr(sb, attr))

    axes = fig.get_axes()
    for ax in axes:
        if not ax.axison or not (ax.lines or ax.collections or ax.patches or ax.containers):
            continue  # empty, or a picture (images only, e.g. hopfield.show_patterns)
        name = ax.get_title() or (fig._suptitle.get_text() if fig._suptitle else "untitled")
        if not any(a.get_xlabel() for a in axes if same(a, ax, "colspan")):
            _FIGURE_PROBLEMS.append(f"axes {name!r}: no x label")
        if not any(a.get_ylabel() for a in axes if same(a, ax, "rowspan")):
            _FIGURE_PROBLEMS.append(f"axes {name!r}: no y label")
        labelled = [l for l in ax.lines if not l.get_label().startswith("_")]
        if len(labelled) > 1 and not fig.legends and not any(a.get_legend() for a in axes):
            _FIGURE_PROBLEMS.append(f"axes {name!r}: {len(labelled)} labelled lines, no legend")

def _checked_print_figure(self, *args, **kwargs):
    _FIGURES_DRAWN[0] += 1
    _check_figure(self.figure)
    return _print_figure(self, *args, **kwargs)

_mbb.FigureCanvasBase.print_figure = _checked_print_figure
'''

FIGURE_ASSERT = r'''
assert not _FIGURE_PROBLEMS, "figures without labels or legend: " + "; ".join(sorted(set(_FIGURE_PROBLEMS)))
print(f"{_FIGURES_DRAWN[0]} figures checked")
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
