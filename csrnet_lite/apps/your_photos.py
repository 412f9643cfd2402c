"""Retouch your own photos in a notebook (notebook 8): the model, the upload, the files, the widget.

    retoucher = pick_retoucher(checkpoint)                 # notebook 5's model, the authors', or by hand
    [path] = save_upload(upload.value, folder / "uploads")  # a FileUpload's files, saved and checked
    result = retouch_photo_file(retoucher, path, folder)    # full-resolution photo + .cube, with progress
    render(result, split=0.5, strength=0.8)                 # the before/after picture the sliders show

Every photo goes the command line's way (`csrnet_lite.tools.retouch`): the file is checked by the same
functions, so a bad file gets the same message; the condition network sees the view its model was
trained on; the retouch is baked into a 65^3 LUT that is applied to every pixel, in bands so that a
progress bar can follow a large photo; the output keeps the format, bit depth, ICC profile and EXIF.
The sliders never touch the full photo: they blend two precomputed pictures, since strength is linear
in the LUT (`csrnet_lite.lut`).

The files go to a folder beside the notebook, so that JupyterLab serves the download links
(`/files/...`). Files in that folder are the notebook's own and are replaced when a photo of the same
name comes again.

Introduced in notebook 08 (`08_your_own_photos`).
"""
from __future__ import annotations

import html
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .. import ops
from ..by_hand import hand_made_csrnet, hand_modulations
from ..checkpoint import OFFICIAL_VIEW, load_model, load_official
from ..curves import curve_panels_picture
from ..files import atomic_path
from ..image import Resize, load_image, save_image
from ..lut import DEFAULT_SIZE, apply_lut, bake_lut, check_size, check_strength, identity_lut, photo_modulations
from ..model import CondView, CSRNet, Modulations
from ..before_after import split_view
from ..settings import official_weights_path
from ..tools import errors
from ..tools.cube import write_cube
from ..image_files import open_unchecked, stored_bits
from ..tools.retouch import PHOTO_SUFFIXES, SUFFIX, plan_outputs, save_options

PREVIEW_EDGE = 512  # long edge of the before/after picture that the sliders redraw
BAND_PIXELS = 1 << 21  # pixels per step of the progress bar when the LUT is applied (~25 MB of temporaries)
HAND_GREY = 0.45  # the mean luma the hand-written condition network brightens (or darkens) a photo to
# What the command line reports as "error: <message>" without a traceback (csrnet_lite.__main__).
USER_ERRORS = (FileNotFoundError, ValueError, TypeError)

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is being done) -> None


# --- the model --------------------------------------------------------------------------------------

class CSRNetByHand(CSRNet):
    """`by_hand.hand_made_csrnet` with a condition network written by hand, for when no trained model exists.

    modulations(photo (1, 3, H, W)): brightness that brings the photo's mean luma to HAND_GREY (a factor
    kept within [0.7, 1.6]), contrast 1.1 and saturation 1.1, then the house S-curve (`by_hand`).
    """

    def __init__(self):
        super().__init__()
        self.load_state_dict(hand_made_csrnet().state_dict())
        self.eval()

    def modulations(self, cond_input: torch.Tensor) -> Modulations:
        mean = float(ops.mean_luminance(cond_input)[0])
        brightness = min(max(HAND_GREY / max(mean, 1e-3), 0.7), 1.6)
        return hand_modulations(cond_input, brightness=brightness, contrast=1.1, saturation=1.1)


@dataclass(frozen=True)
class PhotoRetoucher:
    """A CSRNet to retouch with, the view its condition network sees, and where it comes from.

    kind: "notebook 5", "authors" or "by hand"; origin: a sentence for the reader.
    """

    model: CSRNet
    view: CondView
    kind: str
    origin: str

    def modulations(self, photo: torch.Tensor) -> Modulations:
        """The modulations for one photo (1, 3, H, W) of any size (its condition view, batch 1)."""
        return photo_modulations(self.model, photo, self.view)


