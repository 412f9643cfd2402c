"""A drawn test photo whose every pixel is known (no file needed)."""
from __future__ import annotations

import numpy as np
import torch


def synthetic_photo(size: int = 256) -> torch.Tensor:
    """A test scene drawn with numpy: sky, sun, hills and a 24-patch colour chart -> (1, 3, size, size).

    A scene whose every pixel is known, for tests (the notebooks never stand it in for a missing photo:
    `data.sample_pair` raises instead). The chart patches are the sRGB values of the classic
    ColorChecker, so the scene has skin tones, greys and saturated colours.
    """
    chart = np.array([
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177], [103, 189, 170],
        [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108], [157, 188, 64], [224, 163, 46],
        [56, 61, 150], [70, 148, 73], [175, 54, 60], [231, 199, 31], [187, 86, 149], [8, 133, 161],
        [243, 243, 242], [200, 200, 200], [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
    ], dtype=np.float32) / 255
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (size, size) each, in [0, 1)
    t = (y / 0.55)[..., None]
    img = (1 - t) * np.array([0.22, 0.40, 0.75]) + t * np.array([0.75, 0.84, 0.93])  # sky gradient
    sun = np.exp(-((x - 0.75) ** 2 + (y - 0.18) ** 2) / 0.004)[..., None]
    img = img * (1 - sun) + sun * np.array([1.0, 0.92, 0.65])
    ridge = 0.5 + 0.05 * np.sin(9 * x) + 0.02 * np.sin(23 * x + 1)
    shade = (0.6 + 0.4 * np.clip((y - ridge) / 0.5, 0, 1))[..., None]
    img = np.where((y > ridge)[..., None], shade * np.array([0.25, 0.45, 0.18]), img)  # hills
    top, left, cell = 0.6, 0.08, 0.84 / 6
    row, col = np.floor((y - top) / cell), np.floor((x - left) / cell)
    inside = (row >= 0) & (row < 4) & (col >= 0) & (col < 6)
    inside &= ((y - top) % cell > 0.1 * cell) & ((x - left) % cell > 0.1 * cell)  # dark gaps
    index = np.clip(row * 6 + col, 0, 23).astype(int)
    img = np.where(inside[..., None], chart[index], img)
    noise = np.random.default_rng(0).normal(0, 0.01, img.shape)  # a little grain, reproducibly
    img = np.clip(img + noise, 0, 1).astype(np.float32)
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()  # (H, W, 3) -> (1, 3, H, W)
