"""Widgets for the notebooks: sliders wired to plain functions, and those functions.

`Preview(render, sliders)` wires ipywidgets sliders to a plain function `render(**values) -> image`.
Each change re-runs `render` and sends JPEG bytes to an `ipywidgets.Image` (no matplotlib in the
loop), so a preview at 512 px updates within 100 ms when `render` is cheap; do the heavy work once,
before building the widget. Where no kernel runs (an HTML copy, a notebook viewer), the preview shows
a static picture of its default state instead. Every callback (`preview_*`) is a plain function of
the slider values that a unit test can call.

Images here are numpy float32 arrays (H, W, 3) in [0, 1].

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import base64
import io
import time
from typing import Callable, Mapping

import ipywidgets as w
import numpy as np
import torch
from PIL import Image

from . import ops
from .image import to_numpy
from .lut import apply_lut, bake_lut
from .histogram import with_histogram
from .pictures import to_uint8
from .plots import figure_png, show_images
from .settings import one_thread


def encode(image, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Image -> compressed bytes for an ipywidgets.Image. JPEG is ~20x faster to encode than PNG."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=quality)
    elif fmt == "png":
        Image.fromarray(to_uint8(image)).save(buffer, format="PNG", compress_level=1)
    else:
        raise ValueError(f"fmt must be 'jpeg' or 'png', got {fmt!r}")
    return buffer.getvalue()


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


def preview_modulations(model, photo: torch.Tensor, mods, lut_size: int = 17) -> np.ndarray:
    """The base network of `model` with modulations `mods` applied to `photo`, via a baked LUT.

    Baking the colour map at lut_size**3 colours and interpolating is ~10x faster than running the
    base network on every pixel of a 512 px photo (see `csrnet_lite.lut`); the result differs from
    `model.base(photo, mods)` only by interpolation. -> (H, W, 3), clamped.
    """
    with one_thread():
        return to_numpy(apply_lut(photo, bake_lut(model, mods, lut_size)))


def slider(value: float, min: float, max: float, step: float = 0.01, description: str = "",
           fmt: str = ".2f"):
    """A float slider that updates while it is dragged."""
    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         readout_format=fmt, continuous_update=True,
                         style={"description_width": "initial"}, layout=w.Layout(width="420px"))


def int_slider(value: int, min: int, max: int, description: str = ""):
    """An integer slider (e.g. which photo to show) that updates while it is dragged."""
    return w.IntSlider(value=value, min=min, max=max, step=1, description=description,
                       continuous_update=True, style={"description_width": "initial"},
                       layout=w.Layout(width="420px"))


def toggle(value: bool, description: str = ""):
    """A checkbox (e.g. to switch a group of modulations on and off)."""
    return w.Checkbox(value=value, description=description, indent=False)


WIDGET_PX = 600  # the widgets' pictures are at most this wide on screen (and in their static copy)


class Preview:
    """Sliders wired to a plain function `render(**values) -> image (H, W, 3)`, shown live.

        Preview(lambda factor: preview_brightness(photo, factor), {"factor": slider(1, 0, 2)})

    `readout(image, **values) -> str`, if given, is shown under the image after each update (e.g. a
    statistic of the result). Displaying a Preview shows the widget in a live kernel and a static
    picture of the default state (`fallback_png`) everywhere else.
    """

    def __init__(self, render: Callable[..., np.ndarray], sliders: Mapping[str, object], *,
                 readout: Callable[..., str] | None = None, title: str = ""):
        self.render, self.sliders, self.readout_fn, self.title = render, dict(sliders), readout, title
        # at most 600 x 450 px on screen, so that the sliders, the picture and the readout fit on one screen
        self.image = w.Image(format="jpeg", layout=w.Layout(max_width=f"{WIDGET_PX}px", max_height="450px",
                                                             object_fit="contain"))
        self.readout = w.HTML()
        self.seconds = 0.0  # time of the last update (render + encode)
        for s in self.sliders.values():
            s.observe(self.update, names="value")
        first = self.update()
        inches = min(first.shape[1], WIDGET_PX) / 96  # about the size the widget shows
        self.fallback_png = figure_png(show_images([first], [self.caption(static=True)], size=inches), dpi=96)
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        # the readout sits right under the sliders: both stay in view together, whatever the picture's size
        self.widget = w.VBox(header + list(self.sliders.values()) + [self.readout, self.image])

    def values(self) -> dict:
        return {name: s.value for name, s in self.sliders.items()}

    def caption(self, static: bool = False) -> str:
        text = ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}"
                         for k, v in self.values().items())
        return f"{self.title + ': ' if self.title else ''}{text}" + (" (static picture)" if static else "")

    def update(self, change=None) -> np.ndarray:
        """Render the current slider values into the image widget; returns the rendered image."""
        start = time.perf_counter()
        values = self.values()
        image = self.render(**values)
        self.image.value = encode(image)
        if self.readout_fn is not None:
            self.readout.value = self.readout_fn(image, **values)
        self.seconds = time.perf_counter() - start
        return image

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.fallback_png).decode()
        bundle["text/plain"] = f"<Preview {self.caption()}>"
        return bundle
