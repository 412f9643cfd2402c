# %% [markdown]
# # 7. CSRNet from scratch
#
# Notebooks 3 and 5 used the library: `CSRNet()` and `train(...)`. Here you write both yourself, in
# plain PyTorch, in about one screen each, and check them against the library as you go: first the
# model (about 40 lines), which must give the same output as `csrnet_lite.model.CSRNet` to 1e-6 once
# it holds the same weights, then a training loop (about 15 lines) that you compare with the
# library's `fast` recipe at the same number of steps, on photos neither has seen.
#
# **You will learn to**
# - write the condition network, global feature modulation (GFM) and the base network from their
#   description, with the shape of every tensor;
# - load someone else's weights into your own module by mapping their parameter names onto yours;
# - write a training loop that uses CSRNet's structure (random pixels for the base network, a
#   thumbnail for the condition network);
# - measure which parts of a training recipe make a difference, by adding them one at a time.
#
# **Prerequisites:** notebook 3 (the architecture) and basic PyTorch (`nn.Module`, `nn.Conv2d`,
# `nn.Linear`, an optimiser step).
#
# **Time:** about 45 minutes to read, write and do the exercises; the notebook runs in about
# 3 minutes on a 2-core laptop (most of it training).
#
# **How to work through it.** Cells headed `# from scratch` use only `torch`: that is what you
# write. Each comes after a description of what it must do; try writing it yourself first (in the
# cell, or in a new one above it), then compare with ours. Cells headed `# check` import from
# `csrnet_lite` and tell you whether what you wrote is right: run them with your version. The first
# cell loads photos with the library, which is not the subject here.

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
import math

import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from torch import nn

from csrnet_lite import book, pictures, plots, widgets
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.pairs import split_by_id

book.setup()
# CSRNet's tensors are small: several CPU threads mostly wait for each other, and stall while other
# programs hold the cores (measured in csrnet_lite/settings.py, `one_thread`). One thread it is.
torch.set_num_threads(1)
size = book.pick(full=512, smoke=128)  # long edge of the photos, as in the papers
steps = book.pick(full=300, smoke=4)  # optimiser steps of every training run below

print(describe_root())
train_pairs, val_pairs = split_by_id(PairDataset(default_root()).pairs, val_fraction=0.2)
train_data = PairDataset(train_pairs, resize=Resize("long", size))
val_data = PairDataset(val_pairs, resize=Resize("long", size))
photo = val_data[0].input  # (1, 3, H, W) float32 in [0, 1], a photo no training below sees
book.say("**{n_train}** pairs to train on, **{n_val}** held out to judge the training (long edge "
         "{size} px); the photo we check the model on is `{photo_id}`, shape {shape}.",
         n_train=len(train_data), n_val=len(val_data), size=size, photo_id=val_data[0].id,
         shape=tuple(photo.shape))

# %% [markdown]
# ## Part 1: the model
#
# ### Global feature modulation
#
# GFM scales and shifts every feature map by its own two numbers, the same at every pixel. With
# features `x` of shape (B, C, H, W) and a scale and a shift of shape (B, C) each, it is
# `x * (1 + scale) + shift`: a scale and shift of zero leave the features unchanged. The only work is
# making (B, C) broadcast against (B, C, H, W).
#
# Write `gfm(x, scale, shift)`, then run the check below it.

# %%
# from scratch
def gfm(x, scale, shift):
    """x (B, C, H, W), scale and shift (B, C) -> (B, C, H, W)."""
    return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]  # (B, C) -> (B, C, 1, 1)


# %%
# check: the same as the library's GFM, and zero modulation is the identity
from csrnet_lite import model as library

x, scale, shift = torch.randn(2, 5, 4, 3), torch.randn(2, 5), torch.randn(2, 5)
gfm_gap = (gfm(x, scale, shift) - library.gfm(x, scale, shift)).abs().max().item()
gfm_identity_gap = (gfm(x, torch.zeros(2, 5), torch.zeros(2, 5)) - x).abs().max().item()
book.say("Your GFM differs from the library's by **{gfm_gap:.1e}**, and from the identity at zero "
         "modulation by **{gfm_identity_gap:.1e}**.", gfm_gap=gfm_gap, gfm_identity_gap=gfm_identity_gap)
assert gfm_gap < 1e-6 and gfm_identity_gap == 0

# %% [markdown]
# ### The condition network
#
# Three convolutions with stride 2 and kernels 7x7, 3x3 and 3x3, each applied after one pixel of zero
# padding on every side and followed by a ReLU, then the mean of each of the 32 feature maps over the
# whole image: a photo of any size becomes 32 numbers, the condition vector `cond`.
#
# Keep the three convolutions in an `nn.ModuleList` called `convs`; the names matter when you load
# weights below.

