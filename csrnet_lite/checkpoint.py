"""Model files: the one reader, the one writer, and the authors' released weights.

    model, view = load_model("runs/fast.pt")   any model file -> CSRNet (eval mode) and what its
                                               condition network saw in training (an `model.CondView`)
    model = load_official()                    the authors' csrnet.pth, checked by its sha256
    save_checkpoint(path, model, optimizer, step, config, history, rng)   written by `train`
    state = load_checkpoint(path)              a training checkpoint in full, to resume from

A model file is a csrnet-lite training checkpoint (a dict with "format", "config", "model", ...) or a
bare CSRNet state_dict such as the authors' `csrnet.pth`. A bare state_dict follows the authors'
convention: their condition network looked at whole photos of long edge ~500 px, so it is shown
`CondView.LONG_512` (`OFFICIAL_VIEW`), the same in `evaluate` and in `retouch`. A checkpoint records
its TrainConfig, and its model is shown the view it trained on (`CondView.trained_on`).
Every file is read by `_read`, the one `torch.load` of the package (weights only, no pickled code).

Introduced in notebook 03 (`03_building_csrnet`).
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
import warnings
from pathlib import Path

import torch

from .files import atomic_path, sha256
from .model import CondView, CSRNet
from .recipes import MAX_THUMB, History, TrainConfig
from .settings import official_weights_path

OFFICIAL_URL = "https://github.com/hejingwenhejingwen/CSRNet/raw/master/experiments/pretrain_models/csrnet.pth"
OFFICIAL_SHA256 = "22f905d2a0205df4f41d08439350b94b33c8685564f4e53855e6ee593f860747"
OFFICIAL_VIEW = CondView.LONG_512  # the authors trained on whole FiveK photos of long edge ~500 px

CHECKPOINT_FORMAT = "csrnet-lite/train-checkpoint"
CHECKPOINT_VERSION = 1

# Config fields that may differ between a checkpoint and the run that resumes it (they say when to
# stop, where to run and how to report, not what is trained).
RESUMABLE_FIELDS = {"steps", "minutes", "device", "checkpoint_minutes", "progress"}
# What resuming needs besides the weights, as messages name it.
RESUME_STATE = {"optimizer": "the optimiser state ('optimizer')", "history": "the training history ('history')"}


def _read(path: Path):
    """torch.load of a model file on the CPU without ever running code from it (weights_only=True).

    Raises FileNotFoundError, or ValueError with a short reason for anything torch cannot read that
    way (random bytes, a photo, a pickle of foreign classes), never torch's advice to load unsafely.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol notes that mean nothing to a user
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip files, not a torch file at all
        raise ValueError(f"cannot read {path} as CSRNet weights ({_load_failure(e)}); use a file saved by "
                         "csrnet-lite or torch.save(model.state_dict(), ...). csrnet-lite never runs code "
                         "from a weights file.") from None


def _load_failure(e: Exception) -> str:
    """The reason in a torch.load error, without its advice to turn off weights_only (unsafe)."""
    text = str(e).split("WeightsUnpickler error:", 1)[-1]
    for line in (part.strip() for part in text.splitlines()):
        if line and not re.search(r"weights_only|safe_globals|Weights only load|documentation", line):
            return re.split(r"\.?\s+Please\b", line)[0][:160]
    return type(e).__name__


def load_model(path: str | os.PathLike) -> tuple[CSRNet, CondView]:
    """A CSRNet (eval mode) from a model file, and the view its condition network was trained on.

    A csrnet-lite checkpoint: its "model" weights and `CondView.trained_on(config.thumb_size)`;
    a bare state_dict: the authors' convention, `OFFICIAL_VIEW` (module docstring).
    """
    path = Path(path)
    state = _read(path)
    config = state.get("config") if isinstance(state, dict) else None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a csrnet-lite training checkpoint
    model = _csrnet(state, path)
    if isinstance(config, dict) and "thumb_size" in config:
        return model, CondView.trained_on(_thumb_size(config["thumb_size"], path))
    return model, OFFICIAL_VIEW


