"""What the command line's arguments mean, checked before any work: argparse types that make a bad
value a usage error (exit 2), the budget and photo size the commands use, the TrainConfig that `train`'s
arguments ask for, and `train`'s checks of its files and device. Importing it loads no torch (the
functions that need it import it), so that `--help` answers at once.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from ..files import check_output_file
from ..settings import official_weights_path, smoke_mode

if TYPE_CHECKING:  # torch-free at import, so that the command line's --help answers at once
    from ..image import Resize
    from ..recipes import TrainConfig

# The defaults of lut.DEFAULT_SIZE and fetch.BASE_URL, written out so that --help needs no torch
# (tests/test_packaging.py checks that they agree).
LUT_SIZE_HELP = ("lattice points per axis (default 65; 33 is the usual .cube size, about 9 dB less "
                 "faithful)")
SERVER_HELP = "server (default https://data.csail.mit.edu/graphics/fivek/)"


def positive(kind: type = int) -> Callable[[str], int | float]:
    """An argparse `type` for a positive (finite) number of `kind`: 0, -1, nan and inf are usage errors."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive {'whole ' * (kind is int)}number, got {text!r}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def seed_list(text: str) -> list[int]:
    """An argparse `type` for comma-separated whole numbers ("0,1,2"): anything else is a usage error."""
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated whole numbers, got {text!r}") from None


def default_budget() -> tuple[int | None, float | None]:
    """(steps, minutes) when the user gives neither: 5 minutes, or 20 steps in smoke mode."""
    return (20, None) if smoke_mode() else (None, 5.0)


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
    """Refuse, before any work, what the run could not finish or would destroy."""
    from ..checkpoint import load_checkpoint
    from ..train import pick_device

    pick_device(args.device)
    if args.resume is not None:
        load_checkpoint(args.resume)  # exists and is a csrnet-lite checkpoint
    if args.official is not None and not Path(args.official).is_file():
        raise FileNotFoundError(f"--official {args.official}: no such file; pass the authors' csrnet.pth")
    continuing = args.resume is not None and Path(args.resume).resolve() == Path(args.out).resolve()
    check_output_file(args.out, overwrite=args.overwrite or continuing, what="--out",
                      flag=f"--resume {args.out} to continue that run, --overwrite to start over")


def recipe_reason(args: argparse.Namespace, config: TrainConfig) -> str:
    """One sentence: which recipe `train` runs and why (asked for, or what the default found)."""
    if args.recipe != "default":
        return f"{config.recipe}, as asked (--recipe {args.recipe})"
    chosen = "the default, chosen by cross-validation (README, 'Which training recipe')"
    if config.init == "official-fit":
        found = "given by --official" if args.official else "found"
        return f"{chosen}: the authors' weights were {found} at {config.official_path}, so their network " \
               "with its last layer refitted to your pairs"
    return (f"{chosen}: the authors' weights are not at {official_weights_path()}, so the fixed "
            "colour map; `python -m csrnet_lite data weights` downloads them (150 kB) for the better one")
