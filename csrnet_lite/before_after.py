"""Before and after: a photo and its retouch side by side, their difference, and output against input.

    split_view(before, after, 0.5)             # (H, W, 3): left of the split before, right after
    difference_image(before, after)            # |after - before| amplified
    colour_map_scatter(before, after)          # output against input per channel: the colour map
    preview_operators(photo, 1.2, 1.1, 0.9)    # the slider callback of notebook 01's operators

Every function is a plain function of arrays or tensors that a unit test can call; the widgets of
`widgets.py` call them live. Images are numpy float32 arrays (H, W, 3) in [0, 1] or the package's
tensors (`pictures.as_array` converts them).

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from . import ops
from .histogram import with_histogram
from .image import to_numpy
from .pictures import as_array


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


def colour_map_scatter(before, after, n: int = 3000, seed: int = 0, title: str | None = None) -> Figure:
    """Output against input value per channel, for sampled pixels: the colour map an edit applied."""
    idx = np.random.default_rng(seed).permutation(as_array(before).shape[0] * as_array(before).shape[1])[:n]
    a = as_array(before).reshape(-1, 3)[idx]
    b = as_array(after).reshape(-1, 3)[idx]
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for c, (ax, name, colour) in enumerate(zip(axes, "RGB", ("tab:red", "tab:green", "tab:blue"))):
        ax.scatter(a[:, c], b[:, c], s=2, color=colour, alpha=0.4, linewidths=0)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=f"{name} before", ylabel=f"{name} after", aspect="equal")
    if title:
        fig.suptitle(title)
    return fig


def preview_brightness(photo: torch.Tensor, factor: float) -> np.ndarray:
    """`ops.brightness(photo, factor)` clamped to [0, 1] -> (H, W, 3). Factor 1 returns the photo."""
    return to_numpy(ops.brightness(photo, factor))


def preview_operators(photo: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
                      saturation: float = 1.0, histogram: bool = False) -> np.ndarray:
    """`ops.saturation(ops.contrast(ops.brightness(photo, b), c), s)`, clamped -> (H, W, 3).

    All factors 1 return the photo unchanged. `histogram=True` draws the RGB histogram below.
    Fast: the chain is collapsed into one affine colour map with `ops.compose` (notebook 2), so each
    call is one matrix product over the pixels; contrast's mean after brightness b is b times the
    photo's mean luminance.
    """
    mean = ops.mean_luminance(photo)  # (B,) of the photo; brightness scales it
    conv, mod = ops.compose(ops.brightness_as_gfm(brightness), ops.contrast_as_gfm(contrast, brightness * mean),
                            ops.saturation_as_conv(saturation))
    gain = 1 + mod.scale[0]  # (3,): out = gain * (W x + bias) + shift
    matrix = (gain[:, None] * conv.weight).numpy()  # (3, 3)
    offset = (gain * conv.bias + mod.shift[0]).numpy()  # (3,)
    pixels = photo[0].permute(1, 2, 0).numpy()  # (1, 3, H, W) -> (H, W, 3), a view
    out = np.clip(pixels @ matrix.T + offset, 0, 1).astype(np.float32)
    return with_histogram(out) if histogram else out
