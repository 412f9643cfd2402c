"""Training CSRNet in minutes on a CPU: one loop, the recipes of `recipes.py`.

    result = train(None, pairs, TrainConfig.fast(minutes=5))   # None: start from the recipe's init
    result.model, result.history.loss, result.history.psnr

`paper` is the published recipe: L1 loss on whole images, batch 1, Adam (lr 1e-4, betas 0.9/0.99),
lr halved every 100k iterations, no augmentation, and the condition network looking at the whole
input (as in the authors' code). One step on a 512 px photo takes a few tenths of a second here.

`fast` uses CSRNet's structure. The base network works pixel by pixel, so the loss over a photo can
be estimated on ~1000 random pixels; the condition network only needs a small view of the photo, the
128x128 `image.thumbnail`, which is exactly what it sees at inference too (`image.CondView`).
A step is then ~100x cheaper, so a batch of 16 photos fits in one (a few hundred photos/s on 2 cores).
With few training pairs the problem is generalisation, not speed, so `fast` also:
- starts from a good *fixed* retouch (`fit.py`): the base network is built to be the identity on
  [0, 1] (`identity_init`), its last layer is then fitted by ridge regression to the training pairs
  (`fit_base`), and the modulation heads start at zero (`gfm` with zero scale/shift is the identity).
  The condition network only has to learn how each photo differs from that average retouch;
- augments honestly (`batches.py`): random crops, flips/rotations, and a random exposure shift of
  the input (up to +-1.5 stops) while the target stays the same: the expert's result does not depend
  on how the camera exposed the photo, so the condition network learns to judge exposure instead of
  memorising 16 photos. (Random white-balance shifts are available but off: these inputs already carry the
  expert's white balance, and undoing casts hurt validation photos whose cast is intended.)
- returns the running average of the weights (`ema`), penalises large modulations, and decays the
  learning rate to zero at the end of the budget (cosine, over steps or minutes).
Measured on 16 real FiveK pairs: bench/train_quality.py.

Stops after `steps` optimiser steps or `minutes` of wall-clock time, whichever comes first.
Deterministic for a seed on CPU when stopped by `steps` (a time budget stops wherever the machine got).
Checkpoints hold the model, optimiser, step, config, history and random state and are written
atomically; `resume=` continues exactly where the checkpoint left off (bitwise on CPU).
Ctrl-C (KeyboardInterrupt) returns what was trained so far, with a checkpoint of it.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .batches import as_pairs, sample_batch
from .checkpoint import check_same_training, config_from_checkpoint, load_checkpoint, save_checkpoint
from .fit import init_model
from .metrics import psnr_of_mse
from .model import CSRNet
from .recipes import History, TrainConfig


@dataclass
class TrainResult:
    """What `train` returns: the trained model (eval mode, on the CPU) and its history."""

    model: CSRNet
    history: History
    config: TrainConfig
    interrupted: bool = False   # True when stopped by KeyboardInterrupt
    seconds: float = 0.0        # wall-clock time of the training loop in this call
    images: int = 0             # photos seen in this call

    @property
    def steps(self) -> int:
        return self.history.step[-1] if len(self.history) else 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; other names as given, if this machine has them
    (else a ValueError that says what it has)."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto")
    if device.type == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {name!r}: torch finds no CUDA GPU here (torch {torch.__version__}, {build}); "
                         "use --device cpu, or auto to take a GPU when there is one")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                         f"numbered from 0")
    if device.type == "mps" and not has_mps:
        raise ValueError(f"device {name!r}: Apple's MPS is not available here; use --device cpu or auto")
    return device


def _lr_at(config: TrainConfig, step: int, progress: float) -> float:
    """Learning rate for the (0-based) step, given the fraction of the run done so far."""
    lr = config.lr
    if config.warmup:
        lr *= min(1.0, (step + 1) / config.warmup)
    if config.lr_halve_every:
        lr *= 0.5 ** (step // config.lr_halve_every)
    if config.cosine:
        lr *= 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return lr


def train(model: CSRNet | None, data, config: TrainConfig = TrainConfig(), *,
          callback: Callable[[int, History], None] | None = None, resume=None, checkpoint=None,
          stop_after: int | None = None) -> TrainResult:
    """Train `model` on `data` as `config` says and return the trained model and its history.

    model: a CSRNet to train in place, or None for a fresh one from `init_model(config, data)`.
    data: a `csrnet_lite.data.PairDataset`, or any sequence of Samples or (input, target) pairs of
        (1, 3, H, W) float32 tensors in [0, 1]. Read once into memory (~2 MB per 512 px pair).
        An `edits.EditSource` (random edits of photos) draws a fresh edit for every photo of every batch.
    callback(step, history): called after every step (e.g. to draw a live curve in a notebook);
        raising KeyboardInterrupt from it stops training like Ctrl-C does.
    resume: a checkpoint path to continue from (model, optimiser, step, history, random state); its
        config must match `config` except for steps/minutes/device/checkpoint_minutes/progress.
        `config.steps` and `config.minutes` count the steps and training time already done, and the
        learning-rate schedule carries on as if the run had never stopped.
    checkpoint: where to write checkpoints (every `config.checkpoint_minutes` and at the end).
    stop_after: stop once this many steps are done in total, without changing the schedule (which
        follows `config.steps`): train in pieces, e.g. 100 steps now and the rest after `resume`.
    On KeyboardInterrupt: returns the model as trained so far (interrupted=True) and, unless the
    interrupt hit the middle of a parameter update, writes it to `checkpoint`.
    With `config.ema` > 0 the returned `result.model` is the running average (a copy); `model` itself
    keeps the last trained weights. Score it with `evaluate.evaluate(result, data)`, which conditions
    on the same view as training did (`config.thumb_size`).
    """
    pairs = as_pairs(data)
    draw = getattr(data, "sample_batch", None)  # an edits.EditSource draws a fresh edit every time
    device = pick_device(config.device)
    run = _prepare(model, pairs, config, resume, device)
    bar = tqdm(total=config.steps, initial=run.step, desc=f"train ({config.recipe})", unit="step",
               disable=not config.progress or config.steps == 0, leave=False)
    interrupted = False
    try:
        while (progress := _progress(run, config, stop_after)) is not None:
            lr = _lr_at(config, run.step, progress)
            batch = draw(config, run.gen) if draw else sample_batch(pairs, config, run.gen)
            loss, mse = _step(run, batch, config, lr, device)
            _record(run, config, loss, mse, lr)
            bar.update(1)
            bar.set_postfix(loss=f"{run.history.loss[-1]:.4f}", psnr=f"{run.history.psnr[-1]:.2f}")
            if checkpoint is not None and time.perf_counter() - run.last_save >= config.checkpoint_minutes * 60:
                _save(run, checkpoint, config)
            if callback is not None:
                callback(run.step, run.history)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    return _finish(run, config, checkpoint, interrupted)


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

    def __post_init__(self):
        self.rng = self.gen.get_state()
        self.offset = self.history.seconds[-1] if len(self.history) else 0.0  # training time before this call
        self.images_before = self.history.images[-1] if len(self.history) else 0


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
                                  weight_decay=config.weight_decay)
    average = copy.deepcopy(model).requires_grad_(False) if config.ema else None
    if state is None:
        return _Run(model, average, optimizer, History(), 0, gen)
    if average is not None:
        average.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    gen.set_state(state["rng"])
    return _Run(model, average, optimizer, History(**state["history"]), state["step"], gen)


def _progress(run: _Run, config: TrainConfig, stop_after: int | None) -> float | None:
    """The fraction of the run done (by steps or by time, whichever is further), or None to stop."""
    elapsed = run.offset + time.perf_counter() - run.start
    if config.steps is not None and run.step >= config.steps:
        return None
    if stop_after is not None and run.step >= stop_after:
        return None
    if config.minutes is not None and elapsed >= config.minutes * 60:
        return None
    return max(run.step / config.steps if config.steps else 0.0,
               elapsed / (config.minutes * 60) if config.minutes else 0.0)


def _step(run: _Run, batch, config: TrainConfig, lr: float, device: torch.device
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on `batch` at learning rate `lr` -> (loss, mean squared error)."""
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    pixels, target, cond = batch.pixels.to(device), batch.target.to(device), batch.cond.to(device)
    mods = run.model.modulations(cond)
    output = run.model.base(pixels, mods)
    mse = F.mse_loss(output, target)
    loss = mse if config.loss == "l2" else F.l1_loss(output, target)
    if config.modulation_penalty:
        squares = [s.square().mean() for s in mods.scales + mods.shifts]
        loss = loss + config.modulation_penalty * torch.stack(squares).mean()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.updating = True
    run.optimizer.step()
    if run.average is not None:
        with torch.no_grad():
            for a, w in zip(run.average.parameters(), run.model.parameters()):
                a.lerp_(w, 1 - config.ema)
    run.updating = False
    return loss, mse


def _record(run: _Run, config: TrainConfig, loss: torch.Tensor, mse: torch.Tensor, lr: float) -> None:
    """Count the step and append it to the history."""
    run.step += 1
    run.seen += config.batch
    run.rng = run.gen.get_state()
    history = run.history
    history.step.append(run.step)
    history.loss.append(loss.item())
    history.psnr.append(psnr_of_mse(mse.item()))
    history.lr.append(lr)
    history.seconds.append(run.offset + time.perf_counter() - run.start)
    history.images.append(run.images_before + run.seen)


def _save(run: _Run, path, config: TrainConfig) -> None:
    save_checkpoint(path, run.model, run.optimizer, run.step, config, run.history, run.rng, run.average)
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
