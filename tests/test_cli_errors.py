"""Hostile arguments to `python -m csrnet_lite train / evaluate / data list` and the error boundary, through
the real command line (tests/cli_harness.py). Each case: the exit code, a message without a traceback,
existing files byte-identical, no stray or temporary files."""
from __future__ import annotations

import argparse
import os
import pickle
import re
import signal
from pathlib import Path

import pytest
import torch

from cli_harness import Case, check, command, huge_png, photo, run_cases, truncated
from csrnet_lite.checkpoint import load_checkpoint
from csrnet_lite.tools.errors import run


def pairs(d: Path, n: int = 3, size: int = 16) -> None:
    """A tiny data root: d/data/input/a000k.png and d/data/target/a000k.png."""
    for k in range(1, n + 1):
        photo(d / "data" / "input" / f"a000{k}.png", size, size)
        photo(d / "data" / "target" / f"a000{k}.png", size, size, mode="L")  # grey: any image will do


def state_dict(path: Path) -> None:
    from csrnet_lite.model import CSRNet
    torch.save(CSRNet().state_dict(), path)


def evil(path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))
    path.write_bytes(pickle.dumps(Evil()))


def both(*makers):
    def setup(d: Path) -> None:
        for make in makers:
            make(d)
    return setup


T = ["train", "--data", "data"]
E = ["evaluate", "--data", "data"]
CASES = [
    # the boundary
    Case("no command", [], 2, r"usage: python -m csrnet_lite"),
    Case("unknown command", ["paint"], 2, r"invalid choice: 'paint'"),
    Case("debug shows the traceback", ["--debug", "train", "--data", "nowhere", "--out", "x.pt"], 1,
         r"Traceback(.|\n)*error: no folder at nowhere"),
    Case("CSRNET_LITE_DEBUG shows the traceback", ["train", "--data", "nowhere", "--out", "x.pt"], 1,
         r"Traceback(.|\n)*error: no folder at nowhere", env={"CSRNET_LITE_DEBUG": "1"}),
    # train: destinations
    Case("train --out replaces a photo", [*T, "--out", "victim.jpg", "--steps", "2"], 1,
         r"--out victim\.jpg exists already; pass --resume victim\.jpg to continue",
         both(pairs, lambda d: photo(d / "victim.jpg"))),
    Case("train --out replaces a checkpoint", [*T, "--out", "done.pt", "--steps", "2"], 1,
         r"--out done\.pt exists already", both(pairs, lambda d: state_dict(d / "done.pt"))),
    Case("train --out a folder", [*T, "--out", "runs", "--steps", "2"], 1, r"--out runs is a folder",
         both(pairs, lambda d: (d / "runs").mkdir())),
    Case("train --out below a file", [*T, "--out", "notes.txt/ck.pt", "--steps", "2"], 1,
         r"notes\.txt is a file, not a folder", both(pairs, lambda d: (d / "notes.txt").write_text("keep"))),
    Case("train --resume a plain state_dict", [*T, "--out", "b.pt", "--resume", "a.pt"], 1,
         r"a\.pt is not a csrnet-lite training checkpoint.*--official PATH",
         both(pairs, lambda d: state_dict(d / "a.pt"), lambda d: state_dict(d / "b.pt"))),
    # train: arguments
    Case("train --steps 0", [*T, "--out", "x.pt", "--steps", "0"], 2, r"--steps: must be a whole number from 1 to 1,000,000,000",
         pairs),
    Case("train --minutes 0", [*T, "--out", "x.pt", "--minutes", "0"], 2, r"--minutes: must be a number above 0 up to 1,000,000",
         pairs),
    Case("train --steps -3", [*T, "--out", "x.pt", "--steps", "-3"], 2, r"--steps: must be a whole number from 1", pairs),
    Case("train --minutes nan", [*T, "--out", "x.pt", "--minutes", "nan"], 2, r"--minutes: must be a number above 0",
         pairs),
    Case("train --threads -1", [*T, "--out", "x.pt", "--threads", "-1"], 2, r"--threads: must be a whole number from 1 to", pairs),
    Case("train --device cuda without one", [*T, "--out", "x.pt", "--device", "cuda"], 1,
         r"device 'cuda': torch finds no CUDA GPU here.*--device cpu", pairs),
    Case("train --device mps without it", [*T, "--out", "x.pt", "--device", "mps"], 1,
         r"device 'mps': Apple's MPS is not available", pairs),
    Case("train --device banana", [*T, "--out", "x.pt", "--device", "banana"], 1, r"unknown device 'banana'", pairs),
    Case("train --data missing", ["train", "--data", "nowhere", "--out", "x.pt"], 1, r"no folder at nowhere"),
    Case("train --resume a malicious pickle", [*T, "--out", "x.pt", "--resume", "evil.pt"], 1,
         r"cannot read evil\.pt as CSRNet weights.*never runs code", both(pairs, lambda d: evil(d / "evil.pt"))),
    Case("train --resume missing", [*T, "--out", "x.pt", "--resume", "gone.pt"], 1, r"no checkpoint at gone\.pt",
         pairs),
    Case("train --official missing", [*T, "--out", "x.pt", "--official", "gone.pth"], 1,
         r"--official gone\.pth: no such file", pairs),
    Case("train on a truncated photo", [*T, "--out", "x.pt", "--steps", "1"], 1, r"cannot decode .*a0002\.png",
         both(pairs, lambda d: truncated(d / "data" / "input" / "a0002.png"))),
    Case("train beside a decompression bomb", [*T, "--out", "x.pt", "--steps", "1"], 0,
         r"a0003.*more than the budget of 100 MP",
         both(pairs, lambda d: huge_png(d / "data" / "input" / "a0003.png", 12000, 12000)), writes=("x.pt",)),
    Case("train writes a new checkpoint", [*T, "--out", "new.pt", "--steps", "2"], 0, "", pairs, writes=("new.pt",)),
    # evaluate
    Case("evaluate --csv a folder", [*E, "--csv", "scores"], 1, r"--csv scores is a folder",
         both(pairs, lambda d: (d / "scores").mkdir())),
    Case("evaluate --csv existing", [*E, "--csv", "s.csv"], 1, r"--csv s\.csv exists already; pass --overwrite",
         both(pairs, lambda d: (d / "s.csv").write_text("keep"))),
    Case("evaluate --model a malicious pickle", [*E, "--model", "evil.pt"], 1, r"never runs code",
         both(pairs, lambda d: evil(d / "evil.pt"))),
    Case("evaluate --model with a non-tensor", [*E, "--model", "odd.pt"], 1, r"odd\.pt .* hold no tensors",
         both(pairs, lambda d: torch.save({"conv1.weight": "x"}, d / "odd.pt"))),
    Case("evaluate --threads 0", [*E, "--threads", "0"], 2, r"--threads: must be a whole number from 1 to", pairs),
    Case("evaluate --official missing", [*E, "--official", "gone.pth"], 1, r"--official gone\.pth: no such file",
         pairs),
    # data list
    Case("data list with a decompression bomb", ["data", "list", "data"], 1,
         r"a0001.*too large to decode safely",
         both(pairs, lambda d: huge_png(d / "data" / "target" / "a0001.png", 30000, 30000))),
    Case("data list of a missing folder", ["data", "list", "nowhere"], 1, r"no folder at nowhere"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case(results, name):
    result = results[name]
    if "traceback" in name:  # the one place a traceback is asked for
        assert result.code == result.case.code and "Traceback" in result.err, result.err
        return
    check(result)


def test_nothing_ran_from_a_pickle(results):
    for name in ("train --resume a malicious pickle", "evaluate --model a malicious pickle"):
        assert not (results[name].folder / "pwned").exists()


def ns(**kwargs) -> argparse.Namespace:
    return argparse.Namespace(**kwargs)


@pytest.mark.parametrize("error, code, message", [
    (ValueError("photo.jpg is broken; use another"), 1, "error: photo.jpg is broken; use another"),
    (PermissionError(13, "Permission denied", "out/x.png"), 1, "error: out/x.png: Permission denied; choose"),
    (OSError(28, "No space left on device", "x.pt"), 1, "error: x.pt: No space left on device; free some"),
    (MemoryError(), 1, "error: out of memory; use smaller photos, or lower CSRNET_LITE_MAX_PIXELS"),
    (RuntimeError("kernel size can't be greater\nthan input"), 1,
     "error: unexpected RuntimeError: kernel size can't be greater\n(run again with --debug"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_the_boundary_turns_every_error_into_a_message(error, code, message, capsys, monkeypatch):
    monkeypatch.delenv("CSRNET_LITE_DEBUG", raising=False)

    def fail(args):
        raise error
    assert run(fail, ns()) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err and len(err.splitlines()) <= 3


def test_sigterm_stops_training_like_ctrl_c(tmp_path):
    pairs(tmp_path)
    proc = command(["train", "--data", "data", "--out", "x.pt", "--recipe", "fast", "--minutes", "5", "--threads", "1"], tmp_path)
    err = ""
    while not re.search(r"\| *[1-9]\d*/\d+ ", err) and proc.poll() is None:  # tqdm: a few steps done
        err += proc.stderr.read(1)
    proc.send_signal(signal.SIGTERM)
    out, rest = proc.communicate(timeout=60)
    err += rest
    assert proc.returncode == 143, err
    assert "Traceback" not in err and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    if "interrupted during a parameter update" not in err:  # else the last complete checkpoint is kept
        assert load_checkpoint(tmp_path / "x.pt")["step"] > 0  # the run so far, ready for --resume
