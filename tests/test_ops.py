"""Retouching operators: each equals its conv/GFM form, Pillow is reproduced, chains collapse."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import ImageEnhance

from csrnet_lite import ops
from csrnet_lite.image import load_image, quantize, to_pil, to_tensor

TOL = 1e-6


def random_image(batch: int = 2, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


# ---- each operator equals its form ----

@pytest.mark.parametrize("op, form", [
    (lambda x: ops.brightness(x, 1.7), ops.brightness_as_conv(1.7)),
    (lambda x: ops.brightness(x, 0.3), ops.brightness_as_gfm(0.3, batch=2)),
    (lambda x: ops.offset(x, -0.1), ops.offset_as_conv(-0.1)),
    (lambda x: ops.offset(x, (0.1, 0.0, -0.05)), ops.offset_as_conv((0.1, 0.0, -0.05))),
    (lambda x: ops.exposure(x, -0.7), ops.exposure_as_conv(-0.7)),
    (lambda x: ops.white_balance(x, (1.2, 1.0, 0.8)), ops.white_balance_as_conv((1.2, 1.0, 0.8))),
    (lambda x: ops.saturation(x, 0.0), ops.saturation_as_conv(0.0)),
    (lambda x: ops.saturation(x, 1.6), ops.saturation_as_conv(1.6)),
], ids=["brightness-conv", "brightness-gfm", "offset", "offset-rgb", "exposure", "white-balance",
        "saturation-0", "saturation-1.6"])
def test_operator_equals_its_form(op, form):
    x = random_image()
    apply = ops.apply_conv if isinstance(form, ops.ConvForm) else ops.apply_gfm
    assert max_diff(op(x), apply(x, form)) < TOL


@pytest.mark.parametrize("factor", [0.0, 0.4, 1.0, 1.8])
def test_contrast_is_a_gfm_driven_by_a_global_statistic(factor):
    x = random_image(batch=3)
    x[1] *= 0.3  # a dark image: its own mean, hence its own shift
    mean = ops.mean_luminance(x)  # the "condition network": one number per image
    assert mean.shape == (3,)
    form = ops.contrast_as_gfm(factor, mean)
    assert max_diff(ops.contrast(x, factor), ops.apply_gfm(x, form)) < TOL
    assert torch.equal(form.scale, torch.full((3, 3), factor - 1.0))
    assert max_diff(form.shift, (1 - factor) * mean[:, None].expand(3, 3)) < TOL


def tone_curve_cases(n: int = 30, seed: int = 1):
    """Random curves, shared or per channel, 2 to 16 knots at least 0.04 apart, outputs in [-0.1, 1.1]:
    every third one wiggles up and down, the rest are monotone like everyday tone curves. Fixed seed."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        k = int(rng.integers(2, 17))
        shape = (k,) if i % 2 else (3, k)
        gaps = rng.uniform(0.05, 1.0, size=shape[:-1] + (k - 1,))
        start = np.zeros(shape[:-1] + (1,))
        knots_in = np.concatenate([start, np.cumsum(gaps, -1) / gaps.sum(-1, keepdims=True)], -1)
        knots_in = knots_in * (1 - 0.04 * (k - 1)) + 0.04 * np.arange(k)  # gaps >= 0.04, from 0 to 1
        knots_out = rng.uniform(-0.1, 1.1, size=shape)
        yield knots_in, (knots_out if i % 3 == 0 else np.sort(knots_out, axis=-1))


EVERYDAY_CURVES = {  # (knots_in, knots_out)
    "s-curve": ([0, 0.25, 0.5, 0.75, 1], [0, 0.18, 0.5, 0.82, 1]),
    "gamma-0.6": (np.linspace(0, 1, 21), np.linspace(0, 1, 21) ** 0.6),
    "lift-blacks": ([0, 0.1, 1], [0.05, 0.12, 1]),
    "per-channel": ([[0, 0.5, 1], [0, 0.4, 1], [0, 0.6, 1]], [[0, 0.6, 1], [0, 0.4, 0.95], [0.05, 0.5, 1]]),
}


