"""Full-resolution photos in, retouched photos out: `python -m csrnet_lite retouch photo.jpg --official`.

    model, view = checkpoint.load_model(path)        a model file and its condition view
    retouch_photo(model, photo, view=view)          (1, 3, H, W) in [0, 1] -> (1, 3, H, W), via a LUT
    retouch_file(model, src, dst, view=view)        a photo file -> the retouched file, metadata kept

How it works (csrnet_lite.lut): the condition network sees a small view of the photo (`CondView`),
its retouch is baked into an N^3 LUT (N = 65 by default, `--lut-size`), and the LUT is applied to
every pixel by trilinear interpolation in bounded memory: for 8-bit photos by Pillow's
`ImageFilter.Color3DLUT` (C, uint8 to uint8, within one level of the torch path), for 16-bit photos
by `lut.apply_lut` (torch, which keeps every bit and shows the interpolation). At 12 MP on one (shared) CPU core that
took 1.3 s and 0.7 GB (0.8 s with --lut-size 33), where the direct forward pass took 72 s and 12 GB,
and matched it at 55 dB PSNR (46 dB with 33; bench/fullres.py).

Which view the condition network sees is decided in one place, `checkpoint.load_model`, from the
model file:
- the authors' weights (`--official`, trained on whole ~500 px FiveK photos) and any bare state_dict:
  the photo downscaled to long edge 512, aspect ratio kept (CondView.LONG_512); at 1.5 MP the
  authors' retouch matches conditioning on the full photo at 41 dB PSNR, where a 128 x 128
  thumbnail gives 30 dB (lut.py has the table);
- `--model` with a csrnet-lite checkpoint: the view its TrainConfig trained on, a thumb_size x
  thumb_size thumbnail, or LONG_512 for thumb_size=None (whole photos, which the command line trains
  at long edge 512).

Files: outputs keep the input's format and bit depth (8 or 16, `tools.formats.stored_bits`), JPEG quality 95
with the input's chroma subsampling, the ICC profile (RGB profiles only) and EXIF without the
orientation tag, since pixels are stored upright. Each output is written atomically, and no existing
file (an input included) is replaced without --overwrite.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageFilter, JpegImagePlugin, UnidentifiedImageError

from ..files import atomic_path
from ..image import CondView, load_image, open_image, save_image, to_tensor
from ..lut import DEFAULT_SIZE, apply_lut, check_lut, retouch_lut
from ..model import CSRNet
from .formats import stored_bits

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")  # formats read and written back as-is
SUFFIX = "_retouched"  # default output name: photo.jpg -> photo_retouched.jpg beside it
ORIENTATION = 0x0112  # EXIF tag; outputs are stored upright, so it is dropped


def retouch_photo(model: CSRNet, photo: torch.Tensor, size: int = DEFAULT_SIZE, strength: float = 1.0,
                  view: CondView = CondView.THUMB_128) -> torch.Tensor:
    """Retouch a full-resolution photo (1, 3, H, W) through a baked N^3 LUT -> (1, 3, H, W), not clamped.

    The condition network sees `view(photo)`; choose the view the model was trained on
    (`checkpoint.load_model`).
    """
    return apply_lut(photo, retouch_lut(model, photo, size, strength, view))


def retouch_file(model: CSRNet, src: Path, dst: Path, *, size: int = DEFAULT_SIZE, strength: float = 1.0,
                 view: CondView = CondView.THUMB_128) -> torch.Tensor:
    """Retouch the photo file `src` into `dst` (atomically) -> the LUT used (N, N, N, 3).

    The output has src's format and bit depth (8 or 16), ICC profile (RGB profiles only) and EXIF with
    the orientation tag dropped, since the pixels are stored upright. 8-bit photos go through
    Pillow's `ImageFilter.Color3DLUT` (C, from uint8 to uint8, within one level of `lut.apply_lut`);
    16-bit photos through `lut.apply_lut`, which keeps every bit.
    """
    options = save_options(src)
    if stored_bits(src) == 16:
        photo = load_image(src)  # (1, 3, H, W), upright
        lut = retouch_lut(model, photo, size, strength, view)
        result = apply_lut(photo, lut)
        del photo  # keep one full-size float copy alive, not two
        save_image(result, dst, bits=16, **options)
        return lut
    image = open_image(src).convert("RGB")  # upright, 8-bit RGB as load_image reads it
    lut = retouch_lut(model, to_tensor(image), size, strength, view)  # the view needs the float photo
    with atomic_path(dst) as tmp:
        apply_lut_8bit(image, lut).save(tmp, format=Image.registered_extensions()[dst.suffix.lower()],
                                        **options)
    return lut


def apply_lut_8bit(image: Image.Image, lut: torch.Tensor) -> Image.Image:
    """An 8-bit RGB PIL image through lut (N, N, N, 3) by Pillow's trilinear interpolation -> 8-bit RGB.

    The LUT's row order (red fastest) is the one Pillow's `Color3DLUT` reads; values are clipped to
    0..255 after interpolation, as `save_image` clamps.
    """
    table = check_lut(lut).numpy().reshape(-1)  # (N, N, N, 3) -> (N^3 * 3,), red fastest
    return image.filter(ImageFilter.Color3DLUT(lut.shape[0], table))


def save_options(src: Path) -> dict:
    """PIL save options that keep src's JPEG quality/subsampling, RGB ICC profile and EXIF (upright)."""
    with Image.open(src) as im:  # metadata only
        fmt = im.format
        icc = im.info.get("icc_profile")
        exif = im.getexif()
        options = {"quality": 95, "subsampling": _jpeg_subsampling(im)} if fmt in ("JPEG", "MPO") else {}
    if icc and icc[16:20] == b"RGB ":  # a grey or CMYK profile would misdescribe RGB output
        options["icc_profile"] = icc
    exif.pop(ORIENTATION, None)
    if len(exif):
        options["exif"] = exif.tobytes()
    return options


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


def _check_photo(path: Path) -> None:
    """Raise ValueError unless Pillow recognises `path` as an image (reads the header only)."""
    try:
        with Image.open(path) as im:
            im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path} is not an image Pillow can read ({e})") from None


def _jpeg_subsampling(im) -> int:
    """The JPEG's chroma subsampling as PIL's save option (-1: PIL's default)."""
    return JpegImagePlugin.get_sampling(im)
