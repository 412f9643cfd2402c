# %% [markdown]
# # 1. Retouching is a colour map
#
# A photo editor's global sliders (brightness, contrast, saturation) change every pixel by the same
# rule. This notebook looks at what that rule does to the numbers of a photo, and finds that each of
# these edits is a **colour map**: a function from an input colour (R, G, B) to an output colour,
# applied to every pixel. That is the idea CSRNet is built on.
#
# **You will learn to**
# - read a photo as a cloud of colours: its RGB histogram and its pixels in the RGB cube;
# - say what brightness, contrast and saturation do to each pixel, as formulas and as pictures;
# - see that contrast needs one number about the whole image, its mean;
# - reproduce Pillow's `ImageEnhance` with our operators, to within one 8-bit level.
#
# **Time:** about 30 minutes to read and play; the cells run in under a minute on a laptop CPU.

# %%
# Set-up: installs csrnet-lite where it is missing (Colab, Binder), then says what runs.
import importlib.util
import subprocess
import sys

REPOSITORY = "https://github.com/csrnet-lite/csrnet-lite"
if importlib.util.find_spec("csrnet_lite") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+" + REPOSITORY], check=True)
    importlib.invalidate_caches()
from csrnet_lite import book

book.about()

# %%
import numpy as np
import torch
from IPython.display import Markdown, display
from PIL import ImageEnhance

from csrnet_lite import before_after, book, histogram, ops, pictures, plots, widgets
from csrnet_lite.data import sample_pair
from csrnet_lite.image import to_pil, to_tensor

book.setup()
size = book.pick(full=512, smoke=128)  # long edge in pixels
pair = sample_pair(0, size)  # a data.Pair: id, input, target and where it came from
photo, photo_name = pair.input, pair.id
B, C, H, W = photo.shape
histogram.photo_report(photo, f"{photo_name} ({W}x{H})")

# %% [markdown]
# Left: the photo. Middle: for each channel, the fraction of pixels at each value (its histogram).
# Right: a sample of its pixels as points in the RGB cube, each drawn in its own colour: the photo with
# the positions of the pixels forgotten.
#
# Each pixel is three numbers in [0, 1]:

# %%
row, col = H // 2, W // 3
r, g, b = photo[0, :, row, col].tolist()
book.say("The photo has **{n:,}** pixels. The pixel at row {row}, column {col} is (R, G, B) = "
         "({r:.3f}, {g:.3f}, {b:.3f}).", n=H * W, row=row, col=col, r=r, g=g, b=b)

# %% [markdown]
# ## Brightness: multiply
#
# Pillow's and torchvision's brightness multiplies every value by a factor. The operators of this
# package live in `csrnet_lite.ops`:

# %%
book.show_source(ops.brightness)

# %% [markdown]
# A brightness factor large enough to matter depends on the photo: we take the factor that lifts the
# brightest 5 % of the values past 1 (one over the 95th percentile of the values, rounded to 0.05).

# %%
factor = round(round(1 / float(np.quantile(photo.numpy(), 0.95)) / 0.05) * 0.05, 2)
brighter = ops.brightness(photo, factor).clamp(0, 1)  # operators do not clip; a saved photo is clipped
clipped = (photo * factor > 1).float().mean().item()
book.say("With factor {factor:.2f}, **{clipped:.1%}** of the values pass 1 and are clipped to white.",
         factor=factor, clipped=clipped)
histogram.photo_report(brighter, f"brightness x{factor:.2f}")

# %%
book.need("clipped", cell="Brightness: multiply")
if clipped >= 0.01:  # a pile of at least 1 % of the values is visible in the histogram
    book.say("The histogram stretches to the right and piles up at 1: the **{clipped:.1%}** of values "
             "that passed 1 all land there.", clipped=clipped)
else:
    book.say("The histogram stretches to the right; only **{clipped:.2%}** of the values pass 1, too few "
             "to see as a pile at 1.", clipped=clipped)

# %% [markdown]
# Plotting each output value against its input value shows the rule itself: a straight line through 0
# with slope `factor`, cut off at 1. It is a **per-channel tone curve**: the output red depends only on
# the input red.

