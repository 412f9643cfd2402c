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
# - map the condition vectors to 2-D with PCA (principal component analysis: the directions along
#   which a cloud of points varies most) and compare them with untrained networks' before calling
#   anything "learned";
# - draw the tone curves and the 3D lookup table each photo receives;
# - fit brightness, contrast, saturation and white balance to a learned colour map, and compare them
#   with the known degradations of `data_samples/`;
# - intervene with sliders: retouching strength, mixing two photos' conditions, switching modulations off.
#
# **Time:** about 30 minutes; the notebook runs in a few minutes on a laptop CPU (less when notebook 5
# has already trained a model).

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
import json

import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import analysis, book, curves, metrics, modulation_plots, ops, pictures, plots, widgets
from csrnet_lite.crossval import paired_difference, verdict
from csrnet_lite.checkpoint import load_model
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize
from csrnet_lite.lut import bake_lut, identity_lut
from csrnet_lite.model import CondView, CSRNet, Modulations
from csrnet_lite.pairs import split_by_id
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.degradation import known_degradations
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
    config = TrainConfig.fast(steps=book.pick(full=120, smoke=4))  # notebook 5's steps: the same numbers anywhere
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
modulation_plots.modulation_heatmaps(mods.scales, mods.shifts, row_labels=ids if len(ids) <= 30 else None,
                        title="Modulations per photo (rows) and channel (columns)")

# %%
spread = {f"layer {i + 1}": v for i, v in enumerate(analysis.modulation_spread(mods))}
most, second = sorted(spread, key=spread.get, reverse=True)[:2]
if spread[most] > 1e-3 and spread[most] > 1.2 * spread[second]:  # stands out: 20 % above the next
    layer_verdict = f"The most photo-specific is {most}."
else:
    layer_verdict = "No layer stands out (the largest is below 0.001 or within 20 % of the next)."
book.say("Mean spread across photos (standard deviation per channel, averaged): " +
         ", ".join(f"{k} **{v:.4f}**" for k, v in spread.items()) + ". {layer_verdict}", layer_verdict=layer_verdict, spread=spread)

# %% [markdown]
# ## Condition vectors in 2-D
#
# Each photo's condition vector has 32 numbers. PCA finds the two directions along which they vary
# most; we colour each photo by the mean luma of its input (its brightness). Both axes are drawn to
# the same scale, so a direction that explains little variance looks thin.

# %%
coords, explained = modulation_plots.pca_2d(mods.cond)
brightness = np.array([ops.mean_luminance(s.input).item() for s in samples])
pc1_brightness = float(np.corrcoef(coords[:, 0], brightness)[0, 1])
book.say("The first two principal components explain **{a:.1%}** and **{b:.1%}** of the variance; the "
         "first one correlates with the input's brightness at **{r:+.2f}**.", a=explained[0], b=explained[1],
         r=pc1_brightness)
modulation_plots.scatter_2d(coords, brightness, labels=ids if len(ids) <= 12 else None, colour_label="input mean luma",
               axis_labels=(f"PC 1 ({explained[0]:.1%})", f"PC 2 ({explained[1]:.1%})"),
               title="Trained network: condition vectors, coloured by input brightness")


# %% [markdown]
# Is that picture learned? The same PCA of *untrained* networks (PyTorch's random initialisation,
# five seeds) tells. Averaging the ReLU features of a brighter photo gives larger numbers in every
# channel, so even random condition networks may line their photos up by brightness.

# %%
def untrained_network(seed: int) -> CSRNet:
    """A CSRNet with PyTorch's random initialisation from `seed` (the global random state is kept)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CSRNet().eval()


def pca_summary(net: CSRNet) -> dict:
    """PC 1's share of the variance and |correlation| of PC 1 with the input brightness."""
    c, e = modulation_plots.pca_2d(analysis.modulations_of(net, [s.cond_input for s in samples]).cond)
    r = np.corrcoef(c[:, 0], brightness)[0, 1] if c[:, 0].std() > 0 else 0.0
    return {"coords": c, "explained": e, "pc1": float(e[0]), "r": float(abs(r))}


