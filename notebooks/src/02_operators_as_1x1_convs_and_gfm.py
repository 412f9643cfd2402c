# %% [markdown]
# # 2. Operators as 1x1 convolutions and GFM
#
# Notebook 1 found that global edits are colour maps. This notebook writes each of them with the two
# building blocks of CSRNet's base network, and ends by setting that network's weights by hand.
#
# - A **1x1 convolution** maps each pixel's channels through a matrix and adds a bias: the same affine
#   map for every pixel of every image.
# - A **global feature modulation** (GFM) multiplies each channel by `1 + scale` and adds `shift`: the
#   numbers change from image to image, and are the same for every pixel of one image.
#
# **You will learn to**
# - write brightness and white balance as per-channel scales (a GFM), and saturation as a 3x3 matrix
#   (a 1x1 convolution);
# - explain why contrast needs the image's mean, a global statistic: the reason for a condition network;
# - build a tone curve from ReLUs, as two 1x1 convolutions;
# - collapse a chain of operators into one convolution and one GFM;
# - set CSRNet's base network by hand so that its modulations become slider knobs, and reproduce a
#   retouch exactly.
#
# **Time:** about 45 minutes; the cells run in under a minute on a laptop CPU.

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
import functools

import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import book, by_hand, ops, pictures, plots, widgets
from csrnet_lite.data import sample_pair
from csrnet_lite.ops import ConvForm, GFMForm, apply_conv, apply_gfm, apply_mlp

book.setup()
size = book.pick(full=512, smoke=128)
pair = sample_pair(0, size)  # a data.Pair: id, input, target and where it came from
photo, photo_name = pair.input, pair.id
B, C, H, W = photo.shape


def gap(a, b):
    """Largest absolute difference between two tensors, as a float."""
    return (a - b).abs().max().item()


# %% [markdown]
# ## Brightness is a GFM
#
# Brightness multiplies every channel by the same factor, so as a GFM its scale is `factor - 1` and
# its shift is 0:

# %%
book.show_source(ops.brightness_as_gfm)

# %%
mod = ops.brightness_as_gfm(1.3)
print("scale", mod.scale, "\nshift", mod.shift)
book.say("Brightness 1.3 as a GFM differs from `ops.brightness` by **{g:.1e}**.",
         g=gap(apply_gfm(photo, mod), ops.brightness(photo, 1.3)))

# %% [markdown]
# ## White balance: one scale per channel
#
# White balance multiplies R, G and B by different gains, to warm up or cool down a photo. That is a
# GFM with a different scale per channel, or equally a 1x1 convolution with a diagonal matrix:

# %%
gains = (1.15, 1.0, 0.85)
wb_conv = ops.white_balance_as_conv(gains)
wb_gfm = GFMForm(torch.tensor([gains]) - 1, torch.zeros(1, 3))  # scale = gain - 1 per channel
print("as a 1x1 convolution, weight:\n", wb_conv.weight)
warm = ops.white_balance(photo, gains)
book.say("Differences from `ops.white_balance`: convolution **{a:.1e}**, GFM **{b:.1e}**.",
         a=gap(apply_conv(photo, wb_conv), warm), b=gap(apply_gfm(photo, wb_gfm), warm))
plots.show_images([photo, warm.clamp(0, 1)], ["photo", f"white balance gains {gains}"])

# %% [markdown]
# ## Saturation is a 3x3 matrix
#
# Saturation blends each pixel with its own luma `L = 0.299 R + 0.587 G + 0.114 B` (notebook 1). Every output
# channel is a weighted sum of all three input channels: a full 3x3 matrix, a 1x1 convolution. A GFM
# cannot do it, because a GFM never mixes channels.

# %%
book.show_source(ops.saturation_as_conv)

# %%
sat = ops.saturation_as_conv(1.5)
display(Markdown("Saturation 1.5 as a matrix (rows: output R, G, B; columns: input R, G, B):\n\n"
                 + "\n".join("    " + "  ".join(f"{v:+.4f}" for v in row) for row in sat.weight.tolist())))
row_sums = sat.weight.sum(dim=1)
book.say("Each row sums to 1 (sums: {sums}), so a grey pixel (v, v, v) stays (v, v, v): saturation leaves "
         "greys alone. The matrix differs from `ops.saturation` by **{g:.1e}**.",
         sums=", ".join(f"{v:.4f}" for v in row_sums.tolist()), g=gap(apply_conv(photo, sat), ops.saturation(photo, 1.5)))

