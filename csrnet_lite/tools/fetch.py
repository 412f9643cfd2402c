"""Build a FiveK subset from the official MIT server: camera raw (DNG) -> *input*, expert TIFF -> *target*.

    python -m csrnet_lite data fetch --root DIR --n 100 --expert C --size 480

    from csrnet_lite.tools.fetch import fetch
    fetch("fivek_480", n=100, expert="C", size=480)

What it does, per photo (the first `n` of FiveK's order a0001, a0002, ... unless `names` says otherwise):
1. Downloads `img/dng/<name>.dng` and `img/tiff16_<expert>/<name>.tif` from `BASE_URL` into
   ROOT/.downloads/ (resumable `.part` files, renamed only when complete; deleted after use unless
   `keep_downloads`).
2. Develops the DNG into the *input* and converts the expert's 16-bit ProPhoto RGB TIFF to the sRGB
   *target* (csrnet_lite.tools.develop: `develop_raw`, `read_expert_tiff`).
3. Resizes both to short edge `size` (antialiased) and writes ROOT/input/<name>.png and
   ROOT/target/<name>.png (8-bit PNG by default), then records both, with the sha256 of every file
   downloaded and written, in ROOT/manifest.json. Finished pairs are skipped on the next run.

The 5000 base names come from the two licence lists that the FiveK site publishes, whose union is the
dataset: https://data.csail.mit.edu/graphics/fivek/legal/filesAdobe.txt and .../legal/filesAdobeMIT.txt
(`NAME_LISTS`), downloaded once into ROOT/.downloads/lists/ and sorted by FiveK id; or from a file you
pass as `names` (one base name per line, e.g. `a0001-jmac_DSC1459`, used in file order).
FiveK is for research only (see the licences beside the lists); this module downloads it for you, the
project ships none of it.
"""
from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import rawpy
import torch
from tqdm.auto import tqdm

from ..files import atomic_path, check_output_dir, sha256
from ..image import Resize, resize, save_image
from .download import MAX_MB, TIMEOUT, download
from .develop import PIPELINE_VERSION, RAW_PIPELINE, TARGET_PIPELINE, develop_raw, read_expert_tiff

BASE_URL = "https://data.csail.mit.edu/graphics/fivek/"  # the official FiveK server
# Where the 5000 base names are published: the licence lists on the FiveK page (their union is FiveK).
NAME_LISTS = ("legal/filesAdobe.txt", "legal/filesAdobeMIT.txt")
EXPERTS = "ABCDE"
# a0001-jmac_DSC1459; some names have spaces and brackets: 'a0532-jmacdscf0021 (1)'
NAME_PATTERN = re.compile(r"^a(\d{4})-[^/\\\t,;]+$")
DOWNLOADS = ".downloads"  # under ROOT; a dot folder so that dataset scans skip it


def dng_url(name: str, base_url: str = BASE_URL) -> str:
    """URL of the camera raw file of FiveK photo `name` (e.g. 'a0001-jmac_DSC1459')."""
    return _url(base_url, f"img/dng/{urllib.parse.quote(name)}.dng")


def tiff_url(name: str, expert: str = "C", base_url: str = BASE_URL) -> str:
    """URL of expert `expert`'s (A..E) 16-bit ProPhoto RGB rendering of photo `name`."""
    return _url(base_url, f"img/tiff16_{_expert(expert).lower()}/{urllib.parse.quote(name)}.tif")


# ---------------------------------------------------------------------------------------------------
# Base names
# ---------------------------------------------------------------------------------------------------

def parse_names(lines: Iterable[str], source: str = "names", header: bool = True) -> list[str]:
    """FiveK base names from text lines, in their order: in each line, the first column (split at tabs,
    commas or semicolons) that looks like `a0001-jmac_DSC1459` (names may contain spaces). Blank lines,
    '#' comments and (if `header`) a first line without a name are skipped; any other line raises
    ValueError naming it.
    """
    names = []
    for number, line in enumerate(lines, 1):
        line = line.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        name = next((c for c in map(str.strip, re.split(r"[\t,;]", line)) if NAME_PATTERN.match(c)), None)
        if name:
            names.append(name)
        elif not header or names or number > 1:  # only a first line may be a header
            raise ValueError(f"{source}, line {number}: {line[:60]!r} is not a FiveK base name; "
                             "expected one name like 'a0001-jmac_DSC1459' per line")
    return names


