"""Find input/target pairs in FiveK folders as they are published, and choose subsets of them by id.

Layouts recognised below a root (at any depth, several at once):

    input/ + target/                   also Input/ + Label/, raw/ + label/, inputs/ + targets/, gt/
    raw_input_train/ + expert_C_train/ the CSRNet authors' layout (and raw_input_test/ + expert_C_test/)
    input/JPG/480p/ + expertC/JPG/480p/ with train.txt and test.txt beside them (3D-LUT, AdaInt)
    <source>/input/ + <source>/target/ one folder per source, e.g. ../shared/fivek/dpe/

A folder is an *input* folder when a word of its name is "input", "inputs" or "raw", and a *target*
folder when a word is "target(s)", "label(s)", "gt" or "expert" + the chosen expert's letter ("expertC",
"expert_C"); its other words ("train", "test") name the split. Files pair up between an input and a
target folder with the same parent, the same other words and the same subfolders below them, by FiveK
id (`a0001` ... `a5000`, the start of the name) or else by file stem with the usual suffixes removed
(`clean_stem`). Problems (sizes that differ, an input identical to its target, unpaired files) are
reported, never hidden: one warning that lists them all, or a ValueError with `strict=True`.

Introduced in notebook 04 (`04_fivek_subset`).
"""
from __future__ import annotations

import filecmp
import fnmatch
import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image

from .image_files import check_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # what load_image reads
INPUT_WORDS = {"input", "inputs", "raw"}
TARGET_WORDS = {"target", "targets", "label", "labels", "gt"}  # plus "expert" + the expert's letter
SPLIT_LISTS = ("train", "val", "valid", "test")  # <name>.txt of ids beside the folders (AdaInt)
LAYOUTS = """expected input/target folders below the root, e.g.
  ROOT/input/a0001.png + ROOT/target/a0001.png  (also Input/Label, raw/label, inputs/targets)
  ROOT/raw_input_train/ + ROOT/expert_C_train/  (the CSRNet authors' layout)
  ROOT/input/JPG/480p/ + ROOT/expertC/JPG/480p/ (3D-LUT/AdaInt, with train.txt/test.txt)
  ROOT/<source>/input/ + ROOT/<source>/target/  (one folder per source)"""
_MAX_LISTED = 20  # problems listed in a warning or error; `python -m csrnet_lite data list` shows all

_FIVEK_ID = re.compile(r"a(\d{4})(?!\d)", re.IGNORECASE)
_STEM_SUFFIXES = (  # removed from the end of a stem, repeatedly, by clean_stem
    re.compile(r"[ _-](?:input|output|target|gt|label|expert_?[a-e])$", re.IGNORECASE),  # roles
    re.compile(r"\.(?:tiff?|png|jpe?g|dng)$", re.IGNORECASE),  # an extension kept in the stem (".tif_GT")
    re.compile(r"(?: -)? copy$| \(\d+\)$| \d{1,2}$", re.IGNORECASE),  # copies: "x 2", "x (2)", "x copy"
)


class PairingWarning(UserWarning):
    """Pairs or files left out by `find_pairs`; silence with warnings.simplefilter("ignore", ...)."""


@dataclass(frozen=True)
class PairFiles:
    """The files of one pair found on disk, before loading (`data.Pair` is the loaded pair): an input
    photo and the same photo retouched by the expert."""
    id: str          # FiveK id ("a0001") when the file names start with one, else the shared file stem
    input: Path      # the input rendering
    target: Path     # the expert's rendering, same size as the input
    group: str = ""  # folders around the input/target folders, e.g. "dpe" or "JPG/480p" ("" at the root)
    split: str = ""  # "train", "test"...: other words of the folder names, or a train.txt/test.txt list


def fivek_id(name: str) -> str | None:
    """The FiveK id a file or base name starts with ("a0001-jmac_DSC1459.tif" -> "a0001"), or None.

    >>> fivek_id("a0001-jmac_DSC1459.tif"), fivek_id("holiday.jpg")
    ('a0001', None)
    """
    m = _FIVEK_ID.match(name)
    return f"a{m[1]}" if m and 1 <= int(m[1]) <= 5000 else None


