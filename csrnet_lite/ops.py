"""Global retouching operators, each also written with CSRNet's building blocks.

A global operator sends every pixel's colour through the same function R^3 -> R^3. An affine one is a
1x1 convolution (`ConvForm`); a piecewise-linear tone curve is a ReLU network of 1x1 convolutions.
When the map depends on a statistic of the whole image (contrast blends towards its mean luminance),
a separate global function computes the statistic once per image and it enters as a global feature
modulation (`GFMForm`, per-image scale and shift): the split CSRNet makes between its base network
(per pixel) and its condition network (per image). Each operator `op(x, ...)` has a form
`op_as_conv` / `op_as_gfm` equal to it to float precision; `compose` collapses a chain of them into
one conv followed by one GFM. Operators do not clip, so they chain exactly like convolutions: clamp
or `image.quantize` at the end. With `pillow_mean` / `pillow_luma` they reproduce Pillow's ImageEnhance.
Each operator's inputs are checked before its body runs (`operator_checks.checked`), so the body is
only the formula.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .image import check_image, quantize
from .model import gfm
from .operator_checks import checked, grey_image, number, one_per_image, per_channel, shape_of, tone_curve_knots

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights, as Pillow's convert("L") and torchvision
_PILLOW_LUMA = (19595, 38470, 7471)  # Pillow's 16-bit fixed-point BT.601 weights (they sum to 65536)


@dataclass(frozen=True)
class ConvForm:
    """A 1x1 convolution, the same colour map for every image: out = weight @ pixel + bias.

    weight (C_out, C_in), bias (C_out,), float32.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def __post_init__(self):
        w, b = self.weight, self.bias
        if not (isinstance(w, torch.Tensor) and isinstance(b, torch.Tensor)) or w.ndim != 2 or b.shape != w.shape[:1]:
            raise ValueError(f"ConvForm needs tensors weight (C_out, C_in) and bias (C_out,), got weight "
                             f"{shape_of(w)} and bias {shape_of(b)}")

    @staticmethod
    def identity(channels: int = 3) -> "ConvForm":
        return ConvForm(torch.eye(channels), torch.zeros(channels))


