"""Image file headers, and 16-bit RGB PNG and TIFF read and written with their ICC profile and EXIF.

`check_file` refuses, from the header and before any decoding, what no command should decode: files
Pillow cannot identify, images over the pixel budget (`settings.max_pixels`) and files of several frames.
Pillow reads 16-bit RGB files as 8-bit and cannot write them; `image.load_image` and
`image.save_image(bits=16)` use the readers and writers here. `stored_bits` tells which depth a
file has, so that `tools.retouch` writes an output as deep as its input.

Introduced in notebook 04 (`04_fivek_subset`), where photo files of any bit depth are read.
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, TiffTags
from PIL.TiffImagePlugin import ImageFileDirectory_v2

from .settings import max_pixels


def check_file(path: str | os.PathLike, *, budget: int | None = None) -> tuple[int, int]:
    """Raise a clear error unless `path` holds one image that may be decoded -> (width, height) as stored.

    Reads the header only, before any decoding: refuses files Pillow cannot identify, images of more
    than `budget` pixels (default `settings.max_pixels()`, CSRNET_LITE_MAX_PIXELS) and files of several
    frames (multi-page TIFF, animations; a camera's MPO JPEG counts as its first frame, the photo).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    budget = max_pixels() if budget is None else budget
    try:
        with open_unchecked(path) as im:
            width, height, fmt = *im.size, im.format
            frames = getattr(im, "n_frames", 1) if fmt != "MPO" else 1
    except Image.DecompressionBombError as e:  # beyond twice Pillow's own limit, refused by Image.open
        raise ValueError(f"{path} is too large to decode safely: {str(e).split(',')[0]} (a decompression "
                         "bomb, or a photo far beyond what this machine can retouch)") from None
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for unreadable files
        raise ValueError(f"cannot decode {path}: not an image Pillow can read ({e})") from None
    if width * height > budget:
        raise ValueError(f"{path} is {width} x {height} = {width * height / 1e6:.4g} MP, more than the "
                         f"budget of {budget / 1e6:.4g} MP; downscale it first, or raise the budget with "
                         f"CSRNET_LITE_MAX_PIXELS={width * height} if this machine has the memory "
                         f"(about {width * height * 55 / 1e9:.2g} GB)")
    if frames > 1:
        raise ValueError(f"{path} holds {frames} images (pages or frames); csrnet-lite reads one photo "
                         "per file: save the one you want as a file of its own")
    return width, height


def open_unchecked(path: Path) -> Image.Image:
    """Image.open without Pillow's decompression-bomb warning: `check_file` checks the size itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def read_16bit_rgb(path: Path, im: Image.Image) -> np.ndarray | None:
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
        with open_unchecked(path) as f:
            tiles = [byte_plane(tile, low) for tile in f.tile]
            if not tiles or None in tiles:
                return None
            f.tile = tiles
            planes.append(np.asarray(ImageOps.exif_transpose(f))[:, :, :3])  # (H, W, 3 or 4) -> (H, W, 3)
    high, low = planes
    return (high.astype(np.uint16) << 8) | low


def stored_bits(path: str | os.PathLike) -> int:
    """The bits per sample an image file stores: 16 for 16-bit PNG and TIFF (RGB or grey), else 8.

    PIL opens 16-bit RGB files as 8-bit "RGB", so its mode alone cannot tell; reads the header only.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with open_unchecked(path) as im:
            mode, fmt = im.mode, im.format
            tiff_bits = im.tag_v2.get(258, (8,)) if fmt == "TIFF" else (8,)  # BitsPerSample
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
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


# TIFF tags that describe how the pixels are stored: never copied from EXIF into a TIFF (8 or 16 bit).
# Subfile type, size, bits, compression, colour model, fill order, strips, samples, min/max sample,
# planes, fax options, predictor, palette, tiles, sub-directories, ink set and names, extra samples,
# sample format and range, JPEG tables and old-style JPEG, YCbCr layout, ICC profile.
TIFF_LAYOUT_TAGS = {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284, 292, 293, 317,
                    320, 322, 323, 324, 325, 330, 332, 333, 334, 338, 339, 340, 341, 347, *range(512, 522),
                    529, 530, 531, 532, 34675}


def write_16bit_rgb(a: np.ndarray, path: Path, fmt: str, icc_profile: bytes | None = None,
                     exif: bytes | Image.Exif | None = None) -> None:
    """Write a uint16 (H, W, 3) array as 16-bit RGB (PNG or TIFF), with an ICC profile and EXIF.

    PNG is simple enough to write with the standard library: IHDR, iCCP (the profile, zlib-compressed,
    with a name), eXIf (the EXIF's TIFF structure), one zlib-compressed IDAT with the "Sub" filter on
    every row, IEND. TIFF: a little-endian baseline file with one uncompressed strip, which every
    TIFF reader understands; its tags (the EXIF's first directory and sub-directories, and tag 34675
    for the profile) are laid out by PIL's own ImageFileDirectory_v2, as PIL's TIFF writer does.
    """
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()  # one form: the bytes a file stores, sub-directories included
    exif = bytes(exif or b"").removeprefix(b"Exif\0\0")  # a TIFF structure, as PNG's eXIf stores it
    if fmt == "PNG":
        path.write_bytes(_png16(a, icc_profile, exif))
    elif fmt == "TIFF":
        path.write_bytes(_tiff16(a, icc_profile, exif))
    else:
        raise ValueError(f"16-bit images can be written as PNG or TIFF, not {fmt}; "
                         "use a .png or .tif path, or bits=8")


def _png16(a: np.ndarray, icc_profile: bytes | None, exif: bytes) -> bytes:
    """A 16-bit RGB PNG file of a uint16 (H, W, 3) array, with iCCP and eXIf chunks when given."""
    h, w, _ = a.shape
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
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + metadata
            + chunk(b"IDAT", zlib.compress(data.tobytes(), 6)) + chunk(b"IEND", b""))


def _tiff16(a: np.ndarray, icc_profile: bytes | None, exif: bytes) -> bytes:
    """A 16-bit RGB baseline TIFF file (one uncompressed strip) of a uint16 (H, W, 3) array, with tags."""
    h, w, _ = a.shape
    pixels = np.ascontiguousarray(a, "<u2").tobytes()
    ifd = ImageFileDirectory_v2(prefix=b"II")
    tags = Image.Exif()
    tags.load(exif)  # nothing for b""
    for tag in tags:  # EXIF tags live in a TIFF's own directory
        if tag not in TIFF_LAYOUT_TAGS:  # those describe the pixels written here, set below
            sub_ifd = tag in TiffTags.TAGS_V2_GROUPS  # the Exif and GPS directories
            ifd[tag] = tags.get_ifd(tag) if sub_ifd else tags[tag]
    layout = {256: w, 257: h, 258: (16, 16, 16), 259: 1,  # width, height, bits per sample, no compression
              262: 2, 273: 0, 277: 3,  # RGB, strip offset (tobytes moves it past the tags), 3 samples
              278: h, 279: len(pixels), 284: 1}  # one strip of all rows, samples interleaved
    for tag, value in layout.items():
        ifd[tag] = value
    if icc_profile:
        ifd[34675] = icc_profile  # ICCProfile (type UNDEFINED)
    return b"II" + struct.pack("<HI", 42, 8) + ifd.tobytes(8) + pixels  # header, IFD at 8
