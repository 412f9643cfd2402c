"""Render one FiveK photo: the camera raw (DNG) -> *input*, an expert's TIFF -> *target*.

Both come out as float32 sRGB (1, 3, H, W) in [0, 1], upright and framed alike, so that after
resizing to one size (csrnet_lite.tools.fetch does that) they line up pixel for pixel.

Input, `develop_raw` (its steps are recorded in every manifest as `RAW_PIPELINE`):
1. LibRaw (rawpy) decodes and demosaics the sensor data with the camera's as-shot white balance and
   no auto-brightness (a dark photo stays dark: brightening it is the retoucher's job), to 16-bit
   linear sRGB. A photo at least twice the wanted size is developed at half size (2x2 Bayer cells).
2. x 2**BaselineExposure: the DNG tag by which Adobe's renderers, which the experts used, brighten
   every photo of that camera model.
3. The sRGB transfer curve, the crop to the DNG's DefaultCrop (the region Lightroom shows and
   exports, so that input and target frame the same scene), and the turn to upright.

Target, `read_expert_tiff` (`TARGET_PIPELINE`): the experts' TIFFs are 16-bit ProPhoto RGB.
1. Decode to linear light by the embedded ICC profile: its tone curve (Adobe's ProPhoto profile:
   pure gamma 1.8) and its D50 colorants; without a profile, by the ROMM RGB standard (gamma 1.8
   with a linear toe, ROMM primaries).
2. XYZ (D50) -> Bradford chromatic adaptation -> D65 -> linear sRGB, as one 3x3 matrix.
3. Clip per channel to [0, 1] in linear light, as a relative-colorimetric matrix conversion does:
   ProPhoto is much wider than sRGB. The fraction of pixels this touched is returned (and recorded
   in manifests as `outside_srgb`). Then the sRGB transfer curve.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import rawpy
import torch
from PIL import Image, TiffImagePlugin

from ..image import load_image, to_numpy, to_tensor

RAW_PIPELINE = (
    "LibRaw (rawpy) postprocess: as-shot white balance (use_camera_wb), no auto-brightness "
    "(no_auto_bright, adjust_maximum_thr=0), highlight clip, AHD demosaic (or 2x2 half size when the "
    "photo is at least twice the requested size), output_color=sRGB, 16-bit linear output (gamma 1,1); "
    "then x 2**BaselineExposure (DNG tag, as Adobe's renderers apply), sRGB transfer curve, "
    "crop to the DNG DefaultCrop, turned upright by the file's orientation"
)
TARGET_PIPELINE = (
    "expert TIFF, 16-bit ProPhoto RGB -> linear by the embedded ICC tone curve (ROMM gamma 1.8 with "
    "linear toe when none) -> XYZ D50 -> Bradford -> D65 -> linear sRGB, clipped per channel "
    "(out-of-gamut fraction recorded as outside_srgb) -> sRGB transfer curve"
)
PIPELINE_VERSION = 1  # bump when RAW_PIPELINE or TARGET_PIPELINE change: pairs are made again


# ---------------------------------------------------------------------------------------------------
# Camera raw -> input
# ---------------------------------------------------------------------------------------------------

def develop_raw(path: str | os.PathLike, *, for_size: int | None = None,
                baseline_exposure: bool = True) -> torch.Tensor:
    """Develop a camera raw file (DNG) into a float32 sRGB (1, 3, H, W) tensor in [0, 1], see RAW_PIPELINE.

    H, W is the DNG's default crop (the region Lightroom shows and exports, so the result lines up
    with the expert TIFFs), upright. `for_size`: the short edge the caller will shrink to; when the
    photo is at least twice that, LibRaw develops at half size (each 2x2 Bayer cell becomes one pixel,
    no demosaicing: 4x faster, as sharp after shrinking). Raises ValueError for an undecodable file.
    """
    path = Path(path)
    try:
        with rawpy.imread(str(path)) as raw:
            s = raw.sizes
            half = bool(for_size) and min(s.crop_height or s.height, s.crop_width or s.width) >= 2 * for_size
            rgb = raw.postprocess(
                use_camera_wb=True, no_auto_bright=True, adjust_maximum_thr=0.0, bright=1.0,
                highlight_mode=rawpy.HighlightMode.Clip, output_color=rawpy.ColorSpace.sRGB,
                output_bps=16, gamma=(1.0, 1.0), half_size=half, user_flip=0,
                demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)  # (h, w, 3) uint16, sensor orientation
        with open(path, "rb") as f:  # a DNG is a TIFF: its first directory has BaselineExposure
            tags = TiffImagePlugin.ImageFileDirectory_v2(f.read(8))
            f.seek(tags.next)
            tags.load(f)
    except (rawpy.LibRawError, OSError, ValueError, SyntaxError, struct.error) as e:
        raise ValueError(f"cannot develop {path} ({e}); is the file a complete DNG?") from None
    if s.crop_width > 0 and s.crop_height > 0:  # DefaultCrop, in sensor pixels from the raw frame
        sy, sx = rgb.shape[0] / s.height, rgb.shape[1] / s.width  # output pixels per sensor pixel
        top = max(round((s.crop_top_margin - s.top_margin) * sy), 0)  # the output starts at the ActiveArea
        left = max(round((s.crop_left_margin - s.left_margin) * sx), 0)
        rgb = rgb[top:top + round(s.crop_height * sy), left:left + round(s.crop_width * sx)]  # (H, W, 3)
    linear = rgb.astype(np.float32) / 65535.0
    if baseline_exposure and 50730 in tags:  # 50730: BaselineExposure, in stops
        linear = linear * np.float32(2.0 ** float(tags[50730]))
    return to_tensor(np.ascontiguousarray(_orient(srgb_encode(linear).astype(np.float32), s.flip)))


def _orient(a: np.ndarray, flip: int) -> np.ndarray:
    """Apply LibRaw's `flip` code (bit 1: mirror columns, 2: mirror rows, 4: then transpose)."""
    if flip & 1:
        a = a[:, ::-1]
    if flip & 2:
        a = a[::-1]
    if flip & 4:
        a = a.transpose(1, 0, 2)  # (H, W, 3) -> (W, H, 3)
    return a


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB encoded values (IEC 61966-2-1), clipped to [0, 1] first."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055)