def pick_retoucher(checkpoint: str | os.PathLike | None = None,
                   weights: str | os.PathLike | None = None) -> PhotoRetoucher:
    """The first that exists: notebook 5's model (`checkpoint`, with the .json its finished run writes),
    the authors' weights (`weights`, default `settings.official_weights_path()`), else CSRNet by hand.

    A file that is there but cannot be read is passed over, and `origin` says why.
    """
    skipped = []
    if checkpoint is not None and Path(checkpoint).is_file() and Path(checkpoint).with_suffix(".json").is_file():
        checkpoint = Path(checkpoint)
        try:
            model, view = load_model(checkpoint)
            data = _trained_on(checkpoint.with_suffix(".json"))
            return PhotoRetoucher(model, view, "notebook 5", f"the model notebook 5 trained with the fast recipe "
                             f"({checkpoint.name}{data}); its condition network sees a {view}")
        except USER_ERRORS as e:
            skipped.append(f"notebook 5's model was passed over: {e}")
    weights = Path(weights) if weights is not None else official_weights_path()
    if weights.is_file():
        try:
            model, view = load_official(weights), OFFICIAL_VIEW
            return PhotoRetoucher(model, view, "authors", "the authors' released weights (trained on MIT-Adobe "
                             f"FiveK, expert C); their condition network sees the {view}" + _notes(skipped))
        except USER_ERRORS as e:
            skipped.append(f"the authors' weights were passed over: {e}")
    return PhotoRetoucher(CSRNetByHand(), CondView.THUMB_128, "by hand",
                     "CSRNet by hand (`csrnet_lite.by_hand`): no trained model was found, so a brightness "
                     "that brings the mean to mid grey, contrast and saturation 1.1 and an S-curve; run "
                     "notebook 5 or download the authors' weights for a learned retouch" + _notes(skipped))


