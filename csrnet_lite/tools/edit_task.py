"""The command line's edit task (`train --edits`, `evaluate --edits`, `cv --edits`): random edits of a
root's targets (`csrnet_lite.edits`) where the other commands read its pairs. Imported by a command
when it runs, so that --help needs no torch.
"""
from __future__ import annotations

import argparse

from ..crossval import items, standard_methods
from ..data import PairDataset
from ..edits import EditSource, photo_folds, recipe as edit_recipe
from ..recipes import TrainConfig


def edit_source(data: PairDataset, root: str) -> EditSource:
    """`train --edits`: the targets of `data` as an EditSource (a fresh edit at every draw), said in one line."""
    source = EditSource.from_photos(data)
    print(f"pairs: random edits of the {len(source.photos)} targets in {root} (their inputs are not used), a "
          f"fresh edit at every draw; {source.per_photo} fixed edits of each for the fitted start")
    return source


def evaluation_pairs(data: PairDataset, train_data: PairDataset | None, edits: bool) -> tuple[list, list | None]:
    """`evaluate`'s (pairs to score, pairs to fit the baselines on): those of --data and --train-data,
    or with --edits 4 edits (seed 1) of each --data target and 8 (seed 0) of each --train-data target."""
    train = list(train_data) if train_data else None
    if not edits:
        return list(data), train
    train = list(EditSource.from_photos(train)) if train else None
    return EditSource.from_photos(list(data)).pairs(per_photo=4, seed=1), train


def check_cv(args: argparse.Namespace) -> None:
    """`cv --edits` takes neither --by-source nor --recipe (checked before any work)."""
    if args.by_source or args.recipe:
        raise ValueError("cv --edits cross-validates the edits recipe with folds by photo; "
                         "leave out --by-source and --recipe")


def cv_setup(dataset: PairDataset, root: str, k: int, seeds: list[int], steps: int | None):
    """`cv --edits`: (items, methods, folds, what) for the edits recipe against the baselines on 4 random
    edits of each target, folds by photo."""
    source = EditSource.from_photos(dataset)
    pairs = source.pairs(per_photo=4, seed=1)
    methods = standard_methods()
    for seed in seeds:
        config = TrainConfig.edits(progress=False, seed=seed, **({"steps": steps} if steps else {}))
        methods["edits" if len(seeds) == 1 else f"edits s{seed}"] = edit_recipe(config)
    folds = photo_folds(pairs, k)
    what = (f"the edits recipe on {len(pairs)} random edits of {len(source.photos)} photos from {root}, "
            f"{len(folds)} folds by photo")
    return items(pairs), methods, folds, what
