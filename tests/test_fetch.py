"""csrnet_lite.tools.develop (rendering) and csrnet_lite.tools.fetch end to end against a FiveK server on 127.0.0.1,
with DNG and ProPhoto TIFF fixtures made here from known images (tests/fixtures_fetch.py): colour,
raw development, downloads, resume, damage, offline."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from csrnet_lite.files import sha256
from csrnet_lite.image import load_image, to_numpy
from csrnet_lite.tools import develop as D
from csrnet_lite.tools import fetch as F
from csrnet_lite.tools.cli import main
from csrnet_lite.tools.download import download
from fixtures_fetch import (FiveKServer, closed_port_url, dng_bytes, expert_tiff_bytes, prophoto_icc, psnr,
                            smooth_image, srgb_to_prophoto, BRADFORD_D65_TO_D50, SRGB_TO_XYZ, XYZ_TO_PROPHOTO)

H, W, MARGIN = 64, 96, (6, 4)  # the photos' default crop and the sensor margin around it
NAMES = ["a0001-fixture_one", "a0002-2004-01-25 13-34-10 CRW_3079 (1)", "a0003-fixture_three"]  # real
# FiveK names have spaces and brackets too


def _scene(phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(the sensor's sRGB image (H + 2 * 6, W + 2 * 4, 3), its default crop (H, W, 3))."""
    mh, mw = MARGIN
    full = smooth_image(H + 2 * mh, W + 2 * mw, phase)
    return full, full[mh:mh + H, mw:mw + W]


def _photo(phase: float) -> dict:
    full, srgb = _scene(phase)
    tif, _ = expert_tiff_bytes(srgb, compression="deflate")
    return {"srgb": srgb, "dng": dng_bytes(srgb, MARGIN, full_image=full), "tif": tif}


@pytest.fixture(scope="module")
def photos() -> dict[str, dict]:
    return {name: _photo(0.3 * i) for i, name in enumerate(NAMES)}


def _files(photos: dict) -> dict[str, bytes]:
    files = {"/legal/filesAdobe.txt": f"{NAMES[2]}\r\n{NAMES[0]}\r\n".encode(),  # the site's lists,
             "/legal/filesAdobeMIT.txt": f"{NAMES[1]}\n".encode()}  # not in FiveK order
    for name, p in photos.items():
        files[f"/img/dng/{name}.dng"] = p["dng"]
        files[f"/img/tiff16_c/{name}.tif"] = p["tif"]
    return files


@pytest.fixture
def server(photos):
    with FiveKServer(_files(photos)) as s:
        yield s


def _pair(root, name) -> tuple[np.ndarray, np.ndarray]:
    return (to_numpy(load_image(root / "input" / f"{name}.png")),
            to_numpy(load_image(root / "target" / f"{name}.png")))


def _pil_resized(srgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """The 8-bit image resized by PIL's antialiased bilinear, back in [0, 1]: the reference for a resize."""
    return np.asarray(Image.fromarray(np.uint8(srgb * 255 + 0.5)).resize((w, h), Image.BILINEAR)) / 255


# --- colour and decoding -----------------------------------------------------------------------------

def test_prophoto_to_srgb_matrix_matches_published_values():
    published = np.linalg.inv(SRGB_TO_XYZ) @ np.linalg.inv(BRADFORD_D65_TO_D50) @ np.linalg.inv(XYZ_TO_PROPHOTO)
    # The published matrices take D50 as XYZ (0.96422, 1, 0.82521), ROMM as xy (0.3457, 0.3585): 3e-4 apart.
    np.testing.assert_allclose(D.PROPHOTO_TO_SRGB, published, atol=5e-4)
    np.testing.assert_allclose(D.PROPHOTO_TO_SRGB.sum(axis=1), 1.0, atol=1e-9)  # white stays white


@pytest.mark.parametrize("icc", [True, False], ids=["icc-gamma", "romm-toe"])
def test_prophoto_decoding_follows_the_profile_curve(icc):
    dark = smooth_image(16, 24) * 0.08  # shadows, where gamma 1.8 and the ROMM toe differ
    encoded = srgb_to_prophoto(dark, toe=not icc).astype(np.float32)
    srgb, outside = D.prophoto_to_srgb(encoded, prophoto_icc() if icc else None)
    assert psnr(srgb, dark) > 70  # taking the other curve gives 57-61 dB
    assert outside == 0.0


def test_out_of_gamut_colours_are_clipped_and_counted():
    prophoto_green = np.array([[[0.0, 1.0, 0.0], [0.5, 0.5, 0.5]]], dtype=np.float32)
    srgb, outside = D.prophoto_to_srgb(prophoto_green)
    assert srgb.min() >= 0 and srgb.max() <= 1 and np.isfinite(srgb).all()
    assert srgb[0, 0].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)  # clipped to sRGB's green
    assert srgb[0, 1].tolist() == pytest.approx([srgb[0, 1, 0]] * 3, abs=1e-4)  # grey stays grey
    assert outside == 0.5


