"""The closed-form fit of CSRNet's base network: the identity base network, and the least-squares fit
of its last layer (ridge regression), with the ridge strength chosen by cross-validation.

`fit_base` with several ridge strengths picks one by leave-one-photo-out cross-validation in closed
form (`ridge_scores`, `choose_ridge`); with `modulated=True` (init="official-fit") it refits the last
layer of the authors' network on the features as their condition network modulates them for each
photo. The recipes that start from these fits are explained in `recipes.py`; `train.init_model`
applies them.

Introduced in notebook 05 (`05_training`), with the `default` recipe's closed-form start.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .model import CondView, CSRNet

RIDGE_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)  # ridge strengths `fit_base` chooses among


def identity_init(model: CSRNet) -> CSRNet:
    """Make the unmodulated base network exactly the identity on [0, 1]; zero all modulation heads.

    conv1 and conv2 copy the three colour channels into their first three features (ReLU passes
    values >= 0 unchanged) and keep their random init for the other features; conv3 reads the three
    copies back. The remaining random features are what the network learns curves with. Zero heads
    give scale = shift = 0, so every GFM is the identity until the condition network learns otherwise.
    """
    with torch.no_grad():
        for conv in (model.conv1, model.conv2):
            conv.weight[:3] = 0
            conv.weight[:3, :3, 0, 0] = torch.eye(3)  # features 0..2 = R, G, B
            conv.bias[:3] = 0
        model.conv3.weight.zero_()
        model.conv3.weight[:, :3, 0, 0] = torch.eye(3)
        model.conv3.bias.zero_()
        for name in ("scale", "shift"):
            for i in (1, 2, 3):
                head = getattr(model, f"cond_{name}{i}")
                head.weight.zero_()
                head.bias.zero_()
    return model


def base_features(model: CSRNet, pixels: torch.Tensor, scales=None, shifts=None) -> torch.Tensor:
    """Features before conv3: pixels (N, 3) in [0, 1] -> (N, 64), unmodulated, or modulated in layers
    1 and 2 by one photo's `scales` and `shifts` (two (64,) tensors each, e.g. from `modulations`)."""
    x = pixels[:, :, None, None]  # (N, 3) -> (N, 3, 1, 1)
    for i, conv in enumerate((model.conv1, model.conv2)):
        x = conv(x)  # (N, 3 or 64, 1, 1) -> (N, 64, 1, 1)
        if scales is not None:
            x = model.gfm(x, scales[i].expand(len(x), -1), shifts[i].expand(len(x), -1))
        x = F.relu(x)
    return x[:, :, 0, 0]  # -> (N, 64)


@dataclass(frozen=True)
class PhotoMoments:
    """One photo's least-squares statistics for conv3, averaged over its sampled pixels."""
    gram: torch.Tensor    # (65, 65) mean of f f^T, f = (64 features, 1)
    cross: torch.Tensor   # (65, 3) mean of f y^T, y = target colour
    square: torch.Tensor  # () mean of |y|^2 over the 3 channels


def photo_moments(model: CSRNet, pairs, *, pixels: int = 20_000, view: CondView = CondView.THUMB_128,
                  modulated: bool = False, generator: torch.Generator | None = None) -> list[PhotoMoments]:
    """The moments of the features before conv3 of each (input, target) pair, float64.

    modulated: features modulated in layers 1 and 2 as the condition network decides for each photo
    (it sees `view(input)`); else unmodulated.
    """
    out = []
    with torch.no_grad():
        for input, target in pairs:
            x = input[0].reshape(3, -1)  # (1, 3, H, W) -> (3, H*W)
            y = target[0].reshape(3, -1)
            if x.shape[1] > pixels:
                idx = torch.randint(x.shape[1], (pixels,), generator=generator)
                x, y = x[:, idx], y[:, idx]  # -> (3, pixels)
            scales = shifts = None
            if modulated:
                mods = model.modulations(view(input))
                scales, shifts = [s[0] for s in mods.scales[:2]], [s[0] for s in mods.shifts[:2]]
            f = base_features(model, x.T.float().cpu(), scales, shifts).double()  # (N, 64)
            f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)  # + bias: (N, 65)
            y = y.T.double().cpu()  # (N, 3)
            out.append(PhotoMoments(f.T @ f / len(f), f.T @ y / len(f), (y * y).sum(1).mean()))
    return out


