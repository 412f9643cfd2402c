"""3D LUTs: baking is exact at the lattice, trilinear application matches the network, .cube files
round-trip, malformed files fail with line numbers, and ffmpeg's lut3d agrees with our application."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import require
from csrnet_lite.checkpoint import load_official
from csrnet_lite.image import Resize, quantize, thumbnail, to_numpy, to_tensor
from csrnet_lite.lut import (DEFAULT_SIZE, apply_lut, bake_lut, identity_lut, lut_image, photo_modulations,
                             retouch_lut)
from csrnet_lite.model import CondView, CSRNet, Modulations
from csrnet_lite.tools.cube import Cube, read_cube, write_cube


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB (peak 1) of two network outputs, unclamped: the colour map itself is compared."""
    mse = float(((a - b) ** 2).mean())
    return 10 * np.log10(1 / mse) if mse > 0 else float("inf")


def random_csrnet(seed: int = 6) -> CSRNet:
    """A random CSRNet near the identity: its retouch looks like one (every colour moves by ~30 levels
    of 8 bits, nonlinearly) while a freshly initialised CSRNet maps most colours below 0."""
    torch.manual_seed(seed)
    model = CSRNet().eval()
    with torch.no_grad():
        for conv in (model.conv1, model.conv2, model.conv3):
            conv.weight.mul_(0.5)
            conv.weight[:3, :3, 0, 0] += torch.eye(3)  # a path that carries r, g, b through the ReLUs
            conv.bias.mul_(0.2)
        for name, p in model.named_parameters():
            if name.startswith(("cond_scale", "cond_shift")):
                p.mul_(0.3)  # milder modulations
    return model


@pytest.fixture(scope="module")
def random_model() -> CSRNet:
    return random_csrnet()


@pytest.fixture(scope="module")
def official(shared_weights: Path) -> CSRNet:
    return load_official(shared_weights / "csrnet_official.pth")


@pytest.fixture(params=["fresh", "random", "official"])
def model(request) -> CSRNet:
    """A freshly initialised CSRNet, a random near-identity one, and the authors' weights."""
    if request.param == "fresh":
        torch.manual_seed(0)
        return CSRNet().eval()
    return request.getfixturevalue(f"{request.param}_model" if request.param == "random" else "official")


@pytest.fixture
def photo() -> torch.Tensor:
    """A random image (1, 3, 60, 80): noise reaches every corner of the colour cube, the hard case."""
    return torch.rand(1, 3, 60, 80, generator=torch.Generator().manual_seed(0))


def lattice_image(size: int) -> torch.Tensor:
    """Every lattice colour once, as an image (1, 3, N*N, N) whose pixel (b*N + g, r) is (r, g, b)/(N-1)."""
    v = torch.arange(size) / (size - 1)
    b, g, r = torch.meshgrid(v, v, v, indexing="ij")  # (N, N, N) each
    return torch.stack([r, g, b]).reshape(1, 3, size * size, size)  # (3, N, N, N) -> (1, 3, N*N, N)


# --- baking and applying -------------------------------------------------------------------------

def test_identity_lut_index_order():
    lut = identity_lut(3)
    assert lut.shape == (3, 3, 3, 3)
    assert lut[0, 0, 2].tolist() == [1, 0, 0]  # lut[b, g, r]: the last index is red
    assert lut[0, 2, 0].tolist() == [0, 1, 0]
    assert lut[2, 0, 0].tolist() == [0, 0, 1]
    assert lut[1, 2, 0].tolist() == [0, 1, 0.5]
    assert lut.reshape(-1, 3)[1].tolist() == [0.5, 0, 0]  # .cube row order: red fastest


@pytest.mark.parametrize("size", [2, 17, 33])
def test_identity_lut_is_identity(photo, size):
    assert torch.allclose(apply_lut(photo, identity_lut(size)), photo, atol=1e-6)


def test_bake_equals_model_at_lattice_points(model, photo):
    size = 9
    mods = photo_modulations(model, photo)
    lut = bake_lut(model, mods, size)
    grid = lattice_image(size)
    with torch.no_grad():
        direct = model(grid, cond_input=thumbnail(photo))  # the full model, same condition
    assert torch.allclose(lut.permute(3, 0, 1, 2).reshape(1, 3, size * size, size), direct, atol=1e-5)
    assert torch.allclose(apply_lut(grid, lut), direct, atol=1e-5)  # application hits the lattice


