"""The one place where images are converted (files, PIL images and numpy arrays <-> tensors) and
resized (`Resize` keeps the aspect ratio; `thumbnail` makes a small square view; what the condition
network sees is `model.CondView`), and turned (`dihedral`: the 8 flips and quarter turns).

Convention everywhere else in the package: a torch.float32 tensor of RGB values in [0, 1] with shape
(B, 3, H, W). `check_image` enforces it with messages that say what was expected. 16-bit PNG and
TIFF files are read and written by `image_files.py`, which also checks headers before decoding.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .files import atomic_path
from .image_files import check_file, open_unchecked, read_16bit_rgb, write_16bit_rgb

# Integer sample types and the value that maps to 1.0.
_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def check_image(x: torch.Tensor, name: str = "input", *, check_range: bool = True,
                tol: float = 1e-4) -> torch.Tensor:
    """Raise a clear TypeError/ValueError unless `x` is a float32 (B, 3, H, W) tensor in [0, 1].

    Returns `x` unchanged so it can be used inline. `check_range=False` skips the value check (for
    network outputs, which may leave [0, 1] slightly).

    >>> check_image(torch.zeros(1, 3, 2, 2)).shape
    torch.Size([1, 3, 2, 2])
    >>> check_image(torch.zeros(3, 2, 2))
    Traceback (most recent call last):
    ValueError: input must have shape (B, 3, H, W), got (3, 2, 2) (add a batch axis with x[None])
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(x).__name__}; "
                        "convert with csrnet_lite.to_tensor(...)")
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must have dtype torch.float32, got {x.dtype}; "
                        "convert with csrnet_lite.to_tensor(...) or x.float() / 255 for 8-bit data")
    if x.ndim != 4 or x.shape[1] != 3:
        hint = " (add a batch axis with x[None])" if x.ndim == 3 and x.shape[0] == 3 else ""
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}{hint}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} has an empty spatial size {tuple(x.shape[2:])}")
    if check_range and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -tol or hi > 1 + tol or not np.isfinite([lo, hi]).all():
            raise ValueError(f"{name} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                             "8-bit data must be divided by 255")
    return x


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """A PIL image or an (H, W), (H, W, 3) or (H, W, 4) array -> float32 tensor (1, 3, H, W) in [0, 1].

    uint8 is divided by 255 and uint16 by 65535; float arrays must already lie in [0, 1]. Grayscale is
    repeated to RGB; an alpha channel is dropped (FiveK's RGBA PNGs are opaque).

    >>> x = to_tensor(np.full((2, 5, 3), 255, np.uint8))  # an 8-bit white image, 2 rows of 5
    >>> x.shape, x.dtype, x.max().item()
    (torch.Size([1, 3, 2, 5]), torch.float32, 1.0)
    """
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a PIL image or numpy array, got {type(image).__name__}")
    a = image
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)  # (H, W) -> (H, W, 3)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)  # (H, W, 1) -> (H, W, 3)
    a = a[:, :, :3]  # drop alpha: (H, W, 4) -> (H, W, 3)
    if a.dtype in _INT_MAX:
        a = a.astype(np.float32) / _INT_MAX[a.dtype]
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise TypeError(f"unsupported sample type {a.dtype}; expected uint8, uint16 or float")
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # (H, W, 3) -> (1, 3, H, W)
    return check_image(t.contiguous(), "image")


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """PIL image -> uint8 or uint16 array (H, W, C), keeping 16-bit precision where PIL has it."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)  # 16-bit grayscale PNG/TIFF
    if im.mode == "I":  # 32-bit int, as PIL opens some 16-bit grayscale PNGs
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if im.mode == "F":
        return np.clip(np.asarray(im, dtype=np.float32), 0, 1)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")  # palette, CMYK, LA, RGBA... -> RGB
    return np.asarray(im)


def load_image(path: str | os.PathLike, *, budget: int | None = None) -> torch.Tensor:
    """Read a PNG/JPEG/TIFF (8 or 16 bit, RGB, RGBA or grayscale) -> float32 (1, 3, H, W) in [0, 1].

    EXIF orientation is applied, so the tensor shows the photo upright as a viewer would.
    16-bit RGB TIFF and PNG keep their full precision (PIL keeps only the high byte of each sample, so
    they are decoded twice by PIL, for the high and the low bytes: `image_files.read_16bit_rgb`).
    An alpha channel is dropped (`tools.retouch` copies it to its outputs). The file is checked first
    (`image_files.check_file`: one image, at most `budget` pixels).
    """
    path = Path(path)
    im = open_image(path, budget=budget)
    try:
        array = read_16bit_rgb(path, im)
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for unreadable files
        raise ValueError(f"cannot decode {path} as an image ({e}); is the file complete?") from None
    return to_tensor(im if array is None else array)


def open_image(path: str | os.PathLike, *, budget: int | None = None) -> Image.Image:
    """Decode an image file into a PIL image, upright (EXIF orientation applied), as `load_image` sees it.

    Raises FileNotFoundError for a missing file and ValueError for one PIL cannot decode, or one that
    `image_files.check_file` refuses from its header (over `budget` pixels, several frames).
    """
    path = Path(path)
    check_file(path, budget=budget)
    try:
        with open_unchecked(path) as im:
            upright = ImageOps.exif_transpose(im)
            upright.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:  # unreadable files
        raise ValueError(f"cannot decode {path} as an image ({e}); is the file complete?") from None
    return upright


def thumbnail(x: torch.Tensor, size: int = 128) -> torch.Tensor:
    """The condition network's view of a photo: (B, 3, H, W) -> (B, 3, size, size), antialiased.

    Used identically in training, evaluation and full-resolution retouching, so the condition vector
    of a photo does not depend on its resolution. The aspect ratio is not kept: the condition network
    only takes global statistics, and a fixed size lets photos of any shape share a batch.

    >>> thumbnail(torch.rand(1, 3, 300, 200)).shape
    torch.Size([1, 3, 128, 128])
    """
    return resize(x, (size, size), "bilinear")


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """The one place images are resampled: (B, 3, H, W) -> (B, 3, *size), antialiased, in [0, 1].

    `Resize` (bicubic, which reproduces PIL's BICUBIC on float data), `thumbnail` (bilinear) and the
    FiveK fetch (bilinear) call it. Returns x itself when it has that size already.

    >>> resize(torch.rand(1, 3, 30, 40), (15, 20)).shape
    torch.Size([1, 3, 15, 20])
    """
    check_image(x, "image to resize", check_range=False)  # shape and type; the output is clamped
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y = F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)  # -> (B, 3, *size)
    return y.clamp(0, 1)  # bicubic overshoots a little at sharp edges


@dataclass(frozen=True)
class Resize:
    """How photos are resized when loaded: one edge becomes `size` pixels, the aspect ratio is kept.

    Only downscaling: a photo whose edge is already `size` or less keeps its pixels unchanged.
    Resampling is bicubic with antialiasing (torch's `antialias=True`, which reproduces PIL's BICUBIC
    filter on float data), clamped to [0, 1]. The published policies are class attributes:
    Resize.NONE, Resize.SHORT_480 (the "480p" of 3D-LUT/AdaInt), Resize.LONG_500 (CSRNet's FiveK)
    and Resize.LONG_512 (DPE, CURL).
    """
    edge: str = "none"  # "short" or "long": the edge that becomes `size`; "none": keep every size
    size: int = 0       # pixels of that edge (0 with edge="none")

    NONE: ClassVar[Resize]
    SHORT_480: ClassVar[Resize]
    LONG_500: ClassVar[Resize]
    LONG_512: ClassVar[Resize]

    def __post_init__(self):
        if self.edge not in ("none", "short", "long"):
            raise ValueError(f"Resize edge must be 'short', 'long' or 'none', got {self.edge!r}")
        if self.edge == "none" and self.size != 0:
            raise ValueError(f"Resize('none') takes no size, got {self.size}")
        if self.edge != "none" and (not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"Resize size must be a positive number of pixels, got {self.size!r}")

    def __str__(self) -> str:
        return "no resize" if self.edge == "none" else f"{self.edge} edge {self.size}"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resizing a photo of (height, width).

        >>> Resize.LONG_512.output_size(1000, 600)
        (512, 307)
        >>> Resize.LONG_512.output_size(400, 300)  # never upscaled
        (400, 300)
        """
        edge = {"none": 0, "short": min(height, width), "long": max(height, width)}[self.edge]
        if edge <= self.size:
            return height, width
        if height == edge:
            return self.size, max(1, round(width * self.size / edge))
        return max(1, round(height * self.size / edge)), self.size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H', W') in [0, 1] with (H', W') = output_size(H, W)."""
        return resize(x, self.output_size(*x.shape[-2:]), "bicubic")


Resize.NONE = Resize()


Resize.SHORT_480 = Resize("short", 480)


Resize.LONG_500 = Resize("long", 500)


Resize.LONG_512 = Resize("long", 512)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor -> float32 array (H, W, 3), clamped to [0, 1], for plotting.

    >>> to_numpy(torch.ones(1, 3, 2, 4)).shape
    (2, 4, 3)
    """
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {x.shape[0]}; index it first")
        x = x[0]  # (1, 3, H, W) -> (3, H, W)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected shape (1, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (3, H, W) -> (H, W, 3)


def to_pil(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) tensor -> 8-bit RGB PIL image (values rounded, clamped to [0, 1]).

    >>> to_pil(torch.zeros(1, 3, 2, 5)).size  # PIL: (width, height)
    (5, 2)
    """
    return Image.fromarray(quantize(to_numpy(x)))


def quantize(a: np.ndarray | torch.Tensor, bits: int = 8):
    """Round [0, 1] values to integers as an 8-bit (uint8) or 16-bit (uint16) file stores them.

    >>> quantize(np.array([0.0, 0.5, 1.0, 1.2]))
    array([  0, 128, 255, 255], dtype=uint8)
    """
    top = (1 << bits) - 1
    if isinstance(a, torch.Tensor):
        return (a.clamp(0, 1) * top).round()
    return np.round(np.clip(a, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)


def save_image(x: torch.Tensor, path: str | os.PathLike, bits: int = 8, **pil_options) -> Path:
    """Write a (1, 3, H, W) tensor to PNG/JPEG/TIFF atomically (never a half-written file).

    Extra keyword arguments go to PIL's `save` (e.g. `quality=95`, `icc_profile=...`, `exif=...`).
    `bits=16` writes 16-bit RGB PNG or TIFF with this module's own writer (PIL cannot), which keeps
    the metadata options `icc_profile` (bytes) and `exif` (bytes or a PIL.Image.Exif) and refuses
    others. `stored_bits(path)` tells which depth a file has, to write an output as deep as its input.
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image extension {path.suffix!r}; use .png, .jpg or .tif")
    if bits == 16 and fmt not in ("PNG", "TIFF"):
        raise ValueError(f"16-bit images can be written as PNG or TIFF, not {fmt}; "
                         "use a .png or .tif path, or bits=8")
    unsupported = sorted(set(pil_options) - {"icc_profile", "exif"})
    if bits == 16 and unsupported:
        raise ValueError(f"save_image(bits=16) keeps only the options icc_profile and exif, got "
                         f"{', '.join(unsupported)}; drop them or save with bits=8")
    a = quantize(to_numpy(x), bits)
    with atomic_path(path) as tmp:
        if bits == 16:
            write_16bit_rgb(a, tmp, fmt, **pil_options)
        else:
            Image.fromarray(a).save(tmp, format=fmt, **pil_options)
    return path


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of x (..., H, W), k in 0..7.

    >>> dihedral(torch.tensor([[1, 2], [3, 4]]), 1).tolist()  # a quarter turn
    [[2, 4], [1, 3]]
    """
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k & 3, dims=(-2, -1))