# %%
# from scratch
class ConditionNet(nn.Module):
    """image (B, 3, H, W) in [0, 1] -> cond (B, 32)."""

    def __init__(self, cond_nf=32):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, cond_nf, 7, stride=2),
                                    nn.Conv2d(cond_nf, cond_nf, 3, stride=2),
                                    nn.Conv2d(cond_nf, cond_nf, 3, stride=2)])

    def forward(self, image):
        x = image
        for conv in self.convs:
            x = F.relu(conv(F.pad(x, (1, 1, 1, 1))))  # (B, C, H, W) -> (B, 32, ~H/2, ~W/2)
        return x.mean(dim=(2, 3))  # global average: (B, 32, h, w) -> (B, 32)


# %%
# check: shape and parameter count against the library's condition network
mine_cond = ConditionNet()
with torch.no_grad():
    cond = mine_cond(photo)
cond_params = sum(p.numel() for p in mine_cond.parameters())
library_cond_params = library.count_parameters(library.ConditionNet())
book.say("`cond` has shape **{cond_shape}**; your condition network has **{cond_params:,}** parameters, "
         "the library's **{library_cond_params:,}**.", cond_shape=tuple(cond.shape),
         cond_params=cond_params, library_cond_params=library_cond_params)
assert tuple(cond.shape) == (1, 32) and cond_params == library_cond_params

# %% [markdown]
# ### The whole model
#
# Six linear "heads" turn `cond` into a scale and a shift for each of the three layers of the base
# network (64, 64 and 3 channels). The base network is three 1x1 convolutions (3 -> 64 -> 64 -> 3),
# each followed by GFM with its layer's scale and shift, and a ReLU after the first two. As in the
# library, `forward` takes an optional second image for the condition network to look at (a small
# thumbnail of the same photo in training); without it, the condition network sees the input itself.

# %%
# from scratch
class MyCSRNet(nn.Module):
    """input (B, 3, H, W) -> output (B, 3, H, W); cond_input (B, 3, h, w) defaults to the input."""

    def __init__(self, base_nf=64, cond_nf=32):
        super().__init__()
        widths = (base_nf, base_nf, 3)  # channels of the three base layers
        self.cond = ConditionNet(cond_nf)
        self.scales = nn.ModuleList([nn.Linear(cond_nf, w) for w in widths])
        self.shifts = nn.ModuleList([nn.Linear(cond_nf, w) for w in widths])
        self.base = nn.ModuleList([nn.Conv2d(3, base_nf, 1), nn.Conv2d(base_nf, base_nf, 1),
                                   nn.Conv2d(base_nf, 3, 1)])

    def forward(self, input, cond_input=None):
        cond = self.cond(input if cond_input is None else cond_input)  # -> (B, 32)
        x = input
        for i, conv in enumerate(self.base):
            x = gfm(conv(x), self.scales[i](cond), self.shifts[i](cond))  # -> (B, 64 or 3, H, W)
            if i < 2:
                x = F.relu(x)
        return x


# %%
# check: the parameter count of the paper's CSRNet
mine = MyCSRNet()
total = sum(p.numel() for p in mine.parameters())
book.say("Your CSRNet has **{total:,}** parameters; the library's has **{library_total:,}**.",
         total=total, library_total=library.count_parameters(library.CSRNet()))
assert total == library.count_parameters(library.CSRNet()) == 36_489

# %% [markdown]
# ### Loading the authors' weights: mapping names
#
# A `state_dict` is a dictionary from parameter names to tensors. The authors' release (and the
# library, which keeps their names) calls the parameters differently from your module. Both list
# them in the order the layers were created, which is the same here, so they line up:

# %%
theirs = library.CSRNet().state_dict()  # the authors' names and shapes
yours = mine.state_dict()
rows = [f"| `{a}` | `{b}` | {tuple(theirs[a].shape)} |" for a, b in zip(theirs, yours)]
display(Markdown("| the authors' name | yours | shape |\n|---|---|---|\n" + "\n".join(rows)))

# %% [markdown]
# The authors number their layers from 1 (`conv1`, `cond_scale2`), a `ModuleList` from 0 (`base.0`,
# `scales.1`); the parameter's own name (`weight`, `bias`) stays. So a name maps in four lines:

# %%
# from scratch
def rename(key):
    """The authors' name -> yours, e.g. 'cond_scale2.weight' -> 'scales.1.weight'."""
    layer, param = key.rsplit(".", 1)  # 'cond_scale2', 'weight'
    part = {"cond_net.conv": "cond.convs", "cond_scale": "scales", "cond_shift": "shifts", "conv": "base"}
    return f"{part[layer[:-1]]}.{int(layer[-1]) - 1}.{param}"


