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


# conda-forge's names for what pyproject.toml names differently
CONDA_NAMES = {"torch": "pytorch-cpu", "matplotlib": "matplotlib-base"}


def _environment_conda_section() -> list[str]:
    """The conda entries of environment.yml (before `- pip:`), python and pip left out."""
    lines = (PROJECT_ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "dependencies:")
    entries = []
    for line in lines[start + 1:]:
        stripped = line.split("#")[0].strip()
        if stripped == "- pip:":
            break
        if stripped.startswith("- "):
            entries.append(stripped[2:])
    return [e for e in entries if _name(e) not in ("python", "pip")]


def _makefile() -> str:
    return (PROJECT_ROOT / "Makefile").read_text()


def _torch_version() -> str:
    """The torch version `make` installs (the Makefile's TORCH_VERSION)."""
    return re.search(r"^TORCH_VERSION\s*=\s*(\S+)$", _makefile(), flags=re.M)[1]


def test_environment_yml_declares_the_kernels_and_labs_requirements_on_conda_forge():
    """The core and [lab] requirements as conda-forge packages (CPU-only PyTorch), no test tools, then
    the package itself through pip; and the same Python as pyproject.toml."""
    project = _pyproject()
    declared = project["dependencies"] + project["optional-dependencies"]["lab"]
    expected = sorted(CONDA_NAMES.get(_name(d), _name(d)) + d[len(_name(d)):] for d in declared)
    assert sorted(_environment_conda_section()) == expected
    text = (PROJECT_ROOT / "environment.yml").read_text()
    assert "channels:\n  - conda-forge\n" in text and "defaults" not in text
    assert f"  - python{project['requires-python']}\n" in text
    assert text.rstrip().endswith("- pip:\n      - -e .")
    for tool in project["optional-dependencies"]["test"] + project["optional-dependencies"]["browser"]:
        lab = {_name(d) for d in project["optional-dependencies"]["lab"]}
        assert _name(tool) in lab or _name(tool) not in text, f"{tool} is a test tool"


def test_extras_are_split_by_use():
    """The kernel's needs in the core (a hosted notebook installs only those), then lab, test, browser."""
    project = _pyproject()
    core = {_name(d) for d in project["dependencies"]}
    extras = {k: {_name(d) for d in v} for k, v in project["optional-dependencies"].items()}
    assert sorted(extras) == ["browser", "lab", "test"]
    assert "jupyterlab" not in core and "jupyterlab" in extras["lab"]
    assert extras["browser"] == {"playwright"} and "playwright" not in extras["test"]
    assert {"torch", "numpy", "pillow", "matplotlib", "ipywidgets"} <= core


def test_one_version_and_the_python_that_runs():
    import csrnet_lite

    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "csrnet_lite.__version__"}
    from importlib.metadata import version

    assert version("csrnet-lite") == csrnet_lite.__version__
    assert pyproject["project"]["requires-python"] == ">=3.11"  # the tests read TOML with tomllib
    assert "sys.version_info >= (3, 11)" in _makefile()


