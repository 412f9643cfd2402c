"""Notebook 8's library: choosing the model, uploads, full-resolution files, the widget callbacks.

References: the command line (`retouch_file` writes the same pixels; the same messages for bad files),
`lut.apply_lut` (the slider blend), `by_hand.target_retouch` (the hand-written condition network).
"""
from __future__ import annotations

import datetime
import json
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet_lite import by_hand, ops
from csrnet_lite.apps import photo_panel, your_photos
from csrnet_lite.curves import curve_panels
from csrnet_lite.image import load_image
from csrnet_lite.lut import apply_lut
from csrnet_lite.tools.cube import read_cube
from csrnet_lite.model import CondView, CSRNet
from csrnet_lite.tools.retouch import retouch_file
from csrnet_lite.settings import DATA_SAMPLES, PROJECT_ROOT

SAMPLE = DATA_SAMPLES / "input" / "canyon_de_chelly.png"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A random CSRNet saved as a csrnet-lite checkpoint with the .json notebook 5 writes."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    net = CSRNet()
    with torch.no_grad():  # a visible retouch: random heads would be near the identity
        for p in net.parameters():
            p.mul_(3)
    path = folder / "fast.pt"
    torch.save({"model": net.state_dict(), "config": {"thumb_size": 128}}, path)
    path.with_suffix(".json").write_text(json.dumps({"root": str(DATA_SAMPLES)}))
    return path


@pytest.fixture(scope="module")
def retoucher(small_model):
    return your_photos.pick_retoucher(small_model, weights="/nonexistent.pth")


@pytest.fixture
def jpeg(tmp_path):
    """A 300 x 200 JPEG with EXIF (a camera make) in its own folder."""
    path = tmp_path / "in" / "my photo.jpg"
    path.parent.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    with Image.open(SAMPLE) as im:
        im.convert("RGB").resize((300, 200)).save(path, quality=90, exif=exif.tobytes())
    return path


def upload_entry(path, name=None):
    """What an ipywidgets 8 FileUpload holds for one uploaded file."""
    data = path.read_bytes() if hasattr(path, "read_bytes") else path
    return {"name": name or path.name, "type": "image/jpeg", "size": len(data), "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.timezone.utc)}


# --- the model -------------------------------------------------------------------------------------

def test_pick_retoucher_prefers_notebook_5_then_the_authors_then_by_hand(small_model, tmp_path):
    r = your_photos.pick_retoucher(small_model, weights="/nonexistent.pth")
    assert r.kind == "notebook 5" and r.view == CondView.THUMB_128 and "data_samples/" in r.origin
    unfinished = tmp_path / "fast.pt"  # a checkpoint without the .json of a finished run
    unfinished.write_bytes(small_model.read_bytes())
    assert your_photos.pick_retoucher(unfinished, weights="/nonexistent.pth").kind == "by hand"
    broken = tmp_path / "broken" / "fast.pt"
    broken.parent.mkdir()
    broken.write_bytes(b"not a checkpoint")
    broken.with_suffix(".json").write_text("{}")
    r = your_photos.pick_retoucher(broken, weights="/nonexistent.pth")
    assert r.kind == "by hand" and "passed over" in r.origin and "cannot read" in r.origin
    assert isinstance(r.model, your_photos.CSRNetByHand)


def test_pick_retoucher_uses_the_authors_weights(shared_weights):
    r = your_photos.pick_retoucher(None, weights=shared_weights / "csrnet_official.pth")
    assert r.kind == "authors" and r.view == CondView.LONG_512


def test_by_hand_condition_network_is_the_by_hand_retouch():
    photo = load_image(SAMPLE) * 0.5  # a dark photo
    net = your_photos.CSRNetByHand()
    mods = net.modulations(photo)
    mean = float(ops.mean_luminance(photo)[0])
    brightness = min(max(your_photos.HAND_GREY / mean, 0.7), 1.6)
    expected = by_hand.target_retouch(photo, brightness=brightness, contrast=1.1, saturation=1.1)
    assert torch.allclose(net.base(photo, mods), expected, atol=1e-5)
    assert brightness > 1 and float(ops.mean_luminance(expected.clamp(0, 1))[0]) > mean  # brightened


# --- files in --------------------------------------------------------------------------------------

def test_save_upload_keeps_only_the_file_name(tmp_path, jpeg):
    [path] = your_photos.save_upload([upload_entry(jpeg, "../../etc/.my photo?.jpg")], tmp_path / "up")
    assert path.parent == tmp_path / "up" and path.name == "_.my photo_.jpg"
    assert path.read_bytes() == jpeg.read_bytes()


def test_save_upload_refuses_a_bad_file_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="not an image Pillow can read"):
        your_photos.save_upload([upload_entry(b"hello", "notes.jpg")], tmp_path / "up")
    with pytest.raises(ValueError, match="unsupported file type '.gif'"):
        your_photos.save_upload([upload_entry(b"GIF89a", "drawing.gif")], tmp_path / "up")
    assert list((tmp_path / "up").iterdir()) == []


