# %% [markdown]
# # 7. CSRNet from scratch
#
# Notebooks 3 and 5 used the library: `CSRNet()` and `train(...)`. Here you write both yourself, in
# plain PyTorch, and check them against the library as you go: first the model, which must give the
# same output as `csrnet_lite.model.CSRNet` to 1e-6 once it holds the same weights, then a training
# loop that you compare with the library's `fast` recipe at the same number of steps, on photos
# neither has seen. (How many lines each takes is counted below, from the code itself.)
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
# **Time:** about 45 minutes to read, write and do the exercises; the notebook runs in 4 to 5
# minutes on an idle 2-core laptop and about 10 on a busy one (most of it training; measured in the
# README).

# %% [markdown]
# **How to work through it.** Cells headed `# from scratch` use only `torch`: that is what you
# write, after a description of what it must do; their docstrings give the shape of everything they
# return. Cells headed `# check` import from `csrnet_lite` and tell you whether what you wrote is
# right ("not answered yet", "correct", or "not yet" with a hint). The first two cells load the
# library and the photos, which are not the subject here. A cell run before the cells it needs says which one to
# run first.

# %% [markdown] tags=["full"]
# This is the full edition: each `# from scratch` cell holds our version. Try writing it yourself
# first, in a new cell above ours with the same names, then compare. The student edition
# (`make student`) has only the signatures and docstrings there, for you to fill in.

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

from csrnet_lite import before_after, book, pictures, plots, widgets
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.pairs import split_by_id

book.setup()
# CSRNet's tensors are small: several CPU threads mostly wait for each other, and stall while other
# programs hold the cores (measured in csrnet_lite/settings.py, `one_thread`). One thread it is.
torch.set_num_threads(1)
size = book.pick(full=512, smoke=128)  # long edge of the photos, as in the papers
steps = book.pick(full=300, smoke=4)  # optimiser steps of every training run below

# %%
# Load the data: pairs to train on, pairs held out, and the photo the checks use
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

# %% tags=["scratch"]
# from scratch: gfm
def gfm(x, scale, shift):
    """x (B, C, H, W), scale and shift (B, C) -> (B, C, H, W)."""
    return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]  # (B, C) -> (B, C, 1, 1)


# %%
# check: the same as the library's GFM, and zero modulation is the identity
from csrnet_lite import model as library

book.need("gfm", cell="from scratch: gfm")


def _gfm_ok(gfm):
    x, scale, shift = torch.randn(2, 5, 4, 3), torch.randn(2, 5), torch.randn(2, 5)
    gaps = {"gfm_gap": (book.written(gfm(x, scale, shift)) - library.gfm(x, scale, shift)).abs().max().item(),
            "gfm_identity_gap": (gfm(x, torch.zeros(2, 5), torch.zeros(2, 5)) - x).abs().max().item()}
    book.say("Your GFM differs from the library's by **{gfm_gap:.1e}**, and from the identity at zero "
             "modulation by **{gfm_identity_gap:.1e}**.", **gaps)
    return gaps["gfm_gap"] < 1e-6 and gaps["gfm_identity_gap"] == 0


book.check(gfm, _gfm_ok, name="Your gfm", hint="make (B, C) broadcast: scale[:, :, None, None]")


# %% [markdown]
# ### The condition network
#
# Three convolutions with stride 2 and kernels 7x7, 3x3 and 3x3, each applied after one pixel of zero
# padding on every side and followed by a ReLU, then the mean of each of the 32 feature maps over the
# whole image: a photo of any size becomes 32 numbers, the condition vector `cond`.
#
# Keep the three convolutions in an `nn.ModuleList` called `convs`; the names matter when you load
# weights below.

