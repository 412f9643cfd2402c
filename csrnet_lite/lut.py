"""Bake a CSRNet retouch into a 3D lookup table (LUT), apply it to photos of any size, read/write .cube.

Why baking is exact up to interpolation
---------------------------------------
CSRNet's condition network looks at the whole photo once and outputs modulations (scales and shifts).
Once those are fixed, the base network is three 1x1 convolutions with ReLUs and per-channel GFMs: it
maps every pixel's (r, g, b) to a new (r, g, b) on its own, knowing nothing about the neighbours or
the position. So the whole retouch of one photo *is* a function RGB -> RGB, and a table of that
function at N^3 lattice colours holds the network's output at those colours exactly (it is computed
by the same `model.base`). Between lattice colours trilinear interpolation is the only approximation;
the base network is piecewise linear (128 ReLUs), trilinear interpolation reproduces linear maps
exactly, so the error comes only from cells that a ReLU kink crosses, and shrinks as N grows (bench/fullres.py, authors' weights, a real FiveK photo: 46 dB PSNR
against the network at N=33, 55 dB at N=65). The cost drops from ~4,400 multiply-adds and 64-channel
activations per pixel (12 GB at 12 megapixels) to 35,937 network evaluations (N=33) once, plus 8
table reads per pixel.

Conventions
-----------
- A LUT is a float32 tensor (N, N, N, 3) indexed `lut[b, g, r]`: the output RGB for the input colour
  (r, g, b) / (N - 1). Blue varies slowest and red fastest, so `lut.reshape(-1, 3)` is the row order of
  a .cube file, and `lut.permute(3, 0, 1, 2)` is a (3, D=b, H=g, W=r) volume for `grid_sample`, whose
  coordinates are (x, y, z) = (r, g, b).
- Table values are not clamped (neither is the network's output); `save_image` clamps to [0, 1].
- `strength` s in [0, 1] blends with the identity *in the table*: lut = grid + s * (retouch(grid) - grid).
  The identity is linear, so trilinear interpolation reproduces it exactly and applying a strength-s
  LUT equals (1 - s) * photo + s * (retouched photo).
- How the condition network sees a full-resolution photo: `image.thumbnail(photo, cond_size)`, the
  same fixed-size (128 x 128 by default) antialiased view that training uses, so the modulations do
  not depend on the photo's resolution and cost nothing at 24 MP. `cond_size=None` runs the condition
  network on the full photo as the authors' code does (about 1 GB more at 12 MP). A model trained
  here sees exactly the view it was trained on; the authors' weights were trained with the full photo
  as condition, and `bench/fullres.py` measures what the thumbnail costs them: ~30 dB PSNR between
  the two retouches of a FiveK photo (the condition network's output depends on the resolution).

Command line: `python -m csrnet_lite retouch photo.jpg --official` (see `add_cli`).
"""
from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from .files import atomic_path
from .image import check_image, thumbnail
from .model import CSRNet, Modulations

DEFAULT_SIZE = 33  # lattice points per axis: 35,937 colours, the size photo editors ship
DEFAULT_COND_SIZE = 128  # side of the condition network's thumbnail (image.thumbnail's default)
MAX_SIZE = 256  # .cube readers commonly accept up to 256 per axis
CHUNK_PIXELS = 1 << 20  # pixels per apply step: ~50 MB of temporaries whatever the photo size
BAKE_CHUNK = 1 << 16  # lattice colours per base-network call: ~70 MB of 64-channel activations

Domain = float | Sequence[float]  # one value for all channels, or (R, G, B)


# --- baking -------------------------------------------------------------------------------------

def identity_lut(size: int = DEFAULT_SIZE) -> torch.Tensor:
    """The lattice itself: (N, N, N, 3) with identity_lut(N)[b, g, r] = (r, g, b) / (N - 1)."""
    _check_size(size)
    v = torch.linspace(0, 1, size)
    b, g, r = torch.meshgrid(v, v, v, indexing="ij")  # three (N, N, N) grids, blue slowest
    return torch.stack([r, g, b], dim=-1)  # -> (N, N, N, 3)


