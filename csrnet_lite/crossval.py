"""Cross-validation: how well does a way of learning a retouch do on photos it has never seen?

    cv = crossvalidate(data, standard_methods(TrainConfig.default()), kfold(data, 5))  # recipes.TrainConfig
    print(cv)                       # per method: mean PSNR, spread over folds, worst photo vs identity
    cv.difference("default", cv.best_fixed())   # (mean dB, standard error) over the same photos

A *method* here is not a model but a way of making one from training pairs: a function
`fit(train) -> retouch`, where `train` is a list of `data.Pair`s and `retouch` maps an input
(1, 3, H, W) in [0, 1] to an output. Every method is fitted afresh on the training pairs of each fold
and scored on the held-out pairs of that fold, so every photo is scored exactly once, by a model that
never saw it. Two kinds of folds:

- `kfold(data, k)`: k folds of about equal size, each holding out a mix of sources;
- `by_source(data)`: leave one source out (a source is the folder a pair comes from in a root that
  holds several layouts, e.g. ../shared/fivek/dpe), the harder question: does it carry over to
  photos rendered another way?

The baselines (`standard_methods`): doing nothing, the polynomial colour transforms of degree 1..3,
and the recipe's own fitted starting point (`train.init_model` with no training steps: the best
fixed colour map in CSRNet's base network). "The best fixed colour transform" is the best of these
by mean PSNR (`CrossValidation.best_fixed`); a trained recipe has to beat it to earn its
condition network. PSNR is on 8-bit values of the clamped output, as in `evaluate`.

Introduced in notebook 05 (`05_training`).
"""
from __future__ import annotations

import csv
import hashlib
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from .baselines import ColourTransform, identity
from .data import Pair, iter_pairs
from .evaluate import PhotoFn, as_function, format_table
from .files import atomic_path
from .metrics import psnr
from .model import CondView
from .recipes import TrainConfig
from .train import init_model, train as run

Fit = Callable[[list], PhotoFn]  # training Pairs -> a retouch input (1, 3, H, W) -> output

# names of the baselines that do not adapt to the photo (candidates for `best_fixed`)
FIXED_PREFIXES = ("affine", "quadratic", "cubic", "fitted start")


@dataclass(frozen=True)
class Fold:
    """One split of the pairs: `test` ids are held out, all others train."""

    name: str               # "fold 1" ... or the source held out ("dpe")
    test: tuple[str, ...]   # ids of the held-out pairs


@dataclass(frozen=True)
class PhotoScore:
    method: str
    fold: str
    id: str
    source: str
    psnr: float  # dB, 8-bit quantised, of the model fitted without this photo


# ---------------------------------------------------------------------------------------------------
# data and folds

