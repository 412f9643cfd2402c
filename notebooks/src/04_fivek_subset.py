# %% [markdown]
# # 4. The data: MIT-Adobe FiveK and our offline samples
#
# CSRNet learns a retouch from pairs: a photo as the camera rendered it (the *input*) and the same
# photo after an expert retouched it (the *target*). This notebook looks at where such pairs come from,
# how the details of their preparation change the numbers papers report, and what the expert actually
# changed in each photo.
#
# **Which data this runs on.** This repository ships no FiveK photo (its licence forbids it), so the
# notebook runs on `data_samples/`, free photos with a recorded degradation, unless the environment
# variable `CSRNET_LITE_FIVEK` names a folder of real FiveK pairs. The first cell below says which.
#
# **You will learn to**
# - say what MIT-Adobe FiveK is, who may use it, and how papers prepare it;
# - see how much a choice as small as the image size moves a score;
# - load `data_samples/` (offline, in this repository) or a real FiveK folder with one line;
# - page through the pairs with a before/after view;
# - measure what the retouch changed in each photo: brightness, contrast, saturation, colour.
#
# **Time:** about 25 minutes; the cells run in under a minute on an idle 2-core laptop, about two
# minutes on a busy one (measured in the README).

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

import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import before_after, book, ops, pictures, plots, widgets
from csrnet_lite.checkpoint import load_official
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.metrics import psnr, relative_luminance
from csrnet_lite.pairs import split_by_id
from csrnet_lite.degradation import known_degradations

book.setup()
size = book.pick(full=512, smoke=128)  # long edge of the photos in this notebook
print(describe_root())  # which data this run uses

# %% [markdown]
# ## MIT-Adobe FiveK
#
# FiveK (Bychkovsky, Paris, Chan and Durand, CVPR 2011) is the data set almost every global retouching
# paper trains and tests on, CSRNet included. Its facts, as its authors publish them:

# %%
fivek = {  # from the FiveK paper and its web page (data.csail.mit.edu/graphics/fivek)
    "photos": 5000,
    "format": "camera raw (DNG), from many photographers and cameras",
    "experts": "A, B, C, D, E: five trained photographers, each retouched every photo in Lightroom",
    "usual target": "expert C (the papers' convention)",
    "licence": "research use only; two licence lists (Adobe, and Adobe + MIT) name which covers which photo",
}
display(Markdown("| | |\n|---|---|\n" + "\n".join(f"| {k} | {v:,} |" if isinstance(v, int) else f"| {k} | {v} |"
                                                for k, v in fivek.items())))

# %% [markdown]
# Because of the licence this repository ships **no** FiveK photo. `python -m csrnet_lite data fetch
# --root DIR --n 100` downloads a subset from the official server and develops the raw files itself
# (see `csrnet_lite.tools.fetch`). Everything here also runs on **`data_samples/`**: free photographs
# (public domain or CC0) turned into pairs by a known, random degradation (darker, flatter, duller, a
# colour cast). The target is the photograph; the "expert" undoes the degradation.
#
# ## How papers prepare FiveK, and why it matters
#
# The raw files have to be rendered into RGB inputs, resized and split, and papers do each step
# differently: Lightroom exports with different settings (zeroed adjustments with as-shot or expert
# white balance; CSRNet used darker inputs), sizes such as short edge 480 (3D-LUT, AdaInt) or long
# edge 512 (DPE, CURL) or 500 (CSRNet), and splits such as 4,500 / 500 photos or 2,250 / 2,250 / 500.
# `csrnet_lite.image.Resize` names the sizes:

# %%
for name in ("NONE", "SHORT_480", "LONG_500", "LONG_512"):
    policy = getattr(Resize, name)
    print(f"Resize.{name:10s} {str(policy):15s} a 4000x6000 photo becomes {policy.output_size(4000, 6000)}")

# %% [markdown]
# Such details move the scores. The usual score is **PSNR** (peak signal-to-noise ratio): for values
# in [0, 1], `10 log10(1 / mean squared difference)` in decibels (`metrics.psnr`); higher means closer
# to the target, and +6 dB halves the root-mean-square difference. Two checks on the pairs at hand,
# with the simplest possible "method", doing nothing (output = input). First the size: smaller images average away noise and fine detail,
# so the very same photos look a little more alike. Then the split: which photos end up in the test set.

