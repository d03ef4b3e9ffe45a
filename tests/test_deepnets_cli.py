"""python -m deepnets: every flag documented; quantize/evaluate end to end once models land."""

import argparse
import json
import os
import subprocess
import sys



from deepnets.__main__ import main, parser


def _subparsers():
    p = parser()
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_subcommand_and_flag_has_help():
    subs = _subparsers()
    assert set(subs) == {"train", "quantize", "evaluate", "sweep"}
    for name, sp in subs.items():
        assert sp.description, name
        for a in sp._actions:
            if a.option_strings and a.dest != "help":
                assert a.help and len(a.help) > 10, f"{name} {a.option_strings} has no help"
                assert a.option_strings[0] in sp.format_help()


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "deepnets", "quantize", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--bits" in out.stdout and "--granularity" in out.stdout, out.stderr


def test_bad_bits_is_a_clear_error(capsys):
    rc = main(["quantize", "--model", "does-not-matter", "--method", "uniform", "--bits", "9"])
    assert rc == 2 and "bits" in capsys.readouterr().err


def test_quantize_then_evaluate_packed_file(tmp_path, capsys):
    from deepnets import models
    from deepnets.storage import save_float

    net = models.build("mlp", "digits")
    save_float(net, tmp_path / "mlp.safetensors")
    packed = tmp_path / "mlp4.safetensors"
    rc = main(["quantize", "--model", str(tmp_path / "mlp.safetensors"), "--arch", "mlp", "--dataset", "digits",
               "--method", "exponential", "--bits", "4", "--out", str(packed)])
    assert rc == 0 and os.path.getsize(packed) < os.path.getsize(tmp_path / "mlp.safetensors") / 4
    capsys.readouterr()
    assert main(["evaluate", "--model", str(packed), "--dataset", "digits", "--limit", "50"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n"] == 50 and 0 <= res["top1"] <= 100


def test_train_delegates(tmp_path, capsys):
    import deepnets.train  # noqa: F401  (a broken import must fail, not skip)
    assert main(["train", "--model", "mlp", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert os.path.isfile(res["weights"]) and res["epochs"] == 1 and res["test_top1"] > 0.3
