"""The command line: `python -m csrnet_lite COMMAND ...` (also `csrnet-lite`); COMMAND is in `parser()`.

One parser (`parser()`), one function per command (`_train`, `_evaluate`, ...) taking the parsed
arguments and returning an exit code, and one error boundary (`tools.errors.run`, called by `main`):
every failure is a short "error: ..." message and exit code 1 (2: usage, 130: Ctrl-C, 128 + N:
signal N), with the traceback only under --debug or CSRNET_LITE_DEBUG=1.

Building the parser loads no torch: each command imports what it runs (its first lines), so that
`--help` and `--version` answer at once.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .. import __version__
from ..files import exclusive
from ..settings import official_weights_path
from .arguments import (LUT_SIZE_HELP, MAX_LUT_SIZE, MAX_MINUTES, MAX_STEPS, MAX_THREADS, SEED, SERVER_HELP,
                        after_training, check_train, check_train_output, data_resize, default_budget, number,
                        recipe_reason, seed_list, set_train_threads, show_ranges, train_config)
from .download import MAX_MB, TIMEOUT
from .errors import DEBUG_HELP, run
from .installed import add_notebooks, add_weights
from .outputs import Output, check_outputs, csv_output, data_files, deliver, new_files, report_stream

DESCRIPTION = "Train, evaluate and apply CSRNet (conditional sequential modulation for global retouching)."
STEPS = number(int, 1, MAX_STEPS)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its errors become a message and an exit code (`tools.errors.run`)."""
    args = parser().parse_args(argv)
    return run(args.func, args, debug=args.debug)


def parser() -> argparse.ArgumentParser:
    """The whole command line: one subcommand per job."""
    p = argparse.ArgumentParser(prog="python -m csrnet_lite", description=DESCRIPTION)
    p.set_defaults(interrupted="interrupted")
    p.add_argument("--version", action="version", version=f"csrnet-lite {__version__}")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{train,evaluate,cv,retouch,data,book,notebooks}")
    _add_train(sub)
    _add_evaluate(sub)
    _add_cv(sub)
    _add_retouch(sub)
    data = sub.add_parser("data", help="list the pairs of a FiveK root, fetch a subset, or download the "
                                       "authors' weights")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="{list,fetch,weights}")
    _add_list(data_sub)
    _add_fetch(data_sub)
    add_weights(data_sub)
    _add_book(sub)
    add_notebooks(sub)
    for commands in (sub, data_sub):  # --debug also after a command's name
        for command in commands.choices.values():
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
            show_ranges(command)
    return p


# ---- train and evaluate ----

