"""Helpers the notebooks call: seeds and smoke mode, numbers the prose states, exercise checks.

In a notebook:

    from csrnet_lite import book
    book.about()                                        # versions, data, smoke mode (the set-up cell)
    book.setup()                                        # seeds, run timer
    book.say("The model has **{n:,}** parameters.", n=count_parameters(model))
    book.check(answer_1, expected, name="Exercise 1")   # tells the reader whether the answer is right

`say` and `check` also record their values in the output's metadata (key "csrnet_lite"), so the test
suite reads the numbers the prose states from the executed notebook instead of parsing text.

`csrnet_lite.tools.html_book` executes the notebooks and builds the HTML book from them.
"""
from __future__ import annotations

import inspect
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from IPython.display import Markdown, display

from . import __version__, settings
from .data import PairDataset, default_root, describe_root
from .image import Resize
from .plots import show_figures_in_notebooks
from .settings import smoke_mode

META = "csrnet_lite"  # key of our entries in an output's metadata
HIDE_INPUT = "hide-input-in-book"  # cell tag: the HTML copy shows the cell's outputs only
_START = time.perf_counter()


def about() -> None:
    """Print what this notebook runs on: the versions, where the package is, the data and smoke mode.

    The set-up cell at the top of every notebook calls it, after installing the package if missing.
    """
    where = f"the clone {settings.CHECKOUT}" if settings.CHECKOUT else f"installed in {settings.PACKAGE}"
    print(f"csrnet-lite {__version__} ({where}), torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print(describe_root())
    print("smoke mode (CSRNET_LITE_SMOKE=1): small images and short runs, for the test suite" if smoke_mode()
          else "full mode: the sizes and run lengths the text describes (CSRNET_LITE_SMOKE=1 for a quick run)")


def setup(seed: int = 0) -> None:
    """Seed numpy and torch, restart the run timer, show returned figures."""
    global _START
    show_figures_in_notebooks()
    _START = time.perf_counter()
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick(full, smoke):
    """`smoke` in smoke mode, else `full` (e.g. an image size or a number of steps)."""
    return smoke if smoke_mode() else full


def run_dir(name: str) -> Path:
    """settings.runs_dir()/notebooks/<name>-<smoke|full>/, created: where a notebook keeps checkpoints
    (runs/ of a clone, ignored by git; else runs/ in the working folder, never in the installed package).

    Smoke and full runs keep separate folders, so a quick test run never stands in for a real one.
    """
    path = settings.runs_dir() / "notebooks" / f"{name}-{'smoke' if smoke_mode() else 'full'}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def elapsed() -> float:
    """Seconds since `setup()` (or since this module was imported)."""
    return time.perf_counter() - _START


def _plain(value: Any) -> Any:
    """numpy/torch scalars and arrays -> JSON-friendly Python values."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # paths and anything else: as the prose shows them


def say(text: str, **values) -> None:
    """Display Markdown `text` formatted with `values` ("{n:,}" style), and record the values.

    Use it for every number the prose states, so that the number is computed, not typed.
    """
    display(Markdown(text.format(**values)), metadata={META: {"values": _plain(values)}})


def compare(a: float, b: float, threshold: float, *, more: str = "more", less: str = "less",
            same: str = "no clear difference") -> str:
    """Words for a against b: `more` when a exceeds b by more than `threshold`, `less` when b exceeds
    a by more than it, else `same`. Every generated sentence that compares two numbers goes through
    here, with a threshold at the size of the noise (rounding, seeds, a visible step).

    >>> compare(0.6498, 0.6492, 0.01, more="stronger", less="weaker")
    'no clear difference'
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if a - b > threshold:
        return more
    if b - a > threshold:
        return less
    return same


def _matches(answer: Any, expected: Any, tol: float) -> bool:
    if callable(expected):
        return bool(expected(answer))
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().cpu().numpy()
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().cpu().numpy()
    try:
        a = np.asarray(answer, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return answer == expected
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=0, atol=tol))


