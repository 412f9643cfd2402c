# %% [markdown]
# # 3. Building CSRNet
#
# Notebooks 1 and 2 showed that global retouching operators are colour maps, that a chain of 1x1
# convolutions with per-channel scales and shifts can express them, and that some of them (contrast)
# need a statistic of the whole image. CSRNet is exactly that: a **base network** of 1x1 convolutions
# that sees one pixel at a time, and a **condition network** that looks at the whole photo once and
# decides the scales and shifts, the *global feature modulation* (GFM), of every layer.
#
# **You will learn to**
# - follow a photo through the condition network and the base network, with the shape at every step;
# - read the GFM formula and see why a scale and shift of zero leave the features unchanged;
# - count CSRNet's parameters per part and compare them with other retouching networks;
# - load the authors' released weights (or, without them, notebook 2's CSRNet set by hand) and look
#   at what they do to a photo.
#
# **Time:** about 30 minutes to read and do the exercises; the cells run in well under a minute on a
# laptop CPU.

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
import torch
from IPython.display import Markdown, display

from csrnet_lite import before_after, book, by_hand, curves, modulation_plots, ops, pictures, plots, widgets
from csrnet_lite.data import sample_pair
from csrnet_lite.checkpoint import load_official
from csrnet_lite.model import CSRNet, Modulations, count_parameters, gfm

book.setup()
size = book.pick(full=512, smoke=128)  # long edge of the photo we follow through the network
pair = sample_pair(0, size)  # a data.Pair: id, input, target and where it came from
photo, photo_name = pair.input, pair.id
plots.show_images([photo], [f"{photo_name}: tensor of shape {tuple(photo.shape)}"], size=4)

# %% [markdown]
# Every image in this package is a float32 tensor of shape (B, 3, H, W) with values in [0, 1]: a
# batch of B photos, 3 colour channels, H rows and W columns.
#
# ## The whole network
#
# Printing the model lists its layers. Keep this list in view: the rest of the notebook runs them one
# at a time.

# %%
model = CSRNet().eval()  # fresh, untrained weights: the shapes are what matters here
print(model)

# %% [markdown]
# ## The condition network, step by step
#
# The condition network has three convolutions with stride 2 (kernels 7x7, 3x3 and 3x3, each after one
# pixel of zero padding), each followed by a ReLU, and then averages each of its 32 feature maps over
# the whole image. A stride-2 convolution with kernel size k on a padded input of size n + 2 gives
# floor((n + 2 - k) / 2) + 1 outputs. We run the layers one at a time and compare each shape with that
# formula.