def read_names(path: str | os.PathLike) -> list[str]:
    """Base names from a text file (see `parse_names`), in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no names file at {path}; pass a text file with one FiveK base name "
                                "(like 'a0001-jmac_DSC1459') per line")
    names = parse_names(path.read_text(encoding="utf-8", errors="replace").splitlines(), str(path))
    if not names:
        raise ValueError(f"{path} lists no FiveK base names; expected lines like 'a0001-jmac_DSC1459'")
    return names


def fivek_order(names: Iterable[str]) -> list[str]:
    """Unique base names sorted by FiveK id (a0001 ... a5000); two names for one id raise ValueError."""
    by_id: dict[str, str] = {}
    for name in names:
        old = by_id.setdefault(name[:5], name)
        if old != name:
            raise ValueError(f"two base names for FiveK id {name[:5]}: {old!r} and {name!r}")
    return [by_id[i] for i in sorted(by_id)]


def official_names(base_url: str = BASE_URL, cache: str | os.PathLike = ".", *, timeout: float = TIMEOUT,
                   progress: bool = False) -> list[str]:
    """All FiveK base names in FiveK order, from the site's licence lists (`NAME_LISTS`).

    The lists are downloaded once into `cache` and read from there afterwards.
    """
    names: list[str] = []
    for rel in NAME_LISTS:
        url = _url(base_url, rel)
        path = download(url, Path(cache) / Path(rel).name, timeout=timeout, progress=progress)
        try:
            names += parse_names(path.read_text(encoding="utf-8", errors="replace").splitlines(), url)
        except ValueError as e:  # e.g. an error page saved by a proxy: do not keep it
            path.unlink()
            raise ValueError(f"{e} (the copy in {path} was removed; run again to download it anew)") from None
    return fivek_order(names)


# ---------------------------------------------------------------------------------------------------
# The subset
# ---------------------------------------------------------------------------------------------------

def resize_short_edge(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """(1, 3, H, W) -> (1, 3, h, w) with short edge `size` (antialiased bilinear); never enlarges."""
    if not size:
        return x
    return resize(x, Resize("short", size).output_size(*x.shape[-2:]), "bilinear")


@dataclass
class FetchReport:
    """What a `fetch` call did: base names written now, found complete, and failed (name -> reason)."""
    root: Path
    written: list[str] = field(default_factory=list)
    complete: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = (f"{len(self.written)} pairs written, {len(self.complete)} already complete, "
                f"{len(self.failed)} failed in {self.root}")
        return text + "".join(f"\n  {name}: {why}" for name, why in self.failed.items())


def fetch(root: str | os.PathLike, n: int = 100, expert: str = "C", size: int | None = 480,
          names: str | os.PathLike | Sequence[str] | None = None, base_url: str = BASE_URL, *,
          bits: int = 8, keep_downloads: bool = False, retries: int = 2, timeout: float = TIMEOUT,
          progress: bool = True, max_mb: float = MAX_MB) -> FetchReport:
    """Download and render `n` FiveK pairs into ROOT/input and ROOT/target (see the module docstring).

    root:       folder to fill (created); ROOT/manifest.json records every pair and checksum
    n:          how many photos: the first n of `names`
    expert:     which expert's rendering is the target, 'A'..'E' (most papers use 'C')
    size:       short edge of the written pairs in pixels (antialiased); None or 0 keeps full size
    names:      a names file or a list of base names; None: all 5000 from the FiveK site, FiveK order
    base_url:   the server (tests point it at a local one)
    bits:       8 or 16-bit PNGs
    keep_downloads: keep the DNG and TIFF in ROOT/.downloads (about 25 + 100 MB a photo) after rendering
    retries:    times a dropped download is resumed before giving up (run again to resume further)
    timeout:    seconds a silent server is waited for before a retry (each one is reported on stderr)
    max_mb:     the largest file accepted from the server, in MB

    Pairs already complete (files present, checksums as in the manifest, same settings) are skipped
    without any request. Raises ConnectionError when the server cannot be reached (what is done is
    kept); a photo that fails for another reason is reported in the returned FetchReport.
    """
    root, expert, size = Path(root), _expert(expert), _check_subset(n, size, bits)
    _check_download(retries, timeout, max_mb)
    check_output_dir(root, what="root")
    downloads = root / DOWNLOADS
    settings = {"expert": expert, "size": size, "bits": bits, "pipeline": PIPELINE_VERSION}
    manifest = _load_manifest(root / "manifest.json")
    report = FetchReport(root)
    kept = (f"; files already downloaded are kept in {downloads}, finished pairs in {root}: "
            "run the same command again to go on")
    try:
        chosen = _choose(names, n, base_url, downloads / "lists", timeout)
        manifest.update(_about(names, base_url))
        for name in tqdm(chosen, desc="FiveK pairs", unit="pair", disable=not progress, file=sys.stderr):
            entry = manifest["pairs"].get(name, {})
            if _complete(root, entry, settings):
                report.complete.append(name)
                continue
            try:
                manifest["pairs"][name] = _make_pair(root, name, entry, settings, base_url, downloads,
                                                     keep_downloads, retries, timeout, progress, max_mb)
                report.written.append(name)
            except (FileNotFoundError, ValueError) as e:
                report.failed[name] = str(e)
                tqdm.write(f"{name}: {e}", file=sys.stderr)
            _save_manifest(root / "manifest.json", manifest)
    except ConnectionError as e:
        raise ConnectionError(f"{e}{kept}") from None
    return report


def _check_subset(n: int, size: int | None, bits: int) -> int | None:
    """Raise ValueError for a bad number of photos or bit depth; the short edge (None: full size)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of photos, got {n!r}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError(f"size must be a short edge in pixels, or 0 / None for full size, got {size!r}")
    return int(size) if size else None