def _solve_last_layer(moments: Sequence[PhotoMoments], ridge: float, prior: torch.Tensor) -> torch.Tensor:
    """Ridge regression of conv3 (65, 3) on the mean of the photos' moments (each photo weighs the
    same), shrunk towards `prior` (65, 3); the bias is not shrunk."""
    gram = sum(m.gram for m in moments) / len(moments)
    cross = sum(m.cross for m in moments) / len(moments)
    reg = ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
    reg[-1, -1] = 0  # do not shrink the bias
    return torch.linalg.solve(gram + reg, cross + reg @ prior)


def ridge_scores(moments: Sequence[PhotoMoments], grid: Sequence[float] = RIDGE_GRID,
                 prior: torch.Tensor | None = None) -> dict[float, list[float]]:
    """Ridge strength -> PSNR (dB, float, unclamped) of each photo under the fit on the *other*
    photos: leave-one-photo-out cross-validation inside the training pairs, in closed form."""
    prior = torch.zeros(65, 3, dtype=torch.float64) if prior is None else prior
    if len(moments) < 2:
        raise ValueError("choosing the ridge strength by cross-validation needs at least 2 training pairs")
    scores = {}
    for ridge in grid:
        scores[ridge] = []
        for i, m in enumerate(moments):
            w = _solve_last_layer([o for j, o in enumerate(moments) if j != i], ridge, prior)  # (65, 3)
            mse = ((w * (m.gram @ w)).sum() - 2 * (w * m.cross).sum() + m.square) / 3
            scores[ridge].append(-10 * math.log10(max(float(mse), 1e-10)))
    return scores


def choose_ridge(scores: dict[float, list[float]], rule: str = "one-se") -> float:
    """rule "best": the ridge with the best mean held-out PSNR; "one-se": the strongest ridge whose
    mean is within one standard error of the best (the "one-standard-error rule": when the data
    cannot tell strengths apart, shrink more)."""
    if rule not in ("best", "one-se"):
        raise ValueError(f"rule must be 'best' or 'one-se', got {rule!r}")
    means = {r: sum(v) / len(v) for r, v in scores.items()}
    best = max(means, key=means.get)
    if rule == "best":
        return best
    v = scores[best]
    se = math.sqrt(sum((x - means[best]) ** 2 for x in v) / max(len(v) - 1, 1) / len(v))
    return max(r for r in scores if means[r] >= means[best] - se)


def fit_base(model: CSRNet, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], *, pixels: int = 20_000,
             ridge: float | Sequence[float] = 1e-2, generator: torch.Generator | None = None,
             modulated: bool = False, view: CondView = CondView.THUMB_128, rule: str = "one-se") -> CSRNet:
    """Least-squares fit of conv3, so that the base network is the best colour map its features allow.

    The map is fitted on up to `pixels` random pixels of each (input, target) pair, every photo
    weighted equally, by ridge regression on the 64 features before conv3 (random ReLU features of
    the colour after `identity_init`, like `baselines.ColourTransform` with a richer basis; with
    `modulated=True`, the features as the condition network modulates them for each photo, so that
    conv3 reads a retouch that adapts to the photo, e.g. after loading the authors' weights). The
    modulation of conv3's output (the last heads) is set to zero.
    ridge: a strength (relative to the features' scale), or several, of which `choose_ridge` picks
        one by leave-one-photo-out cross-validation on these pairs (`ridge_scores`) with `rule`. Shrinks towards the identity
        read-out when features 0..2 are R, G, B (`identity_init`), else towards zero.
    """
    if not pairs:
        raise ValueError("fit_base needs at least one (input, target) pair")
    moments = photo_moments(model, pairs, pixels=pixels, view=view, modulated=modulated,
                            generator=generator)
    prior = torch.zeros(65, 3, dtype=torch.float64)
    if _reads_rgb(model):
        prior[:3] = torch.eye(3, dtype=prior.dtype)  # features 0..2 are R, G, B
    if not isinstance(ridge, (int, float)):
        ridge = choose_ridge(ridge_scores(moments, ridge, prior), rule)
    w = _solve_last_layer(moments, ridge, prior)  # (65, 3)
    with torch.no_grad():
        model.conv3.weight.copy_(w[:-1].T[:, :, None, None].float())  # (3, 64) -> (3, 64, 1, 1)
        model.conv3.bias.copy_(w[-1].float())
        for head in (model.cond_scale3, model.cond_shift3):
            head.weight.zero_()
            head.bias.zero_()
    return model


def _reads_rgb(model: CSRNet) -> bool:
    """True when conv1 and conv2 copy R, G, B into features 0..2 (as `identity_init` makes them)."""
    eye = torch.eye(3)
    return all(torch.equal(c.weight[:3, :3, 0, 0], eye) and not c.weight[:3, 3:].any() and not c.bias[:3].any()
               for c in (model.conv1, model.conv2))

