"""Paired FiveK data for training: resize policies, a cached dataset, and which root to use.

    >>> data = PairDataset(default_root(), resize=Resize.LONG_512)
    >>> sample = data[0]  # Sample(id, input, target, cond_input): float32 (1, 3, H, W) in [0, 1]

Finding the pairs in a folder (`find_pairs`) and choosing subsets (`select_ids`, `select_range`,
`split_by_id`) live in csrnet_lite.pairs and are re-exported here. Command line:

    python -m csrnet_lite.data list [ROOT]     the pairs found below ROOT, and the problems
    python -m csrnet_lite.data fetch ...       download a FiveK subset (csrnet_lite.fetch)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import settings
from .files import atomic_path
from .image import check_image, load_image, quantize, thumbnail, to_tensor
from .pairs import (Pair, PairingWarning, clean_stem, find_pairs, fivek_id, read_id_list,
                    scan_pairs, select_ids, select_range, split_by_id)

__all__ = [
    "Pair", "PairingWarning", "PairDataset", "Resize", "Sample", "clean_stem", "default_root",
    "describe_root", "find_pairs", "fivek_id", "read_id_list", "scan_pairs", "select_ids",
    "select_range", "split_by_id",
]
CACHE_VERSION = 1  # part of every disk cache key: bump it when the cached arrays change meaning


@dataclass(frozen=True)
class Resize:
    """How photos are resized when loaded: one edge becomes `size` pixels, the aspect ratio is kept.

    Only downscaling: a photo whose edge is already `size` or less keeps its pixels unchanged.
    Resampling is bicubic with antialiasing (torch's `antialias=True`, which reproduces PIL's BICUBIC
    filter on float data), clamped to [0, 1]. The published policies are class attributes:
    Resize.NONE, Resize.SHORT_480 (the "480p" of 3D-LUT/AdaInt), Resize.LONG_500 (CSRNet's FiveK)
    and Resize.LONG_512 (DPE, CURL).
    """
    edge: str = "none"  # "short" or "long": the edge that becomes `size`; "none": keep every size
    size: int = 0       # pixels of that edge (0 with edge="none")

    NONE: ClassVar[Resize]
    SHORT_480: ClassVar[Resize]
    LONG_500: ClassVar[Resize]
    LONG_512: ClassVar[Resize]

    def __post_init__(self):
        if self.edge not in ("none", "short", "long"):
            raise ValueError(f"Resize edge must be 'short', 'long' or 'none', got {self.edge!r}")
        if self.edge == "none" and self.size != 0:
            raise ValueError(f"Resize('none') takes no size, got {self.size}")
        if self.edge != "none" and (not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"Resize size must be a positive number of pixels, got {self.size!r}")

    def __str__(self) -> str:
        return "no resize" if self.edge == "none" else f"{self.edge} edge {self.size}"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resizing a photo of (height, width)."""
        edge = {"none": 0, "short": min(height, width), "long": max(height, width)}[self.edge]
        if edge <= self.size:
            return height, width
        if height == edge:
            return self.size, max(1, round(width * self.size / edge))
        return max(1, round(height * self.size / edge)), self.size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H', W') in [0, 1] with (H', W') = output_size(H, W)."""
        check_image(x, "image to resize", check_range=False)  # shape and type; the output is clamped
        size = self.output_size(*x.shape[-2:])
        if size == tuple(x.shape[-2:]):
            return x
        y = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)  # (B, 3, H', W')
        return y.clamp(0, 1)  # bicubic overshoots a little at sharp edges


Resize.NONE = Resize()
Resize.SHORT_480 = Resize("short", 480)
Resize.LONG_500 = Resize("long", 500)
Resize.LONG_512 = Resize("long", 512)


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value to compare
class Sample:
    """One training example; every tensor is float32 in [0, 1]."""
    id: str                   # the pair's id, e.g. "a0001"
    input: torch.Tensor       # (1, 3, H, W) the photo to retouch
    target: torch.Tensor      # (1, 3, H, W) the expert's version
    cond_input: torch.Tensor  # (1, 3, s, s) thumbnail(input, s): what the condition network sees


class PairDataset(torch.utils.data.Dataset):
    """Input/target pairs as `Sample`s: decoded once, resized, cached in memory and optionally on disk.

    root_or_pairs: a folder in any layout `find_pairs` reads, or a sequence of `Pair`s.
    resize: a `Resize` policy (None means Resize.NONE).
    cache_dir: optional folder for a disk cache, one .npz per pair, keyed by both files' path, mtime
        and size and by the resize policy; written atomically, a corrupt file is rebuilt.
    thumb_size: side of `Sample.cond_input`.
    in_memory: keep every decoded pair in memory (turn off for thousands of pairs; the disk cache
        then does the work).
    strict, expert, group: passed to `find_pairs`; strict also makes a pixel-identical pair an error.

    Iterate it directly (`for sample in data`) or use DataLoader(data, batch_size=None): photos differ
    in size, so samples are not stacked into batches here. Pairs are cached as compact arrays: uint8 when the pixels are exact 8-bit values (any 8-bit file
    that was not resized), else uint16 (within 1e-5 of the resized values). A sample is the same
    whether it comes from the files, memory or disk, so results never depend on the cache's state.
    """

    def __init__(self, root_or_pairs: str | os.PathLike | Sequence[Pair], resize: Resize | None = None,
                 *, cache_dir: str | os.PathLike | None = None, thumb_size: int = 128,
                 in_memory: bool = True, strict: bool = False, expert: str = "C",
                 group: str | None = None):
        if isinstance(root_or_pairs, (str, os.PathLike)):
            self.root: Path | None = Path(root_or_pairs)
            self.pairs = find_pairs(self.root, strict=strict, expert=expert, group=group)
        else:
            self.root, self.pairs = None, list(root_or_pairs)
            bad = [p for p in self.pairs if not isinstance(p, Pair)]
            if bad:
                raise TypeError(f"PairDataset takes a folder or Pairs, got a {type(bad[0]).__name__}")
            if not self.pairs:
                raise ValueError("PairDataset got no pairs; pass a FiveK folder or a non-empty list")
        resize = Resize.NONE if resize is None else resize
        if not isinstance(resize, Resize):
            raise TypeError(f"resize must be a Resize policy such as Resize.LONG_512, got {resize!r}")
        self.resize, self.thumb_size, self.in_memory, self.strict = resize, thumb_size, in_memory, strict
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # index -> (input, target) (H, W, 3)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        pair = self.pairs[index]  # IndexError past the end, which also ends `for sample in data`
        index = index % len(self.pairs)
        arrays = self._memory.get(index)
        if arrays is None:
            arrays = self._load(pair)
            if self.in_memory:
                self._memory[index] = arrays
        input, target = to_tensor(arrays[0]), to_tensor(arrays[1])  # (H, W, 3) -> (1, 3, H, W)
        return Sample(pair.id, input, target, thumbnail(input, self.thumb_size))

    def __repr__(self) -> str:
        where = self.root if self.root is not None else f"{len(self.pairs)} given pairs"
        return (f"PairDataset({len(self)} pairs from {where}, {self.resize}, "
                f"{len(self._memory)} in memory)")

    @property
    def nbytes(self) -> int:
        """Bytes of the pairs held in memory."""
        return sum(a.nbytes for arrays in self._memory.values() for a in arrays)

    def cache_path(self, pair: Pair) -> Path | None:
        """The disk cache file of `pair` (None without cache_dir); the name changes with the key."""
        if self.cache_dir is None:
            return None
        files = [(str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in (pair.input, pair.target)]
        key = json.dumps([CACHE_VERSION, self.resize.edge, self.resize.size, files])
        name = re.sub(r"[^\w.-]+", "_", pair.id)
        return self.cache_dir / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"

    def _load(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        """Compact (input, target) arrays from the disk cache, else decoded (and written there)."""
        path = self.cache_path(pair)
        arrays = None
        if path is not None and path.exists():
            arrays, error = _read_cache(path)
            if arrays is None:
                warnings.warn(f"cache file {path} is unreadable ({error}); rebuilding it",
                              RuntimeWarning, stacklevel=3)
        if arrays is None:
            arrays = self._decode(pair)
            if path is not None:
                with atomic_path(path) as tmp, open(tmp, "wb") as f:
                    np.savez(f, input=arrays[0], target=arrays[1])
        if arrays[0].dtype == arrays[1].dtype and np.array_equal(*arrays):
            message = f"{pair.id}: input and target have identical pixels ({pair.input}, {pair.target})"
            if self.strict:
                raise ValueError(message)
            warnings.warn(message, PairingWarning, stacklevel=3)
        return arrays

    def _decode(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        """Read, check and resize both files of a pair -> compact (H, W, 3) arrays."""
        input, target = load_image(pair.input), load_image(pair.target)  # (1, 3, H, W) each
        if input.shape != target.shape:
            raise ValueError(f"{pair.id}: input {pair.input} is {input.shape[3]}x{input.shape[2]} but "
                             f"target {pair.target} is {target.shape[3]}x{target.shape[2]}; "
                             "a pair must have one size (find_pairs reports such pairs)")
        return _compact(self.resize(input)), _compact(self.resize(target))


def _compact(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> uint8 (H, W, 3) when `to_tensor` gives x back exactly, else uint16."""
    q = quantize(x, 8)  # (1, 3, H, W) integers 0..255 as floats
    if torch.equal(q / 255, x):  # the very division to_tensor does for uint8
        return np.ascontiguousarray(q[0].permute(1, 2, 0).numpy(), dtype=np.uint8)  # -> (H, W, 3)
    q = quantize(x, 16)  # (1, 3, H, W) integers 0..65535 as floats
    return np.ascontiguousarray(q[0].permute(1, 2, 0).numpy(), dtype=np.uint16)  # -> (H, W, 3)


