# %% [markdown]
# # 6. Visualising the learned modulations
#
# A trained CSRNet decides, for each photo, 262 scales and shifts. What do they look like across
# photos? Do photos that need similar retouches get similar condition vectors? What colour map does
# each photo receive, and can we name the operators the network learned? And what happens when we
# turn the knobs ourselves?
#
# **You will learn to**
# - read the scales and shifts of every layer across many photos as heatmaps;
# - map the condition vectors to 2-D with PCA and see what the main direction means;
# - draw the tone curves and the 3D lookup table each photo receives;
# - fit brightness, contrast, saturation and white balance to a learned colour map, and compare them
#   with the known degradations of `data_samples/`;
# - intervene with sliders: retouching strength, mixing two photos' conditions, switching modulations off.
#
# **Time:** about 30 minutes; the notebook runs in a few minutes on a laptop CPU (less when notebook 5
# has already trained a model).

# %%
import functools
import json

import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import analysis, book, ops, pictures, plots, widgets
from csrnet_lite.checkpoint import load_model
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.lut import bake_lut, identity_lut
from csrnet_lite.model import Modulations
from csrnet_lite.pairs import split_by_id
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.samples import known_degradations
from csrnet_lite.train import train

book.setup()
size = book.pick(full=512, smoke=128)

# %% [markdown]
# ## A trained model
#
# We use the model notebook 5 trained on the same data if it is there, and otherwise train one now
# with the fast recipe.

# %%
print(describe_root())
root = default_root()
data = PairDataset(root, resize=Resize("long", size))
samples = [data[i] for i in range(len(data))]
ids = [s.id for s in samples]
train_pairs, _ = split_by_id(data.pairs, val_fraction=0.2)

checkpoint = book.run_dir("05_training") / "fast.pt"
meta = checkpoint.with_suffix(".json")
if checkpoint.exists() and meta.exists() and json.loads(meta.read_text())["root"] == str(root):
    model, origin = load_model(checkpoint)[0], f"trained by notebook 5 ({checkpoint.name})"
else:
    config = TrainConfig.fast(minutes=book.pick(full=1.0, smoke=None), steps=book.pick(full=None, smoke=4))
    model = train(None, PairDataset(train_pairs, resize=Resize("long", size)), config).model
    origin = "trained just now (run notebook 5 first to reuse its model)"
model.eval()
book.say("Model: {origin}; **{n}** photos to look at.", origin=origin, n=len(samples))

# %% [markdown]
# The condition network sees each photo's 128x128 thumbnail; one batch gives the modulations of all
# photos at once (notebook 3 has the shapes). `analysis.one_photo(mods, i)` picks photo i's as a
# batch of one.

# %%
mods = analysis.modulations_of(model, [s.cond_input for s in samples])  # B x (1, 3, 128, 128) -> B photos
print("cond", tuple(mods.cond.shape), "| scales", [tuple(s.shape) for s in mods.scales])

# %% [markdown]
# ## Scales and shifts across photos
#
# One row per photo, one column per channel; red is positive, blue negative, white zero ("leave this
# channel alone"). Columns that change colour down the rows are the channels the network uses to
# adapt its retouch to each photo.

# %%
plots.modulation_heatmaps(mods.scales, mods.shifts, row_labels=ids if len(ids) <= 30 else None,
                        title="Modulations per photo (rows) and channel (columns)")

# %%
spread = {f"layer {i + 1}": v for i, v in enumerate(analysis.modulation_spread(mods))}
most = max(spread, key=spread.get)
book.say("Mean spread across photos (standard deviation per channel, averaged): " +
         ", ".join(f"{k} **{v:.3f}**" for k, v in spread.items()) + ". The most photo-specific is {most}.",
         most=most, spread=spread)

# %% [markdown]
# ## Condition vectors in 2-D
#
# Each photo's condition vector has 32 numbers. PCA finds the two directions along which they vary
# most; we colour each photo by the mean luminance of its input.

# %%
coords, explained = pictures.pca_2d(mods.cond)
brightness = np.array([ops.mean_luminance(s.input).item() for s in samples])
pc1_brightness = float(np.corrcoef(coords[:, 0], brightness)[0, 1])
book.say("The first two principal components explain **{a:.0%}** and **{b:.0%}** of the variance; the "
         "first one correlates with the input's brightness at **{r:+.2f}**.", a=explained[0], b=explained[1],
         r=pc1_brightness)
