"""Cross-validation: folds hold every photo out exactly once, methods never see the photos they are
scored on, and the summary numbers are the ones computed by hand."""
from __future__ import annotations

import csv
import math

import pytest
import torch

from csrnet_lite.crossval import (CrossValidation, Fold, PhotoScore, by_source, crossvalidate, items,
                                  kfold, standard_methods)
from csrnet_lite.data import Pair
from csrnet_lite.evaluate import identity
from csrnet_lite.metrics import psnr
from csrnet_lite.settings import one_thread
from csrnet_lite.train import TrainConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def photo(seed: int, size=(12, 16)) -> torch.Tensor:
    return 0.1 + 0.8 * torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(seed))


def warm(x: torch.Tensor) -> torch.Tensor:
    """A fixed global retouch every pair shares."""
    return (x * torch.tensor([1.1, 1.0, 0.85]).view(1, 3, 1, 1) + 0.03).clamp(0, 1)


def dataset(n=10, sources=("a", "b", "c")) -> list[Pair]:
    return [Pair(f"p{i:02d}", photo(i), warm(photo(i)), sources[i % len(sources)]) for i in range(n)]


def test_kfold_holds_out_every_photo_once_and_mixes_sources():
    data = dataset(10)
    folds = kfold(data, 3)
    held = [id for f in folds for id in f.test]
    assert sorted(held) == sorted(x.id for x in data)  # each photo exactly once
    assert sorted(len(f.test) for f in folds) == [3, 3, 4]
    source = {x.id: x.source for x in data}
    assert all(len({source[i] for i in f.test}) >= 2 for f in folds)
    # a pair's fold depends on its id (and the seed), not on the order of the data
    assert kfold(list(reversed(data)), 3) == folds
    assert kfold(data, 3, seed=1) != folds
    with pytest.raises(ValueError, match="k must be between 2"):
        kfold(data, 11)


def test_by_source_holds_out_one_source_per_fold():
    data = dataset(7)
    folds = by_source(data)
    assert [f.name for f in folds] == ["a", "b", "c"]
    assert folds[0].test == ("p00", "p03", "p06")
    with pytest.raises(ValueError, match="at least 2 sources"):
        by_source(dataset(4, sources=("only",)))


def test_items_keeps_each_pairs_source_and_refuses_repeated_ids():
    data = [Pair("x", photo(0), photo(0), "dpe"), Pair("y", photo(1), photo(1), "curl")]
    assert [(x.id, x.source) for x in items(data)] == [("x", "dpe"), ("y", "curl")]
    assert [(x.id, x.source) for x in items([(photo(0), photo(0)), (photo(1), photo(1))])] == [("0", ""), ("1", "")]
    with pytest.raises(ValueError, match="unique ids"):
        items([Pair("x", photo(0), photo(0)), Pair("x", photo(1), photo(1))])


def test_methods_never_see_the_photos_they_are_scored_on():
    data = dataset(9)
    seen = []

    def spy(train):
        seen.append({x.id for x in train})
        return identity

    cv = crossvalidate(data, {"spy": spy}, kfold(data, 3))
    for fold, train_ids in zip(cv.folds, seen):
        assert not train_ids & set(fold.test) and len(train_ids) + len(fold.test) == 9
    expected = {x.id: float(psnr(x.input, x.target)[0]) for x in data}
    assert cv.per_photo("spy") == pytest.approx(expected, abs=1e-9)


def test_train_size_caps_the_training_pairs():
    data = dataset(9)
    sizes = []
    crossvalidate(data, {"spy": lambda train: sizes.append(len(train)) or identity}, 3, train_size=4)
    assert sizes == [4, 4, 4]
    with pytest.raises(ValueError, match="train_size"):
        crossvalidate(data, {"spy": lambda train: identity}, 3, train_size=7)


def test_summary_numbers_by_hand():
    folds = (Fold("f1", ("a", "b")), Fold("f2", ("c",)))
    rows = {"identity": [20.0, 22.0, 18.0], "good": [23.0, 25.0, 17.0]}
    scores = tuple(PhotoScore(m, "f1" if id != "c" else "f2", id, "", v)
                   for m, values in rows.items() for id, v in zip("abc", values))
    cv = CrossValidation(folds, scores)
    assert cv.mean("good") == pytest.approx(65 / 3)
    assert cv.fold_means("good") == [24.0, 17.0]
    assert cv.spread("good") == pytest.approx(math.sqrt(24.5))  # std of 24 and 17
    assert cv.worst("good") == ("c", -1.0)
    mean, se = cv.difference("good", "identity")  # differences 3, 3, -1
    assert mean == pytest.approx(5 / 3) and se == pytest.approx(4 / 3)  # std 4/sqrt(3), over sqrt(3)
    assert cv.verdict("good", "identity").startswith("no clear difference")  # 1.67 < 2 x 1.33 dB
    assert cv.verdict("good", "identity", threshold=1.0).startswith("good is 1.67 dB better")
    with pytest.raises(KeyError, match="have"):
        cv.per_photo("nope")


def test_standard_methods_on_a_fixed_retouch(tmp_path):
    """Every photo shares one warm retouch: the fitted fixed transforms recover it on held-out photos
    and beat doing nothing; a short training run is scored like the others."""
    data = dataset(6, sources=("a", "b"))
    config = TrainConfig.fast(recipe="tiny", steps=3, batch=2, pixels=32, thumb_size=8, progress=False)
    cv = crossvalidate(data, standard_methods(config), by_source(data), train_scores=True)
    assert cv.methods == ["identity", "affine colour transform", "quadratic colour transform",
                          "cubic colour transform", "fitted start", "tiny"]
    assert cv.mean("affine colour transform") > cv.mean("identity") + 10
    assert cv.best_fixed() in cv.methods[1:5]
    assert set(cv.train_psnr) == set(cv.methods) and len(cv.seconds) == 6
    text = cv.table()
    assert "worst vs identity" in text and "2 folds: a, b" in text
    rows = list(csv.DictReader(open(cv.to_csv(tmp_path / "cv.csv"))))
    assert len(rows) == 6 * 6 and {r["fold"] for r in rows} == {"a", "b"}


def test_cli_cross_validates_by_folds_and_by_source(tmp_path, capsys, monkeypatch):
    from csrnet_lite.tools.cli import main
    from csrnet_lite.image import save_image

    monkeypatch.setenv("CSRNET_LITE_SMOKE", "1")
    for i in range(6):
        source = tmp_path / "data" / ("dpe", "curl")[i % 2]
        save_image(photo(i), source / "input" / f"a{i + 1:04d}.png")
        save_image(warm(photo(i)), source / "target" / f"a{i + 1:04d}.png")
    root = str(tmp_path / "data")
    assert main(["cv", "--data", root, "--folds", "3", "--recipe", "fast", "--steps", "2", "--seeds", "0,1",
                 "--csv", str(tmp_path / "cv.csv")]) == 0
    out = capsys.readouterr().out
    assert "fast s0" in out and "fast s1" in out and "3 folds" in out
    assert len(list(csv.DictReader(open(tmp_path / "cv.csv")))) == 7 * 6
    assert main(["cv", "--data", root, "--by-source", "--steps", "2"]) == 0
    assert "2 folds: curl, dpe" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:  # a usage error: argparse exits with code 2
        main(["cv", "--data", root, "--seeds", "x"])
    assert usage.value.code == 2
    assert "--seeds" in capsys.readouterr().err
