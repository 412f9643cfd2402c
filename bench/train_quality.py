"""Does the default recipe beat the best fixed colour transform on photos it has never seen?

    .venv/bin/python bench/train_quality.py [--folds 5] [--recipe fast --steps 300] [--seeds 0,1]
    .venv/bin/python bench/train_quality.py --pretrained edits.pt [--pretrained-steps 150]
    .venv/bin/python bench/train_quality.py --pretrain-folds [--pretrained-steps 150]

On ../shared/fivek (real FiveK pairs from five sources, research-only, read in place; long edge 512
as the papers do), cross-validates every method twice with `csrnet_lite.crossval`: 5 folds over all
pairs, and leave-one-source-out. Each method is fitted afresh on the training pairs of each fold and
scored on the held-out ones, so every number is on unseen photos and no setting was chosen on them
(the default recipe chooses its ridge strength by cross-validation inside each fold's training pairs).
Methods: doing nothing, the polynomial colour transforms, the fitted start (CSRNet's base network as
one fixed colour map), the default recipe, and any `--recipe` asked for (each at `--steps`).

`--pretrained PATH` adds pre-training on random edits (`TrainConfig.pretrained`): the model file PATH
(e.g. `python -m csrnet_lite train --data data_samples --edits --out PATH`: data_samples' photos, another
collection than FiveK, so nothing of a held-out photo leaks in), its last layer refitted to each
fold's training pairs by ridge regression; with `--pretrained-steps N` also that refit followed by N
gradient steps of `fast` at a tenth of its learning rate. `--pretrain-folds` pre-trains instead on random
edits of each fold's own training targets (`TrainConfig.edits`, one run per fold, ~150 s each on one
thread): the expert's look of the same collection, and still nothing of a held-out photo.

Targets (both cross-validations): the default recipe's mean PSNR >= the best fixed colour transform's
+ 0.5 dB, and its worst photo relative to doing nothing no worse than that transform's worst photo.
Also prints the fitting time per fold (one thread; timings depend on what else runs on the machine).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

from csrnet_lite.crossval import by_source, crossvalidate, items, kfold, recipe, standard_methods
from csrnet_lite.data import PairDataset
from csrnet_lite.edits import EditSource
from csrnet_lite.image import Resize
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import SHARED
from csrnet_lite.train import train

RESIZE = Resize.LONG_512
GOAL_DB = 0.5  # the default recipe over the best fixed colour transform


def configs(recipes: list[str], steps: int | None, seeds: list[int]) -> list[TrainConfig]:
    out = []
    for name in ["default", *recipes]:
        base = getattr(TrainConfig, name)(progress=False)
        if steps is not None and name != "default":
            base = dataclasses.replace(base, steps=steps, minutes=None)
        for seed in seeds if name != "default" else [0]:  # the default recipe's only randomness is
            label = name if len(seeds) == 1 or name == "default" else f"{name} s{seed}"  # its pixel sample
            out.append(dataclasses.replace(base, recipe=label, seed=seed))
    return out


def after_pretraining(path: str, name: str, steps: int = 0) -> TrainConfig:
    """Transfer learning from the model file `path`: its last layer refitted, then `steps` gradient steps
    at a tenth of `fast`'s learning rate (2e-4) when steps > 0."""
    return TrainConfig.pretrained(path, recipe=name, progress=False, **(dict(steps=steps, lr=2e-4) if steps else {}))