def _read_cache(path: Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
    """((input, target), "") from a cache file, or (None, what is wrong with it)."""
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
            arrays = (f["input"], f["target"])  # reading checks each array's zip CRC
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        return None, str(e) or type(e).__name__
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 3 or arrays[0].shape[2] != 3:
        return None, f"unexpected shapes {[a.shape for a in arrays]}"
    if any(a.dtype not in (np.uint8, np.uint16) for a in arrays):
        return None, f"unexpected types {[str(a.dtype) for a in arrays]}"
    return arrays, ""


# ---------------------------------------------------------------------------------------------------
# Which data the notebooks use

def default_root() -> Path:
    """CSRNET_LITE_FIVEK when it is set (a real FiveK root), else the offline samples in data_samples/."""
    root = settings.fivek_root()
    if root is None:
        return settings.DATA_SAMPLES
    if not root.is_dir():
        raise FileNotFoundError(f"CSRNET_LITE_FIVEK={root} is not a folder; point it at a FiveK root "
                                "(python -m csrnet_lite.data fetch --root DIR makes one) or unset it "
                                "to use data_samples/")
    return root


def describe_root(root: str | os.PathLike | None = None) -> str:
    """One line for a notebook to print: which data is in use and how to switch."""
    root = default_root() if root is None else Path(root)
    if root.resolve() == settings.DATA_SAMPLES.resolve():
        return (f"data: the offline samples in {root} (free photos with synthetic degradations); "
                "set CSRNET_LITE_FIVEK=DIR to use real FiveK pairs")
    origin = " (from CSRNET_LITE_FIVEK)" if settings.fivek_root() == root else ""
    return f"data: real FiveK pairs in {root}{origin}"


# ---------------------------------------------------------------------------------------------------
# Command line

def add_cli(subparsers) -> None:
    """`python -m csrnet_lite data {list,fetch} ...`."""
    _add_commands(subparsers.add_parser("data", help="list the pairs of a FiveK root, or fetch a subset"))


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="{list,fetch}")
    p = sub.add_parser("list", help="print the pairs found below ROOT and the problems")
    p.add_argument("root", nargs="?", type=Path, help="a FiveK root (default: CSRNET_LITE_FIVEK, "
                   "else data_samples/)")
    p.add_argument("--expert", default="C", help="letter of the expert whose folders are targets")
    p.add_argument("--group", help="keep only this group (a glob), e.g. JPG/480p")
    p.set_defaults(func=_list_command)
    # prefix_chars that no argument can contain: every word after "fetch" goes to fetch.main
    p = sub.add_parser("fetch", help="download a FiveK subset from the official server "
                       "(fetch --help for its options)", add_help=False, prefix_chars="\0")
    p.add_argument("args", nargs="*")
    p.set_defaults(func=lambda args: _fetch(args.args))