def numpy_curve(x: torch.Tensor, knots_in, knots_out) -> np.ndarray:
    """The reference: numpy.interp per channel, in float64."""
    xs, ys = (np.broadcast_to(np.asarray(k, dtype=np.float64), (3, np.shape(k)[-1])) for k in (knots_in, knots_out))
    return np.stack([np.interp(x[:, c].double().numpy(), xs[c], ys[c]) for c in range(3)], axis=1)


@pytest.mark.parametrize("name", EVERYDAY_CURVES)
def test_everyday_tone_curves_equal_their_relu_mlp(name):
    knots_in, knots_out = EVERYDAY_CURVES[name]
    x = random_image(batch=2, size=32) * 1.4 - 0.2  # also beyond the end knots, where the curve is flat
    curve = ops.tone_curve(x, knots_in, knots_out)
    assert max_diff(curve, ops.apply_mlp(x, ops.tone_curve_as_mlp(knots_in, knots_out))) < TOL
    assert np.abs(curve.numpy() - numpy_curve(x, knots_in, knots_out)).max() < TOL


@pytest.mark.parametrize("knots_in, knots_out", list(tone_curve_cases()))
def test_random_tone_curves_equal_their_relu_mlp(knots_in, knots_out):
    x = random_image(batch=2, size=12) * 1.4 - 0.2
    curve = ops.tone_curve(x, knots_in, knots_out)
    assert np.abs(curve.numpy() - numpy_curve(x, knots_in, knots_out)).max() < TOL
    # Exact in real arithmetic; float32 rounding grows with the total change of slope (see the docstring).
    slopes = np.diff(np.broadcast_to(knots_out, np.shape(knots_in)), axis=-1) / np.diff(knots_in, axis=-1)
    zero = np.zeros(slopes.shape[:-1] + (1,))
    changes = np.concatenate([slopes, zero], -1) - np.concatenate([zero, slopes], -1)  # the output weights
    slope_changes = np.abs(changes).sum(axis=-1).max()
    mlp = ops.apply_mlp(x, ops.tone_curve_as_mlp(knots_in, knots_out))
    assert max_diff(curve, mlp) < max(TOL, 2.4e-7 * (1 + slope_changes))


def test_tone_curve_mlp_shapes_fit_csrnet():
    hidden, output = ops.tone_curve_as_mlp(np.linspace(0, 1, 21), np.linspace(0, 1, 21) ** 0.5)
    assert hidden.weight.shape == (63, 3) and output.weight.shape == (3, 63)
    assert hidden.weight.dtype == output.weight.dtype == torch.float32


# ---- chains collapse to one conv + one GFM ----

def test_a_chain_of_operators_collapses_to_one_conv_and_one_gfm():
    x = random_image(batch=3, seed=2)
    # Run the chain, computing contrast's statistic on the image it applies to (a condition pass).
    y = ops.exposure(x, 0.5)
    mean = ops.mean_luminance(y)
    y = ops.contrast(y, 1.4, mean)
    y = ops.saturation(ops.white_balance(y, (1.1, 1.0, 0.9)), 0.7)
    y = ops.offset(ops.brightness(y, 0.8), 0.02)
    steps = [ops.exposure_as_conv(0.5), ops.contrast_as_gfm(1.4, mean), ops.white_balance_as_conv((1.1, 1.0, 0.9)),
             ops.saturation_as_conv(0.7), ops.brightness_as_gfm(0.8), ops.offset_as_conv(0.02)]
    conv, mod = ops.compose(*steps)
    assert conv.weight.shape == (3, 3) and mod.scale.shape == (3, 3)
    assert max_diff(ops.apply_gfm(ops.apply_conv(x, conv), mod), y) < TOL