def _check_download(retries: int, timeout: float, max_mb: float) -> None:
    """Raise ValueError for a negative number of retries, or a timeout or size cap that is not positive."""
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries!r}")
    if not timeout > 0 or not max_mb > 0:
        raise ValueError(f"timeout and max_mb must be positive, got {timeout!r} s and {max_mb!r} MB")


def _choose(names, n: int, base_url: str, cache: Path, timeout: float) -> list[str]:
    if names is None:
        chosen = official_names(base_url, cache, timeout=timeout)
    elif isinstance(names, (str, os.PathLike)):
        chosen = read_names(names)
    else:
        chosen = parse_names(list(names), "names", header=False)
    if len(set(chosen)) != len(chosen):
        raise ValueError("the names list repeats a base name; list each photo once")
    return chosen[:n]


def _about(names, base_url: str) -> dict:
    """The manifest's description of where the pairs come from and how they were made."""
    if names is None:
        names = " + ".join(_url(base_url, rel) for rel in NAME_LISTS)
    elif not isinstance(names, (str, os.PathLike)):
        names = "a list passed to fetch()"
    return {"source": base_url, "names": str(names),
            "licence": "MIT-Adobe FiveK, research use only: " + ", ".join(
                _url(base_url, f"legal/License{k}.txt") for k in ("Adobe", "AdobeMIT")),
            "pipeline": {"version": PIPELINE_VERSION, "input": RAW_PIPELINE, "target": TARGET_PIPELINE,
                         "resize": "short edge to `size`, bilinear with antialiasing (torch), sRGB values; "
                                   "the input is resized to the target's exact size",
                         "rawpy": rawpy.__version__, "libraw": ".".join(map(str, rawpy.libraw_version))}}


