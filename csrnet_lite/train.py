"""Training CSRNet in minutes on a CPU: one loop, two recipes (`paper` and `fast`).

    result = train(None, pairs, TrainConfig.fast(minutes=5))   # None: start from the recipe's init
    result.model, result.history.loss, result.history.psnr

`paper` is the published recipe: L1 loss on whole images, batch 1, Adam (lr 1e-4, betas 0.9/0.99),
lr halved every 100k iterations, no augmentation, and the condition network looking at the whole
input (as in the authors' code). One step on a 512 px photo takes a few tenths of a second here.

`fast` uses CSRNet's structure. The base network works pixel by pixel, so the loss over a photo can
be estimated on ~1000 random pixels; the condition network only needs a small view of the photo, the
128x128 `image.thumbnail`, which is exactly what it sees at inference too (`evaluate.retoucher`).
A step is then ~100x cheaper, so a batch of 16 photos fits in one (a few hundred photos/s on 2 cores).
With few training pairs the problem is generalisation, not speed, so `fast` also:
- starts from a good *fixed* retouch: the base network is built to be the identity on [0, 1]
  (`identity_init`), its last layer is then fitted by ridge regression to the training pairs
  (`fit_base`), and the modulation heads start at zero (`gfm` with zero scale/shift is the identity).
  The condition network only has to learn how each photo differs from that average retouch;
- augments honestly: random crops, flips/rotations, and a random exposure shift of the input (up to
  +-1.5 stops) while the target stays the same: the expert's result does not depend on how the
  camera exposed the photo, so the condition network learns to judge exposure instead of memorising
  16 photos. (Random white-balance shifts are available but off: these inputs already carry the
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

import argparse
import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F

from .data import iter_pairs
from .files import atomic_path
from .image import thumbnail
from .model import CSRNet, load_official

CHECKPOINT_FORMAT = "csrnet-lite/train-checkpoint"
CHECKPOINT_VERSION = 1

# Config fields that may differ between a checkpoint and the run that resumes it (they say when to
# stop, where to run and how to report, not what is trained).
_RESUMABLE_FIELDS = {"steps", "minutes", "device", "checkpoint_minutes", "progress"}


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Use `TrainConfig.paper()` or `TrainConfig.fast()` and override with keywords."""

    recipe: str = "fast"              # a name, stored in checkpoints and shown in tables
    steps: int | None = 1200          # stop after this many optimiser steps in total (None: no limit)
    minutes: float | None = None      # and/or after this much wall-clock training time in total
    batch: int = 16                   # photos per step
    pixels: int | None = 1024         # random pixels per photo for the loss; None: the whole photo
    thumb_size: int | None = 128      # condition input = thumbnail(input, thumb_size); None: the input
    loss: Literal["l1", "l2"] = "l2"  # l2 is what PSNR measures; the paper used l1
    lr: float = 2e-3                  # Adam learning rate
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0         # decoupled (AdamW) weight decay on all weights
    lr_halve_every: int | None = None  # step schedule: halve lr every this many steps (paper: 100k)
    cosine: bool = True               # cosine decay of lr to 0 over the run (steps or minutes)
    warmup: int = 50                  # linear lr warm-up steps
    modulation_penalty: float = 1e-3  # loss += penalty * mean(scale^2 + shift^2): prefer the average retouch
    modulated: tuple[int, ...] = (1, 2, 3)  # GFM layers the condition network may modulate (others: 0)
    train_base: bool = True           # False: keep the base network as initialised (e.g. the fitted map)
    ema: float = 0.99                 # >0: return the running average of the weights (decay per step)
    init: Literal["default", "identity", "fit", "official"] = "fit"
    # default: PyTorch's init; identity: base = identity on [0, 1], zero heads; fit: identity, then the
    # base's last layer least-squares fitted to the training pairs; official: the authors' weights
    official_path: str | None = None  # authors' weights for init="official" (None: settings' default)
    ridge: float = 1e-2               # ridge strength of the least-squares fit (relative to feature scale)
    flips: bool = True                # random flips / 90-degree rotations (of the condition view)
    crop: float = 0.5                 # random crops keeping [crop, 1] of the area; 1: no crops
    exposure: float = 1.5             # random exposure shift of the input, up to +-this many stops
    white_balance: float = 0.0        # random per-channel gain of the input, log-normal with this sigma
    seed: int = 0                     # seeds the initialisation and every random choice of the loop
    device: str = "cpu"               # "cpu", "cuda", "mps" or "auto" (first available of those)
    checkpoint_minutes: float = 1.0   # write the checkpoint (if asked for) this often, and at the end
    progress: bool = True             # show a tqdm progress bar

    def __post_init__(self):
        if self.steps is None and self.minutes is None:
            raise ValueError("TrainConfig needs a stopping rule: set steps=N and/or minutes=M")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.minutes is not None and self.minutes < 0:
            raise ValueError(f"minutes must be >= 0, got {self.minutes}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.pixels is not None and self.pixels < 1:
            raise ValueError(f"pixels must be >= 1 or None (whole photos), got {self.pixels}")
        if self.pixels is None and self.batch != 1:
            raise ValueError(f"whole-photo training (pixels=None) needs batch=1 (photos differ in size), "
                             f"got batch={self.batch}")
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {self.loss!r}")
        if self.init not in ("default", "identity", "fit", "official"):
            raise ValueError(f"init must be 'default', 'identity', 'fit' or 'official', got {self.init!r}")
        if not 0 < self.crop <= 1:
            raise ValueError(f"crop must be in (0, 1], got {self.crop}")
        if not set(self.modulated) <= {1, 2, 3}:
            raise ValueError(f"modulated lists GFM layers 1, 2, 3, got {self.modulated}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.device not in ("cpu", "cuda", "mps", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'mps' or 'auto', got {self.device!r}")

    @staticmethod
    def paper(**overrides) -> "TrainConfig":
        """The published recipe (He et al. 2020; the authors' training configuration,
        train_Enhance.yml: whole photos, no augmentation, PyTorch's default initialisation)."""
        return TrainConfig(**{**dict(
            recipe="paper", steps=600_000, batch=1, pixels=None, thumb_size=None, loss="l1", lr=1e-4,
            betas=(0.9, 0.99), weight_decay=0.0, lr_halve_every=100_000, cosine=False, warmup=0,
            modulation_penalty=0.0, ema=0.0, init="default", flips=False, crop=1.0, exposure=0.0,
            white_balance=0.0), **overrides})

    @staticmethod
    def fast(**overrides) -> "TrainConfig":
        """This project's recipe for a CPU and minutes (see the module docstring). The defaults.

        1200 steps (~20,000 photos seen, 2-3 minutes on one core): on 16 pairs, longer training
        fits the training photos better and the validation photos worse.
        """
        return TrainConfig(**{**dict(recipe="fast"), **overrides})

    @staticmethod
    def finetune(official_path: str | None = None, **overrides) -> "TrainConfig":
        """`fast` starting from the authors' weights: 300 steps at a lower learning rate, so that
        what they learnt from 4,500 FiveK photos is adapted to your photos rather than overwritten."""
        return TrainConfig(**{**dict(recipe="finetune", init="official", official_path=official_path,
                                     steps=300, lr=5e-4), **overrides})


@dataclass
class History:
    """One entry per optimiser step: the loss, a PSNR estimate on the training batch (dB, floats, no
    quantisation), the learning rate, seconds since the start, and photos seen so far."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.step)


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


# ---------------------------------------------------------------------------------------------------
# initialisation

def identity_init(model: CSRNet) -> CSRNet:
    """Make the unmodulated base network exactly the identity on [0, 1]; zero all modulation heads.

    conv1 and conv2 copy the three colour channels into their first three features (ReLU passes
    values >= 0 unchanged) and keep their random init for the other features; conv3 reads the three
    copies back. The remaining random features are what the network learns curves with. Zero heads
    give scale = shift = 0, so every GFM is the identity until the condition network learns otherwise.
    """
    with torch.no_grad():
        for conv in (model.conv1, model.conv2):
            conv.weight[:3] = 0
            conv.weight[:3, :3, 0, 0] = torch.eye(3)  # features 0..2 = R, G, B
            conv.bias[:3] = 0
        model.conv3.weight.zero_()
        model.conv3.weight[:, :3, 0, 0] = torch.eye(3)
        model.conv3.bias.zero_()
        for name in ("scale", "shift"):
            for i in (1, 2, 3):
                head = getattr(model, f"cond_{name}{i}")
                head.weight.zero_()
                head.bias.zero_()
    return model


def base_features(model: CSRNet, pixels: torch.Tensor) -> torch.Tensor:
    """Unmodulated features before conv3: pixels (N, 3) in [0, 1] -> (N, 64)."""
    x = pixels[:, :, None, None]  # (N, 3) -> (N, 3, 1, 1)
    x = F.relu(model.conv2(F.relu(model.conv1(x))))  # -> (N, 64, 1, 1)
    return x[:, :, 0, 0]  # -> (N, 64)


def fit_base(model: CSRNet, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], *, pixels: int = 20_000,
             ridge: float = 1e-3, generator: torch.Generator | None = None) -> CSRNet:
    """Least-squares fit of conv3 so that the unmodulated base network is the best fixed colour map.

    The map is fitted on up to `pixels` random pixels of each (input, target) pair, every photo
    weighted equally, by ridge regression on conv2's features (a fixed retouch of 64 random ReLU
    features of the colour, like `evaluate.ColourTransform` with a richer basis).
    """
    if not pairs:
        raise ValueError("fit_base needs at least one (input, target) pair")
    gram, cross, count = 0.0, 0.0, len(pairs)
    with torch.no_grad():
        for input, target in pairs:
            x = input[0].reshape(3, -1)  # (1, 3, H, W) -> (3, H*W)
            y = target[0].reshape(3, -1)
            if x.shape[1] > pixels:
                idx = torch.randint(x.shape[1], (pixels,), generator=generator)
                x, y = x[:, idx], y[:, idx]  # -> (3, pixels)
            f = base_features(model, x.T.float().cpu()).double()  # (N, 64)
            f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)  # + bias: (N, 65)
            gram = gram + f.T @ f / len(f)
            cross = cross + f.T @ y.T.double().cpu() / len(f)
        gram, cross = gram / count, cross / count
        reg = ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        reg[-1, -1] = 0  # do not shrink the bias
        # ridge towards the identity read-out (features 0..2 are R, G, B), not towards zero
        prior = torch.zeros_like(cross)
        prior[:3] = torch.eye(3, dtype=prior.dtype)
        w = torch.linalg.solve(gram + reg, cross + reg @ prior)  # (65, 3)
        model.conv3.weight.copy_(w[:-1].T[:, :, None, None].float())  # (3, 64) -> (3, 64, 1, 1)
        model.conv3.bias.copy_(w[-1].float())
    return model


def init_model(config: TrainConfig, data=None) -> CSRNet:
    """A fresh CSRNet initialised as `config.init` says, deterministically from `config.seed`.

    init="fit" needs the training `data` (same forms as `train` accepts).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.init == "official":
            return load_official(config.official_path).train()
        model = CSRNet()
        if config.init in ("identity", "fit"):
            identity_init(model)
        if config.init == "fit":
            if data is None:
                raise ValueError("init='fit' fits the base network to the training pairs: pass data")
            gen = torch.Generator().manual_seed(config.seed)
            fit_base(model, _as_pairs(data), ridge=config.ridge, generator=gen)
    return model


