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

Files: outputs keep the input's format and bit depth (8 or 16, `image_files.stored_bits`), and its
metadata by one policy per format (`save_options`): JPEG quality 95 with the input's chroma
subsampling; the ICC profile (RGB profiles only); EXIF without the orientation tag, since pixels are
stored upright; XMP; PNG text chunks; for TIFF the first directory's tags less those that describe how
the pixels are stored. 16-bit PNGs keep the ICC profile and EXIF only, and a note says what was left
out. Each output is written atomically; what may be written is decided by `tools.outputs`.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageFilter, JpegImagePlugin, PngImagePlugin
from tqdm.auto import tqdm

from ..files import atomic_path, check_output_dir
from ..image import load_image, open_image, save_image, to_tensor
from ..lut import DEFAULT_SIZE, apply_lut, check_lut, retouch_lut
from ..model import CondView, CSRNet
from ..image_files import TIFF_LAYOUT_TAGS, check_file, open_unchecked, stored_bits
from .cube import write_cube
from .outputs import deliver

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
    16-bit photos through `lut.apply_lut`, which keeps every bit. Transparency is kept for 8-bit
    photos (the colours retouched, the alpha copied); a 16-bit photo with transparency is refused.
    """
    check_file(src)  # one image within the pixel budget, from its header
    options = save_options(src)
    if stored_bits(src) == 16:
        _refuse_16bit_alpha(src)
        photo = load_image(src)  # (1, 3, H, W), upright
        lut = retouch_lut(model, photo, size, strength, view)
        result = apply_lut(photo, lut)
        del photo  # keep one full-size float copy alive, not two
        kept = {k: v for k, v in options.items() if k in ("icc_profile", "exif")}
        save_image(result, dst, bits=16, **kept)
        if "pnginfo" in options or "xmp" in options:
            print(f"note: {dst} leaves out the text chunks and XMP of {src.name}: the 16-bit writer keeps "
                  "the ICC profile and EXIF only", file=sys.stderr)
        return lut
    image = open_image(src)  # upright
    alpha = image.convert("RGBA").getchannel("A") if image.has_transparency_data else None
    image = image.convert("RGB")  # 8-bit RGB as load_image reads it
    lut = retouch_lut(model, to_tensor(image), size, strength, view)  # the view needs the float photo
    result = apply_lut_8bit(image, lut)
    if alpha is not None:
        result.putalpha(alpha)  # the colours retouched, the transparency copied
    with atomic_path(dst) as tmp:
        result.save(tmp, format=Image.registered_extensions()[dst.suffix.lower()], **options)
    return lut


def retouch_all(pairs: list[tuple[Path, Path]], model: CSRNet, view: CondView, *, size: int = DEFAULT_SIZE,
                strength: float = 1.0, cube: Path | None = None, debug: bool = False) -> list[str]:
    """Retouch every (src, dst) pair (`retouch_file`), carrying on past a bad photo -> what failed, one
    line each. `cube`: also write the (one) photo's LUT there (`outputs.deliver`: a file or standard output).

    A single photo's failure (or any under `debug`) is raised as it is, for the error boundary.
    """
    failed: list[str] = []
    for src, dst in tqdm(pairs, desc="retouch", unit="photo", disable=len(pairs) < 2):
        try:
            lut = retouch_file(model, src, dst, size=size, strength=strength, view=view)
        except (ValueError, OSError, RuntimeError, MemoryError) as e:  # one bad photo: go on with the rest
            if len(pairs) == 1 or debug:
                raise
            failed.append(str(e) if str(src) in str(e) else f"{src}: {e}")
            tqdm.write(f"failed: {failed[-1]}", file=sys.stderr)
            continue
        if cube is not None:
            deliver(cube, functools.partial(
                write_cube, lut=lut, title=f"csrnet-lite retouch of {src.name}".replace('"', "'"),
                comments=[f"CSRNet retouch of {src.name}, strength {strength:g}, condition network view: "
                          f"{view}", "baked by csrnet-lite (python -m csrnet_lite retouch)"]))
    return failed


def apply_lut_8bit(image: Image.Image, lut: torch.Tensor) -> Image.Image:
    """An 8-bit RGB PIL image through lut (N, N, N, 3) by Pillow's trilinear interpolation -> 8-bit RGB.

    The LUT's row order (red fastest) is the one Pillow's `Color3DLUT` reads; values are clipped to
    0..255 after interpolation, as `save_image` clamps.
    """
    table = check_lut(lut).numpy().reshape(-1)  # (N, N, N, 3) -> (N^3 * 3,), red fastest
    return image.filter(ImageFilter.Color3DLUT(lut.shape[0], table))


def _refuse_16bit_alpha(src: Path) -> None:
    """Raise ValueError for a 16-bit photo with transparency (not fully opaque), which no writer here keeps."""
    with open_unchecked(src) as im:  # the header says whether there is an alpha channel
        if not im.has_transparency_data:
            return
        opaque = im.convert("RGBA").getchannel("A").getextrema()[0] == 255
    if not opaque:
        raise ValueError(f"{src} is a 16-bit photo with transparency, which retouch cannot write; "
                         "save it without the alpha channel, or as 8-bit")


def save_options(src: Path) -> dict:
    """PIL save options that carry src's metadata into an 8-bit RGB(A) output of src's format.

    The policy, one per format: every format keeps the ICC profile (RGB profiles only: a grey or CMYK
    one would misdescribe the output) and the EXIF less its orientation (pixels are stored upright).
    JPEG: quality 95 and src's chroma subsampling, and its XMP. PNG: every text chunk (tEXt, zTXt and
    iTXt, XMP included). TIFF: the EXIF is the whole first directory, so the tags that describe how
    the pixels are stored (`image_files.TIFF_LAYOUT_TAGS`: size, samples, bits, colour model...) are left
    out, as the 16-bit writer does; the writer sets them for the output. XMP (tag 700) stays.
    """
    try:
        with open_unchecked(src) as im:  # metadata only
            fmt, info = im.format, dict(im.info)
            exif = im.getexif()
            text = dict(getattr(im, "text", {})) if fmt == "PNG" else {}
            options = {"quality": 95, "subsampling": _jpeg_subsampling(im)} if fmt in ("JPEG", "MPO") else {}
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for unreadable files
        raise ValueError(f"cannot decode {src} as an image ({e}); is the file complete?") from None
    icc = info.get("icc_profile")
    if icc and icc[16:20] == b"RGB ":
        options["icc_profile"] = icc
    for tag in [ORIENTATION, *(TIFF_LAYOUT_TAGS if fmt == "TIFF" else ())]:
        exif.pop(tag, None)
    if len(exif):
        options["exif"] = exif.tobytes()
    if fmt in ("JPEG", "MPO") and info.get("xmp"):
        options["xmp"] = info["xmp"]
    if text:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        for key, value in text.items():
            options["pnginfo"].add_itxt(key, str(value))
    return options


def plan_outputs(inputs: Sequence[Path], out: Path | None, overwrite: bool = False,
                 skip_existing: bool = False) -> list[tuple[Path, Path]]:
    """(input photo, output path) pairs for the CLI's arguments; raises before anything is written.

    Folders contribute their top-level photos. Without `out`, photo.jpg -> photo_retouched.jpg and
    DIR/ -> DIR_retouched/. Refuses missing inputs, non-photos, an `out` that is a file or looks like a
    file name, folders that cannot be written, two inputs with one output, and, unless `overwrite`,
    any output that exists already (an input included); `skip_existing` leaves those out instead.
    """
    if out is not None:
        _check_out(out)
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
    _check_outputs(pairs, overwrite, skip_existing)
    if skip_existing and not overwrite:
        pairs = [(src, dst) for src, dst in pairs if not dst.exists()]
    return pairs


def _check_out(out: Path) -> None:
    """Raise unless `out` is a folder that exists or can be made, and writable."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; --out takes a folder (outputs keep their names)")
    if not out.exists() and out.suffix.lower() in PHOTO_SUFFIXES:
        raise ValueError(f"--out {out} looks like a file name, but --out takes a folder and the outputs "
                         f"keep their names; use --out {out.parent / out.stem} or rename afterwards")
    check_output_dir(out, what="--out")


def _check_outputs(pairs: list[tuple[Path, Path]], overwrite: bool, skip_existing: bool) -> None:
    """Raise for an unreadable input, an unwritable folder, two inputs with one output, or an output
    that would replace an input or an existing file (unless `overwrite`, or `skip_existing`)."""
    for folder in dict.fromkeys(dst.parent for _, dst in pairs):
        check_output_dir(folder)
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        check_file(src)  # one image within the pixel budget, from its header
        key = dst.resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {src} would both be written to {dst}; retouch them into "
                             "different --out folders")
        seen[key] = src
        if not overwrite and key == src.resolve():
            raise ValueError(f"output {dst} is the input itself; choose another --out or pass --overwrite")
        if dst.is_dir():
            raise IsADirectoryError(f"output {dst} is a folder; move it away or choose another --out")
        if not overwrite and not skip_existing and dst.exists():
            raise ValueError(f"output {dst} exists already; pass --overwrite to replace it, --skip-existing "
                             "to retouch only the others, or choose another --out")


def _jpeg_subsampling(im) -> int:
    """The JPEG's chroma subsampling as PIL's save option (-1: PIL's default)."""
    return JpegImagePlugin.get_sampling(im)