def _make_pair(root: Path, name: str, old: dict, settings: dict, base_url: str, downloads: Path,
               keep: bool, retries: int, timeout: float, progress: bool, max_mb: float = MAX_MB) -> dict:
    """Download, decode (re-downloading a damaged file once), render and write one pair."""
    expert = settings["expert"]
    sources = {"dng": (dng_url(name, base_url), downloads / "dng" / f"{name}.dng"),
               "tiff": (tiff_url(name, expert, base_url),
                        downloads / f"tiff16_{expert.lower()}" / f"{name}.tif")}
    decoded, entry = {}, {"settings": settings}
    for kind, (url, path) in sources.items():
        known = old.get(kind, {}).get("sha256")
        for attempt in (1, 2):
            if path.exists() and known and sha256(path) != known:
                tqdm.write(f"{path} does not match the checksum in the manifest (damaged?); "
                           "downloading it again", file=sys.stderr)
                path.unlink()
            download(url, path, retries=retries, timeout=timeout, progress=progress, max_mb=max_mb)
            try:
                decoded[kind] = (develop_raw(path, for_size=settings["size"]) if kind == "dng"
                                 else read_expert_tiff(path))
                break
            except ValueError as e:
                path.unlink()
                if attempt == 2:
                    raise ValueError(f"{e} (also after downloading it again)") from None
                tqdm.write(f"{e}: downloading it again", file=sys.stderr)
        entry[kind] = {"url": url, "bytes": path.stat().st_size, "sha256": sha256(path)}
    x_input, (x_target, outside) = decoded["dng"], decoded["tiff"]
    notes = []
    if abs(x_input.shape[-1] / x_input.shape[-2] - x_target.shape[-1] / x_target.shape[-2]) > 0.01:
        notes.append(f"aspect ratios differ: input {tuple(x_input.shape[-2:])}, target "
                     f"{tuple(x_target.shape[-2:])} (the expert cropped?); input resized to the target's")
        tqdm.write(f"{name}: {notes[-1]}", file=sys.stderr)
    x_target = resize_short_edge(x_target, settings["size"])
    x_input = resize(x_input, tuple(x_target.shape[-2:]), "bilinear")  # same pixel grid as the target
    for kind, x in (("input", x_input), ("target", x_target)):
        path = save_image(x, root / kind / f"{name}.png", bits=settings["bits"])
        entry[kind] = {"path": f"{kind}/{name}.png", "sha256": sha256(path),
                       "height": x.shape[-2], "width": x.shape[-1]}
    entry["target"]["outside_srgb"] = round(outside, 6)
    entry["notes"] = notes
    if not keep:
        for _, path in sources.values():
            path.unlink(missing_ok=True)
    return entry


def _complete(root: Path, entry: dict, settings: dict) -> bool:
    """True when the pair's PNGs exist with the manifest's checksums and were made with `settings`."""
    if entry.get("settings") != settings:
        return False
    for kind in ("input", "target"):
        path = root / entry.get(kind, {}).get("path", "?")
        if not path.is_file() or sha256(path) != entry[kind].get("sha256"):
            return False
    return True


def _load_manifest(path: Path) -> dict:
    if not path.exists():
        return {"pairs": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("pairs"), dict):
            raise ValueError("no 'pairs' table")
        return manifest
    except ValueError as e:
        raise ValueError(f"{path} is not a fetch manifest ({e}); move it away or choose another "
                         "--root") from None


def _save_manifest(path: Path, manifest: dict) -> None:
    manifest["format"] = "csrnet-lite FiveK fetch manifest, version 1"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _expert(expert: str) -> str:
    e = str(expert).strip().upper()
    if len(e) != 1 or e not in EXPERTS:
        raise ValueError(f"expert must be one of A, B, C, D, E (FiveK's five retouchers), got {expert!r}")
    return e


def _url(base_url: str, rel: str) -> str:
    """`rel` (a path on the server) under `base_url`, with or without its final slash."""
    return urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", rel)
