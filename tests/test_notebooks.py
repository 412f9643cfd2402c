"""Every notebook runs top to bottom in smoke mode and states the right numbers; none is committed
with outputs.

The notebooks record the numbers their prose states (`book.say`) and the results of their exercise
checks (`book.check`) in the outputs' metadata; this file reads them from the executed notebook.
Each notebook also ends with assertion cells on its claims, which fail the execution.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

from csrnet_lite import book
from csrnet_lite.settings import PROJECT_ROOT, official_weights_path
from csrnet_lite.tools import book as builder

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"

# Numbers each notebook must state (from `book.say`): a value, or a function value -> bool; and the
# least number of pictures it shows. Values that depend on the data root are checked by property.
EXPECTED = {
    "01_retouching_is_a_colour_map": {
        "values": {"truncated_differ": 0, "rounded_worst": lambda v: v <= 1, "brightness": 0.0,
                   "contrast": 0.0, "saturation": 0.0, "spread": lambda v: v > 0.05},
        "images": 9,
    },
    "02_operators_as_1x1_convs_and_gfm": {
        "values": {"h": 15, "k": 5, "e": lambda v: 0 <= v < 0.01},
        "images": 4,
    },
    "03_building_csrnet": {
        "values": {"total": 36_489, "cond": 23_232, "heads": 8_646, "base": 4_611, "n": 262,
                   "macs": 4_480},
        "images": 6,
    },
    "04_fivek_subset": {
        "values": {"n": lambda v: v >= 2, "split_spread": lambda v: v > 0, "size_spread": lambda v: v > 0},
        "images": 4,
    },
    "05_training": {
        "values": {"interrupted": True, "stopped_steps": 2, "resumed_at": 2, "final_steps": 4,
                   "paper_steps": 4},
        "images": 5,
        "previews": 1,
    },
    "06_visualising_modulations": {
        "values": {"rms": lambda v: 0 <= v < 0.2, "n": lambda v: v >= 2},
        "images": 8,
        "previews": 3,
    },
}


def _nbtools():
    spec = importlib.util.spec_from_file_location("nbtools", PROJECT_ROOT / "scripts" / "nbtools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    assert set(EXPECTED) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_built_from_source(path):
    import nbformat

    nbtools = _nbtools()
    nb = nbformat.read(path, as_version=4)
    assert nbtools.has_outputs(nb) == [], (
        f"{path.name} has outputs; run: python scripts/nbtools.py strip notebooks/{path.name}")
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state; strip it"
    source = nbtools.SOURCES / f"{path.stem}.py"
    assert source.exists(), f"{path.name} has no source {source}"
    assert path.read_text(encoding="utf-8") == nbtools.dumps(nbtools.build_notebook(source)), (
        f"{path.name} is out of date with {source.name}: run `python scripts/nbtools.py build` "
        "(or `extract` after editing the notebook)")


def test_nbtools_round_trip(tmp_path):
    nbtools = _nbtools()
    text = ("# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n# %%\nx = 1\n\n# %% solution\n"
            "answer = x + 1\n")
    cells = nbtools.parse(text)
    assert [(c["type"], c["hidden"], c["source"]) for c in cells] == [
        ("markdown", False, "# Title\n\nSome *text*."), ("code", False, "x = 1"),
        ("code", True, "answer = x + 1")]
    source = tmp_path / "nb.py"
    source.write_text(text)
    nb = nbtools.build_notebook(source)
    assert nb.cells[2].metadata["jupyter"]["source_hidden"] is True
    assert nbtools.parse(nbtools.to_source(nb)) == cells
    with pytest.raises(ValueError, match="unknown cell marker"):
        nbtools.parse("# %% [raw]\nx\n")


def _structure(nb) -> dict:
    """What a notebook's outputs hold: stderr text, and slider previews with/without a static picture."""
    stderr, previews, bare_previews = [], 0, 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stderr":
                stderr.append(out.get("text", ""))
            data = out.get("data", {})
            if WIDGET in data and str(data.get("text/plain", "")).startswith("<Preview"):
                previews += 1
                bare_previews += "image/png" not in data
    return {"stderr": stderr, "previews": previews, "bare_previews": bare_previews}