# %% tags=["scratch"]
# from scratch: ConditionNet
class ConditionNet(nn.Module):
    """image (B, 3, H, W) in [0, 1] -> cond (B, 32)."""

    def __init__(self, cond_nf=32):
        """self.convs: nn.ModuleList of Conv2d 3 -> cond_nf (7x7), cond_nf -> cond_nf (3x3) twice, stride 2."""
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, cond_nf, 7, stride=2),
                                    nn.Conv2d(cond_nf, cond_nf, 3, stride=2),
                                    nn.Conv2d(cond_nf, cond_nf, 3, stride=2)])

    def forward(self, image):
        """(B, 3, H, W) -> (B, 32): each conv after 1 px of zero padding, then ReLU; then the mean over H, W."""
        x = image
        for conv in self.convs:
            x = F.relu(conv(F.pad(x, (1, 1, 1, 1))))  # (B, C, H, W) -> (B, 32, ~H/2, ~W/2)
        return x.mean(dim=(2, 3))  # global average: (B, 32, h, w) -> (B, 32)


# %%
# check: shape and parameter count against the library's condition network
book.need("ConditionNet", "library", cell="from scratch: ConditionNet")


def _cond_ok(net_class):
    net = net_class()
    with torch.no_grad():
        cond = book.written(net(photo))
    n = sum(p.numel() for p in net.parameters())
    book.say("`cond` has shape **{cond_shape}**; your condition network has **{cond_params:,}** parameters, "
             "the library's **{library_cond_params:,}**.", cond_shape=tuple(cond.shape), cond_params=n,
             library_cond_params=library.count_parameters(library.ConditionNet()))
    return tuple(cond.shape) == (1, 32) and n == library.count_parameters(library.ConditionNet())


book.check(ConditionNet, _cond_ok, name="Your ConditionNet",
           hint="three Conv2d (7x7, 3x3, 3x3, stride 2) in self.convs, and the mean over dims (2, 3)")


# %% [markdown]
# ### The whole model
#
# Six linear "heads" turn `cond` into a scale and a shift for each of the three layers of the base
# network (64, 64 and 3 channels). The base network is three 1x1 convolutions (3 -> 64 -> 64 -> 3),
# each followed by GFM with its layer's scale and shift, and a ReLU after the first two. As in the
# library, `forward` takes an optional second image for the condition network to look at (a small
# thumbnail of the same photo in training); without it, the condition network sees the input itself.

# %% tags=["scratch"]
# from scratch: MyCSRNet
class MyCSRNet(nn.Module):
    """input (B, 3, H, W) -> output (B, 3, H, W); cond_input (B, 3, h, w) defaults to the input."""

    def __init__(self, base_nf=64, cond_nf=32):
        """self.cond: ConditionNet; self.scales, self.shifts: ModuleLists of 3 Linear(cond_nf -> 64, 64, 3);
        self.base: ModuleList of Conv2d 1x1, 3 -> 64 -> 64 -> 3."""
        super().__init__()
        widths = (base_nf, base_nf, 3)  # channels of the three base layers
        self.cond = ConditionNet(cond_nf)
        self.scales = nn.ModuleList([nn.Linear(cond_nf, w) for w in widths])
        self.shifts = nn.ModuleList([nn.Linear(cond_nf, w) for w in widths])
        self.base = nn.ModuleList([nn.Conv2d(3, base_nf, 1), nn.Conv2d(base_nf, base_nf, 1),
                                   nn.Conv2d(base_nf, 3, 1)])

    def forward(self, input, cond_input=None):
        """(B, 3, H, W) -> (B, 3, H, W): each base conv, then gfm with its layer's scale and shift from
        cond (B, 32), and a ReLU after the first two."""
        cond = self.cond(input if cond_input is None else cond_input)  # -> (B, 32)
        x = input
        for i, conv in enumerate(self.base):
            x = gfm(conv(x), self.scales[i](cond), self.shifts[i](cond))  # -> (B, 64 or 3, H, W)
            if i < 2:
                x = F.relu(x)
        return x


# %%
# check: the parameter count and the output shape of the paper's CSRNet
book.need("MyCSRNet", "library", cell="from scratch: MyCSRNet")
mine = MyCSRNet()
total = sum(p.numel() for p in mine.parameters())


def _csrnet_ok(net):
    with torch.no_grad():
        out = book.written(net(photo) if total else None)  # no parameters yet: still a stub
    book.say("Your CSRNet has **{total:,}** parameters; the library's has **{library_total:,}**.",
             total=total, library_total=library.count_parameters(library.CSRNet()))
    return total == library.count_parameters(library.CSRNet()) == 36_489 and out.shape == photo.shape


