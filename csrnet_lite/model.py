"""CSRNet (He, Liu, Qiao, Dong, ECCV 2020): a per-pixel base network modulated by a condition network.

    input (B, 3, H, W) --base: conv1x1 -> GFM -> ReLU -> conv1x1 -> GFM -> ReLU -> conv1x1 -> GFM--> output
                  \\--cond: ConditionNet -> cond (B, 32) -> linear heads -> scale_i, shift_i (B, C_i)

The base network sees one pixel at a time (1x1 convolutions), so for fixed modulations it is a colour
map RGB -> RGB; the condition network looks at the whole image once and decides how to modulate it.
State-dict keys match the authors' release, so their `csrnet.pth` loads with `strict=True`
(`checkpoint.load_official`).

Introduced in notebook 03 (`03_building_csrnet`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .image import Resize, check_image, resize, thumbnail

COND_MIN_SIDE = 8  # smallest side shown to the condition network (its first kernel is 7x7, padding 1)


def gfm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Global feature modulation of features x (B, C, H, W) by per-channel scale and shift (B, C).

    The one place the formula is written. The authors write it `x * scale + shift + x`; folding the
    residual into the scale makes scale = shift = 0 the identity, which is what a fresh network and a
    "no retouch" condition should mean.

    >>> x = torch.ones(1, 2, 1, 1)  # 2 channels
    >>> gfm(x, scale=torch.tensor([[1.0, 0.0]]), shift=torch.tensor([[0.0, 0.5]])).flatten().tolist()
    [2.0, 1.5]
    """
    return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]  # (B, C) -> (B, C, 1, 1)


class GFM(nn.Module):
    """`gfm` as a module (no parameters): forward(x (B, C, H, W), scale (B, C), shift (B, C))."""

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return gfm(x, scale, shift)


class ConditionNet(nn.Module):
    """Three stride-2 convolutions (7x7, 3x3, 3x3, each after 1 pixel of zero padding) + global mean.

    forward: image (B, 3, H, W) in [0, 1] -> cond (B, cond_nf). Any H, W >= 7 works; the global
    average pool makes the output size-independent.
    """

    def __init__(self, in_nc: int = 3, cond_nf: int = 32):
        super().__init__()
        self.pad = nn.ZeroPad2d(1)
        self.conv1 = nn.Conv2d(in_nc, cond_nf, 7, stride=2)
        self.conv2 = nn.Conv2d(cond_nf, cond_nf, 3, stride=2)
        self.conv3 = nn.Conv2d(cond_nf, cond_nf, 3, stride=2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(self.pad(x)))  # (B, 3, H, W) -> (B, 32, ~H/2, ~W/2)
        x = self.act(self.conv2(self.pad(x)))  # -> (B, 32, ~H/4, ~W/4)
        x = self.act(self.conv3(self.pad(x)))  # -> (B, 32, ~H/8, ~W/8)
        return x.mean(dim=(2, 3))  # global average pool: (B, 32, h, w) -> (B, 32)


@dataclass(frozen=True)
class CondView:
    """What the condition network sees of a photo of any size (the base network sees every pixel).

    A square thumbnail `image.thumbnail(photo, thumb_size)` (aspect ratio not kept) when thumb_size is
    set, else `resize(photo)`: a `Resize` downscale that keeps the aspect ratio and never upscales
    (Resize.NONE: the full photo). CondView.THUMB_128: what models trained here see (the default);
    CondView.LONG_512: the authors' weights; CondView.FULL: the whole photo, as the authors' test
    code does (costly at 24 MP). A resized view thinner than COND_MIN_SIDE pixels (a tiny photo, a
    1 x 5000 sliver) is stretched to it.

    The one rule for every part: `CondView.trained_on(config.thumb_size)` is what a model sees in
    training (`train.sample_batch`), in the closed-form fit (`fit.photo_moments`), in the dataset
    (`data.Pair.cond_input`), in evaluation (`evaluate.as_function`), when baking a LUT
    (`lut.photo_modulations`) and in notebook 8 (`apps.your_photos.PhotoRetoucher`); `checkpoint.load_model`
    tells it for any model file.
    """
    thumb_size: int | None = 128  # side of the square thumbnail; None: show `resize(photo)` instead
    resize: Resize = Resize.NONE  # the aspect-preserving view when thumb_size is None

    THUMB_128: ClassVar[CondView]
    LONG_512: ClassVar[CondView]
    FULL: ClassVar[CondView]

    def __post_init__(self):
        if self.thumb_size is not None and (isinstance(self.thumb_size, bool) or not isinstance(
                self.thumb_size, int) or self.thumb_size < 1):
            raise ValueError(f"CondView thumb_size must be a positive number of pixels or None, "
                             f"got {self.thumb_size!r}")
        if not isinstance(self.resize, Resize):
            raise TypeError(f"CondView resize must be an image.Resize such as Resize.LONG_512, "
                            f"got {self.resize!r}")
        if self.thumb_size is not None and self.resize != Resize.NONE:
            raise ValueError(f"a CondView is a {self.thumb_size}x{self.thumb_size} thumbnail or a resize "
                             f"({self.resize}), not both; pass thumb_size=None with a resize")

    @staticmethod
    def trained_on(thumb_size: int | None) -> "CondView":
        """The view of a model trained with `TrainConfig.thumb_size`: its thumbnail, or LONG_512 for
        None (whole photos up to long edge 512, the size the command line trains at).

        >>> str(CondView.trained_on(64)), CondView.trained_on(None) == CondView.LONG_512
        ('64x64 thumbnail', True)
        """
        return CondView(thumb_size) if thumb_size is not None else CondView.LONG_512

    def __str__(self) -> str:
        if self.thumb_size is not None:
            return f"{self.thumb_size}x{self.thumb_size} thumbnail"
        return "full photo" if self.resize == Resize.NONE else str(self.resize)

    def __call__(self, photo: torch.Tensor) -> torch.Tensor:
        """photo (B, 3, H, W) -> the condition network's input (B, 3, h, w) in [0, 1].

        >>> CondView.LONG_512(torch.rand(1, 3, 1000, 600)).shape
        torch.Size([1, 3, 512, 307])
        """
        if self.thumb_size is not None:
            return thumbnail(photo, self.thumb_size)  # -> (B, 3, s, s)
        view = self.resize(photo)  # -> (B, 3, h, w), aspect ratio kept
        h, w = view.shape[-2:]
        if min(h, w) < COND_MIN_SIDE:  # a sliver or a few pixels: stretch it so the 7x7 kernel fits
            view = resize(view, (max(h, COND_MIN_SIDE), max(w, COND_MIN_SIDE)), "bilinear")
        return view  # (B, 3, h', w'), both sides >= COND_MIN_SIDE


