"""Regenerate `data_samples/`: offline input/target pairs made from public-domain and CC0 photographs.

A maintainer tool, not part of the package: it needs nothing beyond the project's own dependencies,
but it reads the photographs from package archives that PyPI and Debian serve (listed in `PHOTOS`
below and in `data_samples/README.md`). The *target* of each pair is the photograph, resized so that
its long edge is 512 px. The *input* is a flat, camera-like rendering of it made by
`csrnet_lite.degradation.degrade`: a global degradation (exposure, white-balance cast, flattened contrast,
desaturation) whose parameters are drawn from a seeded generator per pair
(`csrnet_lite.degradation.draw_degradation`) and recorded in `data_samples/manifest.json`. The package
reads them back with `csrnet_lite.degradation.known_degradations()`.

    # once: fetch the source archives (pip download + apt-get download; nothing is installed)
    .venv/bin/python scripts/make_data_samples.py --fetch
    # rebuild data_samples/ (byte-identical to the committed files), or only compare with them:
    .venv/bin/python scripts/make_data_samples.py
    .venv/bin/python scripts/make_data_samples.py --check

The archives go to `.cache/data_samples_sources/` (ignored by git) unless `--sources DIR` says
otherwise; the photographs are read straight out of them, and each one is checked against the
sha256 pinned below, so a different package version fails loudly instead of changing the samples.
Output bytes are deterministic: parameters come from `random.Random(name)`, the degradation is the
project's element-wise operators (`csrnet_lite.ops`, via `csrnet_lite.degradation`), and PNGs are written
by `png_bytes` (fixed filters, zlib level 9, no metadata).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, features

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # run from a checkout without installing the package

from csrnet_lite.image import to_tensor  # noqa: E402
from csrnet_lite.degradation import (CONTRAST, DECIMALS, EXPOSURE_EV, MEAN_DECIMALS, SATURATION, WB_LOG2_GAIN,  # noqa: E402
                                 degrade_uint8, draw_degradation, with_pivot)

LONG_EDGE = 512  # pixels on the long side of every pair
DEFAULT_OUT = PROJECT_ROOT / "data_samples"
DEFAULT_SOURCES = PROJECT_ROOT / ".cache" / "data_samples_sources"


# ---------------------------------------------------------------------------------------------
# Where the photographs come from
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    """A package archive as a registry serves it."""

    name: str
    version: str
    registry: str        # "PyPI" or "Debian 12 (bookworm)"
    pattern: str         # file name of the archive in the sources folder (a glob)
    fetch: tuple[str, ...]  # command that downloads it into the current folder

    def label(self) -> str:
        return f"{self.name} {self.version}"


SKIMAGE = Package("scikit-image", "0.26.0", "PyPI", "scikit_image-0.26.0-*.whl",
                  ("{python}", "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "scikit-image==0.26.0", "-d", "."))
PALAPELI = Package("palapeli-data", "4:22.12.3-1", "Debian 12 (bookworm)",
                   "palapeli-data_*22.12.3-1_all.deb",
                   ("apt-get", "download", "palapeli-data=4:22.12.3-1"))
LOMIRI = Package("lomiri-wallpapers-16.04", "20.04.0-2", "Debian 12 (bookworm)",
                 "lomiri-wallpapers-16.04_20.04.0-2_all.deb",
                 ("apt-get", "download", "lomiri-wallpapers-16.04=20.04.0-2"))
GCOMPRIS = Package("gcompris-qt-data", "3.1-2", "Debian 12 (bookworm)",
                   "gcompris-qt-data_3.1-2_all.deb",
                   ("apt-get", "download", "gcompris-qt-data=3.1-2"))
PACKAGES = (SKIMAGE, PALAPELI, LOMIRI, GCOMPRIS)


@dataclass(frozen=True)
class Photo:
    """One photograph: what it shows, who says it is free to use, and where it is."""

    name: str            # file stem of the pair
    subject: str
    licence: str         # "public-domain" or "CC0-1.0", as the package states it
    author: str          # as the package states it
    url: str             # the original, as the package states it
    package: Package
    path: str            # path inside the package archive, i.e. where it installs
    sha256: str          # of the photograph's own bytes (.png/.jpg/.webp)
    stated_in: str       # where the package states the licence
    resource: str = ""   # path inside the Qt resource bundle (.rcc) at `path`, if any

    def where(self) -> str:
        return f"{self.path}:{self.resource}" if self.resource else self.path


_C = "https://commons.wikimedia.org/wiki/File:"
_PALAPELI = "usr/share/palapeli/collection/"


def _gcompris(activity: str, file: str, readme: str, **kw) -> Photo:
    """A photograph in gcompris-qt-data's resource bundle of `activity`, licence in its `readme`."""
    rcc, res = f"usr/share/gcompris-qt/rcc/{activity}.rcc", f"/gcompris/src/activities/{activity}/"
    return Photo(package=GCOMPRIS, path=rcc, resource=res + file,
                 stated_in=f"{rcc}:{res}{readme} (README shipped next to the images)", **kw)


