"""The README's examples print what the README says, digit for digit, and its Results and benchmark
blocks are exactly what ``python -m report.readme`` renders from the committed records in docs/."""

from __future__ import annotations

import copy
import difflib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from report import readme as rr
from report.readme_blocks import VERDICT_WORDS

EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```python\n(.*?)```\s*```text\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def examples(readme) -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2), m.group(3)) for m in EXAMPLE.finditer(readme)}


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(rr.RECORD.read_text())


@pytest.fixture(scope="module")
def bench() -> dict:
    return json.loads(rr.BENCHMARKS.read_text())


@pytest.fixture(scope="module")
def peers() -> dict:
    return json.loads(rr.PEERS.read_text())


def same_output(got: str, want: str) -> bool:
    """The same lines, words and printed digits; only the spacing between words may differ."""
    g, w = got.strip().splitlines(), want.strip().splitlines()
    return len(g) == len(w) and all(gl.split() == wl.split() for gl, wl in zip(g, w, strict=True))


def test_readme_has_the_three_examples_and_the_two_commands(examples, readme, repo_root):
    assert set(examples) == {"theory", "hopfield", "deepnets"}
    ci = (repo_root / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in readme  # .ci/run calls exactly the README's test command
    assert "bash run.sh report" in readme


@pytest.mark.parametrize("name", ["theory", "hopfield", "deepnets"])
def test_readme_example_output(name, examples, tmp_path):
    if name == "deepnets":
        from deepnets import data

        if not Path(data.DEFAULT_FASHION_MNIST_ROOT).is_dir():
            pytest.skip("the deepnets example uses Fashion-MNIST (Debian package dataset-fashion-mnist)")
    code, want = examples[name]
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert same_output(out.stdout, want), f"README says:\n{want}\nthe code prints:\n{out.stdout}"


def test_same_output_is_not_vacuous():
    assert same_output("rho 0.9826  ok\n", "rho 0.9826 ok")
    assert not same_output("rho 0.9827 ok", "rho 0.9826 ok")  # one unit in the last printed digit is a difference
    assert not same_output("rho 0.98260 ok", "rho 0.9826 ok")
    assert not same_output("rho 0.9826 bad", "rho 0.9826 ok")
    assert not same_output("a\nb", "a")


def test_readme_results_and_benchmarks_are_rendered_from_the_records(readme, record, bench, peers):
    assert rr.BLOCKS == ("results", "benchmarks", "peers")
    rendered = rr.render(readme, record, bench, peers)
    diff = "".join(difflib.unified_diff(readme.splitlines(True), rendered.splitlines(True), "README.md", "rendered", n=1))
    assert rendered == readme, f"README.md differs from the records; run `python -m report.readme`:\n{diff[:6000]}"


def test_the_record_is_a_full_run_at_seed_0(record):
    env = record["environment"]
    assert env["mode"] == "full" and env["seed"] == 0
    assert set(record["results"]) == {"theory", "hopfield", "deepnets", "bridge", "anchors"}


def test_a_changed_number_or_verdict_changes_the_readme(readme, record, bench):
    # the rendering reads the record's fields: the check above cannot pass on a README typed in by hand
    rec = copy.deepcopy(record)
    row = next(r for r in rec["results"]["theory"]["rows"] if (r["dist"], r["family"], r["bits"]) == ("gaussian", "uniform", 3))
    row["rho_closed"] = 0.123456
    claim = next(c for c in rec["results"]["anchors"]["claims"] if c["claim"].startswith("about 6x"))
    claim["verdict"] = "reproduced" if claim["verdict"] != "reproduced" else "not reproduced"
    b = copy.deepcopy(bench)
    b["hopfield_scan"]["speedup_1_thread"] = 7
    new = rr.render(readme, rec, b)
    assert "| 3 | 0.1235 |" in new and "| 3 | 0.1235 |" not in readme
    assert f"**About 6x at about 1 point: {VERDICT_WORDS[claim['verdict']]}.**" in new
    assert "**7x / " in new and new.count("\n") > 100


def test_the_speed_target_sentence_follows_the_deepnets_record(readme, record, bench):
    """Which `quantize` runs meet issue 13's targets is read from the rows: move one under and every one over."""
    b = copy.deepcopy(bench)
    dn = b["deepnets"]
    def text(bb):  # the rendered paragraphs wrap: compare words
        return " ".join(rr.render(readme, record, bb).split())

    new = text(b)
    assert "are not all met on this record" in new and f"round-to-nearest took {dn['rtn_s']:.3f} s" in new
    ternary = next(r for r in dn["rows"] + dn.get("fixed_rows", []) if r["method"] == "ternary" and r.get("search") == "exact")
    ternary["time_x_rtn"] = 3.0
    assert "of the fits, ternary, " in text(b)
    for r in dn["rows"] + dn.get("fixed_rows", []):
        r["time_x_rtn"] = 1.5
    assert "speed targets for `quantize` are met on this record: min-max 1.5x" in text(b)


def test_check_exits_1_on_a_stale_readme(tmp_path, readme):
    begin, _ = rr._markers("results")
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace(begin + "\n", begin + "\nA number typed in by hand: 0.9999.\n", 1))
    assert stale.read_text() != readme
    fresh = tmp_path / "fresh.md"
    fresh.write_text(readme)
    assert rr.main(["--check", "--readme", str(fresh)]) == 0
    assert rr.main(["--check", "--readme", str(stale)]) == 1
    assert rr.main(["--readme", str(stale)]) == 0 and stale.read_text() == readme  # rewriting restores it


def test_missing_markers_are_an_error(record, bench):
    with pytest.raises(ValueError, match="results:begin"):
        rr.render("no markers here", record, bench)


def test_a_changed_peer_number_or_cell_changes_the_peers_block(readme, record, bench, peers):
    """The peers table is read from docs/peers.json: a changed top-1, or a win turned into a loss, shows."""
    p = copy.deepcopy(peers)
    cell = next(c for c in p["cells"] if c["at_peer_bits"] is not None and c["at_peer_bits"]["diff"] >= 0)
    cell["best_peer"]["top1"] = 12.345
    cell["at_peer_bits"]["diff"] = -50.0
    cell["at_peer_bits"]["paired_se"] = 0.5
    new = rr.render(readme, record, bench, p)
    begin, end = rr._markers("peers")
    block = new.split(begin)[1].split(end)[0]
    assert "12.3 at" in block and "12.3 at" not in readme.split(begin)[1].split(end)[0]
    from report.readme_blocks import _model

    assert "-50.00 +- 0.50 | loss |" in block
    assert f"losses beyond that: {_model(cell['model'])} {cell['granularity']} {cell['bits']} bits" in block
    assert rr.render(readme, record, bench, peers) == readme


def test_missing_peers_markers_are_an_error(readme, record, bench, peers):
    begin, _ = rr._markers("peers")
    with pytest.raises(ValueError, match="peers:begin"):
        rr.render(readme.replace(begin, ""), record, bench, peers)


def test_a_bridge_record_without_the_baselines_is_refused(readme, record, bench, peers):
    old = copy.deepcopy(record)
    del old["results"]["bridge"]["end_to_end_scores"]
    with pytest.raises(ValueError, match=r"^docs/results.json: the bridge record predates the baselines"):
        rr.render(readme, old, bench, peers)