plots.scatter_2d(coords, brightness, labels=ids if len(ids) <= 30 else None, colour_label="input mean luminance",
               axis_labels=(f"PC 1 ({explained[0]:.0%})", f"PC 2 ({explained[1]:.0%})"),
               title="Condition vectors, coloured by input brightness")

# %% [markdown]
# On `data_samples/` we also know how each input was degraded. Colouring by the recorded exposure
# change shows whether the network's main direction is "how dark was this photo made".

# %%
known = known_degradations(root)  # name -> samples.Degradation; {} where there is no manifest.json
if all(i in known for i in ids):
    ev = np.array([known[i].exposure_ev for i in ids])
    pc1_ev = float(np.corrcoef(coords[:, 0], ev)[0, 1])
    book.say("Correlation of PC 1 with the recorded exposure change: **{r:+.2f}**.", r=pc1_ev)
    display(plots.scatter_2d(coords, ev, colour_label="recorded exposure change (stops)",
                           axis_labels=("PC 1", "PC 2"), title="Coloured by the known degradation"))
else:
    groups = [p.group or "root" for p in data.pairs]
    display(plots.scatter_2d(coords, groups, title="Coloured by source folder"))

# %% [markdown]
# ## The colour map each photo receives
#
# With its modulations fixed, the base network is a colour map (notebook 3). Its tone curves along
# the grey axis, for the darkest, a middle and the brightest input (`analysis.colour_map(model, m)` is
# `model.base` with the modulations `m` fixed):

# %%
order = np.argsort(brightness)
chosen = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
curves = {f"{ids[i]} (input mean {brightness[i]:.2f})":
          pictures.tone_curves(analysis.colour_map(model, analysis.one_photo(mods, i)), mode="grey") for i in chosen}
lift = {ids[i]: float(curves[k][1][128].mean()) for i, k in zip(chosen, curves)}
dark_first = lift[ids[chosen[0]]] > lift[ids[chosen[-1]]]
book.say("Grey 0.5 is mapped to " + ", ".join(f"**{v:.2f}** for {k}" for k, v in lift.items()) +
         ": the darkest input gets a {which} lift than the brightest.", lift=lift,
         which="stronger" if dark_first else "weaker")
plots.tone_curve_figure(curves, title="Tone curves (grey ramp in, R/G/B out)")

# %% [markdown]
# The whole colour map, as a 17x17x17 lookup table (`csrnet_lite.lut`): each tile is one level of
# input blue, with input red growing to the right and input green downwards. The identity table shows
# the input colours themselves.

# %%
luts = [bake_lut(model, analysis.one_photo(mods, i), 17) for i in chosen]
plots.show_images([pictures.lut_picture(identity_lut(17))] + [pictures.lut_picture(lut) for lut in luts],
                ["identity"] + [ids[i] for i in chosen], size=3)

# %% [markdown]
# ## Which operators did it learn?
#
# We fit the chain "saturation s, then contrast k around a grey m, then white balance (R, B gains),
# then exposure (stops)" to each photo's learned colour map by least squares. It is built from the
# operators' forms in `csrnet_lite.ops` (notebook 2), with the parameters as tensors so that torch can
# optimise them. The grey m is not fitted: it is the photo's mean luminance, what `ops.contrast` blends
# towards (left free, contrast and exposure could trade off against it with equally good fits).
#
# On `data_samples/` we know the truth: each input was made from its target by exposure, white
# balance, contrast and saturation (in that order), so the retouch that undoes it is the same chain in
# reverse with inverted parameters: saturation 1/s, contrast 1/k around the same grey, gains 1/g,
# exposure -ev (`analysis.ChainParams.undoing`). The grey the degradation used is the input's mean
# luminance, up to clipping and 8-bit rounding.

# %%
book.show_source(analysis.operator_chain)

# %%
fits = {ids[i]: analysis.fit_learned_operators(model, analysis.one_photo(mods, i), samples[i].input, seed=i)
        for i in range(len(samples))}  # id -> OperatorFit(params, rms)
rms = float(np.median([fit.rms for fit in fits.values()]))
book.say("The four operators reproduce the learned colour maps to a median RMS error of **{rms:.4f}**.",
         rms=rms)