@functools.lru_cache(maxsize=None)
def _executed(path: Path, fivek_root: str = ""):
    """Execute once per test session -> (notebook, seconds); on data_samples/ or a FiveK root."""
    return builder.execute(path, smoke=True, timeout=600, env={"CSRNET_LITE_FIVEK": fivek_root})


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, record_property):
    nb, seconds = _executed(path)
    record_property("seconds", round(seconds, 1))
    print(f"{path.stem}: {seconds:.1f} s in smoke mode")
    rec = builder.recorded(nb)
    structure = _structure(nb)
    expected = EXPECTED.get(path.stem, {"values": {}, "images": 1})
    # warnings (stderr) are defects in teaching material; progress bars write to stderr only outside Jupyter
    assert not structure["stderr"], f"{path.name} wrote to stderr:\n" + "".join(structure["stderr"])[:2000]
    assert structure["bare_previews"] == 0, "a slider preview has no static fallback picture"
    assert structure["previews"] >= expected.get("previews", 1), f"{path.name} has no slider preview"
    for name, value in expected["values"].items():
        assert name in rec["values"], f"{path.name} does not state {name!r}"
        stated = rec["values"][name]
        if callable(value):
            assert value(stated), f"{path.name}: {name} = {stated!r}"
        else:
            assert stated == pytest.approx(value), f"{path.name}: {name}"
    assert rec["images"] >= expected["images"], f"{path.name} shows {rec['images']} pictures"
    # every exercise has a self-check left unanswered for the reader and a solution that passes it
    checks = {c["check"]: c for c in rec["checks"]}
    exercises = [n for n in checks if not n.endswith("(solution)")]
    assert exercises, f"{path.name} has no exercise with a self-check"
    for name in exercises:
        assert checks[name]["answered"] is False, f"{name}: the reader's answer cell must start empty"
        solution = checks.get(f"{name} (solution)")
        assert solution and solution["correct"], f"{name}: no solution, or its solution fails the check"
    first = nb.cells[0].source.lower()
    assert "you will learn" in first and "time:" in first, "the notebook must open with objectives and time"
    assert any("## exercises" in c.source.lower() for c in nb.cells if c.cell_type == "markdown")
    assert any("## summary" in c.source.lower() for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_real_fivek_root(path, shared_fivek):
    """The same series with CSRNET_LITE_FIVEK pointing at real FiveK pairs (../shared/fivek)."""
    nb, seconds = _executed(path, str(shared_fivek))
    print(f"{path.stem}: {seconds:.1f} s in smoke mode on {shared_fivek}")
    assert not _structure(nb)["stderr"]
    rec = builder.recorded(nb)
    solutions = [c for c in rec["checks"] if c["check"].endswith("(solution)")]
    assert solutions and all(c["correct"] for c in solutions)
    said = " ".join(str(v) for v in rec["values"].values())
    if path.stem in ("04_fivek_subset", "05_training", "06_visualising_modulations"):
        text = " ".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
        assert "real FiveK pairs" in text, "the notebook did not use the FiveK root"
    assert "data_samples" not in said


@pytest.mark.slow
def test_building_csrnet_uses_the_authors_weights_when_present():
    path = NOTEBOOK_DIR / "03_building_csrnet.ipynb"
    if not official_weights_path().is_file():
        pytest.skip("no official weights")
    nb, _ = _executed(path)
    assert builder.recorded(nb)["values"]["net_name"] == "CSRNet, authors' weights"


# ---- book.py's helpers, without a kernel ----

def test_check_says_whether_an_answer_is_right(monkeypatch):
    shown = []
    monkeypatch.setattr(book, "display", lambda obj, **kw: shown.append((obj.data, kw)))
    assert book.check(2.0000001, 2.0, name="t") is True
    assert "correct" in shown[-1][0] and shown[-1][1]["metadata"][book.META]["correct"] is True
    assert book.check(2.1, 2.0, name="t", hint="look again") is False
    assert "look again" in shown[-1][0]
    assert book.check(None, 2.0, name="t") is False
    assert "not answered" in shown[-1][0] and shown[-1][1]["metadata"][book.META]["answered"] is False
    assert book.check([1, 2], (1.0, 2.0), name="t") is True
    assert book.check([1, 2, 3], (1.0, 2.0), name="t") is False  # wrong shape
    assert book.check(" Contrast ", "contrast", name="t") is True
    assert book.check(3, lambda a: a % 2 == 1, name="t") is True
    assert book.check("x", lambda a: a.missing, name="t") is False  # a raising check is "not yet"
    assert "AttributeError" in shown[-1][0]
    book.say("{n:,} pixels", n=1234567)
    assert shown[-1][0] == "1,234,567 pixels" and shown[-1][1]["metadata"][book.META] == {"values": {"n": 1234567}}


def test_recorded_and_static_copy():
    import nbformat

    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("solution = 1")
    code.metadata = {"jupyter": {"source_hidden": True}}
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "n = 3"},
                               metadata={book.META: {"values": {"n": 3}}}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "ok"},
                               metadata={book.META: {"check": "Exercise 1", "answered": True, "correct": True}}),
        nbformat.v4.new_output("display_data", data={WIDGET: {"model_id": "x"}, "image/png": "iVBOR",
                                                     "text/plain": "<Preview>"}),
        nbformat.v4.new_output("display_data", data={WIDGET: {"model_id": "y"}, "text/plain": "tqdm bar"}),
    ]
    nb.cells = [code]
    rec = builder.recorded(nb)
    assert rec == {"values": {"n": 3}, "checks": [{"check": "Exercise 1", "answered": True, "correct": True}],
                   "images": 1}
    builder.make_static(nb)
    assert nb.cells[0].cell_type == "markdown" and "<details>" in nb.cells[0].source
    assert "solution = 1" in nb.cells[0].source
    assert book.HIDE_INPUT in nb.cells[1].metadata["tags"]
    assert WIDGET not in nb.cells[1].outputs[2]["data"] and "image/png" in nb.cells[1].outputs[2]["data"]
    assert len(nb.cells[1].outputs) == 3  # the widget without a picture (a progress bar) is gone


def test_synthetic_photo_is_a_valid_image():
    from csrnet_lite.image import check_image

    x = book.synthetic_photo(64)
    check_image(x)
    assert x.shape == (1, 3, 64, 64) and x.std() > 0.1
    assert torch_equal(x, book.synthetic_photo(64))  # reproducible


def torch_equal(a, b) -> bool:
    return bool((a == b).all())
