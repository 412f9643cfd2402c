"""Looking inside a trained CSRNet: per-photo modulations, interventions on them, and operator fits.

With its modulations fixed, CSRNet's base network is a colour map RGB -> RGB for one photo
(`colour_map`). Notebook 6 reads those maps three ways, all with the functions here:

- per photo: `modulations_of` a batch of photos, `one_photo` of them, `modulation_spread` across them;
- interventions, each a plain function of `Modulations` (the widgets call them through `preview_*`):
  `at_strength` scales a retouch from none to the network's choice, `mixed` retouches a photo with
  another photo's condition, `switched` turns a layer's scales or shifts off;
- operator fits: `fit_operators` names a colour map as the classic operators of notebook 2
  (saturation, contrast, white balance, exposure: `ChainParams`, `operator_chain`), and
  `ChainParams.undoing` gives the values that undo a known `degradation.Degradation` of data_samples/.

Images in the widget functions are numpy float32 arrays (H, W, 3) in [0, 1] (`pictures`' convention);
everything else is the package's tensors (B, 3, H, W).

Introduced in notebook 06 (`06_visualising_modulations`).
"""
from __future__ import annotations

import functools
from dataclasses import astuple, dataclass, fields
from typing import Callable, Sequence

import numpy as np
import torch

from . import ops
from .image import check_image
from .metrics import psnr, psnr_of_mse
from .model import CSRNet, Modulations
from .ops import apply_conv, apply_gfm
from .histogram import sample_pixels
from .pictures import as_array
from .degradation import Degradation
from .modulation_plots import preview_modulations

LAYERS = (1, 2, 3)  # the base network's modulated layers, as the widgets name them (scale1, shift3, ...)


# ---- per-photo modulations ----

@torch.no_grad()
def modulations_of(model: CSRNet, cond_inputs: torch.Tensor | Sequence[torch.Tensor]) -> Modulations:
    """The condition network's modulations for a batch: cond_inputs (B, 3, s, s), or a list of
    (1, 3, s, s) thumbnails (e.g. `data.Pair.cond_input`), -> Modulations with cond (B, 32)."""
    if not isinstance(cond_inputs, torch.Tensor):
        cond_inputs = torch.cat(list(cond_inputs))  # B x (1, 3, s, s) -> (B, 3, s, s)
    return model.modulations(cond_inputs)


def batch_size(mods: Modulations) -> int:
    return mods.cond.shape[0]


def one_photo(mods: Modulations, i: int) -> Modulations:
    """The modulations of photo i (negative counts from the end) of a batch, as a batch of one."""
    n = batch_size(mods)
    if not isinstance(i, (int, np.integer)) or not -n <= i < n:
        raise IndexError(f"photo index {i!r} is outside a batch of {n} photos (0 to {n - 1})")
    i = int(i) % n
    pick = lambda t: t[i:i + 1]  # noqa: E731  (B, C) -> (1, C)
    return Modulations(pick(mods.cond), tuple(map(pick, mods.scales)), tuple(map(pick, mods.shifts)))


def modulation_spread(mods: Modulations) -> tuple[float, float, float]:
    """How photo-specific each layer's modulations are: per layer, the standard deviation across
    photos of each scale and shift channel, averaged over channels. Needs B >= 2 photos."""
    if batch_size(mods) < 2:
        raise ValueError(f"the spread across photos needs at least 2 photos, got {batch_size(mods)}")
    return tuple(float(torch.cat([s, t], dim=1).std(dim=0).mean())  # (B, 2C) -> (2C,) -> a number
                 for s, t in zip(mods.scales, mods.shifts))


def colour_map(model: CSRNet, mods: Modulations) -> Callable[[torch.Tensor], torch.Tensor]:
    """The base network with fixed modulations (batch 1) as a function of pixels: (1, 3, H, W) or a
    column of sampled pixels (1, 3, N, 1) -> the same shape. What `curves.tone_curves` and the LUTs take."""
    return functools.partial(model.base, mods=mods)