book.check(mine, _csrnet_ok, name="Your MyCSRNet", hint="six Linear heads (scales, shifts), three 1x1 convs")

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

# %% tags=["scratch"]
# from scratch: rename
def rename(key):
    """The authors' name -> yours, e.g. 'cond_scale2.weight' -> 'scales.1.weight'."""
    layer, param = key.rsplit(".", 1)  # 'cond_scale2', 'weight'
    part = {"cond_net.conv": "cond.convs", "cond_scale": "scales", "cond_shift": "shifts", "conv": "base"}
    return f"{part[layer[:-1]]}.{int(layer[-1]) - 1}.{param}"


# %%
# check: every one of the authors' names maps onto the name beside it
book.need("rename", "theirs", "yours", cell="from scratch: rename")


def _rename_ok(rename):
    renamed = [book.written(rename(k)) for k in theirs]
    book.say("**{n_mapped}** of {n_keys} names map onto yours.", n_keys=len(theirs),
             n_mapped=sum(a == b for a, b in zip(renamed, yours)))
    return renamed == list(yours)


book.check(rename, _rename_ok, name="Your rename", hint="split 'cond_scale2.weight' into 'cond_scale', '2', 'weight'")

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
# check: your model with the library's (random) weights gives the library's output, to 1e-6
book.need("mine", "rename", cell="check: the parameter count")
torch.manual_seed(1)
reference = library.CSRNet().eval()  # random weights


def _same_output(net):
    net.load_state_dict({book.written(rename(k)): v for k, v in reference.state_dict().items()}, strict=True)
    with torch.no_grad():
        gap = (book.written(net(photo)) - reference(photo)).abs().max().item()
    book.say("With the same random weights, your CSRNet and the library's differ by at most **{random_gap:.1e}** "
             "on `{photo_id}`.", random_gap=gap, photo_id=val_data[0].id)
    return gap < 1e-6


book.check(mine, _same_output, name="Your CSRNet with the library's weights",
           hint="a strict load that works can still swap two same-shaped tensors; compare the order of the layers")

# %%
# check: the same with the authors' weights, read with torch only, when the file is on this machine
from csrnet_lite.checkpoint import load_official
from csrnet_lite.settings import official_weights_path

try:
    authors = load_official()
except FileNotFoundError as e:
    print(e)
    authors = None
if authors is not None:
    # the file itself, read with torch only, as you would on a machine without csrnet_lite
    state = torch.load(official_weights_path(), map_location="cpu", weights_only=True)
    mine.load_state_dict({rename(k): v for k, v in state.items()}, strict=True)
    with torch.no_grad():
        authors_gap = (mine(photo) - authors(photo)).abs().max().item()
    book.say("With the authors' weights, your CSRNet and the library's differ by at most **{authors_gap:.1e}** "
             "on `{photo_id}`.", authors_gap=authors_gap, photo_id=val_data[0].id, authors_loaded=True)
    assert authors_gap < 1e-6
else:
    book.say("The authors' weights are not on this machine: only the random weights were checked.",
             authors_loaded=False)

# %% [markdown]
# With the authors' weights loaded, your CSRNet retouches photos:

# %%
book.need("authors", "mine", cell="check: the same with the authors' weights")
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

# %% tags=["scratch"]
# from scratch: thumb
def thumb(image, size=128):
    """(B, 3, H, W) -> (B, 3, size, size), antialiased: what the condition network sees."""
    return F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


pairs = [(s.input, s.target, thumb(s.input)) for s in train_data]

# %%
# check: the library's condition view is the same thumbnail
from csrnet_lite.image import thumbnail

book.need("thumb", cell="from scratch: thumb")


def _thumb_ok(thumb):
    gap = (book.written(thumb(photo)) - thumbnail(photo)).abs().max().item()
    book.say("Your thumbnail differs from the library's by **{thumb_gap:.1e}**.", thumb_gap=gap)
    return gap < 1e-6


book.check(thumb, _thumb_ok, name="Your thumb", hint="F.interpolate with antialias=True, bilinear")


