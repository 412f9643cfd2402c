"""The notebook series as a book: helpers the notebooks call, and a command that executes them all.

In a notebook:

    from csrnet_lite import book
    book.setup()                                        # seeds, smoke-mode banner, run timer
    photo = book.sample_photo(book.pick(full=512, smoke=128))
    book.say("The model has **{n:,}** parameters.", n=count_parameters(model))
    book.check(answer_1, expected, name="Exercise 1")   # tells the reader whether the answer is right

`say` and `check` also record their values in the output's metadata (key "csrnet_lite"), so the test
suite reads the numbers the prose states from the executed notebook instead of parsing text.

On the command line:

    python -m csrnet_lite.book --out _build/book [--smoke] [NAME ...]

executes every notebook in notebooks/ (full size unless --smoke) and writes a static HTML copy per
notebook plus index.html. Widgets become the static picture of their default state, and collapsed
solution cells become <details> blocks.
"""
from __future__ import annotations

import argparse
import html
import inspect
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .settings import PROJECT_ROOT, smoke_mode

NOTEBOOKS = PROJECT_ROOT / "notebooks"
META = "csrnet_lite"  # key of our entries in an output's metadata
HIDE_INPUT = "hide-input-in-book"  # cell tag: the HTML copy shows the cell's outputs only
_START = time.perf_counter()


# ---------------------------------------------------------------------------------------------------
# helpers the notebooks call

def setup(seed: int = 0) -> None:
    """Seed numpy and torch, restart the run timer, and say whether smoke mode is on."""
    global _START
    _START = time.perf_counter()
    np.random.seed(seed)
    torch.manual_seed(seed)
    if smoke_mode():
        print("Smoke mode (CSRNET_LITE_SMOKE=1): small images and short runs, for the test suite.")


def pick(full, smoke):
    """`smoke` in smoke mode, else `full` (e.g. an image size or a number of steps)."""
    return smoke if smoke_mode() else full


def run_dir(name: str) -> Path:
    """PROJECT_ROOT/runs/notebooks/<name>-<smoke|full>/, created: where a notebook keeps checkpoints.

    Smoke and full runs keep separate folders, so a quick test run never stands in for a real one.
    runs/ is ignored by git.
    """
    path = PROJECT_ROOT / "runs" / "notebooks" / f"{name}-{'smoke' if smoke_mode() else 'full'}"
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
    from IPython.display import Markdown, display

    display(Markdown(text.format(**values)), metadata={META: {"values": _plain(values)}})


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


def check(answer: Any, expected: Any, *, name: str, tol: float = 1e-6, hint: str = "") -> bool:
    """Tell the reader whether `answer` is right; returns True when it is.

    `expected` is a value (numbers and arrays are compared within `tol`, strings ignoring case) or a
    function answer -> bool. An answer of None or ... counts as "not answered yet".
    """
    from IPython.display import Markdown, display

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
    display(Markdown(text), metadata={META: {"check": name, "answered": answered, "correct": correct}})
    return correct


def show_source(obj: Any) -> None:
    """Display the source code of a library function or class (never paste it into a notebook)."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))


def synthetic_photo(size: int = 256) -> torch.Tensor:
    """A test scene drawn with numpy: sky, sun, hills and a 24-patch colour chart -> (1, 3, size, size).

    Used when no photo is available, so that every notebook runs anywhere. The chart patches are the
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

    That is data_samples/ (or CSRNET_LITE_FIVEK when set). When no pairs are there, a synthetic pair:
    the synthetic photo darkened and desaturated (input) and the photo itself (target).
    """
    from .data import PairDataset, Resize, default_root

    try:
        data = PairDataset(default_root(), resize=Resize("long", size))
        sample = data[index % len(data)]
        return sample.input, sample.target, sample.id
    except FileNotFoundError:
        pass  # no pairs: draw them
    target = synthetic_photo(size)
    grey = target.mean(dim=1, keepdim=True)
    input = (0.7 * (grey + 0.7 * (target - grey))).clamp(0, 1)  # darker, less saturated
    return input, target, "synthetic"


def sample_photo(size: int = 512, index: int = 0) -> torch.Tensor:
    """A photo (1, 3, h, w) with long edge `size`: an input from data_samples/, else synthetic."""
    return sample_pair(index, size)[0]


# ---------------------------------------------------------------------------------------------------
# executing notebooks (used by the tests and by `make book`)

def execute(path: str | os.PathLike, *, smoke: bool, timeout: int = 600, env: dict | None = None):
    """Execute a notebook top to bottom in notebooks/ -> (executed notebook, seconds).

    Runs on the kernel "python3" of the interpreter running this function, so run it from the venv.
    `env` adds environment variables for the kernel (e.g. CSRNET_LITE_FIVEK).
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    return nb, run(nb, path.parent, smoke=smoke, timeout=timeout, env=env)


