"""Every notebook runs top to bottom in smoke mode and states the right numbers; none is committed
with outputs.

The notebooks record the numbers their prose states (`book.say`) and the results of their exercise
checks (`book.check`) in the outputs' metadata; this file reads them from the executed notebook.
Each notebook also ends with assertion cells on its claims, which fail the execution.

Exercises (see scripts/nbtools.py `exercises`): the test execution inserts, after each exercise's
solution cell, cells that feed its check the solution and every planted wrong answer (`# wrong: ...`
lines of the solution cell), then reset the answer to None. The solution must pass, every wrong answer
must fail, and the reader's own check (run before any of this) must say "not answered yet".
"""
from __future__ import annotations

import inspect

import functools
import importlib.util
import re
from pathlib import Path

import pytest

from synthetic import synthetic_photo
from csrnet_lite import book
from csrnet_lite.settings import PROJECT_ROOT, official_weights_path
from csrnet_lite.tools import html_book as builder

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"

# Numbers each notebook must state (from `book.say`): a value, or a function value -> bool; and the
# least number of pictures it shows. Values that depend on the data root are checked by property.
EXPECTED = {
    "01_retouching_is_a_colour_map": {
        "values": {"truncated_differ": 0, "rounded_worst": lambda v: v <= 1, "brightness": lambda v: v < 1e-6,
                   "contrast": lambda v: v < 1e-6, "saturation": lambda v: v < 1e-6, "spread": lambda v: v > 0.05, "clipped": lambda v: 0.01 <= v <= 0.15},
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
                   "paper_steps": 4, "edit_steps": 4, "edit_final": 4, "off_final": 4,
                   "default_seconds": lambda v: v > 0,  # timed around the fit, not after it
                   "n_test_photos": lambda v: v >= 2, "ceiling": lambda v: v > 30,
                   # smoke mode trains 4 steps: the verdict is worded through the noise, whatever it is
                   "fixed_verdict": lambda v: "noise ±" in v, "off_verdict": lambda v: "noise ±" in v,
                   "harm": lambda v: "doing nothing" in v, "n_below": lambda v: v >= 0,
                   "worst_pair_gain": lambda v: v < 5},
        "images": 5,
        "previews": 1,
    },
    "06_visualising_modulations": {
        "values": {"rms": lambda v: 0 <= v < 0.2, "n": lambda v: v >= 2, "n_sweep": lambda v: v >= 2,
                   "edit_origin": lambda v: v == "trained by notebook 5" or "trained just now" in v,
                   "sweep_verdict": lambda v: "noise ±" in v, "photo_verdict": lambda v: "noise ±" in v,
                   "noise_db": 0.1, "harm": lambda v: "doing nothing" in v, "n_worse": lambda v: v >= 0,
                   "worst_edit_gain": lambda v: v < 5, "gain_sd": lambda v: v >= 0},
        "images": 8,
        "previews": 3,
    },
    "07_csrnet_from_scratch": {
        "values": {"total": 36_489, "cond_params": 23_232, "gfm_gap": lambda v: v < 1e-6, "gfm_identity_gap": 0,
                   "random_gap": lambda v: v < 1e-6, "thumb_gap": lambda v: v < 1e-6,
                   "psnr_gap": lambda v: v < 1e-3, "start_gap": lambda v: v < 1e-5, "steps": 4,
                   "n_mapped": 24, "n_keys": 24, "model_lines": 30, "loop_lines": 23},
        "images": 4,
        "previews": 1,
    },
    "08_your_own_photos": {
        "values": {"kind": lambda v: v in ("notebook 5", "authors", "by hand"), "lut_psnr": lambda v: v > 40,
                   "w": 512, "h": 346, "megapixels": lambda v: v > 1, "bad_files": 4, "macs": 4_480},
        "images": 2,
        "previews": 2,
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_reads_back_unchanged_through_its_notebook(path):
    """source -> notebook -> source (jupytext both ways) gives the source back, so that saving the
    notebook in JupyterLab, or `nbtools extract`, changes nothing that was not edited."""
    nbtools = _nbtools()
    source = nbtools.SOURCES / f"{path.stem}.py"
    assert nbtools.to_source(nbtools.build_notebook(source)) == source.read_text(encoding="utf-8"), (
        f"{source.name} is not as jupytext writes it back: run `python scripts/nbtools.py extract "
        f"notebooks/{path.name}` (after `build`, if you edited the source)")


def test_jupyterlab_pairing_syncs_notebook_and_source_both_ways(tmp_path):
    """JupyterLab's jupytext contents manager, with notebooks/jupytext.toml, pairs a notebook with its
    source: opening shows the roles and the collapsed cells; saving writes what `extract` writes; a
    source edited elsewhere shows in the notebook."""
    import os
    import shutil

    import jupytext

    nbtools = _nbtools()
    name = "07_csrnet_from_scratch"  # every role: answer, check, solution, scratch, full
    (tmp_path / "src").mkdir()
    shutil.copy(nbtools.PAIRING, tmp_path / "jupytext.toml")
    shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", tmp_path)
    shutil.copy(nbtools.SOURCES / f"{name}.py", tmp_path / "src")
    later = (tmp_path / "src" / f"{name}.py").stat().st_mtime + 60
    os.utime(tmp_path / f"{name}.ipynb", (later, later))  # a checkout may leave the notebook newer
    lab = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    built = nbtools.build_notebook(nbtools.SOURCES / f"{name}.py")

    nb = lab.get(f"{name}.ipynb")["content"]
    assert [(c.cell_type, c.source, nbtools.role(c)) for c in nb.cells] == [
        (c.cell_type, c.source, nbtools.role(c)) for c in built.cells]
    assert {nbtools.role(c) for c in nb.cells} == {None, *nbtools.ROLES}
    assert all(bool(c.metadata.get("jupyter", {}).get("source_hidden")) == (nbtools.role(c) in nbtools.COLLAPSED)
               for c in nb.cells)

    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[code].source += "\n# edited in JupyterLab"
    nb.cells[code].outputs = [{"output_type": "stream", "name": "stdout", "text": "printed by the kernel\n"}]
    lab.save({"type": "notebook", "content": nb}, f"{name}.ipynb")
    saved = (tmp_path / "src" / f"{name}.py").read_text(encoding="utf-8")
    built.cells[code].source += "\n# edited in JupyterLab"
    assert saved == nbtools.to_source(built)  # what `nbtools extract` writes
    assert "printed by the kernel" not in saved and "source_hidden" not in saved
    assert [c["role"] for c in nbtools.parse(saved)] == [nbtools.role(c) for c in built.cells]
    assert "printed by the kernel" in (tmp_path / f"{name}.ipynb").read_text()  # `nbtools check` flags it

    (tmp_path / "src" / f"{name}.py").write_text(saved.replace("# edited in JupyterLab", "# edited in an editor"))
    nb = lab.get(f"{name}.ipynb")["content"]
    assert nb.cells[code].source.endswith("# edited in an editor")
    assert nb.cells[code].outputs  # the notebook's outputs stay beside the source's text


EXERCISE = ("# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n# %%\nx = 1\n\n"
            '# %% tags=["answer"]\nanswer_1 = None  # a number\n\n'
            '# %% tags=["check"]\n# Check Exercise 1: run this cell\nbook.check(answer_1, lambda a: a == x + 1, name="Exercise 1")\n\n'
            '# %% tags=["solution"]\n# Solution to Exercise 1\n# wrong: x\n# wrong: 1  # a guess\nsolution_1 = x + 1\n')


def test_nbtools_round_trip_and_student_edition(tmp_path):
    nbtools = _nbtools()
    cells = nbtools.parse(EXERCISE)
    assert [(c["type"], c["role"], c["source"].splitlines()[0]) for c in cells] == [
        ("markdown", None, "# Title"), ("code", None, "x = 1"), ("code", "answer", "answer_1 = None  # a number"),
        ("code", "check", "# Check Exercise 1: run this cell"), ("code", "solution", "# Solution to Exercise 1")]
    assert nbtools.exercises(cells) == [{"answer": "answer_1", "solution": "solution_1", "check": cells[3]["source"],
                                         "wrong": ["x", "1  # a guess"]}]
    source = tmp_path / "nb.py"
    source.write_text(EXERCISE)
    nb = nbtools.build_notebook(source)
    assert [nbtools.role(c) for c in nb.cells] == [None, None, "answer", "check", "solution"]
    assert nb.cells[3].metadata["jupyter"]["source_hidden"] is True
    assert nb.cells[4].metadata["jupyter"]["source_hidden"] is True
    assert nbtools.to_source(nb) == EXERCISE  # source -> notebook -> source, through jupytext
    assert "source_hidden" not in EXERCISE  # the build collapses the cells from their role
    student = nbtools.build_notebook(source, student=True)
    assert [nbtools.role(c) for c in student.cells] == [None, None, "answer", "check"]
    assert "solution_1" not in nbtools.dumps(student) and "wrong:" not in nbtools.dumps(student)
    for marker in ("# %% [raw]", '# %% tags=["check", "solution"]', '# %% tags=["chek"]', "# %% title",
                   '# %% tags=["answer"] jupyter={"source_hidden": true}'):
        with pytest.raises(ValueError, match="line 1: unknown cell marker"):
            nbtools.parse(f"{marker}\nx\n")
    with pytest.raises(ValueError, match=r"line 3: a markdown cell's role can only be solution or full"):
        nbtools.parse('# %%\nx = 1\n# %% [markdown] tags=["check"]\n# text\n')
    with pytest.raises(ValueError, match=re.escape("""line 1: write the role as a tag, '# %% [markdown] tags=["full"]'""")):
        nbtools.parse("# %% [markdown] full\n# text\n")  # the markers before jupytext
    with pytest.raises(ValueError, match="text before the first"):
        nbtools.parse("# ---\n# jupyter:\n# ---\n\n# %%\nx = 1\n")  # a header: not the pairing's settings


@pytest.mark.parametrize("change, message", [
    (("# Check Exercise 1: run this cell\n", ""), "first line"),                 # the check's code shows
    (("# Solution to Exercise 1\n", ""), "first line"),                          # the wrong answers show
    (("# wrong: 1  # a guess\n", ""), "at least two typical wrong answers"),
    (("solution_1 = x + 1", "solution_1 = x + 1\nprint(solution_1)"), "prints nothing"),
    (("solution_1 = x + 1", "solution_1 = x + 1\nbook.check(solution_1, 2, name='s')"), "prints nothing"),
    (("lambda a: a == x + 1", "solution_1"), "must not use a solution"),
    (("answer_1 = None", "answer_1 = 0"), "assigns `answer_<k> = None`"),
    (("solution_1 = x + 1", "solution_2 = x + 1"), "assigns `solution_1"),
    (('# %% tags=["solution"]\n', "# %%\n"), "followed by its solution cell"),
    (("x = 1\n", "x = 1\ny = solution_1\n"), "only the solution cell may use solution_1"),
])
def test_nbtools_rejects_an_exercise_that_breaks_the_rules(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        _nbtools().parse(EXERCISE.replace(*change))


def test_student_edition_leaves_out_every_solution(tmp_path, capsys):
    import nbformat

    nbtools = _nbtools()
    assert "nbtools.py student _build/student" in (PROJECT_ROOT / "Makefile").read_text()
    assert nbtools.student(str(tmp_path)) == 0
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for path in written:
        full = nbformat.read(NOTEBOOK_DIR / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        text = path.read_text()
        assert "solution_" not in text and "# wrong:" not in text, f"{path.name} keeps a solution"
        assert [nbtools.role(c) for c in student.cells].count("solution") == 0
        kept = [nbtools.stub(c.source) if nbtools.role(c) == "scratch" else c.source
                for c in full.cells if nbtools.role(c) not in ("solution", "full")]
        assert [c.source for c in student.cells] == kept, f"{path.name}: only solutions and full-edition cells may go"
        assert [nbtools.role(c) for c in student.cells].count("check") == len(nbtools.exercises(full.cells))
        prose = " ".join(c.source for c in student.cells if c.cell_type == "markdown").lower()
        if path.stem not in ("05_training", "06_visualising_modulations"):  # their prose is rewritten elsewhere
            assert "collapsed solution" not in prose and "compare with ours" not in prose, path.name


def test_stub_keeps_signatures_and_docstrings():
    nbtools = _nbtools()
    source = ('# from scratch: Net\nclass Net(nn.Module):\n    """x (B, 3) -> (B, 1)."""\n\n'
              '    def __init__(self, n=3):\n        """self.fc: Linear(n, 1)."""\n        super().__init__()\n'
              '        self.fc = nn.Linear(n, 1)\n\n    def forward(self, x):\n        return self.fc(x)\n\n\n'
              'def f(x):\n    """x (B,) -> (B,)."""\n    return 2 * x\n\n\nnet = Net()\n')
    assert nbtools.stub(source) == (
        '# from scratch: Net\nclass Net(nn.Module):\n    """x (B, 3) -> (B, 1)."""\n\n'
        '    def __init__(self, n=3):\n        """self.fc: Linear(n, 1)."""\n        super().__init__()\n        ...\n\n'
        '    def forward(self, x):\n        ...\n\n\n'
        'def f(x):\n    """x (B,) -> (B,)."""\n    ...\n\n\nnet = Net()')
    cells = nbtools.parse('# %% tags=["scratch"]\n' + source + '\n# %% [markdown] tags=["full"]\n# Our version is above.\n')
    assert [c["role"] for c in cells] == ["scratch", "full"]


@pytest.mark.slow
def test_student_edition_of_07_asks_for_the_code_and_accepts_it(tmp_path):
    """The student edition of notebook 7 runs to its first check, which says "not answered yet"; with
    the full edition's code in the stub's place the same check says "correct"."""
    import nbformat

    nbtools = _nbtools()
    source = nbtools.SOURCES / "07_csrnet_from_scratch.py"
    student, full = nbtools.build_notebook(source, student=True), nbtools.build_notebook(source)
    first = next(i for i, c in enumerate(student.cells) if nbtools.role(c) == "scratch")
    stub, check = student.cells[first], student.cells[first + 1]
    assert "..." in stub.source and "return" not in stub.source and "book.check(" in check.source
    ours = next(c for c in full.cells if nbtools.role(c) == "scratch")
    student.cells = student.cells[:first + 2] + [nbformat.v4.new_code_cell(ours.source),
                                                 nbformat.v4.new_code_cell(check.source)]
    builder.run(student, NOTEBOOK_DIR, smoke=True, timeout=300)
    verdicts = [c["correct"] if c["answered"] else "not answered" for c in builder.recorded(student)["checks"]]
    assert verdicts == ["not answered", True]
    text = str(student.cells[first + 1].outputs)
    assert "not answered yet" in text


def test_need_in_a_kernel_names_the_cell_without_a_traceback():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from csrnet_lite import book\nbook.setup()"),
                nbformat.v4.new_code_cell('book.need("model", cell="Load the model")'),
                nbformat.v4.new_code_cell("order[:3]")]
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    [error] = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.traceback == ["This cell needs `model`: run the cell 'Load the model' first (and the cells "
                               "above it), then this one again."]
    said = "".join(o.get("text", "") for o in nb.cells[2].outputs)  # any other missing name: what to do
    assert "name 'order' is not defined: if a cell above defines it, run the cells above" in said


# Other forms of each solution, fed to its check in the kernel: the right answer in another form must
# pass; a wrong kind of value must fail (with a hint about the type where the check knows the kind); a
# rounded number must pass or get a hint about decimals.
FORMS = """
import numpy as _np, torch as _torch

def _right_forms(value):
    if isinstance(value, str):
        return [("upper case", value.upper()), ("spaces around", f" {value} ")]
    if isinstance(value, (bool, _np.bool_)) or not isinstance(value, (int, float, _np.number)):
        return []
    forms = [("numpy scalar", _np.float64(value)), ("one-element tensor", _torch.tensor([float(value)], dtype=_torch.float64)),
             ("one-element array", _np.array([value])), ("text", repr(float(value)))]
    if float(value).is_integer():
        forms += [("integral float", float(value)), ("numpy integer", _np.int64(value)), ("text of an int", str(int(value)))]
    return forms

def _wrong_forms(value):
    if isinstance(value, str):
        return [("type: an index", 3)]
    if isinstance(value, (int, float, _np.number)) and not isinstance(value, (bool, _np.bool_)):
        forms = [("type: two numbers", [float(value), float(value)])]
        if round(float(value), 2) != float(value):
            forms.append(("rounded", round(float(value), 2)))
        return forms
    if callable(value):
        return [("type: a number", 3)]
    return []
"""


def _with_trials(nb):
    """A copy of `nb` in which, after each exercise's solution cell, the check is fed the solution,
    each planted wrong answer and other forms of the solution (`FORMS`; each recorded with book.TRIAL
    set), and the answer is then reset to None."""
    import copy

    import nbformat

    nbtools = _nbtools()
    nb = copy.deepcopy(nb)
    cells = []
    exercises = iter(nbtools.exercises(nb.cells))
    for cell in nb.cells:
        cells.append(cell)
        if nbtools.role(cell) != "solution" or cell.cell_type != "code":
            continue
        ex = next(exercises)
        trials = [("solution", ex["solution"])] + [(f"wrong: {w}", w) for w in ex["wrong"]]
        for label, expression in trials:
            cells.append(nbformat.v4.new_code_cell(
                f"from csrnet_lite import book as _book\n_book.TRIAL = {label!r}\n"
                f"{ex['answer']} = (\n{expression}\n)\n{ex['check']}", metadata={"tags": ["trial"]}))
        cells.append(nbformat.v4.new_code_cell(
            f"{FORMS}\nfor _kind, _forms in (('form', _right_forms), ('wrong form', _wrong_forms)):\n"
            f"    for _label, _form in _forms({ex['solution']}):\n"
            f"        _book.TRIAL = f'{{_kind}}: {{_label}}'\n        {ex['answer']} = _form\n"
            f"        exec({ex['check']!r}, globals())", metadata={"tags": ["trial"]}))
        cells.append(nbformat.v4.new_code_cell(f"_book.TRIAL = None\n{ex['answer']} = None",
                                               metadata={"tags": ["trial"]}))
    nb.cells = cells
    return nb


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
    """Execute once per test session, with the exercise trials -> (notebook, seconds); on
    data_samples/ or a FiveK root."""
    import nbformat

    nb = _with_trials(nbformat.read(path, as_version=4))
    seconds = builder.run(nb, path.parent, smoke=True, timeout=600, env={"CSRNET_LITE_FIVEK": fivek_root})
    return nb, seconds


def _check_exercises(nb, path: Path) -> int:
    """Unanswered checks say "not answered yet"; solutions pass; every planted wrong answer fails; other
    forms of the solution pass and wrong kinds of value get a hint about the type (-> how many such
    trials ran); solution and check cells show nothing else (no answer printed by Run All)."""
    nbtools = _nbtools()
    exercises = nbtools.exercises([c for c in nb.cells if "trial" not in c.metadata.get("tags", [])])
    assert exercises, f"{path.name} has no exercise"
    checks = builder.recorded(nb)["checks"]
    own = [entry for cell in nb.cells if nbtools.role(cell) == "check" for out in cell.get("outputs", [])
           if "check" in (entry := out.get("metadata", {}).get(book.META, {}))]
    assert len(own) == len(exercises), f"{path.name}: {len(own)} checks ran for {len(exercises)} exercises"
    code = [c for c in checks if "trial" not in c and c not in own]  # checks of code written from scratch
    assert all(c["correct"] for c in code), f"{path.name}: the notebook's own code fails {code}"
    for c in own:
        assert c["answered"] is False and c["correct"] is False, f"{c['check']}: must start unanswered"
    trials = [c for c in checks if "trial" in c and "form: " not in c["trial"]]
    expected = [t for ex in exercises for t in ["solution"] + [f"wrong: {w}" for w in ex["wrong"]]]
    assert [c["trial"] for c in trials] == expected
    for c in trials:
        if c["trial"] == "solution":
            assert c["correct"], f"{path.name} {c['check']}: the solution fails its own check"
        else:
            assert c["answered"] and not c["correct"], (
                f"{path.name} {c['check']}: the check accepts the planted wrong answer {c['trial'][7:]!r}")
    forms = [c for c in checks if "form: " in c.get("trial", "")]
    for c in forms:
        where = f"{path.name} {c['check']}, {c['trial']}"
        if c["trial"].startswith("form: "):
            assert c["correct"], f"{where}: a right answer in another form is refused"
        elif c["trial"] == "wrong form: rounded":
            assert c["correct"] or c["reason"] == "decimals", f"{where}: no hint about decimals"
        else:
            assert c["answered"] and not c["correct"], f"{where}: accepted"
            assert c["reason"] == "type" or not c["asked"], f"{where}: no hint about the type"
    for cell in nb.cells:
        if nbtools.role(cell) == "solution":
            assert not cell.get("outputs"), f"{path.name}: a solution cell shows output"
        if nbtools.role(cell) == "check":
            for out in cell.get("outputs", []):
                assert book.META in out.get("metadata", {}), f"{path.name}: a check cell shows {out}"
    return len(forms)


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
    forms = _check_exercises(nb, path)
    print(f"{path.stem}: {forms} answers in other forms tried")
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
    _check_exercises(nb, path)
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


@pytest.mark.slow
def test_csrnet_from_scratch_matches_the_authors_weights(shared_weights):
    """With the authors' weights present, the CSRNet written from scratch reproduces the library's output."""
    if official_weights_path() != shared_weights / "csrnet_official.pth":
        pytest.skip(f"CSRNET_LITE_WEIGHTS points elsewhere ({official_weights_path()})")
    values = builder.recorded(_executed(NOTEBOOK_DIR / "07_csrnet_from_scratch.ipynb")[0])["values"]
    assert values["authors_loaded"] is True and values["authors_gap"] < 1e-6


@pytest.mark.slow
def test_visualising_modulations_probes_the_authors_network_when_present(shared_weights):
    """With the authors' weights, notebook 6 states the exposure probe against untrained networks and
    own-vs-mean modulations through their noise thresholds."""
    if official_weights_path() != shared_weights / "csrnet_official.pth":
        pytest.skip(f"CSRNET_LITE_WEIGHTS points elsewhere ({official_weights_path()})")
    values = builder.recorded(_executed(NOTEBOOK_DIR / "06_visualising_modulations.ipynb")[0])["values"]
    assert "untrained network" in values["response_verdict"] and values["lift_threshold"] > 0
    assert "noise ±" in values["own_verdict"] and values["n_better"] + values["n_worse"] <= values["n_photos"]


def test_a_cell_of_06_run_before_its_data_names_the_cell_to_run():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK_DIR / "06_visualising_modulations.ipynb", as_version=4)
    cell = next(c for c in nb.cells if 'book.need("samples", "order"' in c.source)
    nb.cells = [nbformat.v4.new_code_cell("from csrnet_lite import book\nbook.setup()"), cell]
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    [error] = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.traceback == ["This cell needs `samples`, `order`: run the cell 'A trained model' first (and "
                               "the cells above it), then this one again."]


# ---- book.py's helpers, without a kernel ----

def test_check_says_whether_an_answer_is_right(monkeypatch):
    shown = []
    monkeypatch.setattr(book, "display", lambda obj, **kw: shown.append((obj.data, kw)))

    def verdict(*args, **kwargs):
        assert book.check(*args, name="t", **kwargs) is None  # nothing for a cell to print
        return shown[-1][1]["metadata"][book.META]["correct"]

    assert verdict(2.0000001, 2.0) is True
    assert "correct" in shown[-1][0]
    assert verdict(2.1, 2.0, hint="look again") is False
    assert "look again" in shown[-1][0] and "not yet" in shown[-1][0]
    assert verdict(None, 2.0) is False
    assert "not answered yet" in shown[-1][0] and shown[-1][1]["metadata"][book.META]["answered"] is False
    assert verdict(..., 2.0) is False and "not answered yet" in shown[-1][0]
    assert verdict([1, 2], (1.0, 2.0)) is True
    assert verdict([1, 2, 3], (1.0, 2.0)) is False  # wrong shape
    assert verdict(" Contrast ", "contrast") is True
    assert verdict(3, lambda a: a % 2 == 1) is True
    assert verdict("x", lambda a: a.missing) is False  # a raising check is "not yet"
    assert "AttributeError" in shown[-1][0]
    assert "trial" not in shown[-1][1]["metadata"][book.META]
    monkeypatch.setattr(book, "TRIAL", "wrong: 0")
    verdict(0, 1)
    assert shown[-1][1]["metadata"][book.META]["trial"] == "wrong: 0"
    book.say("{n:,} pixels", n=1234567)
    assert shown[-1][0] == "1,234,567 pixels" and shown[-1][1]["metadata"][book.META] == {"values": {"n": 1234567}}


def test_check_accepts_a_right_answer_in_any_reasonable_form(monkeypatch):
    import numpy as np
    import torch

    shown = []
    monkeypatch.setattr(book, "display", lambda obj, **kw: shown.append((obj.data, kw["metadata"][book.META])))

    def verdict(answer, expected, **kwargs):
        book.check(answer, expected, name="t", **kwargs)
        return shown[-1][1]["correct"]

    def is_69(n):
        return isinstance(n, int) and n == 69

    for form in (69, 69.0, np.int64(69), np.float32(69), "69", " 69 ", torch.tensor([69]), np.array([69.0])):
        assert verdict(form, is_69), form
        assert verdict(form, 69), form
    assert not verdict(69.5, is_69) and not verdict("sixty-nine", is_69)
    assert verdict(torch.tensor([3.48]), 3.48, tol=0.01) and verdict("3.48", 3.48, tol=0.01)
    assert verdict("DEFAULT", lambda a: a in ("default", "fast")) and verdict(" Fast", "fast")
    assert verdict("Mixed", lambda a: a == "Mixed")  # the answer as typed is tried first


def test_check_hints_at_the_form_of_a_wrong_answer(monkeypatch):
    shown = []
    monkeypatch.setattr(book, "display", lambda obj, **kw: shown.append((obj.data, kw["metadata"][book.META])))

    def hint(answer, expected, **kwargs):
        book.check(answer, expected, name="t", hint="the maths", **kwargs)
        text, entry = shown[-1]
        assert not entry["correct"]
        return entry["reason"], text

    reason, text = hint(3, "a0212")  # an index where an id is asked
    assert reason == "type" and "expected a name (text)" in text and "got the number 3" in text
    reason, text = hint(3, lambda a: a == "a0212", example="a0101")
    assert reason == "type" and "such as 'a0101'" in text and "the maths" not in text
    reason, text = hint([1.0, 2.0], 1.5)
    assert reason == "type" and "expected a number, got an array of shape (2,)" in text
    reason, text = hint(1.64, 1.6432)  # rounded to 2 decimals
    assert reason == "decimals" and "2 decimals" in text
    reason, text = hint(0.1, 0.0996, tol=1e-4)  # round(0.0996, 2) shows one decimal
    assert reason == "decimals" and "1 decimal" in text
    reason, text = hint(1.64, lambda f: abs(f * 0.30437 - 0.5) < 1e-4)  # the same through a function
    assert reason == "decimals"
    reason, text = hint(1.5, 1.6432)  # wrong, not rounded: the exercise's own hint
    assert reason is None and "the maths" in text
    reason, text = hint(1.6432, lambda f: f.missing)  # a raising check says what it raised
    assert reason is None and "AttributeError" in text
    assert shown[-1][1]["asked"] is None  # a function without an example: the kind asked is unknown


def test_need_names_the_cell_to_run_first():
    model = 1  # noqa: F841  (a local: need() looks at the cell's globals, as a notebook's namespace)
    with pytest.raises(book.RunFirst, match="needs `not_defined_here`: run the cell 'Load the data' first"):
        book.need("book", "not_defined_here", cell="Load the data")
    book.need("book", "pytest", cell="Set-up")  # defined: nothing happens
    error = book.RunFirst("run the cell 'x' first")
    assert error._render_traceback_() == ["run the cell 'x' first"]  # Jupyter shows no traceback


def test_compare_has_a_threshold():
    assert book.compare(0.6498, 0.6492, 0.01) == "no clear difference"
    assert book.compare(0.70, 0.65, 0.01) == "more" and book.compare(0.60, 0.65, 0.01) == "less"
    assert book.compare(0.655, 0.65, 0.01) == "no clear difference"  # within the threshold
    assert book.compare(2.0, 1.0, 0.5, more="brighter", less="darker") == "brighter"
    with pytest.raises(ValueError):
        book.compare(1, 2, -1)


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

    x = synthetic_photo(64)
    check_image(x)
    assert x.shape == (1, 3, 64, 64) and x.std() > 0.1
    assert torch_equal(x, synthetic_photo(64))  # reproducible


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_fivek_notebook_says_in_its_title_which_data_it_runs_on():
    import nbformat

    nb = nbformat.read(NOTEBOOK_DIR / "04_fivek_subset.ipynb", as_version=4)
    title = nb.cells[0].source
    assert "data_samples/" in title and "CSRNET_LITE_FIVEK" in title
    assert "book.about()" in nb.cells[1].source and "describe_root()" in inspect.getsource(book.about)
