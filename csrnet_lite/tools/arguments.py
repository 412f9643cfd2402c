"""What the command line's arguments mean, checked before any work: argparse types that make a bad
value a usage error (exit 2), every number with its range (`number`, the range shown in --help), the
budget and photo size the commands use, the TrainConfig that `train`'s arguments ask for, and `train`'s
checks of its files and device. Importing it loads no torch (the functions that need it import it), so
that `--help` answers at once.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from ..settings import official_weights_path, smoke_mode
from .outputs import Output, check_outputs, data_files

if TYPE_CHECKING:  # torch-free at import, so that the command line's --help answers at once
    from ..image import Resize
    from ..recipes import TrainConfig

# The defaults of lut.DEFAULT_SIZE and fetch.BASE_URL, written out so that --help needs no torch
# (tests/test_packaging.py checks that they agree).
LUT_SIZE_HELP = ("lattice points per axis (default 65; 33 is the usual .cube size, about 9 dB less "
                 "faithful)")
SERVER_HELP = "server (default https://data.csail.mit.edu/graphics/fivek/)"
MAX_SEED = 2**64 - 1  # recipes.MAX_SEED, written out for the same reason
MAX_LUT_SIZE = 65  # the largest lattice Pillow's Color3DLUT (retouch's 8-bit path) accepts


MAX_THREADS = 4 * (os.cpu_count() or 1)  # torch CPU threads: more than the cores only slows a run down
MAX_STEPS = 10**9  # gradient steps (the paper's recipe takes 600,000)
MAX_MINUTES = 10**6  # about two years of training


def number(kind: type, lo: float, hi: float, *, open_low: bool = False) -> Callable[[str], int | float]:
    """An argparse `type` for a number of `kind` from lo to hi (above lo when `open_low`): anything else,
    nan and inf included, is a usage error. Its `range` is added to the option's --help (`show_ranges`)."""
    show = lambda v: {MAX_SEED: "2**64 - 1"}.get(v, f"{int(v):,}" if v == int(v) else f"{v:g}")  # noqa: E731
    words = f"{'above ' if open_low else 'from '}{show(lo)} {'up to' if open_low else 'to'} {show(hi)}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (lo < value if open_low else lo <= value) or not value <= hi:
            raise argparse.ArgumentTypeError(f"must be a {'whole ' * (kind is int)}number {words}, got {text!r}")
        return value
    parse.__name__ = f"{kind.__name__} {words}"
    parse.range = words
    return parse


def show_ranges(p: argparse.ArgumentParser) -> None:
    """Append each numeric option's range (`number`) to its help text."""
    for action in p._actions:
        words = getattr(action.type, "range", None)
        if words and action.help and "range" not in action.help:
            action.help += f" (range: {words})"


SEED = number(int, 0, MAX_SEED)


def seed_list(text: str) -> list[int]:
    """An argparse `type` for comma-separated seeds ("0,1,2"), each from 0 to 2**64 - 1."""
    try:
        return [SEED(s) for s in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"takes comma-separated whole numbers from 0 to 2**64 - 1, got "
                                         f"{text!r}") from None


seed_list.range = "each from 0 to 2**64 - 1"


def default_budget() -> tuple[int | None, float | None]:
    """(steps, minutes) when the user gives neither: 5 minutes, or 20 steps in smoke mode."""
    return (20, None) if smoke_mode() else (None, 5.0)


def time_cut(config: TrainConfig, steps: int) -> str | None:
    """The sentence `train` prints when its time budget stopped it before the recipe's step count
    (a weaker model than the recipe's: its learning rate was cut short with it), else None."""
    if not (config.steps and config.minutes and steps < config.steps):
        return None
    need = math.ceil(config.minutes * config.steps / max(steps, 1)) + 1
    return (f"stopped by the time budget: {config.minutes:g} min ran out after {steps} of the recipe's "
            f"{config.steps} steps, so this model is weaker than the recipe's; for the full run give "
            f"--minutes {need}")


def after_training(config: TrainConfig, result) -> list[str]:
    """The sentences `train` prints after a run (`result`, a `train.TrainResult`): that the time budget
    cut it short (`time_cut`), and that it ended below its start and so returns the start (`keep_start`)."""
    notes = [cut] if not result.interrupted and (cut := time_cut(config, result.steps)) else []
    if result.kept_start:
        notes.append(f"kept the start: after {result.steps} steps the model scored {result.trained_psnr:.2f} dB on its "
                     f"own training pairs against {result.start_psnr:.2f} dB where it started, so the checkpoint "
                     "serves the start (training must do no harm where it starts)")
    return notes


