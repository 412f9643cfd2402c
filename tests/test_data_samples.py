"""data_samples/: the offline pairs that ship with the project, and the manifest that describes them.

The manifest is the ground truth a notebook compares learned modulations against, so the central
check is that re-applying each pair's recorded degradation (`csrnet_lite.degradation`) to its target
gives its input back. These tests read only the committed files; rebuilding them from the source
packages is `scripts/make_data_samples.py --check` (see data_samples/README.md). The maintainer
tool itself (photo list, archive readers, PNG writer) is loaded from scripts/ for its own tests.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet_lite import degradation, ops
from csrnet_lite.image import to_tensor
from csrnet_lite.degradation import Degradation, degrade, degrade_uint8, draw_degradation
from csrnet_lite.settings import DATA_SAMPLES, PROJECT_ROOT

MIN_PAIRS = 24
MAX_TOTAL_BYTES = 15_000_000  # everything under data_samples/
LONG_EDGE = 512
FREE_LICENCES = {"public-domain", "CC0-1.0"}


def _load_generator():
    """scripts/make_data_samples.py as a module (scripts/ is not a package): sources and PNG writer."""
    path = PROJECT_ROOT / "scripts" / "make_data_samples.py"
    spec = importlib.util.spec_from_file_location("make_data_samples", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return degradation.read_manifest()


@pytest.fixture(scope="module")
def pairs(manifest) -> list[dict]:
    return manifest["pairs"]


def read_png(path) -> np.ndarray:
    """An 8-bit RGB PNG as a uint8 (H, W, 3) array; fails on anything else."""
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB", f"{path}: {im.format} {im.mode}, expected PNG RGB"
        return np.asarray(im)


@pytest.fixture(scope="module")
def images(pairs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (input, target) uint8 (H, W, 3) arrays, decoded once."""
    return {p["name"]: (read_png(DATA_SAMPLES / p["input"]), read_png(DATA_SAMPLES / p["target"]))
            for p in pairs}


def test_enough_pairs_paired_by_stem(pairs):
    names = [p["name"] for p in pairs]
    assert len(names) >= MIN_PAIRS
    assert len(set(names)) == len(names), "duplicate names in the manifest"
    for kind in ("input", "target"):
        on_disk = sorted(p.name for p in (DATA_SAMPLES / kind).iterdir())
        assert on_disk == sorted(f"{n}.png" for n in names), f"{kind}/ does not match the manifest"
    assert {p["input"] for p in pairs} == {f"input/{n}.png" for n in names}
    assert {p["target"] for p in pairs} == {f"target/{n}.png" for n in names}


def test_sizes(pairs, images):
    for p in pairs:
        input_, target = images[p["name"]]
        assert input_.shape == target.shape == (p["height"], p["width"], 3), p["name"]
        assert max(p["width"], p["height"]) == LONG_EDGE, p["name"]


def test_total_size_under_limit():
    total = sum(f.stat().st_size for f in DATA_SAMPLES.rglob("*") if f.is_file())
    assert total < MAX_TOTAL_BYTES, f"data_samples/ holds {total / 1e6:.2f} MB"


def test_checksums_match_files(pairs):
    for p in pairs:
        for kind in ("input", "target"):
            digest = hashlib.sha256((DATA_SAMPLES / p[kind]).read_bytes()).hexdigest()
            assert digest == p[f"{kind}_sha256"], f"{p[kind]} changed since the manifest was written"


def test_parameters_complete_in_range_and_seeded(pairs):
    for p in pairs:
        d = p["degradation"]
        assert set(d) == {"exposure_ev", "wb_gains", "contrast", "contrast_mean", "saturation"}, p["name"]
        r, g, b = d["wb_gains"]
        assert g == 1.0
        for gain in (r, b):
            assert 2.0 ** degradation.WB_LOG2_GAIN[0] - 1e-3 <= gain <= 2.0 ** degradation.WB_LOG2_GAIN[1] + 1e-3
        assert degradation.EXPOSURE_EV[0] <= d["exposure_ev"] <= degradation.EXPOSURE_EV[1]
        assert degradation.CONTRAST[0] <= d["contrast"] <= degradation.CONTRAST[1]
        assert degradation.SATURATION[0] <= d["saturation"] <= degradation.SATURATION[1]
        assert 0 < d["contrast_mean"] < 2
        # The drawn values are exactly what the documented seeded generator gives.
        assert draw_degradation(p["name"]) == Degradation(
            d["exposure_ev"], tuple(d["wb_gains"]), d["contrast"], d["saturation"]), p["name"]


def test_manifest_states_the_generator_ranges(manifest):
    ranges = manifest["degradation"]["ranges"]
    assert ranges["exposure_ev"] == list(degradation.EXPOSURE_EV)
    assert ranges["contrast"] == list(degradation.CONTRAST) and ranges["saturation"] == list(degradation.SATURATION)
    assert ranges["wb_gains_red_blue"] == pytest.approx([2.0 ** g for g in degradation.WB_LOG2_GAIN], abs=1e-4)
    assert manifest["long_edge"] == LONG_EDGE


def test_contrast_mean_is_the_mean_luma_ops_would_use(pairs, images):
    """The recorded pivot is ops.contrast's default: the mean luma after exposure and white balance."""
    for p in pairs:
        d = Degradation.from_json(p["degradation"])
        target = to_tensor(images[p["name"]][1])
        x = ops.white_balance(ops.exposure(target, d.exposure_ev), d.wb_gains)
        assert float(ops.mean_luminance(x)) == pytest.approx(d.contrast_mean, abs=1e-5), p["name"]


