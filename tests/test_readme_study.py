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
