"""python -m deepnets: every flag documented; quantize/evaluate end to end once models land."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

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


def test_quantize_with_histogram_search_records_it_and_reloads_bitwise(tmp_path):
    from deepnets import models
    from deepnets.storage import load, save_float

    torch.manual_seed(0)
    net = models.build("mlp", "digits").eval()
    save_float(net, tmp_path / "mlp.safetensors")
    outs = {}
    for search in ("exact", "histogram"):
        packed = tmp_path / f"{search}.safetensors"
        assert main(["quantize", "--model", str(tmp_path / "mlp.safetensors"), "--arch", "mlp", "--dataset", "digits",
                     "--method", "uniform", "--bits", "3", "--search", search, "--out", str(packed)]) == 0
        qm = load(packed, models.build("mlp", "digits"))
        assert qm.corrquant.config.recipe.search == search  # the option travels in the file
        x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            outs[search] = qm(x)
            assert torch.equal(load(packed, models.build("mlp", "digits"))(x), outs[search])
    # the two searches find nearby but not identical levels: the outputs differ, by little
    assert not torch.equal(outs["exact"], outs["histogram"])
    assert torch.allclose(outs["exact"], outs["histogram"], rtol=0.05, atol=0.05 * outs["exact"].abs().max().item())


# -- user errors: one line naming the flag, exit status 2, no traceback ------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from deepnets import models
    from deepnets.quantize import QuantConfig, quantize
    from deepnets.storage import save, save_float

    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    net = models.build("mlp", "digits").eval()
    save_float(net, d / "mlp.safetensors")
    torch.save(net.state_dict(), d / "mlp.pth")
    torch.save({"state_dict": net.state_dict()}, d / "mlp.pt")  # a checkpoint wrapping the state_dict
    torch.save(net, d / "whole.pt")  # a pickled whole model: needs code to load, refused
    (d / "empty.pth").write_bytes(b"")
    (d / "notes.txt").write_text("not weights")
    save(quantize(net, QuantConfig("uniform", 3), arch={"name": "mlp", "dataset": "digits"})[0], d / "q.safetensors")
    raw = (d / "q.safetensors").read_bytes()
    (d / "cut.safetensors").write_bytes(raw[: len(raw) - 100])
    (d / "adir").mkdir()
    return d


def _ev(*extra):
    return ["evaluate", "--dataset", "digits", *extra]


BAD = [  # (argv from the files folder d, the flag the message names)
    (lambda d: _ev("--model", str(d / "absent.pth"), "--arch", "mlp"), "--model"),
    (lambda d: _ev("--model", str(d / "whole.pt"), "--arch", "mlp"), "--model"),
    (lambda d: _ev("--model", str(d / "empty.pth"), "--arch", "mlp"), "--model"),
    (lambda d: _ev("--model", str(d / "notes.txt"), "--arch", "mlp"), "--model"),
    (lambda d: _ev("--model", "no_such_registry_model"), "--model"),
    (lambda d: _ev("--model", str(d / "cut.safetensors")), "--model"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "vgg"), "--arch"),  # weights that do not match --arch
    (lambda d: _ev("--model", str(d / "mlp.pth")), "--arch"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "os:path"), "--arch"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "no_such_module_xyz:Net"), "--arch"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "nonsense"), "--arch"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "deepnets.models:MLP", "--arch-kwargs", "{bad json"), "--arch-kwargs"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "deepnets.models:MLP", "--arch-kwargs", "[1, 2]"), "--arch-kwargs"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "deepnets.models:MLP", "--arch-kwargs", '{"in_channels": 1}'), "--arch"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--arch-kwargs", "{}"), "--arch-kwargs"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--limit", "0"), "--limit"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--limit", "-5"), "--limit"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--batch-size", "0"), "--batch-size"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--data", str(d / "absent")), "--data"),
    (lambda d: _ev("--model", str(d / "mlp.pth"), "--arch", "mlp", "--data", str(d / "adir")), "--data"),
    (lambda d: ["quantize", "--model", str(d / "mlp.pth"), "--arch", "mlp", "--dataset", "digits", "--method", "uniform",
                "--bits", "3", "--out", str(d / "no_dir" / "q.safetensors")], "--out"),
    (lambda d: ["quantize", "--model", str(d / "mlp.pth"), "--arch", "mlp", "--dataset", "digits", "--method", "uniform",
                "--bits", "3", "--out", str(d / "adir")], "--out"),
    (lambda d: ["quantize", "--model", "mlp", "--method", "uniform", "--bits", "9"], "--bits"),
    (lambda d: ["quantize", "--model", "mlp", "--method", "uniform", "--bits", "3", "--search", "fast"], "--search"),
    (lambda d: ["train", "--model", "mlp", "--dataset", "digits", "--seed", "-1"], "--seed"),
    (lambda d: ["train", "--model", "mlp", "--dataset", "digits", "--out", str(d / "notes.txt")], "--out"),
    (lambda d: ["sweep", "--models", "mlp", "--dataset", "digits", "--limit", "0"], "--limit"),
    (lambda d: ["sweep", "--models", "mlp", "--dataset", "digits", "--out-dir", str(d / "notes.txt")], "--out-dir"),
]


@pytest.mark.parametrize("row", range(len(BAD)))
def test_every_user_error_is_one_line_naming_the_flag_exit_2(files, row, capsys):
    argv, flag = BAD[row][0](files), BAD[row][1]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own checks
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    assert err.count("\n") == 1 and err.startswith("error: ") and flag in err, (argv, err)
    assert "Traceback" not in err


def test_user_error_as_a_process_has_no_traceback(files):
    out = subprocess.run([sys.executable, "-m", "deepnets", "evaluate", "--model", str(files / "whole.pt"), "--arch", "mlp",
                          "--dataset", "digits"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--model" in out.stderr, out.stderr


def test_pt_pth_and_safetensors_weights_give_the_same_accuracy_and_a_folder_evaluates(files, tmp_path, capsys):
    from PIL import Image

    from deepnets import data

    results = []
    for name in ("mlp.safetensors", "mlp.pth", "mlp.pt"):
        assert main(_ev("--model", str(files / name), "--arch", "mlp", "--limit", "40")) == 0
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert results[0] == results[1] == results[2] and results[0]["n"] == 40
    x, y = data.test_subset("digits", 12)  # the digits test images written as 8x8 gray PNGs, one folder per label
    info = data.DATASETS["digits"]
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        (tmp_path / f"{int(label)}").mkdir(exist_ok=True)
        pixels = np.clip(np.rint((img[0].numpy() * info.std + info.mean) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(tmp_path / f"{int(label)}" / f"{i}.png")
    assert main(_ev("--model", str(files / "mlp.pth"), "--arch", "mlp", "--data", str(tmp_path))) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n"] == 12 and 0 <= res["top1"] <= 100