def items(data) -> list[Pair]:
    """The pairs of `data` as a list of `Pair`s, read once (a PairDataset decodes each pair once
    here), each with its source; (input, target) tuples have source "". Ids must be unique."""
    out = list(iter_pairs(data))
    ids = [x.id for x in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"cross-validation needs unique ids; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
    if len(out) < 2:
        raise ValueError(f"cross-validation needs at least 2 pairs, got {len(out)}")
    return out


def _rank(id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{id}".encode()).hexdigest()


def kfold(data, k: int = 5, seed: int = 0) -> list[Fold]:
    """k folds of (almost) equal size. Pairs are ordered by source, then by a hash of (seed, id), and
    dealt round-robin, so each fold holds out a mix of sources and a pair's fold does not depend on
    the order of the files. `data`: anything `items` reads, or a list of Pairs."""
    pairs = data if _all_items(data) else items(data)
    if not 2 <= k <= len(pairs):
        raise ValueError(f"k must be between 2 and the number of pairs ({len(pairs)}), got {k}")
    order = sorted(pairs, key=lambda x: (x.source, _rank(x.id, seed)))
    return [Fold(f"fold {i + 1}", tuple(x.id for x in order[i::k])) for i in range(k)]


def by_source(data) -> list[Fold]:
    """Leave one source out: one fold per source, holding out all of its pairs."""
    pairs = data if _all_items(data) else items(data)
    sources = sorted({x.source for x in pairs})
    if len(sources) < 2:
        raise ValueError(f"leave-one-source-out needs pairs from at least 2 sources (subfolders), "
                         f"found {sources}; use kfold instead")
    return [Fold(s, tuple(x.id for x in pairs if x.source == s)) for s in sources]


def _all_items(data) -> bool:
    return isinstance(data, (list, tuple)) and all(isinstance(x, Pair) for x in data)


# ---------------------------------------------------------------------------------------------------
# methods

def fixed_transform(degree: int) -> Fit:
    """The polynomial colour transform of `degree` fitted by least squares on the training pairs."""
    return lambda train: ColourTransform.fit(train, degree)


def fitted_start(config=None) -> Fit:
    """A recipe's starting point without any training step (`train.init_model`); by default
    `TrainConfig.fixed()`: the base network fitted by ridge regression as one fixed colour map."""
    config = config or TrainConfig.fixed()

    def fit(train):
        model = init_model(config, [(x.input, x.target) for x in train]).eval()
        return as_function(model, CondView.trained_on(config.thumb_size))
    return fit


def recipe(config) -> Fit:
    """Train CSRNet with `config` (a recipes.TrainConfig) on the training pairs."""
    def fit(train):
        result = run(None, [(x.input, x.target) for x in train], config)
        return as_function(result.model, result.view)
    return fit


def standard_methods(*configs, degrees: Sequence[int] = (1, 2, 3), start=None) -> dict[str, Fit]:
    """identity, the colour transforms of `degrees`, the fitted start (of the config `start`, by
    default `TrainConfig.fixed()`: the fixed colour map in CSRNet's base network), then one trained
    method per config, named by `config.recipe` (pass configs with distinct recipe names, e.g.
    dataclasses.replace(c, recipe="default s1", seed=1))."""
    names = [c.recipe for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"recipes need distinct names, got {names}")
    methods: dict[str, Fit] = {"identity": lambda train: identity}
    for d in degrees:
        methods[str(ColourTransform(d, torch.zeros(1)))] = fixed_transform(d)
    methods["fitted start"] = fitted_start(start)
    for config in configs:
        methods[config.recipe] = recipe(config)
    return methods


# ---------------------------------------------------------------------------------------------------
# running and reading

@dataclass(frozen=True)
class CrossValidation:
    """Held-out scores of every method on every photo, and what they say."""

    folds: tuple[Fold, ...]
    scores: tuple[PhotoScore, ...]
    train_psnr: dict[str, float] = field(default_factory=dict)  # method -> mean PSNR on its training photos
    seconds: dict[str, float] = field(default_factory=dict)     # method -> fitting time per fold
    train_size: int | None = None                                # pairs each fold trained on, if capped

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(s.method for s in self.scores))

    def per_photo(self, method: str) -> dict[str, float]:
        """Photo id -> held-out PSNR of `method` (dB)."""
        out = {s.id: s.psnr for s in self.scores if s.method == method}
        if not out:
            raise KeyError(f"no method {method!r}; have {self.methods}")
        return out

    def mean(self, method: str) -> float:
        """Mean held-out PSNR over all photos (each photo counted once)."""
        values = list(self.per_photo(method).values())
        return sum(values) / len(values)

    def fold_means(self, method: str) -> list[float]:
        by_fold = {}
        for s in self.scores:
            if s.method == method:
                by_fold.setdefault(s.fold, []).append(s.psnr)
        return [sum(v) / len(v) for v in by_fold.values()]

    def spread(self, method: str) -> float:
        """Standard deviation of the fold means (dB); 0 with one fold."""
        return _std(self.fold_means(method))

    def gains(self, method: str, baseline: str = "identity") -> dict[str, float]:
        """Photo id -> PSNR of `method` minus PSNR of `baseline` on that photo (dB)."""
        base = self.per_photo(baseline)
        return {id: p - base[id] for id, p in self.per_photo(method).items()}

    def worst(self, method: str, baseline: str = "identity") -> tuple[str, float]:
        """(photo id, dB) of the photo where `method` does worst relative to `baseline`."""
        gains = self.gains(method, baseline)
        id = min(gains, key=gains.get)
        return id, gains[id]

    def difference(self, a: str, b: str) -> tuple[float, float]:
        """(mean of PSNR a - PSNR b over the photos, its standard error) in dB."""
        return paired_difference(self.per_photo(a), self.per_photo(b))

    def verdict(self, a: str, b: str, *, threshold: float = 2.0) -> str:
        """A sentence on a vs b that states a difference only when it is clear of the noise."""
        return verdict(a, b, *self.difference(a, b), threshold=threshold)

    def best_fixed(self) -> str:
        """The fixed (non-adapting) method with the highest mean PSNR."""
        fixed = [m for m in self.methods if m.startswith(FIXED_PREFIXES)]
        if not fixed:
            raise ValueError("no fixed colour transform in this cross-validation")
        return max(fixed, key=self.mean)

    def rows(self) -> list[tuple[str, ...]]:
        fixed = self.best_fixed() if any(m.startswith(FIXED_PREFIXES) for m in self.methods) else None
        out = []
        for m in self.methods:
            wid, worst = self.worst(m) if "identity" in self.methods else ("", math.nan)
            vs = f"{self.mean(m) - self.mean(fixed):+.2f}" if fixed else ""
            train = self.train_psnr.get(m)
            out.append((m, f"{self.mean(m):.2f}", f"{self.spread(m):.2f}", vs, f"{worst:+.2f} ({wid})",
                        "" if train is None else f"{train:.2f}"))
        return out

    def table(self) -> str:
        header = ("method", "PSNR dB", "± folds", "vs best fixed", "worst vs identity", "train PSNR")
        n = len({s.id for s in self.scores})
        kind = ", ".join(f.name for f in self.folds)
        cap = f", {self.train_size} training pairs per fold" if self.train_size else ""
        return format_table(header, self.rows()) + \
            f"\n(held-out PSNR of {n} photos, {len(self.folds)} folds: {kind}{cap})"

    def __str__(self) -> str:
        return self.table()

    def to_csv(self, path) -> Path:
        """Per-photo rows (method, fold, id, source, psnr), written atomically."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["method", "fold", "id", "source", "psnr"])
            writer.writerows((s.method, s.fold, s.id, s.source, f"{s.psnr:.4f}") for s in self.scores)
        return path


def crossvalidate(data, methods: Mapping[str, Fit], folds: Sequence[Fold] | int = 5, *,
                  train_size: int | None = None, train_scores: bool = False, seed: int = 0,
                  progress: bool = False) -> CrossValidation:
    """Fit every method on the training pairs of every fold and score it on the held-out pairs.

    data: a PairDataset, a list of Pairs or (input, target) tuples (read once into memory).
    methods: name -> fit(train Pairs) -> retouch; e.g. `standard_methods(config)`.
    folds: a list of Folds (`kfold`, `by_source`), or k for `kfold(data, k)`.
    train_size: train on only this many of each fold's training pairs (chosen by a hash of (seed, id)):
        the effect of the number of training pairs on unseen photos.
    train_scores: also score every method on its training photos (`train_psnr`: over-fitting).
    """
    pairs = data if _all_items(data) else items(data)
    folds = kfold(pairs, folds) if isinstance(folds, int) else list(folds)
    known = {x.id for x in pairs}
    for fold in folds:
        if not set(fold.test) <= known:
            raise ValueError(f"{fold.name} holds out ids that are not in the data: "
                             f"{sorted(set(fold.test) - known)[:5]}")
    score = lambda retouch, x: float(psnr(retouch(x.input).clamp(0, 1), x.target)[0])  # noqa: E731
    scores, train_sum, seconds = [], {}, {}
    for fold in folds:
        test = [x for x in pairs if x.id in fold.test]
        train = [x for x in pairs if x.id not in fold.test]
        if train_size is not None:
            if not 1 <= train_size <= len(train):
                raise ValueError(f"train_size must be between 1 and {len(train)} (the training pairs of "
                                 f"{fold.name}), got {train_size}")
            train = sorted(train, key=lambda x: _rank(x.id, seed))[:train_size]
        if not train or not test:
            raise ValueError(f"{fold.name} leaves no {'training' if not train else 'held-out'} pairs")
        for name, fit in methods.items():
            start = time.perf_counter()
            retouch = fit(train)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            with torch.no_grad():
                scores += [PhotoScore(name, fold.name, x.id, x.source, score(retouch, x)) for x in test]
                if train_scores:
                    train_sum.setdefault(name, []).append(sum(score(retouch, x) for x in train) / len(train))
            if progress:
                print(f"{fold.name}: {name} fitted in {time.perf_counter() - start:.1f} s", flush=True)
    return CrossValidation(tuple(folds), tuple(scores), {k: sum(v) / len(v) for k, v in train_sum.items()},
                           {k: v / len(folds) for k, v in seconds.items()}, train_size)


def paired_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """Scores of two methods on the same photos (id -> dB) -> (mean of a - b, its standard error)."""
    if set(a) != set(b):
        raise ValueError("paired_difference needs scores of the same photos")
    d = [a[id] - b[id] for id in a]
    return sum(d) / len(d), _std(d) / math.sqrt(len(d)) if len(d) > 1 else math.inf


def verdict(a: str, b: str, mean: float, se: float, *, threshold: float = 2.0) -> str:
    """A sentence comparing a and b that states a difference only when |mean| exceeds `threshold`
    standard errors (and 0.05 dB); else "no clear difference"."""
    noise = threshold * se
    if abs(mean) <= max(noise, 0.05):
        return f"no clear difference between {a} and {b} ({mean:+.2f} dB, noise ±{noise:.2f} dB)"
    return f"{a} is {abs(mean):.2f} dB {'better' if mean > 0 else 'worse'} than {b} (noise ±{noise:.2f} dB)"


def _std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for fewer than two values."""
    values = list(values)
    return statistics.stdev(values) if len(values) > 1 else 0.0