PHOTOS: tuple[Photo, ...] = (
    Photo(name="astronaut", subject="astronaut Eileen Collins, studio portrait", licence="public-domain",
          author="NASA", url="https://flic.kr/p/r9qvLn", package=SKIMAGE, path="skimage/data/astronaut.png",
          sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
          stated_in="skimage/data/_fetchers.py (docstring of skimage.data.astronaut)"),
    Photo(name="coffee", subject="cup of coffee on a wooden table", licence="CC0-1.0",
          author="Rachel Michetti", url="(none given; courtesy of Pikolo Espresso Bar)", package=SKIMAGE,
          path="skimage/data/coffee.png",
          sha256="cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
          stated_in="skimage/data/_fetchers.py (docstring of skimage.data.coffee)"),
    Photo(name="roebling_bridge", subject="Roebling suspension bridge, Cincinnati, at night",
          licence="public-domain", author="Derek Jensen",
          url=_C + "Cincinnati-roebling-suspension-bridge.jpg",
          package=PALAPELI, path=_PALAPELI + "cincinnati-bridge.jpg",
          sha256="09772d09318b34a5c5edd58ee86ff462bcd2907006f31cc8e0704310f8e9ab60",
          stated_in=_PALAPELI + "cincinnati-bridge.desktop (X-KDE-PluginInfo-License)"),
    Photo(name="citrus_fruits", subject="sliced citrus fruits on a light table", licence="public-domain",
          author="US Department of Agriculture", url=_C + "Citrus_fruits.jpg", package=PALAPELI,
          path=_PALAPELI + "citrus-fruits.jpg",
          sha256="0cbd7154a14789803167c86705130d0358875198231269df168ea26224e70848",
          stated_in=_PALAPELI + "citrus-fruits.desktop (X-KDE-PluginInfo-License)"),
    Photo(name="honey_bee", subject="European honey bee on an aster, macro", licence="public-domain",
          author="John Severns", url=_C + "European_honey_bee_extracts_nectar.jpg", package=PALAPELI,
          path=_PALAPELI + "european-honey-bee.jpg",
          sha256="9d54ae706bddd899c91b2b801d9ca4556a5a9a399b4043f9d539df62a8cb7f27",
          stated_in=_PALAPELI + "european-honey-bee.desktop (X-KDE-PluginInfo-License)"),
    Photo(name="dandelions", subject="dandelion seed heads against the light", licence="CC0-1.0",
          author="Clemens Engelhardt", url="(none given)", package=LOMIRI,
          path="usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
          sha256="a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
          stated_in="usr/share/doc/lomiri-wallpapers-16.04/copyright (Debian copyright file)"),
    _gcompris("explore_farm_animals", "resource/animals/cat.webp", "resource/animals/README",
              name="cat", subject="kitten playing on a pink blanket", licence="public-domain",
              author="Loliloli", url=_C + "Spielendes_K%C3%A4tzchen.JPG",
              sha256="ab7c3e1b04e80bc567b00dba49946918b5a38be1f37618f0d2b4887ef5792770"),
    _gcompris("explore_farm_animals", "resource/animals/horse.webp", "resource/animals/README",
              name="horses", subject="Nokota horses on a prairie", licence="CC0-1.0",
              author="Seth Zeigler", url=_C + "Nokota_Horse_Stud_Band.jpg",
              sha256="87879a9644b71713f52aadf22562f30cc3e6e25a36e07d602a90e0cf6ec888aa"),
    _gcompris("explore_monuments", "resource/france/montStMichel.webp", "resource/README",
              name="mont_saint_michel", subject="Mont Saint-Michel across the tidal flats", licence="CC0-1.0",
              author="Ali Sabbagh", url=_C + "Mont_Saint-Michel_IMG_5109_(48875955288).jpg",
              sha256="1c097b958c4bc0e52384e572c3e3ed70abbb54e9b4936cd0852320e1ce12561e"),
    _gcompris("explore_monuments", "resource/france/pontduGard.webp", "resource/README",
              name="pont_du_gard", subject="Pont du Gard aqueduct in summer", licence="public-domain",
              author="Mimova", url=_C + "Pontdugard.jpg",
              sha256="b9e560a9ae2fd919baec7f5ceb08877d57194e614481b25058693a88c232897f"),
    _gcompris("explore_monuments", "resource/germany/brandenburgGate.webp", "resource/README",
              name="brandenburg_gate", subject="Brandenburg Gate lit at night", licence="public-domain",
              author="Evans1551", url=_C + "Brandenburg_Gate_(summer_2005).JPG",
              sha256="2cb312c79a20e0cd8ed865c5b15a95af86d8d95a0ab96da8814c073857abf4bb"),
    _gcompris("explore_monuments", "resource/india/hawaMahal.webp", "resource/README",
              name="hawa_mahal", subject="Hawa Mahal facade, Jaipur", licence="public-domain",
              author="Janwiki", url=_C + "Hawa_Mahal,_Jaipur,_India.jpg",
              sha256="4edb7eed9db596bd7f3ad98eb34a82c04c32ff1d57aeec80a815c1248feb8e04"),
    _gcompris("explore_monuments", "resource/usa/canyondeChelly.webp", "resource/README",
              name="canyon_de_chelly", subject="Canyon de Chelly from the rim", licence="public-domain",
              author="Nikater", url=_C + "Canyon_de_chelly09.jpg",
              sha256="2148fe45a54186a6e8bc4a395bbbffa0e3530e65232ceda5b841397a0d031bfb"),
    _gcompris("explore_monuments", "resource/usa/lincolnMemorial.webp", "resource/README",
              name="lincoln_memorial", subject="Lincoln Memorial at night", licence="CC0-1.0",
              author="Brylie Christopher Oxley",
              url=_C + "US-WashingtonDC-LincolnMemorial-20140312_014138_HDR_v1.JPG",
              sha256="52eab4d110bd168e644c9152a60a911cdd8ba5e3d4b661e966f256a074f66fb8"),
    _gcompris("explore_monuments", "resource/wonders/petra.webp", "resource/README",
              name="petra", subject="Al-Khazneh, Petra, in sunlight", licence="public-domain",
              author="Berthold Werner", url=_C + "Petra_Jordan_BW_36.JPG",
              sha256="cc782ccdd5b508299ad17402df2d0d375c26e1f9b18e4d2e6c3fd474fcaeb458"),
    _gcompris("explore_monuments", "resource/wonders/machuPicchu.webp", "resource/README",
              name="machu_picchu", subject="Machu Picchu under clouds", licence="CC0-1.0",
              author="Guillaume Pascal", url=_C + "Yet_another_pic_of_machu_picchu.jpg",
              sha256="e04e163ccef6e59411dff15c3459768b2f442fe2ff5042369d9a480f1f272068"),
    _gcompris("explore_monuments", "resource/egypt/redPyramid.webp", "resource/README",
              name="red_pyramid", subject="Red Pyramid of Dahshur in the desert", licence="public-domain",
              author="Chipdawes", url=_C + "RedPyramid.JPG",
              sha256="7df87dfe904e18fee2062e8dba2cbfc5c7b807e27c688b271a7380000865c2cf"),
    _gcompris("explore_world_animals", "resource/animals/moose.webp", "resource/animals/README",
              name="moose", subject="bull moose lying in a meadow", licence="public-domain",
              author="Ryan Hagerty", url=_C + "Male_Moose.jpg",
              sha256="2252a671c2e0ade9ce6ff6d41957348a81ebccfd952ba59bfddceff0b059ea48"),
    _gcompris("explore_world_animals", "resource/animals/scarlet_macaw.webp", "resource/animals/README",
              name="scarlet_macaw", subject="scarlet macaw on a perch", licence="CC0-1.0",
              author="Dcoetzee", url=_C + "Scarlet_macaw_at_Cougar_Mountain_Zoological_Park.jpg",
              sha256="8b088ed71a87e7e929cf08b49a1e1c977c47544307d348e52a0f4a85128662a0"),
    _gcompris("explore_world_animals", "resource/animals/polar_bear.webp", "resource/animals/README",
              name="polar_bear", subject="polar bear on snow", licence="public-domain",
              author="anonymous", url=_C + "Churchill_Wildlife_Management_Area_polar_bear30.JPG",
              sha256="0544cef0a7d6940d3c143a04eecb7065bf9b90d7d367ad8bacbef6631b506070"),
    _gcompris("explore_world_animals", "resource/animals/koala.webp", "resource/animals/README",
              name="koala", subject="koala in a eucalyptus tree (portrait format)", licence="public-domain",
              author="BurningWell", url=_C + "Koala_Perth_Zoo.jpg",
              sha256="77b243c27d79f3f5706497af5c1e8e9134f87d634def2b81e2074b572b575d18"),
    _gcompris("explore_world_animals", "resource/animals/jaguar.webp", "resource/animals/README",
              name="jaguars", subject="two jaguar sisters resting", licence="CC0-1.0",
              author="Frieda Bredesen", url=_C + "Two_Jaguar_Sisters.jpg",
              sha256="22704727b6643480c62487ffb2d9fd618a3f499dde84b1eb789d4b0b11477e85"),
    _gcompris("explore_world_music", "resource/music/japan.webp", "resource/music/README",
              name="taiko_drums", subject="taiko drummers at a summer festival at night",
              licence="public-domain",
              author="takami torao", url=_C + "Agidaiko03.jpg",
              sha256="0f0aa2d3116e01acdc693b626b1b60699124145670e624121289a7ced5020679"),
    _gcompris("explore_world_music", "resource/music/mexico.webp", "resource/music/README",
              name="mariachi", subject="mariachi band playing under a canopy", licence="CC0-1.0",
              author="Elidealista", url=_C + "Wikipedia_10_Guadalajara_-_Mariachi.jpg",
              sha256="cd1286e5d7649bc446a47297f0127a38295e5a5f39a641b528e0c5063675c9d1"),
    _gcompris("explore_world_music", "resource/music/italy.webp", "resource/music/README",
              name="opera", subject="opera singers on a dark stage", licence="CC0-1.0",
              author="SoriamuséuM", url=_C + "%C3%93pera_c%C3%A1sina.jpg",
              sha256="b30a023e5d36bb053a4ee8e57bd0b4fa2042e3d0a5ab8e663a341ba6e35672ad"),
    _gcompris("clickgame", "resource/sea4.webp", "resource/README",
              name="black_coral", subject="black coral seen from an underwater observatory",
              licence="public-domain", author="Pseudopanax",
              url=_C + "Black_coral_at_Milford_Sound_Underwater_Observatory.jpg",
              sha256="21295e109d35b0f11a9c8dd17524be6212571cb28fad56613be1f8789a261f5e"),
    _gcompris("clickgame", "resource/sea2.webp", "resource/README",
              name="underwater_ruins", subject="submerged Roman ruins at Baia", licence="CC0-1.0",
              author="Ruthven", url=_C + "Parco_archeologico_di_Baia_-_portus_Julius_4.jpg",
              sha256="533dcc0d871a390d5ee648ce1b4cfbccb41890cc1e514e5966f3cc02550d75a4"),
    _gcompris("erase", "resource/kingfisher.webp", "resource/README",
              name="kingfisher", subject="kingfisher on a branch", licence="CC0-1.0",
              author="Frank-2.0", url=_C + "Eisvogel_kingfisher.jpg",
              sha256="b637658d7e0f8f555b5683a8c912646d57ba37be6ba9684df893a1d07ee9e637"),
)


