"""Notebooks are written as readable Python files and built into output-free .ipynb files.

    notebooks/src/03_building_csrnet.py  --build-->  notebooks/03_building_csrnet.ipynb

The source format is the "percent" format that jupytext and VS Code also understand:

    # %% [markdown]          a markdown cell; its lines start with "# " (the prefix is removed)
    # %%                     a code cell
    # %% solution            a code cell whose source is collapsed in JupyterLab (exercise solutions
                             and self-checks); "# %% [markdown] solution" collapses a markdown cell

Commands (run from the repository root):

    python scripts/nbtools.py build              every notebooks/src/*.py -> notebooks/*.ipynb
    python scripts/nbtools.py check              exit 1 if a notebook is stale or has outputs
    python scripts/nbtools.py extract NB.ipynb   write an edited notebook back to its source
    python scripts/nbtools.py strip NB.ipynb     remove outputs and execution counts in place

Cell ids are derived from the cell's position and text, so building twice gives identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"

MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<flag> solution)?\s*$")
HIDDEN = {"jupyter": {"source_hidden": True}, "tags": ["solution"]}
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def parse(text: str) -> list[dict]:
    """Percent-format text -> list of {"type": "code"|"markdown", "hidden": bool, "source": str}."""
    cells: list[dict] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = MARKER.match(line)
        if match:
            cells.append({"type": "markdown" if match["markdown"] else "code",
                          "hidden": bool(match["flag"]), "lines": []})
        elif line.startswith("# %%"):
            raise ValueError(f"line {number}: unknown cell marker {line!r}; "
                             "use '# %%', '# %% [markdown]' or either followed by ' solution'")
        elif cells:
            cells[-1]["lines"].append(line)
        elif line.strip():
            raise ValueError(f"line {number}: text before the first '# %%' cell marker")
    for cell in cells:
        lines = cell.pop("lines")
        if cell["type"] == "markdown":
            bad = [l for l in lines if l.strip() and not l.startswith("#")]
            if bad:
                raise ValueError(f"markdown line without '# ' prefix: {bad[0]!r}")
            lines = [l[2:] if l.startswith("# ") else l[1:] for l in lines]
        cell["source"] = "\n".join(lines).strip("\n")
    return cells


def build_notebook(source: Path) -> nbformat.NotebookNode:
    """One source file -> a notebook without outputs, with stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNEL),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    for i, cell in enumerate(parse(source.read_text(encoding="utf-8"))):
        make = nbformat.v4.new_markdown_cell if cell["type"] == "markdown" else nbformat.v4.new_code_cell
        new = make(cell["source"])
        new.id = f"c{i:03d}-" + hashlib.sha1(cell["source"].encode()).hexdigest()[:8]
        if cell["hidden"]:
            new.metadata = json.loads(json.dumps(HIDDEN))
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def to_source(nb: nbformat.NotebookNode) -> str:
    """A notebook -> percent-format text (outputs are dropped)."""
    parts = []
    for cell in nb.cells:
        hidden = " solution" if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") else ""
        if cell.cell_type == "markdown":
            body = "\n".join(("# " + l) if l else "#" for l in cell.source.splitlines())
            parts.append(f"# %% [markdown]{hidden}\n{body}")
        elif cell.cell_type == "code":
            parts.append(f"# %%{hidden}\n{cell.source}")
    return "\n\n".join(parts) + "\n"


def has_outputs(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells with outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


def build(names: list[str]) -> int:
    sources = [SOURCES / f"{Path(n).stem}.py" for n in names] or sorted(SOURCES.glob("*.py"))
    for source in sources:
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = dumps(build_notebook(source))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


def check() -> int:
    """Every notebook has a source, matches its build and has no outputs."""
    problems = []
    for target in sorted(NOTEBOOKS.glob("*.ipynb")):
        source = SOURCES / f"{target.stem}.py"
        nb = nbformat.read(target, as_version=4)
        if cells := has_outputs(nb):
            problems.append(f"{target.name}: outputs or execution counts in cells {cells}; "
                            f"run: python scripts/nbtools.py strip {target.relative_to(ROOT)}")
        if not source.exists():
            problems.append(f"{target.name}: no source {source.relative_to(ROOT)}; "
                            f"run: python scripts/nbtools.py extract {target.relative_to(ROOT)}")
        elif target.read_text(encoding="utf-8") != dumps(build_notebook(source)):
            problems.append(f"{target.name} differs from {source.relative_to(ROOT)}: after editing the "
                            "source run `python scripts/nbtools.py build`; after editing the notebook "
                            f"run `python scripts/nbtools.py extract {target.relative_to(ROOT)}`")
    for source in sorted(SOURCES.glob("*.py")):
        if not (NOTEBOOKS / f"{source.stem}.ipynb").exists():
            problems.append(f"{source.name} has no notebook; run: python scripts/nbtools.py build")
    print("\n".join(problems) or "notebooks are built and free of outputs")
    return 1 if problems else 0


def extract(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    source = SOURCES / f"{Path(path).stem}.py"
    source.write_text(to_source(nb), encoding="utf-8")
    print(f"wrote {source.relative_to(ROOT)}")
    return build([source.stem])  # rewrite the notebook from the source: no outputs, stable ids


def strip(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    Path(path).write_text(dumps(nb), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build").add_argument("names", nargs="*", help="notebook names (default: all)")
    sub.add_parser("check")
    sub.add_parser("extract").add_argument("notebook")
    sub.add_parser("strip").add_argument("notebook")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build(args.names)
    if args.command == "check":
        return check()
    return (extract if args.command == "extract" else strip)(args.notebook)


if __name__ == "__main__":
    sys.exit(main())