@dataclass(frozen=True)
class GFMForm:
    """A global feature modulation x * (1 + scale) + shift, one (scale, shift) per image.

    scale, shift (B, C); B = 1 applies the same modulation to every image of a batch.
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __post_init__(self):
        s, t = self.scale, self.shift
        if not (isinstance(s, torch.Tensor) and isinstance(t, torch.Tensor)) or s.ndim != 2 or s.shape != t.shape:
            raise ValueError(f"GFMForm needs tensors scale and shift of the same shape (B, C), got scale "
                             f"{shape_of(s)} and shift {shape_of(t)}")

    @staticmethod
    def identity(batch: int = 1, channels: int = 3) -> "GFMForm":
        return GFMForm(torch.zeros(batch, channels), torch.zeros(batch, channels))


def apply_conv(x: torch.Tensor, conv: ConvForm) -> torch.Tensor:
    """Apply a 1x1 convolution: x (B, C_in, H, W) -> (B, C_out, H, W)."""
    if x.ndim != 4 or x.shape[1] != conv.weight.shape[1]:
        raise ValueError(f"apply_conv needs x of shape (B, {conv.weight.shape[1]}, H, W) for a weight "
                         f"{tuple(conv.weight.shape)}, got {tuple(x.shape)}")
    return F.conv2d(x, conv.weight[:, :, None, None], conv.bias)  # weight (O, I) -> (O, I, 1, 1)


def apply_gfm(x: torch.Tensor, mod: GFMForm) -> torch.Tensor:
    """Apply a GFM (`csrnet_lite.model.gfm`): x (B, C, H, W) -> (B, C, H, W)."""
    if x.ndim != 4 or x.shape[1] != mod.scale.shape[1] or mod.scale.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"apply_gfm needs x of shape (B, C, H, W) matching scale {tuple(mod.scale.shape)} "
                         f"(B or 1 images, C channels), got {tuple(x.shape)}")
    return gfm(x, mod.scale, mod.shift)


def apply_mlp(x: torch.Tensor, layers: list[ConvForm]) -> torch.Tensor:
    """Apply 1x1 convolutions with a ReLU between consecutive ones (none after the last)."""
    for i, layer in enumerate(layers):
        x = apply_conv(x, layer)  # (B, C_in, H, W) -> (B, C_out, H, W)
        if i < len(layers) - 1:
            x = torch.relu(x)
    return x


def compose(*steps: ConvForm | GFMForm) -> tuple[ConvForm, GFMForm]:
    """Collapse affine colour steps, applied left to right, into one conv (3, 3) followed by one GFM.

    apply_gfm(apply_conv(x, conv), mod) equals applying the steps in order. A GFM moves past a later
    conv by W((1 + s) x + t) + b = (1 + s)(W x + b) + (W t - s b), true when W commutes with
    diag(1 + s): always when the scale is the same for every channel (brightness, exposure, contrast)
    or the conv does not mix channels (white balance). Otherwise the chain needs a different colour
    matrix per image, which no single conv + GFM has, and a ValueError says so.

    >>> conv, mod = compose(brightness_as_gfm(2.0), brightness_as_gfm(1.5))
    >>> mod.scale  # x * 2 * 1.5 = x * (1 + 2)
    tensor([[2., 2., 2.]])
    """
    conv, mod = ConvForm.identity(3), GFMForm.identity(1, 3)
    for step in steps:
        size = step.scale.shape[1:] if isinstance(step, GFMForm) else step.weight.shape
        if size not in ((3,), (3, 3)):
            raise ValueError(f"compose takes colour steps (conv weight (3, 3), GFM scale (B, 3)), got {tuple(size)}")
        if isinstance(step, GFMForm):
            mod = GFMForm((1 + mod.scale) * (1 + step.scale) - 1, (1 + step.scale) * mod.shift + step.shift)
            continue
        w, s = step.weight, mod.scale  # (3, 3), (B, 3)
        if not torch.allclose(w * (1 + s[:, None, :]), (1 + s[:, :, None]) * w, atol=1e-7):
            raise ValueError(f"cannot collapse: a GFM with per-channel scale {s.tolist()} comes before a "
                             f"conv that mixes channels (weight {w.tolist()}); apply them in turn instead")
        mod = GFMForm(s, mod.shift @ w.T - s * step.bias)  # (B, C) @ (C, C) -> (B, C)
        conv = ConvForm(w @ conv.weight, w @ conv.bias + step.bias)
    return conv, mod


# ---- global statistics: what a condition network computes, once per image ----

def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma L = 0.299 R + 0.587 G + 0.114 B: (B, 3, H, W) -> (B, 1, H, W), same range as x.

    The one place luma is computed. float32 as everywhere; float64 stays float64 (for sums over a whole
    image that must not depend on the CPU, `degradation.with_pivot`).

    >>> round(luma(torch.ones(1, 3, 2, 2))[0, 0, 0, 0].item(), 6)  # the weights sum to 1
    1.0
    """
    check_image(x if x.dtype != torch.float64 else x[:, :, :1, :1].float(), "x", check_range=False)
    return torch.einsum("c,bchw->bhw", x.new_tensor(LUMA), x)[:, None]  # (B, 3, H, W) -> (B, 1, H, W)


def mean_luminance(x: torch.Tensor) -> torch.Tensor:
    """The image-wide mean of the luma (what contrast blends towards): (B, 3, H, W) -> (B,)."""
    return luma(x).mean(dim=(1, 2, 3))  # (B, 1, H, W) -> (B,)


def pillow_luma(x: torch.Tensor) -> torch.Tensor:
    """Pillow's `convert("L")`: (B, 3, H, W) in [0, 1] -> (B, 1, H, W) on the 8-bit grid (k / 255).

    x is first rounded to 8 bits (Pillow only sees 8-bit images); then L = (19595 R + 38470 G +
    7471 B + 32768) >> 16 on integers 0..255, i.e. the BT.601 luma rounded to the nearest integer.
    """
    rgb = quantize(check_image(x, "x")).to(torch.int64)  # (B, 3, H, W) integers 0..255
    weights = torch.tensor(_PILLOW_LUMA, dtype=torch.int64)
    level = (torch.einsum("c,bchw->bhw", weights, rgb) + 32768) >> 16  # (B, 3, H, W) -> (B, H, W)
    return (level.float() / 255)[:, None]  # (B, H, W) -> (B, 1, H, W)


def pillow_mean(x: torch.Tensor) -> torch.Tensor:
    """The grey level Pillow's `ImageEnhance.Contrast` blends towards: (B, 3, H, W) -> (B,) in [0, 1].

    Pillow takes the exact mean of the 8-bit L image (`pillow_luma`, via its histogram) and rounds it
    half up to an integer, `int(mean + 0.5)`; the result is that integer / 255.
    """
    mean = (pillow_luma(x).double() * 255).round().mean(dim=(1, 2, 3))  # (B, 1, H, W) -> (B,), exact
    return (torch.floor(mean + 0.5) / 255).float()