def test_compose_moves_a_per_channel_gfm_past_a_diagonal_conv():
    x = random_image(seed=3)
    mod = ops.GFMForm(torch.tensor([[0.2, -0.1, 0.0], [0.5, 0.3, -0.2]]), torch.tensor([[0.1, 0.0, -0.1]] * 2))
    wb = ops.white_balance_as_conv((0.9, 1.1, 1.3))
    conv, gfm = ops.compose(mod, wb)
    assert max_diff(ops.apply_gfm(ops.apply_conv(x, conv), gfm), ops.apply_conv(ops.apply_gfm(x, mod), wb)) < TOL


def test_compose_refuses_what_no_single_conv_and_gfm_can_do():
    mod = ops.GFMForm(torch.tensor([[0.2, -0.1, 0.0]]), torch.zeros(1, 3))  # per-channel scale
    with pytest.raises(ValueError, match="mixes channels"):
        ops.compose(mod, ops.saturation_as_conv(0.5))


# ---- identities and golden values ----

def test_identities():
    x = random_image()
    for y in (ops.brightness(x, 1), ops.exposure(x, 0), ops.white_balance(x, (1, 1, 1)), ops.offset(x, 0),
              ops.saturation(x, 1), ops.contrast(x, 1), ops.tone_curve(x, [0, 1], [0, 1]),
              ops.apply_gfm(x, ops.GFMForm.identity(2)), ops.apply_gfm(x, ops.brightness_as_gfm(1.0))):
        assert max_diff(y, x) < TOL
    conv, mod = ops.compose()
    assert torch.equal(conv.weight, torch.eye(3)) and not conv.bias.any() and not mod.scale.any()


def pixel(*rgb: float) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32)[None, :, None, None]  # (3,) -> (1, 3, 1, 1)


def test_golden_values():
    red = pixel(1, 0, 0)
    assert ops.saturation(red, 0).flatten().tolist() == pytest.approx([0.299] * 3, abs=1e-7)
    assert ops.saturation(red, 2).flatten().tolist() == pytest.approx([1.701, -0.299, -0.299], abs=1e-6)
    assert ops.mean_luminance(red).item() == pytest.approx(0.299)
    assert ops.brightness(pixel(0.8, 0.4, 0.2), 0.5).flatten().tolist() == pytest.approx([0.4, 0.2, 0.1])
    assert ops.exposure(pixel(0.25, 0.5, 0.1), 1).flatten().tolist() == pytest.approx([0.5, 1.0, 0.2])
    assert ops.white_balance(pixel(0.4, 0.4, 0.4), (2, 1, 0.5)).flatten().tolist() == pytest.approx([0.8, 0.4, 0.2])
    two = torch.tensor([0.0, 1.0])[None, None, :, None].expand(1, 3, 2, 1).contiguous()  # black over white
    assert ops.contrast(two, 2)[0, 0, :, 0].tolist() == pytest.approx([-0.5, 1.5])  # grey 0.5, twice as far
    assert ops.contrast(two, 0)[0, 0, :, 0].tolist() == pytest.approx([0.5, 0.5])
    curve = ops.tone_curve(pixel(0.25, 0.75, 1.2), [0, 0.5, 1], [0, 0.8, 1])
    assert curve.flatten().tolist() == pytest.approx([0.4, 0.9, 1.0])
    per_channel = ops.tone_curve(pixel(0.5, 0.5, 0.5), [[0, 1]] * 3, [[0, 1], [0, 0.5], [1, 0]])
    assert per_channel.flatten().tolist() == pytest.approx([0.5, 0.25, 0.5])


# ---- bad input ----

