# %% [markdown]
# # 5. Training CSRNet on a CPU
#
# Time to learn a retouch from pairs. CSRNet is small (notebook 3), so a laptop CPU can train it in
# minutes, provided the training loop makes use of its structure. This notebook trains it twice in
# the same time budget, once with the published recipe and once with this project's `fast` recipe,
# stops and resumes a run, and scores both against simple baselines.
#
# **You will learn to**
# - train CSRNet with a progress bar and a live loss/PSNR curve;
# - stop a run and resume it from its checkpoint;
# - evaluate against baselines: doing nothing, the best fixed colour map, the authors' weights;
# - read a before/after/expert gallery;
# - compare the paper's recipe and ours at the same time budget, and say why they differ.
#
# **Time:** about 20 minutes, of which a few are training; the notebook runs in under 5 minutes on a
# 2-core laptop.

# %%
import json

from IPython.display import Markdown, display
from matplotlib.figure import Figure

from csrnet_lite import book, pictures, plots, widgets
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.evaluate import compare, retoucher
from csrnet_lite.image import CondView, Resize
from csrnet_lite.pairs import split_by_id
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.train import train

book.setup()
size = book.pick(full=512, smoke=128)  # long edge: the papers train on 500-512 px photos
minutes = book.pick(full=0.75, smoke=None)  # training budget per recipe, in minutes
steps = book.pick(full=None, smoke=4)  # smoke mode stops after a few steps instead

# %% [markdown]
# ## Data: a training and a validation split
#
# `split_by_id` puts each pair in training or validation by a hash of its id, so the split never
# depends on which other pairs are present.

# %%
print(describe_root())
root = default_root()
train_pairs, val_pairs = split_by_id(PairDataset(root).pairs, val_fraction=0.2)
train_data = PairDataset(train_pairs, resize=Resize("long", size))
val_data = PairDataset(val_pairs, resize=Resize("long", size))
book.say("**{n_train}** pairs to train on and **{n_val}** to validate on, long edge {size} px.",
         n_train=len(train_data), n_val=len(val_data), size=size)

# %% [markdown]
# ## Two recipes
#
# The **paper** recipe is the published one: whole photos, one per step, L1 loss, Adam at a learning
# rate of 1e-4 halved every 100k steps, for 600k steps. On a CPU each step processes a whole 512 px
# photo through both networks.
#
# The **fast** recipe uses CSRNet's structure: the base network works pixel by pixel, so the loss can
# be estimated on a few thousand random pixels per photo, and the condition network only needs the
# 128x128 thumbnail. A step is much cheaper, so it can look at 16 photos. It also starts from the best
# fixed colour map (fitted by least squares), augments exposure and white balance, and decays the
# learning rate to zero at the end of the budget. The differences, field by field:

# %%
paper, fast = TrainConfig.paper(), TrainConfig.fast()
rows = [f"| `{k}` | {getattr(paper, k)} | {getattr(fast, k)} |" for k in paper.__dataclass_fields__
        if getattr(paper, k) != getattr(fast, k) and k not in ("recipe",)]
display(Markdown("| setting | paper | fast |\n|---|---|---|\n" + "\n".join(rows)))

# %% [markdown]
# ## Train the fast recipe, stop, resume
#
# The curve below redraws while training runs (loss and PSNR on the training batch). Halfway through
# we stop the run the way Ctrl-C (or the stop button) would: `train` returns what it has so far and
# writes a checkpoint. Then we resume from that checkpoint: the model, the optimiser, the
# learning-rate schedule, the history and the random state all carry on as if nothing had happened.

