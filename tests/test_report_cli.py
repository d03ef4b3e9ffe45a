"""``python -m report``'s command line: a stage list that names nothing runs nothing (it used to run everything)."""

from __future__ import annotations

import pytest

from report import __main__ as cli
from report import pipeline


@pytest.mark.parametrize("stages", [",", "", " , ", "theory,,hopfield", "theory,", "nonsense", "theory,Hopfield"])
def test_empty_or_unknown_stage_is_a_one_line_error(stages, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--quick", "--out", str(tmp_path / "out"), "--stages", stages])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m report: error: --stages") and "theory,hopfield" in err, err
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.parametrize("stages", [[], ["nonsense"], ["theory", ""]])
def test_run_report_refuses_an_empty_or_unknown_stage_list(stages, tmp_path):
    with pytest.raises(ValueError, match="stages"):
        pipeline.run_report(tmp_path / "out", quick=True, seed=0, stages=stages, progress=lambda s: None)
    assert not (tmp_path / "out").exists()