# %%
book.need("brighter", "factor", cell="Brightness: multiply")
before_after.colour_map_scatter(photo, brighter, title=f"brightness x{factor:.2f}: output against input, per channel")

# %% [markdown]
# ## Contrast: push away from the mean
#
# Contrast blends each value with one grey level, the mean *luma* of the whole image: values above
# it move up, values below it move down, and the mean itself stays put.
#
# **Luma** is a weighted sum of a pixel's stored values, `0.299 R + 0.587 G + 0.114 B` (the weights of
# ITU-R BT.601, which Pillow uses too). The stored values of a photo are gamma-encoded (the sRGB curve
# makes them roughly the 1/2.2 power of the light), so luma is *not* luminance, the same kind of sum of
# linear light; notebook 4 uses luminance where it needs stops of light (one stop is twice the light). `ops.mean_luminance` returns
# the mean luma; its name is older than this distinction.

# %%
book.show_source(ops.contrast)

# %% [markdown]
# The grey level depends on the photo. We apply the same contrast factor to our photo and to a darker
# version of it and mark each one's fixed point. Contrast leaves the mean luma where it is, so the same
# slider setting applies a different colour map to each photo:

# %%
darker = ops.brightness(photo, 0.6)
mean_photo = ops.mean_luminance(photo).item()
mean_darker = ops.mean_luminance(darker).item()
book.say("Mean luma: **{a:.3f}** for the photo and **{b:.3f}** for the darker version.", a=mean_photo, b=mean_darker)
fig = before_after.colour_map_scatter(photo, ops.contrast(photo, 1.5).clamp(0, 1),
                             title="contrast x1.5 on the photo (red dots: the fixed point)")
for ax in fig.axes:
    ax.plot([mean_photo], [mean_photo], "o", color="darkred")
fig

# %%
book.need("darker", "mean_darker", cell="Contrast: push away from the mean")
fig = before_after.colour_map_scatter(darker, ops.contrast(darker, 1.5).clamp(0, 1),
                             title="contrast x1.5 on the darker photo")
for ax in fig.axes:
    ax.plot([mean_darker], [mean_darker], "o", color="darkred")
fig

# %% [markdown]
# So contrast is a colour map too, but *which* map depends on one number computed from the whole
# image. Keep that in mind: it is the reason CSRNet has a condition network (notebook 2).
#
# ## Saturation: push away from grey
#
# Saturation blends each pixel with its own grey, its luma:

# %%
book.show_source(ops.saturation)

# %%
saturated = ops.saturation(photo, 1.8).clamp(0, 1)
histogram.photo_report(saturated, "saturation x1.8")

# %% [markdown]
# The cloud in the RGB cube spreads away from the grey diagonal. Unlike brightness, the output red now
# depends on green and blue too, so output-against-input per channel is no longer one curve but a band
# (saturation mixes the channels). It is still a colour map: one input colour, one output colour.

# %%
book.need("saturated", cell="Saturation: push away from grey")
before_after.colour_map_scatter(photo, saturated, title="saturation x1.8: output against input, per channel")

# %%
# Spread of output red among pixels whose input red is nearly the same (within 1/64):
book.need("saturated", cell="Saturation: push away from grey")
bins = np.floor(pictures.as_array(photo)[..., 0] * 64).ravel()
out_red = pictures.as_array(saturated)[..., 0].ravel()
spread = max(np.ptp(out_red[bins == k]) for k in np.unique(bins) if (bins == k).sum() > 20)
book.say("Pixels with the same input red get output reds up to **{spread:.2f}** apart.", spread=spread)

# %% [markdown]
# ## A colour map does not care where a pixel is
#
# All three edits give every pixel of a photo the same treatment, whatever its position. Shuffling the
# pixels before the edit and unshuffling after changes nothing beyond float32 rounding (contrast's
# mean does not depend on the order either, up to the order of its additions):

# %%
order = torch.randperm(H * W)
shuffled = photo.reshape(1, 3, 1, H * W)[..., order]  # (1, 3, H, W) -> (1, 3, 1, H*W), shuffled
gaps = {}
for name, edit in {"brightness": lambda x: ops.brightness(x, 1.5), "contrast": lambda x: ops.contrast(x, 1.5),
                   "saturation": lambda x: ops.saturation(x, 1.8)}.items():
    back = torch.empty_like(shuffled)
    back[..., order] = edit(shuffled)
    gaps[name] = (back.reshape(1, 3, H, W) - edit(photo)).abs().max().item()  # (1, 3, 1, H*W) -> (1, 3, H, W)