# %%
run = book.run_dir("05_training")
checkpoint = run / "fast.pt"
fast_config = TrainConfig.fast(minutes=minutes, steps=steps)
curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="fast recipe")
halfway = {"seconds": minutes * 30 if minutes else None, "step": steps // 2 if steps else None}


def draw(step, history):
    curve.update(step, loss=history.loss[-1], **{"PSNR (dB)": history.psnr[-1]})


def draw_then_stop_halfway(step, history):
    draw(step, history)
    if (halfway["seconds"] and history.seconds[-1] >= halfway["seconds"]) or \
            (halfway["step"] and step >= halfway["step"]):
        raise KeyboardInterrupt  # what Ctrl-C does


first = train(None, train_data, fast_config, callback=draw_then_stop_halfway, checkpoint=checkpoint)
book.say("Stopped after **{stopped_steps}** steps ({seconds:.0f} s); interrupted: {interrupted}; checkpoint "
         "`{path}`.", stopped_steps=first.steps, seconds=first.seconds, interrupted=first.interrupted,
         path=checkpoint.relative_to(checkpoint.parents[3]))

# %%
fast_result = train(None, train_data, fast_config, callback=draw, resume=checkpoint, checkpoint=checkpoint)
curve.close()
(run / "fast.json").write_text(json.dumps({"root": str(root), "train": [p.id for p in train_pairs]}))
book.say("Resumed at step {resumed_at} and finished at step **{final_steps}**: {images:,} photos seen in "
         "total, **{ips:.0f}** photos per second.", resumed_at=first.steps, final_steps=fast_result.steps,
         images=fast_result.history.images[-1], ips=fast_result.history.images[-1] / fast_result.history.seconds[-1])

# %% [markdown]
# ## Train the paper recipe, same budget

# %%
paper_config = TrainConfig.paper(minutes=minutes, steps=steps)
paper_curve = plots.LiveCurve(("loss", "PSNR (dB)"), interval=2.0, title="paper recipe")
paper_result = train(None, train_data, paper_config, checkpoint=run / "paper.pt",
                     callback=lambda step, h: paper_curve.update(step, loss=h.loss[-1], **{"PSNR (dB)": h.psnr[-1]}))
paper_curve.close()
schedule_share = 100 * paper_result.steps / TrainConfig.paper().steps
book.say("The paper recipe did **{paper_steps}** steps, **{share:.3f}%** of its {total:,}-step schedule, "
         "on {paper_images:,} photos.", paper_steps=paper_result.steps, share=schedule_share,
         total=TrainConfig.paper().steps, paper_images=paper_result.history.images[-1])

# %% [markdown]
# Training PSNR against time, for both runs (the fast recipe's PSNR is on random pixels, the paper's on
# whole photos; both are on training photos):

# %%
fig = Figure(figsize=(7, 3.5), layout="constrained")
ax = fig.add_subplot()
for name, result in (("fast", fast_result), ("paper", paper_result)):
    h = result.history
    ax.plot(h.seconds, h.psnr, lw=1, label=f"{name}: {len(h)} steps")
ax.set(xlabel="training time (s)", ylabel="training PSNR (dB)", title="Same budget, two recipes")
ax.legend()
ax.grid(alpha=0.3)
fig

# %% [markdown]
# ## Evaluate against baselines
#
# On the validation photos: doing nothing (`identity`), the best fixed colour map (a quadratic
# polynomial of the colour fitted by least squares on the training pairs: a retouch that does not
# adapt to the photo), the authors' weights if you have them, and our two models. PSNR is on 8-bit
# values as in the paper; Delta E is the perceptual colour difference (lower is better).

# %%
comparison = compare({"fast recipe": fast_result.model, "paper recipe": (paper_result.model, CondView.FULL)},
                     val_data, train=train_data, degrees=(2,))
print(comparison)
names = [e.name for e in comparison.evaluations]
plots.bar_chart(names, [e.psnr for e in comparison.evaluations], highlight="fast recipe", log=False,
              xlabel="mean PSNR on the validation photos (dB)", fmt="{:.2f} dB", title="Who retouches best?")

# %%
scores = {e.name: e.psnr for e in comparison.evaluations}
best = max(scores, key=scores.get)
book.say("The fast recipe scores **{fast:.2f} dB** against **{identity:.2f} dB** for doing nothing and "
         "**{paper:.2f} dB** for the paper recipe after the same time; the best method here is "
         "**{best}**.", fast=scores["fast recipe"], identity=scores["identity"], paper=scores["paper recipe"],
         best=best)

# %% [markdown]
# ## Gallery: input, our retouch, the paper recipe's, the expert's

# %%
run_fast, run_paper = retoucher(fast_result.model), retoucher(paper_result.model, CondView.FULL)
shown = [val_data[i] for i in range(min(3, len(val_data)))]
images, titles = [], []
for s in shown:
    images += [s.input, run_fast(s.input).clamp(0, 1), run_paper(s.input).clamp(0, 1), s.target]
    titles += [f"{s.id}: input", "fast recipe", "paper recipe", "expert"]
plots.show_images(images, titles, columns=4, size=2.8)

# %% [markdown]
# Drag the line across a validation photo: left our retouch, right the expert's.

# %%
ours = [pictures.as_array(run_fast(s.input)) for s in shown]
experts = [pictures.as_array(s.target) for s in shown]
widgets.Preview(lambda photo, position: pictures.split_view(ours[photo], experts[photo], position, line=True),
            {"photo": widgets.int_slider(0, 0, len(shown) - 1, "photo"),
             "position": widgets.slider(0.5, 0.0, 1.0, 0.01, "ours | expert")},
            title="fast recipe | expert")

# %% [markdown]
# ## Why the recipes differ
#
# At the same time budget the paper recipe has done a tiny fraction of its schedule: it was designed
# for a GPU and days of training. The fast recipe spends the same seconds on many more photos (random
# pixels are enough for a per-pixel network), starts from a sensible fixed retouch, and decays its
# learning rate within the budget. With more time, or a GPU, the paper recipe catches up; on a laptop,
# structure-aware training is what makes CSRNet practical.
#
# ## Summary
#
# - `train(None, data, TrainConfig.fast(minutes=...))` trains CSRNet on a CPU with a progress bar;
#   a `callback` draws live curves; Ctrl-C stops it and `resume=checkpoint` continues it exactly.
# - `compare(...)` scores models against doing nothing, the best fixed colour map and the authors'
#   weights. A learned retouch has to beat the fixed map to earn its condition network; after a
#   minute on a few pairs it may not yet (the table above says), which is why the fast recipe starts
#   from that map and only learns the per-photo corrections.
# - At a laptop's budget the fast recipe beats the paper's recipe by a wide margin (the table above).
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right. The full edition also has a collapsed solution after each check; open it (click
# the `...`) after trying.
#
# **Exercise 1.** How many training photos did the fast recipe process per *step*, and how many
# did the paper recipe? Answer with a pair `(fast, paper)`.

# %% answer
answer_1 = None  # (fast, paper)

# %% check
# Check of Exercise 1: run this cell
book.check(answer_1, (fast_config.batch, paper_config.batch), name="Exercise 1",
           hint="look at the `batch` setting of each config")

# %% solution
# Solution to Exercise 1. Photos seen divided by steps taken, for each run (or the configs' `batch`).
# wrong: (fast_result.steps, paper_result.steps)                   # steps, not photos per step
# wrong: (paper_config.batch, fast_config.batch)                   # the other way round
solution_1 = (fast_result.history.images[-1] // fast_result.steps,
              paper_result.history.images[-1] // paper_result.steps)

# %% [markdown]
# **Exercise 2.** By how many dB does the fast recipe beat the fixed quadratic colour map on the
# validation photos (negative if it loses)?

# %% answer
answer_2 = None  # a number

# %% check
# Check of Exercise 2: run this cell
_fixed = [e for e in comparison.evaluations if e.name.startswith("quadratic")][0].psnr
book.check(answer_2, scores["fast recipe"] - _fixed, tol=0.01, name="Exercise 2",
           hint="comparison['fast recipe'].psnr, and the row whose name starts with 'quadratic'")

# %% solution
# Solution to Exercise 2. The fast recipe's PSNR minus the fixed colour transform's.
# wrong: [e for e in comparison.evaluations if "colour transform" in e.name][0].psnr - comparison["fast recipe"].psnr  # the other way round
# wrong: comparison["fast recipe"].psnr                     # the score itself, not the difference
solution_2 = comparison["fast recipe"].psnr - [e for e in comparison.evaluations if "colour transform" in e.name][0].psnr

# %% [markdown]
# **Exercise 3.** Which validation photo did the fast recipe retouch best (highest PSNR)? Answer with
# its id, a string.

# %% answer
answer_3 = None  # an id

# %% check
# Check of Exercise 3: run this cell
_best_photo = max(comparison["fast recipe"].images, key=lambda s: s.psnr).id
book.check(answer_3, _best_photo, name="Exercise 3", hint="comparison['fast recipe'].images has one score per photo")

# %% solution
# Solution to Exercise 3. The photo with the highest PSNR.
# wrong: sorted(comparison["fast recipe"].images, key=lambda s: s.psnr)[0].id    # the worst photo
# wrong: str(len(comparison["fast recipe"].images) - 1)                           # a position, not an id
solution_3 = sorted(comparison["fast recipe"].images, key=lambda s: s.psnr)[-1].id

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
assert first.interrupted and checkpoint.exists()
assert fast_result.steps > first.steps and not fast_result.interrupted
assert fast_result.history.step == list(range(1, fast_result.steps + 1))  # one history, across the resume
assert fast_config.batch > paper_config.batch
assert best == max(scores, key=scores.get)
if not book.pick(full=False, smoke=True):  # with a real budget, the claims of the summary hold
    assert scores["fast recipe"] > scores["identity"] and scores["fast recipe"] > scores["paper recipe"]
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
