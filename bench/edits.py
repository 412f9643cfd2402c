"""Undoing random edits (csrnet_lite.edits): does the condition network earn its place, and does it carry over?

    .venv/bin/python bench/edits.py [--seeds 0,1,2] [--jobs 2] [--fivek ../shared/fivek]   # the table
    .venv/bin/python bench/edits.py --select [--mild 0.5 --look 1 ...]                     # choosing
    .venv/bin/python bench/edits.py --strengths 0.85,0.7      # also CSRNet moved towards doing nothing

Train on edits of data_samples targets (all but the held-out photos, a fresh edit at every draw) and
score on fixed unseen edits (seed 1, the default family) of unseen photos:
- "unseen photos": 6 data_samples photos held out (a split by photo), 10 edits each;
- "another collection": the expert-C targets of a FiveK folder (a split by collection), 4 edits each,
  when the folder exists (research use only; never shipped).
Methods: identity; the best fixed colour map (`TrainConfig.fixed`, fitted to 8 edits per training photo);
the same training with the modulation heads frozen at zero (modulations off); CSRNet (`TrainConfig.edits`);
the exact inverse of each edit (the ceiling). Each row: mean PSNR over pairs and seeds, its spread over
seeds, the lowest seed, the worst photo against doing nothing (mean over seeds), the worst pair of any seed
against doing nothing, and the number of pairs below doing nothing (all seeds). The load of the machine is printed with
the times.

--select is how the recipe was chosen, without the photos above: train on the 18 training photos
that came with gcompris-qt-data and score on the 4 from other packages (10 edits each, seed 2), a split
by source inside the training photos. The options (--mild, --look, --thumb, ...) override the recipe.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from csrnet_lite.data import PairDataset
from csrnet_lite.edits import EditSource, by_photo, modulations_off, score
from csrnet_lite.evaluate import as_function, format_table
from csrnet_lite.model import CondView
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import DATA_SAMPLES
from csrnet_lite.train import fixed_colour_map, init_model, train

FIVEK = Path(__file__).resolve().parents[1].parent / "shared" / "fivek"
OVERRIDES = dict(steps=int, thumb=int, crop=float, mild=float, look=float, penalty=float, loss=str, lr=float)
NAMES = dict(thumb="thumb_size", penalty="modulation_penalty")


def split(select: bool, fivek: str) -> tuple[EditSource, dict[str, list]]:
    """(training photos, {set name: pairs to score}) for the report (default) or for choosing (select)."""
    photos = EditSource.from_photos(PairDataset(DATA_SAMPLES))
    held = sorted(photos.names)[::5]  # 6 of the 28 photos, unseen in training
    train_photos, test_photos = photos.split(held)
    if select:
        manifest = json.loads((Path(DATA_SAMPLES) / "manifest.json").read_text())
        other = {p["name"] for p in manifest["pairs"] if p["source"].get("package") != "gcompris-qt-data"}
        train_photos, val = train_photos.split(other & set(train_photos.names))
        return train_photos, {"other packages": val.pairs(per_photo=10, seed=2)}
    sets = {"unseen photos": test_photos.pairs(per_photo=10, seed=1)}
    if Path(fivek).is_dir():
        sets["another collection"] = EditSource.from_photos(PairDataset(fivek)).pairs(per_photo=4, seed=1)
    return train_photos, sets


def run(job: tuple) -> tuple:
    """One training (a worker process): (seed, off, args) -> (seed, method, {set: {method: scores}}, seconds)."""
    seed, off, args = job
    torch.set_num_threads(args.threads)
    train_photos, sets = split(args.select, args.fivek)
    config = recipe(args, seed)
    start = time.perf_counter()
    model = modulations_off(init_model(config, train_photos)) if off else None
    model = train(model, train_photos, config).model
    seconds = time.perf_counter() - start
    name = "modulations off" if off else "CSRNet (edits)"
    view = CondView.trained_on(config.thumb_size)
    methods = {name: model}
    if not off:  # the retouch moved towards doing nothing: input + strength * (output - input)
        methods |= {f"CSRNet at strength {a:g}": as_function(model, view, a) for a in args.strengths}
    return seed, name, {s: score(methods, pairs, view) for s, pairs in sets.items()}, seconds


def recipe(args, seed: int) -> TrainConfig:
    overrides = {NAMES.get(k, k): getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    return TrainConfig.edits(seed=seed, progress=False, **overrides)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0")
    p.add_argument("--jobs", type=int, default=1, help="trainings at once, each in its own process")
    p.add_argument("--threads", type=int, default=1, help="threads per training")
    p.add_argument("--fivek", default=str(FIVEK))
    p.add_argument("--select", action="store_true", help="the split the recipe was chosen on (docstring)")
    p.add_argument("--no-off", action="store_true", help="skip the modulations-off control")
    p.add_argument("--json", default=None, help="also write every pair's PSNR here")
    p.add_argument("--strengths", type=lambda t: [float(a) for a in t.split(",")], default=[],
                   help="also score CSRNet moved towards doing nothing at these strengths (e.g. 0.85,0.7)")
    for name, kind in OVERRIDES.items():
        p.add_argument(f"--{name}", type=kind, default=None, help=f"override TrainConfig.edits' {NAMES.get(name, name)}")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    train_photos, sets = split(args.select, args.fivek)
    fixed = fixed_colour_map(train_photos)
    base = {"identity": lambda x: x, "best fixed map": fixed, "exact inverse": "exact inverse"}
    rows = {(s, name): [v] * len(seeds) for s, pairs in sets.items() for name, v in score(base, pairs).items()}
    jobs = [(seed, off, args) for seed in seeds for off in ([False] if args.no_off else [True, False])]
    seconds = {}
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for _seed, name, scores, took in pool.map(run, jobs):
            seconds.setdefault(name, []).append(took)
            for s, methods in scores.items():
                for name, values in methods.items():
                    rows.setdefault((s, name), []).append(values)
    order = ["identity", "best fixed map", "modulations off", "CSRNet (edits)",
             *(f"CSRNet at strength {a:g}" for a in args.strengths), "exact inverse"]
    rows = {key: rows[key] for s in sets for name in order if (key := (s, name)) in rows}
    config = recipe(args, 0)
    print(f"{len(train_photos.photos)} training photos; seeds {args.seeds}; {config.steps} steps; thumb "
          f"{config.thumb_size}, crop {config.crop}, mild {config.mild}, look {config.look}, penalty "
          f"{config.modulation_penalty}, loss {config.loss}, lr {config.lr}")
    print(summary(rows))
    load = os.getloadavg()
    for name, values in seconds.items():
        print(f"{name}: {statistics.mean(values):.0f} s per run of {config.steps} steps ({min(values):.0f}-"
              f"{max(values):.0f}), {args.threads} thread(s), {args.jobs} at once, load average "
              f"{load[0]:.1f} (15 min: {load[2]:.1f}) on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{s}|{name}": v for (s, name), v in rows.items()}))
    return 0


def summary(rows) -> str:
    """One row per (pairs, method): mean over seeds of the mean PSNR, its spread over seeds, the
    lowest seed, the worst photo (mean over its edits and the seeds), the worst pair of any seed
    against doing nothing and the pairs below doing nothing (all seeds)."""
    out = []
    for (set_name, name), runs in rows.items():
        means = [statistics.mean(r.values()) for r in runs]
        base = rows[(set_name, "identity")]
        gains = {k: statistics.mean(r[k] - b[k] for r, b in zip(runs, base)) for k in runs[0]}
        every = {(i, k): r[k] - b[k] for i, (r, b) in enumerate(zip(runs, base)) for k in r}
        below = sum(gain < 0 for gain in every.values())
        photo = by_photo(gains)
        (_, worst), worst_photo = min(every, key=every.get), min(photo, key=photo.get)
        out.append((set_name, name, f"{statistics.mean(means):.2f}",
                    f"{statistics.stdev(means):.2f}" if len(means) > 1 else "-", f"{min(means):.2f}",
                    f"{worst_photo} {photo[worst_photo]:+.2f}", f"{worst} {min(every.values()):+.2f}",
                    f"{below}/{len(runs) * len(runs[0])}"))
    return format_table(("pairs", "method", "PSNR dB", "sd over seeds", "lowest seed", "worst photo vs identity",
                         "worst pair vs identity", "pairs below identity"), out)


if __name__ == "__main__":
    sys.exit(main())