book.say("Largest change from shuffling: brightness {brightness:.1e}, contrast {contrast:.1e}, "
         "saturation {saturation:.1e}.", **gaps)

# %% [markdown]
# ## Try it
#
# Move the sliders: the photo is edited with brightness, then contrast, then saturation, and its RGB
# histogram is drawn below it. Without a live kernel (e.g. in the HTML copy) you see the starting
# position only.

# %%
widgets.Preview(lambda brightness, contrast, saturation: before_after.preview_operators(
                photo, brightness, contrast, saturation, histogram=True),
            {"brightness": widgets.slider(1.0, 0.0, 2.0, description="brightness"),
             "contrast": widgets.slider(1.0, 0.0, 2.0, description="contrast"),
             "saturation": widgets.slider(1.0, 0.0, 2.0, description="saturation")},
            readout=lambda image, **_: f"mean value {image[:H].mean():.3f}, "
                                       f"white pixels {(image[:H] >= 1).all(-1).mean():.1%}",
            title="brightness, contrast, saturation")

# %% [markdown]
# ## Matching Pillow
#
# Pillow's `ImageEnhance.Brightness`, `Contrast` and `Color` work on 8-bit images and round their
# grey levels to whole 8-bit values. Our operators take that grey as an argument:
# `ops.pillow_mean` (contrast) and `ops.pillow_luma` (saturation) compute it exactly as Pillow does.
# We put the photo on the 8-bit grid, run both, and count how many 8-bit levels apart the results are,
# once rounding our result to 8 bits (as `image.quantize` and every image file writer do) and once
# truncating it as Pillow does internally. Truncation needs a tiny tolerance: float32 arithmetic can
# land on 254.99998 where the exact value is 255.

# %%
x8 = to_tensor(to_pil(photo))  # the photo as Pillow sees it: 8-bit values
ours = {"Brightness": lambda x, f: ops.brightness(x, f),
        "Contrast": lambda x, f: ops.contrast(x, f, ops.pillow_mean(x)),
        "Color": lambda x, f: ops.saturation(x, f, ops.pillow_luma(x))}
rows, rounded_worst, truncated_differ = [], 0, 0
for name, op in ours.items():
    for f in (0.5, 1.5):
        pillow = np.asarray(getattr(ImageEnhance, name)(to_pil(x8)).enhance(f)).astype(np.int64)
        levels = op(x8, f)[0].permute(1, 2, 0).double().numpy() * 255  # (3, H, W) -> (H, W, 3), 0..255
        rounded = np.abs(np.clip(np.round(levels), 0, 255) - pillow)
        truncated = np.clip(np.floor(levels + 1e-4), 0, 255) != pillow
        rounded_worst = max(rounded_worst, int(rounded.max()))
        truncated_differ += int(truncated.sum())
        rows.append(f"| `ImageEnhance.{name}` | {f} | {int(rounded.max())} | {(rounded > 0).mean():.1%} "
                    f"| {int(truncated.sum())} |")
display(Markdown("| Pillow | factor | rounded: max difference (levels) | rounded: values that differ "
                 "| truncated: values that differ |\n|---|---:|---:|---:|---:|\n" + "\n".join(rows)))
book.say("Rounded, our results are at most **{rounded_worst}** level(s) of 255 from Pillow's; truncated "
         "like Pillow, **{truncated_differ}** of {total:,} values differ.", rounded_worst=rounded_worst,
         truncated_differ=truncated_differ, total=6 * x8.numel())

# %%
book.need("x8", "ours", cell="Matching Pillow")
pillow_color = to_tensor(ImageEnhance.Color(to_pil(x8)).enhance(1.5))
ours_color = ours["Color"](x8, 1.5).clamp(0, 1)
plots.show_images([ours_color, pillow_color, before_after.difference_image(ours_color, pillow_color, gain=50)],
                ["ours: saturation x1.5", "Pillow: ImageEnhance.Color(1.5)", "|difference| x 50"],
                size=3.5)

