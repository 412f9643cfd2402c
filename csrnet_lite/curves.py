"""Tone curves: what a colour map does to a ramp of greys, or to one channel at a time.

    t, out = tone_curves(lambda x: model.base(x, mods), mode="grey")   # t (256,), out (256, 3)
    tone_curve_figure({"my photo": (t, out)})                          # R, G, B against the identity

Introduced in notebook 03 (a CSRNet's curves for one photo); notebook 06 compares them across photos
and notebook 08 draws them for your own photo (`curve_panels_picture`, for an image widget).
"""
from __future__ import annotations

import io
from typing import Callable, Mapping

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .plots import figure_png


def _as_colour_map(colour_map: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a function on (N, 3) numpy arrays or on (B, 3, H, W) tensors as (N, 3) -> (N, 3) numpy."""
    def apply(rgb: np.ndarray) -> np.ndarray:
        try:
            out = colour_map(rgb)
        except (TypeError, AttributeError, RuntimeError):
            out = None
        if out is None or (isinstance(out, np.ndarray) and out.shape != rgb.shape):
            x = torch.from_numpy(rgb.astype(np.float32)).T[None, :, :, None]  # (N, 3) -> (1, 3, N, 1)
            with torch.no_grad():
                out = colour_map(x)
            out = out[0, :, :, 0].T  # (1, 3, N, 1) -> (N, 3)
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().numpy()
        return np.asarray(out, dtype=np.float32)
    return apply


def tone_curves(colour_map: Callable, n: int = 256, mode: str = "grey") -> tuple[np.ndarray, np.ndarray]:
    """Sample a colour map along a ramp -> (t (n,), out (n, 3)).

    `colour_map` takes pixels as an (N, 3) numpy array or as a (1, 3, N, 1) tensor (e.g. a model's
    base network with fixed modulations) and returns them mapped.
    mode "grey": inputs (t, t, t), out[:, c] is the output channel c;
    mode "channel": channel c runs through t while the other two stay at 0.5, out[:, c] is channel c.
    """
    t = np.linspace(0, 1, n, dtype=np.float32)
    apply = _as_colour_map(colour_map)
    if mode == "grey":
        return t, apply(np.repeat(t[:, None], 3, axis=1))
    if mode == "channel":
        out = np.empty((n, 3), np.float32)
        for c in range(3):
            rgb = np.full((n, 3), 0.5, np.float32)
            rgb[:, c] = t
            out[:, c] = apply(rgb)[:, c]
        return t, out
    raise ValueError(f"mode must be 'grey' or 'channel', got {mode!r}")


def tone_curve_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "") -> Figure:
    """One panel per entry {name: (t, out (n, 3))}: the R, G, B output curves and the identity line."""
    fig = Figure(figsize=(3.3 * len(curves), 3.3), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, (t, out)) in zip(axes, curves.items()):
        for c, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
            ax.plot(t, out[:, c], color=colour, lw=1.5)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(min(0, out.min()), max(1, out.max())), xlabel="input", ylabel="output",
               title=name, aspect="equal")
    if title:
        fig.suptitle(title)
    return fig


def curve_panels(colour_map: Callable) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The tone curves of `colour_map`, {panel title: (t (256,), out (256, 3))}: a grey ramp through
    it, and each channel on its own (the others at 0.5)."""
    return {"grey ramp in": tone_curves(colour_map, mode="grey"),
            "one channel at a time": tone_curves(colour_map, mode="channel")}


def curve_panels_picture(colour_map: Callable, title: str = "") -> np.ndarray:
    """`curve_panels` drawn as a picture (H, W, 3) in [0, 1], for an image widget."""
    fig = tone_curve_figure(curve_panels(colour_map), title=title)
    with Image.open(io.BytesIO(figure_png(fig, dpi=72))) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255