def test_sources_and_licences_recorded(pairs):
    readme = (DATA_SAMPLES / "README.md").read_text(encoding="utf-8")
    photos = {photo.name: photo for photo in gen.PHOTOS}
    assert [p["name"] for p in pairs] == list(photos), "manifest and generator list differ"
    for p in pairs:
        s = p["source"]
        assert p["licence"] in FREE_LICENCES, p["name"]
        assert all(s[k] for k in ("author", "url", "package", "version", "registry", "path",
                                  "licence_stated_in")), p["name"]
        assert s["sha256"] == photos[p["name"]].sha256, p["name"]
        assert f"`{p['name']}`" in readme and s["path"] in readme, f"{p['name']} is not in README.md"


def test_known_degradations_read_the_manifest(pairs, tmp_path):
    known = degradation.known_degradations()
    assert list(known) == [p["name"] for p in pairs]
    astronaut = known["astronaut"]
    assert astronaut == Degradation(-0.4941, (0.8546, 1.0, 1.0239), 0.7228, 0.726, 0.304925)
    assert astronaut.to_json() == next(p["degradation"] for p in pairs if p["name"] == "astronaut")
    # A folder without a manifest (a real FiveK root) has no known degradations.
    assert degradation.known_degradations(tmp_path) == {}
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        degradation.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        degradation.known_degradations(tmp_path)
    (tmp_path / "manifest.json").write_text('{"pairs": [{"name": "a", "degradation": {"contrast": 1}}]}')
    with pytest.raises(ValueError, match="'a' has no complete degradation"):
        degradation.known_degradations(tmp_path)


def test_recorded_degradation_reproduces_every_input(pairs, images):
    """The property that makes the manifest ground truth: degrade(target, recorded) == input (1 level)."""
    known = degradation.known_degradations()
    for p in pairs:
        input_, target = images[p["name"]]
        params = known[p["name"]]
        redone = degrade_uint8(target, params)
        err = np.abs(redone.astype(np.int16) - input_.astype(np.int16)).max()
        assert err <= 1, f"{p['name']}: re-degraded target differs from input by {err} levels"
        # ...and the degradation is not a no-op: the pair really differs.
        assert np.abs(target.astype(np.int16) - input_).mean() > 3, p["name"]


def test_degrade_follows_the_documented_formulas():
    """One pixel by hand, step by step as data_samples/README.md writes it, then the clamp."""
    d = Degradation(exposure_ev=-0.75, wb_gains=(1.2, 1.0, 0.8), contrast=0.6, saturation=0.5,
                        contrast_mean=0.3)
    rgb = (0.8, 0.5, 0.2)
    x = [c * 2 ** -0.75 * g for c, g in zip(rgb, d.wb_gains)]
    x = [0.3 + 0.6 * (c - 0.3) for c in x]
    y = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    expected = [y + 0.5 * (c - y) for c in x]
    out = degrade(torch.tensor(rgb).view(1, 3, 1, 1), d)  # (3,) -> (1, 3, 1, 1)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 1, 1)
    assert out.flatten().tolist() == pytest.approx(expected, abs=1e-6)
    # Nothing clips in between: white pushed to 2.0 comes back to 0.3 + 0.6 * 1.7 = 1.32, then clamps.
    up = Degradation(exposure_ev=1.0, wb_gains=(1.0, 1.0, 1.0), contrast=0.6, saturation=1.0,
                         contrast_mean=0.3)
    assert degrade(torch.ones(1, 3, 1, 1), up).flatten().tolist() == [1.0, 1.0, 1.0]
    half = Degradation(exposure_ev=1.0, wb_gains=(1.0, 1.0, 1.0), contrast=0.5, saturation=1.0,
                           contrast_mean=0.0)
    assert degrade(torch.full((1, 3, 1, 1), 0.8), half).flatten().tolist() == pytest.approx([0.8] * 3)
    with pytest.raises(ValueError, match="contrast_mean"):
        degrade(torch.ones(1, 3, 1, 1), draw_degradation("astronaut"))


def test_ground_truth_is_one_conv_and_one_gfm(pairs, images):
    """As the README says: ops.compose of the four steps reproduces degrade before its clamp."""
    p = pairs[0]
    d = Degradation.from_json(p["degradation"])
    target = to_tensor(images[p["name"]][1])
    conv, mod = ops.compose(ops.exposure_as_conv(d.exposure_ev), ops.white_balance_as_conv(d.wb_gains),
                            ops.contrast_as_gfm(d.contrast, torch.tensor([d.contrast_mean])),
                            ops.saturation_as_conv(d.saturation))
    composed = ops.apply_gfm(ops.apply_conv(target, conv), mod).clamp(0, 1)
    assert torch.allclose(composed, degrade(target, d), atol=1e-5)


def test_png_writer_is_lossless_deterministic_and_bare():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    a[10:20] = a[10:11]  # some repeated rows, so the "up" filter gets chosen too
    blob = gen.png_bytes(a)
    assert gen.png_bytes(a) == blob
    with Image.open(io.BytesIO(blob)) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), a)
        assert not im.info, f"unexpected metadata {im.info}"
    with pytest.raises(ValueError, match="uint8"):
        gen.png_bytes(a.astype(np.uint16))


def test_missing_source_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get download gcompris-qt-data=3.1-2"):
        gen.find_archive(tmp_path, gen.GCOMPRIS)
    with pytest.raises(FileNotFoundError, match="pip download .*scikit-image==0.26.0"):
        gen.find_archive(tmp_path, gen.SKIMAGE)