# %%
names = ["saturation", "contrast", "grey", "gain R", "gain B", "exposure"]  # analysis.ChainParams' fields
fitted = np.array([fits[i].params.as_tensor().numpy() for i in ids])  # (photos, 6)
if all(i in known for i in ids):
    truth = np.array([analysis.ChainParams.undoing(known[i]).as_tensor().numpy() for i in ids])
    shown = [0, 1, 3, 4, 5]  # the grey m is not fitted
    fig = Figure(figsize=(15, 3.2), layout="constrained")
    agreement = {}
    for ax, j in zip(fig.subplots(1, len(shown)), shown):
        ax.scatter(truth[:, j], fitted[:, j], s=14)
        lo, hi = min(truth[:, j].min(), fitted[:, j].min()), max(truth[:, j].max(), fitted[:, j].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        agreement[names[j]] = float(np.corrcoef(truth[:, j], fitted[:, j])[0, 1])
        ax.set(title=f"{names[j]}: r = {agreement[names[j]]:.2f}", xlabel="undoes the degradation",
               ylabel="fitted to the network")
    fig.suptitle("The learned colour maps, read as operators, against the truth")
    rows = "\n".join(f"| {ids[i]} | " + " | ".join(f"{fitted[i, j]:.2f} / {truth[i, j]:.2f}" for j in shown) + " |"
                     for i in range(min(5, len(ids))))
    display(Markdown("| photo | " + " | ".join(names[j] for j in shown) + " |\n|---|" + "---:|" * len(shown)
                     + "\n" + rows + "\n\n(fitted to the network / what undoes the degradation)"))
    book.say("Correlation between fitted and true parameters over {n} photos: " +
             ", ".join(f"{k} **{v:+.2f}**" for k, v in agreement.items()) + ".", n=len(ids), agreement=agreement)
    display(fig)
    adapted = [k for k, v in agreement.items() if v >= 0.7]
    averaged = [k for k, v in agreement.items() if v < 0.7]
    means = {names[j]: (float(fitted[:, j].mean()), float(truth[:, j].mean())) for j in shown}
    book.say("So this network adapts **{adapted}** to each photo (correlation at least 0.7). For "
             "{averaged} it applies about the same value to every photo (on average: " + ", ".join(f"{k} {f:.2f} fitted vs {t:.2f} true on average"
                                                    for k, (f, t) in means.items() if k in averaged) +
             "). A network trained for minutes learns the average retouch plus the strongest per-photo "
             "correction first; more training and data let it adapt the rest.",
             adapted=", ".join(adapted) or "none of them", averaged=", ".join(averaged) or "none", means=means)
else:
    agreement = None
    display(Markdown("| photo | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n" +
                     "\n".join(f"| {i} | " + " | ".join(f"{v:.2f}" for v in fitted[j]) + " |"
                               for j, i in enumerate(ids[:8]))))
    print("No known degradations here (a real FiveK folder): the table is what the expert's edits look like "
          "as operators.")

# %% [markdown]
# ## Interventions
#
# The modulations are the network's knobs, so we can turn them ourselves. All three widgets run the
# base network through a baked lookup table, so they answer at once. Each readout compares the result
# with the target. Each widget calls a plain function of `csrnet_lite.analysis` (`preview_strength`,
# `preview_mix`, `preview_switched`; `psnr_readout` writes the readout). The first one scales the
# modulations:

# %%
book.show_source(analysis.at_strength)

# %%
photo_index = int(order[0])  # the darkest input: the biggest retouch
photo = samples[photo_index].input
target = pictures.as_array(samples[photo_index].target)
base_mods = analysis.one_photo(mods, photo_index)
score = functools.partial(analysis.psnr_readout, target=target)  # the line under each widget

book.say("Photo: **{name}**.", name=ids[photo_index])
widgets.Preview(functools.partial(analysis.preview_strength, model, photo, base_mods),
            {"t": widgets.slider(1.0, 0.0, 1.5, 0.05, "strength")}, readout=score,
            title="Retouching strength (0: no modulation, 1: the network's choice)")

# %% [markdown]
# At strength 0 every GFM is the identity and the base network applies its unmodulated map, the
# average retouch it starts from; at 1 the photo-specific one.
#
# **Mixing two photos' conditions.** The heads are linear, so mixing two condition vectors mixes the
# modulations in the same proportion (`Modulations.lerp`, via `analysis.mixed`). Retouch our photo as
# if it were another:

# %%
widgets.Preview(functools.partial(analysis.preview_mix, model, photo, mods, photo_index),
            {"other": widgets.int_slider(int(order[-1]), 0, len(samples) - 1, "other photo"),
             "mix": widgets.slider(0.0, 0.0, 1.0, 0.05, "mix")}, readout=score,
            title=f"{ids[photo_index]} retouched with another photo's condition")

# %% [markdown]
# **Switching modulations off.** Untick a box to set that layer's scales or shifts to zero:

# %%
book.show_source(analysis.switched)

# %%
boxes = {f"{kind}{i}": widgets.toggle(True, f"{kind}{i}") for i in (1, 2, 3) for kind in ("scale", "shift")}
widgets.Preview(functools.partial(analysis.preview_switched, model, photo, base_mods), boxes, readout=score,
            title="Modulations on/off")

# %%
loss_without = analysis.psnr_cost_per_layer(model, photo, base_mods, target)  # layer -> dB lost
book.say("Switching a whole layer's modulations off costs " +
         ", ".join(f"layer {k}: **{v:.2f} dB**" for k, v in loss_without.items()) + " on this photo.",
         loss_without=loss_without)

# %% [markdown]
# ## Summary
#
# - Across photos, the modulations vary in a few channels: those carry the photo-specific part of the
#   retouch.
# - The condition vectors of many photos spread mainly along one direction, which follows how bright
#   (how underexposed) each input is.
# - Each photo receives a smooth colour map, which reads as a chain of the classic operators of
#   notebook 2; on `data_samples/` the fitted operators can be checked against the known degradations,
#   which shows which of them the network already adapts to each photo.
# - The modulations are knobs: scaling, mixing or switching them off changes the retouch predictably.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it. The solutions are
# collapsed too: click the `...` to show them.
#
# **Exercise 1.** What fraction of the variance of the condition vectors do the first two principal
# components explain together? Answer with a number between 0 and 1.

# %%
answer_1 = None  # a number

# %% solution
book.check(answer_1, float(explained.sum()), tol=1e-3, name="Exercise 1", hint="pictures.pca_2d returned it")

# %% solution
solution_1 = float(explained[0] + explained[1])
book.check(solution_1, float(explained.sum()), tol=1e-3, name="Exercise 1 (solution)")

# %% [markdown]
# **Exercise 2.** Which photo has the largest first principal component? Answer with its id.

# %%
answer_2 = None  # an id

# %% solution
book.check(answer_2, ids[int(np.argmax(coords[:, 0]))], name="Exercise 2", hint="coords[:, 0] is PC 1")

# %% solution
solution_2 = ids[int(coords[:, 0].argmax())]
book.check(solution_2, ids[int(np.argmax(coords[:, 0]))], name="Exercise 2 (solution)")

# %% [markdown]
# **Exercise 3.** Build the modulations that apply *half* of the network's retouch of the photo in the
# widgets (strength 0.5), as a `Modulations` object.

# %%
answer_3 = None  # a Modulations


# %% solution
def _is_half(m):
    expected = analysis.at_strength(base_mods, 0.5)
    return all(torch.allclose(a, b, atol=1e-6) for a, b in zip(m.scales + m.shifts, expected.scales + expected.shifts))


book.check(answer_3, _is_half, name="Exercise 3", hint="Modulations.lerp, starting from Modulations.identity()")

# %% solution
solution_3 = Modulations(base_mods.cond * 0.5, tuple(0.5 * s for s in base_mods.scales),
                         tuple(0.5 * s for s in base_mods.shifts))
book.check(solution_3, _is_half, name="Exercise 3 (solution)")

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert mods.cond.shape == (len(samples), 32) and 0 < explained.sum() <= 1 + 1e-6
assert np.allclose(analysis.preview_strength(model, photo, base_mods, 1.0),
                   widgets.preview_modulations(model, photo, base_mods), atol=1e-6)
assert rms < 0.1  # four operators describe the learned colour maps well
assert dark_first == (lift[ids[chosen[0]]] > lift[ids[chosen[-1]]])
if agreement is not None:
    assert set(adapted) | set(averaged) == set(agreement)
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
