"""Where things are and how big to run, read from the environment in one place.

CSRNET_LITE_SMOKE=1      smoke mode: tiny images and few steps, so the test suite can execute every
                         notebook in minutes (the notebooks say when they run in smoke mode)
CSRNET_LITE_FIVEK=DIR    a real MIT-Adobe FiveK root; the notebooks use `data_samples/` without it
CSRNET_LITE_WEIGHTS=FILE the authors' released CSRNet weights (csrnet.pth)
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_SAMPLES = PROJECT_ROOT / "data_samples"
# ../shared beside the checkout holds research-only data for tests and benches (never copied in).
SHARED = PROJECT_ROOT.parent / "shared"


def smoke_mode() -> bool:
    """True when CSRNET_LITE_SMOKE is set to anything but '', '0' or 'false'."""
    return os.environ.get("CSRNET_LITE_SMOKE", "").strip().lower() not in ("", "0", "false", "no")


def fivek_root() -> Path | None:
    """The FiveK root named by CSRNET_LITE_FIVEK, or None when unset."""
    value = os.environ.get("CSRNET_LITE_FIVEK", "").strip()
    return Path(value).expanduser() if value else None


def official_weights_path() -> Path:
    """CSRNET_LITE_WEIGHTS, else ../shared/weights/csrnet_official.pth, else ./csrnet.pth."""
    value = os.environ.get("CSRNET_LITE_WEIGHTS", "").strip()
    if value:
        return Path(value).expanduser()
    shared = SHARED / "weights" / "csrnet_official.pth"
    return shared if shared.exists() else PROJECT_ROOT / "csrnet.pth"
