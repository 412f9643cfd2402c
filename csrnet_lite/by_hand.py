"""CSRNet by hand: the base network with hand-set weights, whose modulations are a photo editor's knobs.

Notebook 2 derives each global operator as 1x1 convolutions and GFMs; this module puts them into
CSRNet's own base network (`model.CSRNet`, 64 hidden channels) so that four knobs, brightness `b`,
contrast `k`, saturation `f` and warmth `w`, followed by a fixed tone curve (the "house style"),
are nothing but its modulations. The retouch it reproduces, with the operators of `csrnet_lite.ops`:

    target_retouch(x) = white_balance(tone_curve(contrast(saturation(brightness(x, b), f), k)),
                                      (1 + w, 1, 1 - w))

- Layer 1 copies the pixel and its luma with both signs: channels x, -x, L, -L (8 of 64). Its GFM
  scales x by k f b and L by k (1 - f) b, and shifts x by (1 - k) b m, m the photo's mean luma. The
  ReLU keeps the positive part of each copy, and ReLU(a) - ReLU(-a) = a loses nothing.
- Layer 2 adds the parts back up, v = x' - (-x)' + L' - (-L)' (brightness, saturation and contrast
  done), and feeds v straight into the tone curve's first convolution (two matrices in a row are one
  matrix). Its GFM is the identity; its ReLU makes the curve's ramps.
- Layer 3 is the tone curve's second convolution; its GFM scales R by 1 + w and B by 1 - w.

The only global statistic is m: `hand_modulations` is a one-line "condition network".

    net = hand_made_csrnet()
    out = net.base(photo, hand_modulations(photo, brightness=1.2, contrast=1.3))  # == target_retouch(...)

Introduced in notebook 02 (`02_operators_as_1x1_convs_and_gfm`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import ops
from .image import check_image
from .model import CSRNet, Modulations
from .pictures import as_array
from .modulation_plots import preview_modulations

S_CURVE_IN = (0.0, 0.25, 0.5, 0.75, 1.0)    # knots of the house style's tone curve: inputs ...
S_CURVE_OUT = (0.0, 0.18, 0.5, 0.82, 1.0)   # ... and outputs, an S-curve (more mid-tone contrast)
COPIES = 8  # layer-1 channels in use: x (3), -x (3), L, -L


def hand_made_csrnet(knots_in: Sequence[float] = S_CURVE_IN, knots_out: Sequence[float] = S_CURVE_OUT) -> CSRNet:
    """A default-size CSRNet (eval mode) whose base network, driven by `hand_modulations`, is
    `target_retouch` with the tone curve through (knots_in[k], knots_out[k]) on every channel.

    knots: K numbers each, knots_in strictly increasing, K <= 21 (the curve's 3K ramps must fit the
    64 hidden channels). Only the base network is set; its condition network stays untrained (use
    `hand_modulations` instead of `net.modulations`).
    """
    net = CSRNet().eval()
    first, second = ops.tone_curve_as_mlp(knots_in, knots_out)  # 3 -> 3K -> 3 (validates the knots)
    hidden = first.weight.shape[0]  # 3K
    if hidden > net.conv2.out_channels:
        raise ValueError(f"the tone curve has {hidden // 3} knots; CSRNet's {net.conv2.out_channels} hidden "
                         f"channels hold at most {net.conv2.out_channels // 3} (3 ramps per knot)")
    luma = torch.tensor(ops.LUMA)
    copy = torch.cat([torch.eye(3), -torch.eye(3), luma[None], -luma[None]])  # (8, 3): x, -x, L, -L
    add_up = torch.cat([torch.eye(3), -torch.eye(3), torch.ones(3, 1), -torch.ones(3, 1)], dim=1)  # (3, 8)
    with torch.no_grad():
        for conv in (net.conv1, net.conv2, net.conv3):
            conv.weight.zero_()
            conv.bias.zero_()
        net.conv1.weight[:COPIES, :, 0, 0] = copy  # (64, 3, 1, 1): rows 8.. stay zero
        net.conv2.weight[:hidden, :COPIES, 0, 0] = first.weight @ add_up  # (3K, 3) @ (3, 8): add up, then ramps
        net.conv2.bias[:hidden] = first.bias
        net.conv3.weight[:, :hidden, 0, 0] = second.weight  # (3, 3K): sum the ramps
        net.conv3.bias[:] = second.bias
    return net


def hand_modulations(photo: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
                     saturation: float = 1.0, warmth: float = 0.0) -> Modulations:
    """The modulations of `target_retouch` for one photo (1, 3, H, W) in [0, 1]: the hand-made
    condition network. -> Modulations with scales/shifts (1, 64), (1, 64), (1, 3) and cond (1, 32).

    brightness b >= 0, contrast k >= 0, saturation f >= 0 are factors (1: unchanged); warmth w in
    [-1, 1] sets the white-balance gains (1 + w, 1, 1 - w). cond holds (b, k, f, w, m) in its first
    five entries: what a condition network would have to know.
    """
    check_image(photo, "photo")
    if photo.shape[0] != 1:
        raise ValueError(f"hand_modulations takes one photo (1, 3, H, W), got a batch of {photo.shape[0]}")
    b, k, f, w = (float(v) for v in (brightness, contrast, saturation, warmth))
    if min(b, k, f) < 0 or not -1 <= w <= 1:
        raise ValueError(f"expected brightness, contrast, saturation >= 0 and warmth in [-1, 1], got "
                         f"{b}, {k}, {f} and {w}")
    m = ops.mean_luminance(photo).item()  # the one global statistic
    scale1, shift1 = torch.zeros(1, 64), torch.zeros(1, 64)
    scale1[0, :6] = k * f * b - 1  # x and -x
    scale1[0, 6:8] = k * (1 - f) * b - 1  # L and -L
    shift1[0, :3], shift1[0, 3:6] = (1 - k) * b * m, -(1 - k) * b * m
    scale3 = torch.tensor([[w, 0.0, -w]])  # white balance gains 1 + w, 1, 1 - w
    cond = torch.zeros(1, 32)
    cond[0, :5] = torch.tensor([b, k, f, w, m])
    zero64 = torch.zeros(1, 64)
    return Modulations(cond, (scale1, zero64, scale3), (shift1, zero64, torch.zeros(1, 3)))


def target_retouch(photo: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
                   saturation: float = 1.0, warmth: float = 0.0, *, knots_in: Sequence[float] = S_CURVE_IN,
                   knots_out: Sequence[float] = S_CURVE_OUT) -> torch.Tensor:
    """The same retouch with the operators of `csrnet_lite.ops`: (B, 3, H, W) -> (B, 3, H, W), not clamped.

    Contrast blends towards the mean luma of the image it receives: b times the photo's, since
    saturation keeps every pixel's luma.
    """
    x = ops.saturation(ops.brightness(photo, brightness), saturation)
    x = ops.tone_curve(ops.contrast(x, contrast), knots_in, knots_out)
    return ops.white_balance(x, (1 + warmth, 1.0, 1 - warmth))


# ---- the widget's callbacks (notebook 2's "Drive it yourself") ----

def preview(net: CSRNet, photo: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
            saturation: float = 1.0, warmth: float = 0.0) -> np.ndarray:
    """The hand-made network's retouch of `photo` (1, 3, H, W) at these knobs -> (H, W, 3) in [0, 1].

    Through a 17^3 lookup table (`modulation_plots.preview_modulations`), fast enough for a slider; it
    differs from `net.base` only by the table's interpolation.
    """
    return preview_modulations(net, photo, hand_modulations(photo, brightness, contrast, saturation, warmth))


def mean_difference(image, goal) -> float:
    """Mean absolute difference of two images (H, W, 3) in [0, 1] (arrays or tensors), a number in [0, 1]."""
    return float(np.abs(as_array(image) - as_array(goal)).mean())


def distance_readout(image, goal, **knobs) -> str:
    """The widget's readout: how far `image` is from `goal`, both (H, W, 3); the knobs are ignored."""
    return f"mean difference from the target: {mean_difference(image, goal):.4f}"
