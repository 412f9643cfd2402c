"""The input checks of `ops.py`'s operators, in one place, so that each operator reads as its formula.

    @checked(factor=number("brightness factor"))
    def brightness(x, factor):
        return x * factor      # x: float32 (B, 3, H, W), finite, within +-CHAIN_LIMIT; factor: a float >= 0

Every failure is a ValueError (TypeError for a wrong dtype) that names the argument and says what it
must be, raised before any work.

Introduced in notebook 01 (`01_retouching_is_a_colour_map`), with the operators.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers

import torch

from .image import check_image

CHAIN_LIMIT = 4.0  # operators chain, so inputs may leave [0, 1]; beyond +-4 they are 0..255 data or a bug


def checked(**checks):
    """The operators' one entry: a decorator that checks `x` (`_check`) and each argument named in
    `checks` (name -> check(value, x) -> the value to use; None stays None) before the body runs,
    so that each body is only its formula. Errors name the argument and say what it must be."""
    def decorate(op):
        signature = inspect.signature(op)

        @functools.wraps(op)
        def run(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            values = bound.arguments
            if "x" in values:
                values["x"] = _check(values["x"])
            for name, check in checks.items():
                if values.get(name) is not None:  # an argument left at None: the operator's default
                    values[name] = check(values[name], values.get("x"))
            return op(*bound.args, **bound.kwargs)
        return run
    return decorate


def number(name: str, minimum: float | None = 0.0):
    """check(value, x) for a finite number >= minimum (None: any) called `name` in its error."""
    return lambda value, x: _number(value, name, minimum=minimum)


def per_channel(name: str, minimum: float | None):
    """check(value, x) for one number or 3 (R, G, B) -> float32 tensor (3,)."""
    return lambda value, x: _per_channel(value, name, minimum=minimum)


def one_per_image(mean: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
    """check(mean, x): a tensor (B,), one value per image of x (any B without x) -> float32."""
    return _mean(mean, None if x is None else x.shape[0])


def grey_image(grey: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """check(grey, x): a tensor (B, 1, H, W), one grey value per pixel of x."""
    expected = (x.shape[0], 1, *x.shape[2:])
    if not isinstance(grey, torch.Tensor) or grey.shape != expected:
        raise ValueError(f"grey must be a tensor of shape {expected}, got {shape_of(grey)}")
    return grey


def tone_curve_knots(knots_in, knots_out) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate tone-curve knots -> float64 tensors (3, K), one row per channel R, G, B."""
    xs, ys = (torch.as_tensor(k, dtype=torch.float64) for k in (knots_in, knots_out))
    if xs.shape != ys.shape or xs.ndim not in (1, 2) or (xs.ndim == 2 and xs.shape[0] != 3) or xs.shape[-1] < 2:
        raise ValueError(f"knots_in and knots_out must both have shape (K,) or (3, K) with K >= 2, "
                         f"got {tuple(xs.shape)} and {tuple(ys.shape)}")
    if not (torch.isfinite(xs).all() and torch.isfinite(ys).all()):
        raise ValueError("tone-curve knots must be finite numbers")
    xs, ys = xs.expand(3, -1), ys.expand(3, -1)  # (K,) -> (3, K): the same curve for R, G, B
    if (xs.diff(dim=1) <= 0).any():
        bad = xs[(xs.diff(dim=1) <= 0).any(dim=1)][0]
        raise ValueError(f"knots_in must be strictly increasing, got {[round(v, 6) for v in bad.tolist()]}")
    return xs, ys


def _check(x: torch.Tensor) -> torch.Tensor:
    """x must be a float32 (B, 3, H, W) tensor of finite values within +-CHAIN_LIMIT (operators chain
    like convolutions, so values a little outside [0, 1] are fine)."""
    check_image(x, "x", check_range=False)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError("x holds NaN or infinite values; the operators take colours in [0, 1]")
    if x.numel() and float(x.abs().max()) > CHAIN_LIMIT:
        lo, hi = float(x.min()), float(x.max())
        raise ValueError(f"x values span [{lo:.4g}, {hi:.4g}]; the operators take colours in [0, 1] "
                         f"(chained results up to +-{CHAIN_LIMIT:g}): divide 8-bit data by 255")
    return x


def _number(value: float | torch.Tensor, name: str, *, minimum: float | None = 0.0) -> float | torch.Tensor:
    """A finite real number >= minimum (None: any) as a float, else a ValueError naming it.

    A 0-dim tensor (e.g. a factor being fitted, with requires_grad) is returned as it is, so that the
    forms of the operators compose into differentiable chains (`analysis.operator_chain`).
    """
    if isinstance(value, torch.Tensor) and value.ndim == 0 and value.is_floating_point():
        return value
    if not isinstance(value, numbers.Real) or not math.isfinite(value) or (minimum is not None and value < minimum):
        expected = "a finite number" + ("" if minimum is None else f" >= {minimum:g}")
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def shape_of(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _per_channel(value, name: str, *, minimum: float | None) -> torch.Tensor:
    """A number or 3 numbers -> float32 tensor (3,), each checked like `_number`; a floating tensor
    (3,) is returned as it is (see `_number`)."""
    if isinstance(value, torch.Tensor) and value.shape == (3,) and value.is_floating_point():
        return value
    values = [value] * 3 if isinstance(value, numbers.Real) else list(torch.as_tensor(value).flatten().tolist())
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or 3 (R, G, B), got {len(values)}: {value!r}")
    return torch.tensor([_number(v, f"{name} entry", minimum=minimum) for v in values])


def _mean(mean: torch.Tensor, batch: int | None) -> torch.Tensor:
    if not isinstance(mean, torch.Tensor) or mean.ndim != 1 or (batch is not None and len(mean) != batch):
        raise ValueError(f"mean must be a tensor of shape ({batch or 'B'},), one value per image, "
                         f"got {shape_of(mean)}")
    return mean.float()