# ---------------------------------------------------------------------------------------------------
# data and batches

def _as_pairs(data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Samples (with .input/.target, e.g. a PairDataset), or (input, target) tuples -> list of pairs.

    Every image must be a (1, 3, H, W) float32 tensor in [0, 1]; a (B, 3, H, W) batch is split.
    """
    pairs = []
    for _, input, target in iter_pairs(data):
        pairs.extend(zip(input.split(1), target.split(1)))  # (B, 3, H, W) -> B pairs of (1, 3, H, W)
    if not pairs:
        raise ValueError("no training pairs: the dataset is empty")
    return pairs


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of x (..., H, W), k in 0..7."""
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k & 3, dims=(-2, -1))


@dataclass
class _Batch:
    pixels: torch.Tensor   # (B, 3, 1, N) or (1, 3, H, W): input the base network sees
    target: torch.Tensor   # same shape as pixels
    cond: torch.Tensor     # (B, 3, s, s) or (1, 3, H, W): what the condition network sees


def _sample_batch(pairs, config: TrainConfig, gen: torch.Generator) -> _Batch:
    """Draw one batch with the config's augmentation, using only `gen` for randomness."""
    pixels, targets, conds = [], [], []
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
        view = input[:, :, y0:y0 + ch, x0:x0 + cw]
        if shifted:
            view = (view * gain).clamp(0, 1)  # the same retouch must now undo the shift
        view = _dihedral(view, k)
        conds.append(view if config.thumb_size is None else thumbnail(view, config.thumb_size))
        if config.pixels is None:  # the whole (cropped, flipped) photo, batch 1
            pixels.append(view)
            targets.append(_dihedral(target[:, :, y0:y0 + ch, x0:x0 + cw], k))
        else:  # random pixels of the crop, as a (1, 3, 1, N) row
            flat = (y0 + torch.randint(ch, (config.pixels,), generator=gen)) * w \
                + x0 + torch.randint(cw, (config.pixels,), generator=gen)  # indices into H*W
            x = input.reshape(1, 3, -1)[:, :, flat]  # (1, 3, H, W) -> (1, 3, N)
            pixels.append((x * gain[..., 0]).clamp(0, 1)[:, :, None] if shifted else x[:, :, None])  # -> (1, 3, 1, N)
            targets.append(target.reshape(1, 3, -1)[:, :, None, flat])  # (1, 3, H, W) -> (1, 3, 1, N)
    return _Batch(torch.cat(pixels), torch.cat(targets), torch.cat(conds))