# %%
# check: every one of the authors' names maps onto the name beside it
renamed = [rename(k) for k in theirs]
book.say("**{n_mapped}** of {n_keys} names map onto yours.", n_mapped=sum(a == b for a, b in zip(renamed, yours)),
         n_keys=len(theirs))
assert renamed == list(yours)

# %% [markdown]
# `load_state_dict(..., strict=True)` refuses a dictionary with a missing or an unexpected name, or a
# tensor of the wrong shape, so a mapping that loads puts a tensor of the right shape under every
# name. It cannot see two parameters of the same shape swapped (a scale head for a shift head): the
# output comparison below can.
#
# Without the authors' file (the default on a new machine: notebook 3 says how to download it), the
# check copies the *same random weights* into the library's CSRNet and into yours: that tests your
# code just as well, but not the file. With the file, both checks run.

# %%
# check: your model with the library's weights gives the library's output, to 1e-6
from csrnet_lite.checkpoint import load_official
from csrnet_lite.settings import official_weights_path

torch.manual_seed(1)
reference = library.CSRNet().eval()  # random weights
mine.load_state_dict({rename(k): v for k, v in reference.state_dict().items()}, strict=True)
with torch.no_grad():
    random_gap = (mine(photo) - reference(photo)).abs().max().item()
try:
    authors = load_official()
except FileNotFoundError as e:
    print(e)
    authors, authors_gap = None, None
if authors is not None:
    # the file itself, read with torch only, as you would on a machine without csrnet_lite
    state = torch.load(official_weights_path(), map_location="cpu", weights_only=True)
    mine.load_state_dict({rename(k): v for k, v in state.items()}, strict=True)
    with torch.no_grad():
        authors_gap = (mine(photo) - authors(photo)).abs().max().item()
    match_note = "and with the authors' weights **{authors_gap:.1e}**"
else:
    match_note = "(the authors' weights are not on this machine, so only the random weights were checked)"
book.say("Largest difference between your CSRNet and the library's on `{photo_id}`: with the same random "
         "weights **{random_gap:.1e}**, " + match_note + ".", photo_id=val_data[0].id,
         random_gap=random_gap, authors_gap=authors_gap, authors_loaded=authors is not None)
assert random_gap < 1e-6 and (authors is None or authors_gap < 1e-6)

# %% [markdown]
# With the authors' weights loaded, your forty lines retouch photos:

# %%
if authors is not None:
    with torch.no_grad():
        retouched = mine(photo).clamp(0, 1)
    plots.show_images([photo, retouched, val_data[0].target],
                    ["input", "your CSRNet, authors' weights", "target"], size=3.2)
else:
    print("The authors' weights are not here: the next part trains your CSRNet instead.")

# %% [markdown]
# ## Part 2: training
#
# ### What the loop sees
#
# Two facts about CSRNet make training cheap on a CPU (notebook 5 explains them at length):
# - the base network sees one pixel at a time, so its loss over a photo can be estimated on a
#   thousand random pixels instead of all of them;
# - the condition network only takes global statistics, so it can look at a small thumbnail of the
#   photo, 128x128, computed once per photo.
#
# Each training pair is kept as (input, target, thumbnail of the input). The thumbnail is one call:

# %%
# from scratch
def thumb(image, size=128):
    """(B, 3, H, W) -> (B, 3, size, size), antialiased: what the condition network sees."""
    return F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


pairs = [(s.input, s.target, thumb(s.input)) for s in train_data]

# %%
# check: the library's condition view is the same thumbnail
from csrnet_lite.image import thumbnail

thumb_gap = (thumb(photo) - thumbnail(photo)).abs().max().item()
book.say("Your thumbnail differs from the library's by **{thumb_gap:.1e}**.", thumb_gap=thumb_gap)
assert thumb_gap < 1e-6

# %% [markdown]
# ### The loop
#
# Every step draws `batch` photos, `pixels` random pixels from each, runs the base network on those
# pixels (a (B, 3, N, 1) tensor is a valid image for 1x1 convolutions) with the modulations the
# condition network chose from each photo's thumbnail, and takes one Adam step on the mean squared
# error, which is what PSNR measures.
#
# Two lines, marked `# recipe`, are additions you will switch on later: a random change of
# exposure (the input and its thumbnail get brighter or darker, the target stays), and a running
# average of the weights (EMA). Both are off by default: the plain loop is the rest.

