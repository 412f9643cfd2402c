"""CSRNet (He, Liu, Qiao, Dong, ECCV 2020): a per-pixel base network modulated by a condition network.

    input (B, 3, H, W) --base: conv1x1 -> GFM -> ReLU -> conv1x1 -> GFM -> ReLU -> conv1x1 -> GFM--> output
                  \\--cond: ConditionNet -> cond (B, 32) -> linear heads -> scale_i, shift_i (B, C_i)

The base network sees one pixel at a time (1x1 convolutions), so for fixed modulations it is a colour
map RGB -> RGB; the condition network looks at the whole image once and decides how to modulate it.
State-dict keys match the authors' release, so their `csrnet.pth` loads with `strict=True`
(`checkpoint.load_official`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .image import check_image


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
