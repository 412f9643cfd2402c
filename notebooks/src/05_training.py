# %% [markdown]
# # 5. Training CSRNet, and what carries over to photos it has never seen
#
# Time to learn a retouch from pairs. CSRNet is small (notebook 3), so a laptop CPU can train it in
# minutes, provided the training loop makes use of its structure. This notebook trains it with the
# published recipe and with this project's `fast` recipe, stops and resumes a run, and then asks the
# question that matters: **does the learned retouch help on photos the training never saw?** With a few
# dozen pairs the honest answer needs cross-validation, and it is sobering: what the network learns
# from so few photos carries over poorly to new ones. The project's `default` recipe is what
# cross-validation chose.
#
# **You will learn to**
# - train CSRNet with a progress bar and a live loss/PSNR curve, stop a run and resume it;
# - cross-validate: K folds and leave-one-source-out, mean, spread and the worst photo;
# - compare with the strongest simple baseline, a *fixed* colour transform, and say a difference only
#   when it stands out of the noise;
# - see over-fitting in numbers (training PSNR against unseen PSNR, the effect of the number of pairs)
#   and know how to get more data.
#
# - watch CSRNet learn where pairs are unlimited (random edits of photos): against the best fixed
#   map, the same training with its modulations off, and the exact inverse.
#
# **Time:** about 40 minutes of reading and exercises, plus the computing: about 10 minutes on an idle
# 2-core laptop and up to 40 on a loaded one (the README gives the measured times). Two trainings of
# 3000 steps on random edits take most of it.

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
import dataclasses
import json
import time

from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import before_after, book, metrics, pictures, plots, widgets
from csrnet_lite.crossval import (by_source, crossvalidate, fitted_start, items, kfold, paired_difference,
                                  recipe, standard_methods, verdict)
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.evaluate import as_function, comparison
from csrnet_lite.image import Resize
from csrnet_lite.model import CondView
from csrnet_lite.pairs import split_by_id
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import DATA_SAMPLES
from csrnet_lite.train import train

book.setup()
size = book.pick(full=512, smoke=128)  # long edge: the papers train on 500-512 px photos
steps = book.pick(full=120, smoke=4)  # steps of the demonstration runs: the same numbers on any machine
cv_steps = book.pick(full=150, smoke=2)  # steps of the fast recipe inside cross-validation (k runs)
k = book.pick(full=5, smoke=3)  # folds
cv_pairs = book.pick(full=None, smoke=12)  # smoke mode cross-validates on the first 12 pairs only

# %% [markdown]
# ## Data
#
# Every pair of the data root, long edge `size`. A *source* is the subfolder a pair comes from (a real
# FiveK root collected from several papers has one per paper, each with its own rendering of the
# input); `data_samples/` has one.

# %%
print(describe_root())
root = default_root()
dataset = PairDataset(root, resize=Resize("long", size))
data = items(dataset)[:cv_pairs]  # the pairs, read once, with their sources
sources = sorted({x.source or "." for x in data})
train_pairs, val_pairs = split_by_id(dataset.pairs, val_fraction=0.2)
train_ids = {p.id for p in train_pairs}
train_data = [x for x in data if x.id in train_ids]
val_data = [x for x in data if x.id not in train_ids]
book.say("**{n}** pairs from {n_sources} source(s) ({names}), long edge {size} px; one split puts "
         "**{n_train}** in training and **{n_val}** in validation.", n=len(data), n_sources=len(sources),
         names=", ".join(sources), size=size, n_train=len(train_data), n_val=len(val_data))

# %% [markdown]
# ## Three recipes
#
# The **paper** recipe is the published one: whole photos, one per step, L1 loss, Adam at a learning
# rate of 1e-4 halved every 100k steps, for 600k steps. On a CPU each step processes a whole 512 px
# photo through both networks.
#
# The **fast** recipe uses CSRNet's structure: the base network works pixel by pixel, so the loss can
# be estimated on a thousand random pixels per photo, and the condition network only needs a 128x128
# thumbnail. A step is much cheaper, so it can look at 16 photos. It starts from the best fixed colour
# map (the base network's last layer fitted by least squares), augments exposure, and decays the
# learning rate to zero at the end of the budget.
#
# The **default** recipe (what `python -m csrnet_lite train` does without recipe flags) takes no
# gradient step at all: it is **transfer learning**, a ridge refit of a pretrained network's last
# layer. With the authors' released weights, whose condition network learnt from 4,500 FiveK photos
# how retouches differ between photos, it keeps their network and refits only its last layer to your
# pairs by ridge regression; without them it is the best fixed colour map. The strength
# of the ridge is chosen by cross-validation inside the training pairs. Why a recipe without training
# steps is the default is what the rest of this notebook measures.

# %%
paper, fast, default = TrainConfig.paper(), TrainConfig.fast(), TrainConfig.default()