def set_train_threads(args: argparse.Namespace) -> None:
    """torch CPU threads for `train`: --threads, else 1 with --edits, else torch's default.
    The edits recipe's small steps gain ~10% from a second thread on an idle 2-core machine (24.8
    against 22.0 steps/s) and lose 2-3x with it on a busy one (7.3 against 17 steps/s at load 3):
    on one thread its 3000 steps fit the 5-minute budget on both."""
    import torch

    if threads := args.threads or (1 if args.edits else None):
        torch.set_num_threads(threads)


def data_resize() -> Resize:
    """How the command line resizes photos: long edge 512 as the papers do (128 in smoke mode)."""
    from ..image import Resize

    return Resize("long", 128) if smoke_mode() else Resize.LONG_512


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that `train`'s arguments ask for."""
    from ..recipes import TrainConfig

    overrides = dict(seed=args.seed, device=args.device)
    steps, minutes = (args.steps, args.minutes) if args.steps or args.minutes else default_budget()
    if steps:
        overrides["steps"] = steps
    overrides["minutes"] = minutes
    if getattr(args, "edits", False) and args.recipe == "default":  # the best recipe for random edits
        return TrainConfig.edits(**overrides)
    if args.recipe == "paper":
        if args.official:
            overrides.update(init="official", official_path=args.official)
        return TrainConfig.paper(**overrides)
    if args.recipe in ("default", "fixed"):  # closed-form fits: no gradient steps unless asked for
        overrides.update(steps=args.steps or 0, minutes=args.minutes)
        return (TrainConfig.default(args.official, **overrides) if args.recipe == "default"
                else TrainConfig.fixed(**overrides))
    return TrainConfig.finetune(args.official, **overrides) if args.official else TrainConfig.fast(**overrides)


def check_train(args: argparse.Namespace) -> None:
    """Refuse, before any work, what the run could not finish (its device, --resume, --official)."""
    from ..checkpoint import load_checkpoint
    from ..settings import pick_device

    pick_device(args.device)
    if args.resume is not None:
        load_checkpoint(args.resume)  # exists and is a csrnet-lite checkpoint
    if args.official is not None and not Path(args.official).is_file():
        raise FileNotFoundError(f"--official {args.official}: no such file; pass the authors' csrnet.pth")


def check_train_output(args: argparse.Namespace, config: TrainConfig, data) -> None:
    """Refuse, before any work, an --out that would replace what the run reads (`tools.outputs`): the
    data, the authors' weights, a checkpoint other than the one resumed; or an existing file without
    --overwrite (continuing a run, --resume X --out X, replaces X)."""
    continuing = args.resume is not None and Path(args.resume).resolve() == Path(args.out).resolve()
    check_outputs([Output(args.out, "--out", replaces=Path(args.resume) if continuing else None,
                          flag=f"--resume {args.out} to continue that run, --overwrite to start over")],
                  [("the --resume checkpoint", args.resume), ("the authors' weights", config.official_path),
                   *data_files("--data", data)], overwrite=args.overwrite or continuing)


def recipe_reason(args: argparse.Namespace, config: TrainConfig) -> str:
    """One sentence: which recipe `train` runs and why (asked for, or what the default found)."""
    if getattr(args, "edits", False):
        return (f"{config.recipe} for random edits (--edits)" + (f", as asked (--recipe {args.recipe})"
                if args.recipe != "default" else ": the project's recipe for undoing random edits (bench/edits.py)"))
    if args.recipe != "default":
        return f"{config.recipe}, as asked (--recipe {args.recipe})"
    chosen = "the default, chosen by cross-validation (README, 'Which training recipe')"
    if config.init == "official-fit":
        found = "given by --official" if args.official else "found"
        return f"{chosen}: the authors' weights were {found} at {config.official_path}, so their network " \
               "with its last layer refitted to your pairs"
    return (f"{chosen}: the authors' weights are not at {official_weights_path()}, so the fixed "
            "colour map; `python -m csrnet_lite data weights` downloads them (150 kB) for the better one")
