"""Hostile input, second round, through the real command line (tests/cli_harness.py): TIFFs of every mode
stay readable and upright, outputs never land on what a command reads or on each other, non-regular
destinations are refused (or standard output written through), every number is bounded before work,
the environment and partial state give clear errors, and a report that cannot be printed does not undo
finished work. Each case: the exit code, the message, every file the user did not name as an output
byte-identical, nothing stray left."""
from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_harness import M, Case, check, command, model_file, photo, run_cases, with_model

def pairs(d: Path) -> None:
    for k in (1, 2, 3):
        photo(d / "data" / "input" / f"a000{k}.png")
        photo(d / "data" / "target" / f"a000{k}.png", mode="L")


def tiff(mode: str, orientation: int | None = None):
    """A setup: m.pt and scan.tif, a 24 x 16 (w x h) photo stored in `mode`, with an EXIF orientation."""
    def make(d: Path) -> None:
        base = Image.open(photo(d / "base.png", 16, 24)).convert("RGB")
        (d / "base.png").unlink()
        im = {"LA": lambda: base.convert("L").convert("LA"),
              "I;16": lambda: base.convert("I").point(lambda v: v * 256).convert("I;16")}.get(
            mode, lambda: base.convert(mode))()
        exif = Image.Exif()
        exif[270] = "a scan"  # ImageDescription: kept
        if orientation:
            exif[0x0112] = orientation
        im.save(d / "scan.tif", exif=exif.tobytes())
    return with_model(make)


def jpeg_with_xmp(d: Path) -> None:
    photo(d / "x.jpg", xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>kept</x:xmpmeta>")


def png_with_text(d: Path, bits: int = 8) -> None:
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "kept")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>kept</x:xmpmeta>")
    if bits == 8:
        photo(d / "t.png", pnginfo=info)
    else:  # 16-bit grey, which Pillow writes with text chunks
        Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(d / "t.png", pnginfo=info)


def checkpoint_without(key: str):
    """A setup: data pairs and run.pt, a training checkpoint with `key` removed."""
    def make(d: Path) -> None:
        from csrnet_lite.checkpoint import save_checkpoint
        from csrnet_lite.model import CSRNet
        from csrnet_lite.recipes import History, TrainConfig
        pairs(d)
        net = CSRNet()
        save_checkpoint(d / "run.pt", net, torch.optim.AdamW(net.parameters()), 1,
                        TrainConfig.fast(steps=2, progress=False), History(), torch.Generator().get_state())
        state = torch.load(d / "run.pt", weights_only=True)
        del state[key]
        torch.save(state, d / "run.pt")
    return make


def big_thumb(d: Path) -> None:
    from csrnet_lite.model import CSRNet
    torch.save({"model": CSRNet().state_dict(), "config": {"thumb_size": 30000}}, d / "huge.pt")