@torch.no_grad()
def bake_lut(model: CSRNet, mods: Modulations, size: int = DEFAULT_SIZE,
             strength: float = 1.0) -> torch.Tensor:
    """Run the base network with fixed modulations (batch 1) on every lattice colour -> LUT (N, N, N, 3).

    lut = grid + strength * (model.base(grid, mods) - grid); see the module docstring.
    """
    _check_strength(strength)
    if mods.cond.shape[0] != 1:
        raise ValueError(f"bake_lut takes the modulations of one photo, got a batch of {mods.cond.shape[0]}; "
                         "index it first, e.g. Modulations(m.cond[:1], ...)")
    grid = identity_lut(size)  # (N, N, N, 3)
    colours = grid.reshape(-1, 3)  # (N^3, 3), red fastest
    retouched = torch.empty_like(colours)
    for start in range(0, len(colours), BAKE_CHUNK):  # bounded memory even for N = 256
        pixels = colours[start:start + BAKE_CHUNK].T[None, :, :, None]  # (n, 3) -> (1, 3, n, 1): a column
        retouched[start:start + BAKE_CHUNK] = model.base(pixels, mods)[0, :, :, 0].T  # -> (n, 3)
    return grid + strength * (retouched.reshape(grid.shape) - grid)  # (N^3, 3) -> (N, N, N, 3)


@torch.no_grad()
def photo_modulations(model: CSRNet, photo: torch.Tensor,
                      cond_size: int | None = DEFAULT_COND_SIZE) -> Modulations:
    """The modulations the condition network picks for one photo (1, 3, H, W) of any size.

    It sees `thumbnail(photo, cond_size)`; `cond_size=None` shows it the full photo instead.
    """
    check_image(photo, "photo")
    if photo.shape[0] != 1:
        raise ValueError(f"expected one photo (1, 3, H, W), got a batch of {photo.shape[0]}")
    return model.modulations(photo if cond_size is None else thumbnail(photo, cond_size))


def retouch_lut(model: CSRNet, photo: torch.Tensor, size: int = DEFAULT_SIZE, strength: float = 1.0,
                cond_size: int | None = DEFAULT_COND_SIZE) -> torch.Tensor:
    """Bake the model's retouch of one photo (1, 3, H, W) into a LUT (N, N, N, 3)."""
    return bake_lut(model, photo_modulations(model, photo, cond_size), size, strength)


def retouch(model: CSRNet, photo: torch.Tensor, size: int = DEFAULT_SIZE, strength: float = 1.0,
            cond_size: int | None = DEFAULT_COND_SIZE) -> torch.Tensor:
    """Retouch a full-resolution photo (1, 3, H, W) through a baked LUT -> (1, 3, H, W), not clamped."""
    return apply_lut(photo, retouch_lut(model, photo, size, strength, cond_size))


# --- applying -----------------------------------------------------------------------------------

