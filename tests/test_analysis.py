"""Looking inside a CSRNet (notebook 6): per-photo modulations, interventions and operator fits."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthetic import synthetic_photo
from csrnet_lite import analysis, by_hand, degradation, modulation_plots, ops, pictures
from csrnet_lite.analysis import ChainParams
from csrnet_lite.image import thumbnail
from csrnet_lite.metrics import psnr_of_mse
from csrnet_lite.model import CSRNet, Modulations


def identity_base(net: CSRNet, noise: float = 0.0) -> CSRNet:
    """Set the base network to copy x and -x and add them back (ReLU(a) - ReLU(-a) = a), plus noise:
    unmodulated, it is the identity (noise 0) or close to it."""
    with torch.no_grad():
        for conv in (net.conv1, net.conv2, net.conv3):
            conv.weight.copy_(noise * torch.randn_like(conv.weight))
            conv.bias.zero_()
        net.conv1.weight[:6, :, 0, 0] += torch.cat([torch.eye(3), -torch.eye(3)])
        net.conv2.weight[:6, :6, 0, 0] += torch.eye(6)
        net.conv3.weight[:, :6, 0, 0] += torch.cat([torch.eye(3), -torch.eye(3)], dim=1)
    return net.eval()


@pytest.fixture(scope="module")
def model() -> CSRNet:
    """Untrained condition network and heads (modulations differ from photo to photo), and a base
    network near the identity, so that its retouches stay mostly inside [0, 1] like a trained one's."""
    torch.manual_seed(0)
    return identity_base(CSRNet(), noise=0.05)


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    """Three different (1, 3, 40, 40) photos: the synthetic scene, darker and flatter, warmer and brighter."""
    x = synthetic_photo(40)
    return [x, ops.contrast(ops.brightness(x, 0.5), 0.6).clamp(0, 1),
            ops.white_balance(ops.brightness(x, 1.3), (1.2, 1.0, 0.8)).clamp(0, 1)]


@pytest.fixture(scope="module")
def conds(photos) -> list[torch.Tensor]:
    return [thumbnail(p, 32) for p in photos]  # what the condition network sees, (1, 3, 32, 32) each


@pytest.fixture(scope="module")
def mods(model, conds) -> Modulations:
    return analysis.modulations_of(model, conds)


def same(a: Modulations, b: Modulations, atol: float = 0.0) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=0)
               for x, y in zip((a.cond, *a.scales, *a.shifts), (b.cond, *b.scales, *b.shifts)))


def base(model, photo, mods) -> torch.Tensor:
    with torch.no_grad():
        return model.base(photo, mods)


# ---- per-photo modulations ----

def test_modulations_of_a_batch_and_one_photo_of_it(model, conds, mods):
    assert mods.cond.shape == (3, 32) and not mods.cond.requires_grad
    assert same(analysis.modulations_of(model, torch.cat(conds)), mods)
    for i, cond in enumerate(conds):
        with torch.no_grad():
            alone = model.modulations(cond)
        assert same(analysis.one_photo(mods, i), alone, atol=1e-6)
    assert same(analysis.one_photo(mods, -1), analysis.one_photo(mods, 2))
    assert not same(analysis.one_photo(mods, 0), analysis.one_photo(mods, 1), atol=1e-4)
    with pytest.raises(IndexError, match="batch of 3"):
        analysis.one_photo(mods, 3)


def test_modulation_spread_by_hand():
    """Two photos: layer 1's channels differ by 2 (sample std sqrt 2) in one of 4 columns, layer 3 by 1 in all."""
    zeros = (torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 1))
    scales = (torch.tensor([[0.0, 5.0], [2.0, 5.0]]), zeros[1], torch.tensor([[0.0], [1.0]]))
    shifts = (zeros[0], zeros[1], torch.tensor([[3.0], [4.0]]))
    spread = analysis.modulation_spread(Modulations(torch.zeros(2, 4), scales, shifts))
    assert spread == pytest.approx((math.sqrt(2) / 4, 0.0, math.sqrt(0.5)))
    with pytest.raises(ValueError, match="at least 2 photos"):
        analysis.modulation_spread(Modulations.identity())


def test_colour_map_is_the_base_network(model, photos, mods):
    one = analysis.one_photo(mods, 1)
    with torch.no_grad():
        assert torch.equal(analysis.colour_map(model, one)(photos[1]), model.base(photos[1], one))


# ---- interventions ----