# %%
print(describe_root())
root = default_root()
sizes = book.pick(full=(512, 256, 128), smoke=(128, 64, 32))
identity_psnr, per_photo = {}, {}
for s in sizes:
    scores = {p.id: psnr(p.input, p.target).item() for p in PairDataset(root, resize=Resize("long", s))}
    identity_psnr[s] = float(np.mean(list(scores.values())))
    per_photo[s] = scores
rows = "\n".join(f"| long edge {s} | {v:.2f} dB |" for s, v in identity_psnr.items())
display(Markdown("| size | PSNR of output = input, all pairs |\n|---|---:|\n" + rows))
size_spread = max(identity_psnr.values()) - min(identity_psnr.values())

pairs_all = PairDataset(root).pairs
split_means = []
for seed in range(20):  # 20 different random 80/20 splits of the same pairs
    _, test = split_by_id(pairs_all, val_fraction=0.2, seed=seed)
    if test:
        split_means.append(float(np.mean([per_photo[sizes[0]][p.id] for p in test])))
split_spread = max(split_means) - min(split_means)
book.say("Size alone moves the score by **{size_spread:.2f} dB**. Over {n} random 80/20 splits, the mean "
         "PSNR of the test photos ranges from **{lo:.2f}** to **{hi:.2f} dB**, a spread of "
         "**{split_spread:.2f} dB**: the choice of test photos moves it {verdict} than the size (0.1 dB "
         "threshold).",
         size_spread=size_spread, n=len(split_means), lo=min(split_means), hi=max(split_means),
         split_spread=split_spread, verdict=book.compare(split_spread, size_spread, 0.1, same="about as much"))

# %% [markdown]
# Either way, scores are only comparable on identically prepared data and the same test photos.
#
# ## Loading pairs
#
# `default_root()` is `data_samples/`, or the folder named by the environment variable
# `CSRNET_LITE_FIVEK` when you have real FiveK pairs. `PairDataset` finds the pairs in any of the
# published folder layouts, resizes them and keeps them in memory:

# %%
book.need("root", cell="How papers prepare FiveK, and why it matters")
data = PairDataset(root, resize=Resize("long", size))
samples = [data[i] for i in range(len(data))]
shapes = sorted({tuple(s.input.shape[2:]) for s in samples})
book.say("**{n}** pairs from `{root}`, resized to long edge {size}; {k} different sizes, e.g. {example}.",
         n=len(data), root=root.name, size=size, k=len(shapes), example=shapes[0])
print(data)
print("ids:", ", ".join(s.id for s in samples[:10]), "..." if len(samples) > 10 else "")

# %% [markdown]
# Each item is a `Pair`, the one type every part of the library passes around: its id, the input, the
# target, where it came from (`source`, the folder in a root that holds several) and the input's 128x128
# thumbnail, the condition network's view of it (notebook 3):

# %%
book.need("samples", cell="Loading pairs")
first = samples[0]
print(f"{first.id}: input {tuple(first.input.shape)}, target {tuple(first.target.shape)}, "
      f"cond_input {tuple(first.cond_input.shape)}")
plots.show_images([first.input, first.target, first.cond_input], ["input", "target (expert)", "thumbnail"])

# %% [markdown]
# ## Page through the pairs
#
# Pick a pair with the first slider and move the line between input (left) and target (right) with the
# second. The pictures are prepared once, so the widget only cuts and pastes.

# %%
book.need("samples", cell="Loading pairs")
inputs = [pictures.as_array(s.input) for s in samples]
targets = [pictures.as_array(s.target) for s in samples]
pair_psnr = [psnr(s.input, s.target).item() for s in samples]


def _pair_caption(image, pair, position):
    s = samples[pair]
    return (f"<b>{s.id}</b>: {s.input.shape[3]}x{s.input.shape[2]}, PSNR of the input against the "
            f"target {pair_psnr[pair]:.2f} dB")


widgets.Preview(lambda pair, position: before_after.split_view(inputs[pair], targets[pair], position, line=True),
            {"pair": widgets.int_slider(0, 0, len(samples) - 1, "pair"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "input | target")},
            readout=_pair_caption, title="input | target")


