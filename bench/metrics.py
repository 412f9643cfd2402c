"""Evaluation metrics: PSNR / SSIM / Delta E of csrnet_lite.metrics, by strips of rows against whole images.

    .venv/bin/python bench/metrics.py [--repeat 3] [--threads 2] [--neighbour] [--synthetic]

Times `metrics.psnr`, `metrics.ssim` and `metrics.delta_e` (defaults: 8-bit quantized, as evaluation
uses them) on one photo pair at long edge 512 and at full size (6 MP). The baseline, measured in the
same run and alternating with it, is the same code on whole images (`metrics.STRIP` raised so that
one strip holds the whole image): SSIM and Delta E are dozens of elementwise steps each, and a strip
of rows keeps every step's arrays in the CPU cache. (The first version of these metrics, float64
convolutions and whole-image CIEDE2000 on torch's threads, is in the git history of this file.)
--neighbour runs a 2-thread torch loop (like a training run in another notebook) in a second process
during the measurements.
The pair is the FiveK photo a0015 (input vs expert C, 2000 x 3008, read in place from ../shared) and
that pair resized to long edge 512; with --synthetic or without ../shared, a smooth random image and
a noisy, tinted copy. The columns:
  whole s / strips s   wall-clock, best of --repeat
  speedup              whole / strips wall-clock; CPU ratio: the same for this process's CPU time
  |strips - whole|     the difference between the two scores (strips change no result beyond rounding)
Target: every score within 1e-5 of the whole-image one. The CPU may be shared with other work:
timings vary from run to run; compare the ratios, measured side by side.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from csrnet_lite import metrics  # noqa: E402
from csrnet_lite.image import to_tensor  # noqa: E402
from csrnet_lite.settings import SHARED  # noqa: E402

from tables import print_table  # bench/tables.py (scripts run from bench/)

PHOTO = "deepupe_pytorch/{}/a0015-DSC_0081.jpg"  # under ../shared/fivek: input / target, 6 MP
TOLERANCE = 1e-5
NEIGHBOUR = "import torch\ntorch.set_num_threads(2)\nx = torch.rand(300_000)\nwhile True:\n    x = (x * 1.0001).sin()"


def photo_pair(synthetic: bool) -> tuple[str, torch.Tensor, torch.Tensor]:
    """(description, input, target) at full size, (1, 3, H, W) float32 in [0, 1]."""
    root = SHARED / "fivek"
    if not synthetic and (root / PHOTO.format("input")).is_file():
        input, target = (to_tensor(Image.open(root / PHOTO.format(kind)).convert("RGB")) for kind in ("input", "target"))
        return "FiveK a0015 input vs expert C", input, target
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 60, 40, generator=gen)
    input = F.interpolate(coarse, size=(3008, 2000), mode="bicubic", align_corners=False).clamp(0, 1)
    noise = 0.03 * torch.randn(input.shape, generator=gen)
    target = (input * torch.tensor([1.1, 1.0, 0.9])[:, None, None] + noise).clamp(0, 1)
    return "synthetic smooth image vs noisy tinted copy", input, target


def long_edge(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[2:]
    scale = size / max(h, w)
    return F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="area").clamp(0, 1)


def timed(fn, repeat: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Run `fn` by strips and on whole images alternately; for each (score, best wall seconds, CPU
    seconds of that run)."""
    results = {"strips": [], "whole": []}
    strip = metrics.STRIP
    try:
        for _ in range(repeat):
            for way in results:
                metrics.STRIP = strip if way == "strips" else 1 << 62  # one strip: the whole image
                wall, cpu = time.perf_counter(), time.process_time()
                score = float(fn()[0])
                results[way].append((time.perf_counter() - wall, time.process_time() - cpu, score))
    finally:
        metrics.STRIP = strip
    return tuple((min(runs)[2], *min(runs)[:2]) for runs in results.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--neighbour", action="store_true",
                        help="run a 2-thread torch loop in another process meanwhile (a busy machine)")
    parser.add_argument("--synthetic", action="store_true", help="a synthetic pair even when ../shared is there")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source, input, target = photo_pair(args.synthetic)
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) if args.neighbour else None
    try:
        print(f"# {source}; {args.threads} threads, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} at start{', with a 2-thread torch neighbour' if neighbour else ''}; "
              f"torch {torch.__version__}")
        rows, worst = measure(input, target, args.repeat)
    finally:
        if neighbour:
            neighbour.terminate()
            neighbour.wait()
    print_table(("size", "metric", "whole s", "strips s", "speedup", "CPU ratio", "score", "|strips - whole|"),
                rows)
    print(f"target: every score within {TOLERANCE:g} of the whole-image one: "
          f"{'met' if max(worst.values()) <= TOLERANCE else 'MISSED'}")


def measure(input: torch.Tensor, target: torch.Tensor, repeat: int) -> tuple[list[tuple[str, ...]], dict]:
    """The table's rows, and the largest |strips - whole| per metric."""
    rows, worst = [], {}
    pairs = {"512 px": (long_edge(input, 512), long_edge(target, 512)), "6 MP": (input, target)}
    for size, (x, y) in pairs.items():
        name = f"{size} ({x.shape[3]} x {x.shape[2]})"
        for metric in ("psnr", "ssim", "delta_e"):
            fn = getattr(metrics, metric)
            (new, wall, cpu), (old, old_wall, old_cpu) = timed(lambda: fn(x, y), repeat)
            worst[metric] = max(worst.get(metric, 0.0), abs(new - old))
            rows.append((name, metric, f"{old_wall:.3f}", f"{wall:.3f}", f"{old_wall / wall:.1f}x",
                         f"{old_cpu / max(cpu, 1e-9):.1f}x", f"{new:.6f}", f"{abs(new - old):.1e}"))
            print(f"  {name} {metric}: {old_wall:.3f} s -> {wall:.3f} s", file=sys.stderr, flush=True)
    return rows, worst


if __name__ == "__main__":
    main()