def clean_stem(stem: str, *, copies: bool = True) -> str:
    """A stem without the suffixes that published folders add to one side of a pair.

    "x_input", "x input", "x_gt", "x_output", "x.tif_GT", "x 2", "x (2)", "x copy" -> "x".
    copies=False keeps copy suffixes (" 2", " (2)", " copy"), which are also plain numbered names.

    >>> clean_stem("beach_input"), clean_stem("beach 2"), clean_stem("beach 2", copies=False)
    ('beach', 'beach', 'beach 2')
    """
    patterns = _STEM_SUFFIXES if copies else _STEM_SUFFIXES[:2]
    while True:
        new = stem
        for pattern in patterns:
            new = pattern.sub("", new)
        if new == stem or not new:
            return stem
        stem = new


def find_pairs(root: str | os.PathLike, *, strict: bool = False, expert: str = "C",
               group: str | None = None) -> list[PairFiles]:
    """All input/target pairs below `root`, sorted by id (see the module docstring for the layouts).

    expert: the letter of the expert whose folders are targets (expertC, expert_C_train...).
    group: keep only the pairs whose `PairFiles.group` matches this glob, e.g. "JPG/480p" when a root has
        several resolutions of the same photos.
    Pairs with a problem are left out and listed in one PairingWarning; `strict=True` raises a
    ValueError instead. A root without any pair raises FileNotFoundError naming the expected layouts.
    """
    pairs, problems = scan_pairs(root, expert=expert, group=group)
    if problems:
        message = f"{len(problems)} problem(s) in {root}:\n" + _listing(problems)
        if strict:
            raise ValueError(message + "\n(strict mode; fix or remove these files, or pass strict=False)")
        warnings.warn(message + "\nthese pairs and files are left out", PairingWarning, stacklevel=2)
    return pairs


