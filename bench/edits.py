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
from dataclasses import replace
from pathlib import Path

import torch

from csrnet_lite.data import PairDataset
from csrnet_lite.edits import EditSource, modulations_off, undo
from csrnet_lite.evaluate import evaluate, format_table
from csrnet_lite.image import CondView
from csrnet_lite.fit import init_model
from csrnet_lite.metrics import psnr
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
        fivek = PairDataset(args.fivek)
        unique = {}
        for s in fivek:
            unique.setdefault(s.id, s)
        sets["another collection"] = EditSource.from_photos(list(unique.values())).pairs(per_photo=4, seed=1)
    rows, seconds = {}, {}
    fixed = init_model(TrainConfig.fixed(), train_photos).eval()
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = TrainConfig.edits(seed=seed, progress=False, **overrides)
        methods = {"identity": lambda x: x, "fixed map": fixed}
        if not args.no_off:
            start = time.perf_counter()
            off = train(modulations_off(init_model(config, train_photos)), train_photos, config)
            seconds.setdefault("modulations off", []).append(time.perf_counter() - start)
            methods["modulations off"] = off.model
        start = time.perf_counter()
        result = train(None, train_photos, config)
        seconds.setdefault("CSRNet", []).append(time.perf_counter() - start)
        methods["CSRNet (edits)"] = result.model
        for set_name, pairs in sets.items():
            for name, method in methods.items():
                rows.setdefault((set_name, name), []).append(score(method, pairs, config.thumb_size))
            rows.setdefault((set_name, "exact inverse"), []).append(
                {p.id: float(psnr(undo(p.input, p.edit), p.target)[0]) for p in pairs})
    print(table(rows))
    load = os.getloadavg()[0]
    for name, values in seconds.items():
        print(f"{name}: {statistics.mean(values):.0f} s per run of {args.steps} steps, {args.threads} thread(s), "
              f"load average {load:.1f} on {os.cpu_count()} cores")
    return 0


def score(method, pairs, thumb_size) -> dict[str, float]:
    """Pair id -> PSNR (dB, 8-bit) of `method` (a CSRNet conditioned on its training view, or a function)."""
    evaluation = evaluate(method, pairs, view=CondView.trained_on(thumb_size))
    return {s.id: s.psnr for s in evaluation.images}


def table(rows) -> str:
    out = []
    for (set_name, name), runs in rows.items():
        means = [statistics.mean(r.values()) for r in runs]
        base = rows[(set_name, "identity")]
        gains = {k: statistics.mean(r[k] - b[k] for r, b in zip(runs, base)) for k in runs[0]}
        worst = min(gains, key=gains.get)
        out.append((set_name, name, f"{statistics.mean(means):.2f}",
                    f"{statistics.stdev(means):.2f}" if len(means) > 1 else "-",
                    f"{min(statistics.mean(r.values()) for r in runs):.2f}",
                    f"{worst} {gains[worst]:+.2f}"))
    return format_table(("pairs", "method", "PSNR dB", "sd over seeds", "lowest seed", "worst pair vs identity"), out)


if __name__ == "__main__":
    sys.exit(main())
