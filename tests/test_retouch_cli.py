"""`python -m csrnet_lite retouch` (csrnet_lite.tools.retouch): photos in, retouched photos out, with their
format, bit depth, orientation and metadata; the condition view each model source gets; inputs never
overwritten unless asked; clear errors; atomic writes."""
from __future__ import annotations

import csv
import functools
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from csrnet_lite.checkpoint import OFFICIAL_VIEW, load_model, load_official
from csrnet_lite.image import Resize, load_image, quantize, save_image, to_numpy, to_tensor
from csrnet_lite.lut import apply_lut, identity_lut
from csrnet_lite.metrics import psnr
from csrnet_lite.model import CondView
from csrnet_lite.tools.cli import main
from csrnet_lite.tools.cube import read_cube
from csrnet_lite.image_files import stored_bits
from csrnet_lite.tools.retouch import apply_lut_8bit, retouch_file, retouch_photo
from test_lut import photo_like, random_csrnet

MAKE = 0x010F  # EXIF tags used below
ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(random_csrnet().state_dict(), path)
    return path


def expected(path: Path) -> np.ndarray:
    """What the retouch of the photo file `path` should contain, as uint8 (H, W, 3)."""
    return quantize(to_numpy(retouch_photo(random_csrnet(), load_image(path), view=OFFICIAL_VIEW))).astype(int)


def pixels(path: Path) -> np.ndarray:
    return quantize(to_numpy(load_image(path))).astype(int)


def run(*args) -> int:
    return main(["retouch", *map(str, args)])


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile (made once: its header records the time of creation)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_jpeg_keeps_orientation_icc_and_exif(model_file, tmp_path):
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    exif[MAKE] = "csrnet-lite test"
    src = tmp_path / "photo.jpg"
    Image.fromarray(photo_like(48, 64, noise=2)).save(src, quality=95, exif=exif.tobytes(), icc_profile=srgb_profile())
    assert run(src, "--model", model_file) == 0
    out = tmp_path / "photo_retouched.jpg"
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (48, 64)  # stored upright: width and height swapped
        assert im.info["icc_profile"] == srgb_profile()
        assert im.getexif()[MAKE] == "csrnet-lite test" and ORIENTATION not in im.getexif()
    truth = expected(src)
    assert np.abs(pixels(out) - truth).mean() < 2 and truth.std() > 20  # JPEG's loss only, on a real retouch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo_retouched.jpg"]


def test_folder_of_pngs_with_cube_and_strength(model_file, tmp_path, capsys):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(photo_like(20 + i, 30)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not a photo")
    assert run(folder, "--model", model_file, "--lut-size", 17) == 0
    outputs = folder.parent / "shoot_retouched"
    assert sorted(p.name for p in outputs.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    for i in range(3):
        truth = quantize(to_numpy(retouch_photo(random_csrnet(), load_image(folder / f"img{i}.png"), size=17,
                                                           view=OFFICIAL_VIEW)))
        # PNG is lossless; 8-bit photos go through Pillow's Color3DLUT, within one level of the torch path
        assert np.abs(pixels(outputs / f"img{i}.png") - truth.astype(int)).max() <= 1
    src = folder / "img0.png"
    assert run(src, "--model", model_file, "--out", tmp_path / "half", "--strength", 0.5, "--lut-size", 17,
               "--save-cube", tmp_path / "look.cube") == 0
    cube = read_cube(tmp_path / "look.cube")
    halfway = quantize(to_numpy(apply_lut(load_image(src), cube.lut))).astype(int)
    assert np.abs(pixels(tmp_path / "half" / "img0.png") - halfway).max() <= 1  # the .cube is the retouch
    full = pixels(outputs / "img0.png")
    inside = (full > 0) & (full < 255)  # where clamping keeps the blend linear
    assert np.abs(2 * halfway - pixels(src) - full)[inside].max() <= 2  # strength 0.5: halfway there
    assert "wrote 1 photo" in capsys.readouterr().out


def test_16bit_png_stays_16bit(model_file, tmp_path):
    ramp = (np.linspace(0, 65535, 40 * 30 * 3) % 65536).astype(np.uint16).reshape(30, 40, 3)
    src = tmp_path / "deep.png"
    write_png16(src, ramp)
    assert run(src, "--model", model_file) == 0
    out = tmp_path / "deep_retouched.png"
    assert png_bit_depth(out) == 16
    truth = retouch_photo(random_csrnet(), load_image(src), view=OFFICIAL_VIEW).clamp(0, 1)
    assert (load_image(out) - truth).abs().max() <= 1 / 65535  # 16-bit rounding only


def test_16bit_tiff_keeps_orientation_icc_and_exif(model_file, tmp_path):
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways
    exif[MAKE] = "csrnet-lite test"
    sideways = torch.from_numpy(photo_like(30, 40).astype(np.float32) / 255).permute(2, 0, 1)[None]
    src = save_image(sideways, tmp_path / "deep.tif", bits=16, icc_profile=srgb_profile(),
                     exif=exif.tobytes())
    assert run(src, "--model", model_file, "--lut-size", 17) == 0
    out = tmp_path / "deep_retouched.tif"
    assert stored_bits(out) == 16
    with Image.open(out) as im:
        assert im.size == (30, 40)  # stored upright: width and height swapped
        assert im.info["icc_profile"] == srgb_profile()
        assert im.getexif()[MAKE] == "csrnet-lite test" and ORIENTATION not in im.getexif()
    truth = retouch_photo(random_csrnet(), load_image(src), size=17, view=OFFICIAL_VIEW).clamp(0, 1)
    assert (load_image(out) - truth).abs().max() <= 1 / 65535


def write_png16(path: Path, a: np.ndarray) -> None:
    """A minimal 16-bit RGB PNG written by hand (Pillow cannot), so this test has its own reference."""
    import zlib

    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))  # filter 0 on each row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_bit_depth(path: Path) -> int:
    return path.read_bytes()[24]  # IHDR's bit depth byte


