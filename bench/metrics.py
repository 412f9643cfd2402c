"""Evaluation metrics: PSNR / SSIM / Delta E of csrnet_lite.metrics against their first version.

    .venv/bin/python bench/metrics.py [--repeat 3] [--threads 2] [--neighbour] [--synthetic]

Times `metrics.psnr`, `metrics.ssim` and `metrics.delta_e` (defaults: 8-bit quantized, as evaluation
uses them) on one photo pair at long edge 512 and at full size (6 MP), against the first version of
these metrics, kept below as the baseline and measured in the same run, alternating with it:
  SSIM     before: float64, the 11x11 Gaussian as two 1-D `F.conv2d` calls (torch's float64
           convolution is slow) on whole images, torch's threads. After: float64, each 1-D pass a
           weighted sum of 11 shifted views, a strip of rows at a time, on one thread
  Delta E  before: float32 CIEDE2000 on whole images, torch's threads. After: the same formula a
           strip of rows at a time (its ~100 elementwise steps stay in the cache), c^7 as products
           instead of `pow`, on one thread
  PSNR     before: torch's threads. After: the same steps (one copy fewer), on one thread
With several threads torch's threads wait for each other at every step; while another process holds
the cores, each wait can last a scheduler time slice. --neighbour shows it: a 2-thread torch loop
(like a training run in another notebook) runs in a second process during the measurements.
The pair is the FiveK photo a0015 (input vs expert C, 2000 x 3008, read in place from ../shared) and
that pair resized to long edge 512; with --synthetic or without ../shared, a smooth random image and
a noisy, tinted copy. The columns:
  before s / after s   wall-clock, best of --repeat (the 6 MP SSIM baseline: one run, it takes seconds)
  speedup              before / after wall-clock; CPU ratio: the same for this process's CPU time
  |after - before|     the difference between the two versions' scores
  |f32 - f64|          Delta E only: the float32 score against the same formula in float64
Targets: SSIM within 1e-4 and Delta E within 1e-3 of the baseline. The CPU may be shared with
other work: timings vary from run to run; compare the ratios, measured side by side.
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
from csrnet_lite.image import check_image, quantize as to_8bit, to_tensor  # noqa: E402
from csrnet_lite.settings import SHARED  # noqa: E402

from tables import print_table  # bench/tables.py (scripts run from bench/)

PHOTO = "deepupe_pytorch/{}/a0015-DSC_0081.jpg"  # under ../shared/fivek: input / target, 6 MP
TOLERANCE = {"ssim": 1e-4, "delta_e": 1e-3}
NEIGHBOUR = "import torch\ntorch.set_num_threads(2)\nx = torch.rand(300_000)\nwhile True:\n    x = (x * 1.0001).sin()"


# --- the baseline: the first version of csrnet_lite/metrics.py -----------------------------------

def _prepare_before(output, target, quantize):
    check_image(output, "output", check_range=False)
    check_image(target, "target")
    if quantize:
        return to_8bit(output) / 255, to_8bit(target) / 255
    return output.clamp(0, 1), target.clamp(0, 1)


def psnr_before(output, target, *, quantize=True):
    output, target = _prepare_before(output, target, quantize)
    return -10 * torch.log10((output - target).pow(2).mean(dim=(1, 2, 3)))


def ssim_before(output, target, *, quantize=True):
    output, target = _prepare_before(output, target, quantize)
    per_channel = [_ssim_map_before(output[:, c:c + 1].double(), target[:, c:c + 1].double()).mean(dim=(1, 2, 3))
                   for c in range(3)]
    return (sum(per_channel) / 3).float()


def _ssim_map_before(x, y):
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _blur_before(x), _blur_before(y)
    var_x = _blur_before(x * x) - mu_x**2
    var_y = _blur_before(y * y) - mu_y**2
    cov = _blur_before(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def _blur_before(x, size=11, sigma=1.5):
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)


def srgb_to_lab_before(x):  # no dtype check: also runs in float64, for the |f32 - f64| column
    x = x.clamp(0, 1)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(metrics.SRGB_TO_XYZ, dtype=x.dtype)
    white = matrix.sum(dim=1)
    xyz = torch.einsum("oc,bchw->bohw", matrix / white[:, None], linear)
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp(min=delta**3) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def ciede2000_before(lab1, lab2):
    (l1, a1, b1), (l2, a2, b2) = lab1.unbind(dim=1), lab2.unbind(dim=1)
    c_mean7 = ((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    h1 = torch.rad2deg(torch.atan2(b1, a1)) % 360
    h2 = torch.rad2deg(torch.atan2(b2, a2)) % 360
    achromatic = c1 * c2 == 0
    dh = h2 - h1
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(achromatic, 0, dh)
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * torch.sqrt(c1 * c2) * torch.sin(torch.deg2rad(dh) / 2)
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    h_sum = h1 + h2
    h_mean = torch.where((h1 - h2).abs() <= 180, h_sum / 2, torch.where(h_sum < 360, h_sum + 360, h_sum - 360) / 2)
    h_mean = torch.where(achromatic, h_sum, h_mean)

    def cos(degrees):
        return torch.cos(torch.deg2rad(degrees))

    t = 1 - 0.17 * cos(h_mean - 30) + 0.24 * cos(2 * h_mean) + 0.32 * cos(3 * h_mean + 6) - 0.20 * cos(4 * h_mean - 63)
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / torch.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    rotation = 30 * torch.exp(-(((h_mean - 275) / 25) ** 2))
    r_t = -2 * torch.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)) * torch.sin(torch.deg2rad(2 * rotation))
    return torch.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def delta_e_before(output, target, *, quantize=True):
    output, target = _prepare_before(output, target, quantize)
    return ciede2000_before(srgb_to_lab_before(output), srgb_to_lab_before(target)).mean(dim=(1, 2))


def delta_e_float64(output, target):
    """The Delta E formula in float64 (8-bit quantized), as an accuracy reference for float32."""
    output, target = (to_8bit(x).double() / 255 for x in (output, target))
    return ciede2000_before(srgb_to_lab_before(output), srgb_to_lab_before(target)).mean(dim=(1, 2))


# --- measuring ------------------------------------------------------------------------------------

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


def timed(after, before, repeat: int, repeat_before: int) -> tuple[tuple[float, float, float], ...]:
    """Run `after` and `before` alternately; for each (score, best wall seconds, CPU seconds of that run)."""
    results = {after: [], before: []}
    for i in range(repeat):
        for fn in (after, before) if i < repeat_before else (after,):
            wall, cpu = time.perf_counter(), time.process_time()
            score = float(fn()[0])
            results[fn].append((time.perf_counter() - wall, time.process_time() - cpu, score))
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
    print_table(("size", "metric", "before s", "after s", "speedup", "CPU ratio", "score", "|after - before|",
                 "|f32 - f64|"), rows)
    print("targets: " + "; ".join(f"{metric} within {TOLERANCE[metric]:g} of before: "
                                  f"{'met' if worst[metric] <= TOLERANCE[metric] else 'MISSED'}"
                                  for metric in TOLERANCE))


def measure(input: torch.Tensor, target: torch.Tensor, repeat: int) -> tuple[list[tuple[str, ...]], dict]:
    """The table's rows, and the largest |after - before| per metric."""
    rows, worst = [], {}
    pairs = {"512 px": (long_edge(input, 512), long_edge(target, 512)), "6 MP": (input, target)}
    for size, (x, y) in pairs.items():
        name = f"{size} ({x.shape[3]} x {x.shape[2]})"
        for metric, before in (("psnr", psnr_before), ("ssim", ssim_before), ("delta_e", delta_e_before)):
            after = getattr(metrics, metric)
            repeat_before = 1 if (size, metric) == ("6 MP", "ssim") else repeat
            (new, wall, cpu), (old, old_wall, old_cpu) = timed(lambda: after(x, y), lambda: before(x, y),
                                                               repeat, repeat_before)
            f64 = f"{abs(new - float(delta_e_float64(x, y)[0])):.1e}" if metric == "delta_e" else ""
            worst[metric] = max(worst.get(metric, 0.0), abs(new - old))
            rows.append((name, metric, f"{old_wall:.3f}", f"{wall:.3f}", f"{old_wall / wall:.1f}x",
                         f"{old_cpu / max(cpu, 1e-9):.1f}x", f"{new:.6f}", f"{abs(new - old):.1e}", f64))
            print(f"  {name} {metric}: {old_wall:.3f} s -> {wall:.3f} s", file=sys.stderr, flush=True)
    return rows, worst


if __name__ == "__main__":
    main()