def test_lut_matches_direct_forward(model, photo):
    """Trilinear interpolation of a 33^3 table is within 45 dB of the network, even on pure noise."""
    with torch.no_grad():
        direct = model(photo, cond_input=thumbnail(photo))
    baked = apply_lut(photo, retouch_lut(model, photo, size=33))
    assert direct.std() > 0.05  # a real colour map, not a constant
    assert psnr(baked, direct) > 45
    coarse = apply_lut(photo, retouch_lut(model, photo, size=5))
    assert psnr(coarse, direct) < psnr(baked, direct)  # coarser lattice, worse
    full = apply_lut(photo, retouch_lut(model, photo, size=33, view=CondView.FULL))  # cond on every pixel
    with torch.no_grad():
        assert psnr(full, model(photo)) > 45


def test_default_lut_size_is_more_faithful(official):
    """The default 65^3 lattice beats 33^3 on a photo-like image: the reason it is the default."""
    x = to_tensor(photo_like(96, 128, noise=4))
    with torch.no_grad():
        direct = official(x, cond_input=thumbnail(x))
    small, default = (psnr(apply_lut(x, retouch_lut(official, x, size=n)), direct)
                      for n in (33, DEFAULT_SIZE))
    assert DEFAULT_SIZE == 65 and default > small + 3 and default > 50, (small, default)


def test_cond_views():
    wide = torch.rand(1, 3, 600, 1000, generator=torch.Generator().manual_seed(2))
    assert CondView.THUMB_128(wide).shape == (1, 3, 128, 128)  # square: aspect ratio not kept
    assert CondView.LONG_512(wide).shape == (1, 3, 307, 512)  # 600 * 512 / 1000 = 307.2
    assert torch.equal(CondView.LONG_512(wide), Resize.LONG_512(wide))  # the data module's resize, reused
    assert CondView.FULL(wide) is wide
    small = wide[:, :, :300, :400]
    assert CondView.LONG_512(small) is small  # never upscaled
    assert CondView(64)(wide).shape == (1, 3, 64, 64)
    assert [str(v) for v in (CondView.THUMB_128, CondView.LONG_512, CondView.FULL)] == [
        "128x128 thumbnail", "long edge 512", "full photo"]
    assert CondView() == CondView.THUMB_128  # the default: what models trained here see
    with pytest.raises(ValueError, match="not both"):
        CondView(128, Resize.LONG_512)
    with pytest.raises(ValueError, match="positive number of pixels"):
        CondView(0)
    with pytest.raises(TypeError, match="image.Resize"):
        CondView(None, 512)


def test_modulations_follow_the_view(random_model):
    wide = torch.rand(1, 3, 600, 1000, generator=torch.Generator().manual_seed(3))
    for view in (CondView.THUMB_128, CondView.LONG_512, CondView.FULL):
        expected = random_model.modulations(view(wide)).cond
        assert torch.equal(photo_modulations(random_model, wide, view).cond, expected)
    conds = [photo_modulations(random_model, wide, v).cond for v in (CondView.THUMB_128, CondView.LONG_512)]
    assert not torch.allclose(*conds)  # the view matters: the condition depends on the resolution
    with pytest.raises(TypeError, match="CondView"):
        photo_modulations(random_model, wide, 128)


def test_strength_blends_with_identity(random_model, photo):
    mods = photo_modulations(random_model, photo)
    assert torch.equal(bake_lut(random_model, mods, 9, strength=0.0), identity_lut(9))
    full = apply_lut(photo, bake_lut(random_model, mods, 9))
    half = apply_lut(photo, bake_lut(random_model, mods, 9, strength=0.5))
    assert torch.allclose(half, 0.5 * photo + 0.5 * full, atol=1e-5)
    with pytest.raises(ValueError, match="strength must lie in"):
        bake_lut(random_model, mods, 9, strength=1.5)


def test_chunked_equals_unchunked(random_model):
    x = torch.rand(2, 3, 37, 29, generator=torch.Generator().manual_seed(1))
    lut = retouch_lut(random_model, x[:1], size=17)
    whole = apply_lut(x, lut, chunk_pixels=10**9)
    assert torch.equal(apply_lut(x, lut, chunk_pixels=29 * 5 + 3), whole)  # 5-row chunks, last one short
    assert torch.equal(apply_lut(x, lut, chunk_pixels=1), whole)  # one row at a time
    assert torch.equal(apply_lut(x.contiguous(memory_format=torch.channels_last), lut), whole)
    assert torch.equal(apply_lut(x[:1], lut)[0], whole[0])  # batch entries are independent


