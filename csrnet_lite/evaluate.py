"""How good is a retouch? PSNR / SSIM / Delta E per photo and on average, against baselines.

    evaluate(model, data)                        -> Evaluation (printable table, .psnr, .to_csv)
    compare({"fast": model}, val, train=train)   -> Comparison: identity, fixed colour transform,
                                                    authors' weights (if present), your models

How the condition network sees a photo at inference: `retoucher(model, thumb_size)` gives it
`image.thumbnail(input, thumb_size)` (128x128, antialiased; the `fast` recipe trains on exactly
that view), or the whole input when thumb_size is None (the `paper` recipe and the authors' code).
The base network always runs on every pixel of the full-size input. Outputs are clamped to [0, 1]
before scoring, as a saved 8-bit file would be; PSNR is on 8-bit quantised values as in the paper.

The non-neural baseline `ColourTransform` is the best single global colour map RGB -> RGB (a
polynomial of the colour of degree 1, 2 or 3) fitted by least squares on the training pairs: a
learned retouch that adapts to each photo has to beat it to earn its condition network.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from .data import iter_pairs
from .files import atomic_path
from .image import check_image, thumbnail
from .model import CSRNet

Retouch = Callable[[torch.Tensor], torch.Tensor]  # input (1, 3, H, W) -> output (1, 3, H, W)


def retoucher(model: CSRNet, thumb_size: int | None = 128) -> Retouch:
    """A function input (B, 3, H, W) -> output (B, 3, H, W) running `model` without gradients.

    The condition network sees `thumbnail(input, thumb_size)`, or the whole input when None.
    """
    def run(input: torch.Tensor) -> torch.Tensor:
        device = next(model.parameters()).device
        with torch.no_grad():
            x = input.to(device)
            cond = x if thumb_size is None else thumbnail(x, thumb_size)
            return model(x, cond).cpu()
    return run


# ---------------------------------------------------------------------------------------------------
# the fixed global colour transform baseline

def _exponents(degree: int) -> list[tuple[int, int, int]]:
    """All (i, j, k) with i + j + k <= degree: the monomials r^i g^j b^k by degree, constant first:
    1, r, g, b, r^2, rg, rb, g^2, gb, b^2, r^3, ..."""
    return [e for d in range(degree + 1)
            for e in sorted(itertools.product(range(d + 1), repeat=3), reverse=True) if sum(e) == d]


@dataclass(frozen=True)
class ColourTransform:
    """One global colour map: output_c = sum_m coefficients[m, c] * monomial_m(r, g, b).

    `degree` 1 is an affine map (4 monomials), 2 quadratic (10), 3 cubic (20).
    Call it like a model: transform(input (B, 3, H, W)) -> (B, 3, H, W), not clamped.
    """

    degree: int
    coefficients: torch.Tensor  # (monomials, 3), float64

    @staticmethod
    def features(x: torch.Tensor, degree: int) -> torch.Tensor:
        """Monomials of the colour: x (B, 3, H, W) -> (B, M, H, W) in float64."""
        x = x.double()
        r, g, b = x[:, 0], x[:, 1], x[:, 2]  # (B, 3, H, W) -> 3 x (B, H, W)
        return torch.stack([r ** i * g ** j * b ** k for i, j, k in _exponents(degree)], 1)  # -> (B, M, H, W)

    @classmethod
    def fit(cls, data, degree: int = 2, *, max_pixels: int = 200_000, ridge: float = 1e-9,
            seed: int = 0) -> "ColourTransform":
        """Least squares over the pixels of all pairs in `data` (Samples or (input, target) tuples),
        every photo weighted equally; at most `max_pixels` random pixels per photo."""
        if degree not in (1, 2, 3):
            raise ValueError(f"degree must be 1, 2 or 3, got {degree}")
        gen = torch.Generator().manual_seed(seed)
        gram = cross = None
        count = 0
        for _, input, target in iter_pairs(data):
            f = cls.features(input, degree).flatten(2).transpose(1, 2).reshape(-1, len(_exponents(degree)))
            y = target.double().flatten(2).transpose(1, 2).reshape(-1, 3)  # (B, 3, H, W) -> (B*H*W, 3)
            if len(f) > max_pixels:
                idx = torch.randint(len(f), (max_pixels,), generator=gen)
                f, y = f[idx], y[idx]
            g, c = f.T @ f / len(f), f.T @ y / len(f)
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
            count += 1
        if not count:
            raise ValueError("ColourTransform.fit needs at least one (input, target) pair")
        gram, cross = gram / count, cross / count
        reg = ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        return cls(degree, torch.linalg.solve(gram + reg, cross))

    def __call__(self, input: torch.Tensor) -> torch.Tensor:
        check_image(input, "input", check_range=False)
        f = self.features(input, self.degree)  # (B, M, H, W)
        out = torch.einsum("bmhw,mc->bchw", f, self.coefficients)  # (B, M, H, W) -> (B, 3, H, W)
        return out.float()

    def __str__(self) -> str:
        return f"{['', 'affine', 'quadratic', 'cubic'][self.degree]} colour transform"


def identity(input: torch.Tensor) -> torch.Tensor:
    """The 'do nothing' baseline: the input is the output."""
    return input


# ---------------------------------------------------------------------------------------------------
# scores

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
    def psnr(self) -> float:
        return _mean(s.psnr for s in self.images)

    @property
    def ssim(self) -> float:
        return _mean(s.ssim for s in self.images)

    @property
    def delta_e(self) -> float:
        return _mean(s.delta_e for s in self.images)

    def table(self) -> str:
        rows = [(s.id, f"{s.psnr:.2f}", f"{s.ssim:.4f}", f"{s.delta_e:.2f}") for s in self.images]
        rows.append(("mean", f"{self.psnr:.2f}", f"{self.ssim:.4f}", f"{self.delta_e:.2f}"))
        return f"{self.name}\n" + _format(("photo", "PSNR dB", "SSIM", "Delta E"), rows)

    __str__ = table

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
        rows = [(e.name, f"{e.psnr:.2f}", f"{e.psnr - base.psnr:+.2f}", f"{e.ssim:.4f}",
                 f"{e.delta_e:.2f}", self.notes.get(e.name, "")) for e in self.evaluations]
        n = len(base.images)
        return _format(("method", "PSNR dB", f"vs {base.name}", "SSIM", "Delta E", ""), rows) + \
            f"\n(means over {n} photo{'s' * (n != 1)})"

    __str__ = table

    def to_csv(self, path) -> Path:
        return _write_csv(path, [(e.name, s.id, s.psnr, s.ssim, s.delta_e)
                                 for e in self.evaluations for s in e.images])


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _format(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
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


# ---------------------------------------------------------------------------------------------------
# evaluate and compare

def evaluate(method, data, *, name: str | None = None, thumb_size: int | None = 128) -> Evaluation:
    """Score `method` on every pair of `data` (a PairDataset, Samples or (input, target) tuples).

    method: a CSRNet (run with `retoucher(model, thumb_size)`), a `train.TrainResult` (its model, on
        the view its config trained with), or any function input (1, 3, H, W) -> output.
    """
    from .metrics import delta_e, psnr, ssim

    if hasattr(method, "model") and hasattr(method, "config"):  # a TrainResult
        name = name or method.config.recipe
        method, thumb_size = method.model, method.config.thumb_size
    if isinstance(method, CSRNet):
        name = name or "CSRNet"
        method = retoucher(method, thumb_size)
    name = name or getattr(method, "__name__", None) or str(method)
    scores = []
    for id, input, target in iter_pairs(data):
        output = method(input).clamp(0, 1)
        scores.append(ImageScore(id, float(psnr(output, target)[0]), float(ssim(output, target)[0]),
                                 float(delta_e(output, target)[0])))
    if not scores:
        raise ValueError("nothing to evaluate: the dataset is empty")
    return Evaluation(name, tuple(scores))


def compare(methods: Mapping[str, CSRNet | Retouch | tuple[CSRNet, int | None]], data, *, train=None,
            degrees: Sequence[int] = (2,), official="auto", thumb_size: int | None = 128,
            notes: Mapping[str, str] | None = None) -> Comparison:
    """One table: identity, fixed colour transform(s), the authors' weights, then `methods`.

    methods: name -> CSRNet (condition on thumbnail(input, thumb_size)), (CSRNet, thumb_size) to
        choose its view (None: whole input), a `train.TrainResult`, or any function input -> output.
    train: training pairs to fit the `ColourTransform` baseline(s) of the given `degrees` on.
    official: path to the authors' weights, "auto" to use them when present
        (`settings.official_weights_path()`), or None to leave them out. As in the authors' code,
        their condition network sees the whole input.
    """
    from .model import load_official
    from .settings import official_weights_path

    data = list(data)  # read a dataset once
    evaluations = [evaluate(identity, data, name="identity")]
    if train is not None:
        train = list(train)
        for degree in degrees:
            transform = ColourTransform.fit(train, degree)
            evaluations.append(evaluate(transform, data, name=f"{transform} ({len(train)} pairs)"))
    if official == "auto":
        official = official_weights_path() if official_weights_path().is_file() else None
    if official is not None:
        evaluations.append(evaluate(load_official(official), data, name="authors' weights", thumb_size=None))
    for name, method in methods.items():
        if isinstance(method, tuple):
            method, size = method
            evaluations.append(evaluate(method, data, name=name, thumb_size=size))
        else:
            evaluations.append(evaluate(method, data, name=name, thumb_size=thumb_size))
    return Comparison(tuple(evaluations), dict(notes or {}))


# ---------------------------------------------------------------------------------------------------
# command line

def add_cli(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a trained model against baselines",
                              description="Print PSNR / SSIM / Delta E of a model and baselines.")
    p.add_argument("--data", required=True, help="data root in any layout csrnet_lite.data reads")
    p.add_argument("--model", default=None, help="a checkpoint from `train` (or a CSRNet state_dict)")
    p.add_argument("--official", default=None,
                   help="also score the authors' weights at this path ('auto': when present)")
    p.add_argument("--train-data", default=None,
                   help="fit the fixed colour transform baseline on the pairs at this root")
    p.add_argument("--csv", default=None, help="also write per-photo scores to this CSV file")
    p.add_argument("--per-image", action="store_true", help="print per-photo tables too")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.set_defaults(func=_cli)


def model_view(path) -> tuple[CSRNet, int | None]:
    """Load a model file and the condition view it was trained with (thumb size, None = whole input).

    A csrnet-lite checkpoint stores its TrainConfig; a bare state_dict is assumed to be like the
    authors' (whole input).
    """
    from .model import load_state

    model = load_state(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = state.get("config") if isinstance(state, dict) else None
    return model, (config.get("thumb_size") if isinstance(config, dict) else None)


def _cli(args: argparse.Namespace) -> int:
    from .data import PairDataset
    from .train import data_resize

    if args.threads:
        torch.set_num_threads(args.threads)
    data = list(PairDataset(args.data, resize=data_resize()))
    train = list(PairDataset(args.train_data, resize=data_resize())) if args.train_data else None
    methods = {}
    if args.model:
        methods[Path(args.model).name] = model_view(args.model)
    result = compare(methods, data, train=train, official=args.official)
    if args.per_image:
        for e in result.evaluations:
            print(e.table(), end="\n\n")
    print(result.table())
    if args.csv:
        print(f"per-photo scores: {result.to_csv(args.csv)}")
    return 0