# %% [markdown]
# ### The loop
#
# Every step draws `batch` photos, `pixels` random pixels from each, runs the base network on those
# pixels (a (B, 3, N, 1) tensor is a valid image for 1x1 convolutions) with the modulations the
# condition network chose from each photo's thumbnail, and takes one Adam step on the mean squared
# error, which is what PSNR measures.
#
# Draw every random number from one `torch.Generator` seeded with `seed`, so that a run can be
# repeated exactly. Two parameters are additions you will switch on later, each one line:
# - `exposure`: a random change of exposure by up to `exposure` stops, a gain of
#   `2 ** (u * exposure / 2.2)` with `u` uniform in [-1, 1], applied to the input pixels and the
#   thumbnail (clamped to [0, 1]) while the target stays;
# - `ema`: a running average of the weights, `average <- ema * average + (1 - ema) * parameter` after
#   every step, copied into the network at the end.
#
# With both at 0 (the default) the loop is the plain one.

# %% tags=["scratch"]
# from scratch: train_loop
def train_loop(net, pairs, steps, batch=16, pixels=1024, lr=1e-3, exposure=0.0, ema=0.0, seed=0):
    """Train `net` in place on (input, target, thumbnail) pairs -> [loss (float) of each step], as above."""
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


# %%
# check: your loop trains (a finite loss per step, the weights move) and gives the same run twice
book.need("train_loop", "pairs", "MyCSRNet", cell="from scratch: train_loop")


def _loop_ok(train_loop):
    runs, moved = [], []
    for _ in range(2):
        torch.manual_seed(0)
        net = MyCSRNet()
        before = [p.detach().clone() for p in net.parameters()]
        runs.append(book.written(train_loop(net, pairs[:2], 2, batch=2, pixels=64)))
        moved.append(any((p - b).abs().max() > 0 for p, b in zip(net.parameters(), before)))
    return len(runs[0]) == 2 and runs[0] == runs[1] and all(map(math.isfinite, runs[0])) and all(moved)


book.check(train_loop, _loop_ok, name="Your train_loop",
           hint="return a list of loss.item(), one per step; draw every random number from the seeded generator")
book.say("Your model is **{model_lines}** lines of code and your loop **{loop_lines}** (docstrings, comments "
         "and blank lines not counted).", model_lines=sum(map(book.code_lines, (gfm, ConditionNet, MyCSRNet))),
         loop_lines=book.code_lines(train_loop))


# %% [markdown]
# ### Scoring on held-out photos
#
# PSNR compares an output with the target: 10 log10(1 / MSE) in dB, on 8-bit values as in the paper
# (the output clamped to [0, 1] and rounded to 1/255). Higher is better; +1 dB is about 21% less
# squared error. We score the mean over the held-out photos, and keep each photo's score to judge
# whether a difference is more than noise.

# %% tags=["scratch"]
# from scratch: psnr
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

book.need("psnr", "scores", "MyCSRNet", "thumb", cell="from scratch: psnr")
torch.manual_seed(0)
untrained = MyCSRNet()


def _psnr_ok(scores):
    with torch.no_grad():
        reference = [s.psnr for s in evaluate(lambda x: untrained(x, thumb(x)), val_data).images]
    gap = (book.written(scores(untrained)) - torch.tensor(reference)).abs().max().item()
    book.say("Your PSNR differs from the library's evaluation by at most **{psnr_gap:.1e}** dB.", psnr_gap=gap)
    return gap < 1e-3


book.check(scores, _psnr_ok, name="Your psnr and scores", hint="round both images to 8 bits; one PSNR per image")

# %% [markdown]
# ### Train it
#
# Your CSRNet with PyTorch's default initialisation, the plain loop, `steps` steps of 16 photos. We
# train it twice, with two seeds (the random initial weights and the random photos and pixels of
# every step): how far apart two such runs land is the first thing to know before comparing
# anything.
#
# Every training cell of this notebook starts from its seeds and keeps nothing on disk: running one
# again trains again from the start and gives the same numbers, so it is safe, and costs its time again.

# %%
book.need("MyCSRNet", "train_loop", "pairs", "scores", cell="from scratch: train_loop")
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
    return diff, noise, book.compare(diff, 0.0, noise, more="better", less="worse")


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

# %% tags=["scratch"]
# from scratch: identity_start
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


# %% tags=["scratch"]
# from scratch: fitted_start
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
book.need("identity_start", "MyCSRNet", cell="from scratch: identity_start")