def scan_pairs(root: str | os.PathLike, *, expert: str = "C",
               group: str | None = None) -> tuple[list[PairFiles], list[str]]:
    """`find_pairs` without warnings: (the pairs, one line per problem)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}; pass the folder that holds the input and "
                                "target folders (or set CSRNET_LITE_FIVEK)")
    folders, stray = _image_folders(root, expert)
    if group is not None:
        folders = {key: f for key, f in folders.items() if fnmatch.fnmatchcase(_label(key), group)}
    pairs, problems, split_lists = [], [], {}
    for key, files in sorted(folders.items()):
        prefix, words, below = key
        if not files["input"] or not files["target"]:
            have, lack = ("input", "target") if files["input"] else ("target", "input")
            where = relative(files[have][0].parent, root)
            problems.append(f"{where}: {len(files[have])} {have} file(s) but no matching {lack} folder")
            continue
        if not words and prefix not in split_lists:
            split_lists[prefix] = _split_lists(root.joinpath(*prefix))
        matched, unpaired = _match(files["input"], files["target"])
        problems += [f"no partner for {relative(path, root)}" for path in unpaired]
        for id, input, target in matched:
            pair = PairFiles(id, input, target, _label(key), words or split_lists[prefix].get(id, ""))
            problem = _check(pair, root)
            if problem:
                problems.append(problem)
            else:
                pairs.append(pair)
    pairs.sort(key=lambda p: (p.id, p.group, p.split))
    problems += _duplicates(pairs)
    if not pairs:
        hint = f"; {stray} image(s) lie in other folders" if stray else ""
        if root.name.lower() in INPUT_WORDS | TARGET_WORDS:
            hint += f"; {root} is itself an input/target folder: pass its parent"
        found = ("\n" + _listing(problems)) if problems else ""
        raise FileNotFoundError(f"no input/target pairs in {root}{hint}; {LAYOUTS}{found}")
    return pairs, problems


def _image_folders(root: Path, expert: str) -> tuple[dict, int]:
    """{(prefix, split words, subfolders): {"input": [files], "target": [files]}}, images elsewhere."""
    folders: dict[tuple, dict[str, list[Path]]] = {}
    stray, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):  # linked folders count too
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .cache, .git, ...
        if os.path.realpath(dirpath) in seen:  # a link back up the tree: walk each folder once
            dirnames[:] = []
            continue
        seen.add(os.path.realpath(dirpath))
        images = [n for n in sorted(filenames)
                  if not n.startswith(".") and n.lower().endswith(IMAGE_SUFFIXES)]  # "._x.png": macOS
        if not images:
            continue
        parts = Path(dirpath).relative_to(root).parts
        for i in reversed(range(len(parts))):  # the deepest input/target folder decides
            role, words = _folder_role(parts[i], expert)
            if role:
                key = (parts[:i], words, parts[i + 1:])
                files = folders.setdefault(key, {"input": [], "target": []})
                files[role] += [Path(dirpath, n) for n in images]
                break
        else:
            stray += len(images)
    return folders, stray


def _folder_role(name: str, expert: str) -> tuple[str | None, str]:
    """("input" | "target" | None, the other words): "raw_input_test" -> ("input", "test")."""
    words: list[str] = []
    for word in re.findall(r"[a-z0-9]+", name.lower()):
        if words and words[-1] == "expert" and len(word) == 1:
            words[-1] += word  # "expert_C" -> "expertc"
        else:
            words.append(word)
    target_words = TARGET_WORDS | {f"expert{expert.lower()}"}
    is_input = any(w in INPUT_WORDS for w in words)
    is_target = any(w in target_words for w in words)
    if is_input == is_target:  # neither, or both ("input_gt"): not one side of a pair
        return None, ""
    rest = [w for w in words if w not in INPUT_WORDS | target_words]
    return ("input" if is_input else "target"), "_".join(rest)


def _match(inputs: list[Path], targets: list[Path]) -> tuple[list[tuple[str, Path, Path]], list[Path]]:
    """Pair files by FiveK id, else by stem without role suffixes, else as a copy ("x 2" with "x").

    Returns ([(id, input, target)], the files left unpaired).
    """
    buckets: dict[str, tuple[list[Path], list[Path]]] = {}
    for side, paths in enumerate((inputs, targets)):
        for path in paths:
            key = fivek_id(path.name) or clean_stem(path.stem, copies=False).casefold()
            buckets.setdefault(key, ([], []))[side].append(path)
    matched, left_in, left_target = [], [], []
    for ins, tgts in buckets.values():
        # several files share a key (e.g. "a0001-x.png" and its copy "a0001-x 2.png"): equal stems
        # pair first, then equal cleaned stems; what stays ambiguous is reported
        for same in (lambda p: p.stem.casefold(), lambda p: clean_stem(p.stem).casefold()):
            if len(ins) > 1 or len(tgts) > 1:
                for i in list(ins):
                    partners = [t for t in tgts if same(t) == same(i)]
                    if len(partners) == 1 and [same(j) for j in ins].count(same(i)) == 1:
                        matched.append((i, partners[0]))
                        ins.remove(i)
                        tgts.remove(partners[0])
        if len(ins) == 1 and len(tgts) == 1:
            matched.append((ins[0], tgts[0]))
        else:
            left_in += ins
            left_target += tgts
    for i in list(left_in):  # copies: "x 2" is a copy of "x", but "photo 12" is no copy of "photo 13"
        partners = [t for t in left_target if _is_copy(i, t)]
        if len(partners) == 1 and sum(_is_copy(j, partners[0]) for j in left_in) == 1:
            matched.append((i, partners[0]))
            left_in.remove(i)
            left_target.remove(partners[0])
    pairs = [(fivek_id(t.name) or clean_stem(t.stem, copies=False), i, t) for i, t in matched]
    return pairs, sorted(left_in + left_target)


def _is_copy(a: Path, b: Path) -> bool:
    """True when one file's stem is the other's plus a copy suffix (role suffixes aside)."""
    a_stem, b_stem = (clean_stem(p.stem, copies=False).casefold() for p in (a, b))
    return a_stem != b_stem and (clean_stem(a_stem) == b_stem or clean_stem(b_stem) == a_stem)


def _check(pair: PairFiles, root: Path) -> str | None:
    """A line describing what is wrong with a pair, or None when it can be used."""
    names = f"({relative(pair.input, root)}, {relative(pair.target, root)})"
    try:
        size_in, size_target = upright_size(pair.input), upright_size(pair.target)
    except (OSError, SyntaxError, ValueError) as e:
        return f"{pair.id}: unreadable image {names}: {e}"
    if size_in != size_target:
        return (f"{pair.id}: input is {size_in[0]}x{size_in[1]} but target is "
                f"{size_target[0]}x{size_target[1]} {names}")
    if pair.input.stat().st_size == pair.target.stat().st_size and filecmp.cmp(
            pair.input, pair.target, shallow=False):
        return f"{pair.id}: input and target are identical files {names}"
    return None


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as load_image shows it (EXIF rotation applied), from its header.

    A PNG's orientation is read only from an eXIf chunk before the pixels (PIL would decode it all).
    Raises ValueError for a file `image_files.check_file` refuses (too large, several frames, unreadable).
    """
    check_file(path)
    with Image.open(path) as im:
        width, height = im.size
        if im.format == "TIFF" and (im.tag_v2.get(256), im.tag_v2.get(257)) != im.size:
            return width, height  # this PIL turns TIFFs upright itself and reports the upright size
        exif = im.getexif() if im.format != "PNG" or "exif" in im.info else {}
        return (height, width) if exif.get(0x0112, 1) in (5, 6, 7, 8) else (width, height)


