"""How good is a retouch? PSNR / SSIM / Delta E per photo and on average, against baselines.

    evaluate(model, data)                        -> Evaluation (printable table, .mean.psnr, .to_csv)
    comparison({"fast": model}, val, train=train)   -> Comparison: identity, fixed colour transform,
                                                    authors' weights (if present), your models

How the condition network sees a photo at inference: `as_function(model, view)` gives it `view(input)`,
an `model.CondView`: by default the 128x128 antialiased thumbnail the `fast` recipe trains on, for
the authors' weights `checkpoint.OFFICIAL_VIEW` (the whole photo up to long edge 512, as in their
code); `checkpoint.load_model` tells the view of any model file.
The base network always runs on every pixel of the full-size input. Outputs are clamped to [0, 1]
before scoring, as a saved 8-bit file would be; PSNR is on 8-bit quantised values as in the paper.

The non-neural baseline `baselines.ColourTransform` is the best single global colour map RGB -> RGB
(a polynomial of the colour of degree 1, 2 or 3) fitted by least squares on the training pairs: a
learned retouch that adapts to each photo has to beat it to earn its condition network.

Introduced in notebook 05 (`05_training`).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from .baselines import ColourTransform, identity
from .checkpoint import OFFICIAL_VIEW, load_official
from .data import iter_pairs
from .files import atomic_path
from .lut import check_strength
from .metrics import delta_e, psnr, ssim
from .model import CondView, CSRNet
from .settings import official_weights_path
from .train import TrainResult, fixed_colour_map

PhotoFn = Callable[[torch.Tensor], torch.Tensor]  # a retouch as a function: input (1, 3, H, W) -> output


def as_function(model: CSRNet, view: CondView = CondView.THUMB_128, strength: float = 1.0) -> PhotoFn:
    """`model` as a function input (B, 3, H, W) -> output (B, 3, H, W), run without gradients.

    The condition network sees `view(input)` (`CondView.FULL`: the whole input). strength in [0, 1]
    moves the output towards the input, input + strength * (output - input), as `retouch --strength`
    and notebook 8's slider do (1: the model's own output).
    """
    strength = check_strength(strength)

    def run(input: torch.Tensor) -> torch.Tensor:
        device = next(model.parameters()).device
        with torch.no_grad():
            x = input.to(device)
            cond = view(x)  # (B, 3, H, W) -> (B, 3, h, w)
            out = model(x, cond)
            return (out if strength == 1 else torch.lerp(x, out, strength)).cpu()
    return run


@dataclass(frozen=True)
class ImageScore:
    id: str
    psnr: float     # dB, 8-bit quantised
    ssim: float     # in [-1, 1]
    delta_e: float  # mean CIE Delta E


@dataclass(frozen=True)
class Evaluation:
    """Scores of one method on a dataset: per photo, and means."""

    name: str
    images: tuple[ImageScore, ...]

    @property
    def mean(self) -> ImageScore:
        """The means over the photos, as a score with id "mean" (`.mean.psnr`, `.mean.ssim`, ...)."""
        return ImageScore("mean", _mean(s.psnr for s in self.images), _mean(s.ssim for s in self.images),
                          _mean(s.delta_e for s in self.images))

    def table(self) -> str:
        rows = [(s.id, f"{s.psnr:.2f}", f"{s.ssim:.4f}", f"{s.delta_e:.2f}") for s in self.images]
        mean = self.mean
        rows.append(("mean", f"{mean.psnr:.2f}", f"{mean.ssim:.4f}", f"{mean.delta_e:.2f}"))
        return f"{self.name}\n" + format_table(("photo", "PSNR dB", "SSIM", "Delta E"), rows)

    def __str__(self) -> str:
        return self.table()

    def to_csv(self, path) -> Path:
        """Write per-photo rows (method, id, psnr, ssim, delta_e) atomically."""
        return _write_csv(path, [(self.name, s.id, s.psnr, s.ssim, s.delta_e) for s in self.images])


@dataclass(frozen=True)
class Comparison:
    """Several methods on the same photos; the first one is the baseline for the Delta PSNR column."""

    evaluations: tuple[Evaluation, ...]
    notes: dict[str, str] = field(default_factory=dict)  # method -> extra column (e.g. photos/s)

    def __getitem__(self, name: str) -> Evaluation:
        for e in self.evaluations:
            if e.name == name:
                return e
        raise KeyError(f"no method {name!r}; have {[e.name for e in self.evaluations]}")

    def table(self) -> str:
        base = self.evaluations[0]
        means = [(e.name, e.mean) for e in self.evaluations]
        rows = [(name, f"{m.psnr:.2f}", f"{m.psnr - base.mean.psnr:+.2f}", f"{m.ssim:.4f}",
                 f"{m.delta_e:.2f}", self.notes.get(name, "")) for name, m in means]
        n = len(base.images)
        return format_table(("method", "PSNR dB", f"vs {base.name}", "SSIM", "Delta E", ""), rows) + \
            f"\n(means over {n} photo{'s' * (n != 1)})"

    def __str__(self) -> str:
        return self.table()

    def to_csv(self, path) -> Path:
        return _write_csv(path, [(e.name, s.id, s.psnr, s.ssim, s.delta_e)
                                 for e in self.evaluations for s in e.images])


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)  # noqa: E731
                               for i, (v, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _write_csv(path, rows) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "id", "psnr", "ssim", "delta_e"])
        writer.writerows((m, i, f"{p:.4f}", f"{s:.6f}", f"{d:.4f}") for m, i, p, s, d in rows)
    return path


def evaluate(method, data, *, name: str | None = None, view: CondView = CondView.THUMB_128) -> Evaluation:
    """Score `method` on every pair of `data` (a PairDataset, `data.Pair`s or (input, target) tuples).

    method: a CSRNet (run with `as_function(model, view)`), a `train.TrainResult` (its model, on
        the view it trained on, `result.view`), or any function input (1, 3, H, W) -> output.
    """
    if isinstance(method, TrainResult):
        name = name or method.recipe
        method, view = method.model, method.view
    if isinstance(method, CSRNet):
        name = name or "CSRNet"
        method = as_function(method, view)
    name = name or getattr(method, "__name__", None) or str(method)
    scores = []
    for pair in iter_pairs(data):
        output, target = method(pair.input).clamp(0, 1), pair.target
        scores.append(ImageScore(pair.id, float(psnr(output, target)[0]), float(ssim(output, target)[0]),
                                 float(delta_e(output, target)[0])))
    if not scores:
        raise ValueError("nothing to evaluate: the dataset is empty")
    return Evaluation(name, tuple(scores))


def comparison(methods: Mapping[str, CSRNet | PhotoFn | tuple[CSRNet, CondView]], data, *, train=None,
               degrees: Sequence[int] = (2,), start: bool = True, official="auto",
               view: CondView = CondView.THUMB_128,
               notes: Mapping[str, str] | None = None) -> Comparison:
    """One table: identity, fixed colour transform(s), the authors' weights, then `methods`.

    methods: name -> CSRNet (condition on view(input)), (CSRNet, CondView) to choose its view (as
        `checkpoint.load_model` returns them), a `train.TrainResult`, or any function input -> output.
    train: training pairs to fit the `ColourTransform` baseline(s) of the given `degrees` on, and
        (with `start`) the fitted start: CSRNet's base network fitted as one fixed colour map
        (`train.fixed_colour_map`), the strongest fixed transform we know.
    official: path to the authors' weights, "auto" to use them when present
        (`settings.official_weights_path()`), or None to leave them out. As in the authors' code,
        their condition network sees the whole input (`checkpoint.OFFICIAL_VIEW`).
    """
    data = list(data)  # read a dataset once
    evaluations = [evaluate(identity, data, name="identity")]
    if train is not None:
        train = list(train)
        for degree in degrees:
            transform = ColourTransform.fit(train, degree)
            evaluations.append(evaluate(transform, data, name=f"{transform} ({len(train)} pairs)"))
        if start:
            fixed = fixed_colour_map(train)
            evaluations.append(evaluate(fixed, data, name=f"fitted start ({len(train)} pairs)"))
    if official == "auto":
        official = official_weights_path() if official_weights_path().is_file() else None
    if official is not None:
        evaluations.append(evaluate(load_official(official), data, name="authors' weights",
                                    view=OFFICIAL_VIEW))
    for name, method in methods.items():
        if isinstance(method, tuple):
            method, own_view = method
            evaluations.append(evaluate(method, data, name=name, view=own_view))
        else:
            evaluations.append(evaluate(method, data, name=name, view=view))
    return Comparison(tuple(evaluations), dict(notes or {}))
