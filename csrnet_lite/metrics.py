"""Image quality, one number per image: PSNR, SSIM and the CIEDE2000 colour difference.

Each metric takes output and target (B, 3, H, W) float32 RGB and returns a (B,) tensor; average over
a test set with `.mean()`. The output may leave [0, 1] (CSRNet's output is not clamped): both images
are clamped to [0, 1] first, as saving them would. `quantize=True` (the default) also rounds both to
8 bits first, as the paper's evaluation compares saved 8-bit images.

The metrics run on one thread (see `settings.one_thread`). SSIM and Delta E, dozens of elementwise steps
each, go through the images a strip of rows at a time: each step then works on arrays that stay in
the CPU cache, and a large photo needs no full-size float64 copies (strips change no result beyond
rounding). bench/metrics.py times them against whole images on torch's threads.

Introduced in notebook 04 (`04_fivek_subset`).
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from . import image
from .image import check_image
from .settings import one_thread

# sRGB (IEC 61966-2-1) linear RGB -> CIE XYZ for the D65 white point.
SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))

WINDOW, SIGMA = 11, 1.5  # SSIM's Gaussian window: 11 x 11 pixels, standard deviation 1.5 pixels
_BELL = [math.exp(-((i - WINDOW // 2) ** 2) / (2 * SIGMA**2)) for i in range(WINDOW)]
GAUSSIAN = [v / sum(_BELL) for v in _BELL]  # normalised 1-D weights; the 2-D window is their outer product
STRIP = 1 << 17  # elements per array in a strip of rows (1 MB in float64): fits in the CPU cache


def _strips(rows: int, per_row: int) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges covering `rows` rows of `per_row` elements, about `STRIP` elements each."""
    step = max(1, STRIP // per_row)
    for start in range(0, rows, step):
        yield start, min(start + step, rows)


def _prepare(output: torch.Tensor, target: torch.Tensor, quantize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Check both images (target in [0, 1], same shape), clamp and optionally round them to 8 bits."""
    check_image(output, "output", check_range=False)
    check_image(target, "target")
    if output.shape != target.shape:
        raise ValueError(f"output and target must have the same shape, got output {tuple(output.shape)} "
                         f"and target {tuple(target.shape)}")
    if quantize:
        # clamped and rounded: k / 255 (new tensors)
        return image.quantize(output).div_(255), image.quantize(target).div_(255)
    return output.clamp(0, 1), target.clamp(0, 1)


def psnr(output: torch.Tensor, target: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for a peak of 1 (255 in 8 bits): (B, 3, H, W) x 2 -> (B,).

    10 * log10(1 / MSE), the MSE over all pixels and channels of each image; +inf for identical images.

    >>> round(psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1), quantize=False).item(), 3)
    20.0
    """
    with one_thread():
        output, target = _prepare(output, target, quantize)
        mse = (output - target).pow(2).mean(dim=(1, 2, 3))  # (B, 3, H, W) -> (B,)
    return -10 * torch.log10(mse)


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB for a peak of 1 from a mean squared error; capped at 100 dB (MSE 1e-10).

    The one formula: `psnr` applies it per image, training to its batch loss.

    >>> psnr_of_mse(0.01)
    20.0
    >>> psnr_of_mse(0.0)
    100.0
    """
    return -10 * math.log10(max(mse, 1e-10))


def ssim(output: torch.Tensor, target: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image: (B, 3, H, W) x 2 -> (B,) in [-1, 1].

    The standard formulation: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, data
    range 1; computed on R, G and B separately at every position where the window fits inside the
    image ("valid", no padding, no downsampling) and averaged over positions and channels, in float64:
    in float32 a variance, E[x^2] - mu^2, loses its digits where the image is nearly flat, and the
    score of such an image comes out up to ~1e-4 off. This is what the authors' evaluation code
    (`calculate_ssim`) computes on 8-bit RGB. Needs H, W >= 11.
    """
    with one_thread():
        output, target = _prepare(output, target, quantize)
        b, _, h, w = output.shape
        if min(h, w) < WINDOW:
            raise ValueError(f"ssim needs images of at least 11 x 11 pixels (its window), got {(h, w)}")
        rows, cols = h - (WINDOW - 1), w - (WINDOW - 1)  # window positions down and across
        total = torch.zeros(b, dtype=torch.float64)
        for top, bottom in _strips(rows, b * 3 * cols):  # the windows of rows top..bottom-1 ...
            x = output[:, :, top:bottom + WINDOW - 1].double()  # ... cover these rows: (B, 3, rows + 10, W)
            y = target[:, :, top:bottom + WINDOW - 1].double()
            total += _ssim_map(x, y).sum(dim=(1, 2, 3))  # (B, 3, rows, W - 10) -> (B,)
    return (total / (3 * rows * cols)).float()


def _ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM at every valid window position: (B, C, H, W) x 2 -> (B, C, H-10, W-10)."""
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _gaussian_blur(x), _gaussian_blur(y)  # (B, C, H, W) -> (B, C, H-10, W-10)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _gaussian_blur(x * x) - mu_xx
    var_y = _gaussian_blur(y * y) - mu_yy
    cov = _gaussian_blur(x * y) - mu_xy
    return ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


def _gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """Local means under the Gaussian window at valid positions: (B, C, H, W) -> (B, C, H-10, W-10).

    The window is separable, so this is a 1-D blur down the columns, then one along the rows.
    """
    return _blur_1d(_blur_1d(x, dim=2), dim=3)  # (B, C, H, W) -> (B, C, H-10, W) -> (B, C, H-10, W-10)


def _blur_1d(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The valid 1-D convolution with `GAUSSIAN` along `dim` (length n -> n - 10), as 11 shifted views.

    A weighted sum of views runs at memory speed in any dtype; torch's float64 convolution does not.
    """
    n = x.shape[dim] - (WINDOW - 1)
    out = x.narrow(dim, 0, n) * GAUSSIAN[0]  # length n -> n - 10 along dim
    for k in range(1, WINDOW):
        out.add_(x.narrow(dim, k, n), alpha=GAUSSIAN[k])
    return out


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (IEC 61966-2-1): encoded values in [0, 1] -> linear light in [0, 1],
    proportional to the light each channel stands for (doubling it is one stop). Same shape."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def relative_luminance(x: torch.Tensor) -> torch.Tensor:
    """Luminance Y of sRGB photos, from linear light: (B, 3, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1].

    Unlike luma (the same kind of weighted sum of the gamma-encoded values, `ops.luma`), Y is
    proportional to light: log2 of a ratio of Y is a difference in stops.
    """
    check_image(x, "x", check_range=False)
    weights = torch.tensor(SRGB_TO_XYZ[1], dtype=x.dtype).view(1, 3, 1, 1)
    return (srgb_to_linear(x.clamp(0, 1)) * weights).sum(dim=1, keepdim=True)  # (B, 3, H, W) -> (B, 1, H, W)


def srgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (D65) -> CIELAB: (B, 3, H, W) in [0, 1] (clamped) -> (B, 3, H, W) of L*, a*, b*.

    L* in [0, 100]; a*, b* roughly [-110, 130]. Undoes the sRGB transfer curve, maps to XYZ with the
    IEC 61966-2-1 matrix, and takes the white as what that matrix makes of RGB (1, 1, 1), i.e. D65
    (0.95047, 1, 1.08883); so white is exactly (100, 0, 0).

    >>> [round(v, 3) + 0.0 for v in srgb_to_lab(torch.ones(1, 3, 1, 1)).flatten().tolist()]  # white
    [100.0, 0.0, 0.0]
    """
    check_image(x, "x", check_range=False)
    x = x.clamp(0, 1)
    linear = srgb_to_linear(x)
    matrix = torch.tensor(SRGB_TO_XYZ, dtype=x.dtype)
    white = matrix.sum(dim=1)  # XYZ of RGB (1, 1, 1)
    xyz = torch.einsum("oc,bchw->bohw", matrix / white[:, None], linear)  # (B, 3, H, W) -> X/Xn, Y/Yn, Z/Zn
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp(min=delta**3) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim=1)  # (B, 3, H, W) -> 3 x (B, H, W)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)  # -> (B, 3, H, W)


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference (kL = kC = kH = 1) per pixel: (B, 3, H, W) L*a*b* x 2 -> (B, H, W).

    Follows Sharma, Wu and Dalal, "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations" (Color Res. Appl. 30(1), 2005), whose 34
    published pairs it reproduces. Computes in the inputs' dtype. A metric, not a loss: its gradient
    is undefined where the two colours are equal.
    """
    if lab1.shape != lab2.shape or lab1.ndim != 4 or lab1.shape[1] != 3:
        raise ValueError(f"ciede2000 needs two L*a*b* tensors of the same shape (B, 3, H, W), got "
                         f"{tuple(lab1.shape)} and {tuple(lab2.shape)}")
    (l1, a1, b1), (l2, a2, b2) = lab1.unbind(dim=1), lab2.unbind(dim=1)  # 3 x (B, H, W) each
    g = 0.5 * (1 - _chroma_weight((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    h1 = torch.rad2deg(torch.atan2(b1, a1)) % 360  # hue angles in [0, 360)
    h2 = torch.rad2deg(torch.atan2(b2, a2)) % 360
    achromatic = c1 * c2 == 0  # a hue is undefined: by convention it adds nothing (d_h below is 0)
    dh = h2 - h1
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * torch.sqrt(c1 * c2) * torch.sin(torch.deg2rad(dh) / 2)
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    h_sum = h1 + h2
    h_mean = torch.where((h1 - h2).abs() <= 180, h_sum / 2, torch.where(h_sum < 360, h_sum + 360, h_sum - 360) / 2)
    h_mean = torch.where(achromatic, h_sum, h_mean)
    t = (1 - 0.17 * _cos(h_mean - 30) + 0.24 * _cos(2 * h_mean) + 0.32 * _cos(3 * h_mean + 6)
         - 0.20 * _cos(4 * h_mean - 63))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / torch.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    rotation = 30 * torch.exp(-(((h_mean - 275) / 25) ** 2))  # degrees, largest in the blue region
    r_t = -2 * _chroma_weight(c_mean) * torch.sin(torch.deg2rad(2 * rotation))
    d_l, d_c, d_h = d_l / s_l, d_c / s_c, d_h / s_h
    return torch.sqrt(d_l**2 + d_c**2 + d_h**2 + r_t * d_c * d_h)


def _chroma_weight(c: torch.Tensor) -> torch.Tensor:
    """sqrt(c^7 / (c^7 + 25^7)): 0 for grey, towards 1 for saturated colours (used by G and R_T)."""
    c7 = (c * c * c) ** 2 * c  # products: torch's pow is ~20x slower for the exponent 7
    return torch.sqrt(c7 / (c7 + 25.0**7))


def _cos(degrees: torch.Tensor) -> torch.Tensor:
    return torch.cos(torch.deg2rad(degrees))


def delta_e(output: torch.Tensor, target: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """Mean CIEDE2000 colour difference between sRGB images: (B, 3, H, W) x 2 -> (B,), >= 0.

    Both images go to CIELAB with `srgb_to_lab` (sRGB, D65); about 1 is a just-noticeable difference.
    Computed in float32 (within ~1e-5 of float64 on photos) and summed in float64.

    >>> x = torch.rand(2, 3, 16, 16)
    >>> delta_e(x, x).tolist()
    [0.0, 0.0]
    """
    with one_thread():
        output, target = _prepare(output, target, quantize)
        b, _, h, w = output.shape
        total = torch.zeros(b, dtype=torch.float64)
        for top, bottom in _strips(h, b * w):
            lab1 = srgb_to_lab(output[:, :, top:bottom])  # (B, 3, H, W) -> (B, 3, rows, W)
            lab2 = srgb_to_lab(target[:, :, top:bottom])
            total += ciede2000(lab1, lab2).sum(dim=(1, 2), dtype=torch.float64)  # (B, rows, W) -> (B,)
    return (total / (h * w)).float()
