"""Does the `fast` recipe beat the `paper` recipe, and a fixed colour transform, at equal time?

    .venv/bin/python bench/train_quality.py [--minutes 5] [--threads 1] [--finetune]

On ../shared/fivek (real FiveK pairs, research-only, read in place), split by id into training and
validation pairs (fixed below), trains each recipe for the same wall-clock budget in its own process
(so that its peak memory is its own), then scores everything on the validation pairs in one table:
identity, the best fixed global colour transforms fitted on the training pairs, the authors' weights
as released (when present), `paper`, `fast`, and with --finetune `fast` started from the authors'
weights. Photos are resized to long edge 512, as the papers do. Targets (issue 4): `fast` above the
best fixed colour transform (aim +0.5 dB), >= +2 dB over identity, >= +1 dB over `paper`, >= 100
photos/s seen, peak memory <= 2 GB. Timings depend on what else runs on the machine: say so.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from csrnet_lite.checkpoint import load_model
from csrnet_lite.data import PairDataset
from csrnet_lite.evaluate import compare
from csrnet_lite.image import Resize
from csrnet_lite.pairs import find_pairs, split_by_id
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import SHARED, official_weights_path, smoke_mode
from csrnet_lite.train import train

VAL_FRACTION, SPLIT_SEED = 0.25, 0  # 16 training / 7 validation pairs of the 23 shared ones
RESIZE = Resize.LONG_512


def recipe(name: str, minutes: float) -> TrainConfig:
    budget = dict(minutes=minutes, progress=False)  # and each recipe's own step count
    if name == "paper":
        return TrainConfig.paper(**budget)
    if name == "fast":
        return TrainConfig.fast(**budget)
    if name == "finetune":
        return TrainConfig.finetune(str(official_weights_path()), **budget)
    raise ValueError(f"unknown recipe {name!r}")


def split(root: Path):
    train_pairs, val_pairs = split_by_id(find_pairs(root), VAL_FRACTION, SPLIT_SEED)
    return train_pairs, val_pairs


def worker(args) -> None:
    """Train one recipe and print one JSON line of stats (run in a child process)."""
    torch.set_num_threads(args.threads)
    train_pairs, _ = split(Path(args.data))
    config = recipe(args.worker, args.minutes)
    result = train(None, PairDataset(train_pairs, resize=RESIZE), config, checkpoint=args.out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(dict(steps=result.steps, images_per_second=result.images_per_second,
                          seconds=result.seconds, peak_mb=peak_mb)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=0.1 if smoke_mode() else 5.0,
                   help="training budget per recipe (default 5; 0.1 in smoke mode)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per training run (default 1: on a shared machine two threads can "
                        "run several times slower than one when another process holds a core)")
    p.add_argument("--data", default=str(SHARED / "fivek"))
    p.add_argument("--finetune", action="store_true", help="also fine-tune the authors' weights")
    p.add_argument("--csv", default=None, help="write per-photo scores here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    root = Path(args.data)
    if not root.exists():
        print(f"no data at {root}: this bench needs the shared FiveK pairs", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    train_pairs, val_pairs = split(root)
    print(f"{len(train_pairs)} training pairs, {len(val_pairs)} validation pairs "
          f"({', '.join(p.id for p in val_pairs)}); {RESIZE}; {args.minutes:g} min per recipe, "
          f"{args.threads} threads")
    names = ["paper", "fast"] + (["finetune"] * (args.finetune and official_weights_path().is_file()))
    methods, notes, stats = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.pt"
            start = time.perf_counter()
            run = subprocess.run([sys.executable, __file__, "--worker", name, "--out", str(out), "--data",
                                  args.data, "--minutes", str(args.minutes), "--threads", str(args.threads)],
                                 capture_output=True, text=True)
            if run.returncode:
                print(run.stdout, run.stderr, file=sys.stderr)
                return run.returncode
            stats[name] = s = json.loads(run.stdout.strip().splitlines()[-1])
            label = recipe(name, args.minutes).recipe
            methods[label] = load_model(out)
            notes[label] = (f"{s['steps']} steps, {s['images_per_second']:.1f} photos/s, "
                            f"peak {s['peak_mb']:.0f} MB")
            print(f"trained {label}: {notes[label]} ({time.perf_counter() - start:.0f} s with start-up)")
    train_data = list(PairDataset(train_pairs, resize=RESIZE))
    val_data = list(PairDataset(val_pairs, resize=RESIZE))
    table = compare(methods, val_data, train=train_data, degrees=(1, 2, 3), notes=notes)
    # (`fast` stops after its 1200 steps, `finetune` after 300, `paper` runs the whole budget)
    print()
    print(table)
    if args.csv:
        table.to_csv(args.csv)

    identity, fast, paper = table["identity"], table["fast"], table["paper"]
    fixed = max((e for e in table.evaluations if "colour transform" in e.name), key=lambda e: e.psnr)
    checks = [
        (f"fast - best fixed colour transform ({fixed.name})", fast.psnr - fixed.psnr, "> 0 dB (aim +0.5)",
         fast.psnr - fixed.psnr > 0),
        ("fast - identity", fast.psnr - identity.psnr, ">= +2 dB", fast.psnr - identity.psnr >= 2),
        ("fast - paper (same budget)", fast.psnr - paper.psnr, ">= +1 dB", fast.psnr - paper.psnr >= 1),
        ("fast photos/s seen", stats["fast"]["images_per_second"], ">= 100",
         stats["fast"]["images_per_second"] >= 100),
        ("fast photos/s / paper photos/s",
         stats["fast"]["images_per_second"] / max(stats["paper"]["images_per_second"], 1e-9), "", True),
        ("peak memory of a training run (MB)", max(s["peak_mb"] for s in stats.values()), "<= 2048",
         max(s["peak_mb"] for s in stats.values()) <= 2048),
    ]
    print()
    width = max(len(c[0]) for c in checks)
    for what, value, target, ok in checks:
        print(f"{what.ljust(width)}  {value:+9.2f}  {target:>18}  {'ok' if ok else 'MISSED' if target else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