def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train CSRNet on a folder of input/target pairs",
                       description="Train CSRNet on input/target pairs and write a checkpoint.")
    p.add_argument("--data", required=True, help="data root in any layout csrnet_lite.data reads")
    p.add_argument("--out", required=True, help="checkpoint to write (--resume it to continue)")
    p.add_argument("--recipe", choices=("default", "fast", "paper", "fixed"), default="default",
                   help="default: the authors' weights (when found) with the last layer refitted to your "
                        "pairs, else the fixed colour map (chosen by cross-validation: `cv`); fast: "
                        "gradient training of the whole network; paper: the published recipe; fixed: "
                        "the fixed colour map")
    p.add_argument("--edits", action="store_true", help="learn to undo random edits of the targets (inputs unused)")
    p.add_argument("--minutes", type=number(float, 0, MAX_MINUTES, open_low=True), default=None,
                   help="training-time budget in total, resumed runs included (default 5; smoke mode: "
                        "20 steps). The recipe's own step count still applies (fast: 1200, finetune: 300)")
    p.add_argument("--steps", type=STEPS, default=None, help="stop after this many steps in total")
    p.add_argument("--resume", default=None, help="checkpoint to continue from (usually the same as --out)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file (a new run)")
    p.add_argument("--official", default=None,
                   help="start from the authors' weights at this path (default: found automatically "
                        "in CSRNET_LITE_WEIGHTS, ../shared/weights or ./csrnet.pth; fast: the finetune recipe)")
    p.add_argument("--seed", type=SEED, default=0, help="seeds the initialisation and the training loop")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    _add_threads(p, "torch's; 1 with --edits, whose small steps are 2-3x slower on 2 threads of a busy machine")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import torch

    from ..data import PairDataset
    from ..train import train
    from .edit_task import edit_source

    check_train(args)
    config = train_config(args)
    data = PairDataset(args.data, resize=data_resize())
    check_train_output(args, config, data)
    set_train_threads(args)
    print(f"recipe: {recipe_reason(args, config)}")
    data = edit_source(data, args.data) if args.edits else data
    start = {"official-fit": f"the authors' weights ({config.official_path}), last layer refitted",
             "fit": "the fixed colour map fitted to the pairs"}.get(config.init, f"init={config.init}")
    print(f"training the {config.recipe} recipe on {len(data)} pairs from {args.data}: {start}, "
          f"{config.steps} gradient steps" + (f" or {config.minutes:g} min" if config.minutes else "")
          + f", {torch.get_num_threads()} thread(s)")
    with exclusive(new_files([Path(args.out)])):
        result = train(None, data, config, resume=args.resume, checkpoint=args.out)
    state = "interrupted" if result.interrupted else "done"
    for note in after_training(config, result):
        print(note)
    if len(result.history):
        print(f"{state}: {result.steps} steps, {result.images_per_second:.1f} photos/s, "
              f"last training-batch PSNR {result.history.psnr[-1]:.2f} dB; checkpoint {args.out}")
    else:
        print(f"{state}: fitted in closed form, 0 steps; checkpoint {args.out}")
    return 130 if result.interrupted else 0