# ---------------------------------------------------------------------------------------------------
# checkpoints

def save_checkpoint(path, model: CSRNet, optimizer: torch.optim.Optimizer, step: int, config: TrainConfig,
                    history: History, rng: torch.Tensor, average: CSRNet | None = None) -> Path:
    """Write a training checkpoint atomically (a crash never leaves a half-written file).

    "model" holds the weights to use (the running average when `average` is given, else `model`'s),
    so `model.load_state` reads any checkpoint; "weights" holds the trained weights themselves.
    """
    cpu = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()}  # noqa: E731
    state = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "config": dataclasses.asdict(config), "step": step,
        "model": cpu(average if average is not None else model), "weights": cpu(model),
        "optimizer": optimizer.state_dict(), "history": dataclasses.asdict(history), "rng": rng,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path) -> dict:
    """Read a training checkpoint written by `save_checkpoint`, with clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle of foreign classes, not a torch file at all
        raise ValueError(f"cannot read {path} as a torch checkpoint ({type(e).__name__}: {e}); "
                         "was it written completely?") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        hint = (" It looks like a plain state_dict (e.g. the authors' csrnet.pth): to fine-tune from it "
                "use TrainConfig(init='official', official_path=...)."
                if isinstance(state, dict) and "conv1.weight" in state else "")
        raise ValueError(f"{path} is not a csrnet-lite training checkpoint.{hint}")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {state.get('version')}; this "
                         f"csrnet-lite reads version {CHECKPOINT_VERSION}")
    return state


def config_from_checkpoint(state: dict) -> TrainConfig:
    """The TrainConfig stored in a checkpoint (as returned by `load_checkpoint`)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in state["config"].items() if k in known}
    for key in ("betas", "modulated"):
        if key in values:
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def _check_same_training(path, saved: TrainConfig, config: TrainConfig) -> None:
    differ = [f.name for f in dataclasses.fields(TrainConfig)
              if f.name not in _RESUMABLE_FIELDS and getattr(saved, f.name) != getattr(config, f.name)]
    if differ:
        detail = ", ".join(f"{k}: checkpoint {getattr(saved, k)!r} vs now {getattr(config, k)!r}"
                           for k in differ)
        raise ValueError(f"{path} was trained with another config ({detail}). Resume with the same "
                         f"settings (only {sorted(_RESUMABLE_FIELDS)} may change), or start a new run.")


