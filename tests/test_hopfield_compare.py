"""hopfield.compare: ratios to float across records run on the same networks equal the within-record ones."""

import json
import subprocess
import sys

import pytest

from hopfield.compare import compare
from hopfield.study import run_study

ARGS = dict(sizes=[40, 60, 80],  # the sizes of the other study tests (compiled once per process)
            alphas=[round(0.05 + 0.05 * i, 3) for i in range(9)], networks=3,
            progress=False, n_boot=20)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    joint = run_study(quantizers=["float", "sign"], out=str(d / "joint.json"), **ARGS)
    alone = run_study(quantizers=["sign"], out=str(d / "sign.json"), **ARGS)
    return d, joint, alone


def test_a_quantizer_run_alone_has_the_same_networks_and_paired_ratios_as_beside_float(records):
    _, joint, alone = records
    assert all(alone["runs"][k]["m_mean"][0] == joint["runs"][k]["m_mean"][1] for k in joint["runs"])
    got = compare(joint, [alone], n_boot=20)
    for crit in ("fraction", "jump"):
        want, have = joint["analysis"][crit]["sign"], got[crit]["sign"]
        assert [r["N"] for r in have["sizes"]] == [r["N"] for r in want["sizes"] if "ratio" in r]
        for a, b in zip(have["sizes"], (r for r in want["sizes"] if "ratio" in r), strict=True):
            assert (a["ratio"], a["ratio_lo"], a["ratio_hi"]) == (b["ratio"], b["ratio_lo"], b["ratio_hi"])
        for tag in ("ratio_inf", "ratio_inf_nu_1/2"):
            assert (tag in have) == (tag in want)
            if tag in want:  # the same replicas, summed from arrays laid out anew: equal to rounding
                assert {k: pytest.approx(v, rel=1e-12) for k, v in want[tag].items()} == have[tag]
        assert have["theory_ratio"] == want["theory_ratio"] and have["own_sizes"] == [40, 60, 80]
    assert "ratio_inf_nu_1/2" in got["fraction"]["sign"]  # three sizes bracket the transition: extrapolated too
    assert got["fraction"]["sign"]["fit"] is None  # nu free needs four sizes


def test_records_on_other_networks_are_refused_with_one_line_and_exit_2(records, tmp_path):
    d, joint, alone = records
    other = dict(alone, config=dict(alone["config"], seed=1))
    with pytest.raises(ValueError, match=r"^records\[0\]: not run on the reference's networks \(differs in seed\)"):
        compare(joint, [other])
    with pytest.raises(ValueError, match="^reference: the record has no float"):
        compare(alone, [alone])
    (tmp_path / "other.json").write_text(json.dumps(other))
    out = subprocess.run([sys.executable, "-m", "hopfield.compare", str(d / "joint.json"), str(tmp_path / "other.json"),
                          "--out", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("hopfield.compare: error: records[0]") and not (tmp_path / "r.json").exists()
    ok = subprocess.run([sys.executable, "-m", "hopfield.compare", str(d / "joint.json"), str(d / "sign.json"),
                         "--out", str(tmp_path / "r.json"), "--n-boot", "20"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["analysis"]["fraction"]["sign"]["sizes"] and len(rec["reference"]["sha256"]) == 64
