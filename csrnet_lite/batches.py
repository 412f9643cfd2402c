"""What one training step sees: pairs read into memory, and random batches with augmentation.

The base network works pixel by pixel, so the loss over a photo can be estimated on ~1000 random
pixels; the condition network only needs a small view of the photo, the 128x128 `image.thumbnail`,
which is exactly what it sees at inference too (`image.CondView`). Augmentation is honest: random
crops, flips/rotations, and a random exposure shift of the input (up to +-1.5 stops) while the
target stays the same: the expert's result does not depend on how the camera exposed the photo, so
the condition network learns to judge exposure instead of memorising 16 photos. (Random
white-balance shifts are available but off: these inputs already carry the expert's white balance,
and undoing casts hurt validation photos whose cast is intended.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .data import iter_pairs
from .image import thumbnail
from .recipes import TrainConfig


def as_pairs(data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Samples (with .input/.target, e.g. a PairDataset), or (input, target) tuples -> list of pairs.

    Every image must be a (1, 3, H, W) float32 tensor in [0, 1]; a (B, 3, H, W) batch is split.
    """
    pairs = []
    for _, input, target in iter_pairs(data):
        pairs.extend(zip(input.split(1), target.split(1)))  # (B, 3, H, W) -> B pairs of (1, 3, H, W)
    if not pairs:
        raise ValueError("no training pairs: the dataset is empty")
    return pairs


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of x (..., H, W), k in 0..7.

    >>> dihedral(torch.tensor([[1, 2], [3, 4]]), 1).tolist()  # a quarter turn
    [[2, 4], [1, 3]]
    """
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k & 3, dims=(-2, -1))


@dataclass
class Batch:
    pixels: torch.Tensor   # (B, 3, 1, N) or (1, 3, H, W): input the base network sees
    target: torch.Tensor   # same shape as pixels
    cond: torch.Tensor     # (B, 3, s, s) or (1, 3, H, W): what the condition network sees


def sample_batch(pairs, config: TrainConfig, gen: torch.Generator) -> Batch:
    """Draw one batch with the config's augmentation, using only `gen` for randomness."""
    pixels, targets, conds = [], [], []
    for i in torch.randint(len(pairs), (config.batch,), generator=gen).tolist():
        input, target = pairs[i]
        h, w = input.shape[-2:]
        y0, x0, ch, cw = 0, 0, h, w
        if config.crop < 1:
            area = config.crop + (1 - config.crop) * torch.rand((), generator=gen).item()
            aspect = math.exp((torch.rand((), generator=gen).item() - 0.5) * math.log(16 / 9))
            ch = max(1, min(h, round(math.sqrt(area * h * w / aspect))))
            cw = max(1, min(w, round(math.sqrt(area * h * w * aspect))))
            y0 = torch.randint(h - ch + 1, (), generator=gen).item()
            x0 = torch.randint(w - cw + 1, (), generator=gen).item()
        gain = torch.ones(1, 3, 1, 1)
        if config.exposure > 0:  # stops of exposure; encoded values ~ linear light^(1/2.2)
            stops = (2 * torch.rand((), generator=gen) - 1) * config.exposure
            gain = gain * 2 ** (stops / 2.2)
        if config.white_balance > 0:
            gain = gain * torch.exp(torch.randn(1, 3, 1, 1, generator=gen) * config.white_balance)
        shifted = config.exposure > 0 or config.white_balance > 0
        k = torch.randint(8, (), generator=gen).item() if config.flips else 0
        view = input[:, :, y0:y0 + ch, x0:x0 + cw]
        if shifted:
            view = (view * gain).clamp(0, 1)  # the same retouch must now undo the shift
        view = dihedral(view, k)
        conds.append(view if config.thumb_size is None else thumbnail(view, config.thumb_size))
        if config.pixels is None:  # the whole (cropped, flipped) photo, batch 1
            pixels.append(view)
            targets.append(dihedral(target[:, :, y0:y0 + ch, x0:x0 + cw], k))
        else:  # random pixels of the crop, as a (1, 3, 1, N) row
            flat = (y0 + torch.randint(ch, (config.pixels,), generator=gen)) * w \
                + x0 + torch.randint(cw, (config.pixels,), generator=gen)  # indices into H*W
            x = input.reshape(1, 3, -1)[:, :, flat]  # (1, 3, H, W) -> (1, 3, N)
            pixels.append((x * gain[..., 0]).clamp(0, 1)[:, :, None] if shifted else x[:, :, None])  # -> (1, 3, 1, N)
            targets.append(target.reshape(1, 3, -1)[:, :, None, flat])  # (1, 3, H, W) -> (1, 3, 1, N)
    return Batch(torch.cat(pixels), torch.cat(targets), torch.cat(conds))
