# %% [markdown]
# # 4. The data: MIT-Adobe FiveK and our offline samples
#
# CSRNet learns a retouch from pairs: a photo as the camera rendered it (the *input*) and the same
# photo after an expert retouched it (the *target*). This notebook looks at where such pairs come from,
# how the details of their preparation change the numbers papers report, and what the expert actually
# changed in each photo.
#
# **You will learn to**
# - say what MIT-Adobe FiveK is, who may use it, and how papers prepare it;
# - see how much a choice as small as the image size moves a score;
# - load `data_samples/` (offline, in this repository) or a real FiveK folder with one line;
# - page through the pairs with a before/after view;
# - measure what the retouch changed in each photo: brightness, contrast, saturation, colour.
#
# **Time:** about 25 minutes; the cells run in about a minute on a laptop CPU.

# %%
import json
import math

import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import book, ops, pictures, plots, widgets
from csrnet_lite.checkpoint import load_official
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.metrics import psnr
from csrnet_lite.pairs import split_by_id

book.setup()
size = book.pick(full=512, smoke=128)  # long edge of the photos in this notebook

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
# Such details move the scores. Two checks on the pairs at hand, with the simplest possible "method",
# doing nothing (output = input). First the size: smaller images average away noise and fine detail,
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
book.say("Size alone moves the score by **{size_spread:.2f} dB**. The choice of test photos moves it much "
         "more: over {n} random 80/20 splits, the mean PSNR of the test photos ranges from "
         "**{lo:.2f}** to **{hi:.2f} dB**, a spread of **{split_spread:.2f} dB**. Scores are only "
         "comparable on identically prepared data and the same test photos.", size_spread=size_spread,
         n=len(split_means), lo=min(split_means), hi=max(split_means), split_spread=split_spread)

# %% [markdown]
# ## Loading pairs
#
# `default_root()` is `data_samples/`, or the folder named by the environment variable
# `CSRNET_LITE_FIVEK` when you have real FiveK pairs. `PairDataset` finds the pairs in any of the
# published folder layouts, resizes them and keeps them in memory:

# %%
data = PairDataset(root, resize=Resize("long", size))
samples = [data[i] for i in range(len(data))]
shapes = sorted({tuple(s.input.shape[2:]) for s in samples})
book.say("**{n}** pairs from `{root}`, resized to long edge {size}; {k} different sizes, e.g. {example}.",
         n=len(data), root=root.name, size=size, k=len(shapes), example=shapes[0])
print(data)
print("ids:", ", ".join(s.id for s in samples[:10]), "..." if len(samples) > 10 else "")

# %% [markdown]
# Each sample holds the input, the target and the input's 128x128 thumbnail, the condition network's
# view of it (notebook 3):

# %%
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
inputs = [pictures.as_array(s.input) for s in samples]
targets = [pictures.as_array(s.target) for s in samples]
pair_psnr = [psnr(s.input, s.target).item() for s in samples]


def _pair_caption(image, pair, position):
    s = samples[pair]
    return (f"<b>{s.id}</b>: {s.input.shape[3]}x{s.input.shape[2]}, PSNR of the input against the "
            f"target {pair_psnr[pair]:.2f} dB")


widgets.Preview(lambda pair, position: pictures.split_view(inputs[pair], targets[pair], position, line=True),
            {"pair": widgets.int_slider(0, 0, len(samples) - 1, "pair"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "input | target")},
            readout=_pair_caption, title="input | target")

# %% [markdown]
# ## What did the retouch change?
#
# Four numbers per pair, each comparing the target with the input:
# - **brightness**: log2 of the ratio of mean luminance (+1 means twice as bright: one stop);
# - **contrast**: the ratio of the standard deviations of the luminance;
# - **saturation**: the ratio of the mean distance of each pixel from its own grey;
# - **warmth**: log2 of how much the red/blue balance changed (positive: warmer).

# %%
def edit_stats(input, target):
    """What changed from input to target, as four numbers (see above)."""
    li, lt = ops.luma(input), ops.luma(target)  # (1, 1, H, W)
    mean_rgb_i, mean_rgb_t = input.mean(dim=(0, 2, 3)), target.mean(dim=(0, 2, 3))  # (3,)
    return {
        "brightness": math.log2(lt.mean().item() / li.mean().item()),
        "contrast": lt.std().item() / li.std().item(),
        "saturation": (target - lt).abs().mean().item() / (input - li).abs().mean().item(),
        "warmth": math.log2((mean_rgb_t[0] / mean_rgb_t[2]).item() / (mean_rgb_i[0] / mean_rgb_i[2]).item()),
    }


stats = {s.id: edit_stats(s.input, s.target) for s in samples}
names = list(next(iter(stats.values())))
fig = Figure(figsize=(12, 0.22 * len(stats) + 1.5), layout="constrained")
for ax, name in zip(fig.subplots(1, 4, sharey=True), names):
    values = [v[name] for v in stats.values()]
    neutral = 1.0 if name in ("contrast", "saturation") else 0.0
    ax.barh(list(stats), [v - neutral for v in values], left=neutral,
            color=["tab:orange" if v > neutral else "tab:blue" for v in values])
    ax.axvline(neutral, color="k", lw=0.8)
    ax.set_title(name)
    ax.tick_params(axis="y", labelsize=7)