def test_strength_0_is_the_unmodulated_network_and_1_the_model_output(model, photos, conds, mods):
    for i, (photo, cond) in enumerate(zip(photos, conds)):
        own = analysis.one_photo(mods, i)
        assert same(analysis.at_strength(own, 0.0), Modulations.identity())
        assert same(analysis.at_strength(own, 1.0), own)
        with torch.no_grad():
            output = model(photo, cond)
        assert torch.allclose(base(model, photo, analysis.at_strength(own, 1.0)), output, atol=1e-6)
        assert torch.equal(base(model, photo, analysis.at_strength(own, 0.0)),
                           base(model, photo, Modulations.identity()))
        half = analysis.at_strength(own, 0.5)
        assert torch.allclose(half.scales[0], own.scales[0] / 2) and torch.allclose(half.shifts[2], own.shifts[2] / 2)


def test_strength_0_gives_the_photo_when_the_unmodulated_network_is_the_identity(photos, mods):
    net = identity_base(CSRNet())
    own = analysis.one_photo(mods, 0)
    assert torch.allclose(base(net, photos[0], analysis.at_strength(own, 0.0)), photos[0], atol=1e-7)
    assert (base(net, photos[0], analysis.at_strength(own, 1.0)) - photos[0]).abs().max() > 1e-3
    lut = analysis.preview_strength(net, photos[0], own, 0.0)
    assert np.abs(lut - pictures.as_array(photos[0])).max() < 1e-5  # the identity is linear: the LUT is exact


def test_mixing_at_0_and_1_gives_each_photos_retouch(model, photos, mods):
    a, b = analysis.one_photo(mods, 0), analysis.one_photo(mods, 2)
    assert same(analysis.mixed(a, b, 0.0), a) and same(analysis.mixed(a, b, 1.0), b)
    photo = photos[0]
    for t, own in ((0.0, a), (1.0, b)):
        assert torch.equal(base(model, photo, analysis.mixed(a, b, t)), base(model, photo, own))
        assert np.array_equal(analysis.preview_mix(model, photo, mods, 0, 2, t),
                              modulation_plots.preview_modulations(model, photo, own))
    # The heads are linear: mixing the modulations is running the heads on the mixed condition.
    half = analysis.mixed(a, b, 0.5)
    with torch.no_grad():
        assert torch.allclose(half.scales[0], model.cond_scale1(half.cond), atol=1e-6)
        assert torch.allclose(half.shifts[2], model.cond_shift3(half.cond), atol=1e-6)
    assert not np.array_equal(analysis.preview_mix(model, photo, mods, 0, 2, 0.5),
                              analysis.preview_mix(model, photo, mods, 0, 2, 0.0))


def test_switching_all_modulations_off_is_the_identity(model, photos, mods):
    own = analysis.one_photo(mods, 1)
    off = dict.fromkeys(("scale1", "scale2", "scale3", "shift1", "shift2", "shift3"), False)
    none = analysis.switched(own, **off)
    identity = Modulations.identity()
    assert all(torch.equal(x, y) for x, y in zip(none.scales + none.shifts, identity.scales + identity.shifts))
    assert torch.equal(none.cond, own.cond)  # the condition vector is kept
    assert torch.equal(base(model, photos[1], none), base(model, photos[1], identity))
    assert np.array_equal(analysis.preview_switched(model, photos[1], own, **off),
                          modulation_plots.preview_modulations(model, photos[1], identity))
    assert same(analysis.switched(own), own)
    one_off = analysis.switched(own, scale2=False)
    assert not one_off.scales[1].any() and one_off.scales[1].shape == (1, 64)
    assert all(torch.equal(x, y) for i, (x, y) in enumerate(zip(one_off.scales + one_off.shifts,
                                                                 own.scales + own.shifts)) if i != 1)
    with pytest.raises(TypeError):
        analysis.switched(own, scale4=False)


