"""Training CSRNet in minutes on a CPU: the batches, the starting weights and the loop, top to bottom.

    result = train(None, pairs, TrainConfig.fast(minutes=5))   # None: start from the recipe's init
    result.model, result.history.loss, result.history.psnr

The recipes (`paper`, `fast`, ...) are explained where they are set, in `recipes.py`. Each step of
the loop (`_loop`) does, in order:
  1. batch: random photos, crops, flips and exposure shifts, drawn by `sample_batch`;
  2. modulations from the condition view (`model.CondView`), then the base network on the pixels;
  3. loss (L2 or L1) and the penalty on large modulations;
  4. optimiser step at this step's learning rate (`lr_at`), then the running average (EMA, `ema_at`);
  5. record the step in the history, and checkpoint every `config.checkpoint_minutes`.
At the end (6., `keep_start`) a run that ended below its start on its own training pairs returns the start.
The starting weights come from `init_model` (the closed-form fit of `fit.py`, or the authors' weights).

Stops after `steps` optimiser steps or `minutes` of wall-clock time, whichever comes first.
Deterministic for a seed on CPU when stopped by `steps` (a time budget stops wherever the machine got).
Checkpoints hold the model, optimiser, step, config, history and random state and are written
atomically; `resume=` continues exactly where the checkpoint left off (bitwise on CPU).
Ctrl-C (KeyboardInterrupt) returns what was trained so far, with a checkpoint of it.

Introduced in notebook 05 (`05_training`).
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checkpoint import (check_same_training, config_from_checkpoint, load_checkpoint, load_model, load_official,
                         save_checkpoint)
from .data import iter_pairs
from .fit import fit_base, identity_init
from .image import dihedral
from .metrics import psnr, psnr_of_mse
from .model import CondView, CSRNet
from .recipes import History, TrainConfig
from .settings import pick_device


@dataclass
class TrainResult:
    """What `train` returns: the trained model (eval mode, on the CPU) and its history."""

    model: CSRNet
    history: History
    config: TrainConfig
    interrupted: bool = False   # True when stopped by KeyboardInterrupt
    seconds: float = 0.0        # wall-clock time of the training loop in this call
    images: int = 0             # photos seen in this call
    start_psnr: float | None = None    # mean 8-bit PSNR on the training pairs: the start (`keep_start`)
    trained_psnr: float | None = None  # and the trained model; None when not checked
    kept_start: bool = False           # training ended below its start there, so `model` is the start

    @property
    def steps(self) -> int:
        return self.history.step[-1] if len(self.history) else 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @property
    def view(self) -> CondView:
        """What the model's condition network saw in training, and so must see at inference."""
        return CondView.trained_on(self.config.thumb_size)

    @property
    def recipe(self) -> str:
        return self.config.recipe


# --- the training pairs and their batches ----------------------------------------------------------