# ---------------------------------------------------------------------------------------------------
# the loop

def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; other names as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    return torch.device(name)


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
    pairs = _as_pairs(data)
    device = pick_device(config.device)
    gen = torch.Generator().manual_seed(config.seed)
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        _check_same_training(resume, config_from_checkpoint(state), config)
    if model is None:
        model = init_model(config, pairs) if state is None else CSRNet()
    if state is not None:
        model.load_state_dict(state["weights"])
    model.to(device).train()
    trained = _select_trained(model, config)
    optimizer = torch.optim.AdamW(trained, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    average = None
    if config.ema:
        average = copy.deepcopy(model).requires_grad_(False)
        if state is not None:
            average.load_state_dict(state["model"])
    history, step = History(), 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        history = History(**state["history"])
        step = state["step"]
        gen.set_state(state["rng"])

    from tqdm.auto import tqdm  # imported here: the package imports fast without it

    bar = tqdm(total=config.steps, initial=step, desc=f"train ({config.recipe})", unit="step",
               disable=not config.progress, leave=False)
    start = time.perf_counter()
    seen, last_save, interrupted, updating = 0, start, False, False
    rng = gen.get_state()  # the random state at the start of the next step
    offset = history.seconds[-1] if len(history) else 0.0  # training time before this call
    images_before = history.images[-1] if len(history) else 0
    try:
        while True:
            elapsed = offset + time.perf_counter() - start
            if config.steps is not None and step >= config.steps:
                break
            if stop_after is not None and step >= stop_after:
                break
            if config.minutes is not None and elapsed >= config.minutes * 60:
                break
            progress = max(step / config.steps if config.steps else 0.0,
                           elapsed / (config.minutes * 60) if config.minutes else 0.0)
            lr = _lr_at(config, step, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = _sample_batch(pairs, config, gen)
            pixels, target, cond = batch.pixels.to(device), batch.target.to(device), batch.cond.to(device)
            mods = model.modulations(cond)
            output = model.base(pixels, mods)
            mse = F.mse_loss(output, target)
            loss = mse if config.loss == "l2" else F.l1_loss(output, target)
            if config.modulation_penalty:
                squares = [s.square().mean() for s in mods.scales + mods.shifts]
                loss = loss + config.modulation_penalty * torch.stack(squares).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            updating = True
            optimizer.step()
            if average is not None:
                with torch.no_grad():
                    for a, w in zip(average.parameters(), model.parameters()):
                        a.lerp_(w, 1 - config.ema)
            updating = False
            step += 1
            seen += config.batch
            rng = gen.get_state()
            history.step.append(step)
            history.loss.append(loss.item())
            history.psnr.append(-10 * math.log10(max(mse.item(), 1e-10)))
            history.lr.append(lr)
            history.seconds.append(offset + time.perf_counter() - start)
            history.images.append(images_before + seen)
            bar.update(1)
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}", psnr=f"{history.psnr[-1]:.2f}")
            if checkpoint is not None and time.perf_counter() - last_save >= config.checkpoint_minutes * 60:
                save_checkpoint(checkpoint, model, optimizer, step, config, history, rng, average)
                last_save = time.perf_counter()
            if callback is not None:
                callback(step, history)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    if checkpoint is not None:
        if interrupted and updating:
            import warnings
            warnings.warn("interrupted during a parameter update: the returned model may be half-updated; "
                          f"{checkpoint} keeps the last complete checkpoint", stacklevel=2)
        else:
            save_checkpoint(checkpoint, model, optimizer, step, config, history, rng, average)
    model = (average if average is not None else model).to("cpu").eval()
    return TrainResult(model.requires_grad_(True), history, config, interrupted, seconds, seen)


def _select_trained(model: CSRNet, config: TrainConfig) -> list[torch.nn.Parameter]:
    """The parameters to train; heads of unmodulated layers are set to zero and frozen."""
    frozen = set()
    for i in {1, 2, 3} - set(config.modulated):
        for name in ("scale", "shift"):
            head = getattr(model, f"cond_{name}{i}")
            with torch.no_grad():
                head.weight.zero_()
                head.bias.zero_()
            frozen |= {id(head.weight), id(head.bias)}
    if not config.train_base:
        frozen |= {id(p) for conv in (model.conv1, model.conv2, model.conv3) for p in conv.parameters()}
    if not config.modulated:
        frozen |= {id(p) for p in model.cond_net.parameters()}
    trained = [p for p in model.parameters() if id(p) not in frozen]
    if not trained:
        raise ValueError("nothing to train: modulated=() and train_base=False freeze every parameter")
    return trained


# ---------------------------------------------------------------------------------------------------
# command line

def default_budget() -> tuple[int | None, float | None]:
    """(steps, minutes) when the user gives neither: 5 minutes, or 20 steps in smoke mode."""
    from .settings import smoke_mode
    return (20, None) if smoke_mode() else (None, 5.0)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train CSRNet on a folder of input/target pairs",
                              description="Train CSRNet on input/target pairs and write a checkpoint.")
    p.add_argument("--data", required=True, help="data root in any layout csrnet_lite.data reads")
    p.add_argument("--out", required=True, help="checkpoint to write (also used for --resume)")
    p.add_argument("--recipe", choices=("fast", "paper"), default="fast")
    p.add_argument("--minutes", type=float, default=None,
                   help="training-time budget in total, resumed runs included (default 5; smoke mode: "
                        "20 steps). The recipe's own step count still applies (fast: 1200, finetune: 300)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps in total")
    p.add_argument("--resume", default=None, help="checkpoint to continue from")
    p.add_argument("--official", default=None,
                   help="start from the authors' weights at this path (fast: the finetune recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from .data import PairDataset

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(seed=args.seed, device=args.device)
    steps, minutes = (args.steps, args.minutes) if args.steps or args.minutes else default_budget()
    if steps:
        overrides["steps"] = steps
    overrides["minutes"] = minutes
    if args.recipe == "paper":
        if args.official:
            overrides.update(init="official", official_path=args.official)
        config = TrainConfig.paper(**overrides)
    else:
        config = TrainConfig.finetune(args.official, **overrides) if args.official else TrainConfig.fast(**overrides)
    data = PairDataset(args.data, resize=data_resize())
    print(f"training the {config.recipe} recipe on {len(data)} pairs from {args.data}")
    result = train(None, data, config, resume=args.resume, checkpoint=args.out)
    state = "interrupted" if result.interrupted else "done"
    print(f"{state}: {result.steps} steps, {result.images_per_second:.1f} photos/s, "
          f"last training-batch PSNR {result.history.psnr[-1] if len(result.history) else float('nan'):.2f} dB; "
          f"checkpoint {args.out}")
    return 130 if result.interrupted else 0


def data_resize():
    """How the command line resizes photos: long edge 512 as the papers do (128 in smoke mode)."""
    from .data import Resize
    from .settings import smoke_mode
    return Resize("long", 128) if smoke_mode() else Resize.LONG_512