@pytest.mark.parametrize("layout", [dict(), dict(order=">", icc=False), dict(compression="deflate"),
                                    dict(compression="deflate", order=">"), dict(compression="lzw")],
                         ids=["plain", "big-endian-no-icc", "deflate-predictor", "deflate-big-endian", "lzw"])
def test_expert_tiff_is_read_at_full_precision(tmp_path, layout):
    srgb = smooth_image(20, 30)
    data, samples = expert_tiff_bytes(srgb, rows_per_strip=7, **layout)
    path = tmp_path / "expert.tif"
    path.write_bytes(data)
    x, outside = D.read_expert_tiff(path)
    assert x.shape == (1, 3, 20, 30) and outside == 0.0
    expected, _ = D.prophoto_to_srgb(samples / 65535, prophoto_icc() if layout.get("icc", True) else None)
    np.testing.assert_allclose(to_numpy(x), expected, atol=1e-6)  # all 16 bits: 8 would be off by 1e-3
    assert psnr(to_numpy(x), srgb) > 70


def test_expert_tiff_is_turned_upright(tmp_path):
    srgb = smooth_image(20, 30)
    (tmp_path / "cw.tif").write_bytes(expert_tiff_bytes(srgb, orientation=6)[0])
    (tmp_path / "up.tif").write_bytes(expert_tiff_bytes(srgb)[0])
    cw, up = (to_numpy(D.read_expert_tiff(tmp_path / f)[0]) for f in ("cw.tif", "up.tif"))
    np.testing.assert_array_equal(cw, np.rot90(up, k=-1))  # EXIF 6: shown turned 90 degrees clockwise