def _thumb_size(value, path) -> int | None:
    """A stored condition size, bounded before anything is sized by it (a damaged file could say 30000)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_THUMB):
        return value
    raise ValueError(f"{path} stores a condition size (thumb_size) of {value!r}, where csrnet-lite trains "
                     f"with 1 to {MAX_THUMB} or None; the file is damaged or not from csrnet-lite")


def _csrnet(state, path: Path) -> CSRNet:
    """A default-size CSRNet (eval mode) with the weights of `state`, or a ValueError naming `path`."""
    model = CSRNet()
    model.load_state_dict(_check_state_dict(state, path), strict=True)
    return model.eval()


def _check_state_dict(state, path) -> dict[str, torch.Tensor]:
    """Raise ValueError unless `state` is a finite state_dict of a default-size CSRNet -> state."""
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a CSRNet state_dict")
    expected = CSRNet().state_dict()
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ValueError(f"{path} is not a CSRNet state_dict: {not_tensors[:4]} hold no tensors")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        details = "; ".join(part for part in (
            missing and f"missing keys {missing[:4]}{'...' if len(missing) > 4 else ''}",
            unexpected and f"unexpected keys {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}",
            wrong and f"wrong shapes for {wrong[:4]}") if part)
        raise ValueError(f"{path} is not a CSRNet checkpoint with default sizes: {details}")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ValueError(f"{path} holds NaN or infinite weights (a diverged training run?)")
    return state


def load_official(path: str | os.PathLike | None = None, *, check_sha256: bool = True) -> CSRNet:
    """A CSRNet with the authors' released weights (`csrnet.pth`, 149,316 bytes).

    `path` defaults to `settings.official_weights_path()`. Raises FileNotFoundError with the download
    command when the file is missing, and ValueError when it is not the authors' file.
    """
    path = Path(path) if path is not None else official_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the authors' CSRNet weights are not at {path}. Download them (150 kB) with\n"
            "    python -m csrnet_lite data weights\n"
            f"(or curl -L -o {path} {OFFICIAL_URL}), or set CSRNET_LITE_WEIGHTS to where you keep them.")
    if check_sha256 and (digest := sha256(path)) != OFFICIAL_SHA256:
        raise ValueError(f"{path} is not the authors' csrnet.pth: sha256 {digest[:12]}... instead of "
                         f"{OFFICIAL_SHA256[:12]}...; download it again from {OFFICIAL_URL}, "
                         "or pass check_sha256=False to load a compatible state_dict anyway")
    return _csrnet(_read(path), path)


def save_checkpoint(path, model: CSRNet, optimizer: torch.optim.Optimizer, step: int, config: TrainConfig,
                    history: History, rng: torch.Tensor, average: CSRNet | None = None,
                    start: CSRNet | None = None) -> Path:
    """Write a training checkpoint atomically (a crash never leaves a half-written file).

    "model" holds the weights to use (the running average when `average` is given, else `model`'s),
    so `load_model` reads any checkpoint; "weights" holds the trained weights themselves; "start", when
    given, the run's starting weights (`TrainConfig.keep_start` compares with them at the end).
    """
    cpu = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()}  # noqa: E731
    state = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "config": dataclasses.asdict(config), "step": step,
        "model": cpu(average if average is not None else model), "weights": cpu(model),
        "optimizer": optimizer.state_dict(), "history": dataclasses.asdict(history), "rng": rng,
    } | ({"start": cpu(start)} if start is not None else {})
    buffer = io.BytesIO()  # serialised in memory first: a full disk is then a plain OSError (ENOSPC)
    torch.save(state, buffer)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return path


def load_checkpoint(path) -> dict:
    """Read a training checkpoint written by `save_checkpoint`, with clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = _read(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        hint = (" It looks like a plain state_dict (e.g. the authors' csrnet.pth): to fine-tune from it, "
                "train with --official PATH instead of --resume (in Python: TrainConfig.finetune(PATH))."
                if isinstance(state, dict) and "conv1.weight" in state else "")
        raise ValueError(f"{path} is not a csrnet-lite training checkpoint.{hint}")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {state.get('version')}; this "
                         f"csrnet-lite reads version {CHECKPOINT_VERSION}")
    for key in ("model", "weights") + (("start",) if "start" in state else ()):  # "start": keep_start's
        _check_state_dict(state.get(key), f"{path} ({key!r} entry)")
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("step"), int) or state["step"] < 0:
        raise ValueError(f"{path} is a damaged csrnet-lite checkpoint (no config or step); start a new run")
    _thumb_size(state["config"].get("thumb_size"), path)
    missing = [name for key, name in RESUME_STATE.items() if not isinstance(state.get(key), dict)]
    missing += ["the random generator's state ('rng')"] * (not isinstance(state.get("rng"), torch.Tensor))
    if missing:
        raise ValueError(f"{path} lacks {' and '.join(missing)}, so its training cannot be resumed; use it "
                         "as --model (evaluate, retouch), or start a new run (--overwrite)")
    return state


def config_from_checkpoint(state: dict) -> TrainConfig:
    """The TrainConfig stored in a checkpoint (as returned by `load_checkpoint`)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in state["config"].items() if k in known}
    for key in ("betas", "ridge"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def check_same_training(path, saved: TrainConfig, config: TrainConfig) -> None:
    differ = [f.name for f in dataclasses.fields(TrainConfig)
              if f.name not in RESUMABLE_FIELDS and getattr(saved, f.name) != getattr(config, f.name)]
    if differ:
        detail = ", ".join(f"{k}: checkpoint {getattr(saved, k)!r} vs now {getattr(config, k)!r}"
                           for k in differ)
        raise ValueError(f"{path} was trained with another config ({detail}). Resume with the same "
                         f"settings (only {sorted(RESUMABLE_FIELDS)} may change), or start a new run.")
