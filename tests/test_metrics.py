"""Metrics against hand-computed values and published test data."""
from __future__ import annotations

import math

import pytest
import torch

from csrnet_lite import metrics


def flat(*rgb: float, size: int = 16, batch: int = 1) -> torch.Tensor:
    """A constant image (batch, 3, size, size)."""
    return torch.tensor(rgb, dtype=torch.float32)[None, :, None, None].expand(batch, 3, size, size).contiguous()


def random_image(batch: int = 2, size: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- CIELAB ----

@pytest.mark.parametrize("rgb, lab", [
    ((1, 0, 0), (53.2408, 80.0925, 67.2032)),  # the textbook sRGB red: 53.24, 80.09, 67.20
    ((0, 1, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 1), (32.2970, 79.1875, -107.8602)),
    ((1, 1, 1), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((0.5, 0.5, 0.5), (53.3890, 0.0, 0.0)),  # Y = (1.055 / 2.11) ** 2.4, L* = 116 Y^(1/3) - 16
])
def test_srgb_to_lab_golden_values(rgb, lab):
    out = metrics.srgb_to_lab(flat(*rgb, size=2))
    assert out.shape == (1, 3, 2, 2)
    assert out[0, :, 0, 0].tolist() == pytest.approx(lab, abs=2e-3)


def test_srgb_to_lab_clamps_and_keeps_greys_neutral():
    assert torch.equal(metrics.srgb_to_lab(flat(1.02, -0.01, 1.0)), metrics.srgb_to_lab(flat(1, 0, 1)))
    greys = torch.linspace(0, 1, 256)[None, None, :, None].expand(1, 3, 256, 1).contiguous()
    lab = metrics.srgb_to_lab(greys)
    assert lab[:, 1:].abs().max() < 1e-3  # a* = b* = 0
    assert (lab[0, 0, 1:] > lab[0, 0, :-1]).all()  # L* increases


# ---- CIEDE2000 ----

# Sharma, Wu, Dalal (2005), Table 1: L1, a1, b1, L2, a2, b2, published delta E00 (4 decimals).
SHARMA_2005 = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_reproduces_sharma_2005_in_both_orders():
    table = torch.tensor(SHARMA_2005, dtype=torch.float64)
    lab1, lab2, expected = table[:, 0:3, None, None], table[:, 3:6, None, None], table[:, 6]  # (34, 3, 1, 1)
    for a, b in ((lab1, lab2), (lab2, lab1)):
        got = metrics.ciede2000(a, b).flatten()
        assert (got - expected).abs().max() < 1e-4, list(zip(got.tolist(), expected.tolist()))
    float32 = metrics.ciede2000(lab1.float(), lab2.float()).flatten()  # images are float32
    assert (float32.double() - expected).abs().max() < 1e-3


def test_delta_e_of_greys_is_the_lightness_difference_weighted_by_s_l():
    def lightness(v: float) -> float:  # sRGB grey -> L*, by hand
        y = v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
        return 116 * y ** (1 / 3) - 16 if y > (6 / 29) ** 3 else y * (29 / 3) ** 3

    for v1, v2 in ((0.0, 1.0), (0.2, 0.7), (0.5, 0.52)):
        l1, l2 = lightness(v1), lightness(v2)
        s_l = 1 + 0.015 * ((l1 + l2) / 2 - 50) ** 2 / math.sqrt(20 + ((l1 + l2) / 2 - 50) ** 2)
        got = metrics.delta_e(flat(v1, v1, v1), flat(v2, v2, v2), quantize=False)
        assert got.item() == pytest.approx(abs(l2 - l1) / s_l, abs=1e-3)
    assert metrics.delta_e(flat(0, 0, 0), flat(1, 1, 1)).item() == pytest.approx(100, abs=1e-3)


def test_delta_e_is_zero_for_identical_images_and_per_image():
    x, y = random_image(seed=1), random_image(seed=2)
    assert torch.equal(metrics.delta_e(x, x), torch.zeros(2))
    both = metrics.delta_e(x, y)
    assert both.shape == (2,) and (both > 0).all()
    assert both[1].item() == pytest.approx(metrics.delta_e(x[1:], y[1:]).item(), rel=1e-6)


# ---- PSNR ----

def test_psnr_of_a_constant_error():
    target = flat(51 / 255, 128 / 255, 204 / 255)  # on the 8-bit grid
    one_level = target + 1 / 255
    assert metrics.psnr(one_level, target).item() == pytest.approx(20 * math.log10(255), abs=1e-3)  # 48.1308
    assert metrics.psnr(target + 0.1, target, quantize=False).item() == pytest.approx(20.0, abs=1e-4)
    # An error below half a level vanishes in 8 bits: 60 dB on floats, identical once saved.
    assert metrics.psnr(target + 0.001, target, quantize=False).item() == pytest.approx(60.0, abs=1e-2)
    assert metrics.psnr(target + 0.001, target).item() == math.inf


def test_psnr_averages_the_error_over_pixels_and_clamps_the_output():
    target = flat(0.5, 0.5, 0.5, size=4)
    output = target.clone()
    output[:, :, :2] += 0.2  # half of the pixels are off by 0.2: MSE 0.02
    assert metrics.psnr(output, target, quantize=False).item() == pytest.approx(10 * math.log10(50), abs=1e-4)
    white = flat(1, 1, 1)
    assert metrics.psnr(white * 1.05, white).item() == math.inf  # the output is clamped to [0, 1] first


# ---- SSIM ----

def test_ssim_of_identical_images_is_one():
    x = random_image()
    assert metrics.ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert metrics.ssim(x, x, quantize=False).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    c1 = 0.01**2
    for a, b in ((0.2, 0.6), (0.5, 0.5), (0.0, 1.0)):
        got = metrics.ssim(flat(a, a, a), flat(b, b, b), quantize=False).item()
        assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-6)


def test_ssim_of_a_checkerboard_and_its_half_contrast_copy():
    # x is a 0/1 checkerboard, y = x / 2. Under the Gaussian window g(i) g(j) (i, j = -5..5), the
    # weight on cells of the centre's colour is p = (sum of g at even i)^2 + (sum at odd i)^2, so
    # mu_x = p or 1 - p, var_x = mu_x (1 - mu_x), mu_y = mu_x / 2, var_y = var_x / 4, cov = var_x / 2.
    g = [math.exp(-i * i / (2 * 1.5**2)) for i in range(-5, 6)]
    even, odd = sum(g[1::2]) / sum(g), sum(g[0::2]) / sum(g)  # i = -4, -2, ..., 4 and i = -5, ..., 5
    p = even**2 + odd**2
    c1, c2 = 0.01**2, 0.03**2

    def ssim_at(mu: float) -> float:
        var = mu * (1 - mu)
        return (mu * mu + c1) / (1.25 * mu * mu + c1) * (var + c2) / (1.25 * var + c2)

    expected = (ssim_at(p) + ssim_at(1 - p)) / 2  # a 20 x 20 image: 10 x 10 windows, half of each colour
    i = torch.arange(20)
    board = ((i[:, None] + i[None, :]) % 2).float()[None, None].expand(1, 3, 20, 20).contiguous()
    assert metrics.ssim(board, board / 2, quantize=False).item() == pytest.approx(expected, abs=1e-6)
    assert metrics.ssim(board / 2, board, quantize=False).item() == pytest.approx(expected, abs=1e-6)


def test_ssim_is_lower_for_a_noisier_copy():
    x = random_image(batch=1, size=32)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    scores = [metrics.ssim((x + s * noise).clamp(0, 1), x).item() for s in (0.02, 0.05, 0.2)]
    assert 1 > scores[0] > scores[1] > scores[2]


def reference_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM from its definition: (B, 3, H, W) x 2 -> (B,), float64, no quantizing, no shortcuts.

    Every 11 x 11 window is cut out and weighted by the 2-D Gaussian; the variances and covariance
    are weighted means of squared deviations from the window's mean (no E[x^2] - mu^2 cancellation).
    """
    g = torch.tensor([math.exp(-((i - 5) ** 2) / (2 * 1.5**2)) for i in range(11)], dtype=torch.float64)
    window = torch.outer(g, g) / g.sum() ** 2  # (11, 11), sums to 1
    x = x.double().unfold(2, 11, 1).unfold(3, 11, 1)  # (B, 3, H, W) -> (B, 3, H-10, W-10, 11, 11)
    y = y.double().unfold(2, 11, 1).unfold(3, 11, 1)

    def mean(t: torch.Tensor) -> torch.Tensor:  # (..., 11, 11) -> (...)
        return (t * window).sum(dim=(-2, -1))

    mu_x, mu_y = mean(x), mean(y)
    dx, dy = x - mu_x[..., None, None], y - mu_y[..., None, None]
    var_x, var_y, cov = mean(dx * dx), mean(dy * dy), mean(dx * dy)
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def near_flat_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two bright, almost flat images (noise 3e-5): SSIM in float32 misses theirs by 7e-5."""
    x = 0.98 + 3e-5 * random_image(batch=1, size=32, seed=4)
    return x, 0.995 + 3e-5 * random_image(batch=1, size=32, seed=9)


@pytest.mark.parametrize("strip", [None, 64])  # the default strips, or ~2 rows of windows at a time
def test_ssim_equals_the_definition_with_a_2d_window(strip, monkeypatch):
    if strip:
        monkeypatch.setattr(metrics, "STRIP", strip)
    tall = random_image(batch=2, size=29, seed=5)[:, :, :, :17]  # (2, 3, 29, 17): not square
    cases = [(random_image(seed=1), random_image(seed=2)), (tall, (tall + 0.1 * random_image(2, 29, 6)[..., :17]).clamp(0, 1)),
             near_flat_pair()]
    for x, y in cases:
        got = metrics.ssim(x, y, quantize=False).double()
        assert (got - reference_ssim(x, y)).abs().max() < 1e-6  # float64 throughout: only float32 output rounding
        quantized = metrics.ssim(x, y).double()  # on 8-bit values
        expected = reference_ssim((x * 255).round() / 255, (y.clamp(0, 1) * 255).round() / 255)
        assert (quantized - expected).abs().max() < 1e-6


def test_delta_e_in_strips_is_the_mean_over_all_pixels(monkeypatch):
    x, y = random_image(size=24, seed=7), random_image(size=24, seed=8)
    lab_x, lab_y = metrics.srgb_to_lab(x), metrics.srgb_to_lab(y)
    expected = metrics.ciede2000(lab_x.double(), lab_y.double()).mean(dim=(1, 2))  # all at once, float64
    monkeypatch.setattr(metrics, "STRIP", 40)  # one row at a time
    got = metrics.delta_e(x, y, quantize=False)
    assert got.shape == (2,)
    assert (got.double() - expected).abs().max() < 1e-4


def test_metrics_run_on_one_thread_and_give_the_thread_count_back(monkeypatch):
    seen, ssim_map = [], metrics._ssim_map
    monkeypatch.setattr(metrics, "_ssim_map", lambda x, y: seen.append(torch.get_num_threads()) or ssim_map(x, y))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = random_image()
        assert metrics.ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
        assert seen and set(seen) == {1}  # every strip ran on one thread
        metrics.delta_e(x, x), metrics.psnr(x, x)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):  # raised on one thread
            metrics.ssim(x[:, :, :8], x[:, :, :8])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ---- bad input ----

