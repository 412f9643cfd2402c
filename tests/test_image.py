"""The one conversion point: arrays, PIL images and files <-> float32 (B, 3, H, W) tensors in [0, 1]."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet_lite.files import atomic_path
from csrnet_lite.image import load_image, quantize, save_image, thumbnail, to_numpy, to_pil, to_tensor


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
