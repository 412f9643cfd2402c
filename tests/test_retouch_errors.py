"""Hostile input to `python -m csrnet_lite retouch`, through the real command line (tests/cli_harness.py):
bad photos, bad weights, bad destinations, signals. Each case: the exit code, a message without a
traceback, existing files byte-identical, no stray or temporary files."""
from __future__ import annotations

import os
import pickle
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_harness import M, Case, check, command, huge_png, model_file, photo, run_cases, truncated, with_model

def evil_pickle(d: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))
    (d / "evil.pt").write_bytes(pickle.dumps(Evil()))


def non_tensor_state(d: Path) -> None:
    from csrnet_lite.model import CSRNet
    state = CSRNet().state_dict()
    state["conv1.weight"] = [[1.0, 2.0]]
    torch.save(state, d / "odd.pt")


def folder_with_a_bad_photo(d: Path) -> None:
    for name in ("a.png", "b.png", "c.jpg"):
        photo(d / "in" / name)
    truncated(d / "in" / "b.png")


def multi_frame(d: Path) -> None:
    frames = [Image.open(photo(d / f"f{i}.png", 8, 8)).convert("RGB") for i in range(2)]
    frames[0].save(d / "pages.tif", save_all=True, append_images=frames[1:])
    for i in range(2):
        (d / f"f{i}.png").unlink()


CASES = [
    # photos
    Case("truncated PNG", ["retouch", "bad.png", *M], 1, r"cannot decode bad\.png",
         with_model(lambda d: truncated(photo(d / "bad.png", 64, 64)))),
    Case("truncated JPEG", ["retouch", "bad.jpg", *M], 1, r"cannot decode bad\.jpg",
         with_model(lambda d: truncated(photo(d / "bad.jpg", 64, 64)))),
    Case("decompression bomb header", ["retouch", "bomb.png", *M], 1, r"bomb\.png is 12000 x 12000 = 144 MP, more than the budget of 100 MP",
         with_model(lambda d: huge_png(d / "bomb.png", 12000, 12000))),
    Case("bomb past Pillow's own limit", ["retouch", "bomb.png", *M], 1, r"bomb\.png is too large to decode safely",
         with_model(lambda d: huge_png(d / "bomb.png", 30000, 30000)), env={"CSRNET_LITE_MAX_PIXELS": "1e12"}),
    Case("over a small budget", ["retouch", "p.png", *M], 1, r"p\.png is 16 x 16 .* CSRNET_LITE_MAX_PIXELS=256",
         with_model(lambda d: photo(d / "p.png")), env={"CSRNET_LITE_MAX_PIXELS": "100"}),
    Case("malformed budget", ["retouch", "p.png", *M], 1, r"CSRNET_LITE_MAX_PIXELS must be a positive number",
         with_model(lambda d: photo(d / "p.png")), env={"CSRNET_LITE_MAX_PIXELS": "lots"}),
    Case("multi-page TIFF", ["retouch", "pages.tif", *M], 1, r"pages\.tif holds 2 images", with_model(multi_frame)),
    Case("not an image", ["retouch", "fake.jpg", *M], 1, r"fake\.jpg: not an image",
         with_model(lambda d: (d / "fake.jpg").write_text("hello"))),
    Case("RGBA keeps its alpha", ["retouch", "rgba.png", *M], 0, "", with_model(lambda d: photo(d / "rgba.png", mode="RGBA")),
         writes=("rgba_retouched.png",)),
    Case("1x1 photo with the long-edge view", ["retouch", "dot.png", "--model", "m512.pt"], 0, "",
         lambda d: (model_file(d / "m512.pt", None), photo(d / "dot.png", 1, 1)), writes=("dot_retouched.png",)),
    Case("1x5000 sliver with the long-edge view", ["retouch", "line.png", "--model", "m512.pt"], 0, "",
         lambda d: (model_file(d / "m512.pt", None), photo(d / "line.png", 1, 5000)),
         writes=("line_retouched.png",)),
    # weights
    Case("weights: random bytes", ["retouch", "p.png", "--model", "junk.pt"], 1, r"cannot read junk\.pt as CSRNet weights",
         lambda d: (photo(d / "p.png"), (d / "junk.pt").write_bytes(os.urandom(4000)))),
    Case("weights: a JPEG", ["retouch", "p.png", "--model", "p.jpg"], 1, r"cannot read p\.jpg as CSRNet weights",
         lambda d: (photo(d / "p.png"), photo(d / "p.jpg"))),
    Case("weights: a malicious pickle", ["retouch", "p.png", "--model", "evil.pt"], 1, r"never runs code",
         lambda d: (photo(d / "p.png"), evil_pickle(d))),
    Case("weights: a non-tensor entry", ["retouch", "p.png", "--model", "odd.pt"], 1, r"odd\.pt .*conv1\.weight.* no tensors",
         lambda d: (photo(d / "p.png"), non_tensor_state(d))),
    Case("weights: missing", ["retouch", "p.png", "--model", "none.pt"], 1, r"no model file at none\.pt",
         lambda d: photo(d / "p.png")),
    # destinations
    Case("--out result.jpg (a file name)", ["retouch", "p.png", *M, "--out", "result.jpg"], 1, r"--out result\.jpg looks like a file name",
         with_model(lambda d: photo(d / "p.png"))),
    Case("--out an existing file", ["retouch", "p.png", *M, "--out", "notes.txt"], 1, r"--out notes\.txt is a file",
         with_model(lambda d: (photo(d / "p.png"), (d / "notes.txt").write_text("keep me")))),
    Case("--out below a file", ["retouch", "p.png", *M, "--out", "notes.txt/sub"], 1, r"notes\.txt is a file, not a folder",
         with_model(lambda d: (photo(d / "p.png"), (d / "notes.txt").write_text("keep me")))),
    Case("existing output", ["retouch", "p.png", *M], 1, r"p_retouched\.png exists already; pass --overwrite",
         with_model(lambda d: (photo(d / "p.png"), photo(d / "p_retouched.png", 4, 4)))),
    Case("output that is a folder", ["retouch", "p.png", *M], 1, r"p_retouched\.png is a folder",
         with_model(lambda d: (photo(d / "p.png"), (d / "p_retouched.png").mkdir()))),
    Case("the input itself", ["retouch", "p.png", *M, "--out", "."], 1, r"is the input itself",
         with_model(lambda d: photo(d / "p.png"))),
    Case("--save-cube a folder", ["retouch", "p.png", *M, "--save-cube", "cubes"], 1, r"--save-cube cubes is a folder",
         with_model(lambda d: (photo(d / "p.png"), (d / "cubes").mkdir()))),
    Case("--save-cube existing", ["retouch", "p.png", *M, "--save-cube", "x.cube"], 1, r"x\.cube exists already",
         with_model(lambda d: (photo(d / "p.png"), (d / "x.cube").write_text("LUT_3D_SIZE 2\n")))),
    # arguments
    Case("--strength nan", ["retouch", "p.png", *M, "--strength", "nan"], 2, r"--strength: must be a number from 0 to 1, got 'nan'",
         with_model(lambda d: photo(d / "p.png"))),
    Case("--lut-size 1", ["retouch", "p.png", *M, "--lut-size", "1"], 2, r"--lut-size: must be a whole number from 2 to 65",
         with_model(lambda d: photo(d / "p.png"))),
    Case("no weights option", ["retouch", "p.png"], 2, r"one of the arguments --model --official is required",
         lambda d: photo(d / "p.png")),
    # folders
    Case("folder with one bad photo", ["retouch", "in", *M], 1, r"1 of 3 photos failed:\n  .*in/b\.png.*\n.*--skip-existing",
         with_model(folder_with_a_bad_photo), writes=("in_retouched", "in_retouched/a.png", "in_retouched/c.jpg")),
    Case("--skip-existing finishes a folder", ["retouch", "in", *M, "--skip-existing"], 0, "",
         with_model(lambda d: (photo(d / "in" / "a.png"), photo(d / "in" / "b.png"),
                               photo(d / "in_retouched" / "a.png", 4, 4))), writes=("in_retouched/b.png",)),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("retouch"))


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case(results, name):
    check(results[name])


