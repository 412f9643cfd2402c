"""csrnet-lite: learn CSRNet (He et al., ECCV 2020) in notebooks that run on a laptop CPU.

Every image tensor in this package is float32 RGB in [0, 1] with shape (B, 3, H, W); `image.py` is the
one place that converts to and from files, PIL images and numpy arrays. The modules of this folder are
the teaching core that the notebooks import (README.md has a table); `apps/` holds what notebook 8
runs as an application and `tools/` the command line and the file tooling around it. Imports run one
way: `apps/` and `tools/` import the core, never the reverse.
"""
__version__ = "0.1.0"
