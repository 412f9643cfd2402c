"""Evaluation and baselines: scores agree with the metrics, the colour transform baseline is exact,
the authors' weights are run as in their code, and the command line trains and evaluates end to end."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from csrnet_lite.baselines import ColourTransform, identity
from csrnet_lite.checkpoint import load_model
from csrnet_lite.evaluate import Comparison, as_function, comparison, evaluate
from csrnet_lite.fit import identity_init
from csrnet_lite.image import save_image, thumbnail
from csrnet_lite.metrics import delta_e, psnr, ssim
from csrnet_lite.model import CondView, CSRNet
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import one_thread
from csrnet_lite.tools.cli import main
from csrnet_lite.train import train


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a shared 2-core machine two threads can be many times slower."""
    with one_thread():
        yield


def photos(n: int, size=(20, 24), seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [0.1 + 0.8 * torch.rand(1, 3, *size, generator=gen) for _ in range(n)]


def known_transform(degree: int, seed: int = 0) -> ColourTransform:
    """0.1 + 0.8 * colour plus small random terms of every order: maps [0.1, 0.9]^3 into [0, 1]."""
    monomials = {1: 4, 2: 10, 3: 20}[degree]
    coefficients = torch.zeros(monomials, 3, dtype=torch.float64)
    coefficients[0] = 0.1
    coefficients[1:4] = 0.8 * torch.eye(3, dtype=torch.float64)  # monomials 1..3 are r, g, b
    coefficients += 0.01 * torch.randn(monomials, 3, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64)
    return ColourTransform(degree, coefficients)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_colour_transform_recovers_a_known_transform(degree):
    truth = known_transform(degree)
    pairs = [(x, truth(x)) for x in photos(3)]
    assert all(0 <= float(y.min()) and float(y.max()) <= 1 for _, y in pairs)
    fitted = ColourTransform.fit(pairs, degree)
    torch.testing.assert_close(fitted.coefficients, truth.coefficients, rtol=0, atol=2e-5)
    x = photos(1, seed=5)[0]
    torch.testing.assert_close(fitted(x), truth(x), rtol=0, atol=1e-5)


def test_colour_transform_monomials_golden():
    x = torch.tensor([2.0, 3.0, 5.0]).view(1, 3, 1, 1)  # r, g, b (not an image: just the algebra)
    f = ColourTransform.features(x, 2)[0, :, 0, 0].tolist()
    # 1, r, g, b, r^2, rg, rb, g^2, gb, b^2
    assert f == [1, 2, 3, 5, 4, 6, 10, 9, 15, 25]
    with pytest.raises(ValueError, match="degree must be 1, 2 or 3"):
        ColourTransform.fit([(x, x)], 4)


def test_identity_model_scores_exactly_as_the_identity_baseline():
    inputs = photos(3, size=(16, 20))
    data = [(x, (x * 1.1).clamp(0, 1)) for x in inputs]
    by_model = evaluate(identity_init(CSRNet()), data, name="identity model")
    by_baseline = evaluate(identity, data, name="identity")
    expected = [float(psnr(x, y)[0]) for x, y in data]
    assert [s.psnr for s in by_baseline.images] == pytest.approx(expected, abs=1e-6)
    assert [s.psnr for s in by_model.images] == pytest.approx(expected, abs=1e-6)
    assert [s.ssim for s in by_model.images] == pytest.approx([float(ssim(x, y)[0]) for x, y in data], abs=1e-6)
    assert [s.delta_e for s in by_model.images] == pytest.approx([float(delta_e(x, y)[0]) for x, y in data],
                                                                 abs=1e-5)
    assert by_model.mean.psnr == pytest.approx(sum(expected) / 3, abs=1e-6)


def test_evaluation_table_and_csv(tmp_path):
    data = [(x, x.clamp(0, 0.8)) for x in photos(2)]
    result = evaluate(identity, data, name="identity")
    text = str(result)
    assert text.splitlines()[0] == "identity" and "mean" in text and f"{result.mean.psnr:.2f}" in text
    rows = list(csv.DictReader(open(result.to_csv(tmp_path / "scores.csv"))))
    assert [r["id"] for r in rows] == ["0", "1"] and rows[0]["method"] == "identity"
    assert float(rows[1]["psnr"]) == pytest.approx(result.images[1].psnr, abs=1e-4)


def test_compare_orders_baselines_first_and_fits_on_the_training_pairs():
    truth = known_transform(2, seed=3)
    train_pairs = [(x, truth(x)) for x in photos(3)]
    val = [(x, truth(x)) for x in photos(2, seed=9)]
    model = identity_init(CSRNet())
    table = comparison({"mine": model}, val, train=train_pairs, degrees=(1, 2), official=None)
    assert isinstance(table, Comparison)
    assert [e.name for e in table.evaluations] == [
        "identity", "affine colour transform (3 pairs)", "quadratic colour transform (3 pairs)",
        "fitted start (3 pairs)", "mine"]
    assert table["fitted start (3 pairs)"].mean.psnr > table["identity"].mean.psnr + 10
    assert table["quadratic colour transform (3 pairs)"].mean.psnr > 60  # exact up to 8-bit rounding
    assert table["mine"].mean.psnr == pytest.approx(table["identity"].mean.psnr, abs=1e-6)
    assert "+0.00" in table.table().splitlines()[2]  # identity vs itself
    with pytest.raises(KeyError, match="have"):
        table["nope"]


def test_retoucher_conditions_on_the_thumbnail_or_the_whole_input():
    torch.manual_seed(0)
    model = CSRNet().eval()
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(as_function(model, CondView(32))(x), model(x, thumbnail(x, 32)), rtol=0, atol=0)
        torch.testing.assert_close(as_function(model, CondView.FULL)(x), model(x), rtol=0, atol=0)
        torch.testing.assert_close(as_function(model, CondView(32), 0.7)(x), x + 0.7 * (model(x, thumbnail(x, 32)) - x))
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        as_function(model, CondView(32), 1.5)


def test_a_training_result_is_scored_on_the_view_it_trained_with(monkeypatch):
    from csrnet_lite import model as model_module

    data = [(x, (x * 1.2).clamp(0, 1)) for x in photos(2, size=(16, 20))]
    paper = train(None, data, TrainConfig.paper(steps=2, progress=False))  # conditions on the whole input
    fast = train(None, data, TrainConfig.fast(steps=2, thumb_size=8, progress=False))
    sizes = []
    spy = lambda x, size: sizes.append(size) or thumbnail(x, size)  # noqa: E731
    monkeypatch.setattr(model_module, "thumbnail", spy)
    scores = evaluate(paper, data)
    assert scores.name == "paper" and sizes == []
    assert scores.images == evaluate(paper.model, data, name="paper", view=CondView.FULL).images
    assert evaluate(fast, data).name == "fast" and sizes == [8, 8]


def test_authors_weights_are_scored_with_the_whole_input(shared_weights):
    """The reference outputs were made by the authors' code (condition on the whole input): scoring
    the authors' weights against them is perfect only when evaluation shows the whole input too."""
    ref = np.load(shared_weights / "reference_outputs" / "a0212.npz")
    x = torch.from_numpy(ref["input"]).permute(2, 0, 1)[None].contiguous()  # (H, W, 3) -> (1, 3, H, W)
    y = torch.from_numpy(ref["output"]).permute(2, 0, 1)[None].clamp(0, 1).contiguous()
    table = comparison({}, [(x, y)], official=shared_weights / "csrnet_official.pth")
    assert [e.name for e in table.evaluations] == ["identity", "authors' weights"]
    assert table["authors' weights"].mean.psnr > 60
    assert table["authors' weights"].mean.delta_e < 0.01


def write_dataset(root, n=5, size=(24, 32)):
    """input/ and target/ folders of tiny PNGs; the target is a fixed brighten-and-warm retouch."""
    for i, x in enumerate(photos(n, size=size, seed=7)):
        y = (x * torch.tensor([1.15, 1.05, 0.9]).view(1, 3, 1, 1) + 0.05).clamp(0, 1)
        save_image(x, root / "input" / f"a{i + 1:04d}.png")
        save_image(y, root / "target" / f"a{i + 1:04d}.png")
    return root


def test_cli_train_then_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CSRNET_LITE_SMOKE", "1")
    root = write_dataset(tmp_path / "data")
    model_path = tmp_path / "model.pt"
    assert main(["train", "--data", str(root), "--recipe", "fast", "--steps", "5", "--out", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "5 steps" in out and model_path.is_file()
    model, view = load_model(model_path)
    assert view == CondView(128) and isinstance(model, CSRNet)
    # resume to 8 steps in total
    assert main(["train", "--data", str(root), "--recipe", "fast", "--steps", "8", "--out", str(model_path),
                 "--resume", str(model_path)]) == 0
    assert "8 steps" in capsys.readouterr().out
    csv_path = tmp_path / "scores.csv"
    assert main(["evaluate", "--data", str(root), "--model", str(model_path), "--csv", str(csv_path),
                 "--train-data", str(root)]) == 0
    table = capsys.readouterr().out
    names = [line.split("  ")[0] for line in table.splitlines()[2:6]]
    assert names == ["identity", "quadratic colour transform (5 pairs)", "fitted start (5 pairs)", "model.pt"]
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 4 * 5 and {r["method"] for r in rows} == {
        "identity", "model.pt", "quadratic colour transform (5 pairs)", "fitted start (5 pairs)"}


def test_cli_default_recipe_is_a_closed_form_fit(tmp_path, capsys, monkeypatch):
    """No recipe flags: no gradient steps; without the authors' weights, the fixed colour map."""
    from csrnet_lite import recipes

    monkeypatch.setenv("CSRNET_LITE_SMOKE", "1")
    monkeypatch.setattr(recipes, "official_weights_path", lambda: tmp_path / "absent.pth")
    root = write_dataset(tmp_path / "data")
    assert main(["train", "--data", str(root), "--out", str(tmp_path / "fixed.pt")]) == 0
    out = capsys.readouterr().out
    assert "the fixed colour map" in out and "closed form, 0 steps" in out
    model, view = load_model(tmp_path / "fixed.pt")
    data = [(x, (x * torch.tensor([1.15, 1.05, 0.9]).view(1, 3, 1, 1) + 0.05).clamp(0, 1))
            for x in photos(5, size=(24, 32), seed=7)]
    assert evaluate(model, data, view=view).mean.psnr > evaluate(identity, data).mean.psnr + 10


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    root = write_dataset(tmp_path / "data", n=2)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main(["train", "--data", str(root), "--steps", "2", "--out", str(tmp_path / "m.pt"),
                 "--resume", str(bad)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(root), "--model", str(tmp_path / "missing.pt")]) == 1
    assert "no model file" in capsys.readouterr().err