# ---- interventions ----

def at_strength(mods: Modulations, t: float) -> Modulations:
    """Modulations scaled from none (t = 0: every GFM the identity, the base network unmodulated, the
    average retouch it starts from) to the network's choice (t = 1) and beyond (t > 1)."""
    widths = tuple(s.shape[1] for s in mods.scales)
    none = Modulations.identity(batch_size(mods), widths, mods.cond.shape[1])
    return none.lerp(mods, t)


def mixed(mods: Modulations, other: Modulations, t: float) -> Modulations:
    """(1 - t) * mods + t * other: t = 0 is `mods`' retouch, t = 1 `other`'s. The heads are linear,
    so this equals the modulations of the mixed condition vector."""
    return mods.lerp(other, t)


def switched(mods: Modulations, *, scale1: bool = True, scale2: bool = True, scale3: bool = True,
             shift1: bool = True, shift2: bool = True, shift3: bool = True) -> Modulations:
    """`mods` with the scales or shifts of the layers whose switch is False set to zero (that part of
    the GFM becomes the identity). All True: `mods` itself; all False: `Modulations.identity`'s
    scales and shifts (the condition vector is kept)."""
    on_scale, on_shift = (scale1, scale2, scale3), (shift1, shift2, shift3)
    scales = tuple(s if on else torch.zeros_like(s) for s, on in zip(mods.scales, on_scale))
    shifts = tuple(s if on else torch.zeros_like(s) for s, on in zip(mods.shifts, on_shift))
    return Modulations(mods.cond, scales, shifts)


def mean_squared_error(image, target) -> float:
    """Mean squared difference of two images (H, W, 3) in [0, 1], unquantized (`psnr_of_mse` -> dB)."""
    return float(np.mean((as_array(image) - as_array(target)) ** 2))


def readout(image, target, **values) -> str:
    """The widgets' readout: PSNR of the shown image (H, W, 3) against the target; values ignored."""
    return f"PSNR against the target: {psnr_of_mse(mean_squared_error(image, target)):.2f} dB"


def preview_strength(model: CSRNet, photo: torch.Tensor, mods: Modulations, t: float) -> np.ndarray:
    """Widget: `photo` (1, 3, H, W) retouched at strength t (`at_strength`) -> (H, W, 3), via a LUT."""
    return preview_modulations(model, photo, at_strength(mods, t))


def preview_mix(model: CSRNet, photo: torch.Tensor, mods: Modulations, index: int, other: int,
                mix: float) -> np.ndarray:
    """Widget: photo `index` of the batch `mods` (its image `photo`) retouched with its own condition
    mixed with photo `other`'s (`mixed`, t = mix) -> (H, W, 3), via a LUT."""
    return preview_modulations(model, photo, mixed(one_photo(mods, index), one_photo(mods, other), mix))


def preview_switched(model: CSRNet, photo: torch.Tensor, mods: Modulations, **on: bool) -> np.ndarray:
    """Widget: `photo` retouched with some modulations switched off (`switched(mods, **on)`), via a LUT."""
    return preview_modulations(model, photo, switched(mods, **on))


def cost_per_layer(model: CSRNet, photo: torch.Tensor, mods: Modulations, target) -> dict[int, float]:
    """Layer -> dB of PSNR against `target` (H, W, 3) lost when that layer's scales and shifts are
    both switched off (positive: the layer's modulations help this photo)."""
    def db(image) -> float:
        return psnr_of_mse(mean_squared_error(image, target))
    full = db(preview_modulations(model, photo, mods))
    return {layer: full - db(preview_switched(model, photo, mods, **{f"scale{layer}": False, f"shift{layer}": False}))
            for layer in LAYERS}


# ---- does it adapt? ----

