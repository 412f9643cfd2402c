"""Adobe/Resolve .cube files: a 3D LUT (N, N, N, 3) in `csrnet_lite.lut`'s convention, as text.

    write_cube("look.cube", lut, title="my retouch")   rows 'R G B', red varying fastest
    cube = read_cube("look.cube"); cube.apply(photo)   with the file's DOMAIN_MIN/MAX
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from ..files import atomic_path
from ..lut import MAX_SIZE, Domain, check_lut, check_domain, apply_lut


@dataclass(frozen=True)
class Cube:
    """The contents of a .cube file: lut (N, N, N, 3) indexed lut[b, g, r], and its input domain."""

    lut: torch.Tensor
    title: str = ""
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, x: torch.Tensor, **options) -> torch.Tensor:
        """apply_lut(x, self.lut) over this file's domain: (B, 3, H, W) -> (B, 3, H, W)."""
        return apply_lut(x, self.lut, domain_min=self.domain_min, domain_max=self.domain_max, **options)


def write_cube(path: str | os.PathLike, lut: torch.Tensor, *, title: str = "",
               comments: Iterable[str] = (), domain_min: Domain = 0.0, domain_max: Domain = 1.0,
               decimals: int = 6) -> Path:
    """Write an Adobe .cube 3D LUT atomically: comments, TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX, then
    N^3 rows 'R G B' with red varying fastest, each value printed with `decimals` decimals."""
    lut = check_lut(lut)
    if '"' in title or "\n" in title or "\r" in title:
        raise ValueError(f"a .cube TITLE cannot contain quotes or line breaks, got {title!r}")
    lo, hi = check_domain(domain_min, "domain_min"), check_domain(domain_max, "domain_max")
    if (hi <= lo).any():
        raise ValueError(f"domain_max {hi.tolist()} must exceed domain_min {lo.tolist()} in every channel")
    number = f"{{:.{decimals}f}}".format
    header = [f"# {line}".rstrip() for text in comments for line in str(text).splitlines()]
    header += [f'TITLE "{title}"'] if title else []
    header += [f"LUT_3D_SIZE {lut.shape[0]}",
               "DOMAIN_MIN " + " ".join(map(number, lo.tolist())),
               "DOMAIN_MAX " + " ".join(map(number, hi.tolist()))]
    rows = (f"{number(r)} {number(g)} {number(b)}" for r, g, b in lut.reshape(-1, 3).tolist())
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join([*header, *rows]) + "\n", encoding="utf-8")
    return path


def read_cube(path: str | os.PathLike) -> Cube:
    """Read an Adobe/Resolve .cube 3D LUT -> Cube. Raises ValueError naming the line for malformed files.

    Accepts '#' comments, blank lines, CRLF, a UTF-8 BOM, TITLE, DOMAIN_MIN/MAX, Resolve's
    LUT_3D_INPUT_RANGE, and ignores other upper-case keywords before the table. 1D LUTs (LUT_1D_SIZE)
    are not supported.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .cube file at {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a text .cube file (byte {e.start} is not UTF-8)") from None
    where = lambda n: f"{path}, line {n}"  # noqa: E731
    header = {"title": "", "size": None, "size_line": 0, "lo": [0.0] * 3, "hi": [1.0] * 3}
    values: list[float] = []
    first_row = last_line = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword = line.split(maxsplit=1)[0]
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", keyword):
            if first_row:
                raise ValueError(f"{where(n)}: keyword {keyword} after the table started at line "
                                 f"{first_row}; .cube keywords come before the table")
            _read_keyword(keyword, line, where(n), n, header)
            continue
        size, size_line = header["size"], header["size_line"]
        if size is None:
            raise ValueError(f"{where(n)}: table row {line!r} before LUT_3D_SIZE; a .cube file must "
                             "declare its size first (is this a .cube file?)")
        if len(values) == 3 * size ** 3:
            raise ValueError(f"{where(n)}: extra table row; LUT_3D_SIZE {size} (line {size_line}) means "
                             f"exactly {size ** 3} rows, already read")
        values += _numbers(line.split("#", 1)[0].split(), 3, where(n), "a table row 'R G B'")
        first_row, last_line = first_row or n, n
    return _cube(path, header, values, last_line)


def _read_keyword(keyword: str, line: str, where: str, n: int, header: dict) -> None:
    """Apply one keyword line of a .cube header to `header` (title, size, domain), or raise."""
    if keyword.startswith("LUT_1D"):
        raise ValueError(f"{where}: {keyword}: 1D LUTs (and 1D shapers) are not supported; "
                         "csrnet-lite reads 3D LUTs (LUT_3D_SIZE) only")
    if keyword == "TITLE":
        match = re.fullmatch(r'TITLE\s+"(.*)"', line) or re.fullmatch(r"TITLE\s*(.*)", line)
        header["title"] = match.group(1)
    elif keyword == "LUT_3D_SIZE":
        if header["size"] is not None:
            raise ValueError(f"{where}: second LUT_3D_SIZE (the first is at line {header['size_line']})")
        args = line.split()[1:]
        if len(args) != 1 or not args[0].isdigit() or not 2 <= int(args[0]) <= MAX_SIZE:
            raise ValueError(f"{where}: LUT_3D_SIZE must be one integer from 2 to {MAX_SIZE}, got {line!r}")
        header["size"], header["size_line"] = int(args[0]), n
    elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
        header["lo" if keyword == "DOMAIN_MIN" else "hi"] = _numbers(line.split()[1:], 3, where,
                                                                    f"{keyword} R G B")
    elif keyword == "LUT_3D_INPUT_RANGE":  # DaVinci Resolve: one range for all channels
        a, b = _numbers(line.split()[1:], 2, where, "LUT_3D_INPUT_RANGE MIN MAX")
        header["lo"], header["hi"] = [a] * 3, [b] * 3
    # other keywords (LUT_IN_VIDEO_RANGE, ...) do not change a 3D table


def _cube(path: Path, header: dict, values: list[float], last_line: int) -> Cube:
    """The Cube of a file's header and table rows, once the table is checked complete."""
    size, size_line, lo, hi = header["size"], header["size_line"], header["lo"], header["hi"]
    if size is None:
        raise ValueError(f"{path} has no LUT_3D_SIZE line; is it a 3D .cube LUT?")
    if len(values) != 3 * size ** 3:
        raise ValueError(f"{path}: LUT_3D_SIZE {size} (line {size_line}) needs {size ** 3} table rows, "
                         f"found {len(values) // 3} (last row at line {last_line or size_line}); "
                         "the file is truncated or has the wrong size")
    if any(b <= a for a, b in zip(lo, hi)):
        raise ValueError(f"{path}: DOMAIN_MAX {hi} must exceed DOMAIN_MIN {lo} in every channel")
    lut = torch.tensor(values, dtype=torch.float32).reshape(size, size, size, 3)  # rows, red fastest
    return Cube(lut, header["title"], tuple(lo), tuple(hi))


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)  # 1, -0.5, .5, 1e-3: no 1_0, nan, inf
_FLOAT32_MAX = 3.4028234663852886e38


def _numbers(tokens: list[str], count: int, where: str, expected: str) -> list[float]:
    """`count` finite float32 numbers from tokens, or a ValueError at `where` saying what was expected."""
    values = [float(t) for t in tokens if _NUMBER.fullmatch(t)]
    if len(values) != count or len(tokens) != count or not all(abs(v) <= _FLOAT32_MAX for v in values):
        raise ValueError(f"{where}: expected {expected} ({count} decimal numbers, finite in float32), "
                         f"got {' '.join(tokens)!r}")
    return values