# ---- the operators and their forms (their input checks: `operator_checks.checked`) ----

@checked(factor=number("brightness factor"))
def brightness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Brightness as Pillow and torchvision define it: x * factor, factor >= 0. (B, 3, H, W).

    0 gives black, 1 the input. Pillow's `ImageEnhance.Brightness` blends with a black image; its
    8-bit output is floor(255 * brightness(x, factor)) clipped to 0..255 (see `contrast`).

    >>> brightness(torch.full((1, 3, 1, 1), 0.5), 1.5).flatten().tolist()
    [0.75, 0.75, 0.75]
    """
    return x * factor


@checked(factor=number("brightness factor"))
def brightness_as_conv(factor: float) -> ConvForm:
    return ConvForm(torch.eye(3) * factor, torch.zeros(3))


@checked(factor=number("brightness factor"))
def brightness_as_gfm(factor: float, batch: int = 1) -> GFMForm:
    """Brightness as a GFM: scale = factor - 1, shift = 0, for `batch` images (B, 3).

    >>> brightness_as_gfm(1.5).scale
    tensor([[0.5000, 0.5000, 0.5000]])
    """
    return GFMForm(torch.full((batch, 3), factor - 1), torch.zeros(batch, 3))


@checked(amount=per_channel("offset", minimum=None))
def offset(x: torch.Tensor, amount: float | tuple[float, float, float]) -> torch.Tensor:
    """Add `amount` (one number, or one per channel R, G, B; may be negative): (B, 3, H, W)."""
    return x + amount[:, None, None]  # (3,) -> (3, 1, 1)


@checked(amount=per_channel("offset", minimum=None))
def offset_as_conv(amount: float | tuple[float, float, float]) -> ConvForm:
    return ConvForm(torch.eye(3), amount)


@checked(ev=number("exposure ev", minimum=None))
def exposure(x: torch.Tensor, ev: float) -> torch.Tensor:
    """Exposure change in stops, on the (gamma-encoded) values as stored: x * 2**ev. (B, 3, H, W).

    >>> exposure(torch.full((1, 3, 1, 1), 0.25), 1).flatten().tolist()  # one stop brighter
    [0.5, 0.5, 0.5]
    """
    return x * 2.0 ** ev


@checked(ev=number("exposure ev", minimum=None))
def exposure_as_conv(ev: float) -> ConvForm:
    return ConvForm(torch.eye(3) * 2.0 ** ev, torch.zeros(3))


@checked(gains=per_channel("white balance gains", minimum=0.0))
def white_balance(x: torch.Tensor, gains: tuple[float, float, float]) -> torch.Tensor:
    """Multiply R, G, B by their gains (each >= 0): (B, 3, H, W).

    >>> white_balance(torch.full((1, 3, 1, 1), 0.5), (2.0, 1.0, 0.5)).flatten().tolist()
    [1.0, 0.5, 0.25]
    """
    return x * gains[:, None, None]  # (3,) -> (3, 1, 1)


@checked(gains=per_channel("white balance gains", minimum=0.0))
def white_balance_as_conv(gains: tuple[float, float, float]) -> ConvForm:
    return ConvForm(torch.diag(gains), torch.zeros(3))


@checked(factor=number("contrast factor"), mean=one_per_image)
def contrast(x: torch.Tensor, factor: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Contrast as Pillow defines it: blend with a constant grey, mean + factor * (x - mean).

    x (B, 3, H, W) -> (B, 3, H, W); factor >= 0: 0 gives a flat grey image, 1 the input. `mean` (B,)
    in [0, 1] defaults to `mean_luminance(x)` (as torchvision, up to its 0.2989 red weight).
    Pillow: pass `mean=pillow_mean(x)`, its mean rounded to an 8-bit level. Pillow's `Image.blend`
    evaluates grey + factor * (level - grey) in float32 on 0..255 and truncates it to an integer
    (after clipping to 0..255 when factor > 1), so its output is floor(255 * ours) clipped, and
    `image.quantize(ours)` is within one level of it.
    """
    grey = (mean_luminance(x) if mean is None else mean)[:, None, None, None]  # (B,) -> (B, 1, 1, 1)
    return grey + factor * (x - grey)


