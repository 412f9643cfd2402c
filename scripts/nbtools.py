"""Notebooks are written as readable Python files and built into output-free .ipynb files.

    notebooks/src/03_building_csrnet.py  --build-->  notebooks/03_building_csrnet.ipynb

The sources are in jupytext's "percent" format (https://jupytext.readthedocs.io), which VS Code reads
too, and jupytext does the conversion both ways. With jupytext installed, JupyterLab pairs each
notebook with its source (notebooks/jupytext.toml): saving the notebook writes the source, and a
source edited elsewhere shows in the notebook when it is reopened. A cell's role is its one tag:

    # %% [markdown]                    a markdown cell; its lines start with "# " (the prefix is removed)
    # %%                               a code cell
    # %% tags=["answer"]               an exercise's answer cell: `answer_<k> = None`, for the reader
                                       to fill in
    # %% tags=["check"]                the exercise's check, collapsed: calls book.check(answer_<k>, ...)
    # %% tags=["solution"]             the exercise's solution, collapsed: assigns `solution_<k>`, prints
                                       nothing, and declares the typical wrong answers its check must
                                       reject, one per line: `# wrong: <python expression>`
    # %% [markdown] tags=["solution"]  a collapsed markdown solution (a written answer)
    # %% tags=["scratch"]              code the reader writes from scratch: the student edition keeps
                                       only its signatures and docstrings, each body replaced by `...`
                                       (`stub`)
    # %% tags=["full"]                 (also `# %% [markdown] tags=["full"]`) a cell of the full
                                       edition only, e.g. prose about the solutions, which the student
                                       edition does not have

Every notebook's first code cell is the set-up cell (`SETUP`): on a hosted notebook without the
package it installs csrnet-lite from the repository, then prints what runs. `build` writes it into
every source from one setting, the Repository of pyproject.toml's [project.urls].

The build collapses check and solution cells (JupyterLab's `jupyter.source_hidden` cell metadata), so
the sources carry only the tag. A collapsed cell's first line is all JupyterLab shows of it, so it
must be a comment that gives nothing away (for example "# Check Exercise 1: run this cell").
Solution cells are left out of the student edition. See `exercises` below for the rules a build
enforces. A check of code written from scratch calls `book.check(<the function>, <a test of it>, ...)`,
and its test passes the student's result through `book.written(...)`: a stub's None reads "not
answered yet".

Commands (run from the repository root):

    python scripts/nbtools.py build              every notebooks/src/*.py -> notebooks/*.ipynb
    python scripts/nbtools.py check              exit 1 if a notebook is stale or has outputs, or a
                                                 source is not as jupytext writes it back
    python scripts/nbtools.py student OUT        write the student edition (no solutions, stubs) to OUT/
    python scripts/nbtools.py extract NB.ipynb   write an edited notebook back to its source (what
                                                 JupyterLab's pairing does on save), then rebuild it
    python scripts/nbtools.py strip NB.ipynb     remove outputs and execution counts in place

What is this project's own: the roles and the exercise rules, the student edition, the checks, the
kernel, and cell ids derived from each cell's position and text, so building twice gives identical
files.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_configuration_file

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
PAIRING = NOTEBOOKS / "jupytext.toml"  # what JupyterLab's jupytext writes; extract writes the same

ROLES = ("answer", "check", "solution", "scratch", "full")  # a cell's role is its one tag
MARKDOWN_ROLES = ("solution", "full")
COLLAPSED = ("check", "solution")  # the build hides their code (JupyterLab's jupyter.source_hidden)
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
ANSWER = re.compile(r"^(answer_\w+) = None\b", re.M)
SOLUTION = re.compile(r"^(solution_\w+) =", re.M)
WRONG = re.compile(r"^# wrong: (.+?)\s*$", re.M)
SETUP = """# Set-up: installs csrnet-lite where it is missing (Colab, Binder), then says what runs.
import importlib.util
import subprocess
import sys

REPOSITORY = "{repository}"
if importlib.util.find_spec("csrnet_lite") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+" + REPOSITORY], check=True)
    importlib.invalidate_caches()
from csrnet_lite import book

book.about()"""


def setup_cell() -> str:
    """The set-up cell's source, with the Repository URL of pyproject.toml's [project.urls]."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    return SETUP.replace("{repository}", urls["Repository"])


