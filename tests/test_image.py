"""The one conversion point: arrays, PIL images and files <-> float32 (B, 3, H, W) tensors in [0, 1]."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from csrnet_lite.files import atomic_path
from csrnet_lite.image import load_image, quantize, save_image, thumbnail, to_numpy, to_pil, to_tensor
from csrnet_lite.image_files import stored_bits


def test_uint8_and_uint16_map_to_unit_range():
    a8 = np.array([[[0, 128, 255]]], dtype=np.uint8)
    t = to_tensor(a8)
    assert t.shape == (1, 3, 1, 1) and t.dtype == torch.float32
    assert t.flatten().tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    a16 = np.array([[[0, 32768, 65535]]], dtype=np.uint16)
    assert to_tensor(a16).flatten().tolist() == pytest.approx([0.0, 32768 / 65535, 1.0])


def test_grayscale_and_rgba_become_rgb():
    gray = np.array([[10, 20]], dtype=np.uint8)
    assert torch.equal(to_tensor(gray)[0, 0], to_tensor(gray)[0, 2])
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    t = to_tensor(Image.fromarray(rgba, "RGBA"))
    assert t.shape == (1, 3, 2, 2) and t[0, 0].unique().item() == pytest.approx(200 / 255)


def test_bad_arrays_are_explained():
    with pytest.raises(TypeError, match="uint8, uint16 or float"):
        to_tensor(np.zeros((2, 2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        to_tensor(np.zeros((2, 2, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="must lie in"):
        to_tensor(np.full((2, 2, 3), 2.0))


def test_png_round_trip_is_exact_in_8_bits(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 5, 7)
    path = save_image(x, tmp_path / "x.png")
    assert torch.equal(load_image(path), quantize(x) / 255)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_to_numpy_and_pil_agree():
    x = torch.tensor([0.0, 0.5, 1.2]).view(1, 3, 1, 1)
    assert to_numpy(x).shape == (1, 1, 3) and to_numpy(x).max() == 1.0  # clamped for display
    assert np.asarray(to_pil(x)).tolist() == [[[0, 128, 255]]]


def test_thumbnail_has_fixed_size_and_keeps_a_flat_colour():
    x = torch.full((2, 3, 300, 451), 0.25)
    t = thumbnail(x, 64)
    assert t.shape == (2, 3, 64, 64)
    torch.testing.assert_close(t, torch.full_like(t, 0.25))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file"):
        load_image(tmp_path / "nope.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(broken)
    with pytest.raises(ValueError, match="unknown image extension"):
        save_image(torch.zeros(1, 3, 2, 2), tmp_path / "x.xyz")


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "model.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile made by LittleCMS (made once: its header records the time of creation)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_stored_bits(tmp_path):
    x = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(0))
    for name in ("a.png", "a.jpg", "a.tif"):
        assert stored_bits(save_image(x, tmp_path / name)) == 8
    for name in ("b.png", "b.tif"):
        assert stored_bits(save_image(x, tmp_path / name, bits=16)) == 16
    Image.fromarray(np.full((3, 5), 40000, np.uint16)).save(tmp_path / "grey16.png")  # PIL's 16-bit grey
    assert stored_bits(tmp_path / "grey16.png") == 16
    Image.fromarray(np.full((3, 5), 200, np.uint8)).save(tmp_path / "grey8.tif")
    assert stored_bits(tmp_path / "grey8.tif") == 8
    with pytest.raises(FileNotFoundError, match="no image file"):
        stored_bits(tmp_path / "missing.png")
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read"):
        stored_bits(tmp_path / "fake.png")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_files_keep_icc_profile_and_exif(suffix, tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "csrnet-lite test"  # Make, in the first directory
    exif[0x0112] = 3  # Orientation: kept as given (callers drop it when they store pixels upright)
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal, in the Exif sub-directory
    x = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(1))
    path = save_image(x, tmp_path / f"deep{suffix}", bits=16, icc_profile=srgb_profile(), exif=exif.tobytes())
    with Image.open(path) as im:  # PIL reads what our own writer wrote
        assert im.info["icc_profile"] == srgb_profile()
        back = im.getexif()
        assert back[0x010F] == "csrnet-lite test" and back[0x0112] == 3
        assert back.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert stored_bits(path) == 16
    # the pixels are exact 16-bit values; load_image turns the photo upright (orientation 3: 180 degrees)
    assert torch.equal(load_image(path), (quantize(x, 16) / 65535).flip(2, 3))
    assert save_image(x, tmp_path / f"exif_object{suffix}", bits=16, exif=exif).read_bytes() == \
        save_image(x, tmp_path / f"exif_bytes{suffix}", bits=16, exif=exif.tobytes()).read_bytes()
    plain = save_image(x, tmp_path / f"plain{suffix}", bits=16)
    with Image.open(plain) as im:
        assert "icc_profile" not in im.info and 0x010F not in im.getexif()


def test_16bit_refuses_what_it_cannot_write(tmp_path):
    x = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match="keeps only the options icc_profile and exif, got quality"):
        save_image(x, tmp_path / "x.png", bits=16, quality=95)
    with pytest.raises(ValueError, match="PNG or TIFF, not JPEG"):
        save_image(x, tmp_path / "x.jpg", bits=16)
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        save_image(x, tmp_path / "x.png", bits=12)
    assert list(tmp_path.iterdir()) == []