@pytest.mark.parametrize("call, error, message", [
    (lambda x: ops.brightness(x, -0.5), ValueError, r"brightness factor must be a finite number >= 0, got -0.5"),
    (lambda x: ops.contrast(x, float("nan")), ValueError, r"contrast factor must be .* got nan"),
    (lambda x: ops.saturation(x, "2"), ValueError, r"saturation factor must be"),
    (lambda x: ops.white_balance(x, (1, 1)), ValueError, r"one number or 3 \(R, G, B\), got 2"),
    (lambda x: ops.white_balance(x, (1, -1, 1)), ValueError, r"gains entry must be .* >= 0, got -1"),
    (lambda x: ops.tone_curve(x, [0, 0.6, 0.5, 1], [0, 1, 1, 1]), ValueError, r"strictly increasing"),
    (lambda x: ops.tone_curve(x, [0, 0.5, 1], [0, 1]), ValueError, r"got \(3,\) and \(2,\)"),
    (lambda x: ops.tone_curve(x, [0.5], [0.5]), ValueError, r"K >= 2"),
    (lambda x: ops.tone_curve_as_mlp([[0, 1]] * 2, [[0, 1]] * 2), ValueError, r"\(3, K\)"),
    (lambda x: ops.contrast(x, 1.2, mean=torch.zeros(5)), ValueError, r"\(2,\), one value per image, got \(5,\)"),
    (lambda x: ops.contrast_as_gfm(1.2, 0.5), ValueError, r"mean must be a tensor of shape \(B,\).* got a float"),
    (lambda x: ops.saturation(x, 1.2, grey=x), ValueError, r"grey .* shape \(2, 1, 16, 16\), got \(2, 3, 16, 16\)"),
    (lambda x: ops.brightness(x[0], 1.0), ValueError, r"shape \(B, 3, H, W\), got \(3, 16, 16\)"),
    (lambda x: ops.brightness(x.double(), 1.0), TypeError, r"float32"),
    (lambda x: ops.pillow_mean(x * 255), ValueError, r"\[0, 1\]"),
    (lambda x: ops.apply_conv(x, ops.ConvForm(torch.eye(4), torch.zeros(4))), ValueError, r"\(B, 4, H, W\)"),
    (lambda x: ops.apply_gfm(x, ops.GFMForm.identity(3)), ValueError, r"matching scale \(3, 3\)"),
    (lambda x: ops.ConvForm(torch.eye(3), torch.zeros(2)), ValueError, r"bias \(2,\)"),
    (lambda x: ops.ConvForm([[1.0]], torch.zeros(1)), ValueError, r"got weight a list"),
    (lambda x: ops.GFMForm(torch.zeros(1, 3), torch.zeros(3)), ValueError, r"shift \(3,\)"),
    (lambda x: ops.compose(ops.GFMForm.identity(1, 4)), ValueError, r"colour steps .* got \(4,\)"),
])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(random_image())


# ---- Pillow's ImageEnhance, reproduced within one 8-bit level ----

def check_against_pillow(x: torch.Tensor, factors=(0.0, 0.5, 1.3, 1.8)) -> None:
    """x (1, 3, H, W) on the 8-bit grid: Brightness, Contrast and Color match Pillow's 8-bit output.

    Pillow's blend truncates: its level is floor(255 * ours), clipped to 0..255. So 255 * ours lies in
    [level, level + 1) (up to float32 rounding), and rounding ours is within one level of Pillow's.
    Factors in [0, 1] take Pillow's interpolation branch, the others its clipped extrapolation.
    """
    pil = to_pil(x)
    mean, grey = ops.pillow_mean(x), ops.pillow_luma(x)  # the statistics, once per image
    assert torch.equal(grey[0, 0] * 255, torch.tensor(np.array(pil.convert("L")), dtype=torch.float32))
    enhancers = {
        "Brightness": (ImageEnhance.Brightness, lambda f: ops.brightness(x, f)),
        "Contrast": (ImageEnhance.Contrast, lambda f: ops.contrast(x, f, mean)),
        "Color": (ImageEnhance.Color, lambda f: ops.saturation(x, f, grey)),
    }
    for name, (enhancer, ours) in enhancers.items():
        for factor in factors:
            level = to_tensor(np.asarray(enhancer(pil).enhance(factor))).mul(255).round()  # integers 0..255
            output = ours(factor)
            value = output * 255  # unclipped
            low = torch.where(level == 0, -torch.inf, level - 1e-3)  # Pillow clips below 0 to 0 ...
            high = torch.where(level == 255, torch.inf, level + 1 + 1e-3)  # ... and above 255 to 255
            outside = int(((value < low) | (value >= high)).sum())
            assert outside == 0, f"{name}({factor}): {outside} values are not Pillow's before truncation"
            levels = (quantize(output) - level).abs().max()
            assert levels <= 1, f"{name}({factor}) differs from Pillow by {levels:.0f} levels"