# %%
book.need("model", cell="The whole network")
cn = model.cond_net
h = photo
expected = tuple(photo.shape[2:])
with torch.no_grad():
    for name in ("conv1", "conv2", "conv3"):
        conv = getattr(cn, name)
        k = conv.kernel_size[0]
        h = cn.act(conv(cn.pad(h)))  # (B, C, H, W) -> (B, 32, ~H/2, ~W/2)
        expected = tuple((n + 2 - k) // 2 + 1 for n in expected)
        print(f"pad + {name} ({k}x{k}, stride 2) + ReLU -> {tuple(h.shape)}   formula: {expected}")
        assert tuple(h.shape[2:]) == expected
    cond = h.mean(dim=(2, 3))  # global average pool: (B, 32, h, w) -> (B, 32)
print(f"global average pool -> cond {tuple(cond.shape)}")
assert torch.allclose(cond, cn(photo))  # the same as running the module in one go

# %% [markdown]
# The average over the whole image is what makes the condition vector **global**: it has 32 numbers
# whatever the size of the photo. Six linear layers ("heads") turn it into a scale and a shift for
# each of the base network's three layers. `model.modulations` runs the condition network and the
# heads and returns them together:

# %%
book.need("model", cell="The whole network")
with torch.no_grad():
    mods = model.modulations(photo)
print("cond    ", tuple(mods.cond.shape))
for i, (scale, shift) in enumerate(zip(mods.scales, mods.shifts), 1):
    print(f"scale{i}  ", tuple(scale.shape), f"   shift{i}  ", tuple(shift.shape))

# %% [markdown]
# ## Global feature modulation
#
# GFM multiplies every feature map by its own number and adds another, the same for every pixel. It
# is written once in the package:

# %%
book.show_source(gfm)

# %% [markdown]
# The authors write the same formula as `x * scale + shift + x`. Moving the residual `+ x` into the
# scale makes `scale = shift = 0` the identity: a "do nothing" modulation. We check both statements on
# random numbers:

# %%
x = torch.randn(2, 5, 4, 3)  # (B, C, H, W) features
scale, shift = torch.randn(2, 5), torch.randn(2, 5)  # (B, C): one number per image and channel
authors = x * scale[:, :, None, None] + shift[:, :, None, None] + x
gap = (gfm(x, scale, shift) - authors).abs().max().item()
zero = torch.zeros(2, 5)
identity_gap = (gfm(x, zero, zero) - x).abs().max().item()
book.say("Largest difference from the authors' form: **{gap:.1e}**; with zero scale and shift the "
         "output differs from the input by **{identity_gap}**.", gap=gap, identity_gap=identity_gap)
assert gap < 1e-5 and identity_gap == 0

# %% [markdown]
# ## The base network, step by step
#
# Three 1x1 convolutions, each followed by GFM with that layer's scale and shift, and a ReLU after the
# first two. A 1x1 convolution mixes the channels of one pixel and never looks at its neighbours.

# %%
book.need("mods", cell="The condition network, step by step")
book.need("model", cell="The whole network")
(s1, s2, s3), (t1, t2, t3) = mods.scales, mods.shifts
with torch.no_grad():
    h = model.conv1(photo)
    print("conv1 (1x1)       ", tuple(h.shape))  # (B, 3, H, W) -> (B, 64, H, W)
    h = model.act(gfm(h, s1, t1))
    print("GFM(scale1, shift1) + ReLU", tuple(h.shape))
    h = model.conv2(h)
    print("conv2 (1x1)       ", tuple(h.shape))
    h = model.act(gfm(h, s2, t2))
    print("GFM(scale2, shift2) + ReLU", tuple(h.shape))
    h = model.conv3(h)
    print("conv3 (1x1)       ", tuple(h.shape))  # (B, 64, H, W) -> (B, 3, H, W)
    output = gfm(h, s3, t3)
    print("GFM(scale3, shift3)", tuple(output.shape))
    assert torch.allclose(output, model(photo), atol=1e-6)  # the same as the whole model

# %% [markdown]
# Because the base network only ever looks at one pixel, it is a **colour map**: the same input
# colour always gives the same output colour, wherever it is. Shuffling the pixels before the base
# network and unshuffling after gives the same picture:

# %%
book.need("mods", cell="The condition network, step by step")
book.need("model", cell="The whole network")
book.need("output", cell="The base network, step by step")
B, C, H, W = photo.shape
order = torch.randperm(H * W)
pixels = photo.reshape(1, 3, H * W, 1)  # (1, 3, H, W) -> (1, 3, H*W, 1): a column of pixels
with torch.no_grad():
    shuffled_out = model.base(pixels[:, :, order], mods)
unshuffled = torch.empty_like(shuffled_out)
unshuffled[:, :, order] = shuffled_out
shuffle_gap = (unshuffled.reshape(1, 3, H, W) - output).abs().max().item()  # (1, 3, H*W, 1) -> (1, 3, H, W)
book.say("Shuffled and unshuffled, the output differs from the direct output by at most "
         "**{shuffle_gap:.1e}** (rounding).", shuffle_gap=shuffle_gap)
assert shuffle_gap < 1e-5

# %% [markdown]
# ## Counting the parameters
#
# We count the parameters of every layer and group them into the three parts.

# %%
book.need("model", cell="The whole network")
rows, parts = [], {"condition network": 0, "scale/shift heads": 0, "base network": 0}
for name, module in model.named_children():
    n = count_parameters(module)
    if n == 0:
        continue
    part = ("condition network" if name == "cond_net" else
            "scale/shift heads" if name.startswith("cond_") else "base network")
    parts[part] += n
    shapes = " + ".join(str(tuple(p.shape)) for p in module.parameters())
    rows.append(f"| `{name}` | {part} | {shapes} | {n:,} |")
display(Markdown("| layer | part | parameter shapes | count |\n|---|---|---|---:|\n" + "\n".join(rows)))
total = count_parameters(model)
assert sum(parts.values()) == total
book.say("In total **{total:,}** parameters: condition network **{cond:,}** ({cond_pct:.0f}%), "
         "heads **{heads:,}** ({heads_pct:.0f}%), base network **{base:,}** ({base_pct:.0f}%).",
         total=total, cond=parts["condition network"], heads=parts["scale/shift heads"],
         base=parts["base network"], cond_pct=100 * parts["condition network"] / total,
         heads_pct=100 * parts["scale/shift heads"] / total, base_pct=100 * parts["base network"] / total)

# %% [markdown]
# Most parameters sit in the condition network, which runs once per photo (on a small view of it).
# The base network, which runs on every pixel, is tiny. Its cost per pixel is the number of
# multiply-adds of its three 1x1 convolutions:

# %%
book.need("cn", cell="The condition network, step by step")
book.need("model", cell="The whole network")
macs_per_pixel = sum(m.in_channels * m.out_channels for m in (model.conv1, model.conv2, model.conv3))
megapixels = 12
thumb = 128  # the condition network can look at a 128x128 thumbnail instead of the full photo
cond_macs, side = 0, thumb
for conv in (cn.conv1, cn.conv2, cn.conv3):
    side = (side + 2 - conv.kernel_size[0]) // 2 + 1
    cond_macs += side * side * conv.kernel_size[0] ** 2 * conv.in_channels * conv.out_channels
book.say("The base network needs **{macs:,}** multiply-adds per pixel, so a {mp} megapixel photo takes "
         "**{gmacs:.0f}** billion. The condition network on a {thumb}x{thumb} thumbnail takes "
         "**{cmacs:.0f}** million, once per photo.",
         macs=macs_per_pixel, mp=megapixels, gmacs=macs_per_pixel * megapixels * 1e6 / 1e9,
         thumb=thumb, cmacs=cond_macs / 1e6)

# %% [markdown]
# ### Compared with other retouching networks
#
# The paper's comparison table (He et al., ECCV 2020, Table 1) lists these parameter counts. We put
# our count beside them:

# %%
book.need("total", cell="Counting the parameters")
paper_table = {  # parameter counts as reported in the CSRNet paper
    "HDRNet": 482_000,
    "DUPE": 999_000,
    "White-Box": 8_560_000,
    "Distort-and-Recover": 259_000_000,
}
counts = {"CSRNet (this package)": total, **paper_table}
ratios = {name: n / total for name, n in paper_table.items()}
book.say("Parameters of each network divided by CSRNet's: HDRNet **{hdr:.0f}**, DUPE **{dupe:.0f}**, "
         "White-Box **{wb:.0f}**, Distort-and-Recover **{dr:,.0f}**: {verdict}.",
         hdr=ratios["HDRNet"], dupe=ratios["DUPE"], wb=ratios["White-Box"], dr=ratios["Distort-and-Recover"],
         verdict=book.compare(min(ratios.values()), 1.0, 0.0, more="each is larger than CSRNet",
                             less="not every one is larger than CSRNet"))
plots.bar_chart(list(counts), list(counts.values()), highlight="CSRNet (this package)",
              xlabel="parameters (log scale)", title="Parameters of global retouching networks")

# %% [markdown]
# ## The authors' weights
#
# The authors released CSRNet trained on MIT-Adobe FiveK (expert C). `load_official()` loads them when
# you have the 150 kB file, and otherwise says how to get it in one line. Without the file this
# notebook uses the CSRNet whose weights notebook 2 set by hand (`by_hand.hand_made_csrnet`): the same
# architecture, with its modulations computed by `by_hand.hand_modulations` from four knob settings
# instead of a trained condition network. We pick settings for this photo: a brightness factor that
# brings its mean luma to 0.45 (within 0.8 to 2), a little more contrast, saturation and warmth, and
# the S-shaped tone curve built into the hand-set weights.

# %%
try:
    net = load_official()
    net_name = "CSRNet, authors' weights"
    with torch.no_grad():
        mods = net.modulations(photo)
except FileNotFoundError as e:
    print(e)
    net = by_hand.hand_made_csrnet()
    net_name = "CSRNet set by hand (notebook 2)"
    knobs = dict(brightness=min(max(0.45 / ops.mean_luminance(photo).item(), 0.8), 2.0),
                 contrast=1.2, saturation=1.3, warmth=0.03)
    mods = by_hand.hand_modulations(photo, **knobs)
    print("knobs:", {k: round(v, 2) for k, v in knobs.items()})
with torch.no_grad():
    retouched = net.base(photo, mods).clamp(0, 1)
book.say("Using **{net_name}**; mean luma {before:.3f} before and {after:.3f} after.",
         net_name=net_name, before=ops.mean_luminance(photo).item(), after=ops.mean_luminance(retouched).item())
plots.show_images([photo, retouched], ["input", net_name], size=4)

# %% [markdown]
# Drag the slider to move the line between the input (left) and the result (right). Without a live
# kernel (e.g. in the HTML copy) you see the picture at the slider's starting position.

# %%
book.need("retouched", "net_name", cell="The authors' weights")
before, after = pictures.as_array(photo), pictures.as_array(retouched)  # computed once; the slider only cuts
widgets.Preview(lambda position: before_after.split_view(before, after, position, line=True),
            {"position": widgets.slider(0.5, 0, 1, 0.01, "split")}, title="input | " + net_name)

# %% [markdown]
# What modulations does this photo get? Its modulation numbers, layer by layer (red bars are
# positive, blue negative; zero means "leave this channel alone"). The hand-set network uses only a
# few channels: 8 of layer 1's 64 and layer 3's red and blue scales.

# %%
book.need("mods", "net_name", cell="The authors' weights")
n_modulations = sum(s.shape[1] for s in mods.scales) + sum(s.shape[1] for s in mods.shifts)
book.say("{n} numbers: a scale and a shift for each of the {c1} + {c2} + {c3} channels.", n=n_modulations,
         c1=mods.scales[0].shape[1], c2=mods.scales[1].shape[1], c3=mods.scales[2].shape[1])
modulation_plots.modulation_bars(mods, title=f"Modulations the {net_name} chose for {photo_name}")

# %% [markdown]
# With those modulations fixed, the base network is a colour map. Feeding it a ramp of greys,
# (t, t, t) for t from 0 to 1, shows its tone curve for each output channel:

# %%
book.need("mods", "net", "net_name", cell="The authors' weights")
curve = curves.tone_curves(lambda x: net.base(x, mods), mode="grey")
book.say("For this photo the base network maps grey {t:.2f} to ({r:.3f}, {g:.3f}, {b:.3f}).",
         t=curve[0][128], r=curve[1][128, 0], g=curve[1][128, 1], b=curve[1][128, 2])
curves.tone_curve_figure({f"{net_name}, {photo_name}": curve})

# %% [markdown]
# ## Summary
#
# - The condition network (three stride-2 convolutions and a global average) turns a photo of any size
#   into 32 numbers; six linear heads turn those into a scale and a shift per channel for each layer.
# - GFM is `x * (1 + scale) + shift`, applied per channel and the same at every pixel; zero is "no
#   change".
# - The base network is three 1x1 convolutions: a per-pixel colour map, whose shape the modulations
#   change from photo to photo.
# - The parameter count above is tiny next to the other retouching networks in the table above.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** How many parameters does `CSRNet(base_nf=32)` have (condition network unchanged)?
# Count by hand from the table above, then check.

# %% tags=["answer"]
answer_1 = None  # your number

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.need("answer_1", cell="answer_1 = ...")
book.check(answer_1, count_parameters(CSRNet(base_nf=32)), name="Exercise 1",
           hint="the base convolutions and the heads of layers 1 and 2 shrink; conv3 and heads 3 change too")

# %% tags=["solution"]
# Solution to Exercise 1. Condition network 23,232 (unchanged); heads 2 * (32*32+32) * 2 + 2 * (32*3+3);
# base (3*32+32) + (32*32+32) + (32*3+3).
# wrong: 36_489                                                                  # the default width, 64
# wrong: 23_232 + 2 * 2 * (32 * 32 + 32) + (3 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3)  # no heads for layer 3
# wrong: 36_489 // 2                                                             # not everything halves
solution_1 = 23_232 + 2 * 2 * (32 * 32 + 32) + 2 * (32 * 3 + 3) + (3 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3)

# %% [markdown]
# **Exercise 2.** What is the spatial size (h, w) of the condition network's last feature map, before
# the average, for a photo of 500 rows and 333 columns? Use the formula from the condition network
# section; answer with a tuple.

# %% tags=["answer"]
answer_2 = None  # e.g. (10, 20)

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.need("answer_2", cell="answer_2 = ...")
book.need("cn", cell="The condition network, step by step")
def _last_map_size(height, width):
    with torch.no_grad():
        h = torch.zeros(1, 3, height, width)
        for conv in (cn.conv1, cn.conv2, cn.conv3):
            h = conv(cn.pad(h))
    return tuple(h.shape[2:])


book.check(answer_2, _last_map_size(500, 333), name="Exercise 2",
           hint="apply floor((n + 2 - k) / 2) + 1 three times, with k = 7, 3, 3")

# %% tags=["solution"]
# Solution to Exercise 2. Apply n -> (n + 2 - k) // 2 + 1 with k = 7, 3, 3 to each side.
# wrong: (500 // 8, 333 // 8)     # three halvings without the padding and kernel size
# wrong: (42, 62)                 # (width, height): rows come first
# wrong: (500, 333)               # the input size
solution_2 = (500, 333)
for k in (7, 3, 3):
    solution_2 = tuple((n + 2 - k) // 2 + 1 for n in solution_2)

# %% [markdown]
# **Exercise 3.** Build a `Modulations` object that makes any base network add 0.1 to every output
# channel of every pixel, compared with the unmodulated network. Start from
# `Modulations.identity()` and change one tensor (Modulations is a frozen dataclass: build a new one
# with `Modulations(cond, scales, shifts)`).

# %% tags=["answer"]
answer_3 = None  # a Modulations

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.need("answer_3", cell="answer_3 = ...")
book.need("model", cell="The whole network")
def _adds_point_one(m):
    with torch.no_grad():
        plain = model.base(photo, Modulations.identity())
        return bool((model.base(photo, m) - plain - 0.1).abs().max() < 1e-5)


book.check(answer_3, _adds_point_one, name="Exercise 3",
           hint="the last layer has no ReLU after it, so its shift is added to the output")

# %% tags=["solution"]
# Solution to Exercise 3. The last layer's shift is added to the output unchanged (no ReLU follows it).
# wrong: Modulations.identity()      # adds nothing
# wrong: Modulations(Modulations.identity().cond, Modulations.identity().scales, (torch.full((1, 64), 0.1),) + Modulations.identity().shifts[1:])  # the first layer's shift passes through later layers
# wrong: Modulations(Modulations.identity().cond, Modulations.identity().scales[:2] + (torch.full((1, 3), 0.1),), Modulations.identity().shifts)  # a scale multiplies, it does not add
zero = Modulations.identity()
solution_3 = Modulations(zero.cond, zero.scales, (zero.shifts[0], zero.shifts[1], torch.full((1, 3), 0.1)))

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert total == 36_489 and parts == {"condition network": 23_232, "scale/shift heads": 8_646,
                                      "base network": 4_611}
assert tuple(mods.cond.shape) == (1, 32) and [s.shape[1] for s in mods.scales] == [64, 64, 3]
assert n_modulations == 262
assert all(ratios[name] > 10 for name in paper_table)
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