def _list_command(args: argparse.Namespace) -> int:
    root = args.root if args.root is not None else default_root()
    pairs, problems = scan_pairs(root, expert=args.expert, group=args.group)
    print(f"{len(pairs)} pairs in {root}")
    for p in pairs:
        where = " ".join(filter(None, (p.group, p.split)))
        print(f"{p.id}\t{where or '.'}\t{_rel(p.input, root)}\t{_rel(p.target, root)}")
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if problems else 0


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _fetch(argv: list[str]) -> int:
    try:
        from . import fetch  # imported here: listing and loading work without fetch's requirements
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.fetch":
            raise
        raise FileNotFoundError("this version of csrnet_lite has no fetch module") from None
    return int(fetch.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csrnet_lite.data",
                                     description="List the pairs of a FiveK root, or fetch a subset.")
    _add_commands(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:  # user errors: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


def iter_pairs(data) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """Yield (id, input, target) from Samples (with .id/.input/.target, e.g. a PairDataset) or from
    (input, target) tuples of (B, 3, H, W) tensors in [0, 1] (their id is their position).

    Raises TypeError for any other item and ValueError when an input and its target differ in shape.
    """
    for i, item in enumerate(data):
        if hasattr(item, "input") and hasattr(item, "target"):
            id, input, target = str(getattr(item, "id", i)), item.input, item.target
        elif isinstance(item, (tuple, list)) and len(item) >= 2:
            id, input, target = str(i), item[0], item[1]
        else:
            raise TypeError(f"item {i} is a {type(item).__name__}; expected a Sample (from "
                            "csrnet_lite.data.PairDataset) or an (input, target) pair of tensors")
        check_image(input, f"input of {id}")
        check_image(target, f"target of {id}")
        if input.shape != target.shape:
            raise ValueError(f"{id}: input {tuple(input.shape)} and target {tuple(target.shape)} "
                             "differ in shape; resize them to the same size")
        yield id, input, target


if __name__ == "__main__":
    sys.exit(main())
