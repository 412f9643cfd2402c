"""The package as a course installs it: the wheel, built from the repository, installed into a fresh
virtual environment (no system site-packages), runs every notebook in smoke mode from an empty folder
outside the repository, and writes nothing into site-packages. That is what a hosted notebook does,
short of the network (its set-up cell finds the package installed and installs nothing)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

from csrnet_lite.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

# what `make` installs first; pip finds the CPU build where one is cached (README, "Quick start")
TORCH = re.search(r"^TORCH_VERSION\s*=\s*(\S+)$", (PROJECT_ROOT / "Makefile").read_text(), flags=re.M)[1]
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "runs", "_build", "build", "dist", "__pycache__",
                                     "*.egg-info", ".cache", "your_photos", ".ipynb_checkpoints")
RUNNER = """
import sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
for path in sorted(Path(".").glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=False,
                   resources={"metadata": {"path": "."}}).execute()
    nbformat.write(nb, path)
    print(f"{path.stem} {time.perf_counter() - start:.1f}", flush=True)
"""


def _run(args: list, **kwargs) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file below `folder`."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def _requirement(name: str) -> str:
    """The [test] extra's requirement for `name` (e.g. 'nbclient>=0.9')."""
    test = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    return next(r for r in test if r.startswith(name))


def test_the_wheel_runs_every_notebook_from_an_empty_folder(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build writes nothing into the repository
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCES)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source], timeout=600)
    wheel = next((tmp_path / "dist").glob("csrnet_lite-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(n.startswith("csrnet_lite/data_samples/input/") for n in names) == 28
    assert sum(n.startswith("csrnet_lite/data_samples/target/") for n in names) == 28
    assert len([n for n in names if n.startswith("csrnet_lite/notebooks/") and n.endswith(".ipynb")]) == 8
    assert not any("/src/" in n or n.endswith(".py") and "notebooks" in n for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    _run([python, "-m", "pip", "install", "-q", f"torch=={TORCH}"], timeout=900)
    _run([python, "-m", "pip", "install", "-q", wheel, _requirement("nbclient"), _requirement("ipykernel")],
         timeout=900)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    before = _tree(site)

    course = tmp_path / "course"  # outside the repository, empty, no clone beside it
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSRNET_LITE_")}
    env.update(CSRNET_LITE_SMOKE="1", XDG_CACHE_HOME=str(tmp_path / "cache"), MPLCONFIGDIR=str(tmp_path / "mpl"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), PYTHONNOUSERSITE="1")
    _run([python, "-m", "csrnet_lite", "notebooks", course], cwd=tmp_path, env=env, timeout=300)
    assert sorted(p.suffix for p in course.iterdir()) == [".ipynb"] * 8
    times = _run([python, "-c", RUNNER], cwd=course, env=env, timeout=3000)
    print(f"notebooks in smoke mode from the wheel (seconds):\n{times}")
    assert len(times.splitlines()) == 8

    cells = nbformat.read(course / "01_retouching_is_a_colour_map.ipynb", as_version=4).cells
    setup = next(c for c in cells if c.cell_type == "code")
    said = "".join(out.get("text", "") for out in setup.outputs)
    assert f"installed in {site / 'csrnet_lite'}" in said and "smoke mode" in said
    assert "offline samples in " + str(site / "csrnet_lite" / "data_samples") in said
    assert (course / "runs" / "notebooks").is_dir()  # run outputs went to the working folder
    assert _tree(site) == before, "the notebooks wrote into site-packages"
