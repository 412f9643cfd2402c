"""The pictures' numbers and the widget callbacks, called as plain functions."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from csrnet_lite import before_after, curves, histogram, modulation_plots, pictures, plots, widgets
from csrnet_lite.image import to_numpy
from csrnet_lite.lut import identity_lut
from csrnet_lite.model import CSRNet, Modulations


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 24, 32, generator=gen)  # (1, 3, H, W) in [0, 1]


def test_as_array_converts_tensors_and_uint8():
    x = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert pictures.as_array(x).shape == (2, 2, 3)
    np.testing.assert_array_equal(pictures.as_array(x)[0, 0], [0, 0.5, 1])
    np.testing.assert_array_equal(pictures.as_array(np.full((1, 1, 3), 255, np.uint8)), np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pictures.as_array(np.zeros((3, 4)))


def test_split_view_takes_left_from_before_and_right_from_after(photo):
    before, after = pictures.as_array(photo), 1 - pictures.as_array(photo)
    out = before_after.split_view(before, after, 0.5)
    np.testing.assert_array_equal(out[:, :16], before[:, :16])
    np.testing.assert_array_equal(out[:, 16:], after[:, 16:])
    np.testing.assert_array_equal(before_after.split_view(before, after, 0.0), after)
    np.testing.assert_array_equal(before_after.split_view(before, after, 1.0), before)
    lined = before_after.split_view(before, after, 0.25, line=True)
    np.testing.assert_array_equal(lined[:, 8], 1.0)  # the divider is the first column of "after"
    np.testing.assert_array_equal(lined[:, :8], before[:, :8])
    np.testing.assert_array_equal(lined[:, 9:], after[:, 9:])
    with pytest.raises(ValueError, match="same shape"):
        before_after.split_view(before, after[:, :10], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        before_after.split_view(before, after, 1.5)


def test_brightness_preview_of_factor_one_is_the_photo(photo):
    np.testing.assert_array_equal(before_after.preview_brightness(photo, 1.0), to_numpy(photo))
    np.testing.assert_allclose(before_after.preview_brightness(photo, 0.5), to_numpy(photo) * 0.5, atol=1e-7)
    assert before_after.preview_brightness(photo, 10.0).max() == 1.0  # clamped for display


def test_operator_preview(photo):
    from csrnet_lite import ops

    np.testing.assert_allclose(before_after.preview_operators(photo), to_numpy(photo), atol=1e-6)
    for b, c, s in [(1.3, 0.7, 1.6), (0.5, 1.8, 0.0), (2.0, 1.0, 1.0)]:
        chain = ops.saturation(ops.contrast(ops.brightness(photo, b), c), s)  # the operators in turn
        np.testing.assert_allclose(before_after.preview_operators(photo, b, c, s), to_numpy(chain), atol=2e-6)
    grey = before_after.preview_operators(photo, saturation=0.0)
    luma = to_numpy(photo) @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(grey, np.repeat(luma[..., None], 3, axis=2), atol=1e-6)
    flat = before_after.preview_operators(photo, contrast=0.0)
    assert np.ptp(flat) < 1e-6  # contrast 0: one grey everywhere (the mean luminance)
    np.testing.assert_allclose(flat[0, 0, 0], luma.mean(), atol=1e-6)
    tall = before_after.preview_operators(photo, histogram=True)
    assert tall.shape[0] > photo.shape[2] and tall.shape[1] == photo.shape[3]
    np.testing.assert_allclose(tall[:24], to_numpy(photo), atol=1e-6)


def test_histograms_are_fractions_of_pixels():
    image = np.zeros((10, 10, 3), np.float32)
    image[..., 0] = 0.3
    image[:5, :, 1] = 1.0
    edges, counts = histogram.histograms(image, bins=10)
    np.testing.assert_allclose(counts.sum(axis=1), 1.0)
    assert counts[0, 3] == 1.0  # red: every pixel in bin [0.3, 0.4)
    assert counts[1, 0] == 0.5 and counts[1, 9] == 0.5  # green: half black, half white
    assert counts[2, 0] == 1.0


def test_histogram_picture_draws_each_channel_in_its_colour():
    image = np.full((4, 4, 3), 0.5, np.float32)
    image[..., 2] = 0.0  # blue at the left end, red and green in the middle
    pic = histogram.histogram_picture(image, width=64, height=20, bins=64)
    assert pic.shape == (20, 64, 3)
    np.testing.assert_allclose(pic[-1, 32], [0.9, 0.9, 0.0])  # red + green bars at 0.5
    np.testing.assert_allclose(pic[-1, 0], [0.0, 0.0, 0.9])  # blue bar at 0
    np.testing.assert_array_equal(pic[:, 10], 0.0)  # empty bins stay black


def test_pca_finds_the_principal_axes():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    points = np.outer(t, [3.0, 4.0, 0.0]) / 5 + 5  # on a line in 3-D
    coords, explained = modulation_plots.pca_2d(points)
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(t - t.mean()), atol=1e-5)
    np.testing.assert_allclose(coords[:, 1], 0, atol=1e-5)
    np.testing.assert_allclose(explained, [1, 0], atol=1e-9)
    plane = rng.normal(size=(100, 2)) * [5.0, 1.0]
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0][:2]  # (2, 4) orthonormal rows
    coords, explained = modulation_plots.pca_2d(plane @ rotation)
    dist = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(coords), dist(plane - plane.mean(0)), atol=1e-4)  # a rigid copy
    assert explained[0] > explained[1] and explained.sum() == pytest.approx(1)


def test_tone_curves_of_known_maps():
    t, out = curves.tone_curves(lambda rgb: rgb * np.array([2.0, 1.0, 0.5], np.float32))
    np.testing.assert_allclose(out, t[:, None] * [2.0, 1.0, 0.5], atol=1e-6)

    def swap(x):  # a tensor colour map (B, 3, H, W): R <- G, G <- R
        if not isinstance(x, torch.Tensor):
            raise TypeError("tensors only")
        return x[:, [1, 0, 2]]
    t, out = curves.tone_curves(swap, n=5, mode="channel")
    np.testing.assert_allclose(out[:, 0], 0.5)  # red output follows the green input, held at 0.5
    np.testing.assert_allclose(out[:, 2], t)
    with pytest.raises(ValueError, match="mode"):
        curves.tone_curves(swap, mode="diagonal")


def test_lut_picture_of_the_identity_shows_the_lattice():
    n = 4
    pic = modulation_plots.lut_picture(identity_lut(n), columns=2)
    assert pic.shape == (2 * (n + 1) - 1, 2 * (n + 1) - 1, 3)
    for b in range(n):
        r0, c0 = (b // 2) * (n + 1), (b % 2) * (n + 1)
        for g in range(n):
            for r in range(n):
                np.testing.assert_allclose(pic[r0 + g, c0 + r], np.array([r, g, b]) / (n - 1), atol=1e-6)
    np.testing.assert_array_equal(pic[n], 1.0)  # white gap between tile rows


def test_encode_round_trips(photo):
    png = widgets.encode(photo, "png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), pictures.to_uint8(photo))
    smooth = np.linspace(0, 1, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3)
    jpeg = np.asarray(Image.open(io.BytesIO(widgets.encode(smooth))), dtype=np.float32)
    assert np.abs(jpeg - pictures.to_uint8(smooth)).max() < 8  # lossy, but the same picture
    with pytest.raises(ValueError, match="jpeg"):
        widgets.encode(photo, "gif")


def _identity_base() -> CSRNet:
    """A CSRNet whose base network is the identity on [0, 1]: channels 0-2 pass through."""
    model = CSRNet()
    with torch.no_grad():
        for conv in (model.conv1, model.conv2, model.conv3):
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:3, :3, 0, 0] = torch.eye(3)
    return model.eval()


def test_modulation_preview_follows_the_base_network(photo):
    model = _identity_base()
    np.testing.assert_allclose(modulation_plots.preview_modulations(model, photo, Modulations.identity()),
                               to_numpy(photo), atol=1e-5)
    zero = Modulations.identity()
    half = Modulations(zero.cond, (zero.scales[0], zero.scales[1], torch.full((1, 3), -0.5)), zero.shifts)
    np.testing.assert_allclose(modulation_plots.preview_modulations(model, photo, half), to_numpy(photo) * 0.5, atol=1e-5)


def test_preview_widget_updates_and_has_a_static_fallback(photo):
    factor = widgets.slider(1.0, 0.0, 2.0, description="brightness")
    preview = widgets.Preview(lambda factor: before_after.preview_brightness(photo, factor), {"factor": factor},
                          readout=lambda image, factor: f"mean {image.mean():.4f}", title="demo")
    first = preview.image.value
    assert preview.readout.value == f"mean {to_numpy(photo).mean():.4f}"
    factor.value = 0.5  # what moving the slider does
    assert preview.image.value != first
    assert preview.readout.value == f"mean {(to_numpy(photo) * 0.5).mean():.4f}"
    shown = np.asarray(Image.open(io.BytesIO(preview.image.value)), dtype=np.float32) / 255
    assert abs(shown.mean() - to_numpy(photo).mean() * 0.5) < 0.02
    bundle = preview._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    fallback = Image.open(io.BytesIO(__import__("base64").b64decode(bundle["image/png"])))
    assert fallback.format == "PNG" and fallback.width > 32
    assert "factor = 1" in preview.caption(static=True) or "factor = 0.5" in preview.caption()


def test_live_curve_keeps_history_and_draws_the_last_value():
    curve = plots.LiveCurve(("loss", "PSNR (dB)"), show=False)
    for step in range(5):
        curve.update(step, loss=1.0 / (step + 1), **{"PSNR (dB)": 20 + step, "ignored": 0})
    assert curve.history["loss"][-1] == (4.0, 0.2)
    fig = curve.figure()
    assert [ax.get_title() for ax in fig.axes] == ["loss: 0.2", "PSNR (dB): 24"]


def test_figures_are_figures_with_the_values_drawn(photo):
    mods = CSRNet().eval().modulations(photo)
    fig = modulation_plots.modulation_bars(mods)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    heights = [p.get_height() for p in fig.axes[2].patches]  # scale3
    np.testing.assert_allclose(heights, mods.scales[2][0].detach().numpy(), rtol=1e-6)
    fig = modulation_plots.modulation_heatmaps([torch.randn(4, 8), torch.randn(4, 3)], [torch.randn(4, 8), torch.randn(4, 3)],
                                  row_labels=list("abcd"))
    assert len([ax for ax in fig.axes if ax.images]) == 4
    assert isinstance(histogram.photo_report(photo), Figure)
    assert isinstance(before_after.colour_map_scatter(photo, photo), Figure)
    assert isinstance(plots.show_images([photo, photo], ["a", "b"]), Figure)
    fig = plots.bar_chart(["a", "b"], [10, 1000], highlight="a")
    assert [p.get_width() for p in fig.axes[0].patches] == [10, 1000]
    fig = modulation_plots.scatter_2d(np.zeros((3, 2)), ["x", "y", "x"])
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    assert len(plots.figure_png(fig)) > 1000


def test_preview_takes_integer_sliders_and_checkboxes(photo):
    images = [pictures.as_array(photo), 1 - pictures.as_array(photo)]
    pick, invert = widgets.int_slider(0, 0, 1, "photo"), widgets.toggle(False, "invert")
    preview = widgets.Preview(lambda photo, invert: 1 - images[photo] if invert else images[photo],
                          {"photo": pick, "invert": invert})
    first = preview.image.value
    pick.value = 1
    second = preview.image.value
    invert.value = True  # 1 - (1 - photo): the first picture again
    assert second != first and preview.image.value == first
    assert preview.caption() == "photo = 1, invert = True"


def test_preview_keeps_sliders_and_readout_together():
    """The readout sits right under the sliders and the picture is at most 600 px wide on screen,
    so that moving a slider and reading its effect never needs scrolling."""
    big = torch.rand(1, 3, 900, 1200)
    preview = widgets.Preview(lambda factor: before_after.preview_brightness(big, factor),
                              {"factor": widgets.slider(1.0, 0.0, 2.0, description="brightness")},
                              readout=lambda image, factor: "ok", title="demo")
    children = list(preview.widget.children)
    assert children.index(preview.readout) == children.index(preview.sliders["factor"]) + 1
    assert children.index(preview.image) > children.index(preview.readout)
    assert preview.image.layout.max_width == "600px" and preview.image.layout.object_fit == "contain"
    fallback = Image.open(io.BytesIO(preview.fallback_png))
    assert 500 <= fallback.width <= 700


def test_score_chart_has_error_bars_and_an_axis_around_the_scores():
    fig = plots.bar_chart(["a", "b", "c"], [24.1, 26.3, 25.0], errors=[0.5, 0.4, 0.6], log=False, fmt="{:.2f} dB")
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert 20 < lo < 23.6 and 26.7 < hi < 30  # around the scores and their bars, not from 0
    assert len(ax.containers) == 3  # one error bar per score
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert "± 0.40" in " ".join(t.get_text() for t in ax.texts)


def test_three_channel_heatmaps_are_ticked_rgb():
    fig = modulation_plots.modulation_heatmaps([torch.zeros(4, 64), torch.zeros(4, 64), torch.randn(4, 3)],
                                    [torch.zeros(4, 64), torch.zeros(4, 64), torch.randn(4, 3)])
    rgb = [ax for ax in fig.axes if [t.get_text() for t in ax.get_xticklabels()] == ["R", "G", "B"]]
    assert len(rgb) == 2  # scale3 and shift3


def test_scatter_labels_never_pile_up():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(0, 0.01, (20, 2)), [[5.0, 5.0], [-5.0, 4.0]]])  # a blob and two outliers
    fig = modulation_plots.scatter_2d(xy, labels=[f"p{i}" for i in range(len(xy))])
    written = {t.get_text(): np.array(t.xy) for t in fig.axes[0].texts}
    assert {"p20", "p21"} <= set(written) and len(written) < 6  # the outliers named, the blob once or so
    points = np.array(list(written.values())) / np.ptp(xy, axis=0)
    gaps = [np.abs(a - b).max() for i, a in enumerate(points) for b in points[i + 1:]]
    assert min(gaps) >= 0.06