def _add_cv(sub) -> None:
    p = sub.add_parser(
        "cv", help="cross-validate the training recipe against the baselines on a folder of pairs",
        description="Cross-validate: fit every method on all but one fold, score it on the held-out "
                    "fold, for every fold; print mean PSNR, spread over folds and the worst photo.")
    p.add_argument("--data", required=True, help="data root in any layout csrnet_lite.data reads")
    p.add_argument("--folds", type=number(int, 2, 10_000), default=5, help="number of folds (default 5)")
    p.add_argument("--by-source", action="store_true",
                   help="leave one source (subfolder of the root) out instead of k folds")
    p.add_argument("--recipe", action="append", choices=("default", "fast", "paper"), default=None,
                   help="recipe(s) to cross-validate (repeat the option; default: default)")
    p.add_argument("--edits", action="store_true", help="the edits recipe on random edits of the targets, folds by photo")
    p.add_argument("--seeds", type=seed_list, default=[0], help="comma-separated seeds, one trained model per seed and fold")
    p.add_argument("--steps", type=STEPS, default=None,
                   help="steps of the recipes that train by gradient steps (fast, paper; default: theirs, "
                        "20 in smoke mode); the default recipe is a closed-form fit")
    p.add_argument("--csv", default=None, help="also write per-photo held-out scores to this CSV file "
                                              "(-: standard output)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    _add_threads(p)
    p.set_defaults(func=_cv)


def _cv(args: argparse.Namespace) -> int:
    import torch

    from ..crossval import by_source, crossvalidate, items, kfold, standard_methods
    from ..data import PairDataset
    from ..recipes import TrainConfig
    from . import edit_task

    if args.edits:
        edit_task.check_cv(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds, steps = args.seeds, args.steps or default_budget()[0]
    dataset = PairDataset(args.data, resize=data_resize())
    csv = csv_output(args.csv, data_files("--data", dataset), overwrite=args.overwrite)
    if args.edits:
        data, methods, folds, what = edit_task.cv_setup(dataset, args.data, args.folds, seeds, steps)
    else:
        configs = []
        for name in args.recipe or ["default"]:
            base = getattr(TrainConfig, name)(progress=False)
            for seed in seeds:
                configs.append(dataclasses.replace(base, recipe=name if len(seeds) == 1 else f"{name} s{seed}",
                                                   seed=seed, **({"steps": steps} if steps and base.steps else {})))
        data, methods = items(dataset), standard_methods(*configs)
        folds = by_source(data) if args.by_source else kfold(data, args.folds)
        what = f"{', '.join(c.recipe for c in configs)} on {len(data)} pairs from {args.data}, {len(folds)} folds"
    report = report_stream([csv])
    print(f"cross-validating {what}", file=report)
    with exclusive(new_files([csv])):
        result = crossvalidate(data, methods, folds, progress=True)
        print(result.table(), file=report)
        if csv is not None:
            print(f"per-photo scores: {deliver(csv, result.to_csv)}", file=report)
    return 0


def _add_threads(p: argparse.ArgumentParser, default: str = "torch's") -> None:
    p.add_argument("--threads", type=number(int, 1, MAX_THREADS), default=None,
                   help=f"torch CPU threads (default: {default})")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained model against baselines",
                       description="Print PSNR / SSIM / Delta E of a model and baselines.")
    p.add_argument("--data", required=True, help="data root in any layout csrnet_lite.data reads")
    p.add_argument("--model", default=None, help="a checkpoint from `train` (or a CSRNet state_dict)")
    p.add_argument("--official", default=None,
                   help="also score the authors' weights at this path ('auto': when present)")
    p.add_argument("--train-data", default=None,
                   help="fit the fixed colour transform baseline on the pairs at this root")
    p.add_argument("--edits", action="store_true", help="score on random edits of the targets (inputs unused)")
    p.add_argument("--csv", default=None, help="also write per-photo scores to this CSV file (-: standard output)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.add_argument("--per-image", action="store_true", help="print per-photo tables too")
    _add_threads(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_model
    from ..data import PairDataset
    from ..evaluate import comparison
    from .edit_task import evaluation_pairs

    if args.official not in (None, "auto") and not Path(args.official).is_file():
        raise FileNotFoundError(f"--official {args.official}: no such file; pass the authors' csrnet.pth "
                                "or 'auto'")
    official = official_weights_path() if args.official == "auto" else args.official
    methods = {}
    if args.model:
        methods[Path(args.model).name] = load_model(args.model)  # before the data: a bad file fails fast
    data = PairDataset(args.data, resize=data_resize())
    train_data = PairDataset(args.train_data, resize=data_resize()) if args.train_data else None
    csv = csv_output(args.csv, [("the --model file", args.model), ("the authors' weights", official),
                                *data_files("--data", data), *data_files("--train-data", train_data)],
                     overwrite=args.overwrite)
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, train_pairs = evaluation_pairs(data, train_data, edits=args.edits)  # the pairs, or random edits
    report = report_stream([csv])
    with exclusive(new_files([csv])):
        result = comparison(methods, pairs, train=train_pairs, official=args.official)
        if args.per_image:
            for e in result.evaluations:
                print(e.table(), end="\n\n", file=report)
        print(result.table(), file=report)
        if csv is not None:
            print(f"per-photo scores: {deliver(csv, result.to_csv)}", file=report)
    return 0


# ---- retouch ----

def _add_retouch(sub) -> None:
    """`retouch`: full-resolution photos in, retouched photos out (see `python -m csrnet_lite retouch -h`)."""
    p = sub.add_parser(
        "retouch", help="retouch full-resolution photos through a baked 3D LUT",
        description="Retouch full-resolution photos (JPEG, PNG, TIFF; 8 or 16 bit) with a CSRNet: the "
                    "condition network sees a small view of the photo (the authors' weights: long edge "
                    "512; a model trained here: its training thumbnail), the retouch is baked into a 3D "
                    "LUT and applied to every pixel. Outputs keep the format, bit depth, ICC profile, "
                    "EXIF (stored upright), XMP and PNG text (16-bit: ICC and EXIF). By default photo.jpg becomes photo_retouched.jpg beside "
                    "it and a folder DIR becomes DIR_retouched/; existing files are never replaced "
                    "without --overwrite.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help="photos, or folders whose photos (top level only) are all retouched")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, metavar="M.pt",
                       help="a CSRNet state_dict or csrnet-lite training checkpoint")
    which.add_argument("--official", nargs="?", const="", metavar="PATH",
                       help="the authors' weights (default: $CSRNET_LITE_WEIGHTS or ../shared/weights)")
    p.add_argument("--out", type=Path, metavar="DIR", help="write outputs into DIR (same file names)")
    p.add_argument("--strength", type=number(float, 0, 1), default=1.0,
                   help="0: unchanged .. 1: full retouch (default 1)")
    p.add_argument("--lut-size", type=number(int, 2, MAX_LUT_SIZE), default=None, help=LUT_SIZE_HELP)
    p.add_argument("--save-cube", type=Path, metavar="FILE",
                   help="also write the photo's LUT as an Adobe .cube file (one input photo only; "
                        "-: standard output)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs, or the inputs themselves when --out points at them")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave out photos whose output exists already (to finish an interrupted folder)")
    p.set_defaults(func=_retouch)


def _retouch(args: argparse.Namespace) -> int:
    from ..checkpoint import OFFICIAL_VIEW, load_model, load_official
    from ..lut import DEFAULT_SIZE
    from .retouch import PHOTO_SUFFIXES, plan_outputs, retouch_all

    args.lut_size = DEFAULT_SIZE if args.lut_size is None else args.lut_size
    if args.official and Path(args.official).suffix.lower() in PHOTO_SUFFIXES:
        raise ValueError(f"--official takes the weights file, got the photo {args.official}; write the "
                         "photos first (retouch photo.jpg --official) or --official=PATH")
    pairs = plan_outputs(args.inputs, args.out, args.overwrite, args.skip_existing)
    if args.save_cube is not None and len(pairs) != 1:
        raise ValueError(f"--save-cube FILE takes one input photo (each photo has its own LUT), got {len(pairs)}")
    if not pairs:
        print("nothing to do: every output exists already (--skip-existing)")
        return 0
    weights = args.model if args.model is not None else Path(args.official or official_weights_path())
    outputs = [Output(dst, "output", replaces=src) for src, dst in pairs]
    if args.save_cube is not None:
        outputs.append(Output(args.save_cube, "--save-cube", stream=True))
    paths = check_outputs(outputs, [*(("an input photo", src) for src, _ in pairs), ("the weights file", weights)],
                          overwrite=args.overwrite)
    args.save_cube = paths[-1] if args.save_cube is not None else None  # STDOUT for -
    model, view = load_model(weights) if args.model is not None else (load_official(weights), OFFICIAL_VIEW)
    with exclusive(new_files([*(dst for _, dst in pairs), args.save_cube])):
        failed = retouch_all(pairs, model, view, size=args.lut_size, strength=args.strength, cube=args.save_cube,
                             debug=getattr(args, "debug", False))
    done = len(pairs) - len(failed)
    print(f"wrote {done} photo{'s' * (done != 1)}" + (f": {pairs[0][1]}{' ...' * (len(pairs) > 1)}"
                                                      if not failed else ""), file=report_stream([args.save_cube]))
    if failed:
        print(f"error: {len(failed)} of {len(pairs)} photos failed:\n  " + "\n  ".join(failed) +
              "\nfix or remove them and run again with --skip-existing to finish the rest", file=sys.stderr)
        return 1
    return 0


# ---- data ----

def _add_list(sub) -> None:
    p = sub.add_parser("list", help="print the pairs found below ROOT and the problems")
    p.add_argument("root", nargs="?", type=Path, help="a FiveK root (default: CSRNET_LITE_FIVEK, "
                   "else data_samples/)")
    p.add_argument("--expert", default="C", help="letter of the expert whose folders are targets")
    p.add_argument("--group", help="keep only this group (a glob), e.g. JPG/480p")
    p.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from ..data import default_root
    from ..pairs import relative, scan_pairs

    root = args.root if args.root is not None else default_root()
    pairs, problems = scan_pairs(root, expert=args.expert, group=args.group)
    print(f"{len(pairs)} pairs in {root}")
    for p in pairs:
        where = " ".join(filter(None, (p.group, p.split)))
        print(f"{p.id}\t{where or '.'}\t{relative(p.input, root)}\t{relative(p.target, root)}")
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if problems else 0


def _add_fetch(sub) -> None:
    p = sub.add_parser("fetch", help="download a FiveK subset from the official server",
                       description="Download FiveK photos from the official server and write input/target "
                                   "pairs. Exit code 0: all pairs done, 1: some photos failed or cannot "
                                   "run (offline, bad arguments), 2: usage.")
    p.add_argument("--root", required=True, help="folder to fill with input/, target/, manifest.json")
    p.add_argument("--n", type=number(int, 1, 5000), default=100, help="number of photos, the first n (default 100)")
    p.add_argument("--expert", default="C", help="expert A..E whose rendering is the target (default C)")
    p.add_argument("--size", type=number(int, 0, 100_000), default=480,
                   help="short edge in pixels, 0 for full size (default 480)")
    p.add_argument("--names", help="text file of base names to use, one per line "
                                   "(default: the 5000 listed on the FiveK site, in FiveK order)")
    p.add_argument("--base-url", default=None, help=SERVER_HELP)
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth (default 8)")
    p.add_argument("--keep-downloads", action="store_true",
                   help="keep the DNG and TIFF files (about 125 MB a photo) in ROOT/.downloads")
    p.add_argument("--retries", type=number(int, 0, 100), default=2, help="resumes of a dropped download (default 2)")
    p.add_argument("--timeout", type=number(float, 0, 3600, open_low=True), default=TIMEOUT,
                   help=f"seconds a silent server is waited for before a retry (default {TIMEOUT:g})")
    p.add_argument("--max-mb", type=number(float, 0, 1e6, open_low=True), default=MAX_MB,
                   help=f"largest file accepted from the server, in MB (default {MAX_MB})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_fetch, interrupted="interrupted; run the same command again to go on where it stopped")


def _fetch(args: argparse.Namespace) -> int:
    from .fetch import BASE_URL, fetch

    report = fetch(args.root, args.n, args.expert, args.size, args.names, args.base_url or BASE_URL,
                   bits=args.bits, keep_downloads=args.keep_downloads, retries=args.retries,
                   timeout=args.timeout, progress=not args.quiet, max_mb=args.max_mb)
    print(report)
    return 1 if report.failed else 0


# ---- book ----

def _add_book(sub) -> None:
    p = sub.add_parser("book", help="execute every notebook and write a static HTML book",
                       description="Execute the notebooks (full size unless --smoke) and write a static "
                                   "HTML copy of each, plus index.html.")
    p.add_argument("names", nargs="*", help="notebook names, e.g. 03_building_csrnet (default: all)")
    p.add_argument("--out", type=Path, default=Path("_build") / "book",
                   help="output folder (default _build/book in the working folder)")
    p.add_argument("--smoke", action="store_true", help="small images and short runs (minutes)")
    p.set_defaults(func=_book)


def _book(args: argparse.Namespace) -> int:
    from .html_book import write_book  # the book needs the optional notebook tools (the [test] extra)

    rows = write_book(args.out, args.names, smoke=args.smoke)
    total = sum(abs(s) for _, s, _ in rows)
    print(f"\n{'notebook':40s} {'seconds':>8s} {'pictures':>8s}")
    for name, seconds, images in rows:
        print(f"{name:40s} {abs(seconds):8.1f} {images:8d}" + ("  FAILED" if seconds < 0 else ""))
    print(f"{'total':40s} {total:8.1f}\nwrote {args.out / 'index.html'}")
    failed = [name for name, seconds, _ in rows if seconds < 0]
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0