def test_develop_raw_gives_back_the_known_image(tmp_path, photos):
    p = photos[NAMES[0]]
    (tmp_path / "a.dng").write_bytes(p["dng"])
    x = D.develop_raw(tmp_path / "a.dng")
    assert x.shape == (1, 3, H, W)  # the default crop, not the sensor
    assert psnr(to_numpy(x), p["srgb"]) > 45  # about 60 dB; no white balance or exposure: < 25 dB
    half = D.develop_raw(tmp_path / "a.dng", for_size=32)  # 2x2 cells, no demosaicing
    assert half.shape == (1, 3, H // 2, W // 2)
    assert psnr(to_numpy(half), _pil_resized(p["srgb"], H // 2, W // 2)) > 30


def test_develop_raw_turns_the_photo_upright(tmp_path):
    full, srgb = _scene()
    (tmp_path / "up.dng").write_bytes(dng_bytes(srgb, MARGIN, full_image=full))
    (tmp_path / "cw.dng").write_bytes(dng_bytes(srgb, MARGIN, full_image=full, orientation=6))
    up, cw = to_numpy(D.develop_raw(tmp_path / "up.dng")), to_numpy(D.develop_raw(tmp_path / "cw.dng"))
    np.testing.assert_array_equal(cw, np.rot90(up, k=-1))  # EXIF 6: shown turned 90 degrees clockwise


def test_undecodable_files_raise_value_errors(tmp_path):
    bad = tmp_path / "bad.dng"
    bad.write_bytes(b"not a raw file" * 100)
    with pytest.raises(ValueError, match="cannot develop .*bad.dng"):
        D.develop_raw(bad)
    with pytest.raises(ValueError, match="cannot decode .*bad.dng"):
        D.read_expert_tiff(bad)


# --- names ---------------------------------------------------------------------------------------

def test_names_are_parsed_checked_and_ordered(tmp_path):
    text = ["names, c1", "# a comment", "", "a0002-dgw_005,indoor", "1\ta0001-jmac_DSC1459\toutdoor",
            " a0532-jmacdscf0021 (1) "]
    assert F.parse_names(text) == ["a0002-dgw_005", "a0001-jmac_DSC1459", "a0532-jmacdscf0021 (1)"]
    assert F.fivek_order(["a0002-dgw_005", "a0001-jmac_DSC1459", "a0002-dgw_005"]) == [
        "a0001-jmac_DSC1459", "a0002-dgw_005"]
    with pytest.raises(ValueError, match="line 2: 'dgw_005' is not a FiveK base name"):
        F.parse_names(["a0001-jmac_DSC1459", "dgw_005"])
    with pytest.raises(ValueError, match="line 1: 'dgw_005' is not"):
        F.parse_names(["dgw_005", "a0001-jmac_DSC1459"], header=False)
    with pytest.raises(ValueError, match="two base names for FiveK id a0001"):
        F.fivek_order(["a0001-x", "a0001-y"])
    with pytest.raises(FileNotFoundError, match="no names file"):
        F.read_names(tmp_path / "missing.txt")


def test_the_sites_licence_lists_give_all_5000_names_in_fivek_order(shared_fivek):
    lists = shared_fivek / "lists"
    names = F.fivek_order(F.read_names(lists / "filesAdobe.txt") + F.read_names(lists / "filesAdobeMIT.txt"))
    assert names == (lists / "fivek_5000_basenames.txt").read_text().splitlines()
    assert len(names) == 5000


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match="expert must be one of A, B, C, D, E"):
        F.fetch(tmp_path, expert="F", names=NAMES)
    with pytest.raises(ValueError, match="n must be a positive"):
        F.fetch(tmp_path, n=0, names=NAMES)


# --- the subset, end to end ------------------------------------------------------------------------

def test_fetch_writes_matching_pairs_and_skips_them_next_time(tmp_path, photos, server):
    report = F.fetch(tmp_path, n=2, size=None, base_url=server.url, progress=False)
    assert report.written == NAMES[:2] and not report.failed  # the first two in FiveK order
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for name in NAMES[:2]:
        x_input, x_target = _pair(tmp_path, name)
        assert x_input.shape == x_target.shape == (H, W, 3)
        assert psnr(x_input, photos[name]["srgb"]) > 40  # about 57 dB (8-bit PNG)
        assert psnr(x_target, photos[name]["srgb"]) > 45  # about 58 dB (8-bit PNG)
        entry = manifest["pairs"][name]
        assert entry["dng"]["sha256"] == hashlib.sha256(photos[name]["dng"]).hexdigest()
        assert entry["tiff"]["sha256"] == hashlib.sha256(photos[name]["tif"]).hexdigest()
        assert entry["input"]["sha256"] == sha256(tmp_path / "input" / f"{name}.png")
        assert entry["target"]["sha256"] == sha256(tmp_path / "target" / f"{name}.png")
    assert "filesAdobe.txt" in manifest["names"] and "LibRaw" in manifest["pipeline"]["input"]
    downloads = tmp_path / F.DOWNLOADS
    left = sorted(p.name for p in downloads.rglob("*") if p.is_file())
    assert left == ["filesAdobe.txt", "filesAdobeMIT.txt"]  # photos deleted once rendered

    before = len(server.requests)
    again = F.fetch(tmp_path, n=2, size=None, base_url=server.url, progress=False)
    assert again.complete == NAMES[:2] and not again.written
    assert len(server.requests) == before  # nothing asked of the server


def test_command_line_resizes_and_follows_a_names_file(tmp_path, photos, server, capsys):
    names = tmp_path / "names.txt"
    names.write_text(f"{NAMES[1]}\n{NAMES[0]}\n")
    root = tmp_path / "subset"
    code = main(["data", "fetch", "--root", str(root), "--n", "1", "--size", "32", "--names", str(names),
                 "--base-url", server.url])  # progress bars on, as users see them
    assert code == 0, capsys.readouterr().err
    assert [p.name for p in (root / "target").iterdir()] == [f"{NAMES[1]}.png"]  # file order
    x_input, x_target = _pair(root, NAMES[1])
    assert x_input.shape == x_target.shape == (32, 48, 3)
    reference = _pil_resized(photos[NAMES[1]]["srgb"], 32, 48)
    assert psnr(x_target, reference) > 35 and psnr(x_input, reference) > 30
    assert "1 pairs written" in capsys.readouterr().out


def test_interrupted_download_resumes_with_a_range_request(tmp_path, photos, server):
    tif = f"/img/tiff16_c/{NAMES[0]}.tif"
    server.drop_after[tif] = 1000
    with pytest.raises(ConnectionError, match="stopped after 1,000 of .* run again to resume"):
        F.fetch(tmp_path, n=1, size=None, base_url=server.url, retries=0, progress=False)
    final = tmp_path / F.DOWNLOADS / "tiff16_c" / f"{NAMES[0]}.tif"
    assert not final.exists() and final.with_name(final.name + ".part").stat().st_size == 1000
    assert (tmp_path / F.DOWNLOADS / "dng" / f"{NAMES[0]}.dng").exists()  # finished downloads are kept
    assert not (tmp_path / "target").exists()

    report = F.fetch(tmp_path, n=1, size=None, base_url=server.url, retries=0, progress=False)
    assert report.written == NAMES[:1]
    assert server.requests[-1] == (tif, "bytes=1000-", 206)
    assert server.count(".dng") == 1  # not downloaded twice
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pairs"][NAMES[0]]["tiff"]["sha256"] == hashlib.sha256(photos[NAMES[0]]["tif"]).hexdigest()


def test_dropped_connection_is_resumed_within_one_call(tmp_path, photos, server):
    dng = f"/img/dng/{NAMES[0]}.dng"
    server.drop_after[dng] = 5000
    report = F.fetch(tmp_path, n=1, size=None, base_url=server.url, retries=1, progress=False)
    assert report.written == NAMES[:1]
    assert [r for r in server.requests if r[0] == dng] == [(dng, None, 200), (dng, "bytes=5000-", 206)]


def test_complete_part_file_is_accepted_on_416(tmp_path, photos, server):
    path = tmp_path / "x.dng"
    path.with_name("x.dng.part").write_bytes(photos[NAMES[0]]["dng"])
    download(server.url + f"img/dng/{NAMES[0]}.dng", path, progress=False)
    assert path.read_bytes() == photos[NAMES[0]]["dng"] and server.requests[-1][2] == 416


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL, about the damaged TIFF
def test_damaged_download_is_detected_and_downloaded_again(tmp_path, photos, server, capsys):
    server.serve_once[f"/img/dng/{NAMES[0]}.dng"] = b"\0" * 3000
    server.serve_once[f"/img/tiff16_c/{NAMES[0]}.tif"] = photos[NAMES[0]]["tif"][:8] + b"\xff" * 500
    report = F.fetch(tmp_path, n=1, size=None, base_url=server.url, progress=False)
    assert report.written == NAMES[:1]
    err = capsys.readouterr().err
    assert "cannot develop" in err and "cannot decode" in err and "downloading it again" in err
    assert server.count(".dng") == 2 and server.count(".tif") == 2
    assert psnr(_pair(tmp_path, NAMES[0])[0], photos[NAMES[0]]["srgb"]) > 40


def test_file_that_stays_damaged_is_reported_and_the_rest_goes_on(tmp_path, photos, server, capsys):
    server.files[f"/img/dng/{NAMES[0]}.dng"] = b"\0" * 3000
    code = main(["data", "fetch", "--root", str(tmp_path), "--n", "2", "--size", "0", "--base-url", server.url,
                 "--quiet"])
    assert code == 1
    out = capsys.readouterr().out
    assert "1 pairs written" in out and "1 failed" in out and f"{NAMES[0]}: cannot develop" in out
    assert sorted(p.name for p in (tmp_path / "input").iterdir()) == [f"{NAMES[1]}.png"]
    assert not list((tmp_path / F.DOWNLOADS / "dng").iterdir())  # the bad file is not kept


def test_kept_download_with_a_wrong_checksum_is_downloaded_again(tmp_path, photos, server, capsys):
    F.fetch(tmp_path, n=1, size=None, base_url=server.url, keep_downloads=True, progress=False)
    kept = tmp_path / F.DOWNLOADS / "tiff16_c" / f"{NAMES[0]}.tif"
    target = tmp_path / "target" / f"{NAMES[0]}.png"
    good = sha256(target)
    kept.write_bytes(photos[NAMES[1]]["tif"])  # still a valid TIFF, but not this photo's
    target.unlink()
    F.fetch(tmp_path, n=1, size=None, base_url=server.url, keep_downloads=True, progress=False)
    assert "does not match the checksum" in capsys.readouterr().err
    assert server.count(".tif") == 2 and server.count(".dng") == 1
    assert sha256(target) == good


def test_a_names_list_that_is_not_one_is_explained_and_not_kept(tmp_path, server):
    server.files["/legal/filesAdobeMIT.txt"] = b"<html>Service unavailable</html>\n<p>try later</p>"
    with pytest.raises(ValueError, match="filesAdobeMIT.txt, line 2.* was removed; run again"):
        F.fetch(tmp_path, n=1, base_url=server.url, progress=False)
    assert not (tmp_path / F.DOWNLOADS / "lists" / "filesAdobeMIT.txt").exists()


def test_missing_photo_is_reported(tmp_path, server):
    report = F.fetch(tmp_path, n=2, size=None, names=["a4999-not_there", NAMES[0]], base_url=server.url,
                     progress=False)
    assert report.written == NAMES[:1] and "not on the server (HTTP 404)" in report.failed["a4999-not_there"]


def test_offline_is_a_clear_error_and_leaves_no_half_files(tmp_path, capsys):
    url = closed_port_url()
    with pytest.raises(ConnectionError, match=r"cannot reach 127\.0\.0\.1:\d+ .*check your connection; "
                                              r"files already downloaded are kept in"):
        F.fetch(tmp_path, n=1, base_url=url, progress=False)
    assert main(["data", "fetch", "--root", str(tmp_path), "--names", str(_write(tmp_path / "n.txt", NAMES[0])),
                 "--base-url", url, "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot reach 127.0.0.1")
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "n.txt"]


def _write(path, text):
    path.write_text(text)
    return path
