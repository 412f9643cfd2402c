"""Bake a CSRNet retouch into a 3D lookup table (LUT), apply it to images of any size, read/write .cube.

Why baking is exact up to interpolation
---------------------------------------
CSRNet's condition network looks at the whole photo once and outputs modulations (scales and shifts).
Once those are fixed, the base network is three 1x1 convolutions with ReLUs and per-channel GFMs: it
maps every pixel's (r, g, b) to a new (r, g, b) on its own, knowing nothing about the neighbours or
the position. So the whole retouch of one photo *is* a function RGB -> RGB, and a table of that
function at N^3 lattice colours holds the network's output at those colours exactly (it is computed
by the same `model.base`). Between lattice colours trilinear interpolation is the only approximation;
the base network is piecewise linear (128 ReLUs), trilinear interpolation reproduces linear maps
exactly, so the error comes only from cells that a ReLU kink crosses, and shrinks as N grows
(bench/fullres.py, authors' weights, a real FiveK photo at 12 MP: 46.2 dB PSNR against the network
at N=33, 55.0 dB at N=65, hence DEFAULT_SIZE = 65; the larger table makes the whole LUT path at
12 MP take ~1.3 s instead of ~0.8 s on one shared core). The cost drops from ~4,400 multiply-adds and 64-channel
activations per pixel (12 GB at 12 megapixels) to 274,625 network evaluations (N=65) once, plus 8
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

How the condition network sees a full-resolution photo (`CondView`)
-------------------------------------------------------------------
The condition network's output depends on the resolution it sees, so it is shown the view the model
was trained on, which also makes the modulations independent of the photo's size and cheap at 24 MP:
- models trained here: `image.thumbnail(photo, 128)`, the fixed 128 x 128 antialiased square that
  training uses (a checkpoint's TrainConfig.thumb_size; `CondView.THUMB_128`);
- the authors' weights (trained on whole FiveK photos of long edge ~500 px): the photo downscaled to
  long edge 512 with its aspect ratio kept (`data.Resize.LONG_512`; `CondView.LONG_512`).
What a view costs, as PSNR against running the condition network on the full photo (the authors'
test code, `CondView.FULL`), for the authors' weights on the FiveK photo a0015 resized to 1.5 MP
(and to 12 MP), measured by `python bench/fullres.py`:

    view      128 x 128   256 x 256   long edge 500   long edge 512   long edge 1000
    1.5 MP    30.4 dB     36.9 dB     40.5 dB         41.2 dB         48.7 dB
    12 MP     29.5 dB     34.3 dB     34.7 dB         35.3 dB         37.1 dB

The full photo is no ground truth: the larger the photo, the further its condition drifts from what
the network saw in training (~500 px photos), which is why the gap grows at 12 MP for every view.

`csrnet_lite.retouch` uses this module on photo files (`python -m csrnet_lite retouch`).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import torch
import torch.nn.functional as F

from .data import Resize
from .files import atomic_path
from .image import check_image, thumbnail
from .model import CSRNet, Modulations

DEFAULT_SIZE = 65  # lattice points per axis: 274,625 colours; 33 (photo editors' usual) loses ~9 dB
MAX_SIZE = 256  # .cube readers commonly accept up to 256 per axis
CHUNK_PIXELS = 1 << 20  # pixels per apply step: ~50 MB of temporaries whatever the photo size
BAKE_CHUNK = 1 << 16  # lattice colours per base-network call: ~70 MB of 64-channel activations

Domain = float | Sequence[float]  # one value for all channels, or (R, G, B)


# --- baking -------------------------------------------------------------------------------------

def identity_lut(size: int = DEFAULT_SIZE) -> torch.Tensor:
    """The lattice itself: (N, N, N, 3) with identity_lut(N)[b, g, r] = (r, g, b) / (N - 1)."""
    check_size(size)
    v = torch.linspace(0, 1, size)
    b, g, r = torch.meshgrid(v, v, v, indexing="ij")  # three (N, N, N) grids, blue slowest
    return torch.stack([r, g, b], dim=-1)  # -> (N, N, N, 3)


@torch.no_grad()
def bake_lut(model: CSRNet, mods: Modulations, size: int = DEFAULT_SIZE,
             strength: float = 1.0) -> torch.Tensor:
    """Run the base network with fixed modulations (batch 1) on every lattice colour -> LUT (N, N, N, 3).

    lut = grid + strength * (model.base(grid, mods) - grid); see the module docstring.
    """
    check_strength(strength)
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


@dataclass(frozen=True)
class CondView:
    """What the condition network sees of a photo of any size (the base network sees every pixel).

    A square thumbnail `image.thumbnail(photo, thumb_size)` (aspect ratio not kept) when thumb_size is
    set, else `resize(photo)`: a `data.Resize` downscale that keeps the aspect ratio and never
    upscales (Resize.NONE: the full photo). Show a model the view it was trained on (module docstring):
    CondView.THUMB_128 (models trained here, the default), CondView.LONG_512 (the authors' weights),
    CondView.FULL (the whole photo, as the authors' test code does; costly at 24 MP).
    """
    thumb_size: int | None = 128  # side of the square thumbnail; None: show `resize(photo)` instead
    resize: Resize = Resize.NONE  # the aspect-preserving view when thumb_size is None

    THUMB_128: ClassVar[CondView]
    LONG_512: ClassVar[CondView]
    FULL: ClassVar[CondView]

    def __post_init__(self):
        if self.thumb_size is not None and (isinstance(self.thumb_size, bool) or not isinstance(
                self.thumb_size, int) or self.thumb_size < 1):
            raise ValueError(f"CondView thumb_size must be a positive number of pixels or None, "
                             f"got {self.thumb_size!r}")
        if not isinstance(self.resize, Resize):
            raise TypeError(f"CondView resize must be a data.Resize such as Resize.LONG_512, "
                            f"got {self.resize!r}")
        if self.thumb_size is not None and self.resize != Resize.NONE:
            raise ValueError(f"a CondView is a {self.thumb_size}x{self.thumb_size} thumbnail or a resize "
                             f"({self.resize}), not both; pass thumb_size=None with a resize")

    def __str__(self) -> str:
        if self.thumb_size is not None:
            return f"{self.thumb_size}x{self.thumb_size} thumbnail"
        return "full photo" if self.resize == Resize.NONE else str(self.resize)

    def __call__(self, photo: torch.Tensor) -> torch.Tensor:
        """photo (B, 3, H, W) -> the condition network's input (B, 3, h, w) in [0, 1]."""
        if self.thumb_size is not None:
            return thumbnail(photo, self.thumb_size)  # -> (B, 3, s, s)
        return self.resize(photo)  # -> (B, 3, h, w), aspect ratio kept


CondView.THUMB_128 = CondView(128)
CondView.LONG_512 = CondView(None, Resize.LONG_512)
CondView.FULL = CondView(None, Resize.NONE)


@torch.no_grad()
def photo_modulations(model: CSRNet, photo: torch.Tensor,
                      view: CondView = CondView.THUMB_128) -> Modulations:
    """The modulations the condition network picks for one photo (1, 3, H, W) of any size, shown `view`."""
    check_image(photo, "photo")
    if photo.shape[0] != 1:
        raise ValueError(f"expected one photo (1, 3, H, W), got a batch of {photo.shape[0]}")
    if not isinstance(view, CondView):
        raise TypeError(f"view must be a CondView such as CondView.THUMB_128, got {view!r}")
    return model.modulations(view(photo))


def retouch_lut(model: CSRNet, photo: torch.Tensor, size: int = DEFAULT_SIZE, strength: float = 1.0,
                view: CondView = CondView.THUMB_128) -> torch.Tensor:
    """Bake the model's retouch of one photo (1, 3, H, W) into a LUT (N, N, N, 3); the condition
    network sees `view(photo)`."""
    return bake_lut(model, photo_modulations(model, photo, view), size, strength)


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

def check_size(size: int) -> int:
    """Raise ValueError unless size is a LUT lattice size (an integer from 2 to MAX_SIZE); return it."""
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be an integer from 2 to {MAX_SIZE} (33 and 65 are usual), "
                         f"got {size!r}")
    return size


def check_strength(strength: float) -> float:
    """Raise ValueError unless strength lies in [0, 1]; return it as a float."""
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