def test_licence_and_citation():
    licence = (PROJECT_ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "csrnet-lite contributors" in licence
    assert _pyproject()["license-files"] == ["LICENSE"]
    citation = (PROJECT_ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation
    for name in ("He", "Liu", "Qiao", "Dong", "Bychkovsky", "Paris", "Chan", "Durand"):
        assert f"family-names: {name}\n" in citation
    assert "Conditional Sequential Modulation for Efficient Global Image Retouching" in citation
    assert "year: 2020" in citation and "year: 2011" in citation


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
    assert '-e ".[lab]"' in as_user and '.[lab,test' not in as_user and "pytest" not in as_user
    assert '-e ".[lab,test,browser]"' in _make_dry_run("test", 1000, tmp_path)


def test_ci_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.M)
    assert "make lab" in commands and "make test" in commands
    assert re.search(r"^make test$", ci, flags=re.M)


def _readme_tables() -> dict[str, set[str]]:
    """README's library tables: the folder each names in the line above it ("The tooling
    (`csrnet_lite/tools/`):") -> the file names in its first column."""
    tables, folder = {}, None
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        heading = re.match(r"^[A-Z][^|]*\(`(csrnet_lite/[a-z_/]*)`.*:$", line)
        if heading:
            folder = heading[1].rstrip("/")
            tables[folder] = set()
        elif folder and line.startswith("| `"):
            tables[folder].add(re.match(r"^\| `([^`]+)`", line)[1])
        elif folder and not line.startswith("|") and line.strip() and tables[folder]:
            folder = None
    return tables


def test_readme_lists_every_library_file_and_notebook():
    """Each folder of the library has a table in README.md that names exactly its files (the
    package's entry point `__main__.py` is listed with the tooling it runs)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    tables = _readme_tables()
    listed = {}
    for folder, names in tables.items():
        listed.update({f"{folder}/{n}" if n != "__main__.py" else "csrnet_lite/__main__.py": folder
                       for n in names})
    files = {p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "csrnet_lite").glob("**/*.py")
             if p.name != "__init__.py"}
    assert sorted(files - set(listed)) == [], "README's tables do not describe these files"
    assert sorted(set(listed) - files) == [], "README's tables describe files that do not exist"
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        assert path.stem in readme, f"README's table does not list notebooks/{path.name}"


def test_every_package_is_installed_and_the_data_ships_inside():
    """Every code package, plus the samples and notebooks mapped from the top of the repository."""
    tool = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {p.parent.relative_to(PROJECT_ROOT).as_posix().replace("/", ".")
             for p in (PROJECT_ROOT / "csrnet_lite").glob("**/__init__.py")}
    data = {"csrnet_lite.data_samples", "csrnet_lite.data_samples.input", "csrnet_lite.data_samples.target",
            "csrnet_lite.notebooks"}
    assert sorted(tool["packages"]) == sorted(found | data)
    assert tool["package-dir"] == {"csrnet_lite.data_samples": "data_samples", "csrnet_lite.notebooks": "notebooks"}


def test_repository_url_is_one_setting():
    """The notebooks' set-up cells and the README's links come from pyproject's Repository URL."""
    import importlib.util
    import json

    repository = _pyproject()["urls"]["Repository"]
    owner_name = repository.removeprefix("https://github.com/")
    spec = importlib.util.spec_from_file_location("nbtools", PROJECT_ROOT / "scripts" / "nbtools.py")
    nbtools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nbtools)
    cell = nbtools.setup_cell()
    assert f'REPOSITORY = "{repository}"' in cell and len(cell.splitlines()) <= 12
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]) == cell, f"{path.name}: run scripts/nbtools.py build"
    readme = (PROJECT_ROOT / "README.md").read_text()
    links = re.findall(r"\((https://(?:colab\.research\.google\.com|mybinder\.org)[^)]*)\)", readme)
    assert len(links) == 9
    for link in links:
        assert f"/{owner_name}/" in link, link
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        assert f"/{owner_name}/blob/main/notebooks/{path.name})" in readme
    assert f"git+{repository}" in readme and repository in (PROJECT_ROOT / "CITATION.cff").read_text()