@torch.no_grad()
def exposure_curves(model: CSRNet, view, photo: torch.Tensor, evs: Sequence[float], n: int = 257) -> np.ndarray:
    """The grey tone curve (mean of R, G, B out for grey in, on `n` points of [0, 1]) of the colour map
    `model` gives `photo` shown at each exposure of `evs` (`ops.exposure`, stops) -> (len(evs), n); with
    odd n, column n // 2 is where grey 0.5 goes. A network that reads exposure lifts a darkened photo's
    curve; a fixed map draws the same curve at every exposure. `view`: what its condition network sees
    (`model.CondView`, e.g. `checkpoint.OFFICIAL_VIEW`)."""
    grey = torch.linspace(0, 1, n).view(1, 1, n, 1).expand(1, 3, n, 1)  # (1, 3, n, 1): a column of greys
    out = [model.base(grey, model.modulations(view(ops.exposure(photo, ev).clamp(0, 1)))).mean(1)[0, :, 0]
           for ev in evs]  # each (n,)
    return torch.stack(out).numpy()


@torch.no_grad()
def own_and_mean(model: CSRNet, view, samples) -> tuple[dict[str, float], dict[str, float]]:
    """(id -> PSNR with the photo's own modulations, id -> PSNR with the mean modulations of all the
    photos) of `data.Pair`s (.id, .input, .target), in dB on 8-bit values of the clamped output. The gain of
    own over mean is what reading each photo adds to the network's average retouch of these photos."""
    each = [model.modulations(view(s.input)) for s in samples]  # views may differ in size: one at a time
    mean = lambda ts: torch.cat(ts).mean(0, keepdim=True)  # noqa: E731  B x (1, C) -> (1, C)
    average = Modulations(mean([m.cond for m in each]), tuple(mean(t) for t in zip(*[m.scales for m in each])),
                          tuple(mean(t) for t in zip(*[m.shifts for m in each])))
    score = lambda s, m: float(psnr(model.base(s.input, m).clamp(0, 1), s.target)[0])  # noqa: E731
    return ({s.id: score(s, m) for s, m in zip(samples, each)}, {s.id: score(s, average) for s in samples})


# ---- which operators did it learn? ----

@dataclass(frozen=True)
class ChainParams:
    """Parameters of `operator_chain`: saturation, then contrast, then white balance and exposure."""

    saturation: float = 1.0  # s: blend with each pixel's luma, L + s (x - L) (ops.saturation)
    contrast: float = 1.0    # k: blend with the grey, m + k (x - m) (ops.contrast)
    grey: float = 0.5        # m: the grey contrast blends towards, in [0, 1]
    gain_r: float = 1.0      # white-balance gain of red (green is the reference, gain 1)
    gain_b: float = 1.0      # white-balance gain of blue
    exposure: float = 0.0    # stops: every channel times 2**exposure (ops.exposure)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_tensor(self) -> torch.Tensor:
        """(6,) float32, in the order of `names()`."""
        return torch.tensor(astuple(self), dtype=torch.float32)

    @classmethod
    def undoing(cls, d: Degradation) -> "ChainParams":
        """The chain that undoes data_samples' degradation `d` (before its clamp and rounding).

        `d` is exposure, white balance, contrast around d.contrast_mean, then saturation; the same
        steps in reverse with inverted factors undo it: saturation 1/s, contrast 1/k around the same
        grey, gains 1/g, exposure -ev.
        """
        gain_r, gain_g, gain_b = d.wb_gains
        if gain_g != 1 or d.contrast_mean is None:
            raise ValueError(f"expected a recorded degradation with green gain 1 and a contrast_mean, got {d}")
        return cls(1 / d.saturation, 1 / d.contrast, d.contrast_mean, 1 / gain_r, 1 / gain_b, -d.exposure_ev)


