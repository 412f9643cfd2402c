"""The set-up files agree with each other and with the README."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def _makefile() -> str:
    return (PROJECT_ROOT / "Makefile").read_text()


def _torch_version() -> str:
    """The torch version `make` installs (the Makefile's TORCH_VERSION)."""
    return re.search(r"^TORCH_VERSION\s*=\s*(\S+)$", _makefile(), flags=re.M)[1]


def test_environment_yml_declares_the_same_requirements_as_pyproject():
    project = _pyproject()
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    environment = _environment_pip_section()
    assert sorted(e for e in environment if _name(e) != "torch") == sorted({d for d in declared if _name(d) != "torch"})
    assert [e for e in environment if _name(e) == "torch"] == [f"torch=={_torch_version()}"]


def test_torch_is_a_range_for_the_package_and_pinned_by_make():
    """The package accepts an installed torch from the measured oldest version on; `make` pins the
    tested version first, from PyPI or from the index named by TORCH_INDEX (a CPU-only build)."""
    from packaging.requirements import Requirement

    torch = [Requirement(r) for r in _pyproject()["dependencies"] if _name(r) == "torch"]
    assert len(torch) == 1 and not any(s.operator == "==" for s in torch[0].specifier)
    assert _torch_version() == "2.13.0" and torch[0].specifier.contains("2.13.0")
    assert torch[0].specifier.contains("2.2.2") and not torch[0].specifier.contains("2.1.2")  # measured
    makefile = _makefile()
    assert "pip install torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)" in makefile
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in readme


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("make") is None, reason="make on Linux")
def test_make_installs_the_cpu_build_on_linux_without_an_nvidia_gpu(tmp_path):
    """Without nvidia-smi, `make` takes torch from PyTorch's CPU index; with it, or with TORCH_INDEX=
    given empty, from PyPI (the build with CUDA)."""
    def torch_line(path: str, *args: str) -> str:
        out = subprocess.run(["make", "-n", "lab", f"VENV={tmp_path / 'venv'}", *args], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, env={**os.environ, "PATH": path}, check=True).stdout
        return next(line for line in out.splitlines() if "pip install torch==" in line)

    plain = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                            if not (Path(p) / "nvidia-smi").exists())
    gpu = tmp_path / "bin"
    gpu.mkdir()
    (gpu / "nvidia-smi").write_text("#!/bin/sh\n")
    (gpu / "nvidia-smi").chmod(0o755)
    assert torch_line(plain).endswith("--index-url https://download.pytorch.org/whl/cpu")
    assert "--index-url" not in torch_line(f"{gpu}{os.pathsep}{plain}")
    assert "--index-url" not in torch_line(plain, "TORCH_INDEX=")


def test_licence_is_an_spdx_expression():
    """A table (`{ text = ... }`) is deprecated by setuptools; a string needs setuptools >= 77."""
    assert _pyproject()["license"] == "MIT"
    build = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert build == ["setuptools>=77"]


def _make_dry_run(target: str, uid: int, tmp_path) -> str:
    """`make -n TARGET` as user `uid` (a stand-in `id` on PATH): the commands it would run."""
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake / "id").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    done = subprocess.run(["make", "-n", "-B", target, "VENV=/nonexistent/venv"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_lab_works_as_root_and_registers_the_notebooks_kernel(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("nbtools", PROJECT_ROOT / "scripts" / "nbtools.py")
    nbtools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nbtools)
    as_root, as_user = _make_dry_run("lab", 0, tmp_path), _make_dry_run("lab", 1000, tmp_path)
    assert "jupyter lab --allow-root notebooks/" in as_root
    assert "--allow-root" not in as_user and "jupyter lab  notebooks/" in as_user
    kernel = re.search(r"ipykernel install --sys-prefix --name (\S+)", as_user)
    assert kernel and kernel[1] == nbtools.KERNEL["name"], "the notebooks would open on another kernel"
    # a student's set-up leaves out the test tools; `make test` adds them
    assert '.[test]' not in as_user and "pytest" not in as_user
    assert '-e ".[test]"' in _make_dry_run("test", 1000, tmp_path)


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