def test_domain_maps_and_clamps(photo):
    lut = identity_lut(5)
    assert torch.allclose(apply_lut(2 * photo, lut, domain_max=2), photo, atol=1e-6)
    assert torch.allclose(apply_lut(photo - 1, lut, domain_min=-1, domain_max=(0, 0, 0)), photo, atol=1e-6)
    outside = torch.tensor([-0.5, 1.5, 0.25]).reshape(1, 3, 1, 1)
    assert torch.allclose(apply_lut(outside, lut), torch.tensor([0, 1, 0.25]).reshape(1, 3, 1, 1))
    with pytest.raises(ValueError, match="must exceed domain_min"):
        apply_lut(photo, lut, domain_min=1, domain_max=0)


def test_bad_luts_and_inputs_are_refused(random_model, photo):
    with pytest.raises(ValueError, match=r"shape \(N, N, N, 3\)"):
        apply_lut(photo, torch.zeros(4, 4, 3))
    with pytest.raises(ValueError, match=r"shape \(N, N, N, 3\)"):
        apply_lut(photo, torch.zeros(4, 4, 5, 3))
    with pytest.raises(TypeError, match="floating-point"):
        apply_lut(photo, torch.zeros(4, 4, 4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        apply_lut(photo, torch.full((2, 2, 2, 3), float("nan")))
    with pytest.raises(ValueError, match="integer from 2 to 256"):
        identity_lut(1)
    with pytest.raises(ValueError, match="one photo"):
        retouch_lut(random_model, photo.expand(2, -1, -1, -1))
    with pytest.raises(ValueError, match="batch of 2"):
        bake_lut(random_model, Modulations.identity(batch=2))


def test_lut_image_tiles_blue_slices():
    lut = identity_lut(4)
    picture = lut_image(lut)
    assert picture.shape == (1, 3, 4, 16)
    assert picture[0, :, 3, 4 * 2 + 1].tolist() == pytest.approx([1 / 3, 1, 2 / 3])  # tile b=2, g=3, r=1


# --- .cube files ---------------------------------------------------------------------------------

def test_cube_round_trip(random_model, photo, tmp_path):
    lut = retouch_lut(random_model, photo, size=17)
    path = write_cube(tmp_path / "look.cube", lut, title="a look", comments=["made in a test", "two lines"],
                      domain_min=(0, 0, 0), domain_max=(1, 1, 1))
    lines = path.read_text().splitlines()
    assert lines[:4] == ["# made in a test", "# two lines", 'TITLE "a look"', "LUT_3D_SIZE 17"]
    assert len(lines) == 6 + 17 ** 3
    assert [float(v) for v in lines[7].split()] == pytest.approx(lut[0, 0, 1].tolist(), abs=5e-7)
    cube = read_cube(path)
    assert cube.title == "a look" and cube.domain_min == (0, 0, 0) and cube.domain_max == (1, 1, 1)
    assert (cube.lut - lut).abs().max() <= 5e-7 + 1e-7  # printed with 6 decimals
    assert write_cube(tmp_path / "again.cube", cube.lut, title="a look", comments=["made in a test", "two lines"]
                      ).read_text() == path.read_text()  # reading then writing changes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.cube", "look.cube"]  # no temporary files


def test_write_cube_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="quotes"):
        write_cube(tmp_path / "x.cube", identity_lut(2), title='say "hi"')
    with pytest.raises(ValueError, match=r"shape \(N, N, N, 3\)"):
        write_cube(tmp_path / "x.cube", torch.zeros(3, 3, 3))
    assert not list(tmp_path.iterdir())


# A 2-point LUT that swaps red and blue, in the variants other tools write: a UTF-8 BOM, CRLF line ends,
# comments, blank lines, TITLE, DOMAIN lines before or after the size, Resolve's keywords.
SWAP_ROWS = ["0 0 0", "0 0 1", "0 1 0", "0 1 1", "1 0 0", "1 0 1", "1 1 0", "1 1 1"]
CUBE_VARIANTS = {
    "adobe": "\n".join(['TITLE "swap"', "# comment", "LUT_3D_SIZE 2", "DOMAIN_MIN 0 0 0",
                        "DOMAIN_MAX 1.0 1.0 1.0", "", *SWAP_ROWS]),
    "crlf_bom": "\ufeff" + "\r\n".join(["# Created by some tool", "", "TITLE swap", "LUT_3D_SIZE 2", "",
                                        *SWAP_ROWS, "", "# end", ""]),
    "resolve": "\n".join(["LUT_3D_SIZE 2", "LUT_3D_INPUT_RANGE 0.0 1.0", "LUT_IN_VIDEO_RANGE",
                          *[r + "  " for r in SWAP_ROWS]]),
    "domain_first": "\n".join(["DOMAIN_MIN 0 0 0", "DOMAIN_MAX 1 1 1", "LUT_3D_SIZE 2",
                               *[" ".join(f"{float(v):.10e}" for v in r.split()) for r in SWAP_ROWS]]),
}


@pytest.mark.parametrize("variant", sorted(CUBE_VARIANTS))
def test_cube_variants_load(variant, tmp_path):
    path = tmp_path / "swap.cube"
    path.write_bytes(CUBE_VARIANTS[variant].encode("utf-8"))
    cube = read_cube(path)
    assert cube.title == ("swap" if variant in ("adobe", "crlf_bom") else "")
    assert cube.domain_min == (0, 0, 0) and cube.domain_max == (1, 1, 1)
    colours = torch.tensor([[0.1, 0.5, 0.9], [1.0, 0.0, 0.25]]).T.reshape(1, 3, 2, 1)  # 2 pixels
    assert torch.allclose(cube.apply(colours), colours.flip(1), atol=1e-6)  # red and blue swapped


def test_cube_with_domain(tmp_path):
    path = tmp_path / "wide.cube"
    path.write_text("\n".join(["LUT_3D_SIZE 2", "DOMAIN_MIN -1 -1 -1", "DOMAIN_MAX 3 3 3", *SWAP_ROWS]))
    cube = read_cube(path)
    assert cube.domain_min == (-1, -1, -1) and cube.domain_max == (3, 3, 3)
    x = torch.tensor([1.0, 0.0, -1.0]).reshape(1, 3, 1, 1)  # (1, 0, -1) sits at (0.5, 0.25, 0) of the domain
    assert torch.allclose(Cube(cube.lut, domain_min=cube.domain_min, domain_max=cube.domain_max).apply(x),
                          torch.tensor([0.0, 0.25, 0.5]).reshape(1, 3, 1, 1))


MALFORMED = {
    "no size": (["# nothing", *SWAP_ROWS[:0]], "no LUT_3D_SIZE line"),
    "row before size": ([*SWAP_ROWS[:1], "LUT_3D_SIZE 2"], "line 1: table row"),
    "non-numeric": (["LUT_3D_SIZE 2", *SWAP_ROWS[:3], "0 one 0", *SWAP_ROWS[4:]], "line 5: expected a table row"),
    "two columns": (["LUT_3D_SIZE 2", *SWAP_ROWS[:6], "1 1", SWAP_ROWS[7]], "line 8: expected a table row"),
    "four columns": (["LUT_3D_SIZE 2", "0 0 0 0", *SWAP_ROWS[1:]], "line 2: expected a table row"),
    "nan": (["LUT_3D_SIZE 2", *SWAP_ROWS[:7], "nan 0 0"], "line 9: .*finite"),
    "too few rows": (["LUT_3D_SIZE 2", "", *SWAP_ROWS[:7]], r"needs 8 table rows, found 7 \(last row at line 9\)"),
    "too many rows": (["LUT_3D_SIZE 2", *SWAP_ROWS, "1 1 1"], "line 10: extra table row"),
    "size not a number": (["LUT_3D_SIZE two", *SWAP_ROWS], "line 1: LUT_3D_SIZE must be one integer"),
    "size too small": (["LUT_3D_SIZE 1", "0 0 0"], "line 1: LUT_3D_SIZE must be one integer"),
    "two sizes": (["LUT_3D_SIZE 2", "LUT_3D_SIZE 2", *SWAP_ROWS], "line 2: second LUT_3D_SIZE"),
    "1D LUT": (["TITLE \"curve\"", "LUT_1D_SIZE 2", "0 0 0", "1 1 1"], "line 2: LUT_1D_SIZE: 1D LUTs"),
    "1D shaper": (["LUT_1D_INPUT_RANGE 0 1", "LUT_3D_SIZE 2", *SWAP_ROWS], "line 1: .*not supported"),
    "bad domain": (["LUT_3D_SIZE 2", "DOMAIN_MIN 0 0", *SWAP_ROWS], "line 2: expected DOMAIN_MIN R G B"),
    "empty domain": (["LUT_3D_SIZE 2", "DOMAIN_MIN 1 1 1", "DOMAIN_MAX 1 1 1", *SWAP_ROWS], "must exceed"),
    "keyword in table": (["LUT_3D_SIZE 2", *SWAP_ROWS[:4], "DOMAIN_MAX 1 1 1", *SWAP_ROWS[4:]],
                         "line 6: keyword DOMAIN_MAX after the table started at line 2"),
    "prose": (["LUT_3D_SIZE 2", "this is not a lut", *SWAP_ROWS], "line 2: expected a table row"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_cube_names_the_line(case, tmp_path):
    lines, message = MALFORMED[case]
    path = tmp_path / "bad.cube"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        read_cube(path)


def test_unreadable_cube_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .cube file"):
        read_cube(tmp_path / "missing.cube")
    (tmp_path / "binary.cube").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="not a text .cube file"):
        read_cube(tmp_path / "binary.cube")


# --- ffmpeg interoperability ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def ffmpeg() -> str:
    """Path of ffmpeg; skips when missing, fails under CI=true (where .ci/run installs it)."""
    return str(require(Path(shutil.which("ffmpeg") or "/ffmpeg-not-installed"), "ffmpeg (apt install ffmpeg)"))


def ffmpeg_lut3d(ffmpeg: str, image: Path, cube: Path, out: Path) -> np.ndarray:
    """Apply `cube` to the 8-bit PNG `image` with ffmpeg's lut3d filter (trilinear) -> uint8 (H, W, 3)."""
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(image),
                    "-vf", f"lut3d=file={cube.name}:interp=trilinear", "-pix_fmt", "rgb24", str(out)],
                   check=True, cwd=cube.parent, timeout=60)
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