def test_never_overwrites_unless_asked(model_file, tmp_path, capsys):
    src = tmp_path / "photo.png"
    Image.fromarray(photo_like(16, 16)).save(src)
    before = src.read_bytes()
    small = ["--model", model_file, "--lut-size", 9]  # any size: this test is about files
    assert run(src, *small, "--out", tmp_path) == 1  # the output would be the input
    assert "is the input itself" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert run(src, *small) == 0
    assert run(src, *small) == 1  # photo_retouched.png exists now
    assert "exists already" in capsys.readouterr().err
    assert run(src, *small, "--out", tmp_path, "--overwrite") == 0
    assert src.read_bytes() != before and sorted(p.name for p in tmp_path.iterdir()) == [
        "photo.png", "photo_retouched.png"]


@pytest.mark.parametrize("problem, message", [
    ("missing", "no such photo or folder"),
    ("not an image", "not an image Pillow can read"),
    ("wrong type", "unsupported file type '.txt'"),
    ("empty folder", "no photos"),
    ("not a CSRNet", "not a CSRNet checkpoint"),
    ("not a checkpoint", "cannot read"),
    ("two photos, one cube", "--save-cube FILE takes one input photo"),
    ("photo after --official", "--official takes the weights file"),
])
def test_clear_errors(problem, message, model_file, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(photo_like(16, 16)).save(photo)
    model, args = model_file, [photo]
    if problem == "missing":
        args = [tmp_path / "nope.jpg"]
    elif problem == "not an image":
        args = [tmp_path / "fake.jpg"]
        args[0].write_text("hello")
    elif problem == "wrong type":
        args = [tmp_path / "notes.txt"]
        args[0].write_text("hello")
    elif problem == "empty folder":
        args = [tmp_path / "empty"]
        args[0].mkdir()
    elif problem == "not a CSRNet":
        model = tmp_path / "other.pt"
        torch.save({"weight": torch.zeros(3)}, model)
    elif problem == "not a checkpoint":
        model = tmp_path / "junk.pt"
        model.write_bytes(b"junk")
    elif problem == "photo after --official":
        model, args = None, ["--official", photo, photo]
    else:
        args = [photo, photo.with_name("copy.png"), "--save-cube", tmp_path / "x.cube"]
        Image.fromarray(photo_like(16, 16)).save(args[1])
    files = sorted(tmp_path.rglob("*"))
    assert run(*args, *(["--model", model] if model else [])) == 1
    assert message in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == files  # nothing written


def test_failed_batch_leaves_no_stray_files(model_file, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photo_like(32, 32)).save(folder / "a.png")
    Image.fromarray(photo_like(64, 64)).save(folder / "b.jpg")
    (folder / "b.jpg").write_bytes((folder / "b.jpg").read_bytes()[:-1000])  # header intact, data cut
    assert run(folder, "--model", model_file, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "cannot decode" in err and "1 of 2 photos failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]  # the others are done


def test_failed_write_leaves_no_stray_files(monkeypatch, tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(photo_like(16, 16)).save(src)

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        retouch_file(random_csrnet(), src, tmp_path / "out" / "photo.png")
    assert list((tmp_path / "out").iterdir()) == []


def test_official_weights_see_long_edge_512(shared_weights, tmp_path):
    """--official: the condition network sees the photo at long edge 512, the size the authors trained on."""
    src = tmp_path / "photo.png"
    Image.fromarray(photo_like(600, 800, noise=4)).save(src)
    assert run(src, "--official", shared_weights / "csrnet_official.pth", "--lut-size", 33) == 0
    official = load_official(shared_weights / "csrnet_official.pth")
    photo = load_image(src)
    out = pixels(tmp_path / "photo_retouched.png")
    truth = quantize(to_numpy(retouch_photo(official, photo, size=33, view=CondView.LONG_512))).astype(int)
    thumb = quantize(to_numpy(retouch_photo(official, photo, size=33, view=CondView.THUMB_128))).astype(int)
    assert np.abs(out - truth).max() <= 1  # PNG: lossless; Pillow's Color3DLUT: within one level
    assert np.abs(out - pixels(src)).mean() > 2 and np.abs(thumb - truth).max() >= 2  # the view matters


def test_load_model_picks_the_trained_view(model_file, shared_weights, tmp_path):
    assert load_model(shared_weights / "csrnet_official.pth")[1] == CondView.LONG_512 == OFFICIAL_VIEW
    assert load_model(model_file)[1] == CondView.LONG_512  # a bare state_dict: the authors' convention
    state = random_csrnet().state_dict()
    trained = [(64, CondView(64)), (None, CondView(None, Resize.LONG_512)), (128, CondView.THUMB_128)]
    for thumb, view in trained:
        path = tmp_path / f"checkpoint_{thumb}.pt"
        torch.save({"model": state, "config": {"recipe": "test", "thumb_size": thumb}}, path)
        model, chosen = load_model(path)
        assert chosen == view and torch.equal(model.conv1.weight, state["conv1.weight"])


def test_a_bare_state_dict_is_seen_alike_by_evaluate_and_retouch(model_file, tmp_path, capsys):
    """One decision for bare state_dicts: the same file scores in `evaluate` what `retouch` writes."""
    root = tmp_path / "data"
    for i, (height, width) in enumerate(((40, 56), (48, 40))):
        x = torch.from_numpy(photo_like(height, width, noise=4)).permute(2, 0, 1)[None].float() / 255
        save_image(x, root / "input" / f"a{i + 1:04d}.png")
        save_image((x * 1.1).clamp(0, 1), root / "target" / f"a{i + 1:04d}.png")
    scores = tmp_path / "scores.csv"
    assert main(["evaluate", "--data", str(root), "--model", str(model_file), "--csv", str(scores)]) == 0
    assert run(root / "input", "--model", model_file, "--out", tmp_path / "out", "--lut-size", 65) == 0
    rows = [r for r in csv.DictReader(open(scores)) if r["method"] == model_file.name]
    assert len(rows) == 2
    for row in rows:
        written = load_image(tmp_path / "out" / f"{row['id']}.png")
        target = load_image(root / "target" / f"{row['id']}.png")
        assert float(psnr(written, target)[0]) == pytest.approx(float(row["psnr"]), abs=0.05)


def test_pillow_applies_a_lut_within_one_level_of_the_torch_path():
    """The 8-bit path (Pillow's Color3DLUT) against `lut.apply_lut`, on a LUT that leaves [0, 1]."""
    lut = identity_lut(33) ** 0.7 * 1.15 - 0.05
    lut = lut[..., [1, 0, 2]] * torch.tensor([1.0, 0.9, 1.1])  # channels mixed, some values beyond [0, 1]
    a = photo_like(120, 160, noise=20)
    out = np.asarray(apply_lut_8bit(Image.fromarray(a), lut)).astype(int)
    truth = quantize(to_numpy(apply_lut(to_tensor(a), lut))).astype(int)
    assert np.abs(out - truth).max() <= 1 and (out != a).mean() > 0.5
