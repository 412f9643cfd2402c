"""Small file helpers: atomic writes, output checks and checksums, so that no failure loses a file.

Every file the package writes goes through `atomic_path`: the data goes to a hidden temporary file
beside the destination (`.NAME.csrnet-PID-XXXX.part`), is flushed to disk (fsync) and only then renamed
onto the destination, so the destination holds the old file or the complete new one, never half of
one. The new file gets the permissions any new file of the user gets (0666 minus the umask), or the
old file's when it replaces one. A run killed outright (kill -9, power loss) can leave its temporary
file behind; the next write into the same folder removes the ones whose process is gone.
`check_output_file` / `check_output_dir` let a command refuse a destination before any work, and
inside `exclusive(paths)` those paths are created, never replaced: a file that another process wrote
there meanwhile is left as it is (FileExistsError). A full disk is an OSError naming the destination.

Introduced in notebook 05 (`05_training`), where training writes its checkpoints.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterator

TEMP_MARK = ".csrnet-"  # in every temporary file's name: .NAME.csrnet-PID-RANDOM.part
_TEMP_NAME = re.compile(r"^\..+\.csrnet-(\d+)-[0-9a-f]+\.part$")
_swept: set[Path] = set()  # folders already swept by this process
_exclusive: set[str] = set()  # destinations `atomic_path` must create, never replace (`exclusive`)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds.

    The block writes the file at the yielded path (by name: `torch.save(state, tmp)`). On success the
    file is flushed to disk, given the umask's permissions (or those of the file it replaces) and
    renamed onto `path` atomically; on any exception (Ctrl-C included) it is removed.

        with atomic_path("model.pt") as tmp:
            torch.save(state, tmp)   # a crash here leaves model.pt as it was
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private until complete
        os.close(fd)
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, _mode_for(path))
        _publish(tmp, path)
        _fsync_folder(path.parent)
    except OSError as e:
        if e.errno == errno.ENOSPC:  # say which file could not be written, and that nothing was replaced
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} while writing it (left as it "
                          "was)", str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive(paths) -> Iterator[None]:
    """Inside the block `atomic_path` creates each of `paths` exclusively (a hard link of the complete
    file, which fails where the name exists): a file another process wrote there meanwhile is kept and
    the write fails with FileExistsError. After its first write a path is this process's own, and later
    writes (a checkpoint saved every few minutes) replace it."""
    keys = {os.path.abspath(p) for p in paths}
    _exclusive.update(keys)
    try:
        yield
    finally:
        _exclusive.difference_update(keys)


def _publish(tmp: Path, path: Path) -> None:
    """Move the complete file `tmp` onto `path`: a rename, or under `exclusive` a link that never replaces."""
    key = os.path.abspath(path)
    if key not in _exclusive:
        os.replace(tmp, path)  # atomic on POSIX and Windows
        return
    try:
        os.link(tmp, path)  # fails where path exists: the final name is created, never replaced
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "appeared while this command ran (another one wrote it?) and "
                              "was left as it is; choose another name or pass --overwrite", str(path)) from None
    except OSError:  # a file system without hard links: check, then rename (a short window remains)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "appeared while this command ran and was left as it is",
                                  str(path)) from None
        os.replace(tmp, path)
    _exclusive.discard(key)


def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of `atomic_path` in `folder` whose process has ended -> their paths.

    Those of running processes (this one included) are left alone. Each folder is swept once per process.
    """
    folder = Path(folder)
    key = folder.resolve()
    if key in _swept:
        return []
    _swept.add(key)
    removed = []
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(".") and e.name.endswith(".part")]
    except OSError:
        return []
    for name in names:
        match = _TEMP_NAME.match(name)
        if match and not _alive(int(match[1])):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output",
                      flag: str = "--overwrite") -> Path:
    """Raise a clear error unless a file can be written at `path` (before any work is done) -> Path.

    Refuses a folder, an existing file unless `overwrite` (naming `flag`, the option that allows it),
    and a place that cannot be written (parent not a folder, or read-only).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; name a file inside it, e.g. {path / 'name'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{what} {path} exists already; pass {flag} to replace it, or choose "
                              "another name")
    check_output_dir(path.parent, what=f"the folder of {what} {path}")
    return path


def check_output_dir(folder: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Raise a clear error unless files can be written into `folder` (created later if missing) -> Path.

    The folder, or the nearest part of its path that exists, must be a folder this user may write to.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a dangling link: mkdir would fail on it
            raise NotADirectoryError(f"{what} {folder}: {existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {folder}: {existing} is a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {folder}: cannot write into {existing} (permission denied); "
                              "choose a folder you can write to")
    return folder


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _mode_for(path: Path) -> int:
    """Permissions for a new file at `path`: the old file's, else 0666 minus the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)  # the only way to read it is to set it; restored at once
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    """Flush a file's data to disk, so that the rename never publishes an empty file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the system allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _alive(pid: int) -> bool:
    """True when a process with this id runs (or may run: it belongs to another user)."""
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
