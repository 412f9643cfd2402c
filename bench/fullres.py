"""Full-resolution retouching: the direct forward pass vs the baked 3D LUT, at 2, 12 and 24 megapixels.

    python bench/fullres.py [--sizes 2 12 24] [--lut-sizes 33 65] [--repeat 3] [--force-direct]
    python bench/fullres.py --eight-bit-only --sizes 12     the last table and the whole-command time

The condition network sees the view `checkpoint.load_model` picks for the weights (the authors':
CondView.LONG_512, long edge 512; a random CSRNet: CondView.THUMB_128). Each path runs in a fresh
child process, so that its time and peak memory are its own:
  direct  model(x, cond_input=view(x)): the network on every pixel (the same condition as the LUT)
  lut     retouch.retouch_photo(model, x, N, view=view): view -> condition network -> bake N^3 colours
          -> trilinear apply
Peak memory is the child's peak resident set (VmHWM) during the path, counting what it already holds
(Python, torch, the model and the input photo: the "base" column). Then, in this process:
  PSNR lut/direct   between the two outputs, every pixel, both clamped to [0, 1] as a saved file is
  view cost         what showing the condition network the view instead of the full photo (the
                    authors' test code) costs: PSNR between the base network under both modulations.
                    The base network is per-pixel, so it is evaluated exactly on 2^20 uniformly
                    sampled pixels
  lut/full cond     the LUT path against the condition on the full photo, same sample
A second table gives the view cost of each candidate view (square thumbnails, aspect-preserving long
edges), on the same sample; the full photo is no ground truth (the authors trained on ~500 px
photos), it is the baseline the issue asks for.
The direct path at 12 MP needs ~12 GB; sizes whose estimate exceeds 80% of the available memory are
skipped unless --force-direct (their PSNR then comes from the sampled pixels, marked *).
Timings are wall-clock (best of --repeat for the LUT path, one run for the direct path) on a CPU that
may be shared: the ratio columns, and the CPU-time ratio, are the numbers to compare. On a loaded
machine --threads 1 gives steadier numbers (torch's threads wait for each other at every operation
while other processes hold the cores).

The last table compares the two ways an 8-bit photo goes through the baked LUT: the torch path
(`lut.apply_lut` with its conversions from and to uint8; the retouch command keeps it for 16-bit
photos) and Pillow's `ImageFilter.Color3DLUT` (C; the retouch command's 8-bit path), and times the
whole `python -m csrnet_lite retouch` process on a 12 MP JPEG (target: <= 2 s on 2 idle cores).

Targets (issue 6): at 12 MP the LUT path <= 1.0 s and <= 1 GB peak, >= 30x faster than the direct
path in the same run, and >= 50 dB PSNR against it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from csrnet_lite.checkpoint import OFFICIAL_VIEW, load_official  # noqa: E402
from csrnet_lite.image import Resize, quantize, to_numpy, to_tensor  # noqa: E402
from csrnet_lite.lut import DEFAULT_SIZE, apply_lut, photo_modulations, retouch_lut  # noqa: E402
from csrnet_lite.model import CondView, CSRNet  # noqa: E402
from csrnet_lite.settings import SHARED, official_weights_path  # noqa: E402
from csrnet_lite.tools import retouch  # noqa: E402

from tables import print_table  # bench/tables.py (scripts run from bench/)

REAL_PHOTO = SHARED / "fivek" / "deepupe_pytorch" / "input" / "a0015-DSC_0081.jpg"  # 6 MP, read in place
DIRECT_GB_PER_MP = 1.0  # measured: 11.8 GB peak for the direct path at 12 MP (issue 6 says 9.2)
SAMPLE = 1 << 20  # pixels for the sampled PSNRs
VIEWS = [CondView(128), CondView(256), CondView(None, Resize.LONG_500), CondView(None, Resize.LONG_512),
         CondView(None, Resize("long", 1000))]  # the condition views whose cost the second table gives


# --- the measured paths (run in a child process) -----------------------------------------------

def load_model(weights: str) -> tuple[CSRNet, CondView]:
    """The model and the condition view the retouch command would use with it."""
    if weights:
        return load_official(weights), OFFICIAL_VIEW
    torch.manual_seed(0)
    return CSRNet().eval(), CondView.THUMB_128


def memory_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (Linux), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak measures what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model, view = load_model(args.weights)
    x = to_tensor(np.load(args.input))  # (1, 3, H, W)
    with torch.no_grad():  # warm up the kernels on a small crop, outside the measurement
        crop = x[:, :, :64, :64]
        model(crop) if args.child == "direct" else retouch.retouch_photo(model, crop, 5)
    base, exact = memory_mb("VmRSS"), reset_peak()
    walls, cpus = [], []
    for _ in range(args.repeat):
        y = None  # free the previous output before the next run
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            if args.child == "direct":
                y = model(x, cond_input=view(x))
            else:
                y = retouch.retouch_photo(model, x, size=args.lut_size, view=view)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    peak = memory_mb("VmHWM")
    np.save(args.output, y[0].numpy())  # (3, H, W) float32, after the measurement
    print(json.dumps({"wall": walls, "cpu": cpus, "peak_mb": peak, "base_mb": base, "exact_peak": exact}))


# --- the driver ----------------------------------------------------------------------------------

def test_photo(megapixels: float) -> np.ndarray:
    """A uint8 (H, W, 3) photo of about `megapixels`, 4:3: the real 6 MP FiveK photo resized (bicubic)
    when ../shared has it, else a synthetic one (smooth colour fields, an edge, film grain)."""
    height = int(round(math.sqrt(megapixels * 1e6 * 3 / 4)))
    width = int(round(height * 4 / 3))
    if REAL_PHOTO.is_file():
        with Image.open(REAL_PHOTO) as im:
            im = im.convert("RGB")
            if im.height > im.width:
                im = im.transpose(Image.Transpose.ROTATE_90)
            return np.asarray(im.resize((width, height), Image.Resampling.BICUBIC))
    rng = np.random.default_rng(0)
    fields = (rng.random((6, 8, 3)) * 200 + 30).astype(np.uint8)  # a coarse colour layout
    smooth = np.asarray(Image.fromarray(fields).resize((width, height), Image.Resampling.BICUBIC))
    out = smooth.astype(np.int16)
    out[:, width // 3: width // 3 + width // 50] //= 3  # a dark pole: a sharp edge
    for top in range(0, height, 512):  # grain, in strips to keep memory small
        strip = out[top:top + 512]
        strip += rng.normal(0, 6, strip.shape).astype(np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


def run_child(path: str, photo: Path, output: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", path, "--input", str(photo), "--output", str(output),
               "--weights", args.weights, "--lut-size", str(args.lut_size), "--threads", str(args.threads),
               "--repeat", str(args.repeat if path == "lut" else 1)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the {path} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def psnr_from_mse(mse: float) -> float:
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


def psnr_files(a: Path, b: Path, rows: int = 256) -> float:
    """PSNR of two saved (3, H, W) float32 outputs, clamped to [0, 1], read in row chunks."""
    x, y = np.load(a, mmap_mode="r"), np.load(b, mmap_mode="r")
    total = 0.0
    for top in range(0, x.shape[1], rows):
        d = np.clip(x[:, top:top + rows], 0, 1) - np.clip(y[:, top:top + rows], 0, 1)
        total += float(np.square(d, dtype=np.float64).sum())
    return psnr_from_mse(total / x.size)


@torch.no_grad()
def sampled_psnrs(model: CSRNet, view: CondView, pixels: np.ndarray, lut_sizes: list[int]) -> dict:
    """PSNRs on SAMPLE uniformly drawn pixels: `view` (and each of VIEWS) vs the full-photo condition,
    and for each LUT size the LUT against the direct path (same view) and against the full-photo condition."""
    x = to_tensor(pixels)  # (1, 3, H, W)
    mods = {v: photo_modulations(model, x, v) for v in {view, *VIEWS, CondView.FULL}}  # FULL: every pixel
    luts = {n: retouch_lut(model, x, size=n, view=view) for n in lut_sizes}
    index = torch.randint(0, x.shape[2] * x.shape[3], (SAMPLE,), generator=torch.Generator().manual_seed(0))
    sample = x.flatten(2)[:, :, index, None]  # (1, 3, H*W) -> (1, 3, SAMPLE, 1)
    del x
    outputs = {v: model.base(sample, m).clamp(0, 1) for v, m in mods.items()}  # each (1, 3, SAMPLE, 1)
    full = outputs[CondView.FULL]
    psnr = lambda a, b: psnr_from_mse(float(((a - b) ** 2).mean()))  # noqa: E731
    result = {"view_cost": psnr(outputs[view], full), "views": {v: psnr(outputs[v], full) for v in VIEWS}}
    for n, lut in luts.items():
        baked = apply_lut(sample, lut).clamp(0, 1)
        result[n] = {"lut_direct": psnr(baked, outputs[view]), "lut_full": psnr(baked, full)}
    return result


def available_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return float("inf")


def eight_bit_rows(model: CSRNet, view: CondView, sizes: list[float], lut_size: int, repeat: int) -> list:
    """Per size: the 8-bit photo (uint8 in, uint8 out) through the baked LUT by the torch path (with its
    conversions) and by Pillow's Color3DLUT (what `retouch` uses for 8-bit photos), best of `repeat`;
    and how far apart they are in 8-bit levels."""
    rows = []
    for mp in sizes:
        pixels = test_photo(mp)
        image = Image.fromarray(pixels)
        lut = retouch_lut(model, to_tensor(pixels), lut_size, 1.0, view)
        torch_s, pillow_s = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            by_torch = quantize(to_numpy(apply_lut(to_tensor(pixels), lut)))  # uint8 -> float -> uint8
            torch_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            by_pillow = np.asarray(retouch.apply_lut_8bit(image, lut))
            pillow_s.append(time.perf_counter() - start)
        levels = np.abs(by_torch.astype(np.int16) - by_pillow.astype(np.int16))
        rows.append((f"{pixels.size / 3e6:.1f}", str(lut_size), f"{min(torch_s):.2f}", f"{min(pillow_s):.2f}",
                     f"{min(torch_s) / min(pillow_s):.1f}x", str(int(levels.max())), f"{levels.mean():.3f}"))
    return rows


def command_seconds(weights: str, megapixels: float, repeat: int) -> tuple[float, float]:
    """Wall seconds of the whole `python -m csrnet_lite retouch` process on a JPEG of `megapixels`
    (best of `repeat`), and of the same process importing the command line only."""
    with tempfile.TemporaryDirectory(prefix="csrnet-cli-") as tmp:
        photo = Path(tmp) / "photo.jpg"
        Image.fromarray(test_photo(megapixels)).save(photo, quality=95)
        if weights:
            model = ["--official", weights]
        else:
            torch.manual_seed(0)
            torch.save(CSRNet().state_dict(), Path(tmp) / "random.pt")
            model = ["--model", str(Path(tmp) / "random.pt")]
        runs = {"retouch": [sys.executable, "-m", "csrnet_lite", "retouch", str(photo), *model, "--overwrite"],
                "import": [sys.executable, "-c", "import csrnet_lite.tools.cli"]}
        best = {}
        for name, command in runs.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
                times.append(time.perf_counter() - start)
            best[name] = min(times)
    return best["retouch"], best["import"]


def print_eight_bit(model: CSRNet, view: CondView, args: argparse.Namespace) -> None:
    rows = eight_bit_rows(model, view, args.sizes, DEFAULT_SIZE, args.repeat)
    print(f"\n8-bit photos, uint8 in -> uint8 out through the baked LUT (best of {args.repeat}): torch "
          "(to_tensor, apply_lut, quantize; kept for 16-bit photos and teaching) vs Pillow's Color3DLUT "
          "(the retouch command's 8-bit path)")
    print_table(("MP", "LUT N", "torch s", "Pillow s", "speedup", "max levels", "mean levels"), rows)
    if 12 in args.sizes:
        whole, imports = command_seconds(args.weights, 12, args.repeat)
        print(f"whole command, 12 MP JPEG: python -m csrnet_lite retouch {whole:.2f} s "
              f"(of which starting Python and importing the command line {imports:.2f} s; target <= 2 s "
              f"on 2 idle cores: {'met' if whole <= 2 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 12, 24], help="megapixels")
    parser.add_argument("--lut-sizes", type=int, nargs="+", default=sorted({33, DEFAULT_SIZE}),
                        help=f"LUT lattice sizes to compare (default 33 {DEFAULT_SIZE}: the usual .cube "
                             "size and the retouch command's)")
    parser.add_argument("--repeat", type=int, default=3, help="LUT path runs (best is reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--force-direct", action="store_true", help="run the direct path at every size")
    parser.add_argument("--weights", default=None, help="CSRNet weights (default: the authors')")
    parser.add_argument("--eight-bit-only", action="store_true",
                        help="only the 8-bit table (torch vs Pillow) and the whole-command time")
    for hidden in ("--child", "--input", "--output", "--lut-size"):  # for the child processes
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.lut_size = int(args.lut_size)
        return child(args)

    if args.weights is None:
        path = official_weights_path()
        args.weights = str(path) if path.is_file() else ""
        if not args.weights:
            warnings.warn(f"the authors' weights are not at {path}: using a random CSRNet, whose retouch "
                          "is not a photo retouch (PSNRs are then only indicative)")
    torch.set_num_threads(args.threads)
    model, view = load_model(args.weights)
    source = "FiveK a0015 (6 MP) resized" if REAL_PHOTO.is_file() else "synthetic photo"
    print(f"# {source}; {'authors' if args.weights else 'random'} weights, condition on a {view}; "
          f"{args.threads} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"torch {torch.__version__}")
    if args.eight_bit_only:
        return print_eight_bit(model, view, args)
    header = ("MP", "direct s", "direct GB", "LUT N", "LUT s", "LUT MB", "base MB", "speedup", "CPU ratio",
              "PSNR lut/direct", "view cost", "lut/full cond")
    rows, view_rows, checks = [], [], []
    args.lut_size = args.lut_sizes[0]  # set per LUT child below
    with tempfile.TemporaryDirectory(prefix="csrnet-fullres-") as tmp:
        tmp = Path(tmp)
        for mp in args.sizes:
            pixels = test_photo(mp)
            photo = tmp / "photo.npy"
            np.save(photo, pixels)
            sampled = sampled_psnrs(model, view, pixels, args.lut_sizes)
            count = pixels.shape[0] * pixels.shape[1]
            view_rows.append((f"{count / 1e6:.1f}", *(f"{sampled['views'][v]:.1f}" for v in VIEWS)))
            del pixels
            estimate = DIRECT_GB_PER_MP * count / 1e6
            direct = None
            if args.force_direct or estimate <= 0.8 * available_gb():
                direct = run_child("direct", photo, tmp / "direct.npy", args)
            for n in args.lut_sizes:
                args.lut_size = n
                lut = run_child("lut", photo, tmp / "lut.npy", args)
                best, best_cpu = min(lut["wall"]), min(lut["cpu"])
                if direct:
                    fidelity = psnr_files(tmp / "lut.npy", tmp / "direct.npy")
                    cells = (f"{direct['wall'][0]:.1f}", f"{direct['peak_mb'] / 1024:.1f}", str(n), f"{best:.2f}",
                             f"{lut['peak_mb']:.0f}", f"{lut['base_mb']:.0f}", f"{direct['wall'][0] / best:.0f}x",
                             f"{direct['cpu'][0] / best_cpu:.0f}x", f"{fidelity:.1f}")
                else:
                    fidelity = sampled[n]["lut_direct"]
                    cells = (f"skip ~{estimate:.0f}", "", str(n), f"{best:.2f}", f"{lut['peak_mb']:.0f}",
                             f"{lut['base_mb']:.0f}", "", "", f"{fidelity:.1f}*")
                rows.append((f"{count / 1e6:.1f}", *cells, f"{sampled['view_cost']:.1f}*",
                             f"{sampled[n]['lut_full']:.1f}*"))
                if mp == 12 and direct:
                    checks.append((n, [("<= 1.0 s", best <= 1.0), ("<= 1 GB", lut["peak_mb"] <= 1024),
                                       (">= 30x faster", direct["wall"][0] / best >= 30),
                                       (">= 50 dB", fidelity >= 50)]))
                if not lut["exact_peak"]:
                    print("note: the peak could not be reset (no /proc/self/clear_refs); it includes "
                          "decoding the photo")
            for name in ("photo.npy", "lut.npy", "direct.npy"):
                (tmp / name).unlink(missing_ok=True)
    print_table(header, rows)
    print(f"LUT s: best of {args.repeat}; direct s: one run; GB/MB: peak resident memory of the path's "
          f"process (base: before the path); speedup: wall time, CPU ratio: CPU time; PSNR in dB on outputs "
          f"clamped to [0, 1]; * on {SAMPLE} sampled pixels; skip ~G: the direct path would need ~G GB")
    print("\nview cost: PSNR (dB) of the base network under each condition view's modulations against "
          "the condition network on the full photo, on the same sampled pixels")
    print_table(("MP", *map(str, VIEWS)), view_rows)
    for n, results in checks:
        print(f"targets at 12 MP, LUT {n}^3: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}"
                                                           for name, ok in results))
    print_eight_bit(model, view, args)


if __name__ == "__main__":
    main()