def test_binder_installs_the_cpu_build_of_torch():
    requirements = (PROJECT_ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert f"torch=={_torch_version()}" in requirements
    assert "pip install --no-cache-dir ." in (PROJECT_ROOT / "binder" / "postBuild").read_text()


def test_help_and_version_answer_without_torch():
    """`--help` (of the command line and of each command) and `--version` load no torch: they answer at
    once. The time is measured by bench-free means in the report, not asserted here."""
    import subprocess
    import sys

    import csrnet_lite
    from csrnet_lite.lut import DEFAULT_SIZE
    from csrnet_lite.tools import arguments
    from csrnet_lite.tools.fetch import BASE_URL

    probe = ("import sys\nfrom csrnet_lite.tools.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    for argv in (["--help"], ["--version"], ["train", "--help"], ["retouch", "--help"],
                 ["data", "fetch", "--help"], ["data", "weights", "--help"], ["notebooks", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert done.stdout.rstrip().endswith("NO TORCH"), (argv, done.stdout[-300:], done.stderr[-300:])
        if argv == ["--version"]:
            assert done.stdout.startswith(f"csrnet-lite {csrnet_lite.__version__}\n")
    assert f"default {DEFAULT_SIZE};" in arguments.LUT_SIZE_HELP and f"default {BASE_URL})" in arguments.SERVER_HELP


def test_the_tree_is_clean_under_ruff():
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(PROJECT_ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (the [test] extra installs it)")
    done = subprocess.run([ruff, "check", "--no-cache", "."], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    config = (PROJECT_ROOT / ".pre-commit-config.yaml").read_text()
    assert "id: ruff" in config and "nbtools.py check" in config
    assert sys.version_info >= (3, 11)


def test_the_library_reads_in_one_sitting():
    """No module over 400 lines, no function over 50, one torch.load, no imports inside functions
    except the book builder's optional dependencies (the [test] extra), and, in the command line's
    modules and settings, the imports of what a command runs (so that --help needs no torch)."""
    lazy_ok = {"nbformat", "nbclient", "nbclient.exceptions", "nbconvert", "traitlets.config", "html_book"}
    lazy_files = {"csrnet_lite/tools/cli.py", "csrnet_lite/tools/arguments.py", "csrnet_lite/settings.py",
                  "csrnet_lite/tools/installed.py"}
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
                assert modules <= lazy_ok or name in lazy_files, f"{name}: {node.name} imports {modules - lazy_ok} inside"
    assert loads == ["csrnet_lite/checkpoint.py"], loads


def _imports(path, text: str | None = None) -> set[str]:
    """The csrnet_lite modules a library file (or `text` as if it were that file) imports, as dotted
    names ("csrnet_lite.tools.cli")."""
    package = path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1]  # ("csrnet_lite", "tools")
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == "csrnet_lite"}


def _part(module: str) -> str:
    """"core", "apps" or "tools": which part of the library a module (or file) belongs to."""
    parts = module.split(".")
    if module == "csrnet_lite.__main__":
        return "tools"  # the package's entry point runs the command line
    return parts[1] if len(parts) > 1 and parts[1] in ("apps", "tools") else "core"


def test_imports_run_one_way():
    """The core imports neither `tools/` nor `apps/`; `tools/` does not import `apps/`."""
    allowed = {"core": {"core"}, "tools": {"core", "tools"}, "apps": {"core", "tools", "apps"}}
    arrows = []
    for path in sorted((PROJECT_ROOT / "csrnet_lite").glob("**/*.py")):
        source = _part(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts))
        arrows += [f"{path.relative_to(PROJECT_ROOT)} -> {m}" for m in sorted(_imports(path))
                   if _part(m) not in allowed[source]]
    assert arrows == []


def test_import_direction_check_can_fail():
    """The check above reads relative imports the way Python does, so a wrong arrow is seen."""
    image, your_photos = PROJECT_ROOT / "csrnet_lite" / "image.py", PROJECT_ROOT / "csrnet_lite" / "apps" / "x.py"
    assert "csrnet_lite.tools.cli" in _imports(image, "from .tools.cli import main\n")
    assert "csrnet_lite.tools.cube" in _imports(image, "from .tools import cube\n")
    assert "csrnet_lite.model" in _imports(your_photos, "from ..model import CSRNet\n")
    assert _part("csrnet_lite.tools.cli") == "tools" and _part("csrnet_lite.apps.your_photos") == "apps"
    assert _part("csrnet_lite.model") == "core" and _part("csrnet_lite.__main__") == "tools"


def test_no_two_library_files_share_a_name():
    names = [p.name for p in (PROJECT_ROOT / "csrnet_lite").glob("**/*.py") if p.name != "__init__.py"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


_INTRODUCED = re.compile(r"Introduced in notebook (\d\d)\b")


def _introducing_notebook(docstring: str | None, notebooks: set[str]) -> str | None:
    """The notebook ("03") that a module docstring says introduces it, when that notebook exists."""
    found = _INTRODUCED.search(docstring or "")
    return found.group(1) if found and found.group(1) in notebooks else None


def test_each_core_module_says_which_notebook_introduces_it():
    """Every csrnet_lite/*.py and csrnet_lite/apps/*.py (the package's own __init__/__main__ aside)
    names, in its module docstring, a notebook that exists."""
    notebooks = {p.name[:2] for p in (PROJECT_ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")}
    assert len(notebooks) == 8, notebooks
    core = [p for folder in ("csrnet_lite", "csrnet_lite/apps") for p in (PROJECT_ROOT / folder).glob("*.py")
            if not p.name.startswith("__")]
    assert len(core) > 20
    missing = [p.name for p in core if _introducing_notebook(ast.get_docstring(ast.parse(p.read_text())), notebooks) is None]
    assert not missing, f"module docstrings that name no existing notebook: {missing}"
    # the check fails where it should: no docstring, no notebook named, a notebook that does not exist
    assert _introducing_notebook(None, notebooks) is None
    assert _introducing_notebook("Finding pairs in folders.", notebooks) is None
    assert _introducing_notebook("Introduced in notebook 09 (`09_more`).", notebooks) is None
    assert _introducing_notebook("Introduced in notebook 04 (`04_fivek_subset`).", notebooks) == "04"