# ---------------------------------------------------------------------------------------------
# Reading photographs out of wheels, .deb archives and Qt resource bundles
# ---------------------------------------------------------------------------------------------

def find_archive(sources: Path, package: Package) -> Path:
    """The archive of `package` in `sources`, or a FileNotFoundError that says how to get it."""
    hits = sorted(glob.glob(str(sources / package.pattern)))
    if hits:
        return Path(hits[0])
    command = " ".join(sys.executable if a == "{python}" else a for a in package.fetch)
    raise FileNotFoundError(f"{package.label()} ({package.registry}) is missing: no {package.pattern} "
                            f"in {sources}; get it with `cd {sources} && {command}` or run this script "
                            "with --fetch")


def fetch(sources: Path) -> None:
    """Download the missing archives with pip / apt-get into `sources` (nothing is installed)."""
    sources.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if glob.glob(str(sources / package.pattern)):
            continue
        command = [sys.executable if a == "{python}" else a for a in package.fetch]
        if shutil.which(command[0]) is None:
            raise FileNotFoundError(f"cannot fetch {package.label()}: {command[0]} is not installed "
                                    f"here; download {package.pattern} from {package.registry} by hand "
                                    f"into {sources}")
        print("$", " ".join(command), flush=True)
        subprocess.run(command, cwd=sources, check=True)
        find_archive(sources, package)  # fails clearly if the download produced no matching file