def operator_chain(x: torch.Tensor, params: ChainParams | torch.Tensor) -> torch.Tensor:
    """Saturation s, contrast k around the grey m, gains (g_R, 1, g_B) * 2**exposure, in that order:
    (B, 3, H, W) -> (B, 3, H, W), any values, not clamped.

    Composed of the operators' forms of notebook 2 (`ops.saturation_as_conv`, `ops.contrast_as_gfm`,
    `ops.white_balance_as_conv`, `ops.exposure_as_conv`), which take tensor factors. `params` is a
    `ChainParams` or a (6,) tensor in its field order, which may require grad (what `fit_operators`
    optimises).
    """
    p = params.as_tensor() if isinstance(params, ChainParams) else params
    if not isinstance(p, torch.Tensor) or p.shape != (6,):
        raise ValueError(f"params must be a ChainParams or a tensor of shape (6,) {ChainParams.names()}, "
                         f"got {p.shape if isinstance(p, torch.Tensor) else type(p).__name__}")
    s, k, m, gain_r, gain_b, ev = p
    x = apply_conv(x, ops.saturation_as_conv(s))
    x = apply_gfm(x, ops.contrast_as_gfm(k, m[None]))  # m: (B,) with B = 1, the same for every image
    x = apply_conv(x, ops.white_balance_as_conv(torch.stack([gain_r, torch.ones(()), gain_b])))
    return apply_conv(x, ops.exposure_as_conv(ev))


@dataclass(frozen=True)
class OperatorFit:
    """The best `operator_chain` for a colour map, and how far it stays from it."""

    params: ChainParams
    rms: float  # root mean square difference on the fitted pixels, in [0, 1] units


def fit_operators(colour_map: Callable[[torch.Tensor], torch.Tensor], pixels, grey: float,
                  max_iter: int = 200) -> OperatorFit:
    """Least-squares fit of `operator_chain` to a colour map on given pixels -> OperatorFit.

    colour_map: pixels (1, 3, N, 1) -> (1, 3, N, 1), e.g. `colour_map(model, mods)`; pixels (N, 3),
    a numpy array or tensor in [0, 1]. The contrast's grey is fixed to `grey`, the mean luma of the
    image the map is for (what `ops.contrast` blends towards; saturation keeps the mean luma): left
    free, contrast and exposure would trade off along a line of equally good fits, since only
    k * 2**ev and (1 - k) * m * 2**ev show in an affine map. L-BFGS from the identity.
    """
    pixels = torch.as_tensor(np.asarray(pixels, dtype=np.float32))
    if pixels.ndim != 2 or pixels.shape[1] != 3 or len(pixels) < 6:
        raise ValueError(f"pixels must be an (N, 3) array of RGB values with N >= 6, got shape {tuple(pixels.shape)}")
    x = pixels.T[None, :, :, None].contiguous()  # (N, 3) -> (1, 3, N, 1)
    with torch.no_grad():
        y = colour_map(x)
    free = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0], requires_grad=True)  # s, k, g_R, g_B, ev
    grey_t = torch.tensor([float(grey)])

    def params() -> torch.Tensor:
        return torch.cat([free[:2], grey_t, free[2:]])  # (6,) in ChainParams order

    opt = torch.optim.LBFGS([free], max_iter=max_iter, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = (operator_chain(x, params()) - y).square().mean()
        value.backward()
        return value

    opt.step(loss)
    with torch.no_grad():
        p = params()
        rms = float((operator_chain(x, p) - y).square().mean().sqrt())
    return OperatorFit(ChainParams(*(float(v) for v in p)), rms)


def fit_learned_operators(model: CSRNet, mods: Modulations, photo: torch.Tensor, n_pixels: int = 4096,
                          seed: int = 0) -> OperatorFit:
    """`fit_operators` on the colour map `model` gives `photo` (1, 3, H, W) with `mods` (batch 1):
    on `n_pixels` of the photo's own pixels (drawn with `seed`), the grey at its mean luma."""
    check_image(photo, "photo")
    if photo.shape[0] != 1 or batch_size(mods) != 1:
        raise ValueError(f"expected one photo and its modulations, got {photo.shape[0]} photo(s) and "
                         f"modulations for {batch_size(mods)}; pick one with one_photo(mods, i)")
    pixels = sample_pixels(photo, n_pixels, seed=seed)  # (n, 3)
    return fit_operators(colour_map(model, mods), pixels, grey=float(ops.mean_luminance(photo)))
