"""The recorded degradation of `data_samples/`: how each input was made from its target.

Each pair of `data_samples/` is a photograph (the target) and a flat, camera-like rendering of it
(the input) made by `degrade`: exposure, white balance, contrast and saturation, the project's
global operators (`csrnet_lite.ops`), with parameters drawn per pair by `draw_degradation` and
recorded in `data_samples/manifest.json`. Because the parameters are recorded, they are ground
truth: notebook 6 compares what a trained CSRNet learned with them.

    from csrnet_lite import degradation
    known = degradation.known_degradations()        # {"astronaut": Degradation(exposure_ev=-0.4941, ...), ...}
    input = degradation.degrade(target, known["astronaut"])   # (1, 3, H, W) in [0, 1], as the input PNG

`scripts/make_data_samples.py` (the maintainer tool that rebuilds the folder from public package
archives) uses this module, so what the manifest describes and what the library computes cannot drift.

Introduced in notebook 04 (`04_fivek_subset`).
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import ops
from .image import quantize, to_tensor
from .settings import DATA_SAMPLES

# Ranges the parameters are drawn from, uniformly (the tests check recorded values against them).
EXPOSURE_EV = (-1.0, 0.4)     # stops on the stored values; mostly darker, like an unedited rendering
WB_LOG2_GAIN = (-0.4, 0.4)    # log2 of the red and blue gains (green is the reference, gain 1)
CONTRAST = (0.55, 0.85)       # factor of the blend with the mean grey; < 1 flattens
SATURATION = (0.4, 0.8)       # factor of the blend with the luma; < 1 desaturates
DECIMALS = 4                  # drawn parameters are rounded before use, so the manifest holds them exactly
MEAN_DECIMALS = 6             # the recorded contrast pivot

MANIFEST = "manifest.json"    # in the data_samples folder


@dataclass(frozen=True)
class Degradation:
    """Parameters of `degrade` for one pair: the ground truth a notebook can compare against."""

    exposure_ev: float                    # stops: x * 2**ev (ops.exposure)
    wb_gains: tuple[float, float, float]  # R, G, B gains, G = 1 (ops.white_balance)
    contrast: float                       # blend factor with the mean grey (ops.contrast)
    saturation: float                     # blend factor with the luma (ops.saturation)
    contrast_mean: float | None = None    # the grey contrast blends towards: the mean luma of the
    #                                       image entering that step, recorded (see `with_pivot`)

    def to_json(self) -> dict:
        return {"exposure_ev": self.exposure_ev, "wb_gains": list(self.wb_gains), "contrast": self.contrast,
                "contrast_mean": self.contrast_mean, "saturation": self.saturation}

    @classmethod
    def from_json(cls, d: dict) -> "Degradation":
        return cls(float(d["exposure_ev"]), tuple(float(g) for g in d["wb_gains"]), float(d["contrast"]),
                   float(d["saturation"]), float(d["contrast_mean"]))


def draw_degradation(name: str) -> Degradation:
    """The drawn parameters of pair `name` (no contrast_mean yet), seeded with the name alone.

    Seeding with the name keeps a pair's parameters when others are added or removed;
    `random.Random(str)` and `.random()` are stable across Python versions.
    """
    rng = random.Random(f"data_samples/{name}")

    def uniform(lo_hi: tuple[float, float]) -> float:
        lo, hi = lo_hi
        return round(lo + (hi - lo) * rng.random(), DECIMALS)

    ev = uniform(EXPOSURE_EV)
    gain_r = round(2.0 ** uniform(WB_LOG2_GAIN), DECIMALS)
    gain_b = round(2.0 ** uniform(WB_LOG2_GAIN), DECIMALS)
    return Degradation(ev, (gain_r, 1.0, gain_b), uniform(CONTRAST), uniform(SATURATION))


def with_pivot(target: torch.Tensor, d: Degradation) -> Degradation:
    """`d` with contrast_mean = ops.mean_luminance of the exposed, white-balanced target (1, 3, H, W).

    Computed in float64 and rounded, then recorded: `degrade` is then a per-pixel function of the
    target and the manifest, with no image-wide float32 sum whose last bit could depend on the CPU.
    """
    gains = torch.tensor(d.wb_gains, dtype=torch.float64).view(1, 3, 1, 1)  # (3,) -> (1, 3, 1, 1)
    x = target.double() * 2.0 ** d.exposure_ev * gains
    return replace(d, contrast_mean=round(float(ops.luma(x).mean()), MEAN_DECIMALS))  # float64 throughout


def degrade(target: torch.Tensor, d: Degradation) -> torch.Tensor:
    """Flat camera-like rendering of `target`: (B, 3, H, W) in [0, 1] -> float32 (B, 3, H, W) in [0, 1].

    The project's global operators (csrnet_lite.ops), in this order, then one clamp to [0, 1]:
    exposure (x * 2**ev), white balance (x * gains), contrast (m + contrast * (x - m), m the recorded
    mean luma), saturation (Y + saturation * (x - Y), Y the BT.601 luma of each pixel).
    All four are affine, so `ops.compose` turns the chain into one 1x1 conv and one GFM.
    """
    if d.contrast_mean is None:
        raise ValueError("degrade needs contrast_mean; use with_pivot(target, d) or the manifest's values")
    x = ops.exposure(target, d.exposure_ev)
    x = ops.white_balance(x, d.wb_gains)
    x = ops.contrast(x, d.contrast, mean=torch.full((x.shape[0],), d.contrast_mean))
    x = ops.saturation(x, d.saturation)
    return x.clamp(0, 1)


def degrade_uint8(target: np.ndarray, d: Degradation) -> np.ndarray:
    """`degrade` on an 8-bit (H, W, 3) array, rounded back to 8 bits (what the input PNG stores)."""
    x = degrade(to_tensor(target), d)
    return quantize(x)[0].permute(1, 2, 0).to(torch.uint8).numpy()  # (1, 3, H, W) -> (H, W, 3)


# ---- the manifest: ground truth per pair ----

def read_manifest(root: str | os.PathLike = DATA_SAMPLES) -> dict:
    """`root`/manifest.json as a dict (its "pairs" list has one entry per pair, with "degradation").

    Raises FileNotFoundError when the folder has none (a real FiveK folder has no recorded
    degradations), ValueError when it is not a data_samples manifest.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {root}: only data_samples/ records how its inputs were "
                                "made; use degradation.known_degradations(root), which returns {} there")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); restore it with `git checkout data_samples` "
                         "or rebuild it with scripts/make_data_samples.py") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("pairs"), list):
        raise ValueError(f"{path} has no 'pairs' list: not a data_samples manifest")
    return manifest


def known_degradations(root: str | os.PathLike = DATA_SAMPLES) -> dict[str, Degradation]:
    """Pair name (the file stem, a `data.Pair.id`) -> its recorded `Degradation`, in manifest order.

    {} when `root` has no manifest.json, e.g. a real FiveK folder: there the truth is unknown.
    """
    if not (Path(root) / MANIFEST).is_file():
        return {}
    known = {}
    for entry in read_manifest(root)["pairs"]:
        try:
            known[entry["name"]] = Degradation.from_json(entry["degradation"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{Path(root) / MANIFEST}: pair {entry.get('name', '?')!r} has no complete "
                             f"degradation ({type(e).__name__}: {e})") from None
    return known
