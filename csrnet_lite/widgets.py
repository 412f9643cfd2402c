"""Widgets for the notebooks: sliders wired to plain functions (the functions live by subject, e.g.
`before_after.preview_operators`, `modulation_plots.preview_modulations`, `analysis.preview_mix`).

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
from PIL import Image

from .pictures import to_uint8
from .plots import figure_png, show_images


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
