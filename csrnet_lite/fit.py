"""Where training starts: the identity base network, a least-squares fit of it, or the authors' weights.

`fast` starts from a good *fixed* retouch: the base network is built to be the identity on [0, 1]
(`identity_init`), its last layer is then fitted by ridge regression to the training pairs
(`fit_base`), and the modulation heads start at zero (`gfm` with zero scale/shift is the identity).
The condition network only has to learn how each photo differs from that average retouch.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .batches import as_pairs
from .checkpoint import load_official
from .model import CSRNet
from .recipes import TrainConfig


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


def base_features(model: CSRNet, pixels: torch.Tensor) -> torch.Tensor:
    """Unmodulated features before conv3: pixels (N, 3) in [0, 1] -> (N, 64)."""
    x = pixels[:, :, None, None]  # (N, 3) -> (N, 3, 1, 1)
    x = F.relu(model.conv2(F.relu(model.conv1(x))))  # -> (N, 64, 1, 1)
    return x[:, :, 0, 0]  # -> (N, 64)


def fit_base(model: CSRNet, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], *, pixels: int = 20_000,
             ridge: float = 1e-3, generator: torch.Generator | None = None) -> CSRNet:
    """Least-squares fit of conv3 so that the unmodulated base network is the best fixed colour map.

    The map is fitted on up to `pixels` random pixels of each (input, target) pair, every photo
    weighted equally, by ridge regression on conv2's features (a fixed retouch of 64 random ReLU
    features of the colour, like `baselines.ColourTransform` with a richer basis).
    """
    if not pairs:
        raise ValueError("fit_base needs at least one (input, target) pair")
    gram, cross, count = 0.0, 0.0, len(pairs)
    with torch.no_grad():
        for input, target in pairs:
            x = input[0].reshape(3, -1)  # (1, 3, H, W) -> (3, H*W)
            y = target[0].reshape(3, -1)
            if x.shape[1] > pixels:
                idx = torch.randint(x.shape[1], (pixels,), generator=generator)
                x, y = x[:, idx], y[:, idx]  # -> (3, pixels)
            f = base_features(model, x.T.float().cpu()).double()  # (N, 64)
            f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)  # + bias: (N, 65)
            gram = gram + f.T @ f / len(f)
            cross = cross + f.T @ y.T.double().cpu() / len(f)
        gram, cross = gram / count, cross / count
        reg = ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        reg[-1, -1] = 0  # do not shrink the bias
        # ridge towards the identity read-out (features 0..2 are R, G, B), not towards zero
        prior = torch.zeros_like(cross)
        prior[:3] = torch.eye(3, dtype=prior.dtype)
        w = torch.linalg.solve(gram + reg, cross + reg @ prior)  # (65, 3)
        model.conv3.weight.copy_(w[:-1].T[:, :, None, None].float())  # (3, 64) -> (3, 64, 1, 1)
        model.conv3.bias.copy_(w[-1].float())
    return model


def init_model(config: TrainConfig, data=None) -> CSRNet:
    """A fresh CSRNet initialised as `config.init` says, deterministically from `config.seed`.

    init="fit" needs the training `data` (same forms as `train` accepts).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.init == "official":
            return load_official(config.official_path).train()
        model = CSRNet()
        if config.init in ("identity", "fit"):
            identity_init(model)
        if config.init == "fit":
            if data is None:
                raise ValueError("init='fit' fits the base network to the training pairs: pass data")
            gen = torch.Generator().manual_seed(config.seed)
            fit_base(model, as_pairs(data), ridge=config.ridge, generator=gen)
    return model
