"""The one place where images are converted: files, PIL images and numpy arrays <-> tensors.

Convention everywhere else in the package: a torch.float32 tensor of RGB values in [0, 1] with shape
(B, 3, H, W). `check_image` enforces it with messages that say what was expected.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .files import atomic_path

# Integer sample types and the value that maps to 1.0.
_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def check_image(x: torch.Tensor, name: str = "input", *, check_range: bool = True,
                tol: float = 1e-4) -> torch.Tensor:
    """Raise a clear TypeError/ValueError unless `x` is a float32 (B, 3, H, W) tensor in [0, 1].

    Returns `x` unchanged so it can be used inline. `check_range=False` skips the value check (for
    network outputs, which may leave [0, 1] slightly).
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


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read a PNG/JPEG/TIFF (8 or 16 bit, RGB, RGBA or grayscale) -> float32 (1, 3, H, W) in [0, 1].

    EXIF orientation is applied, so the tensor shows the photo upright as a viewer would.
    16-bit RGB TIFF and PNG keep their full precision (PIL keeps only the high byte of each sample, so
    they are decoded twice by PIL, for the high and the low bytes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            array = _read_16bit_rgb(path, im)
            if array is None:
                array = _pil_to_array(im)
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for unreadable files
        raise ValueError(f"cannot decode {path} as an image ({e}); is the file complete?") from None
    return to_tensor(array)


def _read_16bit_rgb(path: Path, im: Image.Image) -> np.ndarray | None:
    """16-bit RGB TIFF/PNG as a uint16 (H, W, 3) array, or None for anything else.

    PIL opens these files as 8-bit "RGB" (or "RGBA") and keeps only the high byte of each sample,
    but its decoders still undo the PNG filters and the TIFF compression (LZW, deflate...) correctly.
    So the file is decoded twice by PIL's own decoder: once as PIL does (the high bytes) and once with
    the byte order of the raw mode swapped ("RGB;16B" <-> "RGB;16L"), which keeps the low bytes;
    value = 256 * high + low. Both planes get the same `exif_transpose` as `load_image` applies.
    """
    if im.mode not in ("RGB", "RGBA"):
        return None
    native = "L" if np.little_endian else "B"  # what PIL's ";16N" (native order) raw modes mean

    def byte_plane(tile, low: bool):
        """The tile with a raw mode that unpacks the high (or low) byte of each 16-bit sample."""
        rawmode = tile.args if isinstance(tile.args, str) else tile.args[0]
        base, sep, order = str(rawmode).rpartition(";16")
        if not sep or base not in ("RGB", "RGBA", "RGBX") or order not in ("B", "L", "N"):
            return None  # not 16-bit RGB: PIL's own decode keeps every bit
        order = native if order == "N" else order
        if low:
            order = "L" if order == "B" else "B"  # read the samples in the other byte order
        rawmode = f"{base};16{order}"
        args = rawmode if isinstance(tile.args, str) else (rawmode, *tile.args[1:])
        return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)

    planes = []
    for low in (False, True):
        with Image.open(path) as f:
            tiles = [byte_plane(tile, low) for tile in f.tile]
            if not tiles or None in tiles:
                return None
            f.tile = tiles
            planes.append(np.asarray(ImageOps.exif_transpose(f))[:, :, :3])  # (H, W, 3 or 4) -> (H, W, 3)
    high, low = planes
    return (high.astype(np.uint16) << 8) | low


def thumbnail(x: torch.Tensor, size: int = 128) -> torch.Tensor:
    """The condition network's view of a photo: (B, 3, H, W) -> (B, 3, size, size), antialiased.

    Used identically in training, evaluation and full-resolution retouching, so the condition vector
    of a photo does not depend on its resolution. The aspect ratio is not kept: the condition network
    only takes global statistics, and a fixed size lets photos of any shape share a batch.
    """
    check_image(x, "image", check_range=False)
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor -> float32 array (H, W, 3), clamped to [0, 1], for plotting."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {x.shape[0]}; index it first")
        x = x[0]  # (1, 3, H, W) -> (3, H, W)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected shape (1, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (3, H, W) -> (H, W, 3)