@checked(factor=number("contrast factor"), mean=one_per_image)
def contrast_as_gfm(factor: float, mean: torch.Tensor) -> GFMForm:
    """Contrast for images with luma means `mean` (B,): scale = factor - 1, shift = (1 - factor) * mean.

    >>> contrast_as_gfm(0.5, torch.tensor([0.4]))  # halfway towards the mean 0.4
    GFMForm(scale=tensor([[-0.5000, -0.5000, -0.5000]]), shift=tensor([[0.2000, 0.2000, 0.2000]]))
    """
    mean = mean[:, None].expand(-1, 3)  # (B,) -> (B, 3)
    return GFMForm((factor - 1) * torch.ones_like(mean), (1 - factor) * mean)


@checked(factor=number("saturation factor"), grey=grey_image)
def saturation(x: torch.Tensor, factor: float, grey: torch.Tensor | None = None) -> torch.Tensor:
    """Saturation as Pillow's `ImageEnhance.Color`: blend with the grey image, grey + factor * (x - grey).

    x (B, 3, H, W) -> (B, 3, H, W); factor >= 0: 0 gives black and white, 1 the input. `grey`
    (B, 1, H, W) defaults to `luma(x)`. Pillow: pass `grey=pillow_luma(x)`, its luma rounded to 8-bit
    levels; its output is then floor(255 * ours) clipped, as for `contrast`.
    """
    grey = luma(x) if grey is None else grey
    return grey + factor * (x - grey)


@checked(factor=number("saturation factor"))
def saturation_as_conv(factor: float) -> ConvForm:
    """Saturation as a 3x3 colour matrix: factor * I + (1 - factor) * (each row = LUMA), no bias."""
    return ConvForm(factor * torch.eye(3) + (1 - factor) * torch.tensor([LUMA] * 3), torch.zeros(3))


@checked()
def tone_curve(x: torch.Tensor, knots_in, knots_out) -> torch.Tensor:
    """Piecewise-linear curve through (knots_in[k], knots_out[k]), per channel: (B, 3, H, W).

    knots (K,) for one curve on R, G and B, or (3, K) for one curve per channel; knots_in strictly
    increasing. Beyond the first and last knot the curve is flat (as numpy.interp).

    >>> tone_curve(torch.full((1, 3, 1, 1), 0.25), [0, 0.5, 1], [0, 0.25, 1]).flatten().tolist()
    [0.125, 0.125, 0.125]
    """
    xs, ys = (k.float() for k in tone_curve_knots(knots_in, knots_out))  # (3, K) each
    b, _, h, w = x.shape
    v = x.transpose(0, 1).reshape(3, -1)  # (B, 3, H, W) -> (3, B*H*W)
    v = v.clamp(xs[:, :1], xs[:, -1:])
    k = torch.searchsorted(xs[:, 1:-1].contiguous(), v.contiguous(), right=True)  # segment 0..K-2
    x0, x1, y0, y1 = xs.gather(1, k), xs.gather(1, k + 1), ys.gather(1, k), ys.gather(1, k + 1)
    out = y0 + (v - x0) * (y1 - y0) / (x1 - x0)
    return out.reshape(3, b, h, w).transpose(0, 1)  # (3, B*H*W) -> (B, 3, H, W)


def tone_curve_as_mlp(knots_in, knots_out) -> list[ConvForm]:
    """The tone curve as an exact ReLU MLP of two 1x1 convs, 3 -> 3K -> 3 (run it with `apply_mlp`).

    Hidden unit (c, k) = ReLU(x_c - knots_in[c, k]); output c = knots_out[c, 0] + the sum of its
    units, each weighted by the change of slope at its knot (the last cancels the final slope, so the
    curve ends flat). K <= 21 knots per channel fit CSRNet's 64 hidden channels. Exact in real
    arithmetic; in float32 it agrees with `tone_curve` to about 1.2e-7 * (1 + sum |slope changes|),
    under 1e-6 for everyday curves.
    """
    xs, ys = tone_curve_knots(knots_in, knots_out)
    slopes = ys.diff(dim=1) / xs.diff(dim=1)  # (3, K - 1)
    zero = torch.zeros(3, 1, dtype=slopes.dtype)
    changes = torch.cat([slopes, zero], dim=1) - torch.cat([zero, slopes], dim=1)  # (3, K)
    k = xs.shape[1]
    hidden = ConvForm(torch.block_diag(*[torch.ones(k, 1)] * 3), -xs.reshape(-1).float())  # 3 -> 3K
    output = ConvForm(torch.block_diag(*changes[:, None, :]).float(), ys[:, 0].float())  # 3K -> 3
    return [hidden, output]
