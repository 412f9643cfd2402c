"""Where things are and how big to run, read from the environment in one place.

Switches (SMOKE, DEBUG) read 1/true/yes/on as on and 0/false/no/off or unset as off; anything else is
an error naming the variable (`flag`).

CSRNET_LITE_SMOKE=1      smoke mode: tiny images and few steps, so the test suite can execute every
                         notebook in minutes (the notebooks say when they run in smoke mode)
CSRNET_LITE_FIVEK=DIR    a real MIT-Adobe FiveK root; the notebooks use `data_samples/` without it
CSRNET_LITE_WEIGHTS=FILE the authors' released CSRNet weights (csrnet.pth; default: where
                         `python -m csrnet_lite data weights` puts them, see `official_weights_path`);
                         when set it must name a file, never silently ignored
CSRNET_LITE_MAX_PIXELS=N the largest photo (width x height) decoded, checked from the file's header
                         before decoding (default 100 million, about 5.5 GB to retouch)
CSRNET_LITE_DEBUG=1      the command line shows a full traceback for every error

The package runs from a clone (`pip install -e .`: CHECKOUT is the repository) or installed from a
wheel (CHECKOUT is None). The samples and notebooks ship inside the wheel (csrnet_lite/data_samples,
csrnet_lite/notebooks) and stay at the top of the repository in a clone; nothing is ever written
into the installed package: downloads go to `cache_dir()`, run outputs to `runs_dir()`.

`pick_device` says which of this machine's devices a name means (cpu, cuda, mps).

Introduced in notebook 05 (`05_training`), for its data root, smoke mode and run folders.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch

PACKAGE = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE.parent
# the repository when the package runs from a clone (editable install), None when installed from a wheel
CHECKOUT = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None


def _shipped(name: str) -> Path:
    """A folder the wheel carries inside the package and a clone keeps at the top of the repository."""
    inside = PACKAGE / name
    return inside if inside.is_dir() or CHECKOUT is None else CHECKOUT / name


DATA_SAMPLES = _shipped("data_samples")
NOTEBOOKS = _shipped("notebooks")
# ../shared beside the checkout holds research-only data for tests and benches (never copied in).
SHARED = PROJECT_ROOT.parent / "shared"


ON, OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")  # how a switch may be written


def flag(name: str) -> bool:
    """The switch in environment variable `name`: on for 1/true/yes/on, off for 0/false/no/off or unset
    (any case); anything else raises ValueError naming the variable."""
    value = os.environ.get(name, "").strip().lower()
    if value in ON or value in OFF:
        return value in ON
    raise ValueError(f"{name} must be one of {'/'.join(ON)} (on) or {'/'.join(OFF[1:])} (off), "
                     f"got {os.environ[name]!r}")


def smoke_mode() -> bool:
    """True when the switch CSRNET_LITE_SMOKE is on (`flag`)."""
    return flag("CSRNET_LITE_SMOKE")


def fivek_root() -> Path | None:
    """The FiveK root named by CSRNET_LITE_FIVEK, or None when unset."""
    value = os.environ.get("CSRNET_LITE_FIVEK", "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/csrnet-lite, else ~/.cache/csrnet-lite: downloads kept between sessions."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "csrnet-lite"


def official_weights_path() -> Path:
    """Where the authors' weights are looked for, the first that applies: CSRNET_LITE_WEIGHTS;
    ../shared/weights/csrnet_official.pth beside a clone when present; ./csrnet.pth in a clone when
    present; else cache_dir()/csrnet.pth, where `python -m csrnet_lite data weights` puts them.

    CSRNET_LITE_WEIGHTS, when set, must name a file: a missing file or a folder raises
    FileNotFoundError (never a silent fallback to another recipe)."""
    value = os.environ.get("CSRNET_LITE_WEIGHTS", "").strip()
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise FileNotFoundError(f"CSRNET_LITE_WEIGHTS={value} {what}; point it at the authors' "
                                    "csrnet.pth, or unset it")
        return path
    for candidate in (SHARED / "weights" / "csrnet_official.pth", PROJECT_ROOT / "csrnet.pth"):
        if CHECKOUT is not None and candidate.exists():
            return candidate
    return cache_dir() / "csrnet.pth"


def runs_dir() -> Path:
    """Where notebooks keep their runs (checkpoints): runs/ of the clone, else runs/ in the working
    folder (the notebook's folder in Jupyter), never inside an installed package."""
    return (CHECKOUT if CHECKOUT is not None else Path.cwd()) / "runs"


# Default pixel budget, for a laptop with 8 GB: retouching a 12 MP JPEG peaked at 0.96 GB (about 55 bytes
# a pixel with the interpreter), so 100 MP needs about 5.5 GB.
MAX_PIXELS = 100_000_000


def max_pixels() -> int:
    """The pixel budget: CSRNET_LITE_MAX_PIXELS (e.g. 250e6 or 250000000), else MAX_PIXELS."""
    value = os.environ.get("CSRNET_LITE_MAX_PIXELS", "").strip()
    if not value:
        return MAX_PIXELS
    try:
        budget = float(value)
    except ValueError:
        budget = float("nan")
    if not budget >= 1 or budget == float("inf"):
        raise ValueError(f"CSRNET_LITE_MAX_PIXELS must be a positive number of pixels such as 250e6, "
                         f"got {value!r}")
    return int(budget)


def debug_mode() -> bool:
    """True when the switch CSRNET_LITE_DEBUG is on (`flag`): show tracebacks on the command line."""
    return flag("CSRNET_LITE_DEBUG")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the previous setting (also on errors).

    Small tensor operations on several threads wait on each other after every step; while other work
    (a training run, the browser) holds the cores each wait can last a scheduler time slice. Measured:
    SSIM of a 512 px photo 1.3 s instead of 0.1 s, a widget preview 170 ms instead of 20 ms. One
    thread costs about 1.5x on an idle machine and never stalls.
    """
    import torch  # here, so that the command line's --help answers without loading torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pick_device(name: str = "auto") -> "torch.device":
    """'auto' -> cuda if available, else mps, else cpu; other names as given, if this machine has them
    (else a ValueError that says what it has)."""
    import torch  # here, so that the command line's --help answers without loading torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto")
    if device.type == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {name!r}: torch finds no CUDA GPU here (torch {torch.__version__}, {build}); "
                         "use --device cpu, or auto to take a GPU when there is one")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                         f"numbered from 0")
    if device.type == "mps" and not has_mps:
        raise ValueError(f"device {name!r}: Apple's MPS is not available here; use --device cpu or auto")
    return device