def setting(config, name):
    """The value of a setting, or '-' where the recipe does not use it (a fit takes no gradient step)."""
    fits = "fit" in config.init  # the start is a ridge fit
    applies = {"ridge": fits, "ridge_rule": fits and isinstance(config.ridge, tuple),  # a rule picks among several
               "official_path": config.init.startswith("official"), "pretrained_path": config.init == "pretrained-fit",
               "thumb_size": config.init != "fit" or config.steps > 0,  # only a condition network has a view
               }.get(name, config.steps > 0 or name in ("steps", "init"))
    return str(getattr(config, name)) if applies else "-"


rows = [f"| `{f}` | {setting(paper, f)} | {setting(fast, f)} | {setting(default, f)} |"
        for f in paper.__dataclass_fields__
        if len({setting(c, f) for c in (paper, fast, default)}) > 1 and f != "recipe"]
display(Markdown("| setting | paper | fast | default (transfer learning) |\n|---|---|---|---|\n" + "\n".join(rows)
                 + "\n\n(-: the recipe does not use this setting)"))
uses_weights = default.init == "official-fit"
book.say("Here the default recipe starts from **{start}**.",
         start="the authors' weights" if uses_weights else "the fixed colour map (no authors' weights found)")

# %% [markdown]
# ## Train the fast recipe, stop, resume
#
# The curve below redraws while training runs (loss and PSNR on the training batch). Halfway through
# we stop the run the way Ctrl-C (or the stop button) would: `train` returns what it has so far and
# writes a checkpoint. Then we resume from that checkpoint: the model, the optimiser, the
# learning-rate schedule, the history and the random state all carry on as if nothing had happened.
#
# Re-running the first cell starts the run over from step 0 and replaces the checkpoint; with a fixed
# number of steps and a fixed seed it gives the same numbers again. Re-running the second cell
# resumes from the checkpoint; when the run is already complete it says that there is nothing to do.

# %%
run = book.run_dir("05_training")
checkpoint = run / "fast.pt"
fast_config = TrainConfig.fast(steps=steps)
curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="fast recipe")
halfway = steps // 2


def draw(step, history):
    curve.update(step, loss=history.loss[-1], **{"PSNR (dB)": history.psnr[-1]})


def draw_then_stop_halfway(step, history):
    draw(step, history)
    if step >= halfway:
        raise KeyboardInterrupt  # what Ctrl-C does


first = train(None, train_data, fast_config, callback=draw_then_stop_halfway, checkpoint=checkpoint)
book.say("Stopped after **{stopped_steps}** steps ({seconds:.0f} s); interrupted: {interrupted}; checkpoint "
         "`{path}`.", stopped_steps=first.steps, seconds=first.seconds, interrupted=first.interrupted,
         path=checkpoint.relative_to(checkpoint.parents[3]))

# %%
if "first" not in globals():
    raise RuntimeError("run the cell above ('Train the fast recipe, stop, resume') first")
fast_result = train(None, train_data, fast_config, callback=draw, resume=checkpoint, checkpoint=checkpoint)
curve.close()
if fast_result.images == 0:  # resumed at the last step
    print(f"nothing to do: the checkpoint already holds all {fast_result.steps} steps")
# notebook 8 retouches your photos with this model once this note says the run finished
(run / "fast.json").write_text(json.dumps({"root": str(root), "train": sorted(train_ids)}))
book.say("Resumed at step {resumed_at} and finished at step **{final_steps}**: {images:,} photos seen in "
         "total, **{ips:.0f}** photos per second. On its own training photos the trained model scores "
         "**{trained:.2f} dB** and its fitted start {start:.2f} dB, so the check at the end (`keep_start`: "
         "training must do no harm where it starts) returned {returned}.",
         resumed_at=first.steps, final_steps=fast_result.steps, images=fast_result.history.images[-1],
         ips=fast_result.history.images[-1] / fast_result.history.seconds[-1], trained=fast_result.trained_psnr,
         start=fast_result.start_psnr, returned="the start" if fast_result.kept_start else "the trained model")
fast_on_train = as_function(fast_result.model, fast_result.view)
returned_psnr = sum(float(metrics.psnr(fast_on_train(x.input), x.target)[0]) for x in train_data) / len(train_data)
assert returned_psnr >= fast_result.start_psnr - 0.1  # never below where it started (the check samples pixels)

# %% [markdown]
# ## The paper recipe at the same budget, and the default recipe
#
# The paper recipe gets the same number of steps as the fast one, a tiny share of the 600,000 steps
# it was designed for, with one photo per step and a learning rate of 1e-4: its score below shows
# where it stands after so few steps, not what it can reach.

# %%
paper_config = TrainConfig.paper(steps=steps)
paper_curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="paper recipe")
paper_result = train(None, train_data, paper_config, checkpoint=run / "paper.pt",
                     callback=lambda step, h: paper_curve.update(step, loss=h.loss[-1], **{"PSNR (dB)": h.psnr[-1]}))
