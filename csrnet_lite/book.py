"""Helpers the notebooks call: seeds and smoke mode, numbers the prose states, exercise checks.

In a notebook:

    from csrnet_lite import book
    book.about()                                        # versions, data, smoke mode (the set-up cell)
    book.setup()                                        # seeds, run timer
    book.say("The model has **{n:,}** parameters.", n=count_parameters(model))
    book.check(answer_1, expected, name="Exercise 1")   # tells the reader whether the answer is right
    book.need("model", cell="Load the model")           # a cell run too early says which cell to run

`say` and `check` also record their values in the output's metadata (key "csrnet_lite"), so the test
suite reads the numbers the prose states from the executed notebook instead of parsing text.

`csrnet_lite.tools.html_book` executes the notebooks and builds the HTML book from them.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`).
"""
from __future__ import annotations

import ast
import inspect
import platform
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from IPython import get_ipython
from IPython.display import Markdown, display

from . import __version__, settings
from .data import describe_root
from .plots import show_figures_in_notebooks
from .settings import smoke_mode

META = "csrnet_lite"  # key of our entries in an output's metadata
HIDE_INPUT = "hide-input-in-book"  # cell tag: the HTML copy shows the cell's outputs only
_START = time.perf_counter()


def about() -> None:
    """Print what this notebook runs on: the versions, where the package is, the data and smoke mode.

    The set-up cell at the top of every notebook calls it, after installing the package if missing.
    """
    where = f"the clone {settings.CHECKOUT}" if settings.CHECKOUT else f"installed in {settings.PACKAGE}"
    print(f"csrnet-lite {__version__} ({where}), torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print(describe_root())
    print("smoke mode (CSRNET_LITE_SMOKE=1): small images and short runs, for the test suite" if smoke_mode()
          else "full mode: the sizes and run lengths the text describes (CSRNET_LITE_SMOKE=1 for a quick run)")


def setup(seed: int = 0) -> None:
    """Seed numpy and torch, restart the run timer, show returned figures."""
    global _START
    show_figures_in_notebooks()
    shell = get_ipython()  # None outside IPython
    if shell is not None:  # a name from a cell not run yet: say what to do instead of a traceback
        shell.set_custom_exc((NameError,), _name_error_hint)
    _START = time.perf_counter()
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick(full, smoke):
    """`smoke` in smoke mode, else `full` (e.g. an image size or a number of steps)."""
    return smoke if smoke_mode() else full


def run_dir(name: str) -> Path:
    """settings.runs_dir()/notebooks/<name>-<smoke|full>/, created: where a notebook keeps checkpoints
    (runs/ of a clone, ignored by git; else runs/ in the working folder, never in the installed package).

    Smoke and full runs keep separate folders, so a quick test run never stands in for a real one.
    """
    path = settings.runs_dir() / "notebooks" / f"{name}-{'smoke' if smoke_mode() else 'full'}"
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
    display(Markdown(text.format(**values)), metadata={META: {"values": _plain(values)}})


def compare(a: float, b: float, threshold: float, *, more: str = "more", less: str = "less",
            same: str = "no clear difference") -> str:
    """Words for a against b: `more` when a exceeds b by more than `threshold`, `less` when b exceeds
    a by more than it, else `same`. Every generated sentence that compares two numbers goes through
    here, with a threshold at the size of the noise (rounding, seeds, a visible step).

    >>> compare(0.6498, 0.6492, 0.01, more="stronger", less="weaker")
    'no clear difference'
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if a - b > threshold:
        return more
    if b - a > threshold:
        return less
    return same


def answer_forms(answer: Any) -> list:
    """The forms of `answer` that `check` tries, the answer itself first: a one-element tensor or array
    as its number, a numpy scalar as a Python one, an integral float as an int, a string of a number as
    the number, any other string stripped and in lower case.

    >>> answer_forms(np.float64(69.0))
    [np.float64(69.0), 69.0, 69]
    >>> answer_forms(" Default ")
    [' Default ', 'Default', 'default']
    """
    forms = [answer]
    value = answer.detach().cpu().numpy() if isinstance(answer, torch.Tensor) else answer
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            return forms + [t for t in (text, text.lower()) if t != answer]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        forms += [value] if value is not answer else []
        if isinstance(value, float) and value.is_integer():
            forms.append(int(value))
    return forms


def _kind(value: Any) -> str:
    """What a value is, in words: 'a number', 'a name (text)', 'an array of shape (3,)', 'a function'..."""
    if callable(value) and not isinstance(value, torch.Tensor):
        return "a function"
    if isinstance(value, str):
        try:
            float(value)
            return "a number"
        except ValueError:
            return "a name (text)"
    if isinstance(value, bool):
        return "True or False"
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError):
        return f"a {type(value).__name__}"
    return "a number" if array.size == 1 else f"an array of shape {array.shape}"


def _shown(value: Any) -> str:
    """A wrong answer as a hint shows it: 'the number 3', 'the text 'abc'', 'an array of shape (3,)'."""
    kind = _kind(value)
    shown = {"a number": f"the number {answer_forms(value)[-1]!r}", "a name (text)": f"the text {value!r}"}
    return shown.get(kind, kind)


def _matches(answer: Any, expected: Any, tol: float) -> bool:
    """Whether one form of an answer is right (see `check`)."""
    if callable(expected):
        return bool(expected(answer))
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().cpu().numpy()
    try:
        a = np.asarray(answer, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return answer == expected
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=0, atol=tol))


class NotWritten(Exception):
    """Raised by `written` inside a check: the code to check is still a stub."""


def written(value: Any) -> Any:
    """`value`, unless it is what a stub returns (None or ...): then the check says "not answered yet".

    A check of code written from scratch passes the student's result through it:
    `book.check(gfm, lambda f: book.written(f(x, scale, shift)).shape == x.shape, name="gfm")`.
    """
    if value is None or value is Ellipsis:
        raise NotWritten
    return value


def _judge(answer: Any, expected: Any, tol: float) -> tuple[bool, str | None]:
    """(correct, error): correct when any form of the answer matches; error: what checking the answer
    itself raised (None when it did not raise)."""
    error = None
    for i, form in enumerate(answer_forms(answer)):
        try:
            if _matches(form, expected, tol):
                return True, None
        except NotWritten:
            raise
        except Exception as e:  # the reader's function raised: reported when no form passes
            if i == 0:
                error = f"checking it raised {type(e).__name__}: {e}"
    return False, error


def _rounded(answer: Any, expected: Any, tol: float) -> int | None:
    """The decimals of `answer` (at most 4) when it is the right answer rounded (it matches a value
    within half a unit of its last decimal), else None."""
    number, text = answer_forms(answer)[-1], repr(answer_forms(answer)[-1])
    digits = len(text.split(".")[1]) if isinstance(number, float) and "." in text and "e" not in text else 9
    if digits > 4:
        return None
    half = 0.5 * 10.0 ** -digits
    if not callable(expected):  # a value: is it within half a unit (and the tolerance) of the answer?
        e = np.asarray(expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected, dtype=float)
        return digits if e.size == 1 and abs(number - float(e.reshape(()))) <= half + tol else None
    for near in np.linspace(number - half, number + half, 101):
        try:
            if _matches(float(near), expected, tol):
                return digits
        except Exception:
            return None
    return None


def _hint(answer: Any, expected: Any, tol: float, example: Any) -> tuple[str | None, str]:
    """(reason, hint) for a wrong answer whose *form* is the problem: ("type", ...) when it is another
    kind of value than asked, ("decimals", ...) when it is the right number rounded; else (None, "")."""
    model = example if example is not None else (None if callable(expected) else expected)
    if model is not None and _kind(model) != _kind(answer) and not (
            _kind(model).startswith("an array") and _kind(answer).startswith("an array")):
        such = f" such as {example!r}" if example is not None else ""
        return "type", f"expected {_kind(model)}{such}, got {_shown(answer)}."
    if model is not None and _kind(model) != _kind(answer):
        return "type", f"expected {_kind(model)}, got {_kind(answer)}."
    if (digits := _rounded(answer, expected, tol)) is not None:
        return "decimals", (f"your number is rounded to {digits} decimal{'s' * (digits != 1)}; give the value "
                            "itself (the expression that computes it, or more decimals).")
    return None, ""


TRIAL = None  # set by the test suite while it feeds a planted answer to a check; recorded with it


def check(answer: Any, expected: Any, *, name: str, tol: float = 1e-6, hint: str = "",
          example: Any = None) -> None:
    """Tell the reader whether `answer` is right: "correct", "not yet" (with a hint) or "not answered yet".

    `expected` is a value (numbers and arrays are compared within `tol`, strings ignoring case) or a
    function answer -> bool; prefer a function that checks a property of the answer (it does not give the
    answer away). A right answer counts in any reasonable form (`answer_forms`: 69.0, np.int64(69), "69",
    a one-element tensor; "DEFAULT" for "default"). An answer of another kind than asked gets a hint
    about its type: name it with `example` (a value of the asked kind that is not the answer, e.g. an id
    'a0212') when `expected` is a function. A right number rounded too far gets a hint about decimals.
    An answer of None or ... counts as "not answered yet". Returns nothing, so that a check cell shows
    the verdict only; the verdict is recorded in the output's metadata for the test suite.
    """
    answered = answer is not None and answer is not Ellipsis
    try:
        correct, error = _judge(answer, expected, tol) if answered else (False, None)
    except NotWritten:  # code from scratch that is still a stub
        answered, correct, error = False, False, None
    reason = None
    if answered and not correct:
        reason, form_hint = _hint(answer, expected, tol, example)
        hint = form_hint or error or hint
    if not answered:
        text = (f"**{name}:** not answered yet. Write your answer in the cell above (or the code it asks for) "
                "and run this cell again.")
    elif correct:
        text = f"**{name}:** ✅ correct."
    else:
        text = f"**{name}:** ❌ not yet." + (f" Hint: {hint}" if hint else "")
    model = example if example is not None else (None if callable(expected) else expected)
    entry = {"check": name, "answered": answered, "correct": bool(correct), "reason": reason,
             "asked": None if model is None else _kind(model)}  # what the check knows it asks for
    if TRIAL is not None:
        entry["trial"] = TRIAL
    display(Markdown(text), metadata={META: entry})


class RunFirst(Exception):
    """A cell needs names an earlier cell defines. Jupyter shows only the message, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [str(self)]


def need(*names: str, cell: str) -> None:
    """Stop a cell that needs `names` (defined by the earlier cell titled `cell`) when they are not
    defined yet, with a message that names the cell to run first instead of a NameError.

    In a notebook, as the first line of a cell: `book.need("model", "photo", cell="Load the data")`.
    """
    namespace = inspect.currentframe().f_back.f_globals
    missing = [n for n in names if n not in namespace]
    if missing:
        listed = ", ".join(f"`{n}`" for n in missing)
        raise RunFirst(f"This cell needs {listed}: run the cell '{cell}' first (and the cells above it), "
                       "then this one again.")


def _name_error_hint(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for a NameError in a notebook: the error, then what to do about it."""
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    print(f"{value}: if a cell above defines it, run the cells above this one in order "
          "(Run > Run All Above Selected Cell), then this one again.")


def code_lines(obj: Any) -> int:
    """Lines of code of a function or class: its source without blank lines, comments and docstrings.

    >>> def twice(x):
    ...     "Twice x."
    ...     return 2 * x  # a comment line below does not count
    >>> code_lines(twice)
    2
    """
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):  # a class defined in a notebook cell: Python keeps only its methods' source
        if not inspect.isclass(obj):
            raise
        return 1 + sum(code_lines(f) for f in vars(obj).values() if inspect.isfunction(f))
    docstrings = {line for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and ast.get_docstring(node)
                  for line in range(node.body[0].lineno, node.body[0].end_lineno + 1)}
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def show_source(obj: Any) -> None:
    """Display the source code of a library function or class (never paste it into a notebook)."""
    display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))