def to_pil(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) tensor -> 8-bit RGB PIL image (values rounded, clamped to [0, 1])."""
    return Image.fromarray(quantize(to_numpy(x)))


def quantize(a: np.ndarray | torch.Tensor, bits: int = 8):
    """Round [0, 1] values to integers as an 8-bit (uint8) or 16-bit (uint16) file stores them."""
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
            _write_16bit_rgb(a, tmp, fmt, **pil_options)
        else:
            Image.fromarray(a).save(tmp, format=fmt, **pil_options)
    return path


def stored_bits(path: str | os.PathLike) -> int:
    """The bits per sample an image file stores: 16 for 16-bit PNG and TIFF (RGB or grey), else 8.

    PIL opens 16-bit RGB files as 8-bit "RGB", so its mode alone cannot tell; reads the header only.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as im:
            mode, fmt = im.mode, im.format
            tiff_bits = im.tag_v2.get(258, (8,)) if fmt == "TIFF" else (8,)  # BitsPerSample
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read {path} as an image ({e})") from None
    if mode.startswith("I"):  # I;16* and I: 16-bit grey as PIL opens it
        return 16
    if fmt == "PNG":  # the IHDR chunk, first in every PNG, holds the bit depth at byte 24
        with open(path, "rb") as f:
            header = f.read(25)
        return 16 if len(header) == 25 and header[24] == 16 else 8
    if fmt == "TIFF":
        return 16 if max(tiff_bits if isinstance(tiff_bits, tuple) else (tiff_bits,)) == 16 else 8
    return 8


# TIFF tags that describe how the pixels are stored: never copied from EXIF into a 16-bit TIFF.
# Subfile type, size, bits, compression, colour model, strips, samples, planes, predictor, tiles,
# extra samples, sample format, ICC profile.
_TIFF_LAYOUT_TAGS = {254, 255, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325,
                     338, 339, 34675}


def _write_16bit_rgb(a: np.ndarray, path: Path, fmt: str, icc_profile: bytes | None = None,
                     exif: bytes | Image.Exif | None = None) -> None:
    """Write a uint16 (H, W, 3) array as 16-bit RGB (PNG or TIFF), with an ICC profile and EXIF.

    PNG is simple enough to write with the standard library: IHDR, iCCP (the profile, zlib-compressed,
    with a name), eXIf (the EXIF's TIFF structure), one zlib-compressed IDAT with the "Sub" filter on
    every row, IEND. TIFF: a little-endian baseline file with one uncompressed strip, which every
    TIFF reader understands; its tags (the EXIF's first directory and sub-directories, and tag 34675
    for the profile) are laid out by PIL's own ImageFileDirectory_v2, as PIL's TIFF writer does.
    """
    import struct
    import zlib

    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()  # one form: the bytes a file stores, sub-directories included
    exif = bytes(exif or b"").removeprefix(b"Exif\0\0")  # a TIFF structure, as PNG's eXIf stores it
    h, w, _ = a.shape
    if fmt == "PNG":
        rows = np.ascontiguousarray(a, ">u2").view(np.uint8).reshape(h, w * 6)  # (H, W, 3) -> bytes (H, 6W)
        filtered = rows.copy()
        filtered[:, 6:] -= rows[:, :-6]  # "Sub" filter: minus the same byte one pixel left (mod 256)
        data = np.concatenate([np.ones((h, 1), np.uint8), filtered], axis=1)  # filter type 1 first: (H, 1 + 6W)

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 (RGB)
        metadata = b""
        if icc_profile:  # name, NUL, compression method 0 (zlib), the compressed profile
            metadata += chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile))
        if exif:
            metadata += chunk(b"eXIf", exif)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + metadata
                         + chunk(b"IDAT", zlib.compress(data.tobytes(), 6)) + chunk(b"IEND", b""))
    elif fmt == "TIFF":
        from PIL import TiffTags
        from PIL.TiffImagePlugin import ImageFileDirectory_v2

        pixels = np.ascontiguousarray(a, "<u2").tobytes()
        ifd = ImageFileDirectory_v2(prefix=b"II")
        tags = Image.Exif()
        tags.load(exif)  # nothing for b""
        for tag in tags:  # EXIF tags live in a TIFF's own directory
            if tag not in _TIFF_LAYOUT_TAGS:  # those describe the pixels written here, set below
                sub_ifd = tag in TiffTags.TAGS_V2_GROUPS  # the Exif and GPS directories
                ifd[tag] = tags.get_ifd(tag) if sub_ifd else tags[tag]
        layout = {256: w, 257: h, 258: (16, 16, 16), 259: 1,  # width, height, bits per sample, no compression
                  262: 2, 273: 0, 277: 3,  # RGB, strip offset (tobytes moves it past the tags), 3 samples
                  278: h, 279: len(pixels), 284: 1}  # one strip of all rows, samples interleaved
        for tag, value in layout.items():
            ifd[tag] = value
        if icc_profile:
            ifd[34675] = icc_profile  # ICCProfile (type UNDEFINED)
        path.write_bytes(b"II" + struct.pack("<HI", 42, 8) + ifd.tobytes(8) + pixels)  # header, IFD at 8
    else:
        raise ValueError(f"16-bit images can be written as PNG or TIFF, not {fmt}; "
                         "use a .png or .tif path, or bits=8")