def pretrained_on_folds(folder: Path, steps: int) -> dict:
    """Methods that pre-train on random edits of each fold's training targets, then refit the last layer
    (and, with `steps`, train that many steps at lr 2e-4): name -> fit, as `standard_methods` gives."""
    made: dict[tuple, str] = {}

    def model_for(train_pairs) -> str:  # one pre-training per fold, shared by the two methods
        key = tuple(sorted(x.id for x in train_pairs))
        if key not in made:
            path = str(folder / f"fold{len(made)}.pt")
            train(None, EditSource.from_photos(train_pairs), TrainConfig.edits(progress=False), checkpoint=path)
            made[key] = path
        return made[key]

    def method(name: str, after: int):
        return lambda train_pairs: recipe(after_pretraining(model_for(train_pairs), name, after))(train_pairs)
    methods = {"edits of fold targets": method("edits of fold targets", 0)}
    if steps:
        methods[f"the same + {steps} steps"] = method(f"the same + {steps} steps", steps)
    return methods


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(SHARED / "fivek"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--recipe", action="append", default=[], choices=("fast", "paper", "finetune"),
                   help="also cross-validate this recipe (repeat the option)")
    p.add_argument("--steps", type=int, default=None, help="steps of the extra recipes (default: theirs)")
    p.add_argument("--seeds", default="0", help="seeds of the extra recipes, comma-separated")
    p.add_argument("--pretrained", default=None, help="a model pre-trained on random edits (thumb_size 64)")
    p.add_argument("--pretrained-steps", type=int, default=0, help="gradient steps after its refit (0: none)")
    p.add_argument("--pretrain-folds", action="store_true",
                   help="also pre-train on random edits of each fold's training targets, then refit")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--csv", default=None, help="write per-photo held-out scores here (two files)")
    args = p.parse_args(argv)
    root = Path(args.data)
    if not root.exists():
        print(f"no data at {root}: this bench needs the shared FiveK pairs", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    data = items(PairDataset(root, resize=RESIZE))
    cfgs = configs(args.recipe, args.steps, [int(s) for s in args.seeds.split(",")])
    if args.pretrained:
        cfgs.append(after_pretraining(args.pretrained, "edits-pretrained"))
        if args.pretrained_steps:
            cfgs.append(after_pretraining(args.pretrained, f"+ {args.pretrained_steps} steps", args.pretrained_steps))
    default = cfgs[0]
    print(f"{len(data)} pairs from {root} ({RESIZE}); default recipe: init={default.init}"
          f"{' (' + default.official_path + ')' if default.official_path else ''}, {default.steps} steps; "
          f"{args.threads} thread(s)")
    checks = []
    for title, folds in ((f"{args.folds} folds", kfold(data, args.folds)), ("leave one source out", by_source(data))):
        start = time.perf_counter()
        methods = standard_methods(*cfgs)
        with tempfile.TemporaryDirectory() as folder:
            if args.pretrain_folds:
                methods |= pretrained_on_folds(Path(folder), args.pretrained_steps)
            cv = crossvalidate(data, methods, folds)
        print(f"\n{title} ({time.perf_counter() - start:.0f} s)")
        print(cv)
        print("fitting time per fold: " + ", ".join(f"{m} {s:.1f} s" for m, s in cv.seconds.items()))
        if args.csv:
            cv.to_csv(Path(args.csv).with_suffix(f".{'source' if 'source' in title else 'folds'}.csv"))
        fixed = cv.best_fixed()
        gain = cv.mean("default") - cv.mean(fixed)
        worst, fixed_worst = cv.worst("default")[1], cv.worst(fixed)[1]
        print(cv.verdict("default", fixed))
        checks += [(f"{title}: default - best fixed ({fixed})", gain, f">= +{GOAL_DB} dB", gain >= GOAL_DB),
                   (f"{title}: worst photo vs identity, default - best fixed", worst - fixed_worst, ">= 0 dB",
                    worst >= fixed_worst)]
        for m in cv.methods[cv.methods.index("default") + 1:]:
            print(f"{m}: {cv.verdict(m, fixed)}; worst photo {cv.worst(m)[1]:+.2f} dB ({cv.worst(m)[0]}) "
                  f"against doing nothing")
    print()
    width = max(len(c[0]) for c in checks)
    for what, value, target, ok in checks:
        print(f"{what.ljust(width)}  {value:+7.2f}  {target:>10}  {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
