"""Run hostile cases through the real command line (`python -m csrnet_lite ...` in subprocesses).

A `Case` sets up files in a folder of its own, runs one command there and states what must come out:
the exit code, a message on stderr, and which files may change. `run_cases` runs a list of them side by
side (each start imports torch, ~1-4 s) and returns a `Result` per case; `check` asserts the common
promises: no traceback, the message, every file that existed before byte-identical, no stray file
(temporary `.part` files included), and only the files `writes` names added.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

WORKERS = 3  # commands run at once: each mostly waits on imports


@dataclass
class Case:
    name: str
    args: list  # after `python -m csrnet_lite`; strings may use {dir} for the case's folder
    code: int  # expected exit code
    message: str = ""  # a regular expression stderr must match (search)
    setup: Callable[[Path], None] | None = None  # makes the case's files in its folder
    env: dict = field(default_factory=dict)
    writes: tuple[str, ...] = ()  # files the command may add or change: names, globs, or "folder/" for all below
    stdin: str | None = None


@dataclass
class Result:
    case: Case
    folder: Path
    code: int
    out: str
    err: str
    before: dict[str, bytes]
    after: dict[str, bytes]
    seconds: float  # the command's wall time, start-up (imports) included


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (hidden ones included) -> its bytes; folders as b'<dir>', links as
    b'<link>' and their target, FIFOs and devices as b'<special>' (never opened: a FIFO would block)."""
    def content(p: Path) -> bytes:
        if p.is_symlink():
            return b"<link>" + os.readlink(p).encode()
        return b"<dir>" if p.is_dir() else p.read_bytes() if p.is_file() else b"<special>"
    return {p.relative_to(folder).as_posix(): content(p) for p in sorted(folder.rglob("*"))}


def command(args: list, folder: Path, env: dict | None = None, fields: dict | None = None,
            **kwargs) -> subprocess.Popen:
    """Start `python -m csrnet_lite *args` in `folder` (smoke mode, one torch thread); {dir} and the
    other `fields` in the arguments are filled in."""
    full_env = {k: v for k, v in os.environ.items() if k != "CSRNET_LITE_DEBUG"}
    full_env.update({"CSRNET_LITE_SMOKE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})})
    argv = [str(a).format(dir=folder, **(fields or {})) for a in args]
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kwargs}  # e.g. stdout=file
    return subprocess.Popen([sys.executable, "-m", "csrnet_lite", *argv], cwd=folder, env=full_env, **options)


def run_case(case: Case, folder: Path, timeout: float = 120, fields: dict | None = None) -> Result:
    folder.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(folder)
    before = snapshot(folder)
    start = time.monotonic()
    proc = command(case.args, folder, case.env, fields, stdin=subprocess.PIPE if case.stdin is not None else None)
    try:
        out, err = proc.communicate(case.stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(killed after {timeout} s)"
    seconds = time.monotonic() - start
    return Result(case, folder, proc.returncode, out, err, before, snapshot(folder), seconds)


def run_cases(cases: list[Case], root: Path, **fields) -> dict[str, Result]:
    """Run every case in root/<n> side by side -> {case name: Result}; `fields` fill {name} in arguments."""
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(lambda ic: run_case(ic[1], root / f"case{ic[0]:02d}", fields=fields), enumerate(cases))
        return {r.case.name: r for r in results}


def check(result: Result) -> None:
    """Assert the case's promises (module docstring)."""
    case, text = result.case, result.out + result.err
    where = f"{case.name}: `{' '.join(map(str, case.args))}`\nstdout:\n{result.out}\nstderr:\n{result.err}"
    assert "Traceback" not in text, where
    assert result.code == case.code, f"exit {result.code}, expected {case.code}\n{where}"
    assert re.search(case.message, result.err), f"stderr lacks {case.message!r}\n{where}"
    assert "weights_only" not in text, where  # never torch's advice to load unsafely
    if case.code == 1 and not case.writes:  # a refusal: one to three lines
        assert len(result.err.strip().splitlines()) <= 3, f"a long message\n{where}"
    def allowed(name: str) -> bool:
        return any((name + "/").startswith(w) if w.endswith("/") else name == w or Path(name).match(w)
                   for w in case.writes)

    changed = [name for name, data in result.before.items() if result.after.get(name) != data and not allowed(name)]
    assert not changed, f"changed or removed: {changed}\n{where}"
    added = [name for name in result.after if name not in result.before and not allowed(name)]
    assert not added, f"stray files: {added}\n{where}"
    assert not [n for n in result.after if n.endswith(".part")], f"temporary files left\n{where}"


# --- hostile files ---------------------------------------------------------------------------------

def photo(path: Path, h: int = 16, w: int = 16, mode: str = "RGB", **save) -> Path:
    """A small smooth photo (uint8) saved at `path`; mode RGB, RGBA (alpha ramp) or L."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(h + w - 2, 1)], -1)
    a = rgb.astype(np.uint8)
    if mode == "RGBA":
        a = np.dstack([a, (x * 255 // max(w - 1, 1)).astype(np.uint8)])
    elif mode == "L":
        a = a[:, :, 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, **save)
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A 100-byte PNG whose header claims width x height pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def truncated(path: Path) -> Path:
    """Cut a file in half, keeping its header: a download that stopped early."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def model_file(path: Path, thumb_size: int | None = 128) -> Path:
    """A random CSRNet saved as a checkpoint-like dict whose condition view is `thumb_size`
    (None: long edge 512, as the authors' weights)."""
    import torch

    from csrnet_lite.model import CSRNet

    torch.manual_seed(0)
    net = CSRNet()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "config": {"thumb_size": thumb_size}}, path)
    return path


M = ["--model", "m.pt"]  # the model option of a case whose setup is `with_model`


def with_model(*makers):
    """A setup that writes m.pt, then runs each maker(folder)."""
    def setup(d: Path) -> None:
        model_file(d / "m.pt")
        for make in makers:
            make(d)
    return setup