# %%
# from scratch
def train_loop(net, pairs, steps, batch=16, pixels=1024, lr=1e-3, exposure=0.0, ema=0.0, seed=0):
    """Train `net` in place on (input, target, thumbnail) pairs; returns the loss of every step."""
    gen, losses = torch.Generator().manual_seed(seed), []
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    average = [p.detach().clone() for p in net.parameters()]
    for step in range(steps):
        inputs, targets, conds = [], [], []
        for i in torch.randint(len(pairs), (batch,), generator=gen).tolist():
            input, target, cond_input = pairs[i]
            where = torch.randint(input[0, 0].numel(), (pixels,), generator=gen)  # pixel indices
            gain = 2 ** ((2 * torch.rand(1, generator=gen) - 1) * exposure / 2.2)  # recipe: +-exposure stops
            inputs.append((input.flatten(2)[:, :, where, None] * gain).clamp(0, 1))  # -> (1, 3, N, 1)
            targets.append(target.flatten(2)[:, :, where, None])  # (1, 3, H, W) -> (1, 3, N, 1)
            conds.append((cond_input * gain).clamp(0, 1))
        loss = F.mse_loss(net(torch.cat(inputs), torch.cat(conds)), torch.cat(targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        with torch.no_grad():  # recipe: average[i] <- ema * average[i] + (1 - ema) * parameter[i]
            [a.lerp_(p, 1 - ema) for a, p in zip(average, net.parameters())]
    with torch.no_grad():
        [p.copy_(a) for a, p in zip(average, net.parameters())]  # with ema=0 the average is the last step
    return losses


# %% [markdown]
# ### Scoring on held-out photos
#
# PSNR compares an output with the target: 10 log10(1 / MSE) in dB, on 8-bit values as in the paper
# (the output clamped to [0, 1] and rounded to 1/255). Higher is better; +1 dB is about 21% less
# squared error. We score the mean over the held-out photos, and keep each photo's score to judge
# whether a difference is more than noise.

# %%
# from scratch
def psnr(output, target):
    """8-bit PSNR in dB of each image: (B, 3, H, W) x 2 -> (B,)."""
    mse = ((output.clamp(0, 1) * 255).round() - (target * 255).round()).div(255).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse)


def scores(net):
    """PSNR of `net` on every held-out photo (a tensor), the condition network seeing the thumbnail."""
    with torch.no_grad():
        return torch.cat([psnr(net(s.input, thumb(s.input)), s.target) for s in val_data])


# %%
# check: the library's evaluation gives the same numbers
from csrnet_lite.evaluate import evaluate

torch.manual_seed(0)
untrained = MyCSRNet()


def retouch(x):
    with torch.no_grad():
        return untrained(x, thumb(x))


library_scores = [s.psnr for s in evaluate(retouch, val_data).images]
psnr_gap = (scores(untrained) - torch.tensor(library_scores)).abs().max().item()
book.say("Your PSNR differs from the library's evaluation by at most **{psnr_gap:.1e}** dB.",
         psnr_gap=psnr_gap)
assert psnr_gap < 1e-3

# %% [markdown]
# ### Train it
#
# Your CSRNet with PyTorch's default initialisation, the plain loop, `steps` steps of 16 photos. We
# train it twice, with two seeds (the random initial weights and the random photos and pixels of
# every step): how far apart two such runs land is the first thing to know before comparing
# anything.

# %%
runs, start_scores = {}, {}
for seed in (0, 1):
    torch.manual_seed(seed)
    net = MyCSRNet()
    start_scores[seed] = scores(net)
    losses = train_loop(net, pairs, steps, seed=seed)
    runs[seed] = net, scores(net)
plain, plain_scores = runs[0]
seed_noise = abs(runs[0][1].mean() - runs[1][1].mean()).item()
book.say("Held-out PSNR untrained **{start:.2f} dB**, after {steps} steps **{trained:.2f} dB** (seed 0) and "
         "**{trained_1:.2f} dB** (seed 1): the seed alone moves the result by **{seed_noise:.2f} dB**.",
         start=start_scores[0].mean().item(), trained=plain_scores.mean().item(), steps=steps,
         trained_1=runs[1][1].mean().item(), seed_noise=seed_noise)
fig = Figure(figsize=(7, 3), layout="constrained")
ax = fig.add_subplot()
ax.plot(range(1, len(losses) + 1), [10 * math.log10(1 / max(l, 1e-10)) for l in losses], lw=1)
ax.set(xlabel="step", ylabel="PSNR of the training batch (dB)", title="Your loop, plain (seed 1)")
ax.grid(alpha=0.3)
fig

# %% [markdown]
# ### When is a difference a difference?
#
# Two models' mean PSNRs differ by chance for two reasons: a handful of held-out photos, and the
# seed. We compare two models photo by photo, and call the difference of their means a gain or a
# loss only when it is larger than all of: twice its standard error over the photos, the difference
# the seed alone made above, and 0.1 dB. Below that the sentence says "no clear difference".

# %%
def compare(a, b):
    """(mean difference in dB, noise threshold in dB, words) for per-photo scores a and b."""
    d = a - b
    spread = 2 * d.std().item() / math.sqrt(len(d)) if len(d) > 1 else float("inf")
    noise, diff = max(0.1, seed_noise, spread), d.mean().item()
    words = "no clear difference" if abs(diff) < noise else ("better" if diff > 0 else "worse")
    return diff, noise, words


gain, noise, words = compare(plain_scores, start_scores[0])
book.say("Training against no training, seed 0: **{gain:+.2f} dB** (noise threshold {noise:.2f} dB: "
         "{words}).", gain=gain, noise=noise, words=words)


# %% [markdown]
# ### The library's `fast` recipe, same number of steps
#
# The library trains with `train(None, data, TrainConfig.fast(steps=...))`, on the same pairs and for
# the same number of steps. We score its result and its untrained starting point with the library's
# evaluation (you checked above that it computes the same PSNR as yours).

# %%
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.train import train

library_config = TrainConfig.fast(steps=steps, progress=False)
library_start = train(None, train_data, TrainConfig.fast(steps=0, progress=False))
library_run = train(None, train_data, library_config)
library_start_scores = torch.tensor([s.psnr for s in evaluate(library_start, val_data).images])
library_scores = torch.tensor([s.psnr for s in evaluate(library_run, val_data).images])
gap, gap_noise, gap_words = compare(plain_scores, library_scores)
book.say("The library's `fast` recipe: **{start:.2f} dB** before training, **{trained:.2f} dB** after "
         "{steps} steps of {batch} photos. Your plain loop (16 photos a step) against it: **{gap:+.2f} dB** (noise threshold {noise:.2f} dB: "
         "{words}).", start=library_start_scores.mean().item(), trained=library_scores.mean().item(),
         steps=library_run.steps, batch=library_config.batch, gap=gap, noise=gap_noise, words=gap_words)
rows = [f"| `{k}` | {v} |" for k, v in vars(library_config).items()]
display(Markdown("The recipe's settings (the ones your loop does not have are what part 3 is about):\n\n"
                 "| setting | value |\n|---|---|\n" + "\n".join(rows)))

# %% [markdown]
# ## Part 3: what in the recipe makes the difference
#
# The recipe does several things your loop does not. We add the main ones to your loop one at a
# time, each on top of the previous, and score every step on the held-out photos:
#
# 1. **identity start**: the base network starts as the identity on [0, 1] (its first three
#    features copy R, G, B, the last layer reads them back) and the heads start at zero, so the
#    untrained network returns its input instead of noise;
# 2. **fitted start**: the last layer is then fitted by least squares to the training pairs, so the
#    untrained network is already the best fixed colour map of its features;
# 3. **exposure augmentation**: inputs made up to 1.5 stops brighter or darker, same target;
# 4. **EMA**: the weights returned are a running average over the last ~100 steps (decay 0.99).
#
# The two starts, from scratch:

# %%
# from scratch
def identity_start(net):
    """Base network = identity on [0, 1] (features 0..2 carry R, G, B through the ReLUs), heads = 0."""
    with torch.no_grad():
        for conv in net.base[:2]:
            conv.weight[:3], conv.bias[:3] = 0, 0
            conv.weight[:3, :3, 0, 0] = torch.eye(3)
        net.base[2].weight.zero_(), net.base[2].bias.zero_()
        net.base[2].weight[:, :3, 0, 0] = torch.eye(3)
        [p.zero_() for head in [*net.scales, *net.shifts] for p in head.parameters()]
    return net


def fitted_start(net, pairs, pixels=20_000, ridge=1e-2, seed=0):
    """identity_start, then the last layer fitted by ridge regression (towards the identity) to the pairs."""
    gen, features, targets = torch.Generator().manual_seed(seed), [], []
    identity_start(net)
    with torch.no_grad():
        for input, target, _ in pairs:
            where = torch.randint(input[0, 0].numel(), (pixels,), generator=gen)
            x = input.flatten(2)[:, :, where, None]  # (1, 3, H, W) -> (1, 3, N, 1)
            f = F.relu(net.base[1](F.relu(net.base[0](x))))[0, :, :, 0].T  # -> (N, 64)
            features.append(torch.cat([f, torch.ones(pixels, 1)], 1).double())  # + bias -> (N, 65)
            targets.append(target.flatten(2)[0, :, where].T.double())  # -> (N, 3)
        f, y = torch.cat(features), torch.cat(targets)
        gram, prior = f.T @ f / len(f), torch.eye(65, 3, dtype=f.dtype)  # prior: read R, G, B back
        reg = ridge * gram.diagonal().mean() * torch.eye(65, dtype=f.dtype)
        w = torch.linalg.solve(gram + reg, f.T @ y / len(f) + reg @ prior)  # (65, 3)
        net.base[2].weight.copy_(w[:-1].T[:, :, None, None].float())  # (64, 3) -> (3, 64, 1, 1)
        net.base[2].bias.copy_(w[-1].float())
    return net


# %%
# check: the identity start returns its input, whatever the photo
start_gap = (identity_start(MyCSRNet())(photo) - photo).abs().max().item()
book.say("The identity start changes the photo by at most **{start_gap:.1e}**.", start_gap=start_gap)
assert start_gap < 1e-5

# %% [markdown]
# Now the runs (a few seconds each per hundred steps):

# %%
additions = {  # name -> (start, loop settings), each on top of the previous
    "plain loop": (None, {}),
    "+ identity start": (identity_start, {}),
    "+ fitted start": (lambda net: fitted_start(net, pairs), {}),
    "+ exposure augmentation": (lambda net: fitted_start(net, pairs), {"exposure": 1.5}),
    "+ EMA": (lambda net: fitted_start(net, pairs), {"exposure": 1.5, "ema": 0.99}),
}
ladder, ladder_start = {"plain loop": plain_scores}, {"plain loop": start_scores[0]}
ladder_nets = {"plain loop": plain}
for name, (start, settings) in additions.items():
    if name == "plain loop":
        continue  # trained above
    torch.manual_seed(0)
    net = start(MyCSRNet())
    ladder_start[name] = scores(net)
    train_loop(net, pairs, steps, **settings)
    ladder[name], ladder_nets[name] = scores(net), net
ladder["library fast"], ladder_start["library fast"] = library_scores, library_start_scores

names = list(ladder)
rows = []
for i, name in enumerate(names):
    diff, noise, words = compare(ladder[name], ladder[names[i - 1]]) if i else (0.0, 0.0, "")
    rows.append(f"| {name} | {ladder_start[name].mean():.2f} | {ladder[name].mean():.2f} | "
                f"{ladder[name].min():.2f} | " + (f"{diff:+.2f} ({words}, noise {noise:.2f})" if i else "") + " |")
display(Markdown(f"Held-out PSNR (dB) after {steps} steps, mean over {len(val_data)} photos:\n\n"
                 "| training | untrained | trained | worst photo | change from the row above |\n"
                 "|---|---:|---:|---:|---|\n" + "\n".join(rows)))
plots.bar_chart(names, [ladder[n].mean().item() for n in names], highlight="library fast", log=False,
              xlabel=f"mean held-out PSNR after {steps} steps (dB)", fmt="{:.2f} dB",
              title="Adding the recipe to your loop, one piece at a time")

# %%
ours = ladder["+ EMA"]
final_gap, final_noise, final_words = compare(ours, library_scores)
changes = {name: compare(ladder[name], ladder[names[i - 1]]) for i, name in enumerate(names[:-1]) if i}
clear_gains = [f"{n} ({d:+.2f} dB)" for n, (d, _, w) in changes.items() if w == "better"]
clear_losses = [f"{n} ({d:+.2f} dB)" for n, (d, _, w) in changes.items() if w == "worse"]
book.say("With all four additions your loop scores **{ours:.2f} dB** and the library's recipe **{lib:.2f} dB**: "
         "**{final_gap:+.2f} dB**, {within} 0.5 dB of it (noise threshold {final_noise:.2f} dB: {final_words}). "
         "Steps of the ladder larger than the noise: gains from {gains}; losses from {losses}; the other steps "
         "made no clear difference.", ours=ours.mean().item(), lib=library_scores.mean().item(),
         final_gap=final_gap, within="within" if abs(final_gap) <= 0.5 else "more than",
         final_noise=final_noise, final_words=final_words, gains=", ".join(clear_gains) or "none",
         losses=", ".join(clear_losses) or "none")

# %% [markdown]
# Compare the two starts before and after training: the "untrained" column says what each start is
# worth on its own, the "trained" column what the condition network made of it.

# %%
before, _, before_words = compare(ladder_start["+ fitted start"], ladder_start["+ identity start"])
after, after_noise, after_words = compare(ladder["+ fitted start"], ladder["+ identity start"])
book.say("Untrained, the fitted start is **{before:+.2f} dB** from the identity start ({before_words}); after "
         "{steps} steps of the same loop it is **{after:+.2f} dB** from it ({after_words}, noise {after_noise:.2f} dB).",
         before=before, before_words=before_words, after=after, after_words=after_words, after_noise=after_noise,
         steps=steps)

# %% [markdown]
# The running average is a weighted sum of the weights of every step so far; the untrained start
# keeps its share of it until enough steps have passed:

# %%
ema_left = 0.99 ** steps  # weight of the starting point in the average after `steps` steps
book.say("After {steps} steps with decay 0.99, **{share:.1%}** of the average is still the untrained start, and "
         "the last 100 steps make up **{recent:.0%}** of it: the average trails the training. It pays off when the "
         "weights have settled and only jitter from step to step, for example when the learning rate decays "
         "towards zero at the end of the run.", steps=steps, share=ema_left, recent=1 - 0.99 ** min(100, steps))

# %% [markdown]
# How to read this: every row changes one thing and is trained once. The fitted start is the best
# *fixed* colour map for the training photos; on `data_samples/` each input was degraded with its
# own random exposure, white balance and contrast (`data_samples/README.md`), so an average map
# cannot undo each photo's own degradation, and the condition network has to learn each photo's
# correction on top of it. On real FiveK pairs (set `CSRNET_LITE_FIVEK`) the ladder can come out
# differently: run it there and compare. With a handful of held-out photos and one seed per row only large effects
# clear the noise threshold; more held-out photos (notebook 4 shows how to get FiveK pairs) or
# several seeds per row would resolve smaller ones.
#
# A held-out photo through each stage, and the target:

# %%
shown = val_data[0]
with torch.no_grad():
    gallery = [shown.input] + [ladder_nets[name](shown.input, thumb(shown.input)).clamp(0, 1)
                               for name in ("plain loop", "+ EMA")]
    view = library_run.config.thumb_size  # the library conditions on a thumbnail of this size
    gallery += [library_run.model(shown.input, thumb(shown.input, view) if view else shown.input).clamp(0, 1),
                shown.target]
plots.show_images(gallery, [f"{shown.id}: input", "your loop, plain", "your loop, + all four", "library fast",
                          "target"], size=2.8)

# %% [markdown]
# Drag the line across the held-out photos: left your loop with all four additions, right the target.

# %%
yours = [pictures.as_array(ladder_nets["+ EMA"](v.input, thumb(v.input)).detach()) for v in val_data]
targets = [pictures.as_array(v.target) for v in val_data]
widgets.Preview(lambda photo, position: pictures.split_view(yours[photo], targets[photo], position, line=True),
            {"photo": widgets.int_slider(0, 0, len(val_data) - 1, "held-out photo"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "yours | target")},
            title="your CSRNet, your loop | target")

# %% [markdown]
# ## Summary
#
# - CSRNet is about forty lines of PyTorch: a condition network that turns a photo into 32 numbers,
#   six linear heads, and a base network of three 1x1 convolutions whose features are modulated by
#   `x * (1 + scale) + shift`.
# - Weights move between implementations through their names: map the names, load with
#   `strict=True`, and compare outputs (a strict load cannot see two same-shaped tensors swapped).
# - A training loop for it is fifteen lines, and cheap on a CPU because the base network only needs
#   random pixels and the condition network only a thumbnail.
# - Which parts of a recipe matter is a measurement, not an opinion: the table above adds them one at
#   a time and says which changes are larger than the noise of a few held-out photos.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right. The full edition also has a collapsed solution after each check; open it (click
# the `...`) after trying.
#
# **Exercise 1.** The base network with fixed modulations is a colour map. Write
# `colour_map(net, photo, colours)` that returns what your CSRNet `net` does to the colours
# `colours` (N, 3) when it retouches `photo`: the modulations come from the photo, the colours go
# through the base network. Return an (N, 3) tensor.

# %% answer
answer_1 = None  # a function colour_map(net, photo, colours) -> (N, 3)


# %% check
# Check of Exercise 1: run this cell
def _colour_map_ok(f):
    torch.manual_seed(3)
    net = MyCSRNet()
    for head in [*net.scales, *net.shifts]:  # strong modulations, so that using them or not shows
        torch.nn.init.normal_(head.weight, std=1.0)
    with torch.no_grad():
        colours = photo.flatten(2)[0, :, :50].T  # (50, 3): the photo's own first pixels
        expected = net(photo).flatten(2)[0, :, :50].T  # what the whole network does to them
        got = f(net, photo, colours)
    return tuple(got.shape) == (50, 3) and bool((got - expected).abs().max() < 1e-5)


book.check(answer_1, _colour_map_ok, name="Exercise 1",
           hint="the condition network must look at `photo`, not at the colours; reshape the colours to "
                "(1, 3, N, 1) for the base network, and run all three layers with their GFM and ReLUs")


# %% solution
# Solution to Exercise 1: the condition vector from the photo, the colours as a (1, 3, N, 1) image.
# wrong: lambda net, photo, colours: net(colours.T[None, :, :, None])[0, :, :, 0].T  # modulations from the colours
# wrong: lambda net, photo, colours: colours  # the identity
# wrong: lambda net, photo, colours: net(colours.T[None, :, :, None], photo)[0, :, :, 0]  # (3, N), not (N, 3)
def colour_map(net, photo, colours):
    cond = net.cond(photo)  # (1, 32): from the photo
    x = colours.T[None, :, :, None]  # (N, 3) -> (1, 3, N, 1)
    for i, conv in enumerate(net.base):
        x = gfm(conv(x), net.scales[i](cond), net.shifts[i](cond))
        x = F.relu(x) if i < 2 else x
    return x[0, :, :, 0].T  # (1, 3, N, 1) -> (N, 3)


solution_1 = colour_map


# %% [markdown]
# **Exercise 2.** Write the inverse of `rename`: `rename_back(name)` turns one of your parameter
# names into the authors' (e.g. `'scales.1.weight'` -> `'cond_scale2.weight'`), so that weights you
# trained load into the library's `CSRNet` and into the authors' code.

# %% answer
answer_2 = None  # a function rename_back(name) -> str


# %% check
# Check of Exercise 2: run this cell
def _rename_back_ok(f):
    torch.manual_seed(4)
    source, target = MyCSRNet(), library.CSRNet()
    target.load_state_dict({f(k): v for k, v in source.state_dict().items()}, strict=True)
    with torch.no_grad():
        return bool((target(photo) - source(photo)).abs().max() < 1e-6)


book.check(answer_2, _rename_back_ok, name="Exercise 2",
           hint="the authors count layers from 1; a load that works can still swap two heads of the same shape")


# %% solution
# Solution to Exercise 2: split off the index, add 1, and map the part names the other way.
# wrong: lambda name: name  # no mapping: the strict load refuses every name
# wrong: lambda name: solution_2(name).replace("scale", "tmp").replace("shift", "scale").replace("tmp", "shift")  # heads swapped
# wrong: lambda name: solution_2(name.replace(".2.", ".9.").replace(".1.", ".2.").replace(".9.", ".1."))  # layers 2 and 3 swapped
def rename_back(name):
    layer, index, param = name.rsplit(".", 2)  # 'scales', '1', 'weight'
    part = {"cond.convs": "cond_net.conv", "scales": "cond_scale", "shifts": "cond_shift", "base": "conv"}
    return f"{part[layer]}{int(index) + 1}.{param}"


solution_2 = rename_back


# %% [markdown]
# **Exercise 3.** The EMA line of the loop sets `average <- ema * average + (1 - ema) * parameter`
# after every step. A parameter jumps from 0 to 1 and then stays at 1; its average starts at 0. With
# `ema = 0.99`, after how many steps has the average passed 0.5 for the first time? Answer with an
# integer.

# %% answer
answer_3 = None  # an integer

# %% check
# Check of Exercise 3: run this cell
book.check(answer_3, lambda n: isinstance(n, int) and 1 - 0.99 ** n > 0.5 >= 1 - 0.99 ** (n - 1),
           name="Exercise 3", hint="after n steps the average is 1 - 0.99**n")

# %% solution
# Solution to Exercise 3: 1 - 0.99**n > 0.5 means n > log(0.5) / log(0.99) = 68.97.
# wrong: 50  # half of 100 steps: the average is not a sliding window
# wrong: 100  # 1 / (1 - 0.99) is the time constant, where the average reaches 63%
# wrong: 68  # log(0.5) / log(0.99) rounded down: the average is still below 0.5
solution_3 = math.ceil(math.log(0.5) / math.log(0.99))

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert total == 36_489 and random_gap < 1e-6 and (authors is None or authors_gap < 1e-6)
assert all(torch.isfinite(s).all() for s in ladder.values())
assert len(losses) == steps and library_run.steps == steps
# the identity start does nothing, so untrained it scores what the input itself scores
doing_nothing = torch.cat([psnr(v.input, v.target) for v in val_data])
assert (ladder_start["+ identity start"] - doing_nothing).abs().max() < 1e-3
if not book.pick(full=False, smoke=True):  # with a real budget, the claims of the text hold
    assert gain > noise  # training helped on held-out photos
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