# %% [markdown]
# ## What did the retouch change?
#
# Four numbers per pair, each comparing the target with the input:
# - **brightness**, in stops: log2 of the ratio of mean *luminance* (`metrics.relative_luminance`).
#   Luminance is computed from linear light, after undoing the sRGB curve that encodes the stored
#   values, so +1 stop means twice the light. (Doubling a stored, gamma-encoded value is about 2.2
#   stops of light; the weighted sum of stored values is called *luma*, `ops.luma`.)
# - **contrast**, a ratio (1: unchanged): of the standard deviations of the luma;
# - **saturation**, a ratio (1: unchanged): of the mean distance of each pixel from its own grey (luma);
# - **warmth**, in stops: log2 of how much the mean red/blue ratio changed (positive: warmer).

# %%
def edit_stats(input, target):
    """What changed from input to target, as four numbers (see above)."""
    li, lt = ops.luma(input), ops.luma(target)  # (1, 1, H, W)
    yi, yt = relative_luminance(input), relative_luminance(target)  # (1, 1, H, W), linear light
    mean_rgb_i, mean_rgb_t = input.mean(dim=(0, 2, 3)), target.mean(dim=(0, 2, 3))  # (3,)
    return {
        "brightness": math.log2(yt.mean().item() / yi.mean().item()),
        "contrast": lt.std().item() / li.std().item(),
        "saturation": (target - lt).abs().mean().item() / (input - li).abs().mean().item(),
        "warmth": math.log2((mean_rgb_t[0] / mean_rgb_t[2]).item() / (mean_rgb_i[0] / mean_rgb_i[2]).item()),
    }


# %%
book.need("samples", cell="Loading pairs")
stats = {s.id: edit_stats(s.input, s.target) for s in samples}
names = list(next(iter(stats.values())))
units = {"brightness": "stops of light", "contrast": "ratio of luma std. dev.",
         "saturation": "ratio of distance from grey", "warmth": "stops of red/blue"}
fig = Figure(figsize=(12, 0.22 * len(stats) + 1.5), layout="constrained")
for ax, name in zip(fig.subplots(1, 4, sharey=True), names):
    values = [v[name] for v in stats.values()]
    neutral = 1.0 if name in ("contrast", "saturation") else 0.0
    ax.barh(list(stats), [v - neutral for v in values], left=neutral,
            color=["tab:orange" if v > neutral else "tab:blue" for v in values])
    ax.axvline(neutral, color="k", lw=0.8)
    ax.set_title(name)
    ax.set_xlabel(units[name])
    ax.tick_params(axis="y", labelsize=7)
fig.axes[0].invert_yaxis()
fig.suptitle("What the retouch changed, per pair (orange: more, blue: less)")
fig

# %%
book.need("stats", cell="What did the retouch change?")
verdicts = {n: [book.compare(v[n], 0.0 if n == "brightness" else 1.0, 0.1 if n == "brightness" else 0.05)
                for v in stats.values()] for n in ("brightness", "saturation")}  # 0.1 stop; 5 %
book.say("The target is brighter than the input by more than 0.1 stop in **{brighter}** of {n} pairs and "
         "darker by more in **{darker}**; more saturated by more than 5 % in **{sat}**, less in **{unsat}**. "
         "The median change of brightness is **{med:+.2f}** stops of light.",
         brighter=verdicts["brightness"].count("more"), darker=verdicts["brightness"].count("less"),
         sat=verdicts["saturation"].count("more"), unsat=verdicts["saturation"].count("less"), n=len(stats),
         med=float(np.median([v["brightness"] for v in stats.values()])))

# %% [markdown]
# ### Measured against the truth (data_samples only)
#
# For `data_samples/` we know exactly what was done: `manifest.json` records each pair's degradation
# (exposure in stops of the stored values, white-balance gains, contrast, saturation; see
# `data_samples/README.md`). The retouch undoes it, so the measured changes should follow the recorded
# parameters. Predicted brightness: the recorded exposure and gains applied to the target, measured in
# stops of light like above. Predicted contrast and saturation: the inverse of what the degradation
# applied, times the inverse of the luma's gain.