def test_pillow_is_reproduced_on_a_synthetic_image():
    rng = np.random.default_rng(4)
    ramp = np.linspace(0, 255, 96).round().astype(np.uint8)
    a = np.stack([np.tile(ramp, (64, 1)), rng.integers(0, 256, (64, 96)), np.tile(ramp[::-1], (64, 1))], axis=2)
    check_against_pillow(to_tensor(a.astype(np.uint8)))


def test_pillow_mean_rounds_half_up_like_imageenhance_contrast():
    # Two grey pixels, levels 0 and 1: the mean 0.5 rounds up to 1 (int(mean + 0.5)).
    x = torch.tensor([0.0, 1 / 255])[None, None, :, None].expand(1, 3, 2, 1).contiguous()
    assert ops.pillow_mean(x).item() * 255 == pytest.approx(1.0)
    grey = np.asarray(ImageEnhance.Contrast(to_pil(x)).enhance(0.0))
    assert (grey == 1).all()
    # Pillow's luma is BT.601 rounded to the nearest level: pure red 255 -> 76 (76.245).
    assert ops.pillow_luma(pixel(1, 0, 0)).item() * 255 == pytest.approx(76.0)


def fivek_inputs(root, count: int = 3):
    """The first `count` 8-bit input photos of different sources, as (1, 3, H, W) on the 8-bit grid."""
    with open(root / "pairs.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if int(r["width"]) <= 512]
    picked = list({r["source"]: r for r in reversed(rows)}.values())[:count]  # one per source
    return [(r["fivek_id"], quantize(load_image(root / r["input"])) / 255) for r in picked]


def test_pillow_is_reproduced_on_real_photos(shared_fivek):
    photos = fivek_inputs(shared_fivek)
    assert len(photos) == 3
    for fivek_id, x in photos:
        check_against_pillow(x, factors=(0.5, 1.3, 1.8))
        pil = to_pil(x)
        mean = np.asarray(pil.convert("L"), dtype=np.float64).mean()
        assert ops.pillow_mean(x).item() * 255 == pytest.approx(int(mean + 0.5)), fivek_id


def test_forms_take_tensor_factors_and_pass_gradients():
    """The forms compose into differentiable chains (analysis fits operator factors with them)."""
    x = torch.rand(1, 3, 5, 4)
    s, k, ev = (torch.tensor(v, requires_grad=True) for v in (0.5, 1.3, -0.4))
    gains = torch.tensor([1.2, 1.0, 0.8], requires_grad=True)
    y = ops.apply_conv(x, ops.saturation_as_conv(s))
    y = ops.apply_gfm(y, ops.contrast_as_gfm(k, torch.tensor([0.4])))
    y = ops.apply_conv(ops.apply_conv(y, ops.white_balance_as_conv(gains)), ops.exposure_as_conv(ev))
    y.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (s, k, ev, gains))
    same = ops.exposure(ops.white_balance(ops.contrast(ops.saturation(x, 0.5), 1.3, torch.tensor([0.4])),
                                          (1.2, 1.0, 0.8)), -0.4)
    torch.testing.assert_close(y.detach(), same, atol=1e-6, rtol=0)