paper_curve.close()
fit_start = time.perf_counter()
default_result = train(None, train_data, default)
default_seconds = time.perf_counter() - fit_start  # the fit happens before the (empty) training loop
paper_run = as_function(paper_result.model, paper_result.view)
paper_train = sum(float(metrics.psnr(paper_run(x.input).clamp(0, 1), x.target)[0]) for x in train_data) / len(train_data)
nothing_train = sum(float(metrics.psnr(x.input, x.target)[0]) for x in train_data) / len(train_data)
book.say("The paper recipe did **{paper_steps}** steps, **{share:.3f}%** of its {total:,}-step schedule. It starts "
         "from random weights, so it must first learn to pass colours through: on its own training photos it "
         "scores **{paper_train:.2f} dB**, {paper_vs_nothing} doing nothing ({nothing_train:.2f} dB). Its scores "
         "below say where it stands after so few steps, not what the recipe reaches. The default recipe fitted "
         "its {n_train} pairs in **{default_seconds:.1f} s** without a gradient step.",
         paper_steps=paper_result.steps, share=100 * paper_result.steps / TrainConfig.paper().steps,
         total=TrainConfig.paper().steps, paper_train=paper_train, nothing_train=nothing_train,
         paper_vs_nothing=book.compare(paper_train, nothing_train, 0.1, more="above", less="below",
                                       same="level with"),
         n_train=len(train_data), default_seconds=default_seconds)

# %% [markdown]
# ## A first look: one validation split
#
# On the validation photos: doing nothing (`identity`), the best fixed colour map of each kind (a
# quadratic polynomial of the colour, and the *fitted start*: CSRNet's base network fitted by least
# squares as one map for every photo), the authors' weights if you have them, and our three models.

# %%
comparison_table = comparison({"default": default_result, "fast recipe": fast_result, "paper recipe": paper_result},
                     val_data, train=train_data, degrees=(2,))
print(comparison_table)

# %% [markdown]
# A handful of validation photos is a noisy judge: move one photo from training to validation and the
# ranking can change. Choosing a recipe on such a split and reporting the same split flatters it.

# %% [markdown]
# ## Cross-validation: every photo judged by a model that never saw it
#
# Split the pairs into `k` folds; for each fold, fit every method on the other folds and score it on
# this one. Every photo is scored exactly once, always unseen, and every setting a recipe chooses
# (the default recipe's ridge strength) is chosen inside the training folds. Per method: the mean PSNR
# over all photos, the spread of the fold means, and the **worst photo relative to doing nothing**: a
# retouch that ruins one photo in five is not one a photographer keeps.

# %%
fast_cv = TrainConfig.fast(recipe=f"fast ({cv_steps} steps)", steps=cv_steps, progress=False)
methods = standard_methods(dataclasses.replace(default, progress=False), fast_cv)
cv = crossvalidate(data, methods, kfold(data, k), train_scores=True)
print(cv)
fixed = cv.best_fixed()
book.say("Under {k}-fold cross-validation the default recipe scores **{d:.2f} dB** on photos it never saw, "
         "the best fixed colour transform ({fixed}) **{f:.2f} dB** and doing nothing **{i:.2f} dB**: "
         "{verdict}. The default recipe's worst photo is **{worst:+.2f} dB** against doing nothing "
         "({fixed_worst:+.2f} dB for the fixed transform); the fast recipe's is {fast_worst:+.2f} dB.",
         k=k, d=cv.mean("default"), fixed=fixed, f=cv.mean(fixed), i=cv.mean("identity"),
         verdict=cv.verdict("default", fixed), worst=cv.worst("default")[1], fixed_worst=cv.worst(fixed)[1],
         fast_worst=cv.worst(fast_cv.recipe)[1])

# %% [markdown]
# Each point is one photo, scored by a model that never saw it: how much each method gains over doing
# nothing (left), and the default recipe against the best fixed transform (right; above the diagonal
# the default recipe is better on that photo).

# %%
fig = Figure(figsize=(10, 4), layout="constrained")
ax = fig.add_subplot(1, 2, 1)
base = cv.per_photo("identity")
ids = sorted(base, key=base.get)
for j, (name, marker) in enumerate(((fixed, "s"), (fast_cv.recipe, "x"), ("default", "o"))):
    gains, (mean, se) = cv.gains(name), cv.difference(name, "identity")
    ax.scatter([base[i] for i in ids], [gains[i] for i in ids], marker=marker, label=name, alpha=0.8, color=f"C{j}")
    ax.axhspan(mean - 2 * se, mean + 2 * se, color=f"C{j}", alpha=0.12)  # the mean gain's noise band
ax.axhline(0, color="k", lw=0.8)
ax.set(xlabel="PSNR of doing nothing (dB)", ylabel="gain over doing nothing (dB)",
       title="Per photo, unseen (bands: mean ± 2 SE)")
ax.legend(fontsize=8)
ax = fig.add_subplot(1, 2, 2)
f_scores, d_scores = cv.per_photo(fixed), cv.per_photo("default")
ax.scatter([f_scores[i] for i in ids], [d_scores[i] for i in ids])
lo, hi = min(min(f_scores.values()), min(d_scores.values())), max(max(f_scores.values()), max(d_scores.values()))
ax.plot([lo, hi], [lo, hi], "k", lw=0.8)
mean, se = cv.difference("default", fixed)  # the band: the mean difference ± 2 SE, around the diagonal
ax.fill_between([lo, hi], [lo + mean - 2 * se, hi + mean - 2 * se], [lo + mean + 2 * se, hi + mean + 2 * se], alpha=0.15)
ax.set(xlabel=f"{fixed} (dB)", ylabel="default recipe (dB)", title="Default vs best fixed (band: mean diff. ± 2 SE)")
fig