def as_pairs(data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`data.Pair`s (e.g. a PairDataset), or (input, target) tuples -> list of (input, target) tensors.

    Every image must be a (1, 3, H, W) float32 tensor in [0, 1]; a (B, 3, H, W) batch is split.
    """
    pairs = []
    for pair in iter_pairs(data):
        pairs.extend(zip(pair.input.split(1), pair.target.split(1)))  # (B, 3, H, W) -> B pairs of (1, 3, H, W)
    if not pairs:
        raise ValueError("no training pairs: the dataset is empty")
    return pairs


@dataclass
class Batch:
    pixels: torch.Tensor   # (B, 3, 1, N) or (1, 3, H, W): input the base network sees
    target: torch.Tensor   # same shape as pixels
    cond: torch.Tensor     # (B, 3, s, s) or (1, 3, H, W): what the condition network sees


def sample_batch(pairs, config: TrainConfig, gen: torch.Generator) -> Batch:
    """Draw one batch with the config's augmentation, using only `gen` for randomness."""
    pixels, targets, conds = [], [], []
    cond_view = CondView.trained_on(config.thumb_size)
    for i in torch.randint(len(pairs), (config.batch,), generator=gen).tolist():
        input, target = pairs[i]
        h, w = input.shape[-2:]
        y0, x0, ch, cw = 0, 0, h, w
        if config.crop < 1:
            area = config.crop + (1 - config.crop) * torch.rand((), generator=gen).item()
            aspect = math.exp((torch.rand((), generator=gen).item() - 0.5) * math.log(16 / 9))
            ch = max(1, min(h, round(math.sqrt(area * h * w / aspect))))
            cw = max(1, min(w, round(math.sqrt(area * h * w * aspect))))
            y0 = torch.randint(h - ch + 1, (), generator=gen).item()
            x0 = torch.randint(w - cw + 1, (), generator=gen).item()
        gain = torch.ones(1, 3, 1, 1)
        if config.exposure > 0:  # stops of exposure; encoded values ~ linear light^(1/2.2)
            stops = (2 * torch.rand((), generator=gen) - 1) * config.exposure
            gain = gain * 2 ** (stops / 2.2)
        if config.white_balance > 0:
            gain = gain * torch.exp(torch.randn(1, 3, 1, 1, generator=gen) * config.white_balance)
        shifted = config.exposure > 0 or config.white_balance > 0
        k = torch.randint(8, (), generator=gen).item() if config.flips else 0
        photo = input[:, :, y0:y0 + ch, x0:x0 + cw]
        if shifted:
            photo = (photo * gain).clamp(0, 1)  # the same retouch must now undo the shift
        photo = dihedral(photo, k)
        conds.append(cond_view(photo))
        if config.pixels is None:  # the whole (cropped, flipped) photo, batch 1
            pixels.append(photo)
            targets.append(dihedral(target[:, :, y0:y0 + ch, x0:x0 + cw], k))
        else:  # random pixels of the crop, as a (1, 3, 1, N) row
            flat = (y0 + torch.randint(ch, (config.pixels,), generator=gen)) * w \
                + x0 + torch.randint(cw, (config.pixels,), generator=gen)  # indices into H*W
            x = input.reshape(1, 3, -1)[:, :, flat]  # (1, 3, H, W) -> (1, 3, N)
            pixels.append((x * gain[..., 0]).clamp(0, 1)[:, :, None] if shifted else x[:, :, None])  # -> (1, 3, 1, N)
            targets.append(target.reshape(1, 3, -1)[:, :, None, flat])  # (1, 3, H, W) -> (1, 3, 1, N)
    return Batch(torch.cat(pixels), torch.cat(targets), torch.cat(conds))


# --- where training starts --------------------------------------------------------------------------

def init_model(config: TrainConfig, data=None) -> CSRNet:
    """A fresh CSRNet initialised as `config.init` says, deterministically from `config.seed`.

    init="fit", "official-fit" and "pretrained-fit" need the training `data` (same forms as `train` accepts).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.init in ("official", "official-fit"):
            model = load_official(config.official_path).train()
        elif config.init == "pretrained-fit":
            model = _pretrained(config)
        else:
            model = CSRNet()
        if config.init in ("identity", "fit"):
            identity_init(model)
        if config.init in ("fit", "official-fit", "pretrained-fit"):
            if data is None:
                raise ValueError(f"init={config.init!r} fits the base network to the training pairs: pass data")
            gen = torch.Generator().manual_seed(config.seed)
            fit_base(model, as_pairs(data), ridge=config.ridge, generator=gen,
                     modulated=config.init != "fit", view=CondView.trained_on(config.thumb_size),
                     rule=config.ridge_rule)
    return model


def _pretrained(config: TrainConfig) -> CSRNet:
    """The model in `config.pretrained_path` (train mode), if its condition network saw what `config` shows it."""
    model, view = load_model(config.pretrained_path)
    if view != CondView.trained_on(config.thumb_size):
        raise ValueError(f"{config.pretrained_path} was trained on condition views {view}, but thumb_size="
                         f"{config.thumb_size} shows another: set thumb_size to the one it was trained with")
    return model.train()


def fixed_colour_map(data) -> CSRNet:
    """The best fixed colour map CSRNet's base network can hold, fitted to `data` in closed form
    (`TrainConfig.fixed()`'s model; the "fitted start" baseline), in eval mode."""
    return init_model(TrainConfig.fixed(), data).eval()


def lr_at(config: TrainConfig, step: int, progress: float) -> float:
    """Learning rate for the (0-based) step, given the fraction of the run done so far."""
    lr = config.lr
    if config.warmup:
        lr *= min(1.0, (step + 1) / config.warmup)
    if config.lr_halve_every:
        lr *= 0.5 ** (step // config.lr_halve_every)
    if config.cosine:
        lr *= 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return lr


def ema_at(config: TrainConfig, step: int) -> float:
    """The running average's decay at the (0-based) step: `config.ema`, warmed up as (1 + step) /
    (ema_warmup + step): a short run's average follows the weights instead of keeping its start (recipes.py).

    >>> ema_at(TrainConfig(ema=0.99, ema_warmup=10), 0), ema_at(TrainConfig(ema=0.99, ema_warmup=10), 10_000)
    (0.1, 0.99)
    """
    if not config.ema_warmup:
        return config.ema
    return min(config.ema, (1 + step) / (config.ema_warmup + step))


# --- the loop --------------------------------------------------------------------------------------

def train(model: CSRNet | None, data, config: TrainConfig = TrainConfig(), *,
          callback: Callable[[int, History], None] | None = None, resume=None, checkpoint=None) -> TrainResult:
    """Train `model` on `data` as `config` says and return the trained model and its history.

    model: a CSRNet to train in place, or None for a fresh one from `init_model(config, data)`.
    data: a `csrnet_lite.data.PairDataset`, or any sequence of `data.Pair`s or (input, target) pairs of
        (1, 3, H, W) float32 tensors in [0, 1]. Read once into memory (~2 MB per 512 px pair).
        An `edits.EditSource` (random edits of photos) draws a fresh edit for every photo of every batch.
    callback(step, history): called after every step (e.g. to draw a live curve in a notebook);
        raising KeyboardInterrupt from it stops training like Ctrl-C does.
    resume: a checkpoint path to continue from; its config must match `config` except for
        steps/minutes/device/checkpoint_minutes/progress, which count the training already done.
    checkpoint: where to write checkpoints (every `config.checkpoint_minutes` and at the end).
    On KeyboardInterrupt: returns the model as trained so far (interrupted=True) and, unless the
    interrupt hit the middle of a parameter update, writes it to `checkpoint`. With `config.ema` > 0
    `result.model` is the running average (a copy); `model` keeps the last trained weights. Score
    it with `evaluate.evaluate(result, data)`, which conditions on `result.view`. With `config.keep_start`
    a run that ended below its start on its own training pairs returns the start (`result.kept_start`).
    """
    pairs = as_pairs(data)
    draw = getattr(data, "sample_batch", None)  # an edits.EditSource draws a fresh edit every time
    device = pick_device(config.device)
    run = _prepare(model, pairs, config, resume, device)
    bar = tqdm(total=config.steps, initial=run.step, desc=f"train ({config.recipe})", unit="step",
               disable=not config.progress or config.steps == 0, leave=False)
    interrupted = False
    try:
        _loop(run, pairs, config, device, bar, checkpoint, callback, draw)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    checked = keep_start(run, pairs, config) if run.step and not interrupted else {}
    return replace(_finish(run, config, checkpoint, interrupted), **checked)


def _loop(run: _Run, pairs, config: TrainConfig, device: torch.device, bar, checkpoint, callback,
          draw=None) -> None:
    """One optimiser step per pass, until `config`'s steps or minutes are done. `draw(config, gen)`,
    when given, makes the batches instead of `sample_batch` (an `edits.EditSource`: fresh edits)."""
    while (progress := run.progress(config)) is not None:
        lr = lr_at(config, run.step, progress)
        # 1. batch: random photos, crops, flips and exposure shifts
        batch = draw(config, run.gen) if draw else sample_batch(pairs, config, run.gen)
        pixels, target, cond = batch.pixels.to(device), batch.target.to(device), batch.cond.to(device)
        # 2. modulations from the condition view, then the base network on the batch's pixels
        mods = run.model.modulations(cond)
        output = run.model.base(pixels, mods)
        # 3. loss, and the penalty on large modulations (prefer the average retouch)
        mse = F.mse_loss(output, target)
        loss = mse if config.loss == "l2" else F.l1_loss(output, target)
        if config.modulation_penalty:
            squares = [s.square().mean() for s in mods.scales + mods.shifts]
            loss = loss + config.modulation_penalty * torch.stack(squares).mean()
        # 4. optimiser step at this step's learning rate, then the running average of the weights
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.updating = True
        run.optimizer.step()
        if run.average is not None:
            decay = ema_at(config, run.step)
            with torch.no_grad():
                for a, w in zip(run.average.parameters(), run.model.parameters()):
                    a.lerp_(w, 1 - decay)
        run.updating = False
        # 5. record the step; checkpoint every config.checkpoint_minutes
        run.record(config.batch, loss.item(), psnr_of_mse(mse.item()), lr)
        bar.update(1)
        bar.set_postfix(loss=f"{run.history.loss[-1]:.4f}", psnr=f"{run.history.psnr[-1]:.2f}")
        if checkpoint is not None and time.perf_counter() - run.last_save >= config.checkpoint_minutes * 60:
            _save(run, checkpoint, config)
        if callback is not None:
            callback(run.step, run.history)


@dataclass
class _Run:
    """Everything a training run changes as it goes (what a checkpoint saves, and the clocks)."""

    model: CSRNet
    average: CSRNet | None  # the running average of the weights (config.ema > 0), else None
    optimizer: torch.optim.Optimizer
    history: History
    step: int  # optimiser steps done in total, resumed runs included
    gen: torch.Generator  # every random choice of the loop
    rng: torch.Tensor = None  # gen's state at the start of the next step (what a checkpoint saves)
    start: float = field(default_factory=time.perf_counter)
    last_save: float = field(default_factory=time.perf_counter)
    seen: int = 0  # photos seen in this call
    updating: bool = False  # True while the parameters are half-updated
    start_weights: CSRNet | None = None  # where the run started (config.keep_start), saved in checkpoints

    def __post_init__(self):
        self.rng = self.gen.get_state()
        self.offset = self.history.seconds[-1] if len(self.history) else 0.0  # training time before this call
        self.images_before = self.history.images[-1] if len(self.history) else 0

    def progress(self, config: TrainConfig) -> float | None:
        """The fraction of the run done (by steps or by time, whichever is further), or None to stop."""
        elapsed = self.offset + time.perf_counter() - self.start
        if config.steps is not None and self.step >= config.steps:
            return None
        if config.minutes is not None and elapsed >= config.minutes * 60:
            return None
        return max(self.step / config.steps if config.steps else 0.0,
                   elapsed / (config.minutes * 60) if config.minutes else 0.0)

    def record(self, photos: int, loss: float, psnr: float, lr: float) -> None:
        """Count a finished step of `photos` photos and append it to the history."""
        self.step += 1
        self.seen += photos
        self.rng = self.gen.get_state()
        history = self.history
        history.step.append(self.step)
        history.loss.append(loss)
        history.psnr.append(psnr)
        history.lr.append(lr)
        history.seconds.append(self.offset + time.perf_counter() - self.start)
        history.images.append(self.images_before + self.seen)


def _prepare(model: CSRNet | None, pairs, config: TrainConfig, resume, device: torch.device) -> _Run:
    """The run's starting point: a fresh model (`init_model`) or `model`, or where `resume` left off."""
    gen = torch.Generator().manual_seed(config.seed)
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        check_same_training(resume, config_from_checkpoint(state), config)
    if model is None:
        model = init_model(config, pairs) if state is None else CSRNet()
    if state is not None:
        model.load_state_dict(state["weights"])
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas,
                                  weight_decay=0.0)  # AdamW with no decay: Adam
    average = copy.deepcopy(model).requires_grad_(False) if config.ema else None
    start = copy.deepcopy(model).eval().requires_grad_(False) if config.keep_start else None
    if state is None:
        return _Run(model, average, optimizer, History(), 0, gen, start_weights=start)
    if average is not None:
        average.load_state_dict(state["model"])
    if "start" in state and start is not None:
        start.load_state_dict(state["start"])
    else:
        start = None  # no start saved (written without keep_start): nothing to compare with at the end
    optimizer.load_state_dict(state["optimizer"])
    gen.set_state(state["rng"])
    return _Run(model, average, optimizer, History(**state["history"]), state["step"], gen, start_weights=start)


def keep_start(run: _Run, pairs, config: TrainConfig) -> dict:
    """6. do no harm: score the start and the trained model (the average, when kept) on the training pairs as
    they are (mean 8-bit PSNR over every s-th pixel, s for 4-16k pixels a photo: 1 below 128x128, 6 at 512 px;
    the condition view sees the whole photo); if training ended below its start, the start is what the run
    returns and its checkpoint serves. -> TrainResult's start_psnr, trained_psnr, kept_start; {} if no start."""
    if run.start_weights is None:
        return {}
    view, device = CondView.trained_on(config.thumb_size), next(run.model.parameters()).device
    grid = [(x, y, max(1, math.isqrt(x.shape[-2] * x.shape[-1] // 4096))) for x, y in pairs]

    @torch.no_grad()
    def score(model: CSRNet) -> float:
        dbs = [float(psnr(model(x[..., ::s, ::s].to(device), view(x).to(device)).cpu(), y[..., ::s, ::s])[0])
               for x, y, s in grid]
        return sum(min(100.0, db) for db in dbs) / len(dbs)

    before, after = score(run.start_weights), score(run.average if run.average is not None else run.model)
    if after < before:
        run.average = run.start_weights  # served and saved as "model"; "weights" resume as trained
    return dict(start_psnr=before, trained_psnr=after, kept_start=after < before)


def _save(run: _Run, path, config: TrainConfig) -> None:
    save_checkpoint(path, run.model, run.optimizer, run.step, config, run.history, run.rng, run.average, run.start_weights)
    run.last_save = time.perf_counter()


def _finish(run: _Run, config: TrainConfig, checkpoint, interrupted: bool) -> TrainResult:
    """Write the last checkpoint (unless a parameter update was cut short) and return the result."""
    seconds = time.perf_counter() - run.start
    if checkpoint is not None:
        if interrupted and run.updating:
            warnings.warn("interrupted during a parameter update: the returned model may be half-updated; "
                          f"{checkpoint} keeps the last complete checkpoint", stacklevel=3)
        else:
            _save(run, checkpoint, config)
    model = (run.average if run.average is not None else run.model).to("cpu").eval()
    return TrainResult(model.requires_grad_(True), run.history, config, interrupted, seconds, run.seen)
