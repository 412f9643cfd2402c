"""The examples in the docstrings of the teaching core run, and say what they show."""
from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

CORE = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "csrnet_lite").glob("*.py")
              if p.stem not in ("__init__", "__main__"))


def run_examples(name: str) -> doctest.TestResults:
    module = importlib.import_module(f"csrnet_lite.{name}")
    return doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples_run(name):
    results = run_examples(name)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in csrnet_lite/{name}.py failed"


def test_the_core_has_examples():
    examples = sum(run_examples(name).attempted for name in CORE)
    documented = sum(1 for name in CORE for test in doctest.DocTestFinder().find(importlib.import_module(
        f"csrnet_lite.{name}")) if test.examples)
    assert examples >= 40 and documented >= 20, (examples, documented)
