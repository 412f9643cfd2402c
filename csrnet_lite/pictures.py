"""What the notebooks' pictures show, as plain functions of arrays that the unit tests call directly.

`split_view`, `difference_image`, `pca_2d`, `lut_picture`, ... compute the pictures that `plots.py`
draws and `widgets.py` updates live; tone curves are in `curves.py`, histograms in `histogram.py`.

Images here are numpy float32 arrays (H, W, 3) in [0, 1]; `as_array` converts the package's tensors.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations


import numpy as np
import torch

from .image import to_numpy
from .lut import lut_image


def as_array(image) -> np.ndarray:
    """A tensor (1, 3, H, W) / (3, H, W) or an array (H, W, 3) (float in [0, 1] or uint8)
    -> float32 array (H, W, 3) in [0, 1]."""
    if isinstance(image, torch.Tensor):
        return to_numpy(image)
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an image of shape (H, W, 3) or a tensor (1, 3, H, W), got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255
    return np.clip(a, 0, 1).astype(np.float32, copy=False)


def to_uint8(image) -> np.ndarray:
    """Image -> uint8 array (H, W, 3), rounded."""
    return np.round(as_array(image) * 255).astype(np.uint8)


def split_view(before, after, position: float = 0.5, line: bool = False) -> np.ndarray:
    """Columns left of `position` (0..1 of the width) from `before`, the rest from `after`.

    `line=True` paints the first column of the `after` part white, as a divider.

    >>> split_view(np.zeros((2, 4, 3)), np.ones((2, 4, 3)))[0, :, 0].tolist()  # left half before
    [0.0, 0.0, 1.0, 1.0]
    """
    a, b = as_array(before), as_array(after)
    if a.shape != b.shape:
        raise ValueError(f"before and after must have the same shape, got {a.shape} and {b.shape}")
    if not 0 <= position <= 1:
        raise ValueError(f"position must lie in [0, 1], got {position}")
    k = int(round(position * a.shape[1]))
    out = b.copy()
    out[:, :k] = a[:, :k]
    if line and k < out.shape[1]:
        out[:, k] = 1.0
    return out


def difference_image(a, b, gain: float = 10.0) -> np.ndarray:
    """|a - b| * gain, clipped to [0, 1]: small differences made visible."""
    return np.clip(np.abs(as_array(a) - as_array(b)) * gain, 0, 1)


def pca_2d(vectors) -> tuple[np.ndarray, np.ndarray]:
    """Project vectors (N, D) on their two principal axes -> (coords (N, 2), explained ratio (2,)).

    Plain numpy SVD of the centred data; the axes' signs are fixed so that each axis's largest
    loading is positive (the same data always gives the same picture).

    >>> coords, explained = pca_2d([[0, 0], [1, 1], [2, 2]])  # points on a line
    >>> explained.round(3).tolist()
    [1.0, 0.0]
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected at least 2 vectors as an (N, D) array, got shape {x.shape}")
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, len(s))
    axes = vt[:k]
    axes *= np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])[:, None]
    coords = x @ axes.T  # (N, D) -> (N, k)
    if k < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - k)))
    total = (s ** 2).sum()
    explained = (s[:2] ** 2) / total if total > 0 else np.zeros(2)
    return coords.astype(np.float32), np.pad(explained, (0, 2 - len(explained)))


def lut_picture(lut, columns: int | None = None) -> np.ndarray:
    """A 3D LUT (N, N, N, 3) in `csrnet_lite.lut`'s convention (indexed [b, g, r]) as one picture.

    The tiles of `lut.lut_image` (one per blue level, red to the right, green downwards) laid out in a
    grid of `columns` (default about sqrt(N)) instead of one long strip, with a 1-pixel white gap.
    """
    strip = as_array(lut_image(torch.as_tensor(lut)))  # (N, N * N, 3)
    n = strip.shape[0]
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    out = np.ones((rows * (n + 1) - 1, columns * (n + 1) - 1, 3), np.float32)
    for b in range(n):
        r0, c0 = (b // columns) * (n + 1), (b % columns) * (n + 1)
        out[r0:r0 + n, c0:c0 + n] = strip[:, b * n:(b + 1) * n]
    return out