def run(nb, cwd: Path, *, smoke: bool, timeout: int = 600, env: dict | None = None) -> float:
    """Execute notebook `nb` in place, in folder `cwd` -> seconds. Raises CellExecutionError on an
    error, leaving the outputs up to the failing cell in `nb`."""
    from nbclient import NotebookClient

    env = {**(env or {}), "CSRNET_LITE_SMOKE": "1" if smoke else "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=False,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - start


def recorded(nb) -> dict:
    """What `say` and `check` recorded in an executed notebook.

    Returns {"values": {name: value}, "checks": [{"check", "answered", "correct"}], "images": int}.
    """
    values, checks, images = {}, [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            entry = out.get("metadata", {}).get(META, {})
            values.update(entry.get("values", {}))
            if "check" in entry:
                checks.append(dict(entry))
            images += any(k.startswith("image/") for k in out.get("data", {}))
    return {"values": values, "checks": checks, "images": images}


def _static(nb) -> None:
    """Prepare an executed notebook for reading without a kernel (in place)."""
    import nbformat

    nb.metadata.pop("widgets", None)  # no widget state: nothing to load from a CDN
    cells = []
    widget = "application/vnd.jupyter.widget-view+json"
    for cell in nb.cells:
        if cell.cell_type == "code":  # widgets -> their static picture; progress bars and the like go
            cell.outputs = [out for out in cell.outputs if widget not in out.get("data", {})
                            or any(k.startswith("image/") for k in out["data"])]
            for out in cell.outputs:
                out.get("data", {}).pop(widget, None)
        if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") and cell.cell_type == "code":
            cells.append(nbformat.v4.new_markdown_cell(
                f"<details><summary>Show the hidden cell</summary>\n\n```python\n{cell.source}\n```\n\n</details>"))
            tags = cell.metadata.setdefault("tags", [])
            if HIDE_INPUT not in tags:
                tags.append(HIDE_INPUT)  # the exporter drops the input; the outputs stay
        cells.append(cell)
    nb.cells = cells


def write_book(out: Path, names: list[str], *, smoke: bool) -> list[tuple[str, float, int]]:
    """Execute notebooks and write out/<name>.html and out/index.html -> [(name, seconds, images)].

    A notebook that fails still gets its HTML page (showing the error); its seconds are negative.
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from .files import atomic_path

    paths = [NOTEBOOKS / f"{Path(n).stem}.ipynb" for n in names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no notebook {missing[0]}; the series is in {NOTEBOOKS}")
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT}
    exporter = HTMLExporter(config=config, template_name="lab")
    rows = []
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            seconds = run(nb, path.parent, smoke=smoke)
        except CellExecutionError as e:  # keep going: the HTML shows the error where it happened
            seconds = -(time.perf_counter() - start)
            print(f"  FAILED: {str(e).strip().splitlines()[-1]}", flush=True)
        images = recorded(nb)["images"]
        _static(nb)
        body, _ = exporter.from_notebook_node(nb)
        with atomic_path(out / f"{path.stem}.html") as tmp:
            tmp.write_text(body, encoding="utf-8")
            tmp.chmod(0o644)  # readable by a web server, like any file written with open()
        rows.append((path.stem, seconds, images))
        print(f"  {abs(seconds):6.1f} s, {images} pictures -> {out / (path.stem + '.html')}", flush=True)
    seconds = {n: s for n, s, _ in rows}
    listed = [p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb")) if (out / f"{p.stem}.html").exists()]

    def note(name: str) -> str:
        if name not in seconds:
            return ""
        return f" (ran in {seconds[name]:.0f} s)" if seconds[name] >= 0 else " (<b>failed</b>: see the error in it)"
    items = "\n".join(f'<li><a href="{html.escape(n)}.html">{html.escape(n)}</a>{note(n)}</li>' for n in listed)
    mode = "smoke mode" if smoke else "full mode"
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(f"<!doctype html><meta charset=utf-8><title>csrnet-lite</title>"
                       f"<h1>csrnet-lite: the notebook series</h1><p>Executed in {mode}.</p>"
                       f"<ol>{items}</ol>\n", encoding="utf-8")
        tmp.chmod(0o644)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csrnet_lite.book", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names, e.g. 03_building_csrnet (default: all)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "_build" / "book", help="output folder")
    parser.add_argument("--smoke", action="store_true", help="small images and short runs (minutes)")
    args = parser.parse_args(argv)
    try:
        rows = write_book(args.out, args.names, smoke=args.smoke)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = sum(abs(s) for _, s, _ in rows)
    print(f"\n{'notebook':40s} {'seconds':>8s} {'pictures':>8s}")
    for name, seconds, images in rows:
        print(f"{name:40s} {abs(seconds):8.1f} {images:8d}" + ("  FAILED" if seconds < 0 else ""))
    print(f"{'total':40s} {total:8.1f}\nwrote {args.out / 'index.html'}")
    failed = [name for name, seconds, _ in rows if seconds < 0]
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