def _identity_ok(identity_start):
    gap = (book.written(identity_start(MyCSRNet()))(photo) - photo).abs().max().item()
    book.say("The identity start changes the photo by at most **{start_gap:.1e}**.", start_gap=gap)
    return gap < 1e-5


book.check(identity_start, _identity_ok, name="Your identity_start", hint="return the network you changed")

# %% [markdown]
# Now the runs (a few seconds each per hundred steps):

# %%
book.need("plain_scores", "library_scores", "fitted_start", cell="Train it")
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

# %%
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
                errors=[2 * ladder[n].std().item() / math.sqrt(len(ladder[n])) for n in names],
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
         final_gap=final_gap, within=book.compare(abs(final_gap), 0.5, 0.0, more="more than", less="within", same="within"),
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
         "the last 100 steps make up **{recent:.0%}** of it.", steps=steps, share=ema_left,
         recent=1 - 0.99 ** min(100, steps))

# %% [markdown]
# So the average trails the training. It pays off when the weights have settled and only jitter from
# step to step, for example when the learning rate decays towards zero at the end of the run.

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
widgets.Preview(lambda photo, position: before_after.split_view(yours[photo], targets[photo], position, line=True),
            {"photo": widgets.int_slider(0, 0, len(val_data) - 1, "held-out photo"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "yours | target")},
            title="your CSRNet, your loop | target")

# %% [markdown]
# ## Summary
#
# - CSRNet fits in a few short classes of PyTorch (the line count is above): a condition network that turns a photo into 32 numbers,
#   six linear heads, and a base network of three 1x1 convolutions whose features are modulated by
#   `x * (1 + scale) + shift`.
# - Weights move between implementations through their names: map the names, load with
#   `strict=True`, and compare outputs (a strict load cannot see two same-shaped tensors swapped).
# - A training loop for it fits in one cell, and is cheap on a CPU because the base network only needs
#   random pixels and the condition network only a thumbnail.
# - Which parts of a recipe matter is a measurement, not an opinion: the table above adds them one at
#   a time and says which changes are larger than the noise of a few held-out photos.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** The base network with fixed modulations is a colour map. Write
# `colour_map(net, photo, colours)` that returns what your CSRNet `net` does to the colours
# `colours` (N, 3) when it retouches `photo`: the modulations come from the photo, the colours go
# through the base network. Return an (N, 3) tensor.

# %% tags=["answer"]
answer_1 = None  # a function colour_map(net, photo, colours) -> (N, 3)


# %% tags=["check"]
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


# %% tags=["solution"]
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

# %% tags=["answer"]
answer_2 = None  # a function rename_back(name) -> str


# %% tags=["check"]
# Check of Exercise 2: run this cell
def _rename_back_ok(f):
    torch.manual_seed(4)
    source, target = MyCSRNet(), library.CSRNet()
    target.load_state_dict({f(k): v for k, v in source.state_dict().items()}, strict=True)
    with torch.no_grad():
        return bool((target(photo) - source(photo)).abs().max() < 1e-6)


book.check(answer_2, _rename_back_ok, name="Exercise 2",
           hint="the authors count layers from 1; a load that works can still swap two heads of the same shape")


# %% tags=["solution"]
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

# %% tags=["answer"]
answer_3 = None  # an integer

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.check(answer_3, lambda n: isinstance(n, int) and 1 - 0.99 ** n > 0.5 >= 1 - 0.99 ** (n - 1),
           name="Exercise 3", hint="after n steps the average is 1 - 0.99**n", example=50)

# %% tags=["solution"]
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
assert total == 36_489 and (authors is None or authors_gap < 1e-6)
assert all(torch.isfinite(s).all() for s in ladder.values())
assert len(losses) == steps and library_run.steps == steps
# the identity start does nothing, so untrained it scores what the input itself scores
doing_nothing = torch.cat([psnr(v.input, v.target) for v in val_data])
assert (ladder_start["+ identity start"] - doing_nothing).abs().max() < 1e-3
if not book.pick(full=False, smoke=True):  # with a real budget, the claims of the text hold
    assert gain > noise  # training helped on held-out photos
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