def photo_like(height: int = 64, width: int = 96, noise: float = 20) -> np.ndarray:
    """An 8-bit image with smooth gradients and noise (standard deviation in 8-bit levels), covering
    dark, bright and saturated colours."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    base = np.stack([x, y, 1 - x * y], axis=-1) ** np.array([0.5, 1.0, 2.0])
    return np.clip(base * 255 + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)


def test_ffmpeg_applies_our_cube_like_we_do(ffmpeg, random_model, tmp_path):
    pixels = photo_like()
    Image.fromarray(pixels).save(tmp_path / "in.png")
    x = to_tensor(pixels)
    lut = retouch_lut(random_model, x, size=33)  # 33 keeps the test fast; 65 behaves the same
    write_cube(tmp_path / "ours.cube", lut, title="csrnet-lite test")
    ours = quantize(to_numpy(apply_lut(x, lut))).astype(int)
    theirs = ffmpeg_lut3d(ffmpeg, tmp_path / "in.png", tmp_path / "ours.cube", tmp_path / "out.png").astype(int)
    difference = np.abs(theirs - ours)
    assert ours.std() > 20  # a real retouch, not a flat image
    assert difference.mean() <= 1.0 and difference.max() <= 3, (difference.mean(), difference.max())


def test_ffmpeg_reads_other_tools_cubes_like_we_do(ffmpeg, tmp_path):
    """A hand-written 5^3 LUT (curves + channel mixing) in another tool's style: ffmpeg and we agree,
    which also pins the row order (red fastest) to an independent reader."""
    v = np.linspace(0, 1, 5)
    b, g, r = np.meshgrid(v, v, v, indexing="ij")
    table = np.stack([g ** 0.5, 0.2 * r + 0.8 * b, r ** 2], axis=-1).reshape(-1, 3)
    rows = [" ".join(f"{c:.8f}" for c in row) for row in table]
    text = "\r\n".join(["# written by hand", 'TITLE "mix"', "", "LUT_3D_SIZE 5", "DOMAIN_MIN 0.0 0.0 0.0",
                        "DOMAIN_MAX 1.0 1.0 1.0", "", *rows, ""])
    (tmp_path / "mix.cube").write_bytes(text.encode())
    pixels = photo_like()
    Image.fromarray(pixels).save(tmp_path / "in.png")
    ours = quantize(to_numpy(read_cube(tmp_path / "mix.cube").apply(to_tensor(pixels)))).astype(int)
    theirs = ffmpeg_lut3d(ffmpeg, tmp_path / "in.png", tmp_path / "mix.cube", tmp_path / "out.png").astype(int)
    difference = np.abs(theirs - ours)
    assert difference.mean() <= 1.0 and difference.max() <= 3, (difference.mean(), difference.max())