# %% [markdown]
# ## Summary
#
# - A photo is a cloud of colours; a global edit moves every point of the cloud by the same rule, a
#   colour map from RGB to RGB, whatever the pixel's position.
# - Brightness multiplies (a per-channel line through 0), contrast pushes values away from the image's
#   mean luma (a line through that mean), saturation pushes colours away from their own grey
#   (it mixes the channels).
# - Contrast's map depends on a statistic of the whole image.
# - `csrnet_lite.ops` reproduces Pillow's enhancers; the only difference is how the last
#   digit is rounded.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** Which brightness factor gives the photo a mean luma of exactly 0.5 (ignoring
# clipping)? `ops.mean_luminance(photo)` gives the current mean.

# %% tags=["answer"]
answer_1 = None  # a number

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.need("answer_1", cell="answer_1 = ...")
def _mean_is_half(factor):
    return abs(ops.mean_luminance(ops.brightness(photo, float(factor))).item() - 0.5) < 1e-4


book.check(answer_1, _mean_is_half, name="Exercise 1", hint="luma is linear in the values: scaling the photo "
                                                            "scales its mean")

# %% tags=["solution"]
# Solution to Exercise 1. The mean luma scales with the factor: factor * mean = 0.5.
# wrong: ops.mean_luminance(photo).item() / 0.5        # the ratio upside down
# wrong: 0.5 - ops.mean_luminance(photo).item()        # brightness multiplies, it does not add
# wrong: 0.5                                           # the target mean is not the factor
solution_1 = 0.5 / ops.mean_luminance(photo).item()

# %% [markdown]
# **Exercise 2.** Contrast with factor 2 leaves one grey value (v, v, v) unchanged. What is v for
# this photo?

# %% tags=["answer"]
answer_2 = None  # a number

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.need("answer_2", cell="answer_2 = ...")
def _is_fixed_point(v):
    grey = torch.full((1, 3, 1, 1), float(v))
    return torch.allclose(ops.contrast(grey, 2.0, ops.mean_luminance(photo)), grey, atol=1e-4)


book.check(answer_2, _is_fixed_point, name="Exercise 2", hint="look at the formula in ops.contrast")

# %% tags=["solution"]
# Solution to Exercise 2. mean + 2 * (v - mean) = v  <=>  v = mean, the photo's mean luma.
# wrong: 0.5                                   # the middle of the range is not this photo's mean
# wrong: 2 * ops.mean_luminance(photo).item()  # the factor does not move the fixed point
# wrong: 0.0                                   # black moves: 0 -> -mean
solution_2 = ops.mean_luminance(photo).item()

# %% [markdown]
# **Exercise 3.** After brightness `factor` (the factor used above), what fraction of the photo's
# *pixels* have at least one channel clipped at 1? (Above we counted values, not pixels.) Answer with a
# number between 0 and 1.

# %% tags=["answer"]
answer_3 = None  # a number

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.need("answer_3", cell="answer_3 = ...")
book.need("factor", cell="Brightness: multiply")
book.check(answer_3, (photo * factor > 1).any(dim=1).float().mean().item(), tol=1e-4, name="Exercise 3",
           hint="compare with 1, then reduce over the channel dimension (dim=1) with .any() before averaging")

# %% tags=["solution"]
# Solution to Exercise 3. A pixel is clipped when any of its three channels passes 1.
# wrong: (photo * factor > 1).float().mean().item()           # the fraction of values, not of pixels
# wrong: (photo * factor > 1).all(dim=1).float().mean().item()  # all three channels clipped: fewer pixels
# wrong: (photo * factor >= 1).any(dim=1).float().sum().item()  # a count, not a fraction
# wrong: 0.0
solution_3 = (ops.brightness(photo, factor) > 1).any(dim=1).float().mean().item()

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert np.allclose(before_after.preview_operators(photo), pictures.as_array(photo), atol=1e-6)  # all factors 1: no change
assert abs(ops.contrast(torch.full((1, 3, 2, 2), mean_photo), 1.5, ops.mean_luminance(photo)) - mean_photo).max() < 1e-6
assert mean_darker < mean_photo and spread > 0.05
assert max(gaps.values()) < 1e-5
assert rounded_worst <= 1 and truncated_differ == 0
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
