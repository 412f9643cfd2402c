"""The set-up files agree with each other and with the README."""
from __future__ import annotations

import ast
import re
import tomllib

from csrnet_lite.settings import PROJECT_ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def _environment_pip_section() -> list[str]:
    """The `- pip:` entries of environment.yml, comments and the editable install left out."""
    lines = (PROJECT_ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = []
    for line in lines[start + 1:]:
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if not stripped.startswith("- "):
            break
        entries.append(stripped[2:])
    return [e for e in entries if not e.startswith("-e ")]


def test_environment_yml_declares_the_same_requirements_as_pyproject():
    project = _pyproject()
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    assert sorted(_environment_pip_section()) == sorted(declared)


def test_torch_is_pinned_exactly():
    """A range would let pip pick a newer multi-GB CUDA build; the CPU build is pinned everywhere."""
    torch = [r for r in _pyproject()["dependencies"] if _name(r) == "torch"]
    assert torch == ["torch==2.13.0"]
    assert "pip install torch==2.13.0" in (PROJECT_ROOT / "Makefile").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.M)
    assert "make lab" in commands and "make test" in commands
    assert re.search(r"^make test$", ci, flags=re.M)


def test_readme_lists_every_library_file_and_notebook():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for path in sorted((PROJECT_ROOT / "csrnet_lite").glob("**/*.py")):
        if path.name != "__init__.py":
            name = path.relative_to(PROJECT_ROOT / "csrnet_lite").as_posix()
            assert f"`{path.name}`" in readme, f"README's table does not describe csrnet_lite/{name}"
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        assert path.stem in readme, f"README's table does not list notebooks/{path.name}"


def test_every_package_is_installed():
    packages = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {p.parent.relative_to(PROJECT_ROOT).as_posix().replace("/", ".")
             for p in (PROJECT_ROOT / "csrnet_lite").glob("**/__init__.py")}
    assert sorted(packages) == sorted(found)


def test_the_library_reads_in_one_sitting():
    """No module over 400 lines, no function over 50, one torch.load, no imports inside functions
    except the book builder's optional dependencies (the [test] extra)."""
    lazy_ok = {"nbformat", "nbclient", "nbclient.exceptions", "nbconvert", "traitlets.config", "book"}
    loads = []
    for path in sorted((PROJECT_ROOT / "csrnet_lite").glob("**/*.py")):
        text = path.read_text()
        name = path.relative_to(PROJECT_ROOT).as_posix()
        assert len(text.splitlines()) <= 400, f"{name} has {len(text.splitlines())} lines"
        loads += [name] * text.count("torch.load(")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 50, f"{name}: {node.name} is over 50 lines"
                inner = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
                modules = {n.module if isinstance(n, ast.ImportFrom) else n.names[0].name for n in inner}
                assert modules <= lazy_ok, f"{name}: {node.name} imports {modules - lazy_ok} inside"
    assert loads == ["csrnet_lite/checkpoint.py"], loads
