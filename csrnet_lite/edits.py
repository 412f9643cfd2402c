"""Unlimited training pairs from any photos: the target is a photo, the input a random global edit of it.

Notebook 5 introduces it. FiveK gives each photo one input; here a photo gives as many as we ask for,
each made by a random draw of an `EditFamily` (by default the four operators of `data_samples/`:
exposure, white balance, contrast, saturation, at the ranges `degradation.py` documents). To undo an edit
the network must read it from the photo, which is exactly what CSRNet's condition network is for: a
fixed colour map can only undo the average edit.

    source = EditSource.from_photos(PairDataset("data_samples"))  # the targets; the inputs are not used
    train_photos, test_photos = source.split(["astronaut", "coffee"])  # by photo, never by edit
    result = train(None, train_photos, TrainConfig.edits())           # a fresh edit at every draw
    pairs = test_photos.pairs(per_photo=10, seed=1)                    # fixed edit Pairs to score on
    pairs[0].edit                                                       # the drawn degradation.Degradation

Each edit's `data.Pair` keeps its drawn parameters (`edit`), so `undo(pair.input, pair.edit)` is the exact
inverse, the ceiling no retouch can beat (short of where the edit clipped).

Introduced in notebook 05 (`05_training`).
"""
from __future__ import annotations

import statistics
import zlib
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Mapping, Sequence

import torch

from . import degradation, ops
from .crossval import Fold, _rank
from .data import Pair, iter_pairs
from .evaluate import as_function, evaluate, format_table
from .image import Resize
from .metrics import psnr
from .model import CondView
from .train import Batch, sample_batch, train

EDIT_SIZE = Resize("long", 256)  # photos are edited at long edge 256: edits are global, so size hardly matters


@dataclass(frozen=True)
class EditFamily:
    """Ranges the edit parameters are drawn from, uniformly. The default is `data_samples`' family."""

    exposure_ev: tuple[float, float] = degradation.EXPOSURE_EV    # stops: x * 2**ev
    wb_log2_gain: tuple[float, float] = degradation.WB_LOG2_GAIN  # log2 of the red and the blue gain
    contrast: tuple[float, float] = degradation.CONTRAST          # blend factor with the mean grey
    saturation: tuple[float, float] = degradation.SATURATION      # blend factor with each pixel's luma

    @staticmethod
    def wide() -> "EditFamily":
        """A named wider family: twice the exposure and white-balance ranges, contrast and saturation
        also raised (factors above 1)."""
        return EditFamily((-2.0, 0.8), (-0.8, 0.8), (0.5, 1.3), (0.3, 1.4))

    def draw(self, target: torch.Tensor, gen: torch.Generator) -> degradation.Degradation:
        """Random parameters for `target` (1, 3, H, W), with its contrast pivot (`with_pivot`)."""
        u = torch.rand(5, generator=gen, dtype=torch.float64).tolist()
        pick = lambda lo_hi, x: lo_hi[0] + (lo_hi[1] - lo_hi[0]) * x  # noqa: E731
        ev = pick(self.exposure_ev, u[0])
        gains = (2.0 ** pick(self.wb_log2_gain, u[1]), 1.0, 2.0 ** pick(self.wb_log2_gain, u[2]))
        edit = degradation.Degradation(ev, gains, pick(self.contrast, u[3]), pick(self.saturation, u[4]))
        return with_pivot(target, edit)

    def draw_mild(self, target: torch.Tensor, gen: torch.Generator, mild: float) -> degradation.Degradation:
        """`draw`, except that with probability `mild` the edit is weakened (`weaker`) by a strength drawn
        uniformly in [0, 1]: training sees mild edits and photos that need nothing done. mild=0: `draw`."""
        edit = self.draw(target, gen)
        if mild > 0 and torch.rand((), generator=gen, dtype=torch.float64).item() < mild:
            edit = with_pivot(target, weaker(edit, torch.rand((), generator=gen, dtype=torch.float64).item()))
        return edit

    def middle(self, exposure_ev: float) -> degradation.Degradation:
        """The edit at the middle of every range but exposure (no pivot yet): a sweep's fixed part."""
        mid = lambda lo_hi: (lo_hi[0] + lo_hi[1]) / 2  # noqa: E731
        gain = 2.0 ** mid(self.wb_log2_gain)
        return degradation.Degradation(exposure_ev, (gain, 1.0, gain), mid(self.contrast), mid(self.saturation))