@torch.no_grad()
def apply_lut(x: torch.Tensor, lut: torch.Tensor, *, domain_min: Domain = 0.0, domain_max: Domain = 1.0,
              chunk_pixels: int = CHUNK_PIXELS) -> torch.Tensor:
    """Map every pixel of x (B, 3, H, W) through lut (N, N, N, 3) by trilinear interpolation.

    Input values are mapped from [domain_min, domain_max] (per channel or one number) onto the lattice
    and clamped to it, as .cube readers do. Rows are processed `chunk_pixels` at a time into a
    preallocated output, so memory beyond input and output stays bounded (~50 MB) for any photo size.
    Returns (B, 3, H, W) float32, not clamped.
    """
    check_image(x, "x", check_range=False)
    lut = _check_lut(lut)
    lo, hi = _domain(domain_min, "domain_min"), _domain(domain_max, "domain_max")
    if (hi <= lo).any():
        raise ValueError(f"domain_max {hi.tolist()} must exceed domain_min {lo.tolist()} in every channel")
    mul, add = 2 / (hi - lo), -1 - 2 * lo / (hi - lo)  # colour -> grid_sample's [-1, 1], per channel
    volume = lut.permute(3, 0, 1, 2)[None]  # (b, g, r, 3) -> (1, 3, b, g, r)
    # grid_sample's CPU kernel runs the batch entries in parallel: split each chunk into `parts` entries.
    threads = max(1, torch.get_num_threads())
    batch, _, height, width = x.shape
    rows = max(1, chunk_pixels // width)
    out = torch.empty_like(x)
    for b in range(batch):
        for top in range(0, height, rows):
            block = x[b, :, top:top + rows]  # (3, h, W)
            h = block.shape[1]
            parts = math.gcd(h * width, threads)
            grid = block.permute(1, 2, 0).reshape(parts, 1, 1, -1, 3)  # (3, h, W) -> (parts, 1, 1, hW/parts, 3)
            grid = torch.addcmul(add, grid, mul)  # colour -> [-1, 1]
            sampled = F.grid_sample(volume.expand(parts, -1, -1, -1, -1), grid, mode="bilinear",
                                    padding_mode="border", align_corners=True)  # -> (parts, 3, 1, 1, hW/parts)
            out[b, :, top:top + h] = sampled.transpose(0, 1).reshape(3, h, width)  # -> (3, h, W)
    return out


def lut_image(lut: torch.Tensor) -> torch.Tensor:
    """A LUT as a picture (1, 3, N, N * N): N tiles side by side, one per blue level (dark to bright),
    each with red growing to the right and green growing downwards. Clamped to [0, 1] for display."""
    lut = _check_lut(lut)
    n = lut.shape[0]
    tiles = lut.permute(3, 1, 0, 2)  # (b, g, r, 3) -> (3, g, b, r)
    return tiles.reshape(1, 3, n, n * n).clamp(0, 1)  # (3, g, b, r) -> (1, 3, N, N*N)


# --- .cube files --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cube:
    """The contents of a .cube file: lut (N, N, N, 3) indexed lut[b, g, r], and its input domain."""

    lut: torch.Tensor
    title: str = ""
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, x: torch.Tensor, **options) -> torch.Tensor:
        """apply_lut(x, self.lut) over this file's domain: (B, 3, H, W) -> (B, 3, H, W)."""
        return apply_lut(x, self.lut, domain_min=self.domain_min, domain_max=self.domain_max, **options)


def write_cube(path: str | os.PathLike, lut: torch.Tensor, *, title: str = "",
               comments: Iterable[str] = (), domain_min: Domain = 0.0, domain_max: Domain = 1.0,
               decimals: int = 6) -> Path:
    """Write an Adobe .cube 3D LUT atomically: comments, TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX, then
    N^3 rows 'R G B' with red varying fastest, each value printed with `decimals` decimals."""
    lut = _check_lut(lut)
    if '"' in title or "\n" in title or "\r" in title:
        raise ValueError(f"a .cube TITLE cannot contain quotes or line breaks, got {title!r}")
    lo, hi = _domain(domain_min, "domain_min"), _domain(domain_max, "domain_max")
    if (hi <= lo).any():
        raise ValueError(f"domain_max {hi.tolist()} must exceed domain_min {lo.tolist()} in every channel")
    number = f"{{:.{decimals}f}}".format
    header = [f"# {line}".rstrip() for text in comments for line in str(text).splitlines()]
    header += [f'TITLE "{title}"'] if title else []
    header += [f"LUT_3D_SIZE {lut.shape[0]}",
               "DOMAIN_MIN " + " ".join(map(number, lo.tolist())),
               "DOMAIN_MAX " + " ".join(map(number, hi.tolist()))]
    rows = (f"{number(r)} {number(g)} {number(b)}" for r, g, b in lut.reshape(-1, 3).tolist())
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join([*header, *rows]) + "\n", encoding="utf-8")
    return path