def device_node(d: Path) -> None:
    os.mknod(d / "node", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null's device


CAN_MKNOD = os.name == "posix" and os.geteuid() == 0
TIFF_MODES = ["L", "LA", "CMYK", "P", "1", "F", "I;16"]
R = ["retouch", "scan.tif", *M]
E = ["evaluate", "--data", "data"]
CASES = [
    # 1. 8-bit TIFFs of every mode, and orientation
    *[Case(f"tiff {mode}", R, 0, "", tiff(mode), writes=("scan_retouched.tif",)) for mode in TIFF_MODES],
    *[Case(f"tiff orientation {o}", R, 0, "", tiff("RGB", o), writes=("scan_retouched.tif",)) for o in (6, 8)],
    Case("tiff grey scan in place", ["retouch", "scans", *M, "--out", "scans", "--overwrite"], 0, "",
         with_model(lambda d: (d / "scans").mkdir(), lambda d: tiff("L")(d / "scans")), writes=("scans/",)),
    Case("jpeg keeps XMP", ["retouch", "x.jpg", *M], 0, "", with_model(jpeg_with_xmp), writes=("x_retouched.jpg",)),
    Case("png keeps text chunks", ["retouch", "t.png", *M], 0, "", with_model(png_with_text),
         writes=("t_retouched.png",)),
    # 2. an output on an input or on another output
    Case("cube on the output photo", ["retouch", "p.png", *M, "--save-cube", "p_retouched.png"], 1,
         r"output p_retouched\.png and --save-cube p_retouched\.png are the same file",
         with_model(lambda d: photo(d / "p.png"))),
    Case("cube on the input, --overwrite", ["retouch", "p.png", *M, "--save-cube", "p.png", "--overwrite"], 1,
         r"--save-cube p\.png is an input photo, which this command reads; choose another name \(--overwrite "
         r"replaces earlier outputs, never", with_model(lambda d: photo(d / "p.png"))),
    Case("cube on the model, --overwrite", ["retouch", "p.png", *M, "--save-cube", "m.pt", "--overwrite"], 1,
         r"--save-cube m\.pt is the weights file", with_model(lambda d: photo(d / "p.png"))),
    Case("cube on a hard link to the input", ["retouch", "p.png", *M, "--save-cube", "alias", "--overwrite"], 1,
         r"--save-cube alias is an input photo \(p\.png\)",
         with_model(lambda d: os.link(photo(d / "p.png"), d / "alias"))),
    Case("one input is the other's output", ["retouch", "c.jpg", "c_retouched.jpg", *M, "--overwrite"], 1,
         r"output c_retouched\.jpg is an input photo",
         with_model(lambda d: (photo(d / "c.jpg"), photo(d / "c_retouched.jpg")))),
    Case("evaluate --csv on the model, --overwrite", [*E, *M, "--csv", "m.pt", "--overwrite"], 1,
         r"--csv m\.pt is the --model file", with_model(pairs)),
    Case("evaluate --csv on a link to the model", [*E, *M, "--csv", "link", "--overwrite"], 1,
         r"--csv link is the --model file \(m\.pt\)", with_model(pairs, lambda d: (d / "link").symlink_to("m.pt"))),
    Case("evaluate --csv on a data photo", [*E, "--csv", "data/input/a0001.png", "--overwrite"], 1,
         r"is a photo of --data", pairs),
    Case("cv --csv on a data photo", ["cv", "--data", "data", "--csv", "data/target/a0002.png", "--overwrite"], 1,
         r"is a photo of --data", pairs),
    Case("cv --csv existing", ["cv", "--data", "data", "--csv", "s.csv"], 1, r"--csv s\.csv exists already; pass "
         r"--overwrite", lambda d: (pairs(d), (d / "s.csv").write_text("keep"))),
    Case("train --out on the official weights", ["train", "--data", "data", "--official", "w.pth", "--out", "w.pth",
                                                 "--overwrite"], 1, r"--out w\.pth is the authors' weights",
         lambda d: (pairs(d), torch.save({}, d / "w.pth"))),
    Case("train --out on a data photo", ["train", "--data", "data", "--out", "data/input/a0003.png", "--overwrite"],
         1, r"is a photo of --data", pairs),
    # 3. destinations that are not regular files
    Case("--csv a FIFO, --overwrite", [*E, *M, "--csv", "fifo", "--overwrite"], 1,
         r"--csv fifo is not a regular file \(a device, FIFO or socket\), which csrnet-lite never replaces",
         with_model(pairs, lambda d: os.mkfifo(d / "fifo"))),
    Case("--csv a link into /proc", [*E, *M, "--csv", "status", "--overwrite"], 1, r"--csv status is a file of the "
         r"system", with_model(pairs, lambda d: (d / "status").symlink_to("/proc/self/status"))),
    Case("--csv /dev/null, --overwrite", [*E, *M, "--csv", "/dev/null", "--overwrite"], 1,
         r"--csv /dev/null is a file of the system .* pass - for standard output", with_model(pairs)),
    *([Case("--csv a device node, --overwrite", [*E, *M, "--csv", "node", "--overwrite"], 1,
            r"--csv node is not a regular file", with_model(pairs, device_node))] if CAN_MKNOD else []),
    Case("--csv - writes to standard output", [*E, *M, "--csv", "-"], 0, r"per-photo scores: standard output",
         with_model(pairs)),
    Case("--csv /dev/stdout writes through", [*E, *M, "--csv", "/dev/stdout"], 0, r"per-photo scores: standard "
         r"output", with_model(pairs)),
    Case("--save-cube - writes to standard output", ["retouch", "p.png", *M, "--save-cube", "-"], 0,
         r"wrote 1 photo", with_model(lambda d: photo(d / "p.png")), writes=("p_retouched.png",)),
    # 4. numbers bounded before work
    Case("--threads 10000", [*E, *M, "--threads", "10000"], 2, r"--threads: must be a whole number from 1 to \d+",
         with_model(pairs)),
    Case("train --threads 10000", ["train", "--data", "data", "--out", "x.pt", "--threads", "10000"], 2,
         r"--threads: must be a whole number from 1 to", pairs),
    Case("--lut-size 66", ["retouch", "p.png", *M, "--lut-size", "66"], 2, r"--lut-size: must be a whole number "
         r"from 2 to 65, got '66'", with_model(lambda d: photo(d / "p.png"))),
    Case("--seed beyond 64 bits", ["train", "--data", "data", "--out", "x.pt", "--seed", str(2**64)], 2,
         r"--seed: must be a whole number from 0 to 2\*\*64 - 1", pairs),
    Case("--seeds beyond 64 bits", ["cv", "--data", "data", "--seeds", f"0,{2**70}"], 2,
         r"--seeds: takes comma-separated whole numbers from 0 to 2\*\*64 - 1", pairs),
    Case("checkpoint with thumb_size 30000 (retouch)", ["retouch", "p.png", "--model", "huge.pt"], 1,
         r"huge\.pt stores a condition size \(thumb_size\) of 30000", lambda d: (big_thumb(d), photo(d / "p.png"))),
    Case("checkpoint with thumb_size 30000 (evaluate)", [*E, "--model", "huge.pt"], 1,
         r"huge\.pt stores a condition size", lambda d: (big_thumb(d), pairs(d))),
    Case("CSRNET_LITE_DEBUG=off", ["retouch", "gone.png", *M], 1, r"^error: no such photo or folder: gone\.png",
         with_model(), env={"CSRNET_LITE_DEBUG": "off"}),
    Case("CSRNET_LITE_DEBUG=maybe", ["retouch", "gone.png", *M], 1, r"CSRNET_LITE_DEBUG must be one of "
         r"1/true/yes/on \(on\) or 0/false/no/off \(off\), got 'maybe'", with_model(), env={"CSRNET_LITE_DEBUG": "maybe"}),
    Case("CSRNET_LITE_SMOKE=sometimes", [*E, *M], 1, r"CSRNET_LITE_SMOKE must be one of", with_model(pairs),
         env={"CSRNET_LITE_SMOKE": "sometimes"}),
    # 5. environment and partial state
    Case("train with CSRNET_LITE_WEIGHTS missing", ["train", "--data", "data", "--out", "x.pt"], 1,
         r"CSRNET_LITE_WEIGHTS=gone\.pth does not exist; point it at the authors' csrnet\.pth, or unset it", pairs,
         env={"CSRNET_LITE_WEIGHTS": "gone.pth"}),
    Case("train with CSRNET_LITE_WEIGHTS a folder", ["train", "--data", "data", "--out", "x.pt"], 1,
         r"CSRNET_LITE_WEIGHTS=data is a folder", pairs, env={"CSRNET_LITE_WEIGHTS": "data"}),
    Case("retouch --official with CSRNET_LITE_WEIGHTS missing", ["retouch", "p.png", "--official"], 1,
         r"CSRNET_LITE_WEIGHTS=gone\.pth does not exist", lambda d: photo(d / "p.png"),
         env={"CSRNET_LITE_WEIGHTS": "gone.pth"}),
    Case("evaluate --official auto with CSRNET_LITE_WEIGHTS a folder", [*E, "--official", "auto"], 1,
         r"CSRNET_LITE_WEIGHTS=data is a folder", pairs, env={"CSRNET_LITE_WEIGHTS": "data"}),
    Case("resume without optimiser state", ["train", "--data", "data", "--recipe", "fast", "--resume", "run.pt",
                                            "--out", "run.pt", "--steps", "2"], 1,
         r"run\.pt lacks the optimiser state \('optimizer'\), so its training cannot be resumed",
         checkpoint_without("optimizer")),
    Case("resume without history", ["train", "--data", "data", "--recipe", "fast", "--resume", "run.pt",
                                     "--out", "run.pt", "--steps", "2"], 1,
         r"run\.pt lacks the training history \('history'\)", checkpoint_without("history")),
    Case("an ascii-only terminal", ["retouch", "café.png", *M], 0, "", with_model(lambda d: photo(d / "café.png")),
         env={"PYTHONIOENCODING": "ascii"}, writes=("café_retouched.png",)),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("outputs"))


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case(results, name):
    check(results[name])


@pytest.mark.parametrize("name", [c.name for c in CASES if c.name.startswith("tiff")])
def test_tiffs_are_readable_and_upright(results, name):
    folder = results[name].folder
    out = next(folder.rglob("scan_retouched.tif"), None) or folder / "scans" / "scan.tif"
    with Image.open(out) as im:
        im.load()  # decodes: the header and the pixels agree
        assert im.mode in ("RGB", "RGBA") and im.getexif().get(270) == "a scan"
        assert im.size == ((16, 24) if "orientation" in name else (24, 16))  # (w, h) upright
        assert 0x0112 not in im.getexif()


def test_metadata_kept(results):
    with Image.open(results["jpeg keeps XMP"].folder / "x_retouched.jpg") as im:
        assert b"kept" in im.info["xmp"]
    with Image.open(results["png keeps text chunks"].folder / "t_retouched.png") as im:
        assert im.text["Comment"] == "kept" and "kept" in im.text["XML:com.adobe.xmp"]


def test_standard_output_gets_the_csv_and_the_cube(results):
    for name in ("--csv - writes to standard output", "--csv /dev/stdout writes through"):
        lines = results[name].out.splitlines()
        assert lines[0] == "method,id,psnr,ssim,delta_e" and len(lines) > 3, results[name].out
    cube = results["--save-cube - writes to standard output"].out
    assert "LUT_3D_SIZE" in cube and "wrote" not in cube


def test_ascii_terminal_escapes_the_name(results):
    assert r"caf\xe9_retouched.png" in results["an ascii-only terminal"].out


def test_a_16_bit_png_says_what_it_leaves_out(tmp_path):
    model_file(tmp_path / "m.pt")
    png_with_text(tmp_path, bits=16)
    proc = command(["retouch", "t.png", *M], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "t_retouched.png leaves out the text chunks and XMP of t.png" in err


# --- printing after the work is done ---------------------------------------------------------------

def test_full_standard_output_does_not_fail_the_command(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    model_file(tmp_path / "m.pt")
    photo(tmp_path / "p.png")
    with open("/dev/full", "w") as full:
        proc = command(["retouch", "p.png", *M], tmp_path, stdout=full)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "note: the report could not be printed" in err
    assert Image.open(tmp_path / "p_retouched.png").size == (16, 16)


def test_closed_standard_output_does_not_fail_the_command(tmp_path):
    model_file(tmp_path / "m.pt")
    photo(tmp_path / "p.png")
    read, write = os.pipe()
    os.close(read)  # nobody reads: every print meets a closed pipe
    try:
        proc = command(["retouch", "p.png", *M], tmp_path, stdout=write)
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err and "Exception ignored" not in err, err
    assert (tmp_path / "p_retouched.png").is_file()


# --- two writers, a full disk ----------------------------------------------------------------------

def test_two_commands_writing_one_output(tmp_path):
    model_file(tmp_path / "m.pt")
    photo(tmp_path / "p.png", 64, 64)
    procs = [command(["retouch", "p.png", *M], tmp_path) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)
    assert [code for code, _ in outcomes] == [0, 1], outcomes
    assert re.search(r"exists already|appeared while this command ran", outcomes[1][1]), outcomes
    assert Image.open(tmp_path / "p_retouched.png").size == (64, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "p.png", "p_retouched.png"]


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs at tmp_path/full (root only; skipped where mounting is not allowed)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if os.name == "posix" else False
    if not mounted:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_while_writing_a_checkpoint(tmp_path, full_disk):
    pairs(tmp_path)
    (full_disk / "keep.txt").write_text("kept")
    proc = command(["train", "--data", "data", "--recipe", "fast", "--steps", "2", "--out", "full/x.pt"], tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "error: full/x.pt: No space left on device while writing it (left as it was); free some disk space" in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["keep.txt"]  # nothing half-written


def test_save_checkpoint_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    """The same at library level, where no tmpfs can be mounted: the write fails with ENOSPC."""
    from csrnet_lite.checkpoint import save_checkpoint
    from csrnet_lite.model import CSRNet
    from csrnet_lite.recipes import History, TrainConfig

    def no_space(self, data):
        with open(self, "wb") as f:
            f.write(bytes(data)[:100])  # part of it, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Path, "write_bytes", no_space)
    net = CSRNet()
    with pytest.raises(OSError) as caught:
        save_checkpoint(tmp_path / "x.pt", net, torch.optim.AdamW(net.parameters()), 1, TrainConfig.fast(steps=2),
                        History(), torch.Generator().get_state())
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_exclusive_never_replaces_a_file_written_meanwhile(tmp_path):
    from csrnet_lite.files import atomic_path, exclusive
    target = tmp_path / "out.csv"
    with exclusive([target]):
        with pytest.raises(FileExistsError, match="appeared while this command ran"):
            with atomic_path(target) as tmp:
                tmp.write_text("mine")
                target.write_text("theirs")  # another process got there first
        assert target.read_text() == "theirs"
        target.unlink()
    with exclusive([target]):  # after its first write the name is ours: later writes replace it
        for text in ("first", "second"):
            with atomic_path(target) as tmp:
                tmp.write_text(text)
    assert target.read_text() == "second" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_help_states_every_range():
    from csrnet_lite.tools.cli import parser
    sub = parser()._subparsers._group_actions[0].choices
    for command_name, option in [("train", "--threads"), ("train", "--seed"), ("retouch", "--lut-size"),
                                 ("retouch", "--strength"), ("cv", "--seeds"), ("evaluate", "--threads")]:
        text = sub[command_name].format_help()
        entry = text.split(f"\n  {option}", 1)[1].split("\n  -", 1)[0]  # the option's own help
        assert "range:" in entry, (command_name, option, text)


def test_the_command_lines_bounds_agree_with_the_library():
    from csrnet_lite import recipes
    from csrnet_lite.tools import arguments
    assert arguments.MAX_SEED == recipes.MAX_SEED
    from PIL import ImageFilter
    ImageFilter.Color3DLUT(arguments.MAX_LUT_SIZE, [0.5] * 3 * arguments.MAX_LUT_SIZE**3)  # accepted
    with pytest.raises(ValueError):
        ImageFilter.Color3DLUT(arguments.MAX_LUT_SIZE + 1, [0.5] * 3 * (arguments.MAX_LUT_SIZE + 1)**3)