# The random restyle of a photo before it is edited (`EditSource.edit`'s `look`): the target's own look
# varies (a little brighter, warmer, flatter...), so the network cannot learn "every target looks like
# the training photos" and over-correct photos of another collection. At look=1 these ranges; less: weaker.
LOOK = EditFamily(exposure_ev=(-0.5, 0.5), wb_log2_gain=(-0.15, 0.15), contrast=(0.8, 1.2), saturation=(0.7, 1.3))


def weaker(edit: degradation.Degradation, strength: float) -> degradation.Degradation:
    """`edit` moved towards no edit: every parameter at `strength` of the way from the identity
    (0: no edit, 1: `edit`); gains and exposure in log units. The pivot must be set again (`with_pivot`)."""
    toward = lambda x: 1 + (x - 1) * strength  # noqa: E731
    gains = tuple(g ** strength for g in edit.wb_gains)
    return degradation.Degradation(edit.exposure_ev * strength, gains, toward(edit.contrast), toward(edit.saturation))


def with_pivot(target: torch.Tensor, edit: degradation.Degradation) -> degradation.Degradation:
    """`edit` with its contrast pivot for `target` (1, 3, H, W): the mean luma of the exposed,
    white-balanced target, as `degradation.with_pivot` computes it (float64), from the channel means
    (luma is linear, so the mean of the luma is the luma of the means)."""
    means = target.double().mean((0, 2, 3))  # (1, 3, H, W) -> (3,)
    pivot = sum(w * g * float(m) for w, g, m in zip(ops.LUMA, edit.wb_gains, means)) * 2.0 ** edit.exposure_ev
    return replace(edit, contrast_mean=pivot)


def exposure_sweep(name: str, target: torch.Tensor, evs: Sequence[float],
                   family: EditFamily = EditFamily()) -> list[Pair]:
    """`target` edited at each exposure of `evs` (stops), all else at the middle of `family`'s ranges."""
    out = []
    for k, ev in enumerate(evs):
        edit = with_pivot(target, family.middle(float(ev)))
        out.append(Pair(f"{name}~{k}", apply(target, edit), target, photo=name, edit=edit))
    return out


def edit_matrix(edit: degradation.Degradation) -> tuple[torch.Tensor, torch.Tensor]:
    """The edit as one colour map, A x + b: ((3, 3), (3,)). All four operators are affine
    (`ops.compose` says so), so exposure, white balance, contrast and saturation multiply out:
    A = contrast * Sat @ diag(gains * 2**ev), b = (1 - contrast) * pivot (Sat keeps grey: Sat @ 1 = 1)."""
    sat = ops.saturation_as_conv(edit.saturation).weight.double()  # (3, 3)
    gains = torch.tensor(edit.wb_gains, dtype=torch.float64) * 2.0 ** edit.exposure_ev
    a = edit.contrast * sat @ torch.diag(gains)
    b = torch.full((3,), (1 - edit.contrast) * edit.contrast_mean, dtype=torch.float64)
    return a.float(), b.float()


def apply(target: torch.Tensor, edit: degradation.Degradation) -> torch.Tensor:
    """The edited photo: (B, 3, H, W) in [0, 1] -> (B, 3, H, W), clamped and rounded to 8-bit levels
    like a saved file. Equal to `degradation.degrade` (one matrix instead of four steps: fast enough to
    draw 16 fresh edits at every training step)."""
    a, b = edit_matrix(edit)
    x = torch.einsum("ij,bjhw->bihw", a, target) + b[:, None, None]  # (3, 3) x (B, 3, H, W)
    return torch.round(x.clamp(0, 1) * 255) / 255


def undo(input: torch.Tensor, edit: degradation.Degradation) -> torch.Tensor:
    """The exact inverse of `edit` (the ceiling): (B, 3, H, W) -> (B, 3, H, W) in [0, 1], clamped.
    Exact up to the clamp and 8-bit rounding of `apply`."""
    a, b = edit_matrix(edit)
    inverse = torch.linalg.inv(a.double()).float()
    x = input - b[:, None, None]
    return torch.einsum("ij,bjhw->bihw", inverse, x).clamp(0, 1)


