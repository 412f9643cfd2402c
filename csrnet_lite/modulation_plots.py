"""Modulations shown: heatmaps and bars of scales and shifts, PCA of condition vectors, LUT tiles, and
the base network's output under chosen modulations (the sliders' callback).

    modulation_heatmaps(mods.scales, mods.shifts, ids)   # rows: photos, columns: channels
    coords, explained = pca_2d(mods.cond)                 # condition vectors (B, 32) -> (B, 2)
    scatter_2d(coords, brightness, labels=ids)            # the photos in the plane of the two axes
    preview_modulations(model, photo, mods)               # (H, W, 3) through a baked LUT, fast

Introduced in notebook 03 (`03_building_csrnet`); notebook 06 reads a trained network with them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .image import to_numpy
from .lut import apply_lut, bake_lut, lut_image
from .pictures import as_array
from .settings import one_thread


def preview_modulations(model, photo: torch.Tensor, mods, lut_size: int = 17) -> np.ndarray:
    """The base network of `model` with modulations `mods` applied to `photo`, via a baked LUT.

    Baking the colour map at lut_size**3 colours and interpolating is ~10x faster than running the
    base network on every pixel of a 512 px photo (see `csrnet_lite.lut`); the result differs from
    `model.base(photo, mods)` only by interpolation. -> (H, W, 3), clamped.
    """
    with one_thread():
        return to_numpy(apply_lut(photo, bake_lut(model, mods, lut_size)))


def plot_heatmap(ax, matrix, *, title: str = "", row_labels: Sequence[str] | None = None,
                 xlabel: str = "channel", limit: float | None = None):
    """A diverging heatmap centred on 0 (blue < 0 < red); returns the image for a colour bar."""
    m = np.asarray(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix, dtype=np.float32)
    m = m[None] if m.ndim == 1 else m
    limit = limit or float(np.abs(m).max()) or 1.0
    im = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if m.shape[1] == 3:  # a layer with three channels is the colour: tick them R, G, B
        ax.set_xticks(range(3), ["R", "G", "B"])
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    else:
        ax.set_yticks([])
    return im


def modulation_heatmaps(scales: Sequence, shifts: Sequence, row_labels: Sequence[str] | None = None,
                        title: str | None = None) -> Figure:
    """scale_i and shift_i of every layer as heatmaps: rows are images, columns are channels.

    `scales[i]`, `shifts[i]`: (B, C_i) arrays or tensors, e.g. `Modulations.scales` of a batch.
    """
    fig = Figure(figsize=(12, 1.6 + 0.25 * len(np.asarray(scales[0]))), layout="constrained")
    axes = fig.subplots(2, len(scales), squeeze=False, width_ratios=[np.asarray(s).shape[1] + 8 for s in scales])
    for i, (scale, shift) in enumerate(zip(scales, shifts)):
        for row, (name, values) in enumerate((("scale", scale), ("shift", shift))):
            im = plot_heatmap(axes[row, i], values, title=f"{name}{i + 1}",
                              row_labels=row_labels if i == 0 else None)
            fig.colorbar(im, ax=axes[row, i], shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def modulation_bars(mods, title: str | None = None) -> Figure:
    """The modulations of one photo as bar charts: scale_i (top) and shift_i (bottom) per layer.

    `mods`: a `Modulations` with batch 1 (or any object with .scales and .shifts of shape (1, C_i)).
    """
    layers = len(mods.scales)
    widths = [s.shape[1] for s in mods.scales]
    fig = Figure(figsize=(12, 4), layout="constrained")
    axes = fig.subplots(2, layers, squeeze=False, width_ratios=[w + 6 for w in widths])
    for i in range(layers):
        for row, (name, values) in enumerate((("scale", mods.scales[i]), ("shift", mods.shifts[i]))):
            v = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)[0]
            ax = axes[row, i]
            ax.bar(np.arange(len(v)), v, color=np.where(v >= 0, "tab:red", "tab:blue"), width=0.8)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_title(f"{name}{i + 1} ({len(v)} channels)", fontsize=10)
            ax.set_xlim(-0.7, len(v) - 0.3)
            if len(v) <= 3:
                ax.set_xticks(range(len(v)), ["R", "G", "B"][:len(v)])
            if row == 1:
                ax.set_xlabel("channel")
    if title:
        fig.suptitle(title)
    return fig


def scatter_2d(coords, colour=None, *, labels: Sequence[str] | None = None, title: str = "",
               colour_label: str = "", axis_labels: tuple[str, str] = ("PC 1", "PC 2")) -> Figure:
    """Points in 2-D (e.g. `pca_2d` of condition vectors), coloured by a value or by category labels."""
    xy = np.asarray(coords)
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if colour is not None and len(colour) and isinstance(np.asarray(colour)[0], (str, np.str_)):
        for name in dict.fromkeys(colour):  # one legend entry per category
            sel = np.asarray(colour) == name
            ax.scatter(xy[sel, 0], xy[sel, 1], s=30, label=name)
        ax.legend(fontsize=8)
    else:
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=30, cmap="viridis" if colour is not None else None)
        if colour is not None:
            fig.colorbar(sc, ax=ax, label=colour_label)
    _label_points(ax, xy, labels or [])
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_aspect("equal", adjustable="datalim")  # one unit is one unit on both axes (PCA: no stretching)
    ax.set_title(title, fontsize=10)
    return fig


def _label_points(ax, xy: np.ndarray, labels: Sequence[str], min_gap: float = 0.06) -> None:
    """Write each point's label beside it, leaving out a label that would land on one already written
    (closer than `min_gap` of the plot's extent), so that labels never pile up into a blob."""
    extent = np.ptp(xy, axis=0) if len(xy) else np.ones(2)
    extent = np.where(extent > 0, extent, 1.0)
    written: list[np.ndarray] = []
    for i in np.argsort(-np.abs(xy - xy.mean(axis=0)).sum(axis=1)) if len(labels) else []:
        here = xy[i] / extent  # outlying points first: their labels say the most
        if all(np.abs(here - w).max() >= min_gap for w in written):
            ax.annotate(labels[i], xy[i], fontsize=7, xytext=(3, 3), textcoords="offset points")
            written.append(here)


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
