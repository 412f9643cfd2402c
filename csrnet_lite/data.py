"""Paired FiveK data: the loaded pair (`Pair`), a cached dataset of them, and which root to use.

    data = PairDataset(default_root(), resize=Resize.LONG_512)
    pair = data[0]  # Pair(id, input, target, source, cond_input=...): float32 (1, 3, H, W) in [0, 1]

Finding the pairs in a folder (`find_pairs`) and choosing subsets (`select_ids`, `select_range`,
`split_by_id`) live in `pairs.py`; resize policies (`Resize`) in `image.py`. Command line:

    python -m csrnet_lite data list [ROOT]     the pairs found below ROOT, and the problems
    python -m csrnet_lite data fetch ...       download a FiveK subset (csrnet_lite.tools.fetch)

Introduced in notebook 04 (`04_fivek_subset`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from . import settings
from .files import atomic_path
from .image import Resize, check_image, load_image, quantize, to_tensor
from .degradation import Degradation
from .model import CondView
from .pairs import PairFiles, PairingWarning, find_pairs

CACHE_VERSION = 1  # part of every disk cache key: bump it when the cached arrays change meaning


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value to compare
class Pair:
    """One loaded pair and where it came from: what a `PairDataset` and an `edits.EditSource` yield,
    and what training, evaluation, cross-validation and the edit task pass around.

    Every tensor is float32 in [0, 1]. `pairs.PairFiles` is a pair's files on disk, before loading.
    """
    id: str                   # the pair's id: "a0001", or "<photo>~<k>" for the k-th edit of a photo
    input: torch.Tensor       # (1, 3, H, W) the photo to retouch
    target: torch.Tensor      # (1, 3, H, W) the expert's version (for an edit: the photo before it)
    source: str = ""          # the collection: the folder of a root that holds several ("dpe"), else ""
    photo: str = ""           # the photo it shows, "" meaning `id` (an edit: the photo it was made from)
    edit: Degradation | None = None  # an edit's drawn parameters (`edits.undo(input, edit)` inverts it)
    cond_input: torch.Tensor | None = None  # (1, 3, s, s) CondView(s)(input), when the dataset made it

    def __post_init__(self):
        if not self.photo:
            object.__setattr__(self, "photo", self.id)  # frozen: set once, here


class PairDataset(torch.utils.data.Dataset):
    """Input/target pairs as `Pair`s: decoded once, resized, cached in memory and optionally on disk.

    root_or_pairs: a folder in any layout `find_pairs` reads, or a sequence of `PairFiles`.
    resize: a `Resize` policy (None means Resize.NONE).
    cache_dir: optional folder for a disk cache, one .npz per pair, keyed by both files' path, mtime
        and size and by the resize policy; written atomically, a corrupt file is rebuilt.
    thumb_size: side of `Pair.cond_input`, the view `CondView.trained_on(thumb_size)`.
    in_memory: keep every decoded pair in memory (turn off for thousands of pairs; the disk cache
        then does the work).
    strict, expert, group: passed to `find_pairs`; strict also makes a pixel-identical pair an error.

    Iterate it directly (`for pair in data`) or use DataLoader(data, batch_size=None): photos differ
    in size, so pairs are not stacked into batches here. Pairs are cached as compact arrays: uint8 when the pixels are exact 8-bit values (any 8-bit file
    that was not resized), else uint16 (within 1e-5 of the resized values). A pair is the same
    whether it comes from the files, memory or disk, so results never depend on the cache's state.
    """

    def __init__(self, root_or_pairs: str | os.PathLike | Sequence[PairFiles], resize: Resize | None = None,
                 *, cache_dir: str | os.PathLike | None = None, thumb_size: int = 128,
                 in_memory: bool = True, strict: bool = False, expert: str = "C",
                 group: str | None = None):
        if isinstance(root_or_pairs, (str, os.PathLike)):
            self.root: Path | None = Path(root_or_pairs)
            self.pairs = find_pairs(self.root, strict=strict, expert=expert, group=group)
        else:
            self.root, self.pairs = None, list(root_or_pairs)
            bad = [p for p in self.pairs if not isinstance(p, PairFiles)]
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

    def __getitem__(self, index: int) -> Pair:
        pair = self.pairs[index]  # IndexError past the end, which also ends `for pair in data`
        index = index % len(self.pairs)
        arrays = self._memory.get(index)
        if arrays is None:
            arrays = self._load(pair)
            if self.in_memory:
                self._memory[index] = arrays
        input, target = to_tensor(arrays[0]), to_tensor(arrays[1])  # (H, W, 3) -> (1, 3, H, W)
        return Pair(pair.id, input, target, pair.group, cond_input=CondView.trained_on(self.thumb_size)(input))

    def __repr__(self) -> str:
        where = self.root if self.root is not None else f"{len(self.pairs)} given pairs"
        return (f"PairDataset({len(self)} pairs from {where}, {self.resize}, "
                f"{len(self._memory)} in memory)")

    @property
    def nbytes(self) -> int:
        """Bytes of the pairs held in memory."""
        return sum(a.nbytes for arrays in self._memory.values() for a in arrays)

    def cache_path(self, pair: PairFiles) -> Path | None:
        """The disk cache file of `pair` (None without cache_dir); the name changes with the key."""
        if self.cache_dir is None:
            return None
        files = [(str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in (pair.input, pair.target)]
        key = json.dumps([CACHE_VERSION, self.resize.edge, self.resize.size, files])
        name = re.sub(r"[^\w.-]+", "_", pair.id)
        return self.cache_dir / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"

    def _load(self, pair: PairFiles) -> tuple[np.ndarray, np.ndarray]:
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

    def _decode(self, pair: PairFiles) -> tuple[np.ndarray, np.ndarray]:
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
                                "(python -m csrnet_lite data fetch --root DIR makes one) or unset it "
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


def sample_pair(index: int = 0, size: int = 512) -> Pair:
    """Pair `index` of `default_root()` at long edge `size`: the photo notebooks 01-03 follow.

    That is data_samples/ (or CSRNET_LITE_FIVEK when set). Raises FileNotFoundError, saying what to do,
    when it holds no pairs: the notebooks never stand in a drawn picture for a missing photo.
    """
    root = default_root()
    try:
        data = PairDataset(root, resize=Resize("long", size))
    except FileNotFoundError as e:
        fix = ("set CSRNET_LITE_FIVEK to a folder of pairs, or unset it to use the samples"
               if root != settings.DATA_SAMPLES else
               "the samples ship with csrnet-lite: reinstall it (pip install --force-reinstall csrnet-lite), "
               "or in a clone restore them with `git checkout data_samples`")
        raise FileNotFoundError(f"no photo pairs in {root} ({e}); {fix}") from None
    return data[index % len(data)]


def iter_pairs(data) -> Iterator[Pair]:
    """Each item of `data` as a checked `Pair`: Pairs (e.g. from a PairDataset) as they are, or
    (input, target) tuples of (B, 3, H, W) tensors in [0, 1] (their id is their position).

    Raises TypeError for any other item and ValueError when an input and its target differ in shape.

    >>> pairs = [(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2))]
    >>> [(pair.id, tuple(pair.input.shape)) for pair in iter_pairs(pairs)]
    [('0', (1, 3, 2, 2))]
    """
    for i, item in enumerate(data):
        if isinstance(item, Pair):
            pair = item
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pair = Pair(str(i), item[0], item[1])
        else:
            raise TypeError(f"item {i} is a {type(item).__name__}; expected a Pair (from "
                            "csrnet_lite.data.PairDataset) or an (input, target) pair of tensors")
        check_image(pair.input, f"input of {pair.id}")
        check_image(pair.target, f"target of {pair.id}")
        if pair.input.shape != pair.target.shape:
            raise ValueError(f"{pair.id}: input {tuple(pair.input.shape)} and target "
                             f"{tuple(pair.target.shape)} differ in shape; resize them to the same size")
        yield pair
