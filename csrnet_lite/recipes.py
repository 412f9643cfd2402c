"""How to train: `TrainConfig` and its recipes `default`, `fixed`, `paper`, `fast`, `edits`, `pretrained`
and `finetune`; `History`, what a run records. Each recipe is explained here, once; `train.py` runs them.

`default` (what cross-validation chose), `pretrained` and `fixed` are closed-form fits of the base
network's last layer (`fit.py`), no gradient step. `default` and `pretrained` are transfer learning: a
pretrained network (the authors' weights; a model file, e.g. trained on random edits of other photos)
kept as it is, with only its last layer refitted to your pairs by ridge regression.

`paper` is the published recipe: L1 loss on whole images, batch 1, Adam (lr 1e-4, betas 0.9/0.99),
lr halved every 100k iterations, no augmentation, and the condition network looking at the whole
input (as in the authors' code). One step on a 512 px photo takes a few tenths of a second here.

`fast` is this project's recipe for a CPU and minutes; it uses CSRNet's structure. The base network
works pixel by pixel, so the loss over a photo can be estimated on ~1000 random pixels; the
condition network only needs a small view of the photo, the 128x128 `image.thumbnail`, which is
exactly what it sees at inference too (`model.CondView`). A step is then ~100x cheaper, so a batch of
16 photos fits in one (a few hundred photos/s on 2 cores). With few training pairs the problem is
generalisation, not speed, so `fast` also:
- starts from a good *fixed* retouch (`fit.py`): the base network is built to be the identity on
  [0, 1] (`identity_init`), its last layer is then fitted by ridge regression to the training pairs
  (`fit_base`), and the modulation heads start at zero (`gfm` with zero scale/shift is the identity).
  The condition network only has to learn how each photo differs from that average retouch;
- augments honestly (`train.sample_batch`): random crops, flips/rotations, and a random exposure
  shift of the input (up to +-1.5 stops) while the target stays the same: the expert's result does
  not depend on how the camera exposed the photo, so the condition network learns to judge exposure
  instead of memorising 16 photos. (Random white-balance shifts are available but off: these inputs
  already carry the expert's white balance, and undoing casts hurt validation photos whose cast is
  intended.)
- returns the running average of the weights (`ema`), penalises large modulations, and decays the
  learning rate to zero at the end of the budget (cosine, over steps or minutes). The average's decay
  warms up (`ema_warmup`, `train.ema_at`): with a constant 0.99 a short run's average kept a share of
  its fitted start mixed with weights that no longer fit it, and ended below the start on its own
  training photos (8-bit PSNR, 8 data_samples pairs at 64 px, 60 steps: 18.42 dB against a start of
  19.58; warmed up, 21.16 dB. 18 FiveK pairs at 256 px, 150 steps: 18.99 against 23.35; warmed up
  22.69, the rest of the gap being the exposure augmentation: without it, 24.87). What is left of such a
  gap is caught at the end (`keep_start`): a run that ends below its start on its own training pairs,
  as they are, returns the start and says so (`TrainResult.kept_start`).
Measured on 16 real FiveK pairs: bench/train_quality.py. `finetune` is `fast` starting from the
authors' weights.

Introduced in notebook 05 (`05_training`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .fit import RIDGE_GRID
from .settings import official_weights_path

MAX_THUMB = 2048  # largest condition thumbnail (thumb_size): a 2048^2 view already costs ~1 GB to train on
MAX_SEED = 2**64 - 1  # torch's generators take seeds of 64 bits


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
    lr_halve_every: int | None = None  # step schedule: halve lr every this many steps (paper: 100k)
    cosine: bool = True               # cosine decay of lr to 0 over the run (steps or minutes)
    warmup: int = 50                  # linear lr warm-up steps
    modulation_penalty: float = 1e-3  # loss += penalty * mean(scale^2 + shift^2): prefer the average retouch
    ema: float = 0.99                 # >0: return the running average of the weights (decay per step)
    ema_warmup: int = 10              # the average's decay warms up as (1 + step) / (ema_warmup + step); 0: off
    init: Literal["default", "identity", "fit", "official", "official-fit", "pretrained-fit"] = "fit"
    # default: PyTorch's init; identity: base = identity on [0, 1], zero heads; fit: identity, then the
    # base's last layer least-squares fitted to the training pairs; official: the authors' weights;
    # official-fit: the authors' weights, then their last layer fitted to the training pairs (`fit_base`);
    # pretrained-fit: the model file `pretrained_path`, then its last layer fitted the same way
    official_path: str | None = None  # authors' weights for init="official" (None: settings' default)
    pretrained_path: str | None = None  # a csrnet-lite model file for init="pretrained-fit" (e.g. trained
    # on random edits, `edits()`); its condition view must be this config's `thumb_size`
    ridge: float | tuple[float, ...] = 1e-2  # ridge strength of the least-squares fit (relative to the
    # features' scale); several: chosen by leave-one-photo-out cross-validation (`fit.choose_ridge`)
    ridge_rule: Literal["best", "one-se"] = "one-se"  # how `fit.choose_ridge` picks among several
    flips: bool = True                # random flips / 90-degree rotations (of the condition view)
    crop: float = 0.5                 # random crops keeping [crop, 1] of the area; 1: no crops
    exposure: float = 1.5             # random exposure shift of the input, up to +-this many stops
    white_balance: float = 0.0        # random per-channel gain of the input, log-normal with this sigma
    mild: float = 0.0                 # random edits only (`edits.EditSource`): share of weakened edits
    look: float = 0.0                 # random edits only: strength of a random restyle of each target
    keep_start: bool = True           # a run that ends below its start on its own training pairs
    # returns the start (`train.keep_start`): training does no harm where it starts; paper: False
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
        if self.thumb_size is None and self.batch != 1:
            raise ValueError(f"thumb_size=None (the condition network sees the whole photo) needs batch=1 "
                             f"(photos differ in size), got batch={self.batch}")
        if self.thumb_size is not None and not 1 <= self.thumb_size <= MAX_THUMB:
            raise ValueError(f"thumb_size must be 1 to {MAX_THUMB} or None (the whole photo), got {self.thumb_size}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number from 0 to 2**64 - 1, got {self.seed}")
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {self.loss!r}")
        if self.init not in ("default", "identity", "fit", "official", "official-fit", "pretrained-fit"):
            raise ValueError(f"init must be 'default', 'identity', 'fit', 'official', 'official-fit' or "
                             f"'pretrained-fit', got {self.init!r}")
        if (self.init == "pretrained-fit") != (self.pretrained_path is not None):
            raise ValueError("init='pretrained-fit' and pretrained_path=PATH (a model file to start from) go together, "
                             f"got init={self.init!r}, pretrained_path={self.pretrained_path!r}")
        ridges = (self.ridge,) if isinstance(self.ridge, (int, float)) else self.ridge
        if not ridges or any(r < 0 for r in ridges):
            raise ValueError(f"ridge must be >= 0, or a non-empty tuple of such values, got {self.ridge!r}")
        if not 0 < self.crop <= 1:
            raise ValueError(f"crop must be in (0, 1], got {self.crop}")
        if not 0 <= self.mild <= 1:
            raise ValueError(f"mild must be in [0, 1] (a share of the edits), got {self.mild}")
        if not 0 <= self.look <= 1:
            raise ValueError(f"look must be in [0, 1] (0: no restyle), got {self.look}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.device not in ("cpu", "cuda", "mps", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'mps' or 'auto', got {self.device!r}")

    @staticmethod
    def paper(**overrides) -> "TrainConfig":
        """The published recipe (He et al. 2020; the authors' training configuration,
        train_Enhance.yml: whole photos, no augmentation, PyTorch's default initialisation).

        >>> c = TrainConfig.paper()
        >>> c.loss, c.batch, c.lr, c.thumb_size
        ('l1', 1, 0.0001, None)
        """
        return TrainConfig(**{**dict(
            recipe="paper", steps=600_000, batch=1, pixels=None, thumb_size=None, loss="l1", lr=1e-4,
            betas=(0.9, 0.99), lr_halve_every=100_000, cosine=False, warmup=0,
            modulation_penalty=0.0, ema=0.0, init="default", flips=False, crop=1.0, exposure=0.0,
            white_balance=0.0, keep_start=False), **overrides})

    @staticmethod
    def fast(**overrides) -> "TrainConfig":
        """This project's recipe for a CPU and minutes (the module docstring explains it). The defaults.

        1200 steps (~20,000 photos seen, 2-3 minutes on one core): on 16 pairs, longer training
        fits the training photos better and the validation photos worse.
        """
        return TrainConfig(**{**dict(recipe="fast"), **overrides})

    @staticmethod
    def default(official_path: str | None = None, **overrides) -> "TrainConfig":
        """What `train` does with no recipe flags, chosen by cross-validation (bench/train_quality.py):
        transfer learning, a ridge refit of a pretrained network's last layer.

        With the authors' weights (`official_path`, else `settings.official_weights_path()` when that
        file exists): their network, whose condition network learnt from 4,500 FiveK photos how
        retouches differ between photos, with its last layer refitted to your pairs by ridge
        regression (init="official-fit"). Without them: `fixed` (a network pre-trained on random edits of
        data_samples, `pretrained`, did not beat it on ../shared/fivek, nor one pre-trained on edits of
        the training targets themselves). Both are closed-form fits (steps=0):
        on ~20 pairs every amount of gradient training we measured made unseen photos worse. The
        ridge strength is chosen by leave-one-photo-out cross-validation on the training pairs, by the
        one-standard-error rule (on ../shared/fivek it kept the worst unseen photo 5 dB better than the
        best-mean rule).
        """
        if official_path is None and official_weights_path().is_file():
            official_path = str(official_weights_path())
        if official_path is None:
            return TrainConfig.fixed(**{**dict(recipe="default"), **overrides})
        return TrainConfig(**{**dict(recipe="default", steps=0, ridge=RIDGE_GRID, init="official-fit",
                                     official_path=str(official_path), thumb_size=None, batch=1), **overrides})

    @staticmethod
    def fixed(**overrides) -> "TrainConfig":
        """The best fixed colour map CSRNet's base network can hold, and nothing else: `identity_init`,
        conv3 fitted by ridge regression (the strength with the best leave-one-photo-out PSNR), zero
        modulation, no gradient steps. The "fitted start" baseline of `evaluate` and `crossval`.

        >>> c = TrainConfig.fixed()
        >>> c.init, c.steps, c.ridge_rule
        ('fit', 0, 'best')
        """
        return TrainConfig(**{**dict(recipe="fixed", init="fit", steps=0, ridge=RIDGE_GRID, ridge_rule="best"),
                              **overrides})

    @staticmethod
    def edits(**overrides) -> "TrainConfig":
        """This project's recipe for undoing random edits (`edits.EditSource`, notebook 5): `fast` with
        a fresh edit of a photo at every draw, a 64x64 condition view and crops down to a quarter of
        the photo (more views of few photos). The edits already vary exposure, so there is no exposure
        augmentation. Chosen on a split by source inside the training photos (`bench/edits.py
        --select`: 18 photos of one package, scored on 4 of others), by the fewest pairs below doing
        nothing, then the worst pair: against 2000 steps, and against a share of mild edits (`mild`)
        and restyled targets (`look`), which cost about 1 dB and did not make fewer pairs worse; 4500
        steps made 3 fewer pairs of 120 worse over 3 seeds, inside the noise, and overrun the 5 minutes.
        3000 steps take ~170 s on one thread at load average 3 on 2 cores (`train --edits` says so
        when its time budget cuts a run short).

        >>> c = TrainConfig.edits()
        >>> c.steps, c.thumb_size, c.crop, c.exposure, c.mild, c.look
        (3000, 64, 0.25, 0.0, 0.0, 0.0)
        """
        return TrainConfig(**{**dict(recipe="edits", steps=3000, thumb_size=64, crop=0.25, exposure=0.0),
                              **overrides})

    @staticmethod
    def pretrained(path, **overrides) -> "TrainConfig":
        """Transfer learning from the csrnet-lite model file `path`, e.g. one pre-trained on random edits
        of other photos (`edits()`, `train --edits`): its networks kept, its last layer refitted to your
        pairs by ridge regression (init="pretrained-fit", the strength chosen as `default` chooses it),
        no gradient step. thumb_size: the view the edits recipe trains on (64).

        >>> c = TrainConfig.pretrained("edits.pt")
        >>> c.init, c.steps, c.thumb_size
        ('pretrained-fit', 0, 64)
        """
        return TrainConfig(**{**dict(recipe="pretrained", steps=0, ridge=RIDGE_GRID, init="pretrained-fit",
                                     pretrained_path=str(path), thumb_size=64), **overrides})

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