def refresh_setup(source: Path) -> bool:
    """Make the first code cell of `source` the current set-up cell (replacing an older one, or
    inserting it before the first code cell) -> whether the file changed."""
    text = source.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == "# %%"), len(lines))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    cell = f"# %%\n{setup_cell()}\n\n"
    old_first = SETUP.splitlines()[0]
    if start < len(lines) and "".join(lines[start + 1:end]).startswith(old_first):
        lines[start:end] = [cell]
    else:
        lines[start:start] = [cell]
    new = "".join(lines)
    if new != text:
        source.write_text(new, encoding="utf-8")
    return new != text


MARKERS = "'# %%', '# %% [markdown]' and, with a role, '# %% tags=[\"check\"]' or '# %% [markdown] tags=[\"solution\"]'"


def parse(text: str) -> list[dict]:
    """Percent-format text -> list of {"type": "code"|"markdown", "role": None|"answer"|"check"|...,
    "source": str}, read by jupytext; ValueError with the line of a cell that breaks the rules."""
    lines = text.splitlines()
    starts = [number for number, line in enumerate(lines, 1) if line.startswith("# %%")]
    before = [line for line in lines[:starts[0] - 1 if starts else len(lines)] if line.strip()]
    if before:
        raise ValueError(f"text before the first '# %%' cell marker: {before[0]!r}")
    nb = jupytext.reads(text, fmt="py:percent")
    if len(nb.cells) != len(starts):
        raise ValueError(f"jupytext reads {len(nb.cells)} cells from {len(starts)} '# %%' cell markers")
    cells = [{"type": cell.cell_type, "role": _role(cell, line, lines[line - 1]), "source": cell.source,
              "line": line} for cell, line in zip(nb.cells, starts)]
    exercises(cells)  # raises ValueError when an exercise breaks the rules
    for cell in cells:
        if cell["role"] == "scratch":
            try:
                stub(cell["source"])
            except SyntaxError as e:
                raise ValueError(f"cell at line {cell['line']}: a scratch cell must be valid Python ({e})") from None
    for cell in cells:
        cell.pop("line")
    return cells


def _role(cell, line: int, marker: str) -> str | None:
    """The role of a cell jupytext read from the marker at `line`, checking the marker."""
    metadata = {k: v for k, v in cell.metadata.items() if k != "lines_to_next_cell"}  # jupytext's spacing
    tags = metadata.pop("tags", [])
    if metadata.get("title") in ROLES:
        raise ValueError(f"line {line}: write the role as a tag, '# %%{marker[4:].replace(metadata['title'], '')}"
                         f"tags=[\"{metadata['title']}\"]', not {marker!r}")
    if cell.cell_type not in ("code", "markdown") or metadata or len(tags) > 1 or set(tags) - set(ROLES):
        raise ValueError(f"line {line}: unknown cell marker {marker!r}; use {MARKERS}, with one of the "
                         f"tags {', '.join(ROLES)}")
    role = tags[0] if tags else None
    if cell.cell_type == "markdown" and role not in (None, *MARKDOWN_ROLES):
        raise ValueError(f"line {line}: a markdown cell's role can only be " + " or ".join(MARKDOWN_ROLES))
    return role


def stub(source: str) -> str:
    """A scratch cell's code -> what the student edition shows: the leading comments, each function's and
    method's signature and docstring with the body replaced by `...` (an `__init__` keeps its
    `super().__init__(...)`), class lines, and every other statement as it is.

    >>> print(stub("# from scratch\\ndef f(x):\\n    \\"x (B,) -> (B,).\\"\\n    return 2 * x\\n\\ny = 1"))
    # from scratch
    def f(x):
        "x (B,) -> (B,)."
        ...
    <BLANKLINE>
    <BLANKLINE>
    y = 1
    """
    lines = source.splitlines()
    tree = ast.parse(source)
    first = tree.body[0].lineno - 1 if tree.body else len(lines)
    first = min([first] + [d.lineno - 1 for n in tree.body for d in getattr(n, "decorator_list", [])])
    comments = "\n".join(lines[:first]).rstrip()
    code = "\n\n\n".join(_stub_node(node, lines) for node in tree.body)
    return f"{comments}\n{code}" if comments else code