def test_outputs_are_right_where_the_command_succeeds(results):
    rgba = results["RGBA keeps its alpha"]
    with Image.open(rgba.folder / "rgba.png") as a, Image.open(rgba.folder / "rgba_retouched.png") as b:
        assert b.mode == "RGBA" and np.array_equal(np.asarray(a)[:, :, 3], np.asarray(b)[:, :, 3])
    for name, size in (("1x1 photo with the long-edge view", (1, 1)),
                       ("1x5000 sliver with the long-edge view", (5000, 1))):
        out = next(results[name].folder.glob("*_retouched.png"))
        assert Image.open(out).size == size
    folder = results["folder with one bad photo"].folder / "in_retouched"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "c.jpg"]
    assert not (results["weights: a malicious pickle"].folder / "pwned").exists()
    assert not (results["--out result.jpg (a file name)"].folder / "result.jpg").exists()


def test_outputs_follow_the_umask(tmp_path):
    model_file(tmp_path / "m.pt")
    photo(tmp_path / "p.png")
    photo(tmp_path / "q.png")
    (tmp_path / "q_retouched.png").write_bytes(b"old")
    os.chmod(tmp_path / "q_retouched.png", 0o640)
    old = os.umask(0o022)
    try:
        proc = command(["retouch", "p.png", "q.png", *M, "--overwrite"], tmp_path)
        out, err = proc.communicate(timeout=120)
    finally:
        os.umask(old)
    assert proc.returncode == 0, err
    assert stat.S_IMODE((tmp_path / "p_retouched.png").stat().st_mode) == 0o644  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "q_retouched.png").stat().st_mode) == 0o640  # kept on --overwrite


def test_stale_temporary_files_of_a_killed_run_are_swept(tmp_path):
    model_file(tmp_path / "m.pt")
    photo(tmp_path / "p.png")
    dead = tmp_path / ".p_retouched.png.csrnet-999999999-0badf00d.part"  # no process has this id
    alive = tmp_path / f".x.png.csrnet-{os.getpid()}-0badf00d.part"  # a running writer's: kept
    other = tmp_path / ".notes.part"  # not ours: kept
    for path in (dead, alive, other):
        path.write_bytes(b"")
    proc = command(["retouch", "p.png", *M], tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not dead.exists() and alive.exists() and other.exists()


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signals_leave_no_temporary_files(tmp_path, signum, code):
    model_file(tmp_path / "m.pt")
    for i in range(40):
        photo(tmp_path / "in" / f"{i:02d}.png", 96, 128)
    proc = command(["retouch", "in", *M, "--lut-size", "33"], tmp_path)
    out_dir = tmp_path / "in_retouched"
    deadline = time.monotonic() + 120
    while not (out_dir.is_dir() and any(out_dir.iterdir())) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    names = [p.name for p in out_dir.iterdir()]  # the signal came during the first write, or later
    assert not [n for n in names if n.startswith(".")], names  # finished photos only
    for name in names:
        Image.open(out_dir / name).load()  # each complete