fig.axes[0].invert_yaxis()
fig.suptitle("What the retouch changed, per pair (orange: more, blue: less)")
fig

# %%
brighter = sum(v["brightness"] > 0 for v in stats.values())
more_saturated = sum(v["saturation"] > 1 for v in stats.values())
book.say("The target is brighter than the input in **{brighter}** of {n} pairs and more saturated in "
         "**{sat}**; the median change of brightness is **{med:+.2f}** stops.",
         brighter=brighter, n=len(stats), sat=more_saturated,
         med=float(np.median([v["brightness"] for v in stats.values()])))

# %% [markdown]
# ### Measured against the truth (data_samples only)
#
# For `data_samples/` we know exactly what was done: `manifest.json` records each pair's degradation
# (exposure in stops, white-balance gains, contrast, saturation; see `data_samples/README.md`). The
# retouch undoes it, so the measured changes should follow the recorded parameters: brightness should
# be about minus the exposure (minus the gains' effect on luminance), and contrast and saturation the
# inverse of what the degradation applied.

# %%
manifest_path = root / "manifest.json"
known = {}
if manifest_path.exists():
    for entry in json.loads(manifest_path.read_text())["pairs"]:
        known[entry["name"]] = entry["degradation"]
matched = [i for i in stats if i in known]
if matched:
    luma_w = np.array(ops.LUMA)
    predicted, measured = {n: [] for n in ("brightness", "contrast", "saturation")}, {n: [] for n in ("brightness", "contrast", "saturation")}
    for i in matched:
        d = known[i]
        gain = 2 ** d["exposure_ev"] * float(luma_w @ np.array(d["wb_gains"]))  # how much darker the luminance got
        predicted["brightness"].append(-math.log2(gain))
        predicted["contrast"].append(1 / (d["contrast"] * gain))
        predicted["saturation"].append(1 / (d["saturation"] * d["contrast"] * gain))
        for n in measured:
            measured[n].append(stats[i][n])
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    correlation = {}
    for ax, n in zip(fig.subplots(1, 3), measured):
        ax.scatter(predicted[n], measured[n], s=20)
        lo = min(predicted[n] + measured[n])
        hi = max(predicted[n] + measured[n])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        correlation[n] = float(np.corrcoef(predicted[n], measured[n])[0, 1])
        ax.set(title=f"{n}: correlation {correlation[n]:.2f}", xlabel="predicted from manifest.json",
               ylabel="measured from the pixels")
    book.say("Correlation between measured and recorded changes over {n} pairs: brightness **{b:.2f}**, "
             "contrast **{c:.2f}**, saturation **{s:.2f}**. Points off the line are where the degradation "
             "clipped at black or white, which the simple prediction ignores.", n=len(matched),
             b=correlation["brightness"], c=correlation["contrast"], s=correlation["saturation"])
    display(fig)
else:
    correlation = None
    print(f"{root} has no manifest of known edits (a real FiveK folder): nothing to compare with.")

# %% [markdown]
# ## The authors' weights on these pairs
#
# If you have the authors' weights (notebook 3), here is how their CSRNet, trained on FiveK as *they*
# prepared it, does on these pairs, per source folder. On differently prepared inputs it may do worse
# than doing nothing: the preparation matters as much as the method.

# %%
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
# - Measured per pair, the retouch mostly brightens and adds contrast and colour; on `data_samples/`
#   the measurements follow the recorded degradations.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it. The solutions are
# collapsed too: click the `...` to show them.
#
# **Exercise 1.** Which pair did the retouch change least, by the PSNR of its input against its
# target (the highest PSNR)? Answer with its id, a string.

# %%
answer_1 = None  # e.g. "a0001"

# %% solution
book.check(answer_1, samples[int(np.argmax(pair_psnr))].id, name="Exercise 1",
           hint="pair_psnr[i] belongs to samples[i]")

# %% solution
solution_1 = samples[int(np.argmax(pair_psnr))].id
book.check(solution_1, samples[int(np.argmax(pair_psnr))].id, name="Exercise 1 (solution)")

# %% [markdown]
# **Exercise 2.** What (height, width) does `Resize.SHORT_480` give a photo of 2000 rows and 3000
# columns? Work it out, then check.

# %%
answer_2 = None  # (height, width)

# %% solution
book.check(answer_2, Resize.SHORT_480.output_size(2000, 3000), name="Exercise 2",
           hint="the short edge becomes 480, the long edge keeps the aspect ratio")

# %% solution
solution_2 = (480, round(3000 * 480 / 2000))
book.check(solution_2, Resize.SHORT_480.output_size(2000, 3000), name="Exercise 2 (solution)")

# %% [markdown]
# **Exercise 3.** Across all pairs, what is the mean of the brightness change (in stops) from input
# to target? Use `stats`.

# %%
answer_3 = None  # a number

# %% solution
book.check(answer_3, float(np.mean([v["brightness"] for v in stats.values()])), tol=1e-4, name="Exercise 3",
           hint="stats[id]['brightness'] for every id")

# %% solution
solution_3 = sum(v["brightness"] for v in stats.values()) / len(stats)
book.check(solution_3, float(np.mean([v["brightness"] for v in stats.values()])), tol=1e-4,
           name="Exercise 3 (solution)")

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