# --- retouching --------------------------------------------------------------------------------------

def test_files_match_the_command_line(retoucher, jpeg, tmp_path):
    result = your_photos.retouch_photo_file(retoucher, jpeg, tmp_path / "out", strength=0.6)
    assert result.photo == tmp_path / "out" / "my photo_retouched.jpg" and result.size == (200, 300)
    cli = tmp_path / "cli.jpg"
    cli_lut = retouch_file(retoucher.model, jpeg, cli, strength=0.6, view=retoucher.view)
    ours, theirs = (np.asarray(Image.open(p), dtype=np.int16) for p in (result.photo, cli))
    assert np.abs(ours - theirs).mean() < 0.5 and np.abs(ours - theirs).max() <= 4  # torch vs Pillow LUT, then JPEG
    with Image.open(result.photo) as im:
        assert im.format == "JPEG" and im.getexif()[0x010F] == "TestCam"  # metadata kept
    cube = read_cube(result.cube)
    assert torch.allclose(cube.lut, cli_lut, atol=1e-6)  # the .cube holds the LUT at strength 0.6
    assert torch.allclose(your_photos.lut_at(result.lut, 0.6), cli_lut, atol=1e-6)


def test_sixteen_bit_stays_sixteen_bit(retoucher, tmp_path):
    src = tmp_path / "deep.png"
    from csrnet_lite.image import save_image
    from csrnet_lite.image_files import stored_bits

    save_image(load_image(SAMPLE)[:, :, :64, :80], src, bits=16)
    result = your_photos.retouch_photo_file(retoucher, src, tmp_path / "out", lut_size=9)
    assert stored_bits(result.photo) == 16 and result.lut.shape == (9, 9, 9, 3)


def test_progress_reaches_one_in_order(retoucher, jpeg, tmp_path, monkeypatch):
    monkeypatch.setattr(your_photos, "BAND_PIXELS", 300 * 40)  # 5 bands of 40 rows
    steps = []
    your_photos.retouch_photo_file(retoucher, jpeg, tmp_path, progress=lambda f, what: steps.append(f))
    assert steps[0] == 0 and steps[-1] == 1 and steps == sorted(steps) and len(steps) >= 8


def test_bands_equal_one_pass():
    photo = torch.rand(1, 3, 37, 23)
    lut = torch.rand(5, 5, 5, 3)
    seen = []
    out = your_photos.apply_in_bands(photo, lut, seen.append)
    assert torch.equal(out, apply_lut(photo, lut)) or torch.allclose(out, apply_lut(photo, lut), atol=1e-6)
    assert seen[-1] == 1


def test_rewrite_changes_strength(retoucher, jpeg, tmp_path):
    result = your_photos.retouch_photo_file(retoucher, jpeg, tmp_path)
    again = your_photos.rewrite(retoucher, result, 0.0)
    assert again.strength == 0.0
    unchanged = np.asarray(Image.open(again.photo), dtype=np.int16) - np.asarray(Image.open(jpeg), dtype=np.int16)
    assert np.abs(unchanged).mean() < 2  # strength 0: the photo itself, up to JPEG re-encoding


# --- widget callbacks ----------------------------------------------------------------------------------

def test_render_is_the_lut_at_that_strength(retoucher, jpeg, tmp_path):
    result = your_photos.retouch_photo_file(retoucher, jpeg, tmp_path)
    before = torch.from_numpy(result.before).permute(2, 0, 1)[None]
    for strength in (0.0, 0.35, 1.0):
        expected = apply_lut(before, your_photos.lut_at(result.lut, strength)).clamp(0, 1)[0].permute(1, 2, 0)
        assert np.allclose(your_photos.render(result, 0.0, strength), expected.numpy(), atol=1e-5)
    assert np.array_equal(your_photos.render(result, 1.0, 0.7), result.before)  # all "before"
    half = your_photos.render(result, 0.5, 1.0)
    assert np.array_equal(half[:, :100], result.before[:, :100]) and np.all(half[:, 150] == 1)  # the divider
    with pytest.raises(ValueError, match="strength"):
        your_photos.render(result, 0.5, 1.5)


def test_tone_curves_follow_the_base_network(retoucher, jpeg, tmp_path):
    result = your_photos.retouch_photo_file(retoucher, jpeg, tmp_path)
    panels = curve_panels(lambda x: retoucher.model.base(x, result.mods))
    t, grey = panels["grey ramp in"]
    with torch.no_grad():
        mid = retoucher.model.base(torch.full((1, 3, 1, 1), float(t[128])), result.mods)[0, :, 0, 0]
    assert np.allclose(grey[128], mid.numpy(), atol=1e-5)
    picture = your_photos.curves_picture(retoucher, result)
    assert picture.ndim == 3 and picture.shape[2] == 3 and 0 <= picture.min() and picture.max() <= 1