# %% [markdown]
# ## Contrast needs the image's mean
#
# Contrast is `mean + factor * (x - mean)`: a GFM with scale `factor - 1` and shift
# `(1 - factor) * mean`. The shift depends on the image's mean luma. Two photos with different
# means need different shifts:

# %%
darker = ops.brightness(photo, 0.6)
pair = torch.cat([photo, darker])  # a batch of two photos: (2, 3, H, W)
means = ops.mean_luminance(pair)  # (2,): one mean per photo
mod = ops.contrast_as_gfm(1.5, means)
print("scale per photo:\n", mod.scale, "\nshift per photo:\n", mod.shift)
book.say("As a GFM with each photo's own mean, contrast differs from `ops.contrast` by **{g:.1e}**.",
         g=gap(apply_gfm(pair, mod), ops.contrast(pair, 1.5)))

# %% [markdown]
# Could one fixed 1x1 convolution (a 3x3 matrix and a bias, the same for both photos) do contrast 1.5
# on both? We fit the best one by *least squares* (the matrix and bias that make the sum of the
# squared differences from the wanted output smallest, solved exactly by `torch.linalg.lstsq`) on the
# pixels of both photos:

# %%
book.need("pair", cell="Contrast needs the image's mean")
inputs = pair.permute(0, 2, 3, 1).reshape(-1, 3)  # (2, 3, H, W) -> (2*H*W, 3) pixels
targets = ops.contrast(pair, 1.5).permute(0, 2, 3, 1).reshape(-1, 3)
design = torch.cat([inputs, torch.ones(len(inputs), 1)], dim=1)  # (N, 4): a column of ones for the bias
solution = torch.linalg.lstsq(design.double(), targets.double()).solution.float()  # (4, 3)
fixed = ConvForm(solution[:3].T.contiguous(), solution[3].contiguous())
fixed_error = gap(apply_conv(pair, fixed), ops.contrast(pair, 1.5))
book.say("The best fixed convolution is off by up to **{e:.3f}** (on a scale of 0 to 1); the GFM with each "
         "photo's mean was off by the rounding above.", e=fixed_error)

# %% [markdown]
# A network that does contrast must look at the whole photo to find its mean: in CSRNet that is the
# job of the **condition network**, which computes global statistics once per photo and sets the GFMs.

# %% [markdown]
# ## Tone curves are ReLU networks
#
# A tone curve maps each channel through a curve through a few points (knots), straight between them.
# Such a piecewise-linear curve is a sum of ramps `ReLU(x - knot)`, one per knot, each weighted by how
# much the slope changes there. In 1x1 convolutions: a first one computes `x - knot` for every
# channel and knot, a ReLU, a second one adds the ramps up.

# %%
knots_in = [0.0, 0.25, 0.5, 0.75, 1.0]
knots_out = [0.0, 0.18, 0.5, 0.82, 1.0]  # an S-curve: more contrast in the mid-tones
curve_layers = ops.tone_curve_as_mlp(knots_in, knots_out)
for i, layer in enumerate(curve_layers, 1):
    print(f"1x1 convolution {i}: weight {tuple(layer.weight.shape)}, bias {tuple(layer.bias.shape)}")
book.say("Knots per channel: {k}, so the hidden layer has {h} channels (3 x {k}). The ReLU network "
         "differs from `ops.tone_curve` by **{g:.1e}**.", k=len(knots_in), h=curve_layers[0].weight.shape[0],
         g=gap(apply_mlp(photo, curve_layers), ops.tone_curve(photo, knots_in, knots_out)))

