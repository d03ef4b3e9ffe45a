"""The main job: ``python -m report --quick`` writes a report whose numbers are the library's on the same seed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _figures import checking

import theory
from report import __main__ as cli
from report import anchors_stage, document, theory_stage
from theory.densities import get_density

SEED = 3
FIGURES: dict = {}  # what tests/_figures.py found in the figures the quick report wrote


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    with checking() as log:  # every savefig of the run goes through the lecture-readability checker
        assert cli.main(["--quick", "--out", str(out), "--seed", str(SEED)]) == 0
    FIGURES["log"] = log
    return out


def test_report_figures_are_readable(quick_report):
    log = FIGURES["log"]
    assert log.count >= 7
    assert not log.problems, "report figures hard to read: " + "; ".join(log.problems)


@pytest.fixture(scope="module")
def results(quick_report) -> dict:
    return json.loads((quick_report / "results.json").read_text())


def test_files_written_and_self_contained(quick_report):
    md = (quick_report / "report.md").read_text()
    page = (quick_report / "report.html").read_text()
    for heading in ("1. The correlation formula", "2. Hopfield memory", "3. Quantizing trained classifiers", "4. The bridge",
                    "5. The published anchors", "Environment and timing"):
        assert heading in md and heading in page
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(images) >= 7
    for rel in images:
        f = quick_report / rel
        assert f.is_file() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", rel
    assert page.count("src='data:image/png;base64,") == len(images)  # the HTML page needs no other file
    assert "src='http" not in page and "src=\"http" not in page


def test_theory_table_is_the_closed_form_and_a_reproducible_sample(results, quick_report):
    rows = results["results"]["theory"]["rows"]
    n = results["results"]["theory"]["n"]
    md = (quick_report / "report.md").read_text()
    samples = {d: get_density(d).sample(n, np.random.SeedSequence([SEED, i])) for i, d in enumerate(("gaussian", "laplace"))}
    checked = 0
    for r in rows:
        w = samples[r["dist"]]
        if r["family"] == "minmax":
            q = theory.fit(w, "minmax", bits=r["bits"])
        else:
            q = theory.make(r["family"], r["K"], r["dist"])
            assert r["rho_closed"] == pytest.approx(theory.rho(q, r["dist"]), rel=1e-12, abs=1e-12)
            # the closed form and the sample agree within sampling error
            assert abs(r["rho_measured"] - r["rho_closed"]) <= 5 * r["se"] + 1e-12, r
        assert r["rho_measured"] == pytest.approx(float(theory.rho(w, q(w))), rel=1e-9)
        # what the reader sees is what was computed
        assert f"| {r['dist']} | {r['family']} | {r['bits']} | {r['K']} | {document.fmt(r['rho_closed'])} | {document.fmt(r['rho_measured'])} |" in md
        checked += 1
    assert checked == len(rows) >= 2 * (8 + 7 + 7 + 7 + 1 + 1)


def test_hopfield_section_reruns_identically(results):
    import jax

    import hopfield

    sec = results["results"]["hopfield"]["section"]
    cfg = sec["config"]
    row = next(r for r in sec["rows"] if r["quantizer"] == "sign")
    rec = hopfield.retrieval(cfg["N"], cfg["alphas"], "sign", key=jax.random.key(SEED), noise=cfg["noise"],
                             networks=cfg["networks"], probes=cfg["probes"], mode=cfg["mode"], criterion=cfg["criterion"],
                             progress=False)
    np.testing.assert_array_equal(rec.m_mean, row["m_mean"])
    np.testing.assert_array_equal(rec.retrieved, row["retrieved"])
    assert row["theory_overlap"] == pytest.approx([theory.overlap(a, min(r, 1.0)) for a, r in zip(row["alpha"], rec.rho, strict=True)])
    # The m(alpha) section: float, sign and 3-bit weights, the figure written.
    assert [r["quantizer"] for r in sec["rows"]] == ["float", "sign", "uniform 3 bit"]
    rows = {r["quantizer"]: r for r in sec["rows"]}
    assert rows["float"]["m_mean"][0] > 0.99 and rows["float"]["rho"] == 1.0
    assert 0.75 < rows["sign"]["rho"] < 0.85  # sqrt(2/pi) = 0.80 for the clipped synapse
    assert Path(sec["figure"]).stat().st_size > 10_000
    for c in results["results"]["hopfield"]["capacity"]:
        assert c["theory_alpha_c"] == pytest.approx(theory.predicted_capacity(c["rho"]), rel=1e-6)
        assert c["theory_field_agreement"] == pytest.approx(float(theory.field_agreement(c["rho"])), rel=1e-12)
        assert c["alpha_c_lo"] <= c["alpha_c"] <= c["alpha_c_hi"] or not np.isfinite(c["alpha_c"])
    labels = [c["quantizer"] for c in results["results"]["hopfield"]["capacity"]]
    assert labels[:3] == ["float", "sign", "ternary"] and len(labels) == 12


def test_deepnets_rows_reproduce_from_the_library(results):
    from deepnets import QuantConfig, data, evaluate, load_pretrained, quantize
    from deepnets.quantize import mean_rho
    from deepnets.sweep import smallest_bits_within

    d = results["results"]["deepnets"]
    rows = d["rows"]
    row = next(r for r in rows if r["method"] == "lloyd_max" and r["bits"] == 3)
    x, y = data.get_dataset(d["dataset"], "test").tensors
    model = load_pretrained(row["model"], d["dataset"])
    qm, rep = quantize(model, QuantConfig("lloyd_max", 3, "channel"))
    acc = evaluate(qm, (x[: row["n"]], y[: row["n"]]), progress=False)
    assert acc["top1"] == row["top1"]
    assert mean_rho(rep) == pytest.approx(row["mean_rho"], rel=1e-12)
    # the headline is the library's summary of these very rows
    key = lambda hs: [(h["model"], h["method"], h["bits"]) for h in hs]  # noqa: E731
    assert key(smallest_bits_within(rows)) == key(d["headline"]["smallest_bits_within"])
    for h in d["headline"]["smallest_bits_within"]:
        if h["bits"] is not None:
            r = next(r for r in rows if r["model"] == h["model"] and r["method"] == h["method"] and r["bits"] == h["bits"])
            assert r["drop"] <= 1.0 and h["ratio"] == r["ratio"]
            smaller = [s for s in rows if s["model"] == h["model"] and s["method"] == h["method"] and s["bits"] < h["bits"]]
            assert all(s["drop"] > 1.0 for s in smaller)


def test_anchor_verdicts_follow_from_the_numbers(results, quick_report):
    res = results["results"]
    claims = res["anchors"]["claims"]
    assert len(claims) == 6
    assert {c["verdict"] for c in claims} <= {"reproduced", "partly reproduced", "not reproduced"}
    again = anchors_stage.run(quick_report, True, SEED, res)["claims"]
    assert [c["verdict"] for c in again] == [c["verdict"] for c in claims]
    md = (quick_report / "report.md").read_text()
    for c in claims:
        assert f"| {c['claim']} | {c['verdict']} |" in md


def test_stage_alone_and_bad_stage(tmp_path, capsys):
    assert cli.main(["--quick", "--out", str(tmp_path), "--stages", "theory", "--seed", str(SEED)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "1. The correlation formula" in md and "2. Hopfield" not in md
    assert (tmp_path / "rho_vs_bits.png").is_file()
    with pytest.raises(SystemExit) as e:
        cli.main(["--stages", "theory,nonsense", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "nonsense" in capsys.readouterr().err


def test_rho_with_se_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(50_000)
    q = theory.make("uniform", 4, "gaussian")
    r, se = theory_stage.rho_with_se(w, q(w))
    assert r == pytest.approx(float(theory.rho(w, q(w))), rel=1e-12)
    # the delta-method SE agrees with the spread over independent samples
    reps = [theory.rho(x, q(x)) for x in rng.standard_normal((200, 50_000))]
    assert se == pytest.approx(np.std(reps, ddof=1), rel=0.25)