CondView.THUMB_128 = CondView(128)


CondView.LONG_512 = CondView(None, Resize.LONG_512)


CondView.FULL = CondView(None, Resize.NONE)


@dataclass(frozen=True)
class Modulations:
    """What the condition network decides for a batch: cond (B, 32) and per-layer scale/shift.

    scales[i], shifts[i] have shape (B, 64) for i = 0, 1 and (B, 3) for i = 2.
    """

    cond: torch.Tensor
    scales: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    shifts: tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    @staticmethod
    def identity(batch: int = 1, widths: tuple[int, ...] = (64, 64, 3), cond_nf: int = 32) -> "Modulations":
        """All-zero modulations: every GFM is the identity, the base network runs unmodulated.

        >>> [s.shape for s in Modulations.identity(batch=2).scales]
        [torch.Size([2, 64]), torch.Size([2, 64]), torch.Size([2, 3])]
        """
        zeros = tuple(torch.zeros(batch, c) for c in widths)
        return Modulations(torch.zeros(batch, cond_nf), zeros, zeros)

    def lerp(self, other: "Modulations", t: float) -> "Modulations":
        """(1 - t) * self + t * other, for every tensor (interpolating retouches between images)."""
        mix = lambda a, b: torch.lerp(a, b, t)  # noqa: E731
        return Modulations(mix(self.cond, other.cond), tuple(map(mix, self.scales, other.scales)),
                           tuple(map(mix, self.shifts, other.shifts)))

    def detach(self) -> "Modulations":
        return Modulations(self.cond.detach(), tuple(s.detach() for s in self.scales),
                           tuple(s.detach() for s in self.shifts))


class CSRNet(nn.Module):
    """The paper's CSRNet: 36,489 parameters with the defaults.

    forward(input (B, 3, H, W), cond_input=None) -> output (B, 3, H, W), not clamped.
    The condition network looks at `cond_input` when given (e.g. a fixed-size thumbnail of the same
    photo), else at `input` itself as in the authors' code.
    """

    def __init__(self, in_nc: int = 3, out_nc: int = 3, base_nf: int = 64, cond_nf: int = 32):
        super().__init__()
        self.cond_net = ConditionNet(in_nc, cond_nf)
        self.cond_scale1 = nn.Linear(cond_nf, base_nf)
        self.cond_scale2 = nn.Linear(cond_nf, base_nf)
        self.cond_scale3 = nn.Linear(cond_nf, out_nc)
        self.cond_shift1 = nn.Linear(cond_nf, base_nf)
        self.cond_shift2 = nn.Linear(cond_nf, base_nf)
        self.cond_shift3 = nn.Linear(cond_nf, out_nc)
        self.conv1 = nn.Conv2d(in_nc, base_nf, 1)
        self.conv2 = nn.Conv2d(base_nf, base_nf, 1)
        self.conv3 = nn.Conv2d(base_nf, out_nc, 1)
        self.gfm = GFM()
        self.act = nn.ReLU()

    def modulations(self, cond_input: torch.Tensor) -> Modulations:
        """Run the condition network: image (B, 3, H, W) -> Modulations (cond and 3 scale/shift pairs)."""
        check_image(cond_input, "cond_input")
        cond = self.cond_net(cond_input)  # (B, 3, H, W) -> (B, 32)
        scales = (self.cond_scale1(cond), self.cond_scale2(cond), self.cond_scale3(cond))  # (B, 64/64/3)
        shifts = (self.cond_shift1(cond), self.cond_shift2(cond), self.cond_shift3(cond))
        return Modulations(cond, scales, shifts)

    def base(self, input: torch.Tensor, mods: Modulations) -> torch.Tensor:
        """Run the base network on input (B, 3, H, W) with given modulations -> (B, 3, H, W).

        Works on any tensor with 3 channels in dim 1, e.g. a (B, 3, N, 1) list of sampled pixels.
        """
        (s1, s2, s3), (t1, t2, t3) = mods.scales, mods.shifts
        x = self.act(self.gfm(self.conv1(input), s1, t1))  # (B, 3, H, W) -> (B, 64, H, W)
        x = self.act(self.gfm(self.conv2(x), s2, t2))
        return self.gfm(self.conv3(x), s3, t3)  # (B, 64, H, W) -> (B, 3, H, W)

    def forward(self, input: torch.Tensor, cond_input: torch.Tensor | None = None) -> torch.Tensor:
        check_image(input, "input")
        return self.base(input, self.modulations(input if cond_input is None else cond_input))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (36,489 for a default CSRNet).

    >>> count_parameters(CSRNet())
    36489
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