with torch.no_grad():
    untrained = {seed: pca_summary(untrained_network(seed)) for seed in range(1, 6)}
trained = {"coords": coords, "explained": explained, "pc1": float(explained[0]), "r": abs(pc1_brightness)}
display(Markdown("| network | PC 1 share | PC 2 share | abs. correlation of PC 1 with brightness |\n|---|---:|---:|---:|\n"
                 + "\n".join(f"| {name} | {v['explained'][0]:.1%} | {v['explained'][1]:.1%} | {v['r']:.2f} |"
                              for name, v in [("trained", trained)] + [(f"untrained, seed {k}", v)
                                                                       for k, v in untrained.items()])))
first = untrained[1]
modulation_plots.scatter_2d(first["coords"], brightness, labels=ids if len(ids) <= 12 else None, colour_label="input mean luma",
               axis_labels=(f"PC 1 ({first['explained'][0]:.1%})", f"PC 2 ({first['explained'][1]:.1%})"),
               title="Untrained network (seed 1): the same PCA")


# %% [markdown]
# A difference counts only outside the range of the five untrained networks, by more than a margin:
# 2 percentage points of variance, 0.05 of correlation.

# %%
def against_untrained(value: float, key: str, margin: float) -> str:
    lo, hi = min(v[key] for v in untrained.values()), max(v[key] for v in untrained.values())
    if value > hi + margin:
        return "higher than every untrained network"
    if value < lo - margin:
        return "lower than every untrained network"
    return "within the untrained networks' range: no clear difference"


pc1_range = (min(v["pc1"] for v in untrained.values()), max(v["pc1"] for v in untrained.values()))
r_range = (min(v["r"] for v in untrained.values()), max(v["r"] for v in untrained.values()))
pc1_verdict = against_untrained(trained["pc1"], "pc1", 0.02)
r_verdict = against_untrained(trained["r"], "r", 0.05)
book.say("PC 1 explains **{p:.1%}** of the variance for the trained network and **{lo:.1%}** to **{hi:.1%}** "
         "for the untrained ones: {pv}. Its correlation with brightness is **{r:.2f}** in size, against "
         "**{rlo:.2f}** to **{rhi:.2f}**: {rv}. So a main direction that follows brightness is not, by "
         "itself, evidence of learning; only what differs from the untrained networks is.",
         p=trained["pc1"], lo=pc1_range[0], hi=pc1_range[1], pv=pc1_verdict, r=trained["r"],
         rlo=r_range[0], rhi=r_range[1], rv=r_verdict)

# %% [markdown]
# On `data_samples/` we also know how each input was degraded. Colouring by the recorded exposure
# change shows whether the network's main direction is "how dark was this photo made".

# %%
known = known_degradations(root)  # name -> degradation.Degradation; {} where there is no manifest.json
if all(i in known for i in ids):
    ev = np.array([known[i].exposure_ev for i in ids])
    pc1_ev = float(np.corrcoef(coords[:, 0], ev)[0, 1])
    ev_untrained = [abs(float(np.corrcoef(v["coords"][:, 0], ev)[0, 1])) for v in untrained.values()]
    book.say("Correlation of PC 1 with the recorded exposure change: **{r:+.2f}** (untrained networks: "
             "**{lo:.2f}** to **{hi:.2f}** in size).", r=pc1_ev, lo=min(ev_untrained), hi=max(ev_untrained))
    display(modulation_plots.scatter_2d(coords, ev, colour_label="recorded exposure (stops of the stored values)",
                           axis_labels=("PC 1", "PC 2"), title="Coloured by the known degradation"))
else:
    groups = [p.group or "root" for p in data.pairs]
    display(modulation_plots.scatter_2d(coords, groups, title="Coloured by source folder"))

# %% [markdown]
# ## The colour map each photo receives
#
# With its modulations fixed, the base network is a colour map (notebook 3). Its tone curves along
# the grey axis, for the darkest, a middle and the brightest input (`analysis.colour_map(model, m)` is
# `model.base` with the modulations `m` fixed):

# %%
order = np.argsort(brightness)
chosen = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
photo_curves = {f"{ids[i]} (input mean {brightness[i]:.2f})":
                curves.tone_curves(analysis.colour_map(model, analysis.one_photo(mods, i)), mode="grey")
                for i in chosen}
