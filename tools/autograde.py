"""Grade submissions of the corrquant course with nbgrader itself (a thin wrapper, no second grader).

Everything here calls the real ``nbgrader`` commands (``python -m nbgrader``,
nbgrader 0.9.6, the ``classroom`` extra) in a copy of ``course/``:

1. copy ``course/nbgrader_config.py`` and ``course/source/`` into a fresh course folder;
2. ``nbgrader generate_assignment`` (the release, and the gradebook's record of the cells);
3. copy each submission to ``submitted/<student id>/<assignment>/<assignment>.ipynb``;
4. ``nbgrader autograde``, then ``nbgrader generate_feedback`` (HTML feedback per student);
5. read the scores from nbgrader's gradebook (``gradebook.db``).

The scores are nbgrader's: a test cell earns its points when it runs without an
error and without output on stderr, within the cell timeout of
``course/nbgrader_config.py``; locked and test cells are restored from the
source version by ``grade_id``; manually graded cells have no score until a
grader gives one (``nbgrader formgrader``). For a real course run the commands
yourself in your copy of the course (``course/README.md``); this tool is for
grading a few notebooks, for example to check a submission by hand.

Usage::

    .venv/bin/python tools/autograde.py A1_ternary_optimum SUB.ipynb [--student ID] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"


def nbgrader(course: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader ARGS`` in the course folder ``course``; returns the finished process."""
    env = dict(os.environ)  # nbgrader calls `alembic` and starts `python3` kernels: this interpreter's, first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def new_course(where: Path) -> Path:
    """A fresh copy of the shipped course (config and source folder) in ``where/course``."""
    dst = Path(where) / "course"
    dst.mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", dst / "nbgrader_config.py")
    shutil.copytree(COURSE / "source", dst / "source")
    return dst


def scores(course: Path, assignment: str) -> dict[str, dict]:
    """``{student: {"score", "max_score", "cells": {grade_id: (score or None, max_score)}}}`` from the gradebook.

    A cell's score is its manual score where a grader gave one, else its autograded score; None for a
    manually graded cell nobody has graded yet (nbgrader's ``Grade.score`` counts those as 0)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    given = g.manual_score if g.manual_score is not None else g.auto_score
                    cells[g.name] = (given, g.max_score)
            out[sub.student_id] = {"score": sub.score, "max_score": sub.max_score, "cells": cells}
    return out


def grade(course: Path, assignment: str, submissions: dict[str, Path], feedback: bool = True) -> dict[str, dict]:
    """Autograde ``submissions`` (student id -> notebook) of ``assignment`` in ``course`` with nbgrader."""
    if not (course / "gradebook.db").exists() or not (course / "release" / assignment).exists():
        nbgrader(course, "generate_assignment", assignment, "--force")
    for student, path in submissions.items():
        dst = course / "submitted" / student / assignment
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst / f"{assignment}.ipynb")
    nbgrader(course, "autograde", assignment, "--force")
    if feedback:
        nbgrader(course, "generate_feedback", assignment, "--force")
    return scores(course, assignment)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Autograde one notebook with nbgrader in a copy of course/.")
    ap.add_argument("assignment", help="assignment name, e.g. A1_ternary_optimum")
    ap.add_argument("submission", type=Path)
    ap.add_argument("--student", default="student", help="student id to grade under (sets the per-student parameters)")
    ap.add_argument("--keep", type=Path, help="keep the course folder (feedback, autograded notebook) here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        course = new_course(where)
        res = grade(course, args.assignment, {args.student: args.submission.resolve()})[args.student]
    for gid, (given, possible) in res["cells"].items():
        shown = "   ?" if given is None else f"{given:4.1f}"
        print(f"{gid:<32} {shown} / {possible:4.1f}" + ("  (graded by hand)" if given is None else ""))
    print(f"{'total (nbgrader)':<32} {res['score']:4.1f} / {res['max_score']:4.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