# %% [markdown]
# **Leave one source out** is the harder question: does it carry over to photos rendered another way
# (another paper's preprocessing, another camera export)? It needs a root with two sources or more.

# %%
if len(sources) >= 2:
    cv_source = crossvalidate(data, standard_methods(dataclasses.replace(default, progress=False)), by_source(data))
    print(cv_source)
    fixed_source = cv_source.best_fixed()
    book.say("Leaving one source out: default recipe **{d:.2f} dB**, best fixed transform ({fixed}) "
             "**{f:.2f} dB**: {verdict}; worst photos {worst:+.2f} and {fixed_worst:+.2f} dB against "
             "doing nothing.", d=cv_source.mean("default"), fixed=fixed_source, f=cv_source.mean(fixed_source),
             verdict=cv_source.verdict("default", fixed_source), worst=cv_source.worst("default")[1],
             fixed_worst=cv_source.worst(fixed_source)[1])
else:
    cv_source = None
    book.say("This root has a single source ({name}), so there is no source to leave out.", name=sources[0])

# %% [markdown]
# ## Over-fitting, in numbers
#
# `train_psnr` is each method's score on the photos it was fitted on (averaged over the folds). The
# gap between it and the score on unseen photos is what the method learnt about its particular
# training photos rather than about retouching. Doing nothing has nothing to learn. The gap does not
# simply grow with the number of parameters: the default recipe refits only its last layer, but by
# least squares on the training photos themselves, while the fast recipe's many parameters are held
# back by its fitted start, its short schedule and its augmentation (it trains on photos shifted by up
# to `exposure` stops, see the table of settings, not on the photos as they are), so it may fit its
# own training photos *worse* than a simpler method. It never ends below its own fitted start there:
# a run that does returns its start instead (`TrainConfig.keep_start`; `result.kept_start` says so),
# because training must do no harm where it starts. The sentence below says which gap is the largest here.

# %%
names = [m for m in cv.methods if m != "identity"]
gaps = {m: cv.train_psnr[m] - cv.mean(m) for m in names}
fig = Figure(figsize=(8, 3.5), layout="constrained")
ax = fig.add_subplot()
xs = range(len(names))
ax.bar([x - 0.2 for x in xs], [cv.train_psnr[m] for m in names], 0.4, label="training photos",
       yerr=[2 * cv.standard_error(m, train=True) for m in names], capsize=3)
ax.bar([x + 0.2 for x in xs], [cv.mean(m) for m in names], 0.4, label="unseen photos",
       yerr=[2 * cv.standard_error(m) for m in names], capsize=3)
ax.set_xticks(list(xs), [n.replace(" colour transform", "") for n in names], rotation=20)
ax.set(ylabel="mean PSNR (dB)", ylim=(min(cv.mean(m) for m in names) - 3, None),
       title="Seen vs unseen (error bars: 2 SE over folds / photos)")
ax.legend()
fig

# %%
book.say("The fast recipe scores **{fast_train:.2f} dB** on its training photos and **{fast_test:.2f} dB** on "
         "unseen ones, a gap of **{fast_gap:.2f} dB**; the fitted start's gap is {fixed_gap:.2f} dB and "
         "the default recipe's {default_gap:.2f} dB. The largest gap is the {worst_gap}'s. On its training "
         "photos the fast recipe is {fast_vs_start:+.2f} dB from the fitted start it began with; on unseen "
         "photos, {unseen_verdict}.",
         fast_train=cv.train_psnr[fast_cv.recipe], fast_test=cv.mean(fast_cv.recipe), fast_gap=gaps[fast_cv.recipe],
         fixed_gap=gaps["fitted start"], default_gap=gaps["default"], worst_gap=max(gaps, key=gaps.get),
         fast_vs_start=cv.train_psnr[fast_cv.recipe] - cv.train_psnr["fitted start"],
         unseen_verdict=cv.verdict(fast_cv.recipe, "fitted start"))

# %% [markdown]
# ## More pairs: how much do they help?
#
# The same cross-validation, with each fold's training set cut to fewer pairs (the held-out photos stay
# the same, so the scores are compared photo by photo). The closed-form methods are cheap enough to do
# this for several sizes.