def test_links_are_relative_and_quoted(retoucher, jpeg, tmp_path):
    result = your_photos.retouch_photo_file(retoucher, jpeg, tmp_path / "your_photos")
    text = your_photos.links_html(result, base=tmp_path)
    assert 'href="your_photos/my%20photo_retouched.jpg" download="my photo_retouched.jpg"' in text
    assert 'href="your_photos/my%20photo_retouched.cube"' in text


def _cli_error(path, model, out) -> str:
    run = subprocess.run([sys.executable, "-m", "csrnet_lite", "retouch", str(path), "--model", str(model),
                          "--out", str(out)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    return run.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_bad_files_get_the_command_lines_messages(retoucher, small_model, jpeg, tmp_path):
    import html

    panel = photo_panel.PhotoPanel(retoucher, tmp_path / "your_photos", SAMPLE, lut_size=9)
    shown = panel.result
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg.read_bytes()[:3000])
    gif = tmp_path / "drawing.gif"
    Image.new("RGB", (4, 4)).save(gif)
    for path in (text, cut, gif, tmp_path / "missing.jpg"):
        assert panel.open(path) is False
        message = html.unescape(panel.status.value.split(">", 1)[1].rsplit("<", 1)[0])
        assert message == _cli_error(path, small_model, tmp_path / "cli"), path.name
        assert panel.result is shown  # the last good photo stays
    assert not (tmp_path / "cli").exists() and sorted(p.name for p in (tmp_path / "your_photos").iterdir()) == [
        "canyon_de_chelly_retouched.cube", "canyon_de_chelly_retouched.png"]


def test_panel_uploads_and_writes_at_the_slider_strength(retoucher, jpeg, tmp_path):
    panel = photo_panel.PhotoPanel(retoucher, tmp_path, SAMPLE, lut_size=9)
    assert panel.result.source == SAMPLE and "canyon_de_chelly_retouched.png" in panel.downloads.html
    panel.upload_button.value = (upload_entry(jpeg),)  # what the browser's file input does
    assert panel.result.source == tmp_path / "uploads" / "my photo.jpg" and panel.upload_button.value == ()
    assert "my%20photo_retouched.jpg" in panel.downloads.html and "my photo.jpg" in panel.status.value
    assert panel.preview.image.value and panel.curves.image.value
    panel.preview.sliders["strength"].value = 0.25  # the preview follows; the files only on request
    assert panel.result.strength == 1.0
    panel.write_button.click()
    assert panel.result.strength == 0.25 and "0.25" in panel.status.value
    assert read_cube(panel.result.cube).lut.shape == (9, 9, 9, 3)
    panel.upload_button.value = (upload_entry(b"nope", "x.png"),)
    assert "error:" in panel.status.value and panel.result.source.name == "my photo.jpg"
    assert not (tmp_path / "uploads" / "x.png").exists()
    assert panel.open("") is False and "type the path" in panel.status.value
    assert panel.open(str(jpeg)) and panel.result.source == jpeg  # the path box


def test_typed_path_drops_quotes_and_says_where_a_relative_path_is_read(tmp_path):
    assert your_photos.typed_path(" '/photos/my photo.jpg' ") == (Path("/photos/my photo.jpg"), "")
    assert your_photos.typed_path('"/photos/a.png"') == (Path("/photos/a.png"), "")
    path, note = your_photos.typed_path("uploads/a.png", base=tmp_path)
    assert path == tmp_path / "uploads" / "a.png" and str(tmp_path.resolve()) in note and "relative" in note


def test_status_line_names_every_conversion(retoucher, tmp_path):
    with Image.open(SAMPLE) as im:
        rgb = im.convert("RGB").resize((60, 40))
    rgb.convert("L").save(tmp_path / "grey.png")
    rgb.convert("CMYK").save(tmp_path / "print.jpg")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(tmp_path / "glass.png")
    rgb.save(tmp_path / "plain.png")
    expected = {"grey.png": ["greyscale"], "print.jpg": ["CMYK"], "glass.png": ["transparency dropped"], "plain.png": []}
    for name, words in expected.items():
        result = your_photos.retouch_photo_file(retoucher, tmp_path / name, tmp_path / "out", lut_size=9)
        line = your_photos.status_line(retoucher, result)
        assert len(result.notes) == len(words) and all(w in line for w in words), (name, line)
        with Image.open(result.photo) as im:
            assert im.mode == "RGB"  # what the notes say was done


def test_path_box_takes_a_pasted_path_with_quotes(retoucher, jpeg, tmp_path, monkeypatch):
    panel = photo_panel.PhotoPanel(retoucher, tmp_path, SAMPLE, lut_size=9)
    assert panel.open_typed(f"'{jpeg}'") and panel.result.source == jpeg
    monkeypatch.chdir(jpeg.parent)
    assert panel.open_typed('"my photo.jpg"') and "read from the folder" in panel.status.value
    assert not panel.open_typed("missing.jpg") and str(jpeg.parent.resolve()) in panel.status.value
