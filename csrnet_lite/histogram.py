"""Histograms: how a photo's values are spread, per channel and as points in the RGB cube.

    edges, counts = histograms(photo)    # edges (65,), counts (3, 64): fractions of the pixels
    photo_report(photo, "my photo")      # the photo, its RGB histogram, its pixels in the RGB cube
    with_histogram(photo)                # the photo with its histogram below, for a live preview

Introduced in notebook 01. Images are numpy float32 arrays (H, W, 3) in [0, 1] or the package's
tensors (`pictures.as_array` converts them).

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .pictures import as_array


def histograms(image, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel histograms -> (edges (bins + 1,), counts (3, bins)) as fractions of the pixels.

    Bin k holds values in [k / bins, (k + 1) / bins); the last bin also holds 1.0.
    """
    a = as_array(image).reshape(-1, 3)
    edges = np.linspace(0, 1, bins + 1)
    index = np.minimum((a * bins).astype(np.int64), bins - 1)  # (N, 3) bin of every value
    index += np.arange(3) * bins  # one block of bins per channel
    counts = np.bincount(index.ravel(), minlength=3 * bins).reshape(3, bins) / len(a)
    return edges, counts


def sample_pixels(image, n: int = 2000, seed: int = 0) -> np.ndarray:
    """`n` pixels drawn without replacement (all of them if fewer) -> (n, 3)."""
    a = as_array(image).reshape(-1, 3)
    if len(a) <= n:
        return a.copy()
    return a[np.random.default_rng(seed).choice(len(a), n, replace=False)]


def histogram_picture(image, width: int = 256, height: int = 96, bins: int = 64) -> np.ndarray:
    """The RGB histogram drawn with numpy (fast enough for a live preview) -> (height, width, 3).

    Each channel fills its own colour where its (peak-normalised) histogram reaches, on black; where
    the channels overlap the colours add up (all three: white).
    """
    _, counts = histograms(image, bins)
    counts = counts / max(counts.max(), 1e-12)
    column_bin = np.minimum((np.arange(width) * bins) // width, bins - 1)  # pixel column -> bin
    levels = counts[:, column_bin] * height  # (3, width): bar height in pixels per channel and column
    rows = (height - 1 - np.arange(height))[:, None]  # row index -> pixels above the bottom row
    return (rows[None] < levels[:, None, :]).astype(np.float32).transpose(1, 2, 0) * 0.9  # (3, h, w) -> (h, w, 3)


def with_histogram(image, height: int = 96) -> np.ndarray:
    """The image with its RGB histogram below it, as one picture (for live previews)."""
    a = as_array(image)
    hist = histogram_picture(a, width=a.shape[1], height=height)
    gap = np.ones((4, a.shape[1], 3), np.float32)
    return np.concatenate([a, gap, hist], axis=0)  # (H, W, 3) + (4, W, 3) + (h, W, 3) -> rows stacked


def plot_histograms(ax, image, bins: int = 64, title: str | None = "RGB histogram") -> None:
    """Draw the three channel histograms of `image` on `ax`."""
    edges, counts = histograms(image, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    for c, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
        ax.fill_between(centres, counts[c], color=colour, alpha=0.25, step="mid")
        ax.plot(centres, counts[c], color=colour, lw=1, drawstyle="steps-mid")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, None)
    ax.set_xlabel("value")
    ax.set_ylabel("fraction of pixels")
    if title:
        ax.set_title(title, fontsize=10)


def plot_colour_scatter(ax, image, n: int = 2000, seed: int = 0, title: str | None = "pixels in RGB space"):
    """Draw sampled pixels as points in the RGB cube, each in its own colour (ax must be 3D)."""
    p = sample_pixels(image, n, seed)
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=p, s=4, depthshade=False, linewidths=0)
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_zlim(0, 1)
    ax.set_xlabel("R"), ax.set_ylabel("G"), ax.set_zlabel("B")
    ax.view_init(elev=20, azim=-60)
    if title:
        ax.set_title(title, fontsize=10)


def photo_report(image, title: str = "photo", *, bins: int = 64, n: int = 2000) -> Figure:
    """A photo beside its RGB histogram and its pixels in the RGB cube."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax_img = fig.add_subplot(1, 3, 1)
    ax_img.imshow(as_array(image))
    ax_img.set_axis_off()
    ax_img.set_title(title, fontsize=10)
    plot_histograms(fig.add_subplot(1, 3, 2), image, bins)
    plot_colour_scatter(fig.add_subplot(1, 3, 3, projection="3d"), image, n)
    return fig