# %%
most = len(data) - max(len(f.test) for f in kfold(data, k))  # training pairs of the smallest fold
sizes = sorted({max(2, most // 4), max(2, most // 2), most})
curve_methods = {"fitted start": fitted_start(), "default": recipe(dataclasses.replace(default, progress=False))}
by_size = {n: crossvalidate(data, curve_methods, kfold(data, k), train_size=n) for n in sizes}
fig = Figure(figsize=(6, 3.5), layout="constrained")
ax = fig.add_subplot()
for name in curve_methods:  # error bars: 2 SE of each mean over the photos
    ax.errorbar(sizes, [by_size[n].mean(name) for n in sizes], fmt="o-", label=name, capsize=3,
                yerr=[2 * by_size[n].standard_error(name) for n in sizes])
ax.axhline(cv.mean("identity"), color="k", lw=0.8, ls="--", label="doing nothing")
ax.set(xscale="log", xlabel="training pairs", ylabel="mean PSNR on unseen photos (dB)", title="More pairs")
ax.set_xticks(sizes, [str(n) for n in sizes])
ax.legend()
fig

# %%
small, large = sizes[0], sizes[-1]
more = {name: paired_difference(by_size[large].per_photo(name), by_size[small].per_photo(name)) for name in curve_methods}
book.say("From {small} to {large} training pairs: {start_verdict}; {default_verdict}.", small=small, large=large,
         start_verdict=verdict(f"the fitted start with {large} pairs", f"with {small}", *more["fitted start"]),
         default_verdict=verdict(f"the default recipe with {large} pairs", f"with {small}", *more["default"]))

# %% [markdown]
# **How to get more.** The authors trained on 4,500 FiveK pairs; this notebook has a few dozen. The
# project builds a FiveK subset of any size from the official MIT server (camera raws and expert C
# renderings, rendered and aligned here, resumable; research use only):
#
# ```
# .venv/bin/python -m csrnet_lite data fetch --root ~/data/fivek --n 100 --expert C --size 480
# CSRNET_LITE_FIVEK=~/data/fivek make lab
# ```
#
# then rerun this notebook: every table and sentence above is recomputed on the new pairs.

# %% [markdown]
# ## Gallery: input, the default recipe, the fast recipe, the target
#
# Models trained on the training split, shown on validation photos. The target is the expert's
# retouch on FiveK, and the original photo on `data_samples/` (whose inputs are degraded copies).

# %%
run_default = as_function(default_result.model, CondView.trained_on(default.thumb_size))
run_fast = as_function(fast_result.model)
shown = val_data[:3]
target_name = "original photo" if root.resolve() == DATA_SAMPLES.resolve() else "expert C"
images, titles = [], []
for s in shown:
    images += [s.input, run_default(s.input).clamp(0, 1), run_fast(s.input).clamp(0, 1), s.target]
    titles += [f"{s.id}: input", "default recipe", "fast recipe", target_name]
plots.show_images(images, titles, columns=4, size=2.8)

# %% [markdown]
# Drag the line across a validation photo: left the default recipe's retouch, right the target.

# %%
ours = [pictures.as_array(run_default(s.input)) for s in shown]
experts = [pictures.as_array(s.target) for s in shown]
widgets.Preview(lambda photo, position: before_after.split_view(ours[photo], experts[photo], position, line=True),
            {"photo": widgets.int_slider(0, 0, len(shown) - 1, "photo"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "ours | target")},
            title="default recipe | target")

# %% [markdown]
# ## Watch CSRNet learn: undoing random edits
#
# With a few dozen real pairs, no gradient-trained recipe beat a fixed colour map above. The reason is
# not CSRNet but the data: each photo comes with one input, so the condition network sees too few
# examples of *how inputs differ* to learn to read it. Here we make as many pairs as we want: the
# target is a photo, the input a **random global edit** of it (exposure, white balance, contrast and
# saturation at the ranges `data_samples/` was made with), drawn afresh at every training step
# (`csrnet_lite.edits`). A fixed colour map can only undo the *average* edit; undoing *this* edit
# needs a network that reads the photo first. That is CSRNet's condition network.
#
# Four comparisons on photos the training never saw, each with edits it never saw:
# - doing nothing (`identity`);
# - the best fixed colour map, fitted to 8 edits of every training photo (`TrainConfig.fixed`);
# - **the same training with the modulations off**: the heads frozen at zero, so the condition
#   network can change nothing. This control isolates what conditioning adds;
# - the exact inverse of each edit, from its kept parameters: the ceiling.
#
# The split is by photo: every edit of an unseen photo is unseen. Both trainings run a fixed number
# of steps with a fixed seed, so re-running a cell starts over and gives the same numbers.

# %%
from csrnet_lite.edits import EditSource, modulations_off, score, table
from csrnet_lite.train import init_model

edit_steps = book.pick(full=TrainConfig.edits().steps, smoke=4)
photos = EditSource.from_photos(dataset)
edit_train, edit_test = photos.split(sorted(photos.names)[::5])  # every fifth photo is unseen
unseen = edit_test.pairs(per_photo=book.pick(full=10, smoke=2), seed=1)
book.say("**{n_train_photos}** training photos (a fresh edit at every draw), **{n_test_photos}** unseen "
         "photos with **{n_unseen}** unseen edits; **{edit_steps}** steps for each training.",
         n_train_photos=len(edit_train.photos), n_test_photos=len(edit_test.photos), n_unseen=len(unseen),
         edit_steps=edit_steps)

# %% [markdown]
# CSRNet on random edits (`TrainConfig.edits`), with its live curve:

# %%
edit_config = TrainConfig.edits(steps=edit_steps)
edit_curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="edits recipe")
edit_result = train(None, edit_train, edit_config, checkpoint=run / "edits.pt",
                    callback=lambda step, h: edit_curve.update(step, loss=h.loss[-1], **{"PSNR (dB)": h.psnr[-1]}))
edit_curve.close()
book.say("Trained from the fitted start: **{edit_final}** steps in **{edit_seconds:.0f} s**.",
         edit_final=edit_result.steps, edit_seconds=edit_result.seconds)

# %% [markdown]
# The control: the same recipe, the same steps and seed, with the modulation heads frozen at zero.

# %%
off_curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="modulations off")
off_result = train(modulations_off(init_model(edit_config, edit_train)), edit_train, edit_config,
                   checkpoint=run / "edits_off.pt",
                   callback=lambda step, h: off_curve.update(step, loss=h.loss[-1], **{"PSNR (dB)": h.psnr[-1]}))
off_curve.close()
fixed_map = init_model(TrainConfig.fixed(), edit_train).eval()
book.say("Modulations off: **{off_final}** steps in **{off_seconds:.0f} s**.", off_final=off_result.steps,
         off_seconds=off_result.seconds)

# %%
edit_scores = score({"identity": lambda x: x, "best fixed map": fixed_map, "modulations off": off_result.model,
                     "CSRNet": edit_result.model, "exact inverse": "exact inverse"}, unseen, view=edit_result.view)
print(table(edit_scores))

# %% [markdown]
# Compared photo by photo (the mean over each photo's edits; edits of one photo are not independent),
# a difference is stated only beyond twice its standard error:

# %%
from csrnet_lite.edits import by_photo

photo_scores = {name: by_photo(s) for name, s in edit_scores.items()}
vs_fixed = paired_difference(photo_scores["CSRNet"], photo_scores["best fixed map"])
vs_off = paired_difference(photo_scores["CSRNet"], photo_scores["modulations off"])
edit_gains = {p: photo_scores["CSRNet"][p] - photo_scores["identity"][p] for p in photo_scores["CSRNet"]}
book.say("On unseen photos, {fixed_verdict}; {off_verdict}. CSRNet's worst unseen photo is "
         "**{edit_worst}**, **{edit_worst_gain:+.2f} dB** against doing nothing; the exact inverse reaches "
         "**{ceiling:.2f} dB**.", fixed_verdict=verdict("CSRNet", "the best fixed map", *vs_fixed),
         off_verdict=verdict("CSRNet", "the same training with its modulations off", *vs_off),
         edit_worst=min(edit_gains, key=edit_gains.get), edit_worst_gain=min(edit_gains.values()),
         ceiling=sum(edit_scores["exact inverse"].values()) / len(unseen), vs_fixed=vs_fixed[0], vs_off=vs_off[0])

# %% [markdown]
# The mean can hide a photo made worse. Pair by pair (every unseen edit of every unseen photo), does
# CSRNet ever end below doing nothing?

# %%
pair_gain = {k: edit_scores["CSRNet"][k] - edit_scores["identity"][k] for k in edit_scores["CSRNet"]}
worst_pair, n_below = min(pair_gain, key=pair_gain.get), sum(g < 0 for g in pair_gain.values())
harm = book.compare(pair_gain[worst_pair], 0, 0.05, more="no unseen pair ends below doing nothing",
                    less=f"{n_below} of the {len(pair_gain)} unseen pairs end below doing nothing",
                    same="the worst unseen pair ends level with doing nothing (within 0.05 dB)")
book.say("Pair by pair, {harm}; the worst is **{worst_pair}**, **{worst_pair_gain:+.2f} dB** against doing "
         "nothing. The table's sd column is the spread over photos; `bench/edits.py` gives the spread over "
         "seeds and the pairs of another collection.", harm=harm, worst_pair=worst_pair,
         worst_pair_gain=pair_gain[worst_pair], n_below=n_below)

# %% [markdown]
# Why would a pair end below doing nothing? A dark or flat photo and a darkened or flattened one can
# look alike to the condition network, which then undoes an edit that was never made (the README
# shows one FiveK photo). A cautious retouch moves the output back towards the input,
# `input + strength * (output - input)`: what `retouch --strength` and notebook 8's slider do. The
# squared error is convex in the strength, so (up to the 8-bit rounding) a pair at or above doing
# nothing stays there, and a pair below it can only come closer. The table shows what the mean pays:

# %%
from csrnet_lite.evaluate import format_table

cautious = score({a: as_function(edit_result.model, edit_result.view, a) for a in (1.0, 0.85, 0.7)}, unseen)
base_scores = edit_scores["identity"]
cautious_rows = {a: (sum(s.values()) / len(s), sum(s[k] < base_scores[k] for k in s),
                     min(s[k] - base_scores[k] for k in s)) for a, s in cautious.items()}
print(format_table(("CSRNet at strength", "PSNR dB", "pairs below doing nothing", "worst pair vs doing nothing"),
                   [(f"{a:g}", f"{m:.2f}", f"{n}/{len(unseen)}", f"{w:+.2f}")
                    for a, (m, n, w) in cautious_rows.items()]))
assert cautious_rows[0.7][2] >= min(cautious_rows[1.0][2], 0) - 0.05  # convexity: the worst pair only comes closer

# %% [markdown]
# Each bar is a method's mean gain over doing nothing on the unseen photos; the error bars are twice
# the standard error over photos (the noise band the sentences above use).

# %%
shown_methods = ["best fixed map", "modulations off", "CSRNet", "exact inverse"]
diffs = {m: paired_difference(photo_scores[m], photo_scores["identity"]) for m in shown_methods}
fig = Figure(figsize=(7, 3.2), layout="constrained")
ax = fig.add_subplot()
ax.bar(shown_methods, [diffs[m][0] for m in shown_methods], yerr=[2 * diffs[m][1] for m in shown_methods],
       capsize=4, color=["C7", "C1", "C0", "C2"])
ax.axhline(0, color="k", lw=0.8)
ax.set(ylabel="gain over doing nothing (dB)", title="Unseen photos, unseen edits (error bars: 2 SE)")
fig

# %% [markdown]
# ## Pre-training on random edits, then the real pairs
#
# The edits model above learnt to read a photo's exposure, white balance, contrast and saturation.
# Does that help with the real pairs of the cross-validation above? This is **transfer learning**:
# keep its networks and refit only its last layer to each fold's training pairs by ridge regression
# (`TrainConfig.pretrained`: the same closed-form fit as the default recipe's, from another network),
# then score the held-out photos beside the best fixed colour transform and the default recipe.
#
# One caveat, counted below: the edits model trained on edits of this notebook's own targets, so a
# held-out photo's target may have been seen in pre-training (as an edit, never with its real input).
# `bench/train_quality.py --pretrained` measures the same without that overlap: pre-trained on
# `data_samples/` and cross-validated on real FiveK pairs (the README gives its table).

# %%
book.need("edit_result", "edit_train", cell="CSRNet on random edits")
book.need("cv", "data", cell="Cross-validation: every photo judged by a model that never saw it")
pretrained = TrainConfig.pretrained(run / "edits.pt", recipe="pre-trained on edits", progress=False)
cv_pre = crossvalidate(data, standard_methods(dataclasses.replace(default, progress=False), pretrained),
                       kfold(data, k))
print(cv_pre)
fixed_pre = cv_pre.best_fixed()
overlap = len({x.id for x in data} & set(edit_train.names))  # photos whose target the pre-training saw
book.say("Pre-trained on random edits and refitted in each fold: **{pre:.2f} dB** on unseen photos, the best "
         "fixed transform ({fixed_pre}) **{pre_fixed:.2f} dB**: {pre_verdict}. Its worst photo is **{pre_worst:+.2f} "
         "dB** against doing nothing ({pre_fixed_worst:+.2f} dB for the fixed transform). The pre-training saw "
         "edits of **{overlap}** of these {n} photos' targets.", pre=cv_pre.mean(pretrained.recipe),
         fixed_pre=fixed_pre, pre_fixed=cv_pre.mean(fixed_pre), pre_verdict=cv_pre.verdict(pretrained.recipe, fixed_pre),
         pre_worst=cv_pre.worst(pretrained.recipe)[1], pre_fixed_worst=cv_pre.worst(fixed_pre)[1], overlap=overlap,
         n=len(data))

# %% [markdown]
# Each method's mean gain over doing nothing on the unseen photos, with twice its standard error (the
# noise band of the sentences above):

# %%
pre_shown = [m for m in cv_pre.methods if m != "identity"]
pre_gains = {m: paired_difference(cv_pre.per_photo(m), cv_pre.per_photo("identity")) for m in pre_shown}
plots.bar_chart(pre_shown, [pre_gains[m][0] for m in pre_shown], errors=[2 * pre_gains[m][1] for m in pre_shown],
                highlight=pretrained.recipe, xlabel="mean gain over doing nothing on unseen photos (dB)",
                title=f"{k}-fold cross-validation (error bars: 2 SE)", fmt="{:+.2f}")

# %% [markdown]
# ## Summary
#
# - `train(None, data, TrainConfig.fast(steps=...))` trains CSRNet on a CPU with a progress bar;
#   a `callback` draws live curves; Ctrl-C stops it and `resume=checkpoint` continues it exactly.
# - `crossvalidate(data, standard_methods(config), kfold(data, k))` scores every method on photos it
#   never saw; `by_source` leaves a whole source out. Read the mean, the spread over folds and the
#   worst photo against doing nothing, and compare with the best fixed colour transform: a learned
#   retouch has to beat it to earn its condition network. `cv.verdict(a, b)` states a difference only
#   when it exceeds twice its standard error.
# - Every fitted method scores higher on its training photos than on unseen ones; the gap, and the
#   curve over the number of pairs, say how much of what it learnt was about those photos. With a few
#   dozen real pairs, the tables above say how far a learned retouch gets beyond a fixed map on your
#   data; `bench/train_quality.py` measures the same on the real FiveK pairs of `../shared/fivek`.
# - With unlimited pairs (random edits of photos, `csrnet_lite.edits`), the condition network earns
#   its place: the section on random edits compares it with the same training with its modulations
#   off, on photos and edits it never saw.
# - More pairs are the real cure (`python -m csrnet_lite data fetch --n ...`).
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right. The full edition also has a collapsed solution after each check; open it (click
# the `...`) after trying.
#
# **Exercise 1.** How many training photos did the fast recipe process per *step*, and how many
# did the paper recipe? Answer with a pair `(fast, paper)`.

# %% tags=["answer"]
answer_1 = None  # (fast, paper)

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.check(answer_1, (fast_config.batch, paper_config.batch), name="Exercise 1",
           hint="look at the `batch` setting of each config")

# %% tags=["solution"]
# Solution to Exercise 1. Photos seen divided by steps taken, for each run (or the configs' `batch`).
# wrong: (fast_result.steps, paper_result.steps)                   # steps, not photos per step
# wrong: (paper_config.batch, fast_config.batch)                   # the other way round
solution_1 = (fast_result.history.images[-1] // fast_result.steps,
              paper_result.history.images[-1] // paper_result.steps)

# %% [markdown]
# **Exercise 2.** Under the K-fold cross-validation above, by how many dB does the default recipe's
# mean PSNR beat the best fixed colour transform's (negative if it loses)?

# %% tags=["answer"]
answer_2 = None  # a number

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.check(answer_2, cv.mean("default") - cv.mean(cv.best_fixed()), tol=0.01, name="Exercise 2",
           hint="cv.mean(name) gives a method's mean; cv.best_fixed() names the best fixed transform")

# %% tags=["solution"]
# Solution to Exercise 2. The default recipe's mean minus the best fixed transform's mean.
# wrong: cv.mean(cv.best_fixed()) - cv.mean("default")   # the other way round
# wrong: cv.mean("default")                              # the score itself, not the difference
solution_2 = cv.mean("default") - max(cv.mean(m) for m in cv.methods
                                      if m.startswith(("affine", "quadratic", "cubic", "fitted start")))

# %% [markdown]
# **Exercise 3.** Over-fitting: which method of the cross-validation above has the largest gap between
# its PSNR on its training photos (`cv.train_psnr`) and its PSNR on unseen photos (`cv.mean`)? Answer
# with its name, a string.

# %% tags=["answer"]
answer_3 = None  # a method's name

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.check(answer_3, lambda a: a in cv.methods and all(
    cv.train_psnr[a] - cv.mean(a) >= cv.train_psnr[m] - cv.mean(m) for m in cv.methods),
    name="Exercise 3", example="identity", hint="for each name in cv.methods compute cv.train_psnr[name] - cv.mean(name)")

# %% tags=["solution"]
# Solution to Exercise 3. The largest training-minus-unseen gap.
# wrong: "identity"                                        # no fitting, no gap
# wrong: min(cv.methods, key=lambda m: cv.train_psnr[m] - cv.mean(m))  # the smallest gap
solution_3 = max(cv.methods, key=lambda m: cv.train_psnr[m] - cv.mean(m))

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert first.interrupted and checkpoint.exists()
assert fast_result.steps > first.steps and not fast_result.interrupted
assert fast_result.history.step == list(range(1, fast_result.steps + 1))  # one history, across the resume
assert fast_config.batch > paper_config.batch
assert default_result.steps == 0 and len(default_result.history) == 0  # a closed-form fit
# cross-validation: every photo scored once per method, by a model that never saw it
assert all(sorted(cv.per_photo(m)) == sorted(x.id for x in data) for m in cv.methods)
assert sorted(i for f in cv.folds for i in f.test) == sorted(x.id for x in data)
assert fixed in cv.methods and all(cv.mean(fixed) >= cv.mean(m) for m in cv.methods
                                   if m.startswith(("affine", "quadratic", "cubic", "fitted start")))
assert cv.mean(fixed) > cv.mean("identity")  # a fitted colour map beats doing nothing on unseen photos
assert cv.worst("identity")[1] == 0
assert all(by_size[n].train_size == n for n in sizes) and sizes[-1] == most
assert cv_source is None or len(cv_source.folds) == len(sources)
assert max(gaps, key=gaps.get) in names and set(cv.train_psnr) == set(cv.methods)
# pre-training on edits: every photo scored once, unseen by its refit; the overlap is counted
assert sorted(cv_pre.per_photo(pretrained.recipe)) == sorted(x.id for x in data) and 0 < overlap <= len(data)
# the edit task: the exact inverse is the ceiling; the goals hold in full mode (smoke: a few steps only)
means = {m: sum(v.values()) / len(v) for m, v in edit_scores.items()}
assert means["exact inverse"] == max(means.values())
assert book.pick(full=means["best fixed map"] > means["identity"], smoke=True)  # smoke: 12 pairs, too few to tell
assert book.pick(full=vs_fixed[0] >= 3 and vs_off[0] >= 2 and vs_off[0] > 2 * vs_off[1], smoke=True)
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