def test_readout_and_cost_per_layer(model, photos, mods):
    grey, lighter = np.full((4, 4, 3), 0.5, np.float32), np.full((4, 4, 3), 0.6, np.float32)
    assert psnr_of_mse(analysis.mean_squared_error(grey, lighter)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert analysis.readout(grey, lighter, t=1.0) == "PSNR against the target: 20.00 dB"
    assert psnr_of_mse(analysis.mean_squared_error(grey, grey)) == pytest.approx(100.0)
    own, target = analysis.one_photo(mods, 0), pictures.as_array(photos[2])
    cost = analysis.cost_per_layer(model, photos[0], own, target)
    assert list(cost) == [1, 2, 3]
    full = psnr_of_mse(analysis.mean_squared_error(modulation_plots.preview_modulations(model, photos[0], own), target))
    without_3 = psnr_of_mse(analysis.mean_squared_error(
        analysis.preview_switched(model, photos[0], own, scale3=False, shift3=False), target))
    assert cost[3] == pytest.approx(full - without_3) and cost[3] != 0


# ---- operator fits ----

def test_operator_chain_is_the_ops_chain():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    p = ChainParams(saturation=1.3, contrast=0.7, grey=0.4, gain_r=1.1, gain_b=0.9, exposure=-0.5)
    expected = ops.exposure(ops.white_balance(ops.contrast(ops.saturation(x, 1.3), 0.7, mean=torch.full((2,), 0.4)),
                                              (1.1, 1.0, 0.9)), -0.5)
    assert torch.allclose(analysis.operator_chain(x, p), expected, atol=1e-6)
    assert torch.allclose(analysis.operator_chain(x, p.as_tensor()), expected, atol=1e-6)
    assert torch.allclose(analysis.operator_chain(x, ChainParams()), x, atol=1e-6)  # defaults: no change
    assert ChainParams.names() == ("saturation", "contrast", "grey", "gain_r", "gain_b", "exposure")
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        analysis.operator_chain(x, torch.ones(5))


def test_undoing_a_degradation():
    d = degradation.Degradation(exposure_ev=-0.5, wb_gains=(1.2, 1.0, 0.8), contrast=0.7, saturation=0.6,
                            contrast_mean=0.3)
    assert ChainParams.undoing(d) == ChainParams(1 / 0.6, 1 / 0.7, 0.3, 1 / 1.2, 1 / 0.8, 0.5)
    target = 0.3 + 0.3 * torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # nothing clips
    input = degradation.degrade(target, d)
    assert 0 < input.min() and input.max() < 1
    assert torch.allclose(analysis.operator_chain(input, ChainParams.undoing(d)), target, atol=1e-5)
    astronaut = ChainParams.undoing(degradation.known_degradations()["astronaut"])
    assert astronaut.exposure == 0.4941 and astronaut.grey == 0.304925
    assert astronaut.saturation == pytest.approx(1 / 0.726) and astronaut.gain_r == pytest.approx(1 / 0.8546)


@pytest.mark.parametrize("truth", [
    ChainParams(saturation=1.3, contrast=1.4, grey=0.42, gain_r=1.1, gain_b=0.9, exposure=0.3),
    ChainParams(saturation=0.6, contrast=0.8, grey=0.3, gain_r=0.85, gain_b=1.2, exposure=-0.7),
], ids=["more", "less"])
def test_fit_recovers_known_operators(truth):
    """A synthetic retouch written with ops (not with operator_chain) and known parameters."""
    def retouch(x):
        x = ops.contrast(ops.saturation(x, truth.saturation), truth.contrast, mean=torch.tensor([truth.grey]))
        return ops.exposure(ops.white_balance(x, (truth.gain_r, 1.0, truth.gain_b)), truth.exposure)

    pixels = torch.rand(2000, 3, generator=torch.Generator().manual_seed(2))
    fit = analysis.fit_operators(retouch, pixels, grey=truth.grey)
    assert fit.rms < 1e-5
    assert fit.params.as_tensor().tolist() == pytest.approx(truth.as_tensor().tolist(), abs=1e-3)


def test_fit_reads_the_hand_made_csrnets_knobs_back():
    """The base network of notebook 2's CSRNet by hand, with a straight tone curve (no clipping in
    [-1, 2]): its knobs are saturation f, contrast k, gains (1 + w, 1 - w) and exposure log2 b."""
    photo = synthetic_photo(40)
    net = by_hand.hand_made_csrnet([-1.0, 2.0], [-1.0, 2.0])
    mods = by_hand.hand_modulations(photo, brightness=0.8, contrast=1.3, saturation=0.7, warmth=0.1)
    fit = analysis.fit_learned_operators(net, mods, photo, n_pixels=1000)
    expected = ChainParams(0.7, 1.3, ops.mean_luminance(photo).item(), 1.1, 0.9, math.log2(0.8))
    assert fit.rms < 1e-4  # float32 rounding in the network
    assert fit.params.as_tensor().tolist() == pytest.approx(expected.as_tensor().tolist(), abs=1e-3)


def test_fit_errors(model, photos, mods):
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        analysis.fit_operators(lambda x: x, np.zeros((10, 4)), grey=0.5)
    with pytest.raises(ValueError, match="one_photo"):
        analysis.fit_learned_operators(model, mods, photos[0])