lift = {ids[i]: float(photo_curves[k][1][128].mean()) for i, k in zip(chosen, photo_curves)}
lift_threshold = 0.01  # 2.5 levels of 255: below it the curves look the same
lift_verdict = book.compare(lift[ids[chosen[0]]], lift[ids[chosen[-1]]], lift_threshold,
                            more="the darkest input gets a stronger lift than the brightest",
                            less="the darkest input gets a weaker lift than the brightest",
                            same=f"no clear difference between the darkest and the brightest input "
                                 f"(less than {lift_threshold})")
book.say("Grey 0.5 is mapped to " + ", ".join(f"**{v:.3f}** for {k}" for k, v in lift.items()) +
         ": {verdict}.", lift=lift, verdict=lift_verdict)
curves.tone_curve_figure(photo_curves, title="Tone curves (grey ramp in, R/G/B out)")

# %% [markdown]
# The whole colour map, as a 17x17x17 lookup table (`csrnet_lite.lut`): each tile is one level of
# input blue, with input red growing to the right and input green downwards. The identity table shows
# the input colours themselves.

# %%
luts = [bake_lut(model, analysis.one_photo(mods, i), 17) for i in chosen]
plots.show_images([modulation_plots.lut_picture(identity_lut(17))] + [modulation_plots.lut_picture(lut) for lut in luts],
                ["identity"] + [ids[i] for i in chosen], size=3)

# %% [markdown]
# ## Which operators did it learn?
#
# We fit the chain "saturation s, then contrast k around a grey m, then white balance (R, B gains),
# then exposure (stops)" to each photo's learned colour map by least squares. It is built from the
# operators' forms in `csrnet_lite.ops` (notebook 2), with the parameters as tensors so that torch can
# optimise them. The grey m is not fitted: it is the photo's mean luma, what `ops.contrast` blends
# towards (left free, contrast and exposure could trade off against it with equally good fits).
#
# On `data_samples/` we know the truth: each input was made from its target by exposure, white
# balance, contrast and saturation (in that order), so the retouch that undoes it is the same chain in
# reverse with inverted parameters: saturation 1/s, contrast 1/k around the same grey, gains 1/g,
# exposure -ev (`analysis.ChainParams.undoing`). The grey the degradation used is the input's mean
# luma, up to clipping and 8-bit rounding.

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
has_truth = all(i in known for i in ids)
agreement = None
if not has_truth:
    display(Markdown("| photo | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n" +
                     "\n".join(f"| {i} | " + " | ".join(f"{v:.2f}" for v in fitted[j]) + " |"
                               for j, i in enumerate(ids[:8]))))
    print("No known degradations here (a real FiveK folder): the table is what the expert's edits look like "
          "as operators.")

# %%
if has_truth:
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

# %% [markdown]
# The same fits to the same network without its per-photo modulations (every GFM the identity) show
# what the fit's own use of each photo's grey and the fixed base network give without any adaptation.

# %%
if has_truth:
    means = {names[j]: (float(fitted[:, j].mean()), float(truth[:, j].mean())) for j in shown}
    fits_off = [analysis.fit_learned_operators(model, analysis.at_strength(analysis.one_photo(mods, i), 0.0),
                                               samples[i].input, seed=i) for i in range(len(samples))]
    fitted_off = np.array([fit.params.as_tensor().numpy() for fit in fits_off])  # (photos, 6)
    agreement_off = {names[j]: float(np.nan_to_num(np.corrcoef(truth[:, j], fitted_off[:, j])[0, 1])) for j in shown}
    adapted = [k for k, v in agreement.items() if v >= 0.7 and v - agreement_off[k] > 0.2]
    averaged = [k for k in agreement if k not in adapted]
    book.say("Without its per-photo modulations, the same fits correlate with the truth at " +
             ", ".join(f"{k} **{v:+.2f}**" for k, v in agreement_off.items()) + ". A parameter counts as "
             "adapted to each photo by the modulations when its correlation is at least 0.7 and more than 0.2 "
             "above that: **{adapted}**. For {averaged} there is no clear evidence of adaptation (mean fitted vs "
             "true: " + ", ".join(f"{k} {f:.2f} vs {t:.2f}" for k, (f, t) in means.items() if k in averaged) + ").",
             adapted=", ".join(adapted) or "none of them", averaged=", ".join(averaged) or "none",
             means=means, agreement_off=agreement_off)