class EditSource:
    """Photos and a family of edits: fixed `Pair`s on demand, and a fresh edit at every draw in training.

    photos: (name, target (1, 3, H, W)) pairs; `from_photos` reads them from a dataset's targets.
    per_photo, seed: the fixed pairs that iterating the source gives (what the fitted start is fitted to).
    `train(None, source, config)` draws a new edit for every photo of every batch (`sample_batch`).
    """

    def __init__(self, photos: Sequence[tuple[str, torch.Tensor]], family: EditFamily = EditFamily(), *,
                 per_photo: int = 8, seed: int = 0, source: str = ""):
        self.photos = [(str(name), target) for name, target in photos]
        names = [name for name, _ in self.photos]
        if not self.photos:
            raise ValueError("an EditSource needs at least one photo")
        if len(set(names)) != len(names):
            raise ValueError(f"photo names must be unique; repeated: {sorted({n for n in names if names.count(n) > 1})}")
        if per_photo < 1:
            raise ValueError(f"per_photo must be >= 1, got {per_photo}")
        self.family, self.per_photo, self.seed, self.source = family, per_photo, seed, source

    @staticmethod
    def from_photos(data, family: EditFamily = EditFamily(), *, size: Resize | None = EDIT_SIZE,
                    per_photo: int = 8, seed: int = 0, source: str = "") -> "EditSource":
        """The targets of `data` (a PairDataset, Pairs or (input, target) tuples; inputs unused),
        resized by `size` (None: as they are); a repeated id (the same photo in two folders) counts once."""
        photos = {}
        for pair in iter_pairs(data):  # a photo in several folders of a root counts once
            photos.setdefault(pair.id, pair.target if size is None else size(pair.target))
        return EditSource(list(photos.items()), family, per_photo=per_photo, seed=seed, source=source)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.photos]

    def __repr__(self) -> str:
        return f"EditSource({len(self.photos)} photos, {self.per_photo} fixed edits each, seed {self.seed})"

    def split(self, test: Iterable[str]) -> tuple["EditSource", "EditSource"]:
        """(training photos, test photos): every edit of a test photo is held out with it."""
        test = set(test)
        unknown = test - set(self.names)
        if unknown:
            raise ValueError(f"split: no photos named {sorted(unknown)[:5]}; the photos are {self.names[:5]}...")
        if not test or test == set(self.names):
            raise ValueError("split needs at least one training and one test photo")
        keep = lambda inside: [p for p in self.photos if (p[0] in test) == inside]  # noqa: E731
        same = dict(per_photo=self.per_photo, seed=self.seed, source=self.source)
        return EditSource(keep(False), self.family, **same), EditSource(keep(True), self.family, **same)

    def edit(self, index: int, gen: torch.Generator, mild: float = 0.0, look: float = 0.0) -> Pair:
        """A random edit of photo `index`, drawn with `gen`. mild: the share of weakened edits
        (`EditFamily.draw_mild`); look > 0: the photo is first restyled by a random edit of `LOOK` at
        this strength, and the restyled photo is the target (the target's look varies too)."""
        name, target = self.photos[index]
        if look > 0:
            target = apply(target, with_pivot(target, weaker(LOOK.draw(target, gen), look)))
        edit = self.family.draw_mild(target, gen, mild)
        return Pair(name, apply(target, edit), target, self.source, photo=name, edit=edit)

    def pairs(self, per_photo: int | None = None, seed: int | None = None) -> list[Pair]:
        """`per_photo` edits of every photo, the same for a seed whatever the other photos are."""
        out = []
        for name, target in self.photos:
            for k in range(self.per_photo if per_photo is None else per_photo):
                key = f"{self.seed if seed is None else seed}:{name}:{k}".encode()
                gen = torch.Generator().manual_seed(zlib.crc32(key))
                edit = self.family.draw(target, gen)
                out.append(Pair(f"{name}~{k}", apply(target, edit), target, self.source, photo=name, edit=edit))
        return out

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs())

    def __len__(self) -> int:
        return len(self.photos) * self.per_photo

    def sample_batch(self, config, gen: torch.Generator) -> Batch:
        """One training batch (`train.sample_batch`'s augmentation) in which every photo drawn gets
        a fresh edit, drawn with `gen` (`config.mild`, `config.look`: see `edit`): unlimited pairs."""
        return sample_batch(_Fresh(self, gen, config.mild, config.look), config, gen)


