"""Shared fixtures. Data from ../shared is research-only: tests read it in place, never copy it.

A test that needs ../shared skips when it is absent, except under CI=true, where it fails.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Matplotlib's font cache (normally ~/.cache/matplotlib) records absolute font paths inside the
# environment that built it; another or a deleted environment then makes every figure warn about
# missing fonts. Each environment gets its own cache; notebook kernels inherit this variable.
os.environ.setdefault("MPLCONFIGDIR", str(Path(sys.prefix) / "matplotlib-cache"))

from csrnet_lite.settings import SHARED

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(path: Path, what: str) -> Path:
    """Return `path`, or skip (fail under CI=true) when it does not exist."""
    if not path.exists():
        message = f"{what} not found at {path}"
        if IN_CI:
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_fivek() -> Path:
    """../shared/fivek: 23 real FiveK input/expert-C pairs and pairs.tsv."""
    return require(SHARED / "fivek" / "pairs.tsv", "the shared FiveK pairs").parent


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """../shared/weights: the authors' csrnet_official.pth and reference_outputs/*.npz."""
    return require(SHARED / "weights" / "csrnet_official.pth", "the authors' CSRNet weights").parent
