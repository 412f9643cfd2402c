"""csrnet-lite: learn CSRNet (He et al., ECCV 2020) in notebooks that run on a laptop CPU.

Every image tensor in this package is float32 RGB in [0, 1] with shape (B, 3, H, W); `image.py` is the
one place that converts to and from files, PIL images and numpy arrays.
"""
from .image import load_image, save_image, to_numpy, to_tensor
from .data import PairDataset, Resize, default_root, find_pairs
from .model import CSRNet, ConditionNet, GFM, Modulations, gfm, load_official

__all__ = [
    "CSRNet", "ConditionNet", "GFM", "Modulations", "gfm", "load_official",
    "load_image", "save_image", "to_numpy", "to_tensor",
    "PairDataset", "Resize", "default_root", "find_pairs",
]
__version__ = "0.1.0"