TRIAL = None  # set by the test suite while it feeds a planted answer to a check; recorded with it


def check(answer: Any, expected: Any, *, name: str, tol: float = 1e-6, hint: str = "") -> None:
    """Tell the reader whether `answer` is right: "correct", "not yet" (with the hint) or "not answered yet".

    `expected` is a value (numbers and arrays are compared within `tol`, strings ignoring case) or a
    function answer -> bool; prefer a function that checks a property of the answer (it does not give the
    answer away). An answer of None or ... counts as "not answered yet". Returns nothing, so that a check
    cell shows the verdict only; the verdict is recorded in the output's metadata for the test suite.
    """
    answered = answer is not None and answer is not Ellipsis
    try:
        correct = answered and _matches(answer, expected, tol)
    except Exception as e:  # the reader's function raised: say so instead of a traceback
        correct, hint = False, f"checking it raised {type(e).__name__}: {e}"
    if not answered:
        text = f"**{name}:** not answered yet. Write your answer in the cell above and run this cell again."
    elif correct:
        text = f"**{name}:** ✅ correct."
    else:
        text = f"**{name}:** ❌ not yet." + (f" Hint: {hint}" if hint else "")
    entry = {"check": name, "answered": answered, "correct": bool(correct)}
    if TRIAL is not None:
        entry["trial"] = TRIAL
    display(Markdown(text), metadata={META: entry})


def show_source(obj: Any) -> None:
    """Display the source code of a library function or class (never paste it into a notebook)."""
    display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))


def synthetic_photo(size: int = 256) -> torch.Tensor:
    """A test scene drawn with numpy: sky, sun, hills and a 24-patch colour chart -> (1, 3, size, size).

    A scene whose every pixel is known, for tests and demonstrations (never a stand-in for a missing
    photo: `sample_pair` raises instead). The chart patches are the
    sRGB values of the classic ColorChecker, so the scene has skin tones, greys and saturated colours.
    """
    chart = np.array([
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177], [103, 189, 170],
        [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108], [157, 188, 64], [224, 163, 46],
        [56, 61, 150], [70, 148, 73], [175, 54, 60], [231, 199, 31], [187, 86, 149], [8, 133, 161],
        [243, 243, 242], [200, 200, 200], [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
    ], dtype=np.float32) / 255
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (size, size) each, in [0, 1)
    t = (y / 0.55)[..., None]
    img = (1 - t) * np.array([0.22, 0.40, 0.75]) + t * np.array([0.75, 0.84, 0.93])  # sky gradient
    sun = np.exp(-((x - 0.75) ** 2 + (y - 0.18) ** 2) / 0.004)[..., None]
    img = img * (1 - sun) + sun * np.array([1.0, 0.92, 0.65])
    ridge = 0.5 + 0.05 * np.sin(9 * x) + 0.02 * np.sin(23 * x + 1)
    shade = (0.6 + 0.4 * np.clip((y - ridge) / 0.5, 0, 1))[..., None]
    img = np.where((y > ridge)[..., None], shade * np.array([0.25, 0.45, 0.18]), img)  # hills
    top, left, cell = 0.6, 0.08, 0.84 / 6
    row, col = np.floor((y - top) / cell), np.floor((x - left) / cell)
    inside = (row >= 0) & (row < 4) & (col >= 0) & (col < 6)
    inside &= ((y - top) % cell > 0.1 * cell) & ((x - left) % cell > 0.1 * cell)  # dark gaps
    index = np.clip(row * 6 + col, 0, 23).astype(int)
    img = np.where(inside[..., None], chart[index], img)
    noise = np.random.default_rng(0).normal(0, 0.01, img.shape)  # a little grain, reproducibly
    img = np.clip(img + noise, 0, 1).astype(np.float32)
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()  # (H, W, 3) -> (1, 3, H, W)


def sample_pair(index: int = 0, size: int = 512) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(input, target, id) of pair `index` of `data.default_root()` at long edge `size`.

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
    sample = data[index % len(data)]
    return sample.input, sample.target, sample.id
