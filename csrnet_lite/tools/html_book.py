"""The notebook series as a book: execute every notebook and write a static HTML copy of each.

    python -m csrnet_lite book --out _build/book [--smoke] [NAME ...]

executes every notebook of the series (full size unless --smoke; in a clone in notebooks/, from
an installed package in the output folder, never inside the package) and writes a static HTML copy per
notebook plus index.html. Widgets become the static picture of their default state, and collapsed
solution cells become <details> blocks. The test suite executes the notebooks with `execute` and
reads what `book.say` and `book.check` recorded with `recorded`.
"""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

from .. import settings
from ..book import HIDE_INPUT, META
from ..files import atomic_path
from ..settings import NOTEBOOKS


def execute(path: str | os.PathLike, *, smoke: bool, timeout: int = 600, env: dict | None = None):
    """Execute a notebook top to bottom in notebooks/ -> (executed notebook, seconds).

    Runs on the kernel "python3" of the interpreter running this function, so run it from the venv.
    `env` adds environment variables for the kernel (e.g. CSRNET_LITE_FIVEK).
    """
    import nbformat  # optional dependencies (the [test] extra), as in every function here

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


def make_static(nb) -> None:
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

    paths = [NOTEBOOKS / f"{Path(n).stem}.ipynb" for n in names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    cwd = NOTEBOOKS if settings.CHECKOUT is not None else Path(out)  # what a notebook writes goes there
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
            Path(cwd).mkdir(parents=True, exist_ok=True)
            seconds = run(nb, cwd, smoke=smoke)
        except CellExecutionError as e:  # keep going: the HTML shows the error where it happened
            seconds = -(time.perf_counter() - start)
            print(f"  FAILED: {str(e).strip().splitlines()[-1]}", flush=True)
        images = recorded(nb)["images"]
        make_static(nb)
        body, _ = exporter.from_notebook_node(nb)
        with atomic_path(out / f"{path.stem}.html") as tmp:
            tmp.write_text(body, encoding="utf-8")
            tmp.chmod(0o644)  # readable by a web server, like any file written with open()
        rows.append((path.stem, seconds, images))
        print(f"  {abs(seconds):6.1f} s, {images} pictures -> {out / (path.stem + '.html')}", flush=True)
    _write_index(out, {n: s for n, s, _ in rows}, smoke)
    return rows


def _write_index(out: Path, seconds: dict[str, float], smoke: bool) -> None:
    """out/index.html: every notebook with an HTML page in `out`, with its time or failure this run."""
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