@pytest.mark.parametrize("metric", [metrics.psnr, metrics.ssim, metrics.delta_e])
def test_mismatched_shapes_name_both(metric):
    with pytest.raises(ValueError, match=r"got output \(1, 3, 16, 16\) and target \(1, 3, 16, 20\)"):
        metric(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 20))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: metrics.psnr(x, x * 255), ValueError, r"target values must lie in \[0, 1\]"),
    (lambda x: metrics.psnr(x[:, :2], x[:, :2]), ValueError, r"output must have shape \(B, 3, H, W\)"),
    (lambda x: metrics.ssim(x.double(), x), TypeError, r"float32"),
    (lambda x: metrics.ssim(x[:, :, :8], x[:, :, :8]), ValueError, r"at least 11 x 11 pixels .* got \(8, 24\)"),
    (lambda x: metrics.ciede2000(x, x[:1]), ValueError, r"got \(2, 3, 24, 24\) and \(1, 3, 24, 24\)"),
])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(random_image())


def test_relative_luminance_is_linear_light():
    """sRGB 0.5 is 21.4 % of white's light (IEC 61966-2-1), so doubling an encoded grey is ~2.2 stops."""
    y = metrics.relative_luminance(torch.cat([flat(0.5, 0.5, 0.5), flat(1, 1, 1), flat(0, 0, 0)]))
    assert y.shape == (3, 1, 16, 16)
    assert torch.allclose(y[:, 0, 0, 0], torch.tensor([0.214041, 1.0, 0.0]), atol=1e-5)
    assert abs(torch.log2(y[1, 0, 0, 0] / y[0, 0, 0, 0]).item() - 2.224) < 1e-3
    # green carries most of the light, blue least (the Y row of the sRGB matrix)
    r, g, b = (metrics.relative_luminance(flat(*c)).flatten()[0].item() for c in ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    assert (round(r, 4), round(g, 4), round(b, 4)) == (0.2127, 0.7152, 0.0722)