# %%
book.need("knots_in", "knots_out", "curve_layers", cell="Tone curves are ReLU networks")
t = torch.linspace(0, 1, 201)
ramp = t.reshape(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous()  # (1, 3, 1, 201): a grey ramp
hidden = torch.relu(apply_conv(ramp, curve_layers[0]))[0, :, 0]  # (3K, 201): the ramps
weights = curve_layers[1].weight[0]  # (3K,): how the red output weighs each ramp
fig = Figure(figsize=(10, 3.4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
for j in range(len(knots_in)):
    ax1.plot(t, weights[j] * hidden[j], label=f"{weights[j].item():+.2f} x ReLU(x - {knots_in[j]})")
ax1.set(title="the weighted ramps (red channel)", xlabel="input", ylabel="contribution to the red output")
ax1.legend(fontsize=7)
ax2.plot(t, curve_layers[1].bias[0] + (weights[:, None] * hidden).sum(0), color="tab:red", label="sum of ramps")
ax2.plot(knots_in, knots_out, "ko", label="knots")
ax2.plot([0, 1], [0, 1], "k--", lw=0.8)
ax2.set(title="their sum: the tone curve", xlabel="input", ylabel="output", aspect="equal")
ax2.legend(fontsize=8)
fig

# %% [markdown]
# ## Chains collapse
#
# Convolutions and GFMs are affine, so a chain of them is affine too. `ops.compose` collapses a chain
# into one convolution followed by one GFM. Here: white balance, saturation, contrast (with the mean of
# the image it receives), brightness.

# %%
book.need("gains", cell="White balance: one scale per channel")
after_wb_sat = ops.saturation(ops.white_balance(photo, gains), 1.4)
steps = [ops.white_balance_as_conv(gains), ops.saturation_as_conv(1.4),
         ops.contrast_as_gfm(1.2, ops.mean_luminance(after_wb_sat)), ops.brightness_as_gfm(1.1)]
conv, mod = ops.compose(*steps)
chain = ops.brightness(ops.contrast(after_wb_sat, 1.2), 1.1)
book.say("One convolution and one GFM reproduce the four-step chain to **{g:.1e}**.",
         g=gap(apply_gfm(apply_conv(photo, conv), mod), chain))

# %% [markdown]
# Not every order collapses: a GFM with a different scale per channel cannot move past a matrix that
# mixes channels. `compose` says so instead of returning something wrong:

# %%
book.need("wb_gfm", cell="White balance: one scale per channel")
try:
    ops.compose(wb_gfm, ops.saturation_as_conv(1.4))
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## The shape of CSRNet's base network
#
# Put the pieces in a row: `1x1 conv -> GFM -> ReLU -> 1x1 conv -> GFM -> ReLU -> 1x1 conv -> GFM`.
# That is exactly CSRNet's base network (64 channels in the two hidden layers). Its weights are fixed
# after training; its GFMs are set per photo by the condition network.

# %% [markdown]
# ### CSRNet by hand
#
# We now set the base network's weights by hand so that its modulations are four knobs: brightness
# `b`, contrast `k`, saturation `f` and warmth `w`, followed by the S-curve above as a fixed "house
# style". The retouch it must reproduce is
#
# `white_balance(tone_curve(contrast(saturation(brightness(x, b), f), k)), (1 + w, 1, 1 - w))`.
#
# - **Layer 1** copies the pixel and its luma, each with both signs: channels `x, -x, L, -L`
#   (8 channels; the other 56 are zero). Its GFM scales `x` by `k f b` and `L` by `k (1 - f) b`
#   (brightness, saturation and contrast, multiplied out) and shifts `x` by the contrast term
#   `(1 - k) b m`, where `m` is the photo's mean luma. The ReLU keeps the positive part of each
#   copy, so `ReLU(a) - ReLU(-a) = a` loses nothing.
# - **Layer 2** adds the parts back up, `v = x' - (-x)' + L' - (-L)'` (this is the contrast, saturation
#   and brightness result), and feeds it straight into the tone curve's first convolution: two matrices
#   in a row are one matrix. Its GFM is the identity; its ReLU makes the curve's ramps.
# - **Layer 3** is the tone curve's second convolution; its GFM scales R by `1 + w` and B by `1 - w`.
#
# The only global statistic is `m`: our hand-written "condition network" is one line. Both live in
# `csrnet_lite/by_hand.py`:

# %%
book.show_source(by_hand.hand_made_csrnet)

# %%
book.show_source(by_hand.hand_modulations)

# %% [markdown]
# The retouch they must reproduce, with the operators of `csrnet_lite.ops`:

# %%
book.show_source(by_hand.target_retouch)

# %%
book.need("knots_in", "knots_out", cell="Tone curves are ReLU networks")
hand_net = by_hand.hand_made_csrnet(knots_in, knots_out)  # the S-curve above as the house style
knobs = dict(brightness=1.2, contrast=1.3, saturation=1.5, warmth=0.06)  # the retouch to reproduce
with torch.no_grad():
    hand_out = hand_net.base(photo, by_hand.hand_modulations(photo, **knobs))
hand_gap = gap(hand_out, by_hand.target_retouch(photo, **knobs, knots_in=knots_in, knots_out=knots_out))
book.say("The hand-made CSRNet reproduces the retouch to **{g:.1e}**, float32 rounding.", g=hand_gap)

# %% [markdown]
# ### Drive it yourself
#
# The picture on the right below is the retouch with other knob settings, drawn at random on the
# sliders' grids and not shown. The sliders set the hand-made network's modulations; the readout says
# how far the result is from the target. Can you find the settings? The widget bakes the network into
# a lookup table for speed (see notebook 6), so even the right settings leave a tiny difference (the
# cell above shows the network itself is exact).

# %%
book.need("knots_in", "knots_out", cell="Tone curves are ReLU networks")
rng = np.random.default_rng(2020)  # the puzzle's settings, on the sliders' grids (not printed)
secret = dict(brightness=float(rng.choice(np.arange(0.8, 1.41, 0.05)).round(2)),
              contrast=float(rng.choice(np.arange(0.8, 1.51, 0.05)).round(2)),
              saturation=float(rng.choice(np.arange(0.4, 1.81, 0.05)).round(2)),
              warmth=float(rng.choice([-0.08, -0.06, -0.04, 0.04, 0.06, 0.08])))
goal = by_hand.target_retouch(photo, **secret, knots_in=knots_in, knots_out=knots_out).clamp(0, 1)
goal_array = pictures.as_array(goal)
plots.show_images([photo, goal], ["photo", "target retouch"], size=3.5)

# %% [markdown]
# The widget calls `by_hand.preview(hand_net, photo, brightness, contrast, saturation, warmth)` on every
# slider move, and `by_hand.distance_readout` for the line under the picture:

# %%
book.need("hand_net", cell="CSRNet by hand")
book.need("goal_array", cell="Drive it yourself")
widgets.Preview(functools.partial(by_hand.preview, hand_net, photo),
            {"brightness": widgets.slider(1.0, 0.5, 2.0, 0.05, "brightness b"),
             "contrast": widgets.slider(1.0, 0.5, 2.0, 0.05, "contrast k"),
             "saturation": widgets.slider(1.0, 0.0, 2.0, 0.05, "saturation f"),
             "warmth": widgets.slider(0.0, -0.2, 0.2, 0.01, "warmth w")},
            readout=functools.partial(by_hand.distance_readout, goal=goal_array), title="CSRNet by hand")

# %% [markdown]
# **Puzzle.** When the readout is as small as you can make it, copy the four slider values into the
# answer cell and run the check below it. The check runs the network itself (no lookup table), where
# the right settings leave only float32 rounding; it accepts a mean difference below
# `puzzle_tolerance`, and one slider step off is already more:

# %%
book.need("goal_array", "secret", cell="Drive it yourself")
book.need("hand_net", cell="CSRNet by hand")
lut_error = by_hand.mean_difference(by_hand.preview(hand_net, photo, **secret), goal_array)
puzzle_tolerance = 1e-4


def exact_difference(knobs: dict) -> float:
    """Mean |difference| from the target of the hand-made network itself (no lookup table), clipped."""
    with torch.no_grad():
        image = hand_net.base(photo, by_hand.hand_modulations(photo, **knobs)).clamp(0, 1)
    return by_hand.mean_difference(pictures.as_array(image), goal_array)


step_off = min(exact_difference({**secret, name: secret[name] + step})
               for name, step in [("brightness", 0.05), ("contrast", 0.05), ("saturation", 0.05), ("warmth", 0.01)])
book.say("In the widget, the right settings leave **{e:.4f}** (the lookup table's interpolation). In the "
         "check, one slider step off leaves at least **{s:.4f}**, {verdict} the tolerance **{t}**.",
         e=lut_error, s=step_off, t=puzzle_tolerance,
         verdict=book.compare(step_off, puzzle_tolerance, 0.0, more="above", less="below", same="at"))

# %% tags=["answer"]
answer_puzzle = None  # dict(brightness=..., contrast=..., saturation=..., warmth=...)

# %% tags=["check"]
# Check of the puzzle: run this cell
book.need("answer_puzzle", cell="answer_puzzle = ...")
book.need("puzzle_tolerance", "exact_difference", cell="Drive it yourself")
def _finds_the_target(knobs):
    return exact_difference(knobs) < puzzle_tolerance


book.check(answer_puzzle, _finds_the_target, name="Puzzle",
           hint="set brightness first (it moves the readout most), then contrast, then warmth and saturation")

# %% tags=["solution"]
# Solution of the puzzle: the settings the target was made with.
# wrong: dict(brightness=1.0, contrast=1.0, saturation=1.0, warmth=0.0)     # the sliders' start
# wrong: knobs                                                              # the retouch reproduced above
# wrong: {**secret, "saturation": round(secret["saturation"] + 0.05, 2)}    # one slider step off
solution_puzzle = dict(secret)

# %% [markdown]
# ## Summary
#
# - Brightness and white balance are per-channel scales: a GFM (or a diagonal 1x1 convolution).
# - Saturation mixes channels: a 3x3 matrix, a 1x1 convolution.
# - Contrast's shift depends on the image's mean: a fixed convolution cannot do it, a GFM set from a
#   global statistic can. That statistic is what a condition network computes.
# - Tone curves are sums of ReLU ramps: two 1x1 convolutions with a ReLU between them.
# - Chains of these collapse, and a chain of conv, GFM and ReLU has exactly the shape of CSRNet's base
#   network: with hand-set weights, its modulations are a photo editor's knobs.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** Write the 3x3 matrix of saturation 0 (black and white) as a torch tensor, without
# calling `ops`. Hint: every output channel is the luma.

# %% tags=["answer"]
answer_1 = None  # a (3, 3) tensor

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.need("answer_1", cell="answer_1 = ...")
book.check(answer_1, ops.saturation_as_conv(0.0).weight, tol=1e-6, name="Exercise 1",
           hint="every output channel is the same weighted sum of R, G and B")

# %% tags=["solution"]
# Solution to Exercise 1. Every output channel is the luma, so every row holds the luma weights.
# wrong: torch.eye(3)                                    # that is saturation 1, no change
# wrong: torch.tensor([[0.299, 0.587, 0.114]] * 3).T     # weights in the columns: output = weight * own channel sum
# wrong: torch.full((3, 3), 1 / 3)                       # the plain average is not the luma
solution_1 = torch.tensor([[0.299, 0.587, 0.114]] * 3)

# %% [markdown]
# **Exercise 2.** Brightness 1.2 followed by contrast 1.5 is one GFM for this photo. Give its scale
# and shift (the same for all three channels) as a pair of numbers `(scale, shift)`.

# %% tags=["answer"]
answer_2 = None  # (scale, shift)

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.need("answer_2", cell="answer_2 = ...")
_m = ops.mean_luminance(ops.brightness(photo, 1.2))
_, _mod = ops.compose(ops.brightness_as_gfm(1.2), ops.contrast_as_gfm(1.5, _m))
book.check(answer_2, (_mod.scale[0, 0].item(), _mod.shift[0, 0].item()), tol=1e-4, name="Exercise 2",
           hint="a GFM computes x * (1 + scale) + shift; and the contrast's mean is the mean of the "
                "brightened photo")

# %% tags=["solution"]
# Solution to Exercise 2. 1.5 * (1.2 x - m') + m' with m' = 1.2 m, the brightened photo's mean:
# x * (1 + scale) + shift with scale = 1.2 * 1.5 - 1 and shift = (1 - 1.5) * m'.
# wrong: (1.2 * 1.5, (1 - 1.5) * 1.2 * ops.mean_luminance(photo).item())       # forgot the 1 + in 1 + scale
# wrong: (1.2 * 1.5 - 1, (1 - 1.5) * ops.mean_luminance(photo).item())         # the mean before brightening
# wrong: (1.2 * 1.5 - 1, 0.0)                                                  # contrast has a shift
m_bright = 1.2 * ops.mean_luminance(photo).item()
solution_2 = (1.2 * 1.5 - 1, (1 - 1.5) * m_bright)

# %% [markdown]
# **Exercise 3.** Give knots `(knots_in, knots_out)` of a tone curve that turns the photo into its
# negative, `1 - x`.

# %% tags=["answer"]
answer_3 = None  # (knots_in, knots_out)

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.need("answer_3", cell="answer_3 = ...")
def _is_negative(knots):
    layers = ops.tone_curve_as_mlp(*knots)
    return gap(apply_mlp(photo, layers), 1 - photo) < 1e-5


book.check(answer_3, _is_negative, name="Exercise 3", hint="a straight line needs only two knots")

# %% tags=["solution"]
# Solution to Exercise 3. A straight line from (0, 1) to (1, 0).
# wrong: ([0.0, 1.0], [0.0, 1.0])      # the identity
# wrong: ([0.0, 1.0], [0.0, -1.0])     # -x, not 1 - x
# wrong: ([0.0, 1.0], [1.0, 1.0])      # constant white
solution_3 = ([0.0, 1.0], [1.0, 0.0])

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert gap(apply_gfm(photo, ops.brightness_as_gfm(1.3)), ops.brightness(photo, 1.3)) < 1e-6
assert gap(apply_conv(photo, sat), ops.saturation(photo, 1.5)) < 1e-5
assert torch.allclose(row_sums, torch.ones(3))
assert fixed_error > 0.01  # no fixed convolution does contrast on two photos
assert gap(apply_gfm(apply_conv(photo, conv), mod), chain) < 1e-5
assert hand_gap < 1e-5
assert lut_error < 0.01 and step_off > 5 * puzzle_tolerance  # the puzzle can be solved, and only one way
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