def read_deb_members(deb: Path, members: set[str]) -> dict[str, bytes]:
    """Files `members` (paths like 'usr/share/...') from the data archive of a .deb."""
    with open(deb, "rb") as f:
        blob = f.read()
    if blob[:8] != b"!<arch>\n":
        raise ValueError(f"{deb} is not a .deb (ar) archive; download it again")
    pos, data_tar = 8, None
    while pos + 60 <= len(blob):  # ar: 60-byte header per entry, data padded to an even size
        name = blob[pos:pos + 16].decode().strip().rstrip("/")
        size = int(blob[pos + 48:pos + 58].decode().strip())
        if name.startswith("data.tar"):
            data_tar = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    if data_tar is None:
        raise ValueError(f"{deb} has no data.tar member; download it again")
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data_tar), mode="r:*") as tar:  # xz (or gz, bz2); not zstd
        for info in tar:
            path = info.name[2:] if info.name.startswith("./") else info.name
            if path in members and info.isfile():
                found[path] = tar.extractfile(info).read()
    return found


def read_rcc(blob: bytes, resource: str) -> bytes:
    """One file of a Qt resource bundle (.rcc, format versions 1-3), e.g. '/gcompris/src/.../a.webp'."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource bundle (no 'qres' magic)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version == 1 else 22  # version >= 2 adds an 8-byte modification time

    def name_at(offset: int) -> str:
        p = names + offset
        (length,) = struct.unpack(">H", blob[p:p + 2])
        return blob[p + 6:p + 6 + 2 * length].decode("utf-16-be")  # skips the 4-byte name hash

    node = 0  # the root directory
    for part in resource.strip("/").split("/"):
        p = tree + node * node_size
        (flags,) = struct.unpack(">H", blob[p + 4:p + 6])
        if not flags & 2:
            raise KeyError(f"{resource}: {part!r} is below a file")
        count, first = struct.unpack(">II", blob[p + 6:p + 14])
        children = {}
        for child in range(first, first + count):
            q = tree + child * node_size
            children[name_at(struct.unpack(">I", blob[q:q + 4])[0])] = child
        if part not in children:
            raise KeyError(f"{resource} is not in the resource bundle (no {part!r})")
        node = children[part]
    p = tree + node * node_size
    (flags,) = struct.unpack(">H", blob[p + 4:p + 6])
    (offset,) = struct.unpack(">I", blob[p + 10:p + 14])
    (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
    payload = blob[data + offset + 4:data + offset + 4 + size]
    if flags & 1:  # zlib, with a 4-byte uncompressed-size prefix (qCompress)
        return zlib.decompress(payload[4:])
    if flags & 4:
        raise ValueError(f"{resource} is zstd-compressed, which this reader does not handle")
    return payload


def read_photos(sources: Path) -> dict[str, bytes]:
    """The bytes of every photograph in PHOTOS, checked against the pinned sha256."""
    by_package: dict[Package, list[Photo]] = {}
    for photo in PHOTOS:
        by_package.setdefault(photo.package, []).append(photo)
    archives, missing = {}, []
    for package in by_package:  # check them all first, so one message names everything to download
        try:
            archives[package] = find_archive(sources, package)
        except FileNotFoundError as e:
            missing.append(str(e))
    if missing:
        raise FileNotFoundError("\n".join(missing))
    out: dict[str, bytes] = {}
    for package, photos in by_package.items():
        archive = archives[package]
        paths = {photo.path for photo in photos}
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                files = {path: z.read(path) for path in paths}
        else:
            files = read_deb_members(archive, paths)
        for photo in photos:
            if photo.path not in files:
                raise FileNotFoundError(f"{photo.path} is not in {archive}; is it {package.label()}?")
            blob = files[photo.path]
            if photo.resource:
                blob = read_rcc(blob, photo.resource)
            digest = hashlib.sha256(blob).hexdigest()
            if digest != photo.sha256:
                raise ValueError(f"{photo.where()} in {archive.name} has sha256 {digest}, expected "
                                 f"{photo.sha256}: this is not {package.label()} as pinned here")
            out[photo.name] = blob
    return out


# ---------------------------------------------------------------------------------------------
# Building the pairs
# ---------------------------------------------------------------------------------------------

def load_target(blob: bytes) -> np.ndarray:
    """Decode a photograph and resize it so that the long edge is LONG_EDGE: uint8 (H, W, 3)."""
    with Image.open(io.BytesIO(blob)) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        w, h = im.size
        scale = LONG_EDGE / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
        return np.asarray(im, dtype=np.uint8)


def png_bytes(a: np.ndarray) -> bytes:
    """8-bit RGB PNG of a uint8 (H, W, 3) array, deterministic and without metadata.

    Each row gets the PNG filter with the smallest sum of absolute residuals (libpng's heuristic),
    then zlib level 9. Written here rather than by PIL so that the bytes depend only on zlib.
    """
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {a.dtype} {a.shape}")
    h, w, _ = a.shape
    x = a.reshape(h, w * 3).astype(np.int16)  # (H, W, 3) -> (H, 3W) bytes per row
    zero_row, zero_px = np.zeros((1, w * 3), np.int16), np.zeros((h, 3), np.int16)
    up = np.vstack([zero_row, x[:-1]])
    left = np.hstack([zero_px, x[:, :-3]])
    up_left = np.hstack([zero_px, up[:, :-3]])
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    residuals = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]) % 256  # (5, H, 3W)
    cost = np.abs(residuals.astype(np.uint8).view(np.int8).astype(np.int32)).sum(axis=2)  # (5, H)
    best = cost.argmin(axis=0)  # (H,) filter type per row
    rows = residuals[best, np.arange(h)].astype(np.uint8)  # (H, 3W)
    raw = np.hstack([best.astype(np.uint8)[:, None], rows]).tobytes()  # filter byte + row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, truecolour, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def build(sources: Path, out: Path) -> None:
    """Write input/, target/, manifest.json and README.md for every photograph into `out`."""
    if not features.check("webp"):
        raise RuntimeError("this Pillow cannot decode WebP; install a Pillow wheel from PyPI")
    blobs = read_photos(sources)
    (out / "input").mkdir(parents=True, exist_ok=True)
    (out / "target").mkdir(parents=True, exist_ok=True)
    pairs = []
    for photo in PHOTOS:
        target = load_target(blobs[photo.name])
        params = with_pivot(to_tensor(target), draw_degradation(photo.name))
        files = {"input": png_bytes(degrade_uint8(target, params)), "target": png_bytes(target)}
        for kind, data in files.items():
            (out / kind / f"{photo.name}.png").write_bytes(data)
        h, w, _ = target.shape
        pairs.append({
            "name": photo.name,
            "input": f"input/{photo.name}.png",
            "target": f"target/{photo.name}.png",
            "width": w,
            "height": h,
            "input_sha256": hashlib.sha256(files["input"]).hexdigest(),
            "target_sha256": hashlib.sha256(files["target"]).hexdigest(),
            "degradation": params.to_json(),
            "subject": photo.subject,
            "licence": photo.licence,
            "source": {
                "author": photo.author,
                "url": photo.url,
                "package": photo.package.name,
                "version": photo.package.version,
                "registry": photo.package.registry,
                "path": photo.where(),
                "sha256": hashlib.sha256(blobs[photo.name]).hexdigest(),
                "licence_stated_in": photo.stated_in,
            },
        })
        print(f"{photo.name:18s} {w}x{h}  ev {params.exposure_ev:+.2f}  "
              f"wb {params.wb_gains[0]:.2f}/{params.wb_gains[2]:.2f}  "
              f"contrast {params.contrast:.2f}  saturation {params.saturation:.2f}", flush=True)
    manifest = {
        "about": "CSRNet-style training pairs: input = degrade(target) with the parameters below; "
                 "see README.md for the formulas and the sources",
        "generator": "scripts/make_data_samples.py",
        "long_edge": LONG_EDGE,
        "degradation": {
            "order": ["ops.exposure(x, exposure_ev)", "ops.white_balance(x, wb_gains)",
                      "ops.contrast(x, contrast, mean=contrast_mean)", "ops.saturation(x, saturation)",
                      "clamp to [0, 1], round to 8 bits"],
            "ranges": {"exposure_ev": list(EXPOSURE_EV),
                       "wb_gains_red_blue": [round(2.0 ** g, DECIMALS) for g in WB_LOG2_GAIN],
                       "contrast": list(CONTRAST), "saturation": list(SATURATION)},
            "seed": "random.Random('data_samples/' + name)",
        },
        "pairs": pairs,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    (out / "README.md").write_text(readme(pairs), encoding="utf-8")


def readme(pairs: list[dict]) -> str:
    """data_samples/README.md, generated so that the table of sources cannot drift from the files."""
    rows = []
    for p, photo in zip(pairs, PHOTOS):
        licence = "CC0 1.0" if photo.licence == "CC0-1.0" else "public domain"
        rows.append(f"| `{p['name']}` | {p['width']}x{p['height']} | {photo.subject} | {licence} | "
                    f"{photo.author} | {photo.url} | {photo.package.label()} | `{photo.where()}` | "
                    f"`{photo.stated_in}` |")
    packages = [f"- {pk.label()} ({pk.registry}): `{' '.join(pk.fetch).replace('{python}', 'python')}`"
                for pk in PACKAGES]
    n_pd = sum(photo.licence == "public-domain" for photo in PHOTOS)
    wb = tuple(round(2.0 ** g, 3) for g in WB_LOG2_GAIN)
    return README_TEMPLATE.format(
        n=len(pairs), n_pd=n_pd, n_cc0=len(pairs) - n_pd, long_edge=LONG_EDGE, ev=EXPOSURE_EV, wb=wb,
        contrast=CONTRAST, saturation=SATURATION, decimals=DECIMALS, mean_decimals=MEAN_DECIMALS,
        packages="\n".join(packages), rows="\n".join(rows))


README_TEMPLATE = """\
# data_samples: {n} offline input/target pairs

Real photographs, turned into CSRNet-style retouching pairs so that the notebooks run without FiveK
and without a network. Layout, paired by identical file stem:

    input/<name>.png     flat camera-like rendering (8-bit RGB PNG)
    target/<name>.png    the photograph, long edge {long_edge} px (8-bit RGB PNG)
    manifest.json        per pair: size, sha256 of both files, source, licence, degradation parameters

Generated by `scripts/make_data_samples.py`; do not edit by hand (this README is generated too).
Not a benchmark: the inputs are synthetic degradations, not camera renderings.

## Licences

Each photograph is in the public domain ({n_pd}) or dedicated to it under CC0 1.0 ({n_cc0}), as
stated by the package it was taken from: the table below gives the package, the path inside it, and
where the package states the licence. The packages also name each photograph's original page; those
pages were not re-checked from here. Two caveats:

- palapeli-data: Debian's copyright file has one blanket entry (`Files: *`, GPL-2+) for the whole
  source tree; the per-image licence ("Public Domain", author, Wikimedia Commons page) is the one in
  each puzzle's `.desktop` file.
- gcompris-qt-data: Debian's copyright file lists older file names for some activities; the
  per-image licences used here are those of the README files shipped inside the package's Qt
  resource bundles (`.rcc`), next to the images.

Only photographs were used (no drawings, renderings, microscopy or logos), and only files that are
untagged or tagged sRGB (wide-gamut ones such as Adobe RGB were left out). The inputs are mechanical
derivatives of the targets.

## The degradation (target -> input)

`input = quantize(degrade(target, parameters))`: the project's global operators (`csrnet_lite.ops`)
on the stored (sRGB-encoded) values in [0, 1], in this order, with one clamp at the end:

1. `ops.exposure(x, exposure_ev)`: `x * 2**exposure_ev`, exposure_ev in {ev} stops
2. `ops.white_balance(x, wb_gains)`: `x * (R, 1, B)`, R and B in {wb} (log2-uniform)
3. `ops.contrast(x, contrast, mean=contrast_mean)`: `m + contrast * (x - m)`, contrast in {contrast};
   `m = contrast_mean` is the mean BT.601 luma of the image entering this step (what `ops.contrast`
   uses by default), computed in float64 and recorded to {mean_decimals} decimals
4. `ops.saturation(x, saturation)`: `Y + saturation * (x - Y)` with `Y = 0.299 R + 0.587 G + 0.114 B`
   of each pixel, saturation in {saturation}
5. clamp to [0, 1] and round to 8 bits (`csrnet_lite.image.quantize`)

The drawn parameters come from `random.Random("data_samples/" + name)`, uniformly, rounded to
{decimals} decimals before use and stored in `manifest.json` as used. With the recorded
`contrast_mean`, each input is a per-pixel function of its target and the manifest.

All four steps are affine in the colour, so the ground truth is exactly one 1x1 convolution followed
by one GFM, CSRNet's own building blocks (before the final clamp):

    conv, gfm = ops.compose(ops.exposure_as_conv(ev), ops.white_balance_as_conv(gains),
                            ops.contrast_as_gfm(contrast, torch.tensor([contrast_mean])),
                            ops.saturation_as_conv(saturation))

It is not exactly invertible where the clamp clipped or 8-bit rounding merged levels.
`tests/test_data_samples.py` re-applies the recorded parameters to every target and gets its input
back within one 8-bit level (exactly, on the machine that made them).

## Regenerating

    .venv/bin/python scripts/make_data_samples.py --fetch   # download the archives below, then rebuild
    .venv/bin/python scripts/make_data_samples.py           # rebuild this folder
    .venv/bin/python scripts/make_data_samples.py --check   # rebuild elsewhere and compare bytes

`--fetch` only downloads (pip download / apt-get download into `.cache/data_samples_sources/`);
nothing is installed and the project's dependencies do not change. `apt-get download` needs Debian 12
package lists (`apt-get update`); elsewhere, put the same `.deb` files from a Debian mirror into that
folder by hand. The photographs are read straight from the archives (gcompris-qt-data keeps its
images in Qt resource bundles, `.rcc`, which the script reads too) and checked against pinned sha256
values:

{packages}

Rebuilding gives the same bytes: seeded parameters, Pillow's Lanczos resize of the 8-bit photographs,
element-wise float32 operators, and PNGs written with fixed filters and zlib level 9, without
metadata. The committed files were made, and rebuilt identically, with Python 3.11, numpy 2.4,
torch 2.13 (CPU), Pillow 13.0 and zlib 1.2.13 on x86-64. Other versions of those, or another CPU's
BLAS kernel for the per-pixel luma, may move a rare value by one 8-bit level; `--check` tells.

## Sources

| name | size | subject | licence | author (as stated) | original | package | path in the package | licence stated in |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}
"""


def compare(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between folders a and b (missing on either side included)."""
    names = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    names |= {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    same = [n for n in names if (a / n).is_file() and (b / n).is_file()
            and (a / n).read_bytes() == (b / n).read_bytes()]
    return sorted(names - set(same))


def install(tmp: Path, out: Path) -> None:
    """Move a finished build from `tmp` onto `out`, one rename per entry (never a half-written file)."""
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("input", "target"):
        old = out / f".{sub}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (out / sub).exists():
            os.replace(out / sub, old)
        os.replace(tmp / sub, out / sub)
        shutil.rmtree(old, ignore_errors=True)
    for name in ("manifest.json", "README.md"):
        os.replace(tmp / name, out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES,
                        help=f"folder with the package archives (default: {DEFAULT_SOURCES})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    parser.add_argument("--fetch", action="store_true", help="download missing archives first")
    parser.add_argument("--check", action="store_true",
                        help="rebuild in a temporary folder and compare with --out instead of writing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.fetch:
        fetch(args.sources)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".data_samples.", dir=args.out.parent) as tmp:
        build(args.sources, Path(tmp))
        if args.check:
            diff = compare(Path(tmp), args.out)
            for name in diff:
                print("differs:", name)
            print("identical" if not diff else f"{len(diff)} file(s) differ from {args.out}")
            return 1 if diff else 0
        install(Path(tmp), args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(PHOTOS)} pairs to {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError, RuntimeError, KeyError) as e:
        sys.exit(f"make_data_samples: {e}")
