"""Bake a CSRNet retouch into a 3D lookup table (LUT) and apply it to images of any size.

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
  long edge 512 with its aspect ratio kept (`image.Resize.LONG_512`; `CondView.LONG_512`).
What a view costs, as PSNR against running the condition network on the full photo (the authors'
test code, `CondView.FULL`), for the authors' weights on the FiveK photo a0015 resized to 1.5 MP
(and to 12 MP), measured by `python bench/fullres.py`:

    view      128 x 128   256 x 256   long edge 500   long edge 512   long edge 1000
    1.5 MP    30.4 dB     36.9 dB     40.5 dB         41.2 dB         48.7 dB
    12 MP     29.5 dB     34.3 dB     34.7 dB         35.3 dB         37.1 dB

The full photo is no ground truth: the larger the photo, the further its condition drifts from what
the network saw in training (~500 px photos), which is why the gap grows at 12 MP for every view.

`csrnet_lite.tools.retouch` uses this module on photo files (`python -m csrnet_lite retouch`);
`csrnet_lite.tools.cube` reads and writes LUTs as Adobe .cube files.

Introduced in notebook 06 (`06_visualising_modulations`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from .image import check_image
from .model import CondView, CSRNet, Modulations

DEFAULT_SIZE = 65  # lattice points per axis: 274,625 colours; 33 (photo editors' usual) loses ~9 dB
MAX_SIZE = 256  # .cube readers commonly accept up to 256 per axis
CHUNK_PIXELS = 1 << 20  # pixels per apply step: ~50 MB of temporaries whatever the photo size
BAKE_CHUNK = 1 << 16  # lattice colours per base-network call: ~70 MB of 64-channel activations

Domain = float | Sequence[float]  # one value for all channels, or (R, G, B)


# --- baking -------------------------------------------------------------------------------------

def identity_lut(size: int = DEFAULT_SIZE) -> torch.Tensor:
    """The lattice itself: (N, N, N, 3) with identity_lut(N)[b, g, r] = (r, g, b) / (N - 1).

    >>> identity_lut(2)[1, 0, 1].tolist()  # lut[b, g, r]: blue 1, green 0, red 1
    [1.0, 0.0, 1.0]
    """
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

    >>> x = torch.rand(1, 3, 4, 5)
    >>> torch.allclose(apply_lut(x, identity_lut(3)), x, atol=1e-5)  # trilinear reproduces linear maps
    True
    """
    check_image(x, "x", check_range=False)
    lut = check_lut(lut)
    lo, hi = check_domain(domain_min, "domain_min"), check_domain(domain_max, "domain_max")
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
    each with red growing to the right and green growing downwards. Clamped to [0, 1] for display.

    >>> lut_image(identity_lut(4)).shape
    torch.Size([1, 3, 4, 16])
    """
    lut = check_lut(lut)
    n = lut.shape[0]
    tiles = lut.permute(3, 1, 0, 2)  # (b, g, r, 3) -> (3, g, b, r)
    return tiles.reshape(1, 3, n, n * n).clamp(0, 1)  # (3, g, b, r) -> (1, 3, N, N*N)


# --- validation ---------------------------------------------------------------------------------

def check_size(size: int) -> int:
    """Raise ValueError unless size is a LUT lattice size (an integer from 2 to MAX_SIZE); return it.

    >>> check_size(33)
    33
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be an integer from 2 to {MAX_SIZE} (33 and 65 are usual), "
                         f"got {size!r}")
    return size


def check_strength(strength: float) -> float:
    """Raise ValueError unless strength lies in [0, 1]; return it as a float."""
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must lie in [0, 1] (0: unchanged, 1: full retouch), got {strength}")
    return float(strength)


def check_lut(lut: torch.Tensor) -> torch.Tensor:
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


def check_domain(value: Domain, name: str) -> torch.Tensor:
    """One number or three per-channel numbers -> tensor (3,)."""
    t = torch.as_tensor(value, dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.expand(3)
    if t.numel() != 3 or not torch.isfinite(t).all():
        raise ValueError(f"{name} must be one number or three (R, G, B), got {value!r}")
    return t.clone()