# %% [markdown]
# ## A network that has really learned: undoing random edits
#
# Notebook 5 also trained CSRNet to undo random edits of photos (exposure, white balance, contrast,
# saturation) with unlimited pairs, and the same training with its modulations off. There the
# condition network has something to learn: which edit was applied. We look at it on photos it never
# saw, beside the same network *before* training (its starting point: the fitted fixed map, with an
# untrained condition network whose heads are zero) and beside modulations off.

# %%
from csrnet_lite.edits import EditSource, by_photo, exposure_sweep, modulations_off, score
from csrnet_lite.train import init_model

photos = EditSource.from_photos(data)
edit_train, edit_test = photos.split(sorted(photos.names)[::5])  # notebook 5's split: every fifth photo unseen
edit_config = TrainConfig.edits(steps=book.pick(full=TrainConfig.edits().steps, smoke=4))
folder = book.run_dir("05_training")
if (folder / "edits.pt").exists() and (folder / "edits_off.pt").exists():
    edit_model, off_model = (load_model(folder / f)[0] for f in ("edits.pt", "edits_off.pt"))
    edit_origin = "trained by notebook 5"
else:
    edit_model = train(None, edit_train, edit_config).model
    off_model = train(modulations_off(init_model(edit_config, edit_train)), edit_train, edit_config).model
    edit_origin = "trained just now (run notebook 5 first to reuse its models)"
start_model = init_model(edit_config, edit_train).eval()  # the same network before training
edit_methods = {"untrained (start)": start_model, "modulations off": off_model, "CSRNet": edit_model,
                "exact inverse": "exact inverse"}
book.say("Edit models: {edit_origin}.", edit_origin=edit_origin)

# %% [markdown]
# **View 1: one photo at seven exposures.** Each unseen photo is edited at seven exposures, with the
# same (middle) white balance, contrast and saturation. A fixed map undoes one exposure well; a network
# that reads the photo follows the exposure. The curve shows the first unseen photo; the sentence
# averages over all of them.

# %%
evs = np.linspace(-1.0, 0.4, 7)
edit_view = CondView.trained_on(edit_config.thumb_size)  # what the edit models saw in training
sweeps = {name: score(edit_methods, exposure_sweep(name, target, evs), edit_view) for name, target in edit_test.photos}
sweep_mean = {m: float(np.mean([list(sweeps[p][m].values()) for p in sweeps])) for m in edit_methods}
fig = Figure(figsize=(6, 3.5), layout="constrained")
ax = fig.add_subplot()
first_photo = edit_test.photos[0][0]
for m in edit_methods:
    ax.plot(evs, list(sweeps[first_photo][m].values()), "o-", label=m)
ax.set(xlabel="exposure of the edit (stops)", ylabel="PSNR after undoing (dB)", title=f"{first_photo}: seven exposures")
ax.legend(fontsize=8)
fig

# %%
sweep_diff = paired_difference({p: float(np.mean(list(sweeps[p]["CSRNet"].values()))) for p in sweeps},
                               {p: float(np.mean(list(sweeps[p]["untrained (start)"].values()))) for p in sweeps})
book.say("Over the seven exposures of the {n_sweep} unseen photos, CSRNet scores **{sweep_csrnet:.2f} dB**, "
         "the untrained network **{sweep_start:.2f} dB** and modulations off **{sweep_off:.2f} dB**: {sweep_verdict}.",
         n_sweep=len(sweeps), sweep_csrnet=sweep_mean["CSRNet"], sweep_start=sweep_mean["untrained (start)"],
         sweep_off=sweep_mean["modulations off"], sweep_gain=sweep_diff[0],
         sweep_verdict=verdict("CSRNet", "the untrained network", *sweep_diff))

# %% [markdown]
# **View 2: per-photo gain over the untrained network** on random unseen edits (10 per photo), with
# error bars of twice the standard error over each photo's edits.

