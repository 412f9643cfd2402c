"""Random edits of photos (csrnet_lite.edits): the edit is data_samples' degradation, the inverse is
exact, parameters travel with each pair, splits go by photo, and training draws fresh edits."""
from __future__ import annotations

import torch
import pytest

from cli_harness import command
from csrnet_lite import degradation
from csrnet_lite.checkpoint import load_model
from csrnet_lite.data import PairDataset
from csrnet_lite.edits import LOOK, EditFamily, EditSource, apply, modulations_off, photo_folds, undo, weaker
from csrnet_lite.image import Resize
from csrnet_lite.metrics import psnr
from csrnet_lite.recipes import TrainConfig
from csrnet_lite.settings import DATA_SAMPLES
from csrnet_lite.train import train


@pytest.fixture(scope="module")
def source():
    return EditSource.from_photos(PairDataset(DATA_SAMPLES, resize=Resize("long", 64)), per_photo=3)


def test_apply_is_data_samples_degradation_on_the_recorded_pairs():
    """Reference: the manifest's own parameters on the shipped targets give the shipped inputs."""
    data = PairDataset(DATA_SAMPLES)
    known = degradation.known_degradations()
    for sample in list(data)[:4]:
        ours = apply(sample.target, known[sample.id])
        assert (ours - sample.input).abs().max() * 255 <= 1.0001  # within one 8-bit level


def test_draw_pivot_and_ranges_match_data_samples(source):
    family, gen = EditFamily(), torch.Generator().manual_seed(3)
    target = source.photos[0][1]
    for _ in range(50):
        edit = family.draw(target, gen)
        assert family.exposure_ev[0] <= edit.exposure_ev <= family.exposure_ev[1]
        assert family.contrast[0] <= edit.contrast <= family.contrast[1]
        assert family.saturation[0] <= edit.saturation <= family.saturation[1]
        lo, hi = (2 ** r for r in family.wb_log2_gain)
        assert lo <= edit.wb_gains[0] <= hi and lo <= edit.wb_gains[2] <= hi and edit.wb_gains[1] == 1
        assert edit.contrast_mean == pytest.approx(degradation.with_pivot(target, edit).contrast_mean, abs=1e-6)


def test_pairs_keep_their_parameters_and_the_exact_inverse_is_the_ceiling(source):
    pairs = source.pairs()
    assert len(pairs) == 3 * len(source.photos) == len(source)
    for p in pairs[:12]:
        assert torch.equal(p.input, apply(p.target, p.edit))  # the kept parameters made this input
        assert p.id.startswith(p.photo + "~")
    inverse = torch.stack([psnr(undo(p.input, p.edit), p.target)[0] for p in pairs])
    identity = torch.stack([psnr(p.input, p.target)[0] for p in pairs])
    assert (inverse > identity).all() and inverse.median() > 40  # only clipping and 8-bit rounding remain
    unclipped = torch.rand(1, 3, 16, 16) * 0.4 + 0.3  # mid-tones: no edit of the family clips them
    edit = EditFamily().draw(unclipped, torch.Generator().manual_seed(0))
    assert (undo(degradation.degrade(unclipped, edit), edit) - unclipped).abs().max() < 1e-5


def test_pairs_are_seeded_per_photo(source):
    a = source.pairs(seed=5)
    b = EditSource(source.photos[3:], per_photo=3).pairs(seed=5)  # other photos removed
    assert [p.edit for p in a[9:]] == [p.edit for p in b]
    assert [p.edit for p in source.pairs(seed=6)] != [p.edit for p in a]


def test_split_and_folds_go_by_photo(source):
    names = source.names
    train_photos, test_photos = source.split(names[:5])
    assert set(test_photos.names) == set(names[:5]) and not set(train_photos.names) & set(names[:5])
    pairs = source.pairs()
    folds = photo_folds(pairs, k=4)
    held = [id for f in folds for id in f.test]
    assert sorted(held) == sorted(p.id for p in pairs)  # every pair held out exactly once
    fold_of = {id: f.name for f in folds for id in f.test}
    for p in pairs:  # all edits of a photo in the same fold
        assert fold_of[p.id] == fold_of[f"{p.photo}~0"]
    with pytest.raises(ValueError, match="no photos named"):
        source.split(["not-a-photo"])
    with pytest.raises(ValueError, match="at least one training"):
        source.split(names)


