"""Undoing random edits (csrnet_lite.edits): does the condition network earn its place, and does it carry over?

    .venv/bin/python bench/edits.py [--steps 3000] [--seeds 0,1] [--threads 1] [--fivek ../shared/fivek]

Train on edits of data_samples targets (all but the held-out photos, a fresh edit at every draw) and
score on fixed unseen edits of unseen photos:
- "unseen photos": 6 data_samples photos held out (a split by photo), 10 edits each;
- "another collection": the expert-C targets of a FiveK folder (a split by collection), 4 edits each,
  when the folder exists (research use only; never shipped).
Methods: identity; the best fixed colour map (`TrainConfig.fixed`, fitted to 8 edits per training photo);
the same training with the modulation heads frozen at zero (modulations off); CSRNet (`TrainConfig.edits`);
the exact inverse of each edit (the ceiling). Each row: mean PSNR over pairs, spread over seeds, and
the worst pair against doing nothing. Load the machine carries is printed with the times.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from csrnet_lite.data import PairDataset
from csrnet_lite.edits import EditSource, by_photo, modulations_off, score
from csrnet_lite.evaluate import format_table
from csrnet_lite.model import CondView
from csrnet_lite.train import init_model
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import DATA_SAMPLES
from csrnet_lite.train import train



def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=TrainConfig.edits().steps)
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fivek", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "fivek"))
    p.add_argument("--thumb", type=int, default=None)
    p.add_argument("--crop", type=float, default=None)
    p.add_argument("--no-off", action="store_true", help="skip the modulations-off control")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in dict(steps=args.steps, thumb_size=args.thumb, crop=args.crop).items()
                 if v is not None}
    photos = EditSource.from_photos(PairDataset(DATA_SAMPLES))
    held = sorted(photos.names)[::5]  # 6 of the 28 photos, unseen in training
    train_photos, test_photos = photos.split(held)
    sets = {"unseen photos": test_photos.pairs(per_photo=10, seed=1)}
    if Path(args.fivek).is_dir():
        sets["another collection"] = EditSource.from_photos(PairDataset(args.fivek)).pairs(per_photo=4, seed=1)
    rows, seconds = {}, {}
    fixed = init_model(TrainConfig.fixed(), train_photos).eval()
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = TrainConfig.edits(seed=seed, progress=False, **overrides)
        methods = {"identity": lambda x: x, "best fixed map": fixed}
        if not args.no_off:
            start = time.perf_counter()
            methods["modulations off"] = train(modulations_off(init_model(config, train_photos)), train_photos,
                                               config).model
            seconds.setdefault("modulations off", []).append(time.perf_counter() - start)
        start = time.perf_counter()
        methods["CSRNet (edits)"] = train(None, train_photos, config).model
        seconds.setdefault("CSRNet (edits)", []).append(time.perf_counter() - start)
        methods["exact inverse"] = "exact inverse"
        for set_name, pairs in sets.items():
            for name, s in score(methods, pairs, CondView.trained_on(config.thumb_size)).items():
                rows.setdefault((set_name, name), []).append(s)
    print(f"{len(train_photos.photos)} training photos; seeds {args.seeds}; {args.steps} steps; "
          f"thumb {TrainConfig.edits(**overrides).thumb_size}, crop {TrainConfig.edits(**overrides).crop}")
    print(summary(rows))
    load = os.getloadavg()[0]
    for name, values in seconds.items():
        print(f"{name}: {statistics.mean(values):.0f} s per run of {args.steps} steps, {args.threads} thread(s), "
              f"load average {load:.1f} on {os.cpu_count()} cores")
    return 0


def summary(rows) -> str:
    """One row per (pairs, method): mean over seeds of the mean PSNR, its spread over seeds, the
    lowest seed, the worst photo (mean over its edits) and the worst pair against doing nothing."""
    out = []
    for (set_name, name), runs in rows.items():
        means = [statistics.mean(r.values()) for r in runs]
        base = rows[(set_name, "identity")]
        gains = {k: statistics.mean(r[k] - b[k] for r, b in zip(runs, base)) for k in runs[0]}
        photo = by_photo(gains)
        worst, worst_photo = min(gains, key=gains.get), min(photo, key=photo.get)
        out.append((set_name, name, f"{statistics.mean(means):.2f}",
                    f"{statistics.stdev(means):.2f}" if len(means) > 1 else "-", f"{min(means):.2f}",
                    f"{worst_photo} {photo[worst_photo]:+.2f}", f"{worst} {gains[worst]:+.2f}"))
    return format_table(("pairs", "method", "PSNR dB", "sd over seeds", "lowest seed", "worst photo vs identity",
                         "worst pair vs identity"), out)


if __name__ == "__main__":
    sys.exit(main())
