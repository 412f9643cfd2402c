"""What a command may write, decided in one place before any work: `check_outputs`.

    reads = [("--model", args.model), *(("the input", p) for p in photos)]
    [csv] = check_outputs([Output(args.csv, "--csv", stream=True)], reads, overwrite=args.overwrite)
    with files.exclusive(new_files([csv])):      # the final names are created, never replaced
        ...
        deliver(csv, result.to_csv)              # a file, or written through to standard output

The rules, the same in every command:
- an output is never a file the same command reads (an input, the model, the weights, the data),
  not even with --overwrite: --overwrite permits replacing an earlier *output*. The one exception is
  a photo retouched in place (`Output.replaces`, its own input), and only with --overwrite;
- two outputs of one command never share a file;
- only regular files are written. `-`, or a path that is this process's standard output
  (`/dev/stdout`), is written through to standard output where the output is a stream (a CSV, a
  .cube); any other device, FIFO, socket or link to one is refused, never replaced;
- an existing file is replaced only with --overwrite; a new one is created exclusively
  (`files.exclusive`), so that a second command writing the same name at the same time finds it there.
Files are compared by what they are (device and inode: hard links and symbolic links included),
and names that do not exist yet by their resolved path.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..files import check_output_dir

STDOUT = Path("-")  # an output written through to standard output


@dataclass(frozen=True)
class Output:
    """A file a command wants to write: its path, how the user named it, and what it may replace."""

    path: str | os.PathLike
    what: str  # "--csv", "output photo"...: how messages name it
    stream: bool = False  # text that may go to standard output instead (`-`)
    replaces: Path | None = None  # the one read file it may replace with --overwrite (in-place retouch)
    flag: str = "--overwrite"  # the option that permits replacing an existing file (named in messages)


def check_outputs(outputs: Sequence[Output], reads: Iterable[tuple[str, str | os.PathLike]], *,
                  overwrite: bool = False) -> list[Path]:
    """Raise a clear error unless every output may be written (module docstring) -> their paths
    (`STDOUT` for standard output). `reads`: (how the user named it, path) of every file the command
    reads; None, folders and missing paths among them are left out."""
    read_keys: dict[tuple, tuple[str, Path]] = {}
    for what, path in reads:
        path = Path(path) if path is not None else None
        if path is not None and path.is_file():
            read_keys.setdefault(_key(path), (what, path))
    seen: dict[tuple, Output] = {}
    paths = []
    for out in outputs:
        path = Path(out.path)
        if out.stream and _is_stdout(path):
            paths.append(STDOUT)
            continue
        _check_kind(path, out)
        key = _key(path)
        if key in read_keys and not (overwrite and out.replaces is not None and _key(out.replaces) == key):
            what, read = read_keys[key]
            same = f"{what} ({read})" if read != path else what
            raise ValueError(f"{out.what} {path} is {same}, which this command reads; choose another name "
                             "(--overwrite replaces earlier outputs, never a file the command reads)")
        if key in seen:
            raise ValueError(f"{seen[key].what} {seen[key].path} and {out.what} {path} are the same file; "
                             "give each output a name of its own")
        seen[key] = out
        if path.exists() and not overwrite:
            raise FileExistsError(f"{out.what} {path} exists already; pass {out.flag} to replace it, or "
                                  "choose another name")
        check_output_dir(path.parent, what=f"the folder of {out.what} {path}")
        paths.append(path)
    return paths


def csv_output(path: str | None, reads, *, overwrite: bool = False) -> Path | None:
    """A command's --csv checked against what it reads (`check_outputs`) -> its path, STDOUT, or None."""
    if not path:
        return None
    return check_outputs([Output(path, "--csv", stream=True)], reads, overwrite=overwrite)[0]


def data_files(what: str, data) -> list[tuple[str, Path]]:
    """(how messages name it, path) of every photo of a `PairDataset` (None: none), for `reads`."""
    pairs = data.pairs if data is not None else []
    return [(f"a photo of {what}", path) for pair in pairs for path in (pair.input, pair.target)]


def new_files(paths: Iterable[Path]) -> list[Path]:
    """The paths (of `check_outputs`) that do not exist yet: each must be created, never replaced."""
    return [p for p in paths if p is not None and p != STDOUT and not os.path.lexists(p)]


def deliver(path: Path, write: Callable[[Path], object]) -> str:
    """write(path) (an atomic writer such as `to_csv`), or for `STDOUT` write into a temporary file and
    copy it to standard output -> where it went, for the command's report."""
    if path != STDOUT:
        write(path)
        return str(path)
    with tempfile.TemporaryDirectory(prefix="csrnet-lite-") as folder:
        tmp = Path(folder) / "output"
        write(tmp)
        sys.stdout.flush()
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return "standard output"


def report_stream(paths: Iterable[Path]):
    """Where a command prints its report: standard error when an output goes to standard output."""
    return sys.stderr if any(p == STDOUT for p in paths) else sys.stdout


def _is_stdout(path: Path) -> bool:
    """True for `-` and for a path that is this process's standard output (e.g. /dev/stdout)."""
    if str(path) == "-":
        return True
    try:
        mine, there = os.fstat(1), os.stat(path)
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _check_kind(path: Path, out: Output) -> None:
    """Raise unless `path` is a regular file, a link to one, or does not exist yet."""
    if _under_system(path):
        raise ValueError(f"{out.what} {path} is a file of the system (/dev, /proc, /sys), which csrnet-lite "
                         f"never writes; name a regular file{'; pass - for standard output' * out.stream}")
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # not there yet (its folder is checked later)
        if path.is_symlink():
            raise ValueError(f"{out.what} {path} is a broken link; remove it or choose another name") from None
        return
    except OSError as e:
        raise ValueError(f"{out.what} {path} cannot be examined ({e.strerror}); choose another name") from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{out.what} {path} is a folder; name a file inside it, e.g. {path / 'name'}")
    if not stat.S_ISREG(info.st_mode):
        kind = "standard output" if _is_stdout(path) else "not a regular file (a device, FIFO or socket)"
        raise ValueError(f"{out.what} {path} is {kind}, which csrnet-lite never replaces; name a regular "
                         f"file{'; pass - for standard output' * out.stream}")


def _under_system(path: Path) -> bool:
    """True for a file of the kernel's virtual file systems (/proc, /sys, /dev), links to them included."""
    names = (Path(os.path.abspath(path)), Path(os.path.realpath(path)))
    return any(name.is_relative_to(top) and not name.is_relative_to("/dev/shm")  # shared memory: files
               for name in names for top in ("/proc", "/sys", "/dev"))


def _key(path: Path) -> tuple:
    """What a path is: (device, inode) of an existing file, else its resolved path."""
    try:
        info = path.stat()
        return ("file", info.st_dev, info.st_ino)
    except OSError:
        return ("name", os.path.realpath(path))