# %%
book.need("samples", "root", cell="Loading pairs")
book.need("stats", "units", cell="What did the retouch change?")
known = known_degradations(root)  # name -> degradation.Degradation; {} where there is no manifest.json
matched = [s for s in samples if s.id in known]
if matched:
    quantities = ("brightness", "contrast", "saturation")
    predicted, measured = {n: [] for n in quantities}, {n: [] for n in quantities}
    cast, clipped = [], []
    for s in matched:
        d = known[s.id]
        exposed = ops.white_balance(ops.exposure(s.target, d.exposure_ev), d.wb_gains).clamp(0, 1)
        gain = 2 ** d.exposure_ev * float(np.array(ops.LUMA) @ np.array(d.wb_gains))  # the luma's gain
        predicted["brightness"].append(-math.log2(relative_luminance(exposed).mean().item()
                                                  / relative_luminance(s.target).mean().item()))
        predicted["contrast"].append(1 / (d.contrast * gain))
        predicted["saturation"].append(1 / (d.saturation * d.contrast * gain))
        for n in quantities:
            measured[n].append(stats[s.id][n])
        cast.append(abs(math.log2(d.wb_gains[0] / d.wb_gains[2])))  # stops between red and blue gains
        clipped.append(((s.input <= 0) | (s.input >= 1)).float().mean().item())  # values at black or white

# %%
book.need("matched", cell="Measured against the truth (data_samples only)")
if matched:
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    correlation = {}
    for ax, n in zip(fig.subplots(1, 3), quantities):
        ax.scatter(predicted[n], measured[n], s=20)
        lo = min(predicted[n] + measured[n])
        hi = max(predicted[n] + measured[n])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        correlation[n] = float(np.corrcoef(predicted[n], measured[n])[0, 1])
        ax.set(title=f"{n}: correlation {correlation[n]:.2f}", xlabel=f"predicted from manifest.json ({units[n]})",
               ylabel=f"measured from the pixels ({units[n]})")
    book.say("Correlation between measured and recorded changes over {n} pairs: brightness **{b:.2f}**, "
             "contrast **{c:.2f}**, saturation **{s:.2f}**.", n=len(matched),
             b=correlation["brightness"], c=correlation["contrast"], s=correlation["saturation"])
    display(fig)
else:
    correlation = None
    print(f"{root} has no manifest of known edits (a real FiveK folder): nothing to compare with.")

# %% [markdown]
# Why are some points off the line? Two candidates: clipping (values the degradation pushed to black
# or white are lost) and the white-balance cast (the prediction treats the gains as a change of
# brightness only, while a cast also tints every grey, which the saturation measure counts as colour).
# We measure each pair's distance from the line (the mean over the three panels of |ln(measured /
# predicted)|, brightness converted from stops) and correlate it with the size of each candidate. With
# n pairs, a correlation counts only above 2/sqrt(n) in size (smaller ones arise by chance).

# %%
book.need("matched", cell="Measured against the truth (data_samples only)")
if matched:
    off = np.mean([np.abs(np.array(measured["brightness"]) - np.array(predicted["brightness"])) * math.log(2)]
                  + [np.abs(np.log(np.array(measured[n]) / np.array(predicted[n]))) for n in ("contrast", "saturation")],
                  axis=0)  # (pairs,)
    r_cast = float(np.corrcoef(off, cast)[0, 1])
    r_clip = float(np.corrcoef(off, clipped)[0, 1]) if np.std(clipped) > 0 else 0.0
    noise = 2 / math.sqrt(len(matched))

    def reading(r: float) -> str:
        return "a clear correlation" if abs(r) > noise else "no clear correlation"

    book.say("Distance from the line against the cast (stops between the red and blue gains): r = **{rc:+.2f}**, "
             "{vc}; against the fraction of clipped input values: r = **{rk:+.2f}**, {vk} (threshold {t:.2f}). "
             "**{k}** of {n} inputs have any value clipped at black or white, at most **{most:.2%}** of one "
             "photo's values.", rc=r_cast, vc=reading(r_cast), rk=r_clip, vk=reading(r_clip), t=noise,
             k=int(np.sum(np.array(clipped) > 0)), n=len(matched), most=max(clipped))
    display(plots.bar_chart([s.id for s in matched], list(off), log=False, fmt="{:.3f}",
                          xlabel="distance from the line (mean |ln(measured / predicted)|)",
                          title="How far each pair is from the prediction"))

# %% [markdown]
# ## The authors' weights on these pairs
#
# If you have the authors' weights (notebook 3), here is how their CSRNet, trained on FiveK as *they*
# prepared it, does on these pairs, per source folder. On differently prepared inputs it may do worse
# than doing nothing: the preparation matters as much as the method.

# %%
book.need("samples", "data", cell="Loading pairs")
book.need("root", cell="How papers prepare FiveK, and why it matters")
try:
    official = load_official()
