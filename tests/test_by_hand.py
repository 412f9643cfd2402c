"""CSRNet by hand (notebook 2): hand-set base network weights whose modulations are a photo editor's knobs."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from synthetic import synthetic_photo
from csrnet_lite import by_hand, ops
from csrnet_lite.model import CSRNet, Modulations

IDENTITY = ([0.0, 1.0], [0.0, 1.0])  # a tone curve that changes nothing in [0, 1]


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return synthetic_photo(48)  # (1, 3, 48, 48): sky, hills and a colour chart


@pytest.fixture(scope="module")
def net() -> CSRNet:
    return by_hand.hand_made_csrnet()  # the S-curve house style, as in notebook 2


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# The corners and middle of the notebook's slider ranges.
SLIDERS = dict(brightness=(0.5, 1.0, 2.0), contrast=(0.5, 1.3, 2.0), saturation=(0.0, 1.5, 2.0),
               warmth=(-0.2, 0.0, 0.2))


@pytest.mark.parametrize("knobs", [dict(zip(SLIDERS, values)) for values in itertools.product(*SLIDERS.values())],
                         ids=lambda k: "-".join(f"{v:g}" for v in k.values()))
def test_slider_modulations_reproduce_the_target_retouch(net, photo, knobs):
    with torch.no_grad():
        out = net.base(photo, by_hand.hand_modulations(photo, **knobs))
    assert gap(out, by_hand.target_retouch(photo, **knobs)) < 1e-5


def test_other_tone_curves_too(photo):
    """One knot set per channel (3, K), and the largest one that fits: 21 knots x 3 channels = 63 ramps."""
    per_channel = ([[0, 0.5, 1]] * 3, [[0, 0.6, 1], [0, 0.5, 1], [0, 0.4, 1]])
    many = (np.linspace(0, 1, 21).tolist(), (np.linspace(0, 1, 21) ** 0.8).tolist())
    knobs = dict(brightness=0.8, contrast=1.2, saturation=0.7, warmth=-0.1)
    for knots_in, knots_out in (per_channel, many):
        net = by_hand.hand_made_csrnet(knots_in, knots_out)
        with torch.no_grad():
            out = net.base(photo, by_hand.hand_modulations(photo, **knobs))
        target = by_hand.target_retouch(photo, **knobs, knots_in=knots_in, knots_out=knots_out)
        assert gap(out, target) < 1e-5


def test_one_pixel_by_hand():
    """A one-pixel photo, whose mean luma is its own, through each formula written out in floats."""
    rgb, (b, k, f, w) = (0.5, 0.4, 0.2), (1.2, 1.3, 1.5, 0.1)
    x = [b * c for c in rgb]
    luma = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    x = [luma + f * (c - luma) for c in x]  # saturation keeps the luma, so the mean stays `luma`
    x = [luma + k * (c - luma) for c in x]
    x = [np.interp(c, by_hand.S_CURVE_IN, by_hand.S_CURVE_OUT) for c in x]
    expected = [x[0] * (1 + w), x[1], x[2] * (1 - w)]
    pixel = torch.tensor(rgb).view(1, 3, 1, 1)  # (3,) -> (1, 3, 1, 1)
    knobs = dict(brightness=b, contrast=k, saturation=f, warmth=w)
    with torch.no_grad():
        out = by_hand.hand_made_csrnet().base(pixel, by_hand.hand_modulations(pixel, **knobs))
    assert out.flatten().tolist() == pytest.approx(expected, abs=1e-6)
    assert by_hand.target_retouch(pixel, **knobs).flatten().tolist() == pytest.approx(expected, abs=1e-6)


def test_knobs_at_rest_with_an_identity_curve_give_the_photo_back(photo):
    with torch.no_grad():
        out = by_hand.hand_made_csrnet(*IDENTITY).base(photo, by_hand.hand_modulations(photo))
    assert gap(out, photo) < 1e-6


def test_modulations_are_the_knobs(photo):
    m = ops.mean_luminance(photo).item()
    mods = by_hand.hand_modulations(photo, brightness=1.2, contrast=1.5, saturation=0.4, warmth=0.1)
    assert isinstance(mods, Modulations)
    assert [tuple(s.shape) for s in mods.scales] == [(1, 64), (1, 64), (1, 3)]
    assert mods.scales[0][0, :6].tolist() == pytest.approx([-0.28] * 6)  # k f b - 1
    assert mods.scales[0][0, 6:8].tolist() == pytest.approx([0.08] * 2)  # k (1 - f) b - 1
    assert mods.shifts[0][0, :6].tolist() == pytest.approx([-0.6 * m] * 3 + [0.6 * m] * 3)  # +-(1 - k) b m
    assert mods.scales[2][0].tolist() == pytest.approx([0.1, 0.0, -0.1])
    assert mods.cond[0, :5].tolist() == pytest.approx([1.2, 1.5, 0.4, 0.1, m])
    assert not mods.scales[0][0, 8:].any() and not mods.scales[1].any() and not mods.shifts[1].any()


def test_widget_callbacks(net, photo):
    knobs = dict(brightness=1.2, contrast=1.3, saturation=1.5, warmth=0.06)
    goal = by_hand.target_retouch(photo, **knobs).clamp(0, 1)
    right = by_hand.preview(net, photo, **knobs)
    assert right.shape == (48, 48, 3) and right.dtype == np.float32 and 0 <= right.min() and right.max() <= 1
    assert by_hand.mean_difference(right, goal) < 0.01  # only the lookup table's interpolation
    wrong = by_hand.preview(net, photo, brightness=1.0)
    assert by_hand.mean_difference(wrong, goal) > 10 * by_hand.mean_difference(right, goal)
    assert by_hand.distance_readout(right, right, brightness=1.0) == "mean difference from the target: 0.0000"
    assert by_hand.distance_readout(np.full((2, 2, 3), 0.3), np.full((2, 2, 3), 0.55)) == (
        "mean difference from the target: 0.2500")


def test_clear_errors(photo):
    with pytest.raises(ValueError, match="at most 21"):
        by_hand.hand_made_csrnet(np.linspace(0, 1, 22), np.linspace(0, 1, 22))
    with pytest.raises(ValueError, match="strictly increasing"):
        by_hand.hand_made_csrnet([0, 0.5, 0.5], [0, 0.5, 1])
    with pytest.raises(ValueError, match="one photo"):
        by_hand.hand_modulations(torch.cat([photo, photo]))
    with pytest.raises(ValueError, match="brightness, contrast, saturation >= 0"):
        by_hand.hand_modulations(photo, contrast=-1)
    with pytest.raises(ValueError, match="warmth in"):
        by_hand.hand_modulations(photo, warmth=1.5)
