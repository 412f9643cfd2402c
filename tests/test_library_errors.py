"""Hostile input to the library's file and value checks (in-process): atomic files (permissions, fsync,
stale temporary files), output checks, .cube numbers, operator inputs, weights files, image headers."""
from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_harness import huge_png, photo, truncated
from csrnet_lite import ops
from csrnet_lite.checkpoint import load_model
from csrnet_lite.files import atomic_path, check_output_dir, check_output_file, sweep_stale
from csrnet_lite.image import Resize, load_image
from csrnet_lite.lut import identity_lut, photo_modulations
from csrnet_lite.model import CondView, CSRNet
from csrnet_lite.settings import max_pixels
from csrnet_lite.tools.cube import read_cube, write_cube
from csrnet_lite.image_files import check_file
from csrnet_lite.tools.retouch import retouch_file

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes into read-only folders


# --- atomic files ----------------------------------------------------------------------------------

def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640
    os.chmod(tmp_path / "new.txt", 0o604)
    with atomic_path(tmp_path / "new.txt") as tmp:
        tmp.write_text("y")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o604


def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    with atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"data")
    assert calls[:2] == ["fsync", "replace"]


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "x.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"] and (tmp_path / "x.txt").read_text() == "old"


def test_stale_temporaries_of_ended_processes_are_swept(tmp_path):
    dead = tmp_path / ".a.pt.csrnet-999999999-00aa.part"
    mine = tmp_path / f".b.pt.csrnet-{os.getpid()}-00bb.part"
    foreign = tmp_path / ".c.part"
    for p in (dead, mine, foreign):
        p.write_bytes(b"")
    assert sweep_stale(tmp_path) == [dead]
    assert mine.exists() and foreign.exists()


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "out").mkdir(), "is a folder"),
    (lambda d: (d / "out").write_text("x"), "exists already; pass --overwrite"),
])
def test_output_file_checks(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(OSError, match=message):
        check_output_file(tmp_path / "out")


def test_output_below_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        check_output_file(tmp_path / "f" / "deeper" / "out.pt")
    assert check_output_file(tmp_path / "new" / "deeper" / "out.pt") == tmp_path / "new" / "deeper" / "out.pt"
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.skipif(AS_ROOT, reason="root may write into read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        with pytest.raises(PermissionError, match="permission denied"):
            check_output_dir(tmp_path / "ro" / "sub")
    finally:
        os.chmod(tmp_path / "ro", 0o755)


# --- .cube numbers ---------------------------------------------------------------------------------

def cube(tmp_path: Path, row: str, keyword: str = "") -> Path:
    rows = ["0 0 0"] * 7 + [row]
    path = tmp_path / "x.cube"
    path.write_text("\n".join([keyword, "LUT_3D_SIZE 2", *rows]) + "\n")
    return path


@pytest.mark.parametrize("row", ["1_0 0 0", "1e39 0 0", "nan 0 0", "inf 0 0", "-inf 0 0", "0x10 0 0",
                                 "1,0 0 0", "1 0", "1 0 0 0", "１ 0 0"])
def test_malformed_cube_numbers_are_refused_naming_the_line(tmp_path, row):
    with pytest.raises(ValueError, match=r"x\.cube, line 10: expected a table row"):
        read_cube(cube(tmp_path, row))


@pytest.mark.parametrize("keyword", ["DOMAIN_MIN nan 0 0", "DOMAIN_MAX 1 1 1e40", "LUT_3D_INPUT_RANGE 0 inf"])
def test_malformed_cube_domains_are_refused(tmp_path, keyword):
    with pytest.raises(ValueError, match=r"line 1: expected"):
        read_cube(cube(tmp_path, "1 1 1", keyword))


def test_plain_cube_numbers_still_read(tmp_path):
    lut = read_cube(cube(tmp_path, "+1.0 .5 1e-3")).lut
    assert lut[1, 1, 1].tolist() == pytest.approx([1.0, 0.5, 1e-3])
    write_cube(tmp_path / "y.cube", identity_lut(3))
    assert torch.equal(read_cube(tmp_path / "y.cube").lut, identity_lut(3))


# --- operators -------------------------------------------------------------------------------------

OPERATORS = [lambda x: ops.brightness(x, 1.2), lambda x: ops.exposure(x, 0.5), lambda x: ops.contrast(x, 1.2),
             lambda x: ops.saturation(x, 1.2), lambda x: ops.white_balance(x, (1, 1, 1)),
             lambda x: ops.offset(x, 0.1), lambda x: ops.tone_curve(x, [0, 1], [0, 1])]


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("bad, message", [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"),
                                          (200.0, r"divide 8-bit data by 255")])
def test_operators_refuse_nan_and_0_255_data(op, bad, message):
    x = torch.rand(1, 3, 4, 4)
    x[0, 1, 2, 3] = bad
    with pytest.raises(ValueError, match=message):
        op(x)


def test_operators_still_chain_past_one():
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(ops.brightness(ops.brightness(x, 2.0), 0.5), x)  # values up to 2 in between


@pytest.mark.parametrize("factor", [float("nan"), float("inf"), -1.0])
def test_operator_factors_must_be_finite(factor):
    with pytest.raises(ValueError, match="brightness factor must be a finite number"):
        ops.brightness(torch.rand(1, 3, 2, 2), factor)


# --- weights files ---------------------------------------------------------------------------------

class Evil:
    def __reduce__(self):
        return (os.system, ("echo never",))


@pytest.mark.parametrize("content", [os.urandom(2000), pickle.dumps(Evil()), b"\xff\xd8\xff\xe0 a JPEG"])
def test_unreadable_weights_never_suggest_loading_unsafely(tmp_path, content):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_model(path)
    text = str(info.value)
    assert "cannot read" in text and "never runs code" in text
    assert "weights_only" not in text and "safe_globals" not in text and "\n" not in text


@pytest.mark.parametrize("entry, message", [([1.0], "hold no tensors"), ("x", "hold no tensors"),
                                            (torch.full((32, 3, 7, 7), float("nan")), "NaN or infinite")])
def test_state_dicts_with_odd_entries_are_refused(tmp_path, entry, message):
    state = CSRNet().state_dict()
    state["cond_net.conv1.weight"] = entry
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ValueError, match=message) as info:
        load_model(tmp_path / "w.pt")
    assert "cannot read" not in str(info.value)  # readable, just not a CSRNet


# --- image files -----------------------------------------------------------------------------------

def test_pixel_budget_is_checked_from_the_header(tmp_path, monkeypatch):
    bomb = huge_png(tmp_path / "bomb.png", 20000, 8000)  # 160 MP in 100 bytes
    with pytest.raises(ValueError, match=r"20000 x 8000 = 160 MP, more than the budget of 100 MP"):
        load_image(bomb)
    with pytest.raises(ValueError, match="too large to decode safely"):
        check_file(huge_png(tmp_path / "b2.png", 30000, 30000), budget=10 ** 12)
    small = photo(tmp_path / "p.png", 10, 10)
    with pytest.raises(ValueError, match="budget of 5e-05 MP"):
        check_file(small, budget=50)
    monkeypatch.setenv("CSRNET_LITE_MAX_PIXELS", "99")
    assert max_pixels() == 99
    with pytest.raises(ValueError, match="more than the budget"):
        load_image(small)
    monkeypatch.setenv("CSRNET_LITE_MAX_PIXELS", "-5")
    with pytest.raises(ValueError, match="CSRNET_LITE_MAX_PIXELS must be a positive number"):
        max_pixels()


def test_truncated_and_multi_frame_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(truncated(photo(tmp_path / "t.png", 64, 64)))
    frames = [Image.new("RGB", (4, 4), c) for c in ("red", "blue", "green")]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="holds 3 images"):
        load_image(tmp_path / "m.tif")
    frames[0].save(tmp_path / "m.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="holds 3 images"):
        load_image(tmp_path / "m.gif")


def test_retouch_keeps_transparency_and_adds_none(tmp_path):
    model = CSRNet().eval()
    rgba = photo(tmp_path / "a.png", 6, 9, mode="RGBA")
    retouch_file(model, rgba, tmp_path / "a_out.png", size=9)
    with Image.open(tmp_path / "a_out.png") as out:
        assert out.mode == "RGBA" and out.size == (9, 6)
        assert np.array_equal(np.asarray(out)[:, :, 3], np.asarray(Image.open(rgba))[:, :, 3])
    retouch_file(model, photo(tmp_path / "b.png"), tmp_path / "b_out.png", size=9)
    assert Image.open(tmp_path / "b_out.png").mode == "RGB"
    palette = Image.new("P", (3, 2))
    palette.save(tmp_path / "p.png", transparency=0)
    retouch_file(model, tmp_path / "p.png", tmp_path / "p_out.png", size=9)
    assert np.asarray(Image.open(tmp_path / "p_out.png").getchannel("A")).max() == 0  # all transparent


@pytest.mark.parametrize("h, w", [(1, 1), (1, 5000), (3, 2), (4000, 2)])
def test_tiny_photos_get_a_condition_view_the_network_can_take(h, w):
    photo_ = torch.rand(1, 3, h, w)
    view = CondView(None, Resize.LONG_512)(photo_)
    assert min(view.shape[-2:]) >= 8
    mods = photo_modulations(CSRNet(), photo_, CondView(None, Resize.LONG_512))
    assert torch.isfinite(mods.cond).all()