except FileNotFoundError as e:
    official = None
    print(e)
if official is not None:
    by_group = {}
    with torch.no_grad():
        for pair, s in zip(data.pairs, samples):
            out = official(s.input).clamp(0, 1)
            by_group.setdefault(pair.group or root.name, []).append(
                (psnr(s.input, s.target).item(), psnr(out, s.target).item()))
    rows = "\n".join(f"| {g} | {len(v)} | {np.mean([a for a, _ in v]):.2f} | {np.mean([b for _, b in v]):.2f} |"
                     for g, v in by_group.items())
    display(Markdown("| source | pairs | PSNR input (dB) | PSNR authors' CSRNet (dB) |\n|---|---:|---:|---:|\n" + rows))

# %% [markdown]
# ## Summary
#
# - FiveK: raw photos retouched by five experts, research use only; papers use expert C.
# - Papers prepare it differently (input rendering, size, split), and the preparation alone moves
#   scores, the test split most of all: compare only like with like.
# - `PairDataset(default_root(), resize=...)` loads `data_samples/` or a real FiveK folder.
# - What the retouch changed, per pair: brightness in stops of light (from luminance, not luma),
#   contrast and saturation as ratios, warmth in stops. On `data_samples/` the measurements follow the
#   recorded degradations, and what the simple prediction misses is measured against its candidate
#   causes, not assumed.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** Which pair did the retouch change least, by the PSNR of its input against its
# target (the highest PSNR)? Answer with its id, a string.

# %% tags=["answer"]
answer_1 = None  # e.g. "a0001"

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.need("answer_1", cell="answer_1 = ...")
book.need("samples", cell="Loading pairs")
book.need("pair_psnr", cell="Page through the pairs")
book.check(answer_1, samples[int(np.argmax(pair_psnr))].id, name="Exercise 1",
           hint="a higher PSNR means a smaller difference; pair_psnr[i] belongs to samples[i]")

# %% tags=["solution"]
# Solution to Exercise 1. The highest PSNR is the smallest difference between input and target.
# wrong: samples[int(np.argmin(pair_psnr))].id     # the lowest PSNR: the pair changed most
# wrong: str(int(np.argmax(pair_psnr)))            # its position, not its id
solution_1 = samples[int(np.argmax(pair_psnr))].id

# %% [markdown]
# **Exercise 2.** What (height, width) does `Resize.SHORT_480` give a photo of 2000 rows and 3000
# columns? Work it out, then check.

# %% tags=["answer"]
answer_2 = None  # (height, width)

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.need("answer_2", cell="answer_2 = ...")
book.check(answer_2, Resize.SHORT_480.output_size(2000, 3000), name="Exercise 2",
           hint="the short edge becomes 480, the long edge keeps the aspect ratio")

# %% tags=["solution"]
# Solution to Exercise 2. The short edge (the 2000 rows) becomes 480; the width scales by the same factor.
# wrong: (720, 480)    # (width, height): rows come first
# wrong: (320, 480)    # the long edge is 480 then
# wrong: (480, 480)    # the aspect ratio is kept
solution_2 = (480, round(3000 * 480 / 2000))

# %% [markdown]
# **Exercise 3.** Across all pairs, what is the mean of the brightness change (in stops of light) from
# input to target? Use `stats`.

# %% tags=["answer"]
answer_3 = None  # a number

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.need("answer_3", cell="answer_3 = ...")
book.need("stats", cell="What did the retouch change?")
book.check(answer_3, float(np.mean([v["brightness"] for v in stats.values()])), tol=1e-4, name="Exercise 3",
           hint="stats[id]['brightness'] for every id, averaged")

# %% tags=["solution"]
# Solution to Exercise 3. The mean over pairs of stats[id]["brightness"].
# wrong: sum(v["brightness"] for v in stats.values())     # a sum, not a mean
# wrong: 0.0
solution_3 = sum(v["brightness"] for v in stats.values()) / len(stats)

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert len(data) == len(samples) >= 2
assert all(s.input.shape == s.target.shape and max(s.input.shape[2:]) <= size for s in samples)
assert identity_psnr[min(sizes)] > identity_psnr[max(sizes)]  # smaller images score higher
assert split_spread > size_spread
if correlation is not None:
    assert correlation["brightness"] > 0.9 and correlation["saturation"] > 0.5
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
