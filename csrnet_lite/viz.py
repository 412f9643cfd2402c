"""Pictures and widgets for the notebooks.

Two kinds of functions:
- plain functions of arrays (`split_view`, `histograms`, `pca_2d`, `tone_curves`, `lut_picture`, ...)
  that compute what is shown; the unit tests call them directly;
- figure builders that return a `matplotlib.figure.Figure` (no pyplot: a notebook shows the figure
  when it is the cell's last expression, and nothing is left open).

Widgets: `Preview(render, sliders)` wires ipywidgets sliders to a plain function `render(**values)
-> image`. Each change re-runs `render` and sends JPEG bytes to an `ipywidgets.Image` (no matplotlib in
the loop), so a preview at 512 px updates within 100 ms when `render` is cheap; do the heavy work once,
before building the widget. Where no kernel runs (an HTML copy, a notebook viewer), the preview shows
a static picture of its default state instead.

Images here are numpy float32 arrays (H, W, 3) in [0, 1]; `as_array` converts the package's tensors.
"""
from __future__ import annotations

import base64
import io
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .image import to_numpy
from .settings import one_thread

# ---------------------------------------------------------------------------------------------------
# conversions


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


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A matplotlib figure -> PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _register_figure_display() -> None:
    """Show a returned Figure as a PNG in IPython/Jupyter (pyplot's inline backend is not involved)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: figure_png(fig, dpi=96))


_register_figure_display()

# ---------------------------------------------------------------------------------------------------
# plain functions: what the pictures show


def split_view(before, after, position: float = 0.5, line: bool = False) -> np.ndarray:
    """Columns left of `position` (0..1 of the width) from `before`, the rest from `after`.

    `line=True` paints the first column of the `after` part white, as a divider.
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


def pca_2d(vectors) -> tuple[np.ndarray, np.ndarray]:
    """Project vectors (N, D) on their two principal axes -> (coords (N, 2), explained ratio (2,)).

    Plain numpy SVD of the centred data; the axes' signs are fixed so that each axis's largest
    loading is positive (the same data always gives the same picture).
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


def lut_picture(lut, columns: int | None = None) -> np.ndarray:
    """A 3D LUT (N, N, N, 3) in `csrnet_lite.lut`'s convention (indexed [b, g, r]) as one picture.

    The tiles of `lut.lut_image` (one per blue level, red to the right, green downwards) laid out in a
    grid of `columns` (default about sqrt(N)) instead of one long strip, with a 1-pixel white gap.
    """
    from .lut import lut_image

    strip = as_array(lut_image(torch.as_tensor(lut)))  # (N, N * N, 3)
    n = strip.shape[0]
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    out = np.ones((rows * (n + 1) - 1, columns * (n + 1) - 1, 3), np.float32)
    for b in range(n):
        r0, c0 = (b // columns) * (n + 1), (b % columns) * (n + 1)
        out[r0:r0 + n, c0:c0 + n] = strip[:, b * n:(b + 1) * n]
    return out


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


# ---------------------------------------------------------------------------------------------------
# widget callbacks: plain functions from slider values to the picture shown


def preview_brightness(photo: torch.Tensor, factor: float) -> np.ndarray:
    """`ops.brightness(photo, factor)` clamped to [0, 1] -> (H, W, 3). Factor 1 returns the photo."""
    from . import ops

    return to_numpy(ops.brightness(photo, factor))


def preview_operators(photo: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
                      saturation: float = 1.0, histogram: bool = False) -> np.ndarray:
    """`ops.saturation(ops.contrast(ops.brightness(photo, b), c), s)`, clamped -> (H, W, 3).

    All factors 1 return the photo unchanged. `histogram=True` draws the RGB histogram below.
    Fast: the chain is collapsed into one affine colour map with `ops.compose` (notebook 2), so each
    call is one matrix product over the pixels; contrast's mean after brightness b is b times the
    photo's mean luminance.
    """
    from . import ops

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
    from .lut import apply_lut, bake_lut

    with one_thread():
        return to_numpy(apply_lut(photo, bake_lut(model, mods, lut_size)))


# ---------------------------------------------------------------------------------------------------
# figures


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


def plot_heatmap(ax, matrix, *, title: str = "", row_labels: Sequence[str] | None = None,
                 xlabel: str = "channel", limit: float | None = None):
    """A diverging heatmap centred on 0 (blue < 0 < red); returns the image for a colour bar."""
    m = np.asarray(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix, dtype=np.float32)
    m = m[None] if m.ndim == 1 else m
    limit = limit or float(np.abs(m).max()) or 1.0
    im = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
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
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=30, cmap="viridis")
        if colour is not None:
            fig.colorbar(sc, ax=ax, label=colour_label)
    for i, text in enumerate(labels or []):
        ax.annotate(text, xy[i], fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=10)
    return fig


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


def bar_chart(names: Sequence[str], values: Sequence[float], *, highlight: str | None = None,
              log: bool = True, xlabel: str = "", title: str = "", fmt: str = "{:,.0f}") -> Figure:
    """Horizontal bars with their values written beside them (log scale by default)."""
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
            from IPython.display import display

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


# ---------------------------------------------------------------------------------------------------
# widgets


def slider(value: float, min: float, max: float, step: float = 0.01, description: str = "",
           fmt: str = ".2f"):
    """A float slider that updates while it is dragged."""
    import ipywidgets as w

    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         readout_format=fmt, continuous_update=True,
                         style={"description_width": "initial"}, layout=w.Layout(width="420px"))


def int_slider(value: int, min: int, max: int, description: str = ""):
    """An integer slider (e.g. which photo to show) that updates while it is dragged."""
    import ipywidgets as w

    return w.IntSlider(value=value, min=min, max=max, step=1, description=description,
                       continuous_update=True, style={"description_width": "initial"},
                       layout=w.Layout(width="420px"))


def toggle(value: bool, description: str = ""):
    """A checkbox (e.g. to switch a group of modulations on and off)."""
    import ipywidgets as w

    return w.Checkbox(value=value, description=description, indent=False)


class Preview:
    """Sliders wired to a plain function `render(**values) -> image (H, W, 3)`, shown live.

        Preview(lambda factor: preview_brightness(photo, factor), {"factor": slider(1, 0, 2)})

    `readout(image, **values) -> str`, if given, is shown under the image after each update (e.g. a
    statistic of the result). Displaying a Preview shows the widget in a live kernel and a static
    picture of the default state (`fallback_png`) everywhere else.
    """

    def __init__(self, render: Callable[..., np.ndarray], sliders: Mapping[str, object], *,
                 readout: Callable[..., str] | None = None, title: str = ""):
        import ipywidgets as w

        self.render, self.sliders, self.readout_fn, self.title = render, dict(sliders), readout, title
        self.image = w.Image(format="jpeg")
        self.readout = w.HTML()
        self.seconds = 0.0  # time of the last update (render + encode)
        for s in self.sliders.values():
            s.observe(self.update, names="value")
        first = self.update()
        inches = min(first.shape[1], 640) / 96  # about the size the widget shows
        self.fallback_png = figure_png(show_images([first], [self.caption(static=True)], size=inches), dpi=96)
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox(header + list(self.sliders.values()) + [self.image, self.readout])

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