def _duplicates(pairs: list[PairFiles]) -> list[str]:
    """One line per id that appears in more than one group or split."""
    places: dict[str, list[str]] = {}
    for p in pairs:
        places.setdefault(p.id, []).append(" ".join(filter(None, (p.group or ".", p.split))))
    many = {id: where for id, where in places.items() if len(where) > 1}
    lines = [f"{id} is in {len(where)} places: {', '.join(where)}" for id, where in many.items()]
    if lines:
        groups = sorted({p.group for p in pairs if p.id in many})
        lines.append(f"pass group=... to keep one of {groups} (all are kept now)")
    return lines


def _split_lists(folder: Path) -> dict[str, str]:
    """{id: split} from train.txt, val.txt, test.txt... in `folder` (3D-LUT/AdaInt)."""
    split = {}
    for name in SPLIT_LISTS:
        path = folder / f"{name}.txt"
        if path.is_file():
            for id in read_id_list(path):
                split.setdefault(id, name)
    return split


def _label(key: tuple) -> str:
    prefix, _, below = key
    return "/".join(prefix + below)


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _listing(lines: list[str]) -> str:
    shown = [f"  - {line}" for line in lines[:_MAX_LISTED]]
    if len(lines) > _MAX_LISTED:
        shown.append(f"  ... and {len(lines) - _MAX_LISTED} more "
                     "(python -m csrnet_lite data list ROOT prints them all)")
    return "\n".join(shown)


# ---------------------------------------------------------------------------------------------------
# Subsets: by a published list, by an id range, or our own deterministic split

def read_id_list(path: str | os.PathLike) -> list[str]:
    """Ids from a text file, one per line: "a0001", "a0001-jmac_DSC1459", "a0001.jpg", a 1-based
    number ("1" -> "a0001", as in the exposure-correction folds) or any file stem.

    Blank lines and lines starting with "#" are skipped; only the first tab- or comma-separated field
    of a line counts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no id list at {path}; expected a text file with one id per line")
    ids = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        fields = re.split(r"[\t,]", line.strip(), maxsplit=1)  # tab or comma: names may hold spaces
        if fields[0] and not fields[0].startswith("#"):
            ids.append(_list_key(fields[0]))
    return ids


def _list_key(entry: str) -> str:
    if entry.isdigit():
        return f"a{int(entry):04d}"
    name = Path(entry).name
    return fivek_id(name) or re.sub(r"\.(?:tiff?|png|jpe?g|dng)$", "", name, flags=re.IGNORECASE)


def select_ids(pairs: Sequence[PairFiles], ids: Iterable[str] | str | os.PathLike) -> list[PairFiles]:
    """The pairs whose id is in `ids`: an iterable of ids/base names, or a list file (`read_id_list`)."""
    if isinstance(ids, (str, os.PathLike)):
        ids = read_id_list(ids)
    wanted = {_list_key(str(i)).casefold() for i in ids}
    return [p for p in pairs if p.id.casefold() in wanted]


def select_range(pairs: Sequence[PairFiles], first: str, last: str) -> list[PairFiles]:
    """The pairs with FiveK ids from `first` to `last` inclusive, e.g. ("a0001", "a4500")."""
    bounds = [fivek_id(x) for x in (first, last)]
    if None in bounds:
        raise ValueError(f"select_range takes FiveK ids like 'a0001' and 'a4500', got {first!r}, {last!r}")
    return [p for p in pairs if fivek_id(p.id) and bounds[0] <= p.id <= bounds[1]]


def split_by_id(pairs: Sequence[PairFiles], val_fraction: float = 0.1,
                seed: int = 0) -> tuple[list[PairFiles], list[PairFiles]]:
    """(train, val): each pair goes to val when a hash of (seed, id) falls below `val_fraction`.

    The side of an id never depends on which other pairs exist, so growing a subset never moves a
    photo from val to train. The val share of a small set varies around `val_fraction`.
    """
    if not 0 <= val_fraction <= 1:
        raise ValueError(f"val_fraction must lie in [0, 1], got {val_fraction}")
    train, val = [], []
    for p in pairs:
        digest = hashlib.sha256(f"{seed}/{p.id}".encode()).digest()
        (val if int.from_bytes(digest[:8], "big") < val_fraction * 2.0 ** 64 else train).append(p)
    return train, val
