"""Autograde a filled-in student notebook against its instructor version, without nbgrader.

What ``nbgrader autograde`` does for the autograded part, in small:

1. **OverwriteCells**: every locked or graded (non-solution) cell of the
   submission is replaced, by ``grade_id``, with the instructor's cell, so the
   hidden tests run and edited test cells do not count.
2. Run the notebook top to bottom (nbclient, the ``python3`` kernel of this
   interpreter), continuing after errors.
3. A test cell earns its points when it runs without an error.

Manually graded answers (markdown ``answer`` cells) are listed with their
points but not scored.

Usage::

    .venv/bin/python tools/autograde.py SUBMISSION.ipynb [--source INSTRUCTOR.ipynb]

(default source: ``notebooks/assignments/instructor/<same name>``).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = ROOT / "notebooks" / "assignments" / "instructor"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ms = _load("make_student")


def overwrite_cells(submission, source):
    """``submission`` (a copy) with its locked and test cells replaced by ``source``'s, matched by grade_id."""
    nb = copy.deepcopy(submission)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if ms.is_locked(c)}
    seen = set()
    for i, cell in enumerate(nb.cells):
        gid = ms._nbgrader(cell).get("grade_id")
        if gid in by_id:
            nb.cells[i] = copy.deepcopy(by_id[gid])
            seen.add(gid)
    missing = sorted(set(by_id) - seen)
    if missing:
        raise ValueError(f"submission lacks the locked/test cells {missing} (deleted?)")
    return nb


def autograde(submission, source, timeout: int = 600) -> dict:
    """Run ``submission`` with ``source``'s tests; returns ``{"tests": {grade_id: (earned, possible)},
    "manual": {grade_id: possible}, "score": earned, "autograded_points": possible}``."""
    from nbclient import NotebookClient

    nb = overwrite_cells(submission, source)
    with tempfile.TemporaryDirectory() as tmp:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": tmp}}).execute()
    tests, manual = {}, {}
    for c in nb.cells:
        nbg = ms._nbgrader(c)
        if not nbg.get("grade"):
            continue
        if nbg.get("solution"):
            manual[nbg["grade_id"]] = float(nbg["points"])
            continue
        failed = any(o.output_type == "error" for o in c.get("outputs", []))
        tests[nbg["grade_id"]] = (0.0 if failed else float(nbg["points"]), float(nbg["points"]))
    return {"tests": tests, "manual": manual, "score": sum(e for e, _ in tests.values()),
            "autograded_points": sum(p for _, p in tests.values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Autograde a student notebook with the instructor version's tests.")
    ap.add_argument("submission", type=Path)
    ap.add_argument("--source", type=Path, help="instructor notebook (default: instructor/<submission name>)")
    args = ap.parse_args(argv)
    source = args.source or INSTRUCTOR / args.submission.name
    res = autograde(nbformat.read(args.submission, as_version=4), nbformat.read(source, as_version=4))
    for gid, (earned, possible) in res["tests"].items():
        print(f"{gid:<32} {earned:4.1f} / {possible:4.1f}")
    for gid, possible in res["manual"].items():
        print(f"{gid:<32}    ? / {possible:4.1f}  (graded by hand)")
    print(f"{'autograded total':<32} {res['score']:4.1f} / {res['autograded_points']:4.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