def _stub_node(node, lines: list[str]) -> str:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        body = node.body
        has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str)
        head_end = body[0].end_lineno if has_doc else body[0].lineno - 1
        head = lines[start:head_end]
        indent = " " * body[0].col_offset
        if isinstance(node, ast.ClassDef):
            methods = [_stub_node(n, lines) for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            return "\n".join(head) + ("\n\n" + "\n\n".join(methods) if methods else f"\n{indent}...")
        keep = [indent + ast.get_source_segment("\n".join(lines), n) for n in body
                if node.name == "__init__" and isinstance(n, ast.Expr) and "super()" in ast.unparse(n)]
        return "\n".join(head + keep + [f"{indent}..."])
    return "\n".join(lines[start:node.end_lineno])


def role(cell) -> str | None:
    """The role of a notebook cell ("answer", "check", "solution", "scratch", "full") from its tags, or None."""
    tags = cell.get("metadata", {}).get("tags", [])
    return next((r for r in ROLES if r in tags), None)


def exercises(cells: list[dict]) -> list[dict]:
    """The exercises of a notebook -> [{"answer": "answer_1", "solution": "solution_1", "check": source,
    "wrong": [expression, ...]}], checking the rules (ValueError with the cell's line when one breaks):

    - a collapsed cell (check, solution) starts with a comment line that names it ("check"/"solution")
      and gives nothing away, because that first line is all JupyterLab shows of a collapsed cell;
    - an answer cell assigns `answer_<k> = None`; the next cell is its check, which uses `answer_<k>`,
      calls `book.check(` and never mentions `solution_`; the cell after that is its code solution,
      which assigns `solution_<k>` (the same <k>), declares at least two `# wrong: <expression>` lines,
      and neither calls `book.check(` nor prints;
    - no other cell mentions `solution_<k>` (the student edition has no solution cells).

    `cells` are parse()'s dicts, or nbformat cells (their role read from the tags).
    """
    def get(cell, key):
        if key == "role":
            return cell["role"] if "role" in cell else role(cell)
        if key == "type":
            return cell["type"] if "type" in cell else cell.get("cell_type")
        return cell.get(key, "?") if key == "line" else cell["source"]

    def where(cell) -> str:
        return f"cell at line {get(cell, 'line')}" if "line" in cell else "cell"

    found, used = [], set()
    for i, cell in enumerate(cells):
        kind, source = get(cell, "role"), get(cell, "source")
        first = source.splitlines()[0] if source else ""
        if kind in ("check", "solution"):
            if get(cell, "type") == "markdown" and "solution" not in first.lower():
                raise ValueError(f"{where(cell)}: a collapsed markdown solution starts with a line "
                                 "naming it, e.g. '**Solution to Exercise 1** (try first)'")
            if get(cell, "type") == "code" and not (first.startswith("#") and kind in first.lower()
                                                    and not WRONG.match(first)):
                raise ValueError(f"{where(cell)}: a collapsed cell shows its first line; start it with a "
                                 f"comment naming it, such as '# {kind.capitalize()} of Exercise 1', "
                                 f"not {first!r}")
        if kind != "answer":
            continue
        match = ANSWER.search(source)
        if not match:
            raise ValueError(f"{where(cell)}: an answer cell assigns `answer_<k> = None`")
        answer = match[1]
        suffix = answer[len("answer_"):]
        check, solution = (cells[i + 1] if i + 1 < len(cells) else None), (cells[i + 2] if i + 2 < len(cells) else None)
        if check is None or get(check, "role") != "check":
            raise ValueError(f"{where(cell)}: {answer} must be followed by its check cell "
                             "('# %% tags=[\"check\"]')")
        if answer not in get(check, "source") or "book.check(" not in get(check, "source"):
            raise ValueError(f"{where(check)}: the check of {answer} calls book.check({answer}, ...)")
        if "solution_" in get(check, "source"):
            raise ValueError(f"{where(check)}: a check must not use a solution (the student edition has none)")
        if solution is None or get(solution, "role") != "solution" or get(solution, "type") != "code":
            raise ValueError(f"{where(check)}: the check of {answer} must be followed by its "
                             "solution cell ('# %% tags=[\"solution\"]')")
        text = get(solution, "source")
        names = SOLUTION.findall(text)
        if f"solution_{suffix}" not in names:
            raise ValueError(f"{where(solution)}: the solution of {answer} assigns `solution_{suffix} = ...`")
        wrong = WRONG.findall(text)
        if len(wrong) < 2:
            raise ValueError(f"{where(solution)}: declare at least two typical wrong answers for {answer}, "
                             "one per line: `# wrong: <python expression>`")
        if "book.check(" in text or re.search(r"\b(print|display)\(", text):
            raise ValueError(f"{where(solution)}: a solution prints nothing and does not call book.check "
                             "(Run All must not show answers; the test suite checks the solution)")
        used.add(i + 2)
        found.append({"answer": answer, "solution": f"solution_{suffix}", "check": get(check, "source"),
                      "wrong": wrong})
    for i, cell in enumerate(cells):
        if i in used:
            continue
        for ex in found:
            if re.search(rf"\b{ex['solution']}\b", get(cell, "source")):
                raise ValueError(f"{where(cell)}: only the solution cell may use {ex['solution']} "
                                 "(the student edition leaves solution cells out)")
    return found


def build_notebook(source: Path, *, student: bool = False) -> nbformat.NotebookNode:
    """One source file -> a notebook without outputs, with stable cell ids, the kernel, and check and
    solution cells collapsed.

    `student=True` gives the student edition: solution and full-edition cells left out, scratch cells
    replaced by their stubs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNEL),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    try:
        cells = parse(source.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{source.name}: {e}") from None
    for i, cell in enumerate(cells):
        if student and cell["role"] in ("solution", "full"):
            continue
        make = nbformat.v4.new_markdown_cell if cell["type"] == "markdown" else nbformat.v4.new_code_cell
        new = make(stub(cell["source"]) if student and cell["role"] == "scratch" else cell["source"])
        new.id = f"c{i:03d}-" + hashlib.sha1(cell["source"].encode()).hexdigest()[:8]
        if cell["role"]:
            new.metadata.tags = [cell["role"]]
        if cell["role"] in COLLAPSED:
            new.metadata.jupyter = {"source_hidden": True}
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def to_source(nb: nbformat.NotebookNode) -> str:
    """A notebook -> percent-format text, as jupytext writes it with the pairing's settings (only the
    cells, their type and their tags: no header, no outputs, no other metadata)."""
    return jupytext.writes(nb, fmt="py:percent", config=load_jupytext_configuration_file(str(PAIRING)))


def has_outputs(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells with outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


def build(names: list[str]) -> int:
    sources = [SOURCES / f"{Path(n).stem}.py" for n in names] or sorted(SOURCES.glob("*.py"))
    for source in sources:
        if refresh_setup(source):
            print(f"wrote the set-up cell into {source.relative_to(ROOT)}")
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = dumps(build_notebook(source))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


def check() -> int:
    """Every notebook has a source, matches its build and has no outputs; every source reads back
    unchanged through its notebook (source -> notebook -> source), as JupyterLab's pairing writes it."""
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
            continue
        built = build_notebook(source)
        if next((c.source for c in nb.cells if c.cell_type == "code"), None) != setup_cell():
            problems.append(f"{target.name}: the first code cell is not the current set-up cell; run "
                            "`python scripts/nbtools.py build`, which writes it into every source")
        elif target.read_text(encoding="utf-8") != dumps(built):
            problems.append(f"{target.name} differs from {source.relative_to(ROOT)}: after editing the "
                            "source run `python scripts/nbtools.py build`; after editing the notebook "
                            f"run `python scripts/nbtools.py extract {target.relative_to(ROOT)}`")
        elif to_source(built) != source.read_text(encoding="utf-8"):
            problems.append(f"{source.relative_to(ROOT)} is not as jupytext writes it (spacing between "
                            f"cells); run: python scripts/nbtools.py extract {target.relative_to(ROOT)}")
    for source in sorted(SOURCES.glob("*.py")):
        if not (NOTEBOOKS / f"{source.stem}.ipynb").exists():
            problems.append(f"{source.name} has no notebook; run: python scripts/nbtools.py build")
    print("\n".join(problems) or "notebooks are built and free of outputs, and their sources read back unchanged")
    return 1 if problems else 0


def student(out: str) -> int:
    """Write the student edition of every notebook (solutions left out, stubs to write) to folder `out`."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(SOURCES.glob("*.py")):
        target = folder / f"{source.stem}.ipynb"
        target.write_text(dumps(build_notebook(source, student=True)), encoding="utf-8")
        print(f"wrote {target}")
    return 0


def extract(path: str) -> int:
    """Write notebook `path` back to its source (checked before anything is written), then rebuild it."""
    nb = nbformat.read(path, as_version=4)
    source = SOURCES / f"{Path(path).stem}.py"
    text = to_source(nb)
    try:
        parse(text)
    except ValueError as e:
        raise ValueError(f"{path} (nothing written): {e}") from None
    source.write_text(text, encoding="utf-8")
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
    sub.add_parser("student").add_argument("out", help="folder for the student edition")
    sub.add_parser("extract").add_argument("notebook")
    sub.add_parser("strip").add_argument("notebook")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ValueError as e:  # a source breaks the format's rules: say which and where
        print(f"error: {e}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.command == "build":
        return build(args.names)
    if args.command == "check":
        return check()
    if args.command == "student":
        return student(args.out)
    return (extract if args.command == "extract" else strip)(args.notebook)


if __name__ == "__main__":
    sys.exit(main())
