"""The README's study paragraph says what its records say, whichever way they come out."""

import json

from report.readme_study import limit_sentence, loads_text


def _limit(tmp_path, rows):
    p = tmp_path / "lim.json"
    p.write_text(json.dumps(dict(command="python tools/check_sweep_limit.py --out x", low=100, high=1000, m_star=0.9,
                                 rows=rows)))
    return limit_sentence(p)


def test_limit_sentence_says_harmless_only_when_nothing_changed(tmp_path):
    row = dict(N=4096, alpha=0.15, retrieved_low=0.59, retrieved_high=0.59, m_max_at_limit=0.32)
    assert "decides nothing" in _limit(tmp_path, [row])
    moved = _limit(tmp_path, [row, dict(row, alpha=0.155, retrieved_low=0.30, retrieved_high=0.28)])
    assert "matters" in moved and "0.0200" in moved
    high_m = _limit(tmp_path, [dict(row, m_max_at_limit=0.95)])
    assert "matters" in high_m and "m = 0.95" in high_m
    assert limit_sentence(tmp_path / "absent.json") == ""


def test_loads_text_names_the_window_or_the_grid():
    assert loads_text(dict(alphas=[0.08, 0.09, 0.2])) == "loads 0.08-0.2"
    w = loads_text(dict(alphas=[0.1, 0.105, 0.11], window=dict(center=[0.138, 0.86], half=[0.008, 0.3])))
    assert "0.138 + 0.86/sqrt(N) +- (0.008 + 0.3/sqrt(N))" in w and "step 0.005" in w


def _rr(rows, stale=()):
    base = dict(rho=0.8, theory_alpha_c=0.1, own_sizes=[128, 4096], alpha_inf=0.1, lo=0.099, hi=0.101, nu=0.6, chi2=3.0,
                dof=8, common=[256, 4096], N=4096, ratio=0.76, ratio_lo=0.75, ratio_hi=0.77, half=0.75, half_lo=0.74,
                half_hi=0.76, record="docs/x.json")
    return dict(rows=[dict(base, **r) for r in rows], command="python -m hopfield.compare a b --out c", date="today",
                reference="a", stale=list(stale), path="c.json")


def test_ratio_block_says_where_theory_lies_and_which_quantizers_cannot_be_told_apart():
    from report.readme_study import ratio_block

    rr = _rr([dict(quantizer="sign", theory_ratio=0.738, free=0.78, free_lo=0.77, free_hi=0.79),
              dict(quantizer="uniform 2 bit", theory_ratio=0.918, free=0.92, free_lo=0.91, free_hi=0.93),
              dict(quantizer="lloyd_max 2 bit", theory_ratio=0.919, free=0.925, free_lo=0.915, free_hi=0.935)])
    text = " ".join(" ".join(ratio_block(rr)).split())
    assert "sign above theory (0.780 [0.770, 0.790] against 0.738)" in text
    assert "uniform 2 bit consistent with theory (0.920 [0.910, 0.930] against 0.918)" in text
    assert "Cannot be told apart at this precision: uniform 2 bit and Lloyd-Max 2 bit." in text
    assert "sign consistent with theory (0.1000 [0.0990, 0.1010] against 0.1000)" in text
    assert "At N = 4096 the measured ratio lies above theory for sign, below it for uniform 2 bit, Lloyd-Max 2 bit, and agrees for none" in text
    assert "sign and" not in text and "out of date" not in text
    apart = " ".join(" ".join(ratio_block(_rr([dict(quantizer="sign", theory_ratio=0.8, free=0.78, free_lo=0.77, free_hi=0.79)],
                                     stale=["docs/a.json"]))).split())
    assert "sign below theory" in apart and "told apart" not in apart and "out of date: docs/a.json changed" in apart


def test_the_committed_comparison_read_the_committed_records():
    from report.readme_study import ratio_rows

    rr = ratio_rows()
    assert rr is not None and rr["stale"] == [], rr and rr["stale"]
    assert {"sign", "ternary", "uniform 2 bit", "lloyd_max 2 bit"} <= {r["quantizer"] for r in rr["rows"]}
    assert all(r["free"] is not None and r["free_lo"] <= r["free"] <= r["free_hi"] for r in rr["rows"])