# ---------------------------------------------------------------------------------------------------
# Expert TIFF -> target: ProPhoto RGB (ROMM, D50) -> sRGB (D65)
# ---------------------------------------------------------------------------------------------------

D50_XY, D65_XY = (0.3457, 0.3585), (0.3127, 0.3290)
ICC_D50 = np.array([0.9642, 1.0, 0.8249])  # the ICC profile connection space white
PROPHOTO_PRIMARIES = ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001))  # ROMM RGB, ISO 22028-2
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def xy_to_xyz(x: float, y: float) -> np.ndarray:
    """Chromaticity (x, y) -> XYZ with Y = 1."""
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_matrix(primaries, white_xy) -> np.ndarray:
    """3x3 matrix taking linear RGB with these primaries to XYZ, with RGB (1, 1, 1) -> white (Y = 1)."""
    p = np.stack([xy_to_xyz(*xy) for xy in primaries], axis=1)  # columns: XYZ of R, G, B
    return p * np.linalg.solve(p, xy_to_xyz(*white_xy))  # scale each column so the sum is white


def bradford(src_white: np.ndarray, dst_white: np.ndarray) -> np.ndarray:
    """3x3 Bradford chromatic adaptation in XYZ from one white (XYZ) to another."""
    gain = (BRADFORD @ dst_white) / (BRADFORD @ src_white)  # per cone response
    return np.linalg.inv(BRADFORD) @ np.diag(gain) @ BRADFORD


def d50_rgb_to_srgb_matrix(rgb_to_xyz: np.ndarray, white: np.ndarray) -> np.ndarray:
    """3x3 matrix: linear RGB -> XYZ (white `white`, about D50) -> Bradford to D65 -> linear sRGB."""
    return np.linalg.inv(SRGB_TO_XYZ) @ bradford(white, xy_to_xyz(*D65_XY)) @ rgb_to_xyz


SRGB_TO_XYZ = rgb_to_xyz_matrix(SRGB_PRIMARIES, D65_XY)
PROPHOTO_TO_SRGB = d50_rgb_to_srgb_matrix(rgb_to_xyz_matrix(PROPHOTO_PRIMARIES, D50_XY), xy_to_xyz(*D50_XY))


def romm_decode(v: np.ndarray) -> np.ndarray:
    """ProPhoto (ROMM RGB) encoded values in [0, 1] -> linear: gamma 1.8 with a linear toe
    (slope 1/16 below 1/32, i.e. below linear 1/512)."""
    return np.where(v < 1 / 32, v / 16, np.power(np.maximum(v, 1 / 32), 1.8))