# %%
edit_pairs = edit_test.pairs(per_photo=book.pick(full=10, smoke=2), seed=1)
random_scores = score(edit_methods, edit_pairs, edit_view)
gains_by = {m: {p: [random_scores[m][q.id] - random_scores["untrained (start)"][q.id] for q in edit_pairs
                    if q.photo == p] for p in edit_test.names} for m in ("modulations off", "CSRNet")}
fig = Figure(figsize=(7, 3.2), layout="constrained")
ax = fig.add_subplot()
for j, m in enumerate(gains_by):
    g = gains_by[m]
    ax.errorbar(np.arange(len(g)) + 0.15 * j, [np.mean(v) for v in g.values()], capsize=3, fmt="o", label=m,
                yerr=[2 * np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0 for v in g.values()])
ax.axhline(0, color="k", lw=0.8)
ax.set_xticks(range(len(edit_test.names)), edit_test.names, rotation=20)
ax.set(ylabel="gain over the untrained network (dB)", title="Unseen photos, unseen edits")
ax.legend(fontsize=8)
fig

# %%
photo_gain = paired_difference(by_photo(random_scores["CSRNet"]), by_photo(random_scores["untrained (start)"]))
off_gain = paired_difference(by_photo(random_scores["CSRNet"]), by_photo(random_scores["modulations off"]))
clear = sum(np.mean(v) > 2 * np.std(v, ddof=1) / np.sqrt(len(v)) for v in gains_by["CSRNet"].values() if len(v) > 1)
learned = book.compare(photo_gain[0], 0, 2 * photo_gain[1], more="Unlike the PCA above, this view tells the "
                       "trained network from the untrained one.", less="The trained network does worse than "
                       "the untrained one here.", same="This view does not tell them apart either.")
book.say("Per photo, {photo_verdict}; {off_verdict}. CSRNet's gain is beyond its noise band on **{n_clear}** of "
         "the **{n_photos}** unseen photos. {learned}", photo_verdict=verdict("CSRNet", "the untrained network", *photo_gain),
         off_verdict=verdict("CSRNet", "modulations off", *off_gain), n_clear=int(clear), learned=learned,
         n_photos=len(edit_test.names), photo_gain=photo_gain[0], off_gain=off_gain[0])

# %% [markdown]
# Against doing nothing, edit by edit: the spread over photos, and the worst unseen pair.

# %%
nothing = score({"identity": lambda x: x}, edit_pairs)["identity"]
vs_nothing = {k: random_scores["CSRNet"][k] - nothing[k] for k in nothing}
worst_edit, n_worse = min(vs_nothing, key=vs_nothing.get), sum(g < 0 for g in vs_nothing.values())
per_photo = list(by_photo(vs_nothing).values())
harm = book.compare(vs_nothing[worst_edit], 0, 0.05, more="none of the unseen pairs ends below doing nothing",
                    less=f"{n_worse} of the {len(vs_nothing)} unseen pairs end below doing nothing",
                    same="the worst unseen pair ends level with doing nothing (within 0.05 dB)")
book.say("Against doing nothing CSRNet gains **{gain_nothing:+.2f} dB** on average (sd over photos **{gain_sd:.2f} "
         "dB**); {harm}: the worst is **{worst_edit}**, **{worst_edit_gain:+.2f} dB**.",
         gain_nothing=float(np.mean(per_photo)), gain_sd=float(np.std(per_photo, ddof=1)) if len(per_photo) > 1 else 0.0,
         harm=harm, worst_edit=worst_edit, worst_edit_gain=vs_nothing[worst_edit], n_worse=n_worse)

# %% [markdown]
# ## Interventions
#
# The modulations are the network's knobs, so we can turn them ourselves. All three widgets run the
# base network through a baked lookup table, so they answer at once. Each readout compares the result
# with the target. Each widget calls a plain function of `csrnet_lite.analysis` (`preview_strength`,
# `preview_mix`, `preview_switched`; `readout` writes the readout). The first one scales the
# modulations:

# %%
book.show_source(analysis.at_strength)