def test_training_draws_a_fresh_edit_every_time(source):
    config = TrainConfig.edits(batch=4, pixels=64, thumb_size=32)
    a = source.sample_batch(config, torch.Generator().manual_seed(0))
    b = source.sample_batch(config, torch.Generator().manual_seed(0))
    c = source.sample_batch(config, torch.Generator().manual_seed(1))
    assert torch.equal(a.pixels, b.pixels) and torch.equal(a.cond, b.cond)  # deterministic for a seed
    assert not torch.equal(a.cond, c.cond)
    gen = torch.Generator().manual_seed(0)
    first = [source.edit(0, gen).edit for _ in range(2)]
    assert first[0] != first[1]  # the same photo, a new edit


def test_weaker_goes_from_no_edit_to_the_edit(source):
    target = source.photos[0][1]
    edit = EditFamily().draw(target, torch.Generator().manual_seed(4))
    assert weaker(edit, 1.0) == degradation.Degradation(*[getattr(edit, k) for k in
                                                          ("exposure_ev", "wb_gains", "contrast", "saturation")])
    nothing = weaker(edit, 0.0)  # the identity: exposure 0, gains 1, contrast and saturation 1
    assert (nothing.exposure_ev, nothing.wb_gains, nothing.contrast, nothing.saturation) == (0.0, (1.0, 1.0, 1.0), 1.0, 1.0)
    from csrnet_lite.edits import with_pivot
    assert (apply(target, with_pivot(target, nothing)) - target).abs().max() * 255 <= 0.5001  # only 8-bit rounding
    half = weaker(edit, 0.5)
    assert half.exposure_ev == pytest.approx(edit.exposure_ev / 2) and half.contrast == pytest.approx((1 + edit.contrast) / 2)


def test_mild_draws_weaken_a_share_of_the_edits(source):
    family, target = EditFamily(), source.photos[0][1]
    plain = [family.draw(target, g) for g in [torch.Generator().manual_seed(7)] for _ in range(200)]
    same = [family.draw_mild(target, g, 0.0) for g in [torch.Generator().manual_seed(7)] for _ in range(200)]
    assert plain == same  # mild=0 is `draw`, draw for draw
    mild = [family.draw_mild(target, g, 1.0) for g in [torch.Generator().manual_seed(7)] for _ in range(200)]
    contrast = lambda edits: sum(abs(1 - e.contrast) for e in edits) / len(edits)  # noqa: E731
    assert contrast(mild) == pytest.approx(contrast(plain) / 2, rel=0.25)  # strength uniform in [0, 1]: half
    assert max(e.contrast for e in mild) > family.contrast[1]  # milder than the family allows


def test_look_restyles_the_target_and_the_input_follows(source):
    name, photo = source.photos[2]
    plain = source.edit(2, torch.Generator().manual_seed(1))
    assert torch.equal(plain.target, photo)
    looks = [source.edit(2, torch.Generator().manual_seed(s), look=1.0) for s in range(8)]
    for pair in looks:
        assert torch.equal(pair.input, apply(pair.target, pair.edit))  # the edit of the restyled photo
    means = torch.stack([p.target.mean() for p in looks])
    assert means.std() > 0.01 and not any(torch.equal(p.target, photo) for p in looks)
    lo, hi = 2 ** (LOOK.exposure_ev[0] - 0.3), 2 ** (LOOK.exposure_ev[1] + 0.3)
    assert all(lo * photo.mean() < p.target.mean() < hi * photo.mean() for p in looks)  # mild, not arbitrary