def prophoto_to_srgb(encoded: np.ndarray, icc: bytes | None = None) -> tuple[np.ndarray, float]:
    """ProPhoto RGB encoded float (H, W, 3) in [0, 1] -> (sRGB encoded float32 (H, W, 3) in [0, 1],
    fraction of pixels outside the sRGB gamut).

    Decoding follows the embedded ICC profile when there is one (its tone curve and D50 colorants),
    otherwise the ROMM RGB standard. Colours outside sRGB are clipped per channel in linear light;
    the returned fraction says how many pixels that touched.
    """
    curve, matrix = romm_decode, PROPHOTO_TO_SRGB
    profile = _icc_matrix_trc(icc) if icc is not None else None
    if profile is not None:
        curve, colorants = profile
        matrix = d50_rgb_to_srgb_matrix(colorants, ICC_D50)
    linear = curve(np.clip(encoded, 0.0, 1.0)) @ matrix.T.astype(np.float32)  # (H, W, 3) x (3, 3)
    outside = np.any((linear < -1e-4) | (linear > 1 + 1e-4), axis=-1)
    return srgb_encode(linear).astype(np.float32), float(outside.mean())


def read_expert_tiff(path: str | os.PathLike) -> tuple[torch.Tensor, float]:
    """An expert's 16-bit ProPhoto RGB TIFF -> (float32 sRGB (1, 3, H, W) in [0, 1], fraction of pixels
    outside sRGB that were clipped). Raises ValueError when the file cannot be decoded."""
    x = load_image(path)  # all 16 bits of every sample, upright
    with Image.open(path) as im:
        icc = im.info.get("icc_profile")
    srgb, outside = prophoto_to_srgb(to_numpy(x), icc)
    return to_tensor(srgb), outside


def _icc_matrix_trc(icc: bytes):
    """(tone curve function, 3x3 colorant matrix to XYZ D50) of a matrix/TRC RGB ICC profile, or None
    when the profile is not of that kind (then the ROMM standard is used)."""
    try:
        count = struct.unpack(">I", icc[128:132])[0]
        table = {icc[132 + 12 * i:136 + 12 * i]: struct.unpack(">II", icc[136 + 12 * i:144 + 12 * i])
                 for i in range(count)}
        if icc[16:20] != b"RGB " or not all(t in table for t in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC")):
            return None

        def tag(sig):
            offset, size = table[sig]
            return icc[offset:offset + size]

        colorants = np.array([[v / 65536 for v in struct.unpack(">3i", tag(s)[8:20])]
                              for s in (b"rXYZ", b"gXYZ", b"bXYZ")]).T  # columns: XYZ of R, G, B
        return _icc_curve(tag(b"rTRC")), colorants
    except (struct.error, ValueError, KeyError):
        return None


def _icc_curve(trc: bytes):
    """An ICC 'curv' or 'para' tone curve (encoded -> linear) as a numpy function."""
    kind = trc[:4]
    if kind == b"curv":
        n = struct.unpack(">I", trc[8:12])[0]
        if n == 0:
            return lambda v: v
        if n == 1:
            gamma = struct.unpack(">H", trc[12:14])[0] / 256  # u8Fixed8
            return lambda v: np.power(v, gamma)
        table = np.array(struct.unpack(f">{n}H", trc[12:12 + 2 * n])) / 65535.0
        return lambda v: np.interp(v, np.linspace(0, 1, n), table)
    if kind == b"para":  # ICC.1 parametric curves, types 0-4: (aX + b)^g + e for X >= d, else cX + f
        ftype = struct.unpack(">H", trc[8:10])[0]
        n = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[ftype]
        p = [v / 65536 for v in struct.unpack(f">{n}i", trc[12:12 + 4 * n])]  # s15Fixed16
        g, a, b, c, d, e, f = p[0], 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
        if ftype >= 1:
            a, b = p[1], p[2]
            d = -b / a
        if ftype == 2:
            e = f = p[3]
        if ftype >= 3:
            c, d = p[3], p[4]
        if ftype == 4:
            e, f = p[5], p[6]
        return lambda v: np.where(v >= d, np.power(np.maximum(a * v + b, 0), g) + e, c * v + f)
    raise ValueError(f"unknown ICC curve type {kind!r}")