# %%
photo_index = int(order[0])  # the darkest input: the biggest retouch
photo = samples[photo_index].input
target = pictures.as_array(samples[photo_index].target)
base_mods = analysis.one_photo(mods, photo_index)
score = functools.partial(analysis.readout, target=target)  # the line under each widget

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
# if it were another: it starts half-way (mix 0.5) to the brightest photo's condition; mix 0 is the
# photo's own retouch, 1 the other photo's.

# %%
widgets.Preview(functools.partial(analysis.preview_mix, model, photo, mods, photo_index),
            {"other": widgets.int_slider(int(order[-1]), 0, len(samples) - 1, "other photo"),
             "mix": widgets.slider(0.5, 0.0, 1.0, 0.05, "mix")}, readout=score,
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
loss_without = analysis.cost_per_layer(model, photo, base_mods, target)  # layer -> dB lost
noise_db = 0.1  # PSNR changes below this are within 8-bit rounding: no visible difference
book.say("Switching a whole layer's modulations off changes this photo's PSNR by " + ", ".join(
    f"layer {k}: **{-v:+.2f} dB** ({book.compare(v, 0, noise_db, more='a loss', less='a gain', same='no clear change')})"
    for k, v in loss_without.items()) + " (a change counts beyond {noise_db} dB).", loss_without=loss_without,
    noise_db=noise_db)

# %% [markdown]
# ## The authors' network: a second learned example
#
# The authors trained CSRNet on 4,500 FiveK pairs. Where their weights are present, we put their
# network through two probes that need no known degradation, each beside networks that learnt nothing:
# - **one photo at seven exposures.** The photo is darkened and brightened (`ops.exposure`) and shown
#   to the condition network; each exposure gives a grey tone curve (`analysis.exposure_curves`). A
#   fixed map draws the same curve seven times; a network that reads exposure lifts a dark photo more;
# - **its own modulations against its mean modulations**, photo by photo
#   (`analysis.own_and_mean`): what reading each photo adds to the network's average retouch of them.

# %%
from csrnet_lite.checkpoint import OFFICIAL_VIEW, load_official
from csrnet_lite.settings import official_weights_path

book.need("samples", "order", cell="A trained model")
book.need("untrained_network", cell="Condition vectors in 2-D")
has_authors = official_weights_path().is_file()
if has_authors:
    authors = load_official().eval()
    sweep_evs = np.linspace(-1.5, 1.5, 7)
    sweep_photo = samples[int(order[len(order) // 2])]  # the photo of middle brightness
    with torch.no_grad():
        authors_curves = analysis.exposure_curves(authors, OFFICIAL_VIEW, sweep_photo.input, sweep_evs)
        random_curves = {seed: analysis.exposure_curves(untrained_network(seed), OFFICIAL_VIEW, sweep_photo.input,
                                                        sweep_evs) for seed in range(1, 6)}
    display(curves.exposure_curves_figure({"authors' network": authors_curves,
                                          "untrained network (seed 1)": random_curves[1]}, sweep_evs,
                                         title=f"{sweep_photo.id} at seven exposures"))
else:
    book.say("The authors' weights are not here ({where}), so this section has nothing to show; "
             "`python -m csrnet_lite data weights` downloads them (150 kB).", where=official_weights_path())

# %%
book.need("lift_threshold", cell="The colour map each photo receives")
if has_authors:  # how far grey 0.5 moves between the darkest and the brightest exposure
    mid = authors_curves.shape[1] // 2  # the column of grey 0.5
    response = float(authors_curves[0, mid] - authors_curves[-1, mid])
    random_response = [float(c[0, mid] - c[-1, mid]) for c in random_curves.values()]
    lo, hi = min(random_response), max(random_response)
    response_verdict = book.compare(response, hi, lift_threshold, more="more than every untrained network",
                                    less=book.compare(response, lo, lift_threshold, more="within the untrained "
                                         "networks' range: no clear difference", less="less than every untrained "
                                         "network", same="no clear difference from the untrained networks"),
                                    same="no clear difference from the untrained networks")
    book.say("Shown {dark:+.1f} stops instead of {bright:+.1f}, the photo gets grey 0.5 sent **{response:+.3f}** "
             "higher by the authors' network, against **{lo:+.3f}** to **{hi:+.3f}** for five untrained networks: "
             "{response_verdict} (a difference counts beyond {lift_threshold}).", dark=sweep_evs[0],
             bright=sweep_evs[-1], response=response, lo=lo, hi=hi, response_verdict=response_verdict,
             lift_threshold=lift_threshold)

# %%
book.need("noise_db", cell="Interventions")
if has_authors:
    own, average = analysis.own_and_mean(authors, OFFICIAL_VIEW, samples)
    own_gain = paired_difference(own, average)
    nothing = {s.id: float(metrics.psnr(s.input, s.target)[0]) for s in samples}
    gains = np.array([own[i] - average[i] for i in ids])
    book.say("On these {n_photos} photos the authors' network scores **{own_mean:.2f} dB** with each photo's own "
             "modulations and **{mean_mean:.2f} dB** with the mean modulations of all of them (doing nothing: "
             "{nothing_mean:.2f} dB): {own_verdict}. Own beats mean on {n_better} photos and loses on {n_worse} "
             "by more than {noise_db} dB.", n_photos=len(samples), own_mean=np.mean(list(own.values())),
             mean_mean=np.mean(list(average.values())), nothing_mean=np.mean(list(nothing.values())),
             own_verdict=verdict("its own modulations", "the mean modulations", *own_gain),
             n_better=int((gains > noise_db).sum()), n_worse=int((gains < -noise_db).sum()), noise_db=noise_db,
             own_gain=own_gain[0])
    reads = book.compare(response, hi, lift_threshold, more="reads a photo's exposure, as no untrained network does",
                         less="shows no exposure response beyond an untrained network's", same="shows no exposure "
                         "response beyond an untrained network's")
    helps = book.compare(own_gain[0], 0, max(2 * own_gain[1], 0.05), more="reading each photo clearly helps on "
                         "these photos", less="reading each photo clearly hurts on these photos", same="on these "
                         "photos reading each photo does not clearly beat its average retouch")
    book.say("In short: the authors' network {reads}, and {helps}.", reads=reads, helps=helps)

# %% [markdown]
# The two probes ask different questions. The first: does the condition network read exposure at all
# (the sentence compares it with networks that learnt nothing)? The second: does reading each photo
# *help on these photos*? The second can fail where the first holds: these inputs were rendered
# differently from the ones the authors trained on, and with a few dozen photos a per-photo gain is
# stated only where it clears twice its standard error.

# %% [markdown]
# ## Summary
#
# - The heatmaps show which channels' modulations vary across photos: those carry the photo-specific
#   part of the retouch.
# - PCA of the condition vectors must be compared with untrained networks: random condition networks
#   already spread photos along one direction that follows brightness (the table above), so only a
#   difference from them is learned.
# - The authors' network, where its weights are present, is probed twice beside untrained networks:
#   whether its tone curves follow a photo's exposure, and whether its own modulations beat its mean
#   modulations photo by photo; the sentences above state what the numbers show, with their noise.
# - Each photo receives a smooth colour map, which reads as a chain of the classic operators of
#   notebook 2; on `data_samples/` the fitted operators can be checked against the known degradations,
#   and against the same network without its modulations, which shows what the modulations adapt.
# - The modulations are knobs: scaling, mixing or switching them off changes the retouch predictably.
# - Where pairs are unlimited (random edits), the condition network learns to read the edit: on photos
#   it never saw it beats the same network before training and with its modulations off, across an
#   exposure sweep and photo by photo, by the margins stated above.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right. The full edition also has a collapsed solution after each check; open it (click
# the `...`) after trying.
#
# **Exercise 1.** Build the untrained network with seed 7 (`untrained_network(7)`), compute its
# condition vectors for all photos (`analysis.modulations_of(net, [s.cond_input for s in samples])`)
# and give the fraction of the variance that its PC 1 explains (`modulation_plots.pca_2d`). Answer with a number
# between 0 and 1.

# %% tags=["answer"]
answer_1 = None  # a number

# %% tags=["check"]
# Check of Exercise 1: run this cell
with torch.no_grad():
    _seven = modulation_plots.pca_2d(analysis.modulations_of(untrained_network(7), [s.cond_input for s in samples]).cond)
book.check(answer_1, float(_seven[1][0]), tol=1e-3, name="Exercise 1",
           hint="modulation_plots.pca_2d returns (coords, explained); explained[0] belongs to PC 1")

# %% tags=["solution"]
# Solution to Exercise 1. PCA of the seed-7 network's condition vectors; the first explained fraction.
# wrong: 1.0                                   # a guess: PC 1 never explains everything here
# wrong: float(explained[0])                   # the trained network's
# wrong: untrained[1]["pc1"]                   # another seed's
# wrong: float(_seven[1].sum())                # PC 1 and PC 2 together
with torch.no_grad():
    _cond = analysis.modulations_of(untrained_network(7), [s.cond_input for s in samples]).cond
solution_1 = float(modulation_plots.pca_2d(_cond)[1][0])

# %% [markdown]
# **Exercise 2.** Photos whose condition vectors are close get similar retouches. Which photo's
# condition vector (all 32 numbers, `mods.cond`) is nearest to that of the darkest input,
# `ids[order[0]]`, other than itself? Use the Euclidean distance. Answer with its id.

# %% tags=["answer"]
answer_2 = None  # an id

# %% tags=["check"]
# Check of Exercise 2: run this cell
_distance = (mods.cond - mods.cond[order[0]]).norm(dim=1)  # (photos,)
_distance[order[0]] = float("inf")
book.check(answer_2, ids[int(_distance.argmin())], name="Exercise 2",
           hint="(mods.cond - mods.cond[i]).norm(dim=1) gives every distance; leave photo i itself out")

# %% tags=["solution"]
# Solution to Exercise 2. All distances to the darkest photo's vector; the smallest after its own (0).
# wrong: ids[order[0]]                                                     # the photo itself
# wrong: ids[order[-1]]                                                    # the brightest input
# wrong: ids[int((mods.cond - mods.cond[order[0]]).norm(dim=1).argmax())]  # the farthest
distances = torch.cdist(mods.cond, mods.cond[order[0]][None])[:, 0]  # (photos,)
distances[order[0]] = float("inf")
solution_2 = ids[int(distances.argmin())]

# %% [markdown]
# **Exercise 3.** Build the modulations that apply *half* of the network's retouch of the photo in the
# widgets (strength 0.5), as a `Modulations` object.

# %% tags=["answer"]
answer_3 = None  # a Modulations


# %% tags=["check"]
# Check of Exercise 3: run this cell
def _is_half(m):
    expected = analysis.at_strength(base_mods, 0.5)
    return all(torch.allclose(a, b, atol=1e-6) for a, b in zip(m.scales + m.shifts, expected.scales + expected.shifts))


book.check(answer_3, _is_half, name="Exercise 3", hint="Modulations.lerp, starting from Modulations.identity()")

# %% tags=["solution"]
# Solution to Exercise 3. Identity modulations are all zeros, so halfway is half of every tensor.
# wrong: base_mods                                              # the full retouch
# wrong: Modulations(base_mods.cond, tuple(0.5 * s for s in base_mods.scales), base_mods.shifts)  # the shifts too
solution_3 = Modulations(base_mods.cond * 0.5, tuple(0.5 * s for s in base_mods.scales),
                         tuple(0.5 * s for s in base_mods.shifts))

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert mods.cond.shape == (len(samples), 32) and 0 < explained.sum() <= 1 + 1e-6
assert np.allclose(analysis.preview_strength(model, photo, base_mods, 1.0),
                   modulation_plots.preview_modulations(model, photo, base_mods), atol=1e-6)
assert rms < 0.1  # four operators describe the learned colour maps well
if agreement is not None:
    assert set(adapted) | set(averaged) == set(agreement)
# the edit task: the ceiling is the ceiling; trained beats untrained beyond the noise (in full mode)
assert sweep_mean["exact inverse"] > max(sweep_mean[m] for m in edit_methods if m != "exact inverse")
assert book.pick(full=sweep_diff[0] > 2 * sweep_diff[1] and photo_gain[0] > 2 * photo_gain[1], smoke=True)
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
