"""The notebooks' pictures as arrays: `as_array` turns the package's tensors (and uint8 arrays) into
numpy float32 (H, W, 3) in [0, 1], the convention of every picture function; `to_uint8` goes back
for encoding. What the pictures show lives by subject: `before_after.py`, `histogram.py`,
`curves.py`, `modulation_plots.py`.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import numpy as np
import torch

from .image import to_numpy


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


