"""Paired data: layouts, pairing rules, problem reports, splits, resizing, caching, 16-bit files, and
the CI check that ../shared/fivek pairs exactly as its pairs.tsv says.

Fixture files are tiny and written here; 16-bit PNG/TIFF fixtures come from small writers in this
file (all five PNG filters, both TIFF byte orders, deflate, orientation tags), independent of the
decoder under test.
"""
from __future__ import annotations

import csv
import os
import struct
import types
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet_lite import data as data_module
from csrnet_lite.data import PairDataset, default_root, describe_root
from csrnet_lite.image import Resize, load_image, quantize, save_image, thumbnail
from csrnet_lite.pairs import (PairFiles, PairingWarning, clean_stem, find_pairs, fivek_id, read_id_list,
                               select_ids, select_range, split_by_id)
from csrnet_lite.settings import DATA_SAMPLES
from csrnet_lite.tools import fetch as fetch_module
from csrnet_lite.tools.cli import main


def _photo(h: int, w: int, seed: str, channels: int = 3) -> np.ndarray:
    """A distinct random uint8 photo (h, w, channels) for each seed string."""
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    return rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze()


def _write(root: Path, names: list[str], size: tuple[int, int] = (6, 8)) -> None:
    """A different small photo (height, width) at each relative path, in the format of its suffix."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(*size, name)).save(path)


def _png16(path: Path, a: np.ndarray) -> None:
    """16-bit RGB or RGBA PNG of a uint16 (H, W, 3|4) array, cycling through all five row filters."""
    h, w, c = a.shape
    bpp = 2 * c
    rows = a.astype(">u2").view(np.uint8).reshape(h, w * bpp).astype(np.int32)
    prev, body = np.zeros(w * bpp, np.int32), b""
    for y, row in enumerate(rows):
        kind = y % 5
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        p = left + prev - upleft
        paeth = np.where((abs(p - left) <= abs(p - prev)) & (abs(p - left) <= abs(p - upleft)), left,
                         np.where(abs(p - prev) <= abs(p - upleft), prev, upleft))
        pred = [0, left, prev, (left + prev) // 2, paeth][kind]
        body += bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes()
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body))
                     + chunk(b"IEND", b""))


def _tiff16(path: Path, a: np.ndarray, order: str = "<", deflate: bool = False, orientation: int = 1):
    """16-bit RGB TIFF of a uint16 (H, W, 3) array: byte order "<" or ">", raw or deflate, one strip."""
    h, w, _ = a.shape
    pixels = a.astype(order + "u2").tobytes()
    pixels = zlib.compress(pixels) if deflate else pixels
    n = 11
    bits_at = 8 + 2 + 12 * n + 4
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bits_at), (259, 3, 1, 8 if deflate else 1),
               (262, 3, 1, 2), (273, 4, 1, bits_at + 6), (274, 3, 1, orientation), (277, 3, 1, 3),
               (278, 4, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd = struct.pack(order + "H", n) + b"".join(
        struct.pack(order + "HHI", t, k, c) + (struct.pack(order + "HH", v, 0) if k == 3 and c == 1
                                               else struct.pack(order + "I", v))
        for t, k, c, v in entries) + struct.pack(order + "I", 0)
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    path.write_bytes(head + ifd + struct.pack(order + "3H", 16, 16, 16) + pixels)


def _expected(a: np.ndarray) -> torch.Tensor:
    """uint8/uint16 (H, W, 3) -> (1, 3, H, W) as load_image must return it."""
    top = 255.0 if a.dtype == np.uint8 else 65535.0
    return torch.from_numpy(np.ascontiguousarray(a).astype(np.float32) / top).permute(2, 0, 1)[None]


# ---------------------------------------------------------------------------------------------------
# The CI check: ../shared/fivek

def test_shared_fivek_pairs_exactly_as_pairs_tsv(shared_fivek):
    with (shared_fivek / "pairs.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    pairs = find_pairs(shared_fivek, strict=True)  # strict: no problem may be reported either
    rel = lambda p: p.relative_to(shared_fivek).as_posix()
    assert sorted((p.id, p.group, rel(p.input), rel(p.target)) for p in pairs) == sorted(
        (r["fivek_id"], r["source"], r["input"], r["target"]) for r in rows)
    assert len(pairs) == 23
    by_id = {r["fivek_id"]: r for r in rows}
    small = [p for p in pairs if p.id != "a0015"]
    for pair, sample in zip(small, PairDataset(small)):  # no resize: the files' pixels, unchanged
        size = (1, 3, int(by_id[pair.id]["height"]), int(by_id[pair.id]["width"]))
        assert sample.input.shape == sample.target.shape == size, pair.id
        assert torch.equal(sample.input, load_image(pair.input)), pair.id
        assert torch.equal(sample.target, load_image(pair.target)), pair.id
    [big] = [p for p in pairs if p.id == "a0015"]  # the full-resolution JPEG pair, 2000 x 3008
    sample = PairDataset([big], Resize.LONG_512)[0]  # (at full size, loading it alone takes seconds)
    for path, x in ((big.input, sample.input), (big.target, sample.target)):
        full = load_image(path)
        assert full.shape == (1, 3, int(by_id["a0015"]["height"]), int(by_id["a0015"]["width"]))
        assert x.shape == (1, 3, 512, 340)
        assert (x - Resize.LONG_512(full)).abs().max() < 1e-5


# ---------------------------------------------------------------------------------------------------
# Layouts and pairing rules

LAYOUTS = {
    "input/target": (["input/a0001.png", "target/a0001.png", "input/a0002.jpg", "target/a0002.jpg"],
                     {("a0001", "", ""), ("a0002", "", "")}),
    "Input/Label": (["Input/a0001.png", "Label/a0001.png"], {("a0001", "", "")}),
    "raw/label": (["raw/x.png", "label/x.png"], {("x", "", "")}),
    "inputs/gt": (["inputs/a0003.tif", "gt/a0003.tif"], {("a0003", "", "")}),
    "authors": (["raw_input_train/a0001.png", "expert_C_train/a0001.png", "raw_input_test/a0002.png",
                 "expert_C_test/a0002.png", "expert_A_train/a0001.png"],  # expert A is not a target
                {("a0001", "", "train"), ("a0002", "", "test")}),
    "per source": (["fivek/curl/input/a0001-x_input.png", "fivek/curl/target/a0001-x.png",
                    "fivek/dpe/input/a0002.png", "fivek/dpe/target/a0002.png"],
                   {("a0001", "fivek/curl", ""), ("a0002", "fivek/dpe", "")}),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_published_layouts(tmp_path, layout):
    names, expected = LAYOUTS[layout]
    _write(tmp_path, names)
    pairs = find_pairs(tmp_path, strict=True)
    assert {(p.id, p.group, p.split) for p in pairs} == expected
    for p in pairs:  # each input goes with the target of the same photo and split
        assert p.input.parent.name != p.target.parent.name and p.input.suffix == p.target.suffix


def test_adaint_layout_with_lists_and_groups(tmp_path):
    _write(tmp_path, ["input/JPG/480p/a0001.jpg", "expertC/JPG/480p/a0001.jpg",
                      "input/JPG/480p/a0002.jpg", "expertC/JPG/480p/a0002.jpg",
                      "input/JPG/original/a0001.jpg", "expertC/JPG/original/a0001.jpg",
                      "input/PNG/480p_16bits_XYZ_WB/a0001.png"])
    (tmp_path / "train.txt").write_text("a0001\n")
    (tmp_path / "test.txt").write_text("a0002\n")
    pairs = find_pairs(tmp_path, group="JPG/480p", strict=True)
    assert [(p.id, p.group, p.split) for p in pairs] == [("a0001", "JPG/480p", "train"),
                                                        ("a0002", "JPG/480p", "test")]
    with pytest.warns(PairingWarning) as record:  # everything: one id twice, a one-sided folder
        pairs = find_pairs(tmp_path)
    message = str(record[0].message)
    assert "a0001 is in 2 places" in message and "group=" in message
    assert "input/PNG/480p_16bits_XYZ_WB: 1 input file(s) but no matching target folder" in message
    assert len(pairs) == 3


def test_other_expert(tmp_path):
    _write(tmp_path, ["raw_input_train/a0001.png", "expert_A_train/a0001.png", "expert_C_train/a0001.png"])
    [pair] = find_pairs(tmp_path, expert="A", strict=True)
    assert pair.target.parent.name == "expert_A_train"


def test_suffix_rules_and_copies(tmp_path):
    pairs_by_name = [("a2803-060810_GM6A0020_input.png", "a2803-060810_GM6A0020.png", "a2803"),
                     ("a3232-_DGW6397 input.png", "a3232-_DGW6397.png", "a3232"),
                     ("a4690-DSC_0005-1-2.png", "a4690-DSC_0005-1-2.png", "a4690"),
                     ("c_input.png", "c_gt.png", "c"), ("d.png", "d_output.png", "d"),
                     ("e.png", "e.tif_GT.png", "e"), ("f 2.png", "f.png", "f"),
                     ("IMG 1234.png", "IMG 1234.png", "IMG 1234"),  # equal stems win over " 12..."
                     ("IMG 1235.png", "IMG 1235.png", "IMG 1235")]
    _write(tmp_path, [f"input/{i}" for i, _, _ in pairs_by_name] + [f"target/{t}" for _, t, _ in pairs_by_name])
    pairs = find_pairs(tmp_path, strict=True)
    assert {(p.id, p.input.name, p.target.name) for p in pairs} == {(id, i, t) for i, t, id in pairs_by_name}


def test_a_copy_beside_its_original_is_reported(tmp_path):
    _write(tmp_path, ["input/a3102-JI2E4053.png", "input/a3102-JI2E4053 2.png", "target/a3102-JI2E4053.png"])
    with pytest.warns(PairingWarning, match=r"no partner for input/a3102-JI2E4053 2\.png"):
        [pair] = find_pairs(tmp_path)
    assert pair.input.name == "a3102-JI2E4053.png"


def test_numbered_names_are_not_copies(tmp_path):
    _write(tmp_path, ["input/photo 12.png", "target/photo 13.png", "input/IMG_5_input.png",
                      "target/IMG_5_gt.png"])
    with pytest.warns(PairingWarning, match=r"(?s)no partner for input/photo 12\.png.*target/photo 13"):
        [pair] = find_pairs(tmp_path)
    assert pair.id == "IMG_5"


def test_names():
    assert fivek_id("a0001-jmac_DSC1459.tif") == "a0001" and fivek_id("A4999.png") == "a4999"
    assert fivek_id("a0000.png") is None and fivek_id("a12345.png") is None and fivek_id("x.png") is None
    for stem in ("x_input", "x input", "x_gt", "x_GT", "x_output", "x.tif_GT", "x 2", "x (3)", "x copy",
                 "x_input 2"):
        assert clean_stem(stem) == "x", stem
    assert clean_stem("DSC_0005-1-2") == "DSC_0005-1-2" and clean_stem("input") == "input"


# ---------------------------------------------------------------------------------------------------
# Problems are reported, not hidden

def _problem_tree(root: Path) -> None:
    _write(root, ["input/a0001.png"], size=(6, 8))
    _write(root, ["target/a0001.png"], size=(8, 6))  # sizes differ
    _write(root, ["input/a0002.png", "input/a0003.png", "target/a0003.png", "input/a0004.png",
                  "target/extra.png"])
    (root / "target/a0002.png").write_bytes((root / "input/a0002.png").read_bytes())  # identical


def test_problems_are_listed_in_one_warning(tmp_path):
    _problem_tree(tmp_path)
    with pytest.warns(PairingWarning) as record:
        pairs = find_pairs(tmp_path)
    assert len(record) == 1
    message = str(record[0].message)
    assert "a0001: input is 8x6 but target is 6x8" in message
    assert "a0002: input and target are identical files" in message
    assert "no partner for input/a0004.png" in message and "no partner for target/extra.png" in message
    assert [p.id for p in pairs] == ["a0003"]


def test_strict_mode_raises(tmp_path):
    _problem_tree(tmp_path)
    with pytest.raises(ValueError, match=r"4 problem") as error:
        find_pairs(tmp_path, strict=True)
    for part in ("a0001: input is 8x6", "a0002: input and target are identical", "a0004.png", "extra.png"):
        assert part in str(error.value)


def test_no_pairs_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        find_pairs(tmp_path / "missing")
    _write(tmp_path, ["photos/a0001.png"])
    with pytest.raises(FileNotFoundError, match=r"(?s)1 image\(s\) lie in other folders.*raw_input_train"):
        find_pairs(tmp_path)
    _write(tmp_path, ["input/a0002.png"])
    with pytest.raises(FileNotFoundError, match="pass its parent"):
        find_pairs(tmp_path / "input")


# ---------------------------------------------------------------------------------------------------
# Subsets

def _fake_pairs(ids) -> list[PairFiles]:
    return [PairFiles(id, Path(f"in/{id}.png"), Path(f"out/{id}.png")) for id in ids]


def test_id_lists_and_ranges(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("# 1-based numbers and names mixed\na0002\na0003-kme_0258\n4\n\na0005.jpg\nmy photo.png\n")
    assert read_id_list(listing) == ["a0002", "a0003", "a0004", "a0005", "my photo"]
    pairs = _fake_pairs(["a0001", "a0002", "a0003", "a0004", "a0005", "my photo"])
    assert [p.id for p in select_ids(pairs, listing)] == ["a0002", "a0003", "a0004", "a0005", "my photo"]
    assert [p.id for p in select_ids(pairs, ["a0001-jmac_DSC1459"])] == ["a0001"]
    assert [p.id for p in select_range(pairs, "a0002", "a0004")] == ["a0002", "a0003", "a0004"]
    with pytest.raises(ValueError, match="FiveK ids"):
        select_range(pairs, "1", "a0004")
    with pytest.raises(FileNotFoundError, match="no id list"):
        read_id_list(tmp_path / "nope.txt")


def test_split_by_id_is_stable():
    pairs = _fake_pairs([f"a{i:04d}" for i in range(1, 2001)])
    train, val = split_by_id(pairs, 0.2, seed=3)
    assert len(train) + len(val) == 2000 and not {p.id for p in train} & {p.id for p in val}
    assert 0.17 < len(val) / 2000 < 0.23
    assert split_by_id(pairs, 0.2, seed=3) == (train, val)  # deterministic
    _, val_of_subset = split_by_id(pairs[::7], 0.2, seed=3)  # a pair's side ignores the other pairs
    assert val_of_subset == [p for p in val if p in pairs[::7]]
    assert split_by_id(pairs, 0.2, seed=4)[1] != val
    assert split_by_id(pairs, 0.0) == (pairs, []) and split_by_id(pairs, 1.0) == ([], pairs)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        split_by_id(pairs, 1.5)


# ---------------------------------------------------------------------------------------------------
# Resizing

@pytest.mark.parametrize("policy, size, expected", [
    (Resize.LONG_512, (3008, 2000), (512, 340)), (Resize.LONG_512, (341, 512), (341, 512)),
    (Resize.LONG_500, (2000, 3008), (332, 500)), (Resize.SHORT_480, (3008, 2000), (722, 480)),
    (Resize.SHORT_480, (341, 512), (341, 512)),  # never upscaled
    (Resize.NONE, (3008, 2000), (3008, 2000)), (Resize("long", 64), (512, 512), (64, 64)),
])
def test_resize_sizes(policy, size, expected):
    assert policy.output_size(*size) == expected


def test_resize_matches_pil_bicubic():
    x = torch.from_numpy(_photo(30, 45, "resize").astype(np.float32) / 255).permute(2, 0, 1)[None]
    y = Resize("long", 20)(x)
    assert y.shape == (1, 3, 13, 20)
    ref = np.stack([np.asarray(Image.fromarray(x[0, c].numpy(), "F").resize((20, 13), Image.BICUBIC))
                    for c in range(3)])
    np.testing.assert_allclose(y[0].numpy(), ref.clip(0, 1), atol=1e-5)
    assert Resize.NONE(x) is x and Resize("short", 64)(x) is x
    for bad in (("middle", 5), ("long", 0), ("none", 5)):
        with pytest.raises(ValueError, match="Resize"):
            Resize(*bad)


# ---------------------------------------------------------------------------------------------------
# Decoding every kind of file, and the dataset

def test_formats_decode_to_the_expected_pixels(tmp_path):
    expected = {}
    rgb = _photo(6, 8, "p8")
    for name, mode, a in [("p8", "RGB", rgb), ("rgba", "RGBA", _photo(6, 8, "rgba", 4)),
                          ("gray", "L", _photo(6, 8, "gray", 1)), ("t8", "RGB", rgb)]:
        path = tmp_path / "input" / (name + (".tif" if name == "t8" else ".png"))
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(a, mode).save(path)
        expected[name] = a[..., :3] if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2)
    jpeg = tmp_path / "input" / "rot.jpg"  # stored 8 wide, 6 high; orientation 6: turn 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(jpeg, exif=exif, quality=95)
    expected["rot"] = np.rot90(np.asarray(Image.open(jpeg)), -1)
    a16 = np.random.default_rng(0).integers(0, 65536, (6, 8, 4), dtype=np.uint16)
    _png16(tmp_path / "input" / "p16.png", a16)
    expected["p16"] = a16[..., :3]
    Image.fromarray(a16[..., 0]).save(tmp_path / "input" / "g16.png")  # 16-bit grayscale
    expected["g16"] = np.repeat(a16[..., :1], 3, axis=2)
    _tiff16(tmp_path / "input" / "t16.tif", a16[..., :3], ">", deflate=True, orientation=8)
    expected["t16"] = np.rot90(a16[..., :3], 1)  # orientation 8: turn 90 degrees counter-clockwise
    for name, a in expected.items():
        _write(tmp_path, [f"target/{name}.png"], size=a.shape[:2])
    data = PairDataset(tmp_path, strict=True)  # strict: the rotated sizes must match their targets
    assert sorted(p.id for p in data.pairs) == sorted(expected)
    for sample in data:
        assert torch.equal(sample.input, _expected(expected[sample.id])), sample.id


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_round_trip(tmp_path, suffix):
    x = torch.rand(1, 3, 7, 11, generator=torch.Generator().manual_seed(1))
    path = save_image(x, tmp_path / f"x{suffix}", bits=16)
    assert torch.equal(load_image(path), quantize(x, 16) / 65535)
    assert (quantize(x, 16) % 256).any()  # the low bytes matter: 8 bits would fail the test above
    with pytest.raises(ValueError, match="PNG or TIFF"):
        save_image(x, tmp_path / "x.jpg", bits=16)


@pytest.mark.parametrize("order, deflate", [("<", False), (">", False), ("<", True)])
def test_16_bit_tiff_variants(tmp_path, order, deflate):
    a = np.random.default_rng(2).integers(0, 65536, (5, 9, 3), dtype=np.uint16)
    _tiff16(tmp_path / "x.tif", a, order, deflate)
    assert torch.equal(load_image(tmp_path / "x.tif"), _expected(a))


def _small_root(root: Path) -> Path:
    _write(root, [f"{side}/a000{i}.png" for side in ("input", "target") for i in (1, 2, 3)], size=(12, 20))
    return root


def test_samples(tmp_path):
    data = PairDataset(_small_root(tmp_path), Resize("long", 10), thumb_size=16)
    assert len(data) == 3 and "3 pairs" in repr(data)
    samples = list(data)
    assert [s.id for s in samples] == ["a0001", "a0002", "a0003"]
    for s in samples:
        assert s.input.shape == s.target.shape == (1, 3, 6, 10) and s.input.dtype == torch.float32
        assert torch.equal(s.cond_input, thumbnail(s.input, 16))
    assert torch.equal(data[-1].input, samples[2].input)
    with pytest.raises(IndexError):
        data[3]
    with pytest.raises(TypeError, match="Resize policy"):
        PairDataset(tmp_path, resize="long512")


def test_pairs_carry_their_source(tmp_path):
    for source, ids in (("dpe", (1, 2)), ("curl", (3,))):
        _write(tmp_path / source, [f"{side}/a000{i}.png" for side in ("input", "target") for i in ids])
    pairs = sorted(PairDataset(tmp_path), key=lambda p: p.id)
    assert [(p.id, p.source, p.photo, p.edit) for p in pairs] == [
        ("a0001", "dpe", "a0001", None), ("a0002", "dpe", "a0002", None), ("a0003", "curl", "a0003", None)]


def test_memory_cache(tmp_path, monkeypatch):
    data = PairDataset(_small_root(tmp_path))
    first = data[0]
    assert data.nbytes == 2 * 12 * 20 * 3  # exact 8-bit values are kept as uint8
    monkeypatch.setattr(data_module, "load_image", lambda path: pytest.fail("decoded twice"))
    assert torch.equal(data[0].target, first.target)


def test_disk_cache_round_trip_and_recovery(tmp_path, monkeypatch):
    root, cache = _small_root(tmp_path / "data"), tmp_path / "cache"
    fresh = list(PairDataset(root, Resize("long", 10)))
    assert not cache.exists()  # no cache_dir, no disk cache
    list(PairDataset(root, Resize("long", 10), cache_dir=cache))
    files = sorted(cache.iterdir())
    assert len(files) == 3 and all(f.suffix == ".npz" and f.name.startswith("a000") for f in files)
    with monkeypatch.context() as m:  # a new dataset reads the disk cache and decodes nothing
        m.setattr(data_module, "load_image", lambda path: pytest.fail("decoded despite the cache"))
        cached = list(PairDataset(root, Resize("long", 10), cache_dir=cache, in_memory=False))
    for a, b in zip(fresh, cached):
        assert torch.equal(a.input, b.input) and torch.equal(a.target, b.target)
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # truncated
    flipped = bytearray(files[1].read_bytes())
    flipped[int(len(flipped) * 0.6)] ^= 0xFF  # one damaged byte among the pixels
    files[1].write_bytes(bytes(flipped))
    with pytest.warns(RuntimeWarning, match="unreadable") as record:
        rebuilt = list(PairDataset(root, Resize("long", 10), cache_dir=cache))
    assert len(record) == 2
    for a, b in zip(fresh, rebuilt):
        assert torch.equal(a.input, b.input) and torch.equal(a.target, b.target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: read again without a warning
        list(PairDataset(root, Resize("long", 10), cache_dir=cache))
    assert sorted(cache.iterdir()) == files  # no temporary files left


def test_disk_cache_key_follows_files_and_policy(tmp_path):
    root = _small_root(tmp_path / "data")
    data = PairDataset(root, Resize("long", 10), cache_dir=tmp_path / "cache")
    before = data.cache_path(data.pairs[0])
    assert PairDataset(root, Resize("long", 8), cache_dir=tmp_path / "cache").cache_path(data.pairs[0]) != before
    _write(root, ["input/a0001.png"], size=(12, 20))  # rewritten in place: a new mtime
    os.utime(root / "input/a0001.png", ns=(1, 1))
    assert data.cache_path(data.pairs[0]) != before


def test_quantized_resized_values_stay_close(tmp_path):
    root = _small_root(tmp_path)
    sample = PairDataset(root, Resize("long", 10))[0]
    exact = Resize("long", 10)(load_image(root / "input/a0001.png"))
    assert (sample.input - exact).abs().max() < 1e-5


def test_identical_pixels_are_reported(tmp_path):
    _write(tmp_path, ["input/a0001.png"])
    Image.open(tmp_path / "input/a0001.png").save(tmp_path / "target_a0001.tif")
    (tmp_path / "target").mkdir()
    (tmp_path / "target_a0001.tif").rename(tmp_path / "target/a0001.tif")
    pairs = find_pairs(tmp_path, strict=True)  # different bytes: the header check cannot see it
    with pytest.warns(PairingWarning, match="identical pixels"):
        PairDataset(pairs)[0]
    with pytest.raises(ValueError, match="identical pixels"):
        PairDataset(pairs, strict=True)[0]


# ---------------------------------------------------------------------------------------------------
# Which root, and the command line

def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv("CSRNET_LITE_FIVEK", raising=False)
    assert default_root() == DATA_SAMPLES and "offline samples" in describe_root()
    monkeypatch.setenv("CSRNET_LITE_FIVEK", str(tmp_path))
    assert default_root() == tmp_path
    assert describe_root() == f"data: real FiveK pairs in {tmp_path} (from CSRNET_LITE_FIVEK)"
    monkeypatch.setenv("CSRNET_LITE_FIVEK", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="CSRNET_LITE_FIVEK"):
        default_root()


def test_list_command(tmp_path, capsys):
    assert main(["data", "list", str(_small_root(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"3 pairs in {tmp_path}") and "a0002\t.\tinput/a0002.png\ttarget/a0002.png" in out
    _write(tmp_path, ["input/a0009.png"])
    assert main(["data", "list", str(tmp_path)]) == 1
    assert "problem: no partner for input/a0009.png" in capsys.readouterr().err
    assert main(["data", "list", str(tmp_path / "missing")]) == 1


def test_fetch_command_is_delegated(monkeypatch):
    seen = []
    fake = lambda *args, **options: seen.append((args, options)) or types.SimpleNamespace(failed=[])  # noqa: E731
    monkeypatch.setattr(fetch_module, "fetch", fake)  # the command imports it when it runs
    assert main(["data", "fetch", "--root", "D", "--n", "3"]) == 0
    assert seen and seen[0][0][:2] == ("D", 3)