def read_cube(path: str | os.PathLike) -> Cube:
    """Read an Adobe/Resolve .cube 3D LUT -> Cube. Raises ValueError naming the line for malformed files.

    Accepts '#' comments, blank lines, CRLF, a UTF-8 BOM, TITLE, DOMAIN_MIN/MAX, Resolve's
    LUT_3D_INPUT_RANGE, and ignores other upper-case keywords before the table. 1D LUTs (LUT_1D_SIZE)
    are not supported.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .cube file at {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a text .cube file (byte {e.start} is not UTF-8)") from None
    where = lambda n: f"{path}, line {n}"  # noqa: E731
    title, size, size_line = "", None, 0
    lo, hi = [0.0] * 3, [1.0] * 3
    values: list[float] = []
    first_row = last_line = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword = line.split(maxsplit=1)[0]
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", keyword):
            if first_row:
                raise ValueError(f"{where(n)}: keyword {keyword} after the table started at line "
                                 f"{first_row}; .cube keywords come before the table")
            if keyword.startswith("LUT_1D"):
                raise ValueError(f"{where(n)}: {keyword}: 1D LUTs (and 1D shapers) are not supported; "
                                 "csrnet-lite reads 3D LUTs (LUT_3D_SIZE) only")
            if keyword == "TITLE":
                match = re.fullmatch(r'TITLE\s+"(.*)"', line) or re.fullmatch(r"TITLE\s*(.*)", line)
                title = match.group(1)
            elif keyword == "LUT_3D_SIZE":
                if size is not None:
                    raise ValueError(f"{where(n)}: second LUT_3D_SIZE (the first is at line {size_line})")
                args = line.split()[1:]
                if len(args) != 1 or not args[0].isdigit() or not 2 <= int(args[0]) <= MAX_SIZE:
                    raise ValueError(f"{where(n)}: LUT_3D_SIZE must be one integer from 2 to {MAX_SIZE}, "
                                     f"got {line!r}")
                size, size_line = int(args[0]), n
            elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
                triple = _numbers(line.split()[1:], 3, where(n), f"{keyword} R G B")
                lo, hi = (triple, hi) if keyword == "DOMAIN_MIN" else (lo, triple)
            elif keyword == "LUT_3D_INPUT_RANGE":  # DaVinci Resolve: one range for all channels
                a, b = _numbers(line.split()[1:], 2, where(n), "LUT_3D_INPUT_RANGE MIN MAX")
                lo, hi = [a] * 3, [b] * 3
            continue  # other keywords (LUT_IN_VIDEO_RANGE, ...) do not change a 3D table
        if size is None:
            raise ValueError(f"{where(n)}: table row {line!r} before LUT_3D_SIZE; a .cube file must "
                             "declare its size first (is this a .cube file?)")
        if len(values) == 3 * size ** 3:
            raise ValueError(f"{where(n)}: extra table row; LUT_3D_SIZE {size} (line {size_line}) means "
                             f"exactly {size ** 3} rows, already read")
        values += _numbers(line.split("#", 1)[0].split(), 3, where(n), "a table row 'R G B'")
        first_row, last_line = first_row or n, n
    if size is None:
        raise ValueError(f"{path} has no LUT_3D_SIZE line; is it a 3D .cube LUT?")
    if len(values) != 3 * size ** 3:
        raise ValueError(f"{path}: LUT_3D_SIZE {size} (line {size_line}) needs {size ** 3} table rows, "
                         f"found {len(values) // 3} (last row at line {last_line or size_line}); "
                         "the file is truncated or has the wrong size")
    if any(b <= a for a, b in zip(lo, hi)):
        raise ValueError(f"{path}: DOMAIN_MAX {hi} must exceed DOMAIN_MIN {lo} in every channel")
    lut = torch.tensor(values, dtype=torch.float32).reshape(size, size, size, 3)  # rows, red fastest
    return Cube(lut, title, tuple(lo), tuple(hi))


def _numbers(tokens: list[str], count: int, where: str, expected: str) -> list[float]:
    """`count` finite floats from tokens, or a ValueError at `where` saying what was expected."""
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        values = []
    if len(values) != count or len(tokens) != count or not all(map(math.isfinite, values)):
        raise ValueError(f"{where}: expected {expected} ({count} finite numbers), got {' '.join(tokens)!r}")
    return values


# --- validation ---------------------------------------------------------------------------------

def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be an integer from 2 to {MAX_SIZE} (33 is usual), got {size!r}")
    return size


def _check_strength(strength: float) -> float:
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must lie in [0, 1] (0: unchanged, 1: full retouch), got {strength}")
    return float(strength)


def _check_lut(lut: torch.Tensor) -> torch.Tensor:
    """Raise unless lut is a floating (N, N, N, 3) tensor of finite values; return it as float32."""
    if not isinstance(lut, torch.Tensor) or not lut.is_floating_point():
        raise TypeError(f"a LUT must be a floating-point torch.Tensor (N, N, N, 3), got "
                        f"{getattr(lut, 'dtype', type(lut).__name__)}")
    n = lut.shape[0] if lut.ndim else 0
    if lut.ndim != 4 or lut.shape != (n, n, n, 3) or n < 2:
        raise ValueError(f"a LUT must have shape (N, N, N, 3) with N >= 2, got {tuple(lut.shape)}")
    if not torch.isfinite(lut).all():
        raise ValueError("the LUT holds NaN or infinite values")
    return lut.float()


def _domain(value: Domain, name: str) -> torch.Tensor:
    """One number or three per-channel numbers -> tensor (3,)."""
    t = torch.as_tensor(value, dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.expand(3)
    if t.numel() != 3 or not torch.isfinite(t).all():
        raise ValueError(f"{name} must be one number or three (R, G, B), got {value!r}")
    return t.clone()


# --- command line -------------------------------------------------------------------------------

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")  # formats read and written back as-is
SUFFIX = "_retouched"  # default output name: photo.jpg -> photo_retouched.jpg beside it
ORIENTATION = 0x0112  # EXIF tag; outputs are stored upright, so it is dropped


def add_cli(subparsers) -> None:
    """Add `retouch`: full-resolution photos in, retouched photos out (see `python -m csrnet_lite retouch -h`)."""
    p = subparsers.add_parser(
        "retouch", help="retouch full-resolution photos through a baked 3D LUT",
        description="Retouch full-resolution photos (JPEG, PNG, TIFF; 8 or 16 bit) with a CSRNet: the "
                    "condition network sees a 128x128 thumbnail, the retouch is baked into a 3D LUT and "
                    "applied to every pixel. Outputs keep the format, bit depth, ICC profile and EXIF "
                    "(stored upright). By default photo.jpg becomes photo_retouched.jpg beside it and a "
                    "folder DIR becomes DIR_retouched/; existing files are never replaced without "
                    "--overwrite.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help="photos, or folders whose photos (top level only) are all retouched")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, metavar="M.pt",
                       help="a CSRNet state_dict or csrnet-lite training checkpoint")
    which.add_argument("--official", nargs="?", const="", metavar="PATH",
                       help="the authors' weights (default: $CSRNET_LITE_WEIGHTS or ../shared/weights)")
    p.add_argument("--out", type=Path, metavar="DIR", help="write outputs into DIR (same file names)")
    p.add_argument("--strength", type=float, default=1.0, help="0: unchanged .. 1: full retouch (default 1)")
    p.add_argument("--lut-size", type=int, default=DEFAULT_SIZE,
                   help=f"lattice points per axis (default {DEFAULT_SIZE})")
    p.add_argument("--save-cube", type=Path, metavar="FILE",
                   help="also write the photo's LUT as an Adobe .cube file (one input photo only)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs, or the inputs themselves when --out points at them")
    p.set_defaults(func=_cli)


def plan_outputs(inputs: Sequence[Path], out: Path | None, overwrite: bool = False) -> list[tuple[Path, Path]]:
    """(input photo, output path) pairs for the CLI's arguments; raises before anything is written.

    Folders contribute their top-level photos. Without `out`, photo.jpg -> photo_retouched.jpg and
    DIR/ -> DIR_retouched/. Refuses missing inputs, non-photos, two inputs with one output, and, unless
    `overwrite`, any output that exists already (an input included).
    """
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            photos = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                            and not p.name.startswith("."))
            if not photos:
                raise FileNotFoundError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in folder {item}")
            folder = out if out is not None else item.parent / (item.name + SUFFIX)
            pairs += [(p, folder / p.name) for p in photos]
        elif item.is_file():
            if item.suffix.lower() not in PHOTO_SUFFIXES:
                raise ValueError(f"{item}: unsupported file type {item.suffix!r}; retouch reads and writes "
                                 f"{', '.join(PHOTO_SUFFIXES)}")
            pairs.append((item, out / item.name if out is not None
                          else item.with_name(item.stem + SUFFIX + item.suffix)))
        else:
            raise FileNotFoundError(f"no such photo or folder: {item}")
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        _check_photo(src)
        key = dst.resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {src} would both be written to {dst}; retouch them into "
                             "different --out folders")
        seen[key] = src
        if not overwrite and key == src.resolve():
            raise ValueError(f"output {dst} is the input itself; choose another --out or pass --overwrite")
        if not overwrite and dst.exists():
            raise ValueError(f"output {dst} exists already; pass --overwrite to replace it or choose "
                             "another --out")
    return pairs


def retouch_file(model: CSRNet, src: Path, dst: Path, *, size: int = DEFAULT_SIZE, strength: float = 1.0,
                 cond_size: int | None = DEFAULT_COND_SIZE) -> torch.Tensor:
    """Retouch the photo file `src` into `dst` (atomically) -> the LUT used (N, N, N, 3).

    The output has src's format and bit depth (8 or 16), ICC profile (RGB profiles only) and EXIF with
    the orientation tag dropped, since the pixels are stored upright.
    """
    from PIL import Image

    from .image import load_image, save_image

    with Image.open(src) as im:  # metadata only; load_image decodes the pixels
        fmt, bits = im.format, _stored_bits(im, src)
        icc = im.info.get("icc_profile")
        exif = im.getexif()
        options = {"quality": 95, "subsampling": _jpeg_subsampling(im)} if fmt in ("JPEG", "MPO") else {}
    if icc and icc[16:20] == b"RGB ":  # a grey or CMYK profile would misdescribe RGB output
        options["icc_profile"] = icc
    exif.pop(ORIENTATION, None)
    if len(exif):
        options["exif"] = exif.tobytes()
    photo = load_image(src)  # (1, 3, H, W), upright
    lut = retouch_lut(model, photo, size, strength, cond_size)
    result = apply_lut(photo, lut)
    del photo  # keep one full-size float copy alive, not two
    save_image(result, dst, bits=bits, **options)
    return lut


def _cli(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .model import load_official, load_state

    _check_strength(args.strength)
    _check_size(args.lut_size)
    if args.official and Path(args.official).suffix.lower() in PHOTO_SUFFIXES:
        raise ValueError(f"--official takes the weights file, got the photo {args.official}; write the "
                         "photos first (retouch photo.jpg --official) or --official=PATH")
    pairs = plan_outputs(args.inputs, args.out, args.overwrite)
    if args.save_cube is not None:
        if len(pairs) != 1:
            raise ValueError(f"--save-cube FILE takes one input photo (each photo has its own LUT), "
                             f"got {len(pairs)}")
        if args.save_cube.exists() and not args.overwrite:
            raise ValueError(f"{args.save_cube} exists already; pass --overwrite to replace it")
    if args.model is not None:
        model, cond_size = load_state(args.model), _trained_thumb_size(args.model)
    else:
        model, cond_size = load_official(args.official or None), DEFAULT_COND_SIZE
    for src, dst in tqdm(pairs, desc="retouch", unit="photo", disable=len(pairs) < 2):
        lut = retouch_file(model, src, dst, size=args.lut_size, strength=args.strength, cond_size=cond_size)
        if args.save_cube is not None:
            write_cube(args.save_cube, lut, title=f"csrnet-lite retouch of {src.name}".replace('"', "'"),
                       comments=[f"CSRNet retouch of {src.name}, strength {args.strength:g}",
                                 "baked by csrnet-lite (python -m csrnet_lite retouch)"])
    print(f"wrote {len(pairs)} photo{'s' * (len(pairs) != 1)}: {pairs[0][1]}{' ...' * (len(pairs) > 1)}")
    return 0


def _trained_thumb_size(path: Path) -> int | None:
    """The condition view a csrnet-lite checkpoint was trained with (its config's thumb_size), else 128."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # load_state has vetted the file
    config = state.get("config") if isinstance(state, dict) else None
    return config.get("thumb_size", DEFAULT_COND_SIZE) if isinstance(config, dict) else DEFAULT_COND_SIZE


def _check_photo(path: Path) -> None:
    """Raise ValueError unless Pillow recognises `path` as an image (reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path} is not an image Pillow can read ({e})") from None


def _stored_bits(im, path: Path) -> int:
    """16 when the file stores 16-bit samples (PNG, TIFF, 16-bit grey), else 8."""
    if im.mode.startswith("I"):  # I;16* and I: 16-bit grey as PIL opens it
        return 16
    if im.format == "PNG":  # PIL opens 16-bit RGB PNG as 8-bit RGB; the IHDR chunk says the truth
        with open(path, "rb") as f:
            header = f.read(25)
        return 16 if len(header) == 25 and header[24] == 16 else 8  # IHDR bit depth, byte 24
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))  # BitsPerSample
        return 16 if max(bits if isinstance(bits, tuple) else (bits,)) == 16 else 8
    return 8


def _jpeg_subsampling(im) -> int:
    """The JPEG's chroma subsampling as PIL's save option (-1: PIL's default)."""
    from PIL import JpegImagePlugin

    return JpegImagePlugin.get_sampling(im)
