"""Figures for the notebooks, the mechanics and the general ones: images in a row (`show_images`),
charts of results (`bar_chart`) and the live training curve (`LiveCurve`); each returns a
`matplotlib.figure.Figure`. The figures of one subject live with it (`before_after.py`,
`histogram.py`, `curves.py`, `modulation_plots.py`).

No pyplot: a notebook shows the figure when it is the cell's last expression (after `book.setup()`,
which calls `show_figures_in_notebooks`), and nothing is left open.

Images here are numpy float32 arrays (H, W, 3) in [0, 1]; `pictures.as_array` converts the
package's tensors.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import io
import time
from typing import Sequence

import numpy as np
from IPython import get_ipython
from IPython.display import display
from matplotlib.figure import Figure

from .pictures import as_array


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A matplotlib figure -> PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


SCREEN_DPI = 96  # the size a figure is shown at in a notebook
RETINA = 2       # and it is drawn with RETINA times the pixels, so that it is sharp on high-DPI screens


def show_figures_in_notebooks() -> None:
    """Show a returned Figure as a PNG in IPython/Jupyter (pyplot's inline backend is not involved).

    `book.setup()` calls it; importing this module changes nothing.
    """
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, retina_png)


def retina_png(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """(PNG at RETINA x SCREEN_DPI, {"width", "height"} at SCREEN_DPI): a notebook shows it at the
    size a 96-dpi picture has, with twice the pixels in each direction (as IPython's "retina" format)."""
    data = figure_png(fig, dpi=SCREEN_DPI * RETINA)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR chunk
    return data, {"width": width // RETINA, "height": height // RETINA}


def show_images(images: Sequence, titles: Sequence[str] | None = None, *, columns: int | None = None,
                size: float = 3.2, suptitle: str | None = None) -> Figure:
    """Images side by side (wrapping after `columns`), each with its title."""
    arrays = [as_array(i) for i in images]
    columns = columns or len(arrays)
    rows = int(np.ceil(len(arrays) / columns))
    aspect = max(a.shape[0] / a.shape[1] for a in arrays)
    fig = Figure(figsize=(size * columns, size * aspect * rows + (0.5 if suptitle else 0.3)),
                 layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(arrays):
            ax.imshow(arrays[i], interpolation="lanczos" if max(arrays[i].shape) > 600 else "nearest")
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def bar_chart(names: Sequence[str], values: Sequence[float], *, highlight: str | None = None,
              log: bool = True, xlabel: str = "", title: str = "", fmt: str = "{:,.0f}",
              errors: Sequence[float] | None = None) -> Figure:
    """Horizontal bars with their values written beside them (log scale by default).

    With `errors` (e.g. two standard errors of each score), a dot per value with its error bar, on an
    axis that spans the values and their bars instead of starting at 0: for scores, where small steps
    matter and a bar's length from 0 means nothing.
    """
    if errors is not None:
        return _dot_chart(names, values, errors, highlight=highlight, xlabel=xlabel, title=title, fmt=fmt)
    fig = Figure(figsize=(7, 0.5 * len(names) + 1), layout="constrained")
    ax = fig.add_subplot()
    colours = ["tab:orange" if n == highlight else "tab:gray" for n in names]
    ax.barh(list(names), list(values), color=colours)
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt.format(v), va="center", fontsize=9)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(None, max(values) * (30 if log else 1.3))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    return fig


def _dot_chart(names, values, errors, *, highlight, xlabel, title, fmt) -> Figure:
    """`bar_chart` with error bars: dots with horizontal error bars, the axis around the data."""
    values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
    fig = Figure(figsize=(7, 0.5 * len(names) + 1), layout="constrained")
    ax = fig.add_subplot()
    for i, (v, e, n) in enumerate(zip(values, errors, names)):
        ax.errorbar(v, i, xerr=e, fmt="o", capsize=4, color="tab:orange" if n == highlight else "tab:gray")
        ax.text(v + e, i, " " + fmt.format(v) + f" ± {e:.2f}", va="center", fontsize=9)
    lo, hi = float((values - errors).min()), float((values + errors).max())
    ax.set_xlim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.45 * (hi - lo + 1e-9))  # room for the numbers
    ax.set_yticks(range(len(names)), list(names))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel + " (dots: means; bars: ± two standard errors over the photos)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


class LiveCurve:
    """A training curve that redraws in place while training runs; the final state stays in the notebook.

        curve = LiveCurve(("loss", "PSNR (dB)"))
        for step ...: curve.update(step, **{"loss": l, "PSNR (dB)": p})   # e.g. from a training callback
        curve.close()                                                     # draw the final state

    Uses a display handle (no widget), so an executed notebook, a static HTML copy and a live kernel all
    show the last drawn curve. Redraws at most every `interval` seconds.
    """

    def __init__(self, metrics: Sequence[str] = ("loss", "PSNR (dB)"), interval: float = 1.0,
                 title: str = "", show: bool = True):
        self.metrics = tuple(metrics)
        self.interval = interval
        self.title = title
        self.history: dict[str, list[tuple[float, float]]] = {m: [] for m in self.metrics}
        self._last = 0.0
        self._handle = None
        if show:
            self._handle = display(self.figure(), display_id=True)

    def update(self, step: float, **values: float) -> None:
        """Record values (names from `metrics`; others are ignored) and redraw if `interval` has passed."""
        for name, value in values.items():
            if name in self.history and value is not None:
                self.history[name].append((float(step), float(value)))
        if time.perf_counter() - self._last >= self.interval:
            self.draw()

    def draw(self) -> None:
        self._last = time.perf_counter()
        if self._handle is not None:
            self._handle.update(self.figure())

    def close(self) -> None:
        self.draw()

    def figure(self) -> Figure:
        fig = Figure(figsize=(4 * len(self.metrics), 3), layout="constrained")
        axes = fig.subplots(1, len(self.metrics), squeeze=False)[0]
        for ax, name in zip(axes, self.metrics):
            points = self.history[name]
            if points:
                x, y = zip(*points)
                ax.plot(x, y, lw=1.2)
                ax.set_title(f"{name}: {y[-1]:.4g}", fontsize=10)
            else:
                ax.set_title(name, fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        if self.title:
            fig.suptitle(self.title)
        return fig