def test_training_batches_follow_mild_and_look(source):
    """Through `sample_batch`, as training draws them: mild brings inputs nearer their targets, and
    look changes the targets; a config without them draws the plain family."""
    base = TrainConfig.edits(batch=16, pixels=256, thumb_size=32)
    err = lambda c, seed: (lambda b: (b.pixels - b.target).abs().mean().item())(  # noqa: E731
        source.sample_batch(c, torch.Generator().manual_seed(seed)))
    plain = sum(err(base, s) for s in range(6))
    mild = sum(err(TrainConfig.edits(batch=16, pixels=256, thumb_size=32, mild=1.0), s) for s in range(6))
    assert mild < 0.75 * plain
    a = source.sample_batch(base, torch.Generator().manual_seed(0))
    b = source.sample_batch(TrainConfig.edits(batch=16, pixels=256, thumb_size=32, look=1.0),
                            torch.Generator().manual_seed(0))
    assert not torch.equal(a.target, b.target)
    for bad in (dict(mild=1.5), dict(look=-0.1)):
        with pytest.raises(ValueError, match="must be in"):
            TrainConfig.edits(**bad)


def test_modulations_off_trains_only_the_fixed_map(source):
    config = TrainConfig.edits(steps=3, batch=4, pixels=64, thumb_size=32, progress=False)
    from csrnet_lite.train import init_model
    model = modulations_off(init_model(config, source))
    result = train(model, source, config)
    for name in ("scale", "shift"):
        for i in (1, 2, 3):
            head = getattr(result.model, f"cond_{name}{i}")
            assert not head.weight.any() and not head.bias.any()
    assert not torch.equal(result.model.conv1.weight, init_model(config, source).conv1.weight)


def test_train_edits_through_the_command_line(tmp_path):
    proc = command(["train", "--data", str(DATA_SAMPLES), "--edits", "--steps", "3", "--out", "m.pt"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "random edits of the 28 targets" in out and "training the edits recipe" in out
    assert ", 1 thread(s)" in out  # the edits recipe's small steps run on one thread unless told otherwise
    model, view = load_model(tmp_path / "m.pt")
    assert str(view) == "64x64 thumbnail"  # the edits recipe's condition view
    proc = command(["train", "--data", str(DATA_SAMPLES), "--edits", "--recipe", "fixed", "--out", "f.pt"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "training the fixed recipe" in out and "0 steps" in out
    proc = command(["train", "--data", str(DATA_SAMPLES), "--edits", "--minutes", "0.002", "--out", "t.pt"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err  # a time cut is not an error, but it is said plainly
    assert "stopped by the time budget" in out and f"of the recipe's {TrainConfig.edits().steps} steps" in out
    out = command(["train", "--data", str(DATA_SAMPLES), "--edits", "--steps", "2", "--threads", "2", "--out", "u.pt"],
                  tmp_path).communicate(timeout=300)[0]
    assert "stopped by the time budget" not in out and ", 2 thread(s)" in out
    proc = command(["evaluate", "--data", str(DATA_SAMPLES), "--edits", "--model", "m.pt"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "m.pt" in out and "identity" in out


def test_cv_edits_holds_out_whole_photos(tmp_path, monkeypatch, capsys):
    from csrnet_lite.tools.cli import main
    monkeypatch.setenv("CSRNET_LITE_SMOKE", "1")  # photos at long edge 128, 20 steps unless told
    csv = tmp_path / "cv.csv"
    assert main(["cv", "--data", str(DATA_SAMPLES), "--edits", "--folds", "2", "--steps", "2",
                 "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "112 random edits of 28 photos" in out and "2 folds by photo" in out and "edits" in out
    rows = csv.read_text().splitlines()[1:]
    folds = {}
    for row in rows:  # method, fold, id, ...: every edit of a photo in one fold
        fields = row.split(",")
        folds.setdefault(fields[2].split("~")[0], set()).add(fields[1])
    assert len(folds) == 28 and all(len(f) == 1 for f in folds.values())
    assert main(["cv", "--data", str(DATA_SAMPLES), "--edits", "--by-source"]) == 1
