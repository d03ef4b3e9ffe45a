"""The nbgrader course in course/, run with the real nbgrader commands (nbgrader 0.9.6, the classroom extra).

For each assignment a fresh copy of the course goes through ``nbgrader
generate_assignment``, ``autograde``, ``generate_feedback`` and ``export``
(``validate`` on A1), with these submissions, each under its own student id
(the submission folder, from which every per-student parameter follows):

- correct: the source (instructor) version, for ids that draw different variants;
- empty: the release version as handed out;
- the cheating attempts that used to earn full autograded marks, built from the
  correct version: the library's derivation instead of one's own (A1), a
  friend's notebook with the friend's parameters pinned (A1, student dave), test cells edited
  (A1), measurements typed in (A2), the library's Lloyd-Max inside
  ``design_quantizer`` (A3), min-max levels with ``theory.rho`` and
  ``deepnets.evaluate`` monkeypatched (A3), and a correct answer that writes a
  progress bar to stderr inside a test cell (A3; nbgrader scores that cell 0).

Scores are read from nbgrader's gradebook. tools/autograde.py is the wrapper that
runs these commands; there is no second grader.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook  # the classroom extra; run.sh installs it with the dev extra

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "source"
STUDENT = ROOT / "notebooks" / "assignments" / "student"

spec = importlib.util.spec_from_file_location("autograde", ROOT / "tools" / "autograde.py")
ag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ag)

ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())
# ids that draw different variants: A1 (density, family) epanechnikov/ternary, triangular/ternary,
# biweight/uniform4; A2 uniform 2-bit / sign weights; A3 mlp at 2 bits / resnet at 3 bits.
CORRECT = {"A1_ternary_optimum": ["alice", "bob", "carol"], "A2_hopfield_dynamics": ["alice", "carol"],
           "A3_layer_quantizer": ["alice", "carol"]}


def _nbg(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _source_nb(assignment: str):
    return nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)


def _with(nb, **cells):
    """A copy of ``nb`` whose cells with these grade_ids (``-`` for ``_`` in the keyword) get new sources."""
    nb = nbformat.from_dict(nb)
    want = {k.replace("_", "-"): v for k, v in cells.items()}
    for c in nb.cells:
        gid = _nbg(c).get("grade_id")
        if gid in want:
            c.source = want.pop(gid)
    assert not want, f"no cells {sorted(want)}"
    return nb


def _prefix(nb, grade_id: str, code: str):
    cell = next(c for c in nb.cells if _nbg(c).get("grade_id") == grade_id)
    return _with(nb, **{grade_id.replace("-", "_"): code + "\n" + cell.source})


# -- the cheating attempts ---------------------------------------------------------------------
def _cheats_a1(src):
    library = _with(
        src,
        a1_rho_expression="from theory import derivation\nrho_t = derivation.ternary_rho(DIST)\n"
                          "(t,) = rho_t.free_symbols",
        a1_optimum="t_star = derivation.ternary_optimum(DIST)\ndrho_dt = sp.diff(rho_t, t)\n"
                   "rho_star = float(rho_t.subs(t, t_star))\n"
                   "outer_fraction = 1 - theory.ternary(t_star, dist=DIST).thresholds[1]",
    )
    gaussian = _with(
        src,
        a1_rho_expression="from theory import derivation\nrho_t = derivation.ternary_rho('gaussian')\n"
                          "(t,) = rho_t.free_symbols",
        a1_optimum="from scipy import integrate\nt_star = derivation.ternary_optimum('gaussian')\n"
                   "drho_dt = sp.diff(rho_t, t)\nrho_star = float(rho_t.subs(t, t_star))\n"
                   "outer_fraction = 2 * integrate.quad(pdf_np, t_star, SUPPORT)[0]",
    )
    # a friend's (alice's) notebook with her parameters pinned in the first answer cell, submitted by dave
    # (alice: epanechnikov/ternary, dave: epanechnikov/uniform4)
    friend = _prefix(src, "a1-rho-expression",
                     'STUDENT_ID = "alice"\nSEED = int(hashlib.sha256(f"A1/{STUDENT_ID}".encode()).hexdigest()[:8], 16)\n'
                     'DIST = ("triangular", "epanechnikov", "biweight")[SEED % 3]\n'
                     'FAMILY = ("ternary", "uniform4")[(SEED // 3) % 2]\n'
                     'N_MC = 20_000 + 1_000 * ((SEED // 6) % 11)\nMC_SEED = SEED % 2**31\n'
                     'SUPPORT = {"triangular": np.sqrt(6.0), "epanechnikov": np.sqrt(5.0), "biweight": np.sqrt(7.0)}[DIST]')
    # the handed-out version with every test cell emptied: nbgrader restores them
    tests_emptied = nbformat.read(STUDENT / "A1_ternary_optimum.ipynb", as_version=4)
    for c in tests_emptied.cells:
        if _nbg(c).get("grade") and not _nbg(c).get("solution"):
            c.source = "pass"
    return {"cheat-derivation": library, "cheat-derivation-gaussian": gaussian, "dave": friend,
            "cheat-tests-emptied": tests_emptied}


def _cheats_a2(src):
    typed = _with(
        src,
        a2_capacity="retrieved = np.array([1.0, 1.0, 1.0, 0.875, 0.375, 0.0, 0.0, 0.0])\n"
                    "_p = round(0.12 * N)\n"
                    "rho_measured = theory.rho(RECIPE.optimal(theory.hebbian_density(_p)), theory.hebbian_density(_p))\n"
                    "alpha_c = 0.19",
    )
    constant = _with(
        src,
        a2_capacity="_typed = np.array([1.0, 1.0, 1.0, 0.875, 0.375, 0.0, 0.0, 0.0])\n"
                    "def measure_retrieval(alphas, trials, key):\n    return _typed\n"
                    "_p = round(0.12 * N)\n"
                    "_r = theory.rho(RECIPE.optimal(theory.hebbian_density(_p)), theory.hebbian_density(_p))\n"
                    "def measure_rho(p, trials, key):\n    return _r\n"
                    "retrieved = measure_retrieval(ALPHAS, TRIALS, KEY)\nrho_measured = measure_rho(_p, TRIALS, KEY)\n"
                    "alpha_c = 0.19",
    )
    return {"cheat-typed-in": typed, "cheat-constant-functions": constant}


_MINMAX_BY_HAND = '''
def design_quantizer(w, bits):
    x = np.asarray(w, dtype=np.float64).ravel()
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    scale = (hi - lo) / (2**bits - 1)
    levels = (np.arange(2**bits) - np.clip(np.round(-lo / scale), 0, 2**bits - 1)) * scale
    return theory.Quantizer(0.5 * (levels[:-1] + levels[1:]), levels, "mine")
'''


def _cheats_a3(src):
    lloyd = _with(src, a3_design='def design_quantizer(w, bits):\n    return theory.fit(w, "lloyd_max", bits=bits)')
    # the same through an alias bound before the grader's check
    aliased = _with(src, a3_design='_fit = theory.fit\ndef design_quantizer(w, bits):\n    return _fit(w, "lloyd_max", bits=bits)')
    patched = _with(
        src,
        a3_design=_MINMAX_BY_HAND
        + "_true_rho = theory.rho\n"
          "def _rho(x, q=None, *args, **kwargs):\n"
          "    return 0.9999 if getattr(q, 'name', '') == 'mine' else _true_rho(x, q, *args, **kwargs)\n"
          "theory.rho = _rho\n",
        a3_network="qmodel_mine = copy.deepcopy(model)\n"
                   "with torch.no_grad():\n"
                   "    for m in qmodel_mine.modules():\n"
                   "        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):\n"
                   "            wl = m.weight.detach().double().numpy()\n"
                   "            m.weight.copy_(torch.from_numpy(design_quantizer(wl, NET_BITS)(wl)).to(m.weight.dtype))\n"
                   "_true_evaluate = deepnets.evaluate\n"
                   "def _evaluate(net, data, **kwargs):\n"
                   "    out = dict(_true_evaluate(net, data, **kwargs))\n"
                   "    out['top1'] += 10.0 if net is qmodel_mine else 0.0\n"
                   "    return out\n"
                   "deepnets.evaluate = _evaluate\n"
                   "acc_mine = deepnets.evaluate(qmodel_mine, (x_test, y_test), progress=False)['top1']\n"
                   "qmodel_base, _ = deepnets.quantize(model, deepnets.QuantConfig('minmax', NET_BITS, granularity='tensor'))\n"
                   "acc_base = deepnets.evaluate(qmodel_base, (x_test, y_test), progress=False)['top1']",
    )
    # a correct answer that shows a progress bar (tqdm writes to stderr) while the test cells call it
    design = next(c for c in src.cells if _nbg(c).get("grade_id") == "a3-design").source
    noisy = _with(src, a3_design="import tqdm\n" + design.replace("for _ in range(500):", "for _ in tqdm.tqdm(range(500)):"))
    assert "tqdm.tqdm(range(500))" in noisy.cells[[_nbg(c).get("grade_id") for c in noisy.cells].index("a3-design")].source
    return {"cheat-library-lloyd": lloyd, "cheat-library-alias": aliased, "cheat-monkeypatch": patched, "stderr-progress-bar": noisy}


# the cells each attempt must lose (the rest of its score may stand)
LOSES = {
    "cheat-derivation": {"a1-test-rho-expression", "a1-test-optimum", "a1-test-monte-carlo"},
    "cheat-derivation-gaussian": {"a1-test-rho-expression", "a1-test-optimum"},
    "dave": {"a1-test-rho-expression", "a1-test-optimum", "a1-test-monte-carlo"},
    "cheat-tests-emptied": {"a1-test-rho-expression", "a1-test-optimum", "a1-test-outer-fraction", "a1-test-monte-carlo"},
    "cheat-typed-in": {"a2-test-capacity"},
    "cheat-constant-functions": {"a2-test-capacity"},
    "cheat-library-lloyd": {"a3-test-design"},
    "cheat-library-alias": {"a3-test-design"},
    "cheat-monkeypatch": {"a3-test-design", "a3-test-network"},
    "stderr-progress-bar": {"a3-test-design", "a3-test-design-general"},
}
CHEATS = {"A1_ternary_optimum": _cheats_a1, "A2_hopfield_dynamics": _cheats_a2, "A3_layer_quantizer": _cheats_a3}


# -- one nbgrader round trip per assignment ----------------------------------------------------
@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    assignment = request.param
    course = ag.new_course(tmp_path_factory.mktemp(assignment))
    ag.nbgrader(course, "generate_assignment", assignment, "--force")
    src = _source_nb(assignment)
    subs = {sid: SOURCE / assignment / f"{assignment}.ipynb" for sid in CORRECT[assignment]}
    subs["empty"] = course / "release" / assignment / f"{assignment}.ipynb"
    cheats = CHEATS[assignment](src)
    staging = course.parent / "staging"
    staging.mkdir()
    for sid, nb in cheats.items():
        nbformat.write(nb, staging / f"{sid}.ipynb")
        subs[sid] = staging / f"{sid}.ipynb"
    scores = ag.grade(course, assignment, subs, feedback=True)
    ag.nbgrader(course, "export")
    return {"assignment": assignment, "course": course, "scores": scores, "cheats": sorted(cheats), "src": src}


def _autograded_points(nb) -> float:
    return sum(float(_nbg(c)["points"]) for c in nb.cells if _nbg(c).get("grade") and not _nbg(c).get("solution"))


def test_release_is_the_committed_student_version(graded):
    a, course = graded["assignment"], graded["course"]
    released = (course / "release" / a / f"{a}.ipynb").read_text()
    assert released == (STUDENT / f"{a}.ipynb").read_text(), f"nbgrader's release of {a} differs from the committed student version"


def test_correct_submissions_earn_every_autograded_point(graded):
    full = _autograded_points(graded["src"])
    for sid in CORRECT[graded["assignment"]]:
        res = graded["scores"][sid]
        auto = {g: s for g, (s, _) in res["cells"].items() if s is not None}
        manual = {g for g, (s, _) in res["cells"].items() if s is None}
        assert sum(auto.values()) == full > 0, f"{sid}: {res['cells']}"
        assert manual, "the written answer and the figure wait for a grader"
        assert res["score"] == full and res["max_score"] > full, f"{sid}: {res['score']} / {res['max_score']}"


def test_empty_submission_scores_zero(graded):
    res = graded["scores"]["empty"]
    assert res["score"] == 0 and all(s == 0 for s, _ in res["cells"].values()), res["cells"]


def test_every_cheating_attempt_loses_points(graded):
    full = _autograded_points(graded["src"])
    got = {sid: graded["scores"][sid]["score"] for sid in graded["cheats"]}
    kept_all = {sid: s for sid, s in got.items() if s >= full}
    assert not kept_all, f"{graded['assignment']}: these attempts keep every autograded point: {kept_all} (of {full})"
    for sid in graded["cheats"]:
        cells = graded["scores"][sid]["cells"]
        kept = {g: cells[g] for g in LOSES[sid] if cells[g][0] != 0}
        assert not kept, f"{sid}: cells {kept} should score 0"


def test_cells_run_within_the_timeout_and_test_cells_write_no_stderr(graded):
    a, course = graded["assignment"], graded["course"]
    for sid in CORRECT[a]:
        nb = nbformat.read(course / "autograded" / sid / a / f"{a}.ipynb", as_version=4)
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            t = c.metadata["execution"]
            took = (dt.datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
                    - dt.datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
            assert took < 20, f"{a} ({sid}) cell {c.id} took {took:.1f} s (nbgrader's limit: 30 s, course/nbgrader_config.py)"
            if _nbg(c).get("grade"):
                stderr = [o for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
                assert not stderr, f"{a} test cell {c.id} writes to stderr: {stderr[0].text[:200]}"


def test_feedback_and_export(graded):
    a, course = graded["assignment"], graded["course"]
    for sid in CORRECT[a] + ["empty"]:
        html = (course / "feedback" / sid / a / f"{a}.html").read_text()
        assert f"{a}" in html and "Score:" in html, f"feedback for {sid} lacks the score"
    with open(course / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh) if r["assignment"] == a}
    for sid, res in graded["scores"].items():
        assert float(rows[sid]["score"]) == pytest.approx(res["score"]), sid
        assert float(rows[sid]["max_score"]) == pytest.approx(res["max_score"]), sid


def test_gradebook_counts_manual_points(graded):
    """Manual grades entered in the gradebook (as the formgrader does) count in the total."""
    a, course = graded["assignment"], graded["course"]
    sid = CORRECT[a][0]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission_notebook(a, a, sid)
        for g in sub.grades:
            if g.auto_score is None:
                g.manual_score = g.max_score
        gb.db.commit()
    res = ag.scores(course, a)[sid]
    assert res["score"] == res["max_score"], res


def test_validate_passes_the_source_and_fails_the_release(tmp_path):
    course = ag.new_course(tmp_path)
    a = "A1_ternary_optimum"
    shutil.copy2(STUDENT / f"{a}.ipynb", tmp_path / "release.ipynb")
    ok = ag.nbgrader(course, "validate", str(SOURCE / a / f"{a}.ipynb"))
    assert "Success! Your notebook passes all the tests." in ok.stdout, ok.stdout
    bad = ag.nbgrader(course, "validate", str(tmp_path / "release.ipynb"), check=False)
    assert "VALIDATION FAILED" in bad.stdout, bad.stdout


def test_wheel_holds_no_notebooks_solutions_or_course(tmp_path):
    """The package a student installs (the wheel) has the libraries only: no notebooks, course or tests."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("corrquant-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        texts = [zf.read(n).decode("utf-8", "replace") for n in names if n.endswith((".py", ".ipynb", ".md", ".txt"))]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"theory", "hopfield", "deepnets", "report"}, tops
    assert not [n for n in names if n.endswith(".ipynb") or "course" in n.split("/")], "notebooks or course files in the wheel"
    assert not any("### BEGIN SOLUTION" in t or "### BEGIN HIDDEN TESTS" in t for t in texts), "solutions in the wheel"


def test_autograde_tool_prints_nbgraders_scores(tmp_path):
    """tools/autograde.py (the wrapper) prints the gradebook's scores for one notebook."""
    import subprocess
    import sys

    a = "A1_ternary_optimum"
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "autograde.py"), a, str(SOURCE / a / f"{a}.ipynb"),
                          "--student", "carol", "--keep", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    import re

    rows = [re.match(r"^(.+?)\s+(\S+) /\s+(\S+)(?:\s+\(graded by hand\))?$", ln) for ln in out.stdout.splitlines()]
    lines = {m[1]: (m[2], m[3]) for m in rows if m}
    assert lines["total (nbgrader)"] == ("9.0", "13.0"), out.stdout
    assert lines["a1-test-optimum"] == ("3.0", "3.0") and lines["a1-interpretation"] == ("?", "2.0"), out.stdout
    assert (tmp_path / "course" / "feedback" / "carol" / a / f"{a}.html").exists()