class _Fresh:
    """The photos of a source as a sequence whose i-th item is a new random edit of photo i."""

    def __init__(self, source: EditSource, gen: torch.Generator, mild: float = 0.0, look: float = 0.0):
        self.source, self.gen, self.mild, self.look = source, gen, mild, look

    def __len__(self) -> int:
        return len(self.source.photos)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.source.edit(index, self.gen, self.mild, self.look)
        return pair.input, pair.target


def modulations_off(model):
    """The control that isolates conditioning: zero every modulation head of `model` (a CSRNet) and
    freeze them, so that training can only fit one fixed colour map in the base network. In place."""
    for name in ("scale", "shift"):
        for i in (1, 2, 3):
            head = getattr(model, f"cond_{name}{i}")
            with torch.no_grad():
                head.weight.zero_()
                head.bias.zero_()
            head.requires_grad_(False)
    return model


def photo_folds(pairs: Sequence[Pair], k: int = 5, seed: int = 0) -> list:
    """k `crossval.Fold`s that hold out whole photos (every edit of a photo in the same fold), dealt
    round-robin in the order of a hash of (seed, photo name)."""
    photos = sorted({p.photo for p in pairs}, key=lambda name: _rank(name, seed))
    if not 2 <= k <= len(photos):
        raise ValueError(f"k must be between 2 and the number of photos ({len(photos)}), got {k}")
    return [Fold(f"fold {i + 1}", tuple(p.id for p in pairs if p.photo in photos[i::k])) for i in range(k)]


def recipe(config, family: EditFamily = EditFamily()):
    """A `crossval` method: train `config` on fresh edits of the training pairs' photos (each photo
    once, whatever its number of edits), conditioned on the view it trained with."""
    def fit(train_pairs):
        photos = {x.photo: x.target for x in train_pairs}
        model = train(None, EditSource(list(photos.items()), family), config).model
        return as_function(model, CondView.trained_on(config.thumb_size))
    return fit


def score(methods: Mapping[str, object], pairs: Sequence[Pair],
          view: CondView = CondView.THUMB_128) -> dict[str, dict[str, float]]:
    """Method name -> {pair id: PSNR (dB, 8-bit)} on `pairs`. A method is a CSRNet (conditioned on
    `view`), any function input -> output, or the string "exact inverse" (`undo` with each pair's edit)."""
    out = {}
    for name, method in methods.items():
        if isinstance(method, str) and method == "exact inverse":
            out[name] = {p.id: float(psnr(undo(p.input, p.edit), p.target)[0]) for p in pairs}
        else:
            out[name] = {s.id: s.psnr for s in evaluate(method, pairs, name=name, view=view).images}
    return out


def by_photo(scores: Mapping[str, float]) -> dict[str, float]:
    """{pair id: dB} -> {photo: mean dB over its edits}: the unit to compare on (edits of one photo are
    not independent)."""
    photos: dict[str, list[float]] = {}
    for id, value in scores.items():
        photos.setdefault(id.split("~")[0], []).append(value)
    return {photo: sum(v) / len(v) for photo, v in photos.items()}


def table(scores: Mapping[str, Mapping[str, float]], baseline: str = "identity") -> str:
    """Per method: mean PSNR, standard deviation over photos, the worst photo and the worst pair
    against `baseline` (doing nothing)."""
    base, base_photo = scores[baseline], by_photo(scores[baseline])
    rows = []
    for name, s in scores.items():
        photo = by_photo(s)
        gain = {k: photo[k] - base_photo[k] for k in photo}
        worst, worst_pair = min(gain, key=gain.get), min(s, key=lambda k: s[k] - base[k])
        rows.append((name, f"{sum(s.values()) / len(s):.2f}", f"{statistics.stdev(photo.values()):.2f}"
                     if len(photo) > 1 else "-", f"{worst} {gain[worst]:+.2f}",
                     f"{worst_pair} {s[worst_pair] - base[worst_pair]:+.2f}"))
    return format_table(("method", "PSNR dB", "sd over photos", "worst photo vs identity",
                         "worst pair vs identity"), rows)