def _trained_on(meta: Path) -> str:
    try:
        root = json.loads(meta.read_text(encoding="utf-8")).get("root", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return f", trained on {Path(root).name}/" if root else ""


def _notes(skipped: Sequence[str]) -> str:
    return "".join(f" ({s})" for s in skipped)


# --- files in -----------------------------------------------------------------------------------------

def check_photo(path: str | os.PathLike) -> Path:
    """Raise the command line's error unless `path` is one photo that `retouch` reads; return it.

    The suffix and the file's header are checked by `retouch.plan_outputs`, as for the command line;
    a damaged file is found when it is decoded (`image.load_image`), again with the same message.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the path of one photo ({', '.join(PHOTO_SUFFIXES)}), "
                         "or retouch a whole folder with `python -m csrnet_lite retouch FOLDER`")
    plan_outputs([path], None, overwrite=True)  # writes nothing
    return path


def typed_path(text: str, base: str | os.PathLike | None = None) -> tuple[Path, str]:
    """A path as typed or pasted into the path box -> (path, note): surrounding spaces and quotes
    ('...' or "..." as a file manager copies them) removed, ~ expanded. A relative path is read from
    `base` (default: the working folder, the notebook's folder in Jupyter), and the note says so.
    """
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    path = Path(text).expanduser()
    if path.is_absolute() or not text:
        return path, ""
    folder = Path(base) if base is not None else Path.cwd()
    return folder / path, f"a relative path is read from the folder {folder.resolve()}"


def conversions(path: str | os.PathLike) -> tuple[str, ...]:
    """What retouching the photo at `path` changes besides its colours, one phrase each (from its
    header): greyscale or CMYK converted to RGB, a palette expanded, transparency dropped."""
    with open_unchecked(Path(path)) as im:
        mode, transparent = im.mode, im.has_transparency_data
    notes = []
    if mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        notes.append("greyscale photo: retouched and saved as colour (RGB); the retouch may tint it slightly")
    elif mode == "CMYK":
        notes.append("CMYK photo: converted to RGB, retouched and saved as RGB")
    elif mode in ("P", "PA"):
        notes.append("palette photo: converted to RGB")
    if transparent:
        notes.append("transparency dropped: the notebook saves opaque RGB (`python -m csrnet_lite retouch` keeps it)")
    return tuple(notes)


def save_upload(files: Sequence[Mapping], folder: str | os.PathLike) -> list[Path]:
    """The files of an ipywidgets FileUpload (its `value`: dicts with "name" and "content") -> paths.

    Each is written into `folder` under its own file name (any folder part dropped, odd characters
    replaced) and checked with `check_photo`; a file that fails is removed again and its error raised.
    """
    folder = Path(folder)
    paths = []
    for entry in files:
        name = Path(str(entry.get("name", "")).replace("\\", "/")).name
        name = re.sub(r"[^\w.\- ]", "_", name).strip() or "upload"
        path = folder / ("_" + name if name.startswith(".") else name)  # never a hidden file
        with atomic_path(path) as tmp:
            tmp.write_bytes(bytes(entry["content"]))
        try:
            paths.append(check_photo(path))
        except BaseException:
            path.unlink(missing_ok=True)  # nothing left behind for a file that is not a photo
            raise
    return paths


# --- retouching ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """One retouched photo: the files written and what the widget shows of it.

    lut (N, N, N, 3) at strength 1; before (h, w, 3) in [0, 1] and after (h, w, 3) (the LUT at strength
    1, not clamped) at long edge PREVIEW_EDGE; files written at `strength`; size (H, W) of the photo.
    """

    source: Path
    photo: Path
    cube: Path
    size: tuple[int, int]
    strength: float
    mods: Modulations
    lut: torch.Tensor
    before: np.ndarray
    after: np.ndarray
    seconds: float
    notes: tuple[str, ...] = ()  # conversions besides the retouch (`conversions`)


def lut_at(lut: torch.Tensor, strength: float) -> torch.Tensor:
    """A strength-1 LUT (N, N, N, 3) at another strength: identity + strength * (lut - identity)."""
    check_strength(strength)
    return torch.lerp(identity_lut(lut.shape[0]), lut, strength)


def apply_in_bands(photo: torch.Tensor, lut: torch.Tensor, progress: Callable[[float], None] | None = None
                   ) -> torch.Tensor:
    """`apply_lut(photo, lut)` for one photo (1, 3, H, W), a band of rows at a time, reporting the
    fraction done after each band -> (1, 3, H, W), not clamped."""
    height, width = photo.shape[-2:]
    rows = max(1, BAND_PIXELS // width)
    out = torch.empty_like(photo)
    for top in range(0, height, rows):
        out[:, :, top:top + rows] = apply_lut(photo[:, :, top:top + rows], lut)  # (1, 3, rows, W)
        if progress is not None:
            progress(min(top + rows, height) / height)
    return out


def retouch_photo_file(retoucher: PhotoRetoucher, src: str | os.PathLike, folder: str | os.PathLike, *,
                       strength: float = 1.0, lut_size: int = DEFAULT_SIZE,
                       progress: Progress | None = None) -> Result:
    """Retouch the photo file `src` into `folder`: <name>_retouched.<ext> at full resolution (format,
    bit depth, ICC profile and EXIF kept, as `python -m csrnet_lite retouch`) and <name>_retouched.cube
    (the LUT at `strength`). Raises the command line's errors before anything is written.
    """
    start = time.perf_counter()
    step = progress or (lambda fraction, what: None)
    check_strength(strength)
    check_size(lut_size)
    src = check_photo(src)
    step(0.0, f"reading {src.name}")
    photo = load_image(src)  # (1, 3, H, W), upright; raises the command line's message for a damaged file
    step(0.2, "condition network and LUT")
    mods = retoucher.modulations(photo)
    lut = bake_lut(retoucher.model, mods, lut_size)  # strength 1: the sliders blend towards it
    before = Resize("long", PREVIEW_EDGE)(photo)  # (1, 3, h, w), aspect ratio kept
    after = apply_lut(before, lut)
    result = Result(src, Path(folder) / f"{src.stem}{SUFFIX}{src.suffix}", Path(folder) / f"{src.stem}{SUFFIX}.cube",
                    tuple(photo.shape[-2:]), strength, mods, lut, _array(before), _array(after, clamp=False), 0.0,
                    conversions(src))
    _write(result, photo, step)
    return replace(result, seconds=time.perf_counter() - start)


def rewrite(retoucher: PhotoRetoucher, result: Result, strength: float, progress: Progress | None = None) -> Result:
    """Write `result`'s photo and .cube again at another strength (the photo is decoded again)."""
    start = time.perf_counter()
    step = progress or (lambda fraction, what: None)
    check_strength(strength)
    step(0.0, f"reading {result.source.name}")
    photo = load_image(check_photo(result.source))
    new = replace(result, strength=float(strength))
    _write(new, photo, step)
    return replace(new, seconds=time.perf_counter() - start)


def _write(result: Result, photo: torch.Tensor, step: Progress) -> None:
    """Apply result.lut at result.strength to `photo` and write result.photo and result.cube."""
    src = result.source
    options = save_options(src)
    bits = stored_bits(src)
    lut = lut_at(result.lut, result.strength)
    retouched = apply_in_bands(photo, lut, lambda f: step(0.25 + 0.6 * f, "applying the LUT"))
    del photo  # one full-size float copy alive, not two, while the file is encoded
    step(0.85, f"writing {result.photo.name}")
    save_image(retouched, result.photo, bits=bits, **options)
    write_cube(result.cube, lut, title=f"csrnet-lite retouch of {src.name}".replace('"', "'"),
               comments=[f"CSRNet retouch of {src.name}, strength {result.strength:g}",
                         "baked by csrnet-lite (notebook 08_your_own_photos)"])
    step(1.0, "done")


def _array(x: torch.Tensor, clamp: bool = True) -> np.ndarray:
    a = x[0].permute(1, 2, 0).numpy()  # (1, 3, h, w) -> (h, w, 3)
    return np.clip(a, 0, 1).astype(np.float32) if clamp else a.astype(np.float32, copy=True)


# --- what the widgets show -------------------------------------------------------------------------

def render(result: Result, split: float = 0.5, strength: float = 1.0) -> np.ndarray:
    """The before/after picture: columns left of `split` (0..1) before, the rest retouched at `strength`.

    Equals `apply_lut(before, lut_at(result.lut, strength))` clamped, since strength is linear in the
    LUT, but costs one blend of two preview pictures. -> (h, w, 3) in [0, 1].
    """
    check_strength(strength)
    after = np.clip(result.before + strength * (result.after - result.before), 0, 1)
    return split_view(result.before, after, split, line=0 < split < 1)


def curves_picture(retoucher: PhotoRetoucher, result: Result) -> np.ndarray:
    """The photo's tone curves (`curves.curve_panels` of the base network with its modulations) as a
    picture (H, W, 3) in [0, 1], for the panel's image widget."""
    colour_map = lambda x: retoucher.model.base(x, result.mods)  # noqa: E731  (1, 3, N, 1) -> (1, 3, N, 1)
    return curve_panels_picture(colour_map, title=f"Tone curves for {result.source.name}")


def status_line(retoucher: PhotoRetoucher, result: Result) -> str:
    """One line about a result, for the widget's readout (HTML)."""
    h, w = result.size
    notes = "".join(f"; {html.escape(n)}" for n in result.notes)
    return (f"<b>{html.escape(result.source.name)}</b>: {w} x {h} pixels, retouched by {html.escape(retoucher.kind)} "
            f"in {result.seconds:.1f} s; the files hold strength {result.strength:.2f}{notes}")


def links_html(result: Result, base: str | os.PathLike | None = None) -> str:
    """Download links for the photo and the .cube, relative to `base` (default: the working folder,
    which is the notebook's folder in Jupyter, so that JupyterLab serves them under /files/)."""
    base = Path(base) if base is not None else Path.cwd()
    items = []
    for path, what in ((result.photo, "retouched photo"), (result.cube, "3D LUT for photo editors")):
        href = urllib.parse.quote(Path(os.path.relpath(path.resolve(), base.resolve())).as_posix())
        size = path.stat().st_size / 1e6 if path.exists() else 0.0
        items.append(f'<li><a href="{href}" download="{html.escape(path.name)}">{html.escape(path.name)}</a> '
                     f"({what}, {size:.1f} MB)</li>")
    return f"<ul class='csrnet-lite-downloads'>{''.join(items)}</ul>"


def error_html(e: BaseException) -> str:
    """A failure as the command line words it ("error: ..."), without a traceback, in red."""
    text = f"error: {errors.describe(e)}"
    return f"<span style='color:#b00'>{html.escape(text)}</span>"
