"""What an installed package needs besides itself: the authors' weights, and the notebooks to open.

    python -m csrnet_lite data weights        download csrnet.pth, check its sha256, put it where
                                              every command finds it (settings.official_weights_path)
    python -m csrnet_lite notebooks DEST      copy the notebook series (shipped in the wheel) into DEST

Neither writes into the installed package: the weights go to the user cache (or CSRNET_LITE_WEIGHTS),
the notebooks to a folder the user names. Both refuse before any work what they would lose.
The two commands' parsers (`add_weights`, `add_notebooks`) are here too; `tools/cli.py` adds them.
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from .. import settings
from ..files import atomic_path, check_output_dir, sha256
from .download import TIMEOUT, download

WEIGHTS_MAX_MB = 1  # csrnet.pth is 149,316 bytes; anything far larger is not it


def download_weights(out: str | os.PathLike | None = None, *, url: str | None = None,
                     timeout: float = TIMEOUT, progress: bool = True) -> tuple[Path, bool]:
    """Download the authors' csrnet.pth to `out` (default `settings.official_weights_path()`) ->
    (path, True), or (path, False) when the right file is there already.

    The file appears at `out` only once complete and its sha256 is the authors' (`OFFICIAL_SHA256`).
    Raises FileExistsError when `out` holds another file (it is never replaced), ValueError when the
    download is not the authors' file (nothing is kept), ConnectionError when the server cannot be
    reached.
    """
    from ..checkpoint import OFFICIAL_SHA256, OFFICIAL_URL  # here: the command line's --help loads no torch

    path = Path(out) if out is not None else settings.official_weights_path()
    url = url or OFFICIAL_URL
    if path.is_file():
        digest = sha256(path)
        if digest == OFFICIAL_SHA256:
            return path, False
        raise FileExistsError(f"{path} exists and is not the authors' csrnet.pth (sha256 {digest[:12]}...); "
                              "move it away, or name another place with --out")
    check_output_dir(path.parent, what=f"the folder of {path}")
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + ".download")
        try:
            download(url, staged, retries=2, timeout=timeout, progress=progress, max_mb=WEIGHTS_MAX_MB)
            digest = sha256(staged)
            if digest != OFFICIAL_SHA256:
                raise ValueError(f"{url} sent a file whose sha256 is {digest[:12]}..., not the authors' "
                                 f"{OFFICIAL_SHA256[:12]}...; nothing was kept. Check the URL (--url)")
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
            staged.with_name(staged.name + ".part").unlink(missing_ok=True)
    return path, True


def copy_notebooks(dest: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Copy every notebook of the series (`settings.NOTEBOOKS`/*.ipynb) into `dest` -> the copies.

    Raises FileExistsError, before copying anything, when one is there already and not `overwrite`.
    """
    dest = Path(dest)
    sources = sorted(settings.NOTEBOOKS.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no notebooks in {settings.NOTEBOOKS}; reinstall csrnet-lite "
                                "(pip install --force-reinstall csrnet-lite)")
    check_output_dir(dest, what="DEST")
    there = [dest / s.name for s in sources if (dest / s.name).exists()]
    if there and not overwrite:
        raise FileExistsError(f"{there[0]} exists already ({len(there)} of the {len(sources)} notebooks "
                              "are there); pass --overwrite to replace them, or choose another folder")
    copies = []
    for source in sources:
        with atomic_path(dest / source.name) as tmp:
            shutil.copyfile(source, tmp)
        copies.append(dest / source.name)
    return copies


# ---- the commands ----

def add_weights(sub) -> None:
    p = sub.add_parser("weights", help="download the authors' CSRNet weights to where every command finds them",
                       description="Download the authors' released CSRNet weights (csrnet.pth, 150 kB), check "
                                   "their sha256 and put them where every command and notebook finds them "
                                   "(settings.official_weights_path: CSRNET_LITE_WEIGHTS, else the user cache).")
    p.add_argument("--url", default=None, help="where to download from (default: the authors' repository)")
    p.add_argument("--out", type=Path, default=None,
                   help="where to put them (default: settings.official_weights_path())")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds a silent server is waited for "
                   f"(default {TIMEOUT:g})")
    p.set_defaults(func=_weights)


def _weights(args: argparse.Namespace) -> int:
    path, fresh = download_weights(args.out, url=args.url, timeout=args.timeout)
    print(f"{'downloaded' if fresh else 'already there'}: the authors' weights at {path} (sha256 checked)")
    if args.out is not None and Path(args.out).resolve() != settings.official_weights_path().resolve():
        print(f"the commands look at {settings.official_weights_path()}: set CSRNET_LITE_WEIGHTS={path} "
              "or pass --official")
    return 0


def add_notebooks(sub) -> None:
    p = sub.add_parser("notebooks", help="copy the notebooks into a folder, to open them there",
                       description="Copy the notebook series (the .ipynb files shipped with the package) into "
                                   "DEST, e.g. to open them from an installed package: "
                                   "python -m csrnet_lite notebooks my-course && jupyter lab my-course")
    p.add_argument("dest", type=Path, metavar="DEST", help="folder to copy them into (created if missing)")
    p.add_argument("--overwrite", action="store_true", help="replace notebooks that are in DEST already")
    p.set_defaults(func=_notebooks)


def _notebooks(args: argparse.Namespace) -> int:
    copied = copy_notebooks(args.dest, overwrite=args.overwrite)
    print(f"copied {len(copied)} notebooks to {args.dest}; open them with: jupyter lab {args.dest}")
    return 0
