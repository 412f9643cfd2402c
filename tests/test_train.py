"""Training: it learns, it is deterministic, it resumes exactly, and it never loses work."""
from __future__ import annotations

import copy
import dataclasses
import math
import time

import pytest
import torch

from csrnet_lite import train as train_module
from csrnet_lite.checkpoint import config_from_checkpoint, load_checkpoint, save_checkpoint
from csrnet_lite.fit import base_features, choose_ridge, fit_base, identity_init, photo_moments, ridge_scores
from csrnet_lite.image import thumbnail
from csrnet_lite.model import CondView, CSRNet
from csrnet_lite.recipes import RIDGE_GRID, History, TrainConfig
from csrnet_lite.settings import one_thread
from csrnet_lite.train import init_model, lr_at, sample_batch, train

# A tiny but complete fast recipe: every augmentation on, so every random choice is exercised.
TINY = TrainConfig.fast(steps=6, batch=3, pixels=64, thumb_size=16, warmup=2, progress=False,
                        keep_start=False)  # tests of the loop's mechanics; keep_start has its own test


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a shared 2-core machine two threads can be many times slower."""
    with one_thread():
        yield


def smooth_images(n: int, size: tuple[int, int] = (24, 32), seed: int = 0) -> list[torch.Tensor]:
    """n random photos (1, 3, H, W) in [0.05, 0.95]: smooth colour gradients plus a little texture."""
    gen = torch.Generator().manual_seed(seed)
    images = []
    for _ in range(n):
        corners = torch.rand(1, 3, 2, 2, generator=gen)
        x = torch.nn.functional.interpolate(corners, size=size, mode="bilinear", align_corners=True)
        x = x + 0.05 * torch.rand(1, 3, *size, generator=gen)
        images.append((0.05 + 0.9 * (x - x.min()) / (x.max() - x.min())).contiguous())
    return images


def retouch(x: torch.Tensor) -> torch.Tensor:
    """A known global retouch: more contrast and a brighter, warmer tone."""
    gains = torch.tensor([1.1, 1.0, 0.9]).view(1, 3, 1, 1)
    return ((x - 0.5) * 1.4 + 0.55).mul(gains).clamp(0, 1)


@pytest.fixture(scope="module")
def pairs():
    return [(x, retouch(x)) for x in smooth_images(6)]


def same_state(a: CSRNet, b: CSRNet) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def psnr(output, target) -> float:
    return -10 * math.log10(torch.nn.functional.mse_loss(output.clamp(0, 1), target).item())


# --- recipes and initialisation --------------------------------------------------------------------

def test_paper_recipe_is_as_published():
    c = TrainConfig.paper()
    assert (c.loss, c.lr, c.betas, c.batch, c.pixels, c.thumb_size) == ("l1", 1e-4, (0.9, 0.99), 1, None, None)
    assert (c.lr_halve_every, c.cosine, c.warmup, c.init) == (100_000, False, 0, "default")
    assert (c.exposure, c.white_balance, c.crop, c.modulation_penalty, c.ema) == (0.0, 0.0, 1.0, 0.0, 0.0)
    assert c.flips is False and c.keep_start is False  # no check of its own (the published loop)
    assert lr_at(c, 0, 0.0) == 1e-4 and lr_at(c, 99_999, 0.0) == 1e-4
    assert lr_at(c, 100_000, 0.0) == 5e-5 and lr_at(c, 250_000, 0.0) == 2.5e-5


def test_fast_and_finetune_recipes():
    fast = TrainConfig.fast()
    assert (fast.recipe, fast.init, fast.steps, fast.thumb_size, fast.loss) == ("fast", "fit", 1200, 128, "l2")
    tune = TrainConfig.finetune("weights.pth", minutes=1)
    assert (tune.init, tune.official_path, tune.steps, tune.lr, tune.minutes) == ("official", "weights.pth", 300,
                                                                                  5e-4, 1)


def test_config_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="stopping rule"):
        TrainConfig(steps=None, minutes=None)
    with pytest.raises(ValueError, match="batch=1"):
        TrainConfig(pixels=None, batch=4)
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        TrainConfig(loss="l3")
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")


def test_identity_init_is_exactly_the_identity():
    model = identity_init(CSRNet())
    x = torch.rand(2, 3, 9, 7)
    mods = model.modulations(thumbnail(x, 16))
    assert all(torch.equal(s, torch.zeros_like(s)) for s in mods.scales + mods.shifts)
    torch.testing.assert_close(model(x, thumbnail(x, 16)), x, rtol=0, atol=1e-6)


def test_fit_base_finds_the_fixed_retouch(pairs):
    model = fit_base(identity_init(CSRNet()), pairs, ridge=1e-6)
    with torch.no_grad():
        outputs = [model.base(x, model.modulations(x)) for x, _ in pairs]
    before = sum(psnr(x, y) for x, y in pairs) / len(pairs)
    after = sum(psnr(o, y) for o, (_, y) in zip(outputs, pairs)) / len(pairs)
    assert after > before + 15, (before, after)  # 64 ReLU features fit a clamped affine map well


def test_fit_base_modulated_is_least_squares_on_each_photos_modulated_features(pairs):
    """With modulated=True, conv3 is the ridge solution on the features as each photo's modulations
    shape them (checked against torch.linalg.lstsq on the same pixels), and the last heads are zero."""
    torch.manual_seed(3)
    model = CSRNet()  # random weights: every modulation is non-zero
    thumbs = [thumbnail(x, 16) for x, _ in pairs]
    fit_base(model, pairs, ridge=1e-9, modulated=True, view=CondView(16), pixels=10**9)  # dead ReLUs: not 0
    assert not model.cond_scale3.weight.any() and not model.cond_shift3.bias.any()
    rows, targets = [], []
    with torch.no_grad():
        for (x, y), t in zip(pairs, thumbs):
            mods = model.modulations(t)
            f = base_features(model, x[0].reshape(3, -1).T, [s[0] for s in mods.scales[:2]],
                              [s[0] for s in mods.shifts[:2]]).double()
            f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1) / math.sqrt(len(f))  # photos weigh the same
            rows.append(f)
            targets.append(y[0].reshape(3, -1).T.double() / math.sqrt(len(f)))
    w = torch.linalg.lstsq(torch.cat(rows), torch.cat(targets), driver="gelsd").solution  # (65, 3), rank-deficient
    with torch.no_grad():
        for (x, _), t in zip(pairs, thumbs):
            out = model(x, t)
            mods = model.modulations(t)
            f = base_features(model, x[0].reshape(3, -1).T, [s[0] for s in mods.scales[:2]],
                              [s[0] for s in mods.shifts[:2]]).double()
            ref = f @ w[:-1] + w[-1]  # (N, 3)
            torch.testing.assert_close(out[0].reshape(3, -1).T.double(), ref, rtol=0, atol=2e-4)


def test_ridge_is_chosen_by_leave_one_photo_out(pairs):
    """ridge_scores equals refitting without each photo and scoring it; fit_base uses the best."""
    model = identity_init(CSRNet())
    moments = photo_moments(model, pairs, pixels=10**6)
    grid = (1e-4, 1e-1, 10.0)
    prior = torch.zeros(65, 3, dtype=torch.float64)
    prior[:3] = torch.eye(3, dtype=torch.float64)  # fit_base shrinks towards the identity read-out
    scores = ridge_scores(moments, grid, prior)
    for ridge in grid:
        held_out = []
        for i in range(len(pairs)):
            fitted = fit_base(copy.deepcopy(model), pairs[:i] + pairs[i + 1:], ridge=ridge, pixels=10**6)
            x, y = pairs[i]
            with torch.no_grad():
                out = fitted.base(x, fitted.modulations(thumbnail(x, 16)))
            held_out.append(-10 * math.log10(torch.nn.functional.mse_loss(out, y).item()))
        assert scores[ridge] == pytest.approx(held_out, abs=1e-3)
    mean = {r: sum(v) / len(v) for r, v in scores.items()}
    assert mean[1e-4] > mean[10.0]  # a clean global retouch: little shrinkage wins
    assert choose_ridge(scores, "best") == max(mean, key=mean.get)
    # one-standard-error rule, by hand: the strongest ridge within one standard error of the best mean
    golden = {0.1: [30.0, 32.0, 34.0], 1.0: [29.0, 31.0, 33.0], 10.0: [27.0, 29.0, 31.0]}  # best 32, se 1.15
    assert choose_ridge(golden, "best") == 0.1 and choose_ridge(golden, "one-se") == 1.0
    for rule in ("best", "one-se"):
        chosen = fit_base(copy.deepcopy(model), pairs, ridge=grid, pixels=10**6, rule=rule)
        best = fit_base(copy.deepcopy(model), pairs, ridge=choose_ridge(scores, rule), pixels=10**6)
        assert same_state(chosen, best)
    with pytest.raises(ValueError, match="at least 2"):
        ridge_scores(moments[:1])


def test_default_and_fixed_recipes(tmp_path, monkeypatch):
    from csrnet_lite import recipes

    fixed = TrainConfig.fixed()
    assert (fixed.init, fixed.steps, fixed.ridge, fixed.ridge_rule) == ("fit", 0, RIDGE_GRID, "best")
    official = TrainConfig.default("weights.pth")
    assert (official.init, official.official_path, official.thumb_size, official.steps) == (
        "official-fit", "weights.pth", None, 0)
    monkeypatch.setattr(recipes, "official_weights_path", lambda: tmp_path / "absent.pth")
    assert TrainConfig.default() == TrainConfig.fixed(recipe="default")
    weights = tmp_path / "csrnet.pth"
    weights.write_bytes(b"")
    monkeypatch.setattr(recipes, "official_weights_path", lambda: weights)
    assert TrainConfig.default().official_path == str(weights)
    with pytest.raises(ValueError, match="ridge must be"):
        TrainConfig(ridge=())


def test_pretrained_fit_keeps_a_model_files_networks_and_refits_its_last_layer(pairs, tmp_path):
    """init="pretrained-fit": the layers before conv3 and the condition network are the file's, conv3 is
    the least-squares fit to the new pairs (better on them than the file's own conv3), and a view other
    than the one it was trained on is refused before any work."""
    other = [(x, x.pow(0.8)) for x in smooth_images(4, seed=3)]  # another retouch of other photos
    first = train(None, other, dataclasses.replace(TINY, thumb_size=64, ema=0.0), checkpoint=tmp_path / "pre.pt")
    config = TrainConfig.pretrained(tmp_path / "pre.pt", ridge=1e-4, progress=False)
    assert (config.init, config.steps, config.pretrained_path, config.thumb_size) == (
        "pretrained-fit", 0, str(tmp_path / "pre.pt"), 64)
    model = train(None, pairs, config).model
    kept = [k for k in model.state_dict() if not k.startswith(("conv3", "cond_scale3", "cond_shift3"))]
    assert all(torch.equal(model.state_dict()[k], first.model.state_dict()[k]) for k in kept)
    view = CondView.trained_on(64)
    with torch.no_grad():
        refit = sum(psnr(model(x, view(x)), y) for x, y in pairs)
        before = sum(psnr(first.model(x, view(x)), y) for x, y in pairs)
    assert refit > before + 3 * len(pairs)
    with pytest.raises(ValueError, match="set thumb_size to the one it was trained with"):
        init_model(TrainConfig.pretrained(tmp_path / "pre.pt", thumb_size=128), pairs)
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(init="pretrained-fit")


def test_a_closed_form_recipe_returns_its_fitted_start(pairs):
    config = TrainConfig.fixed(thumb_size=16, progress=False)
    result = train(None, pairs, config)
    assert result.steps == 0 and len(result.history) == 0
    assert same_state(result.model, init_model(config, pairs))


def test_init_model_is_deterministic_and_fit_needs_data(pairs):
    assert same_state(init_model(TINY, pairs), init_model(TINY, pairs))
    assert not same_state(init_model(TINY, pairs), init_model(dataclasses.replace(TINY, seed=1), pairs))
    with pytest.raises(ValueError, match="pass data"):
        init_model(TINY)


def test_training_batch_is_what_inference_sees(pairs):
    """Without augmentation the condition input is exactly thumbnail(input) and the pixels are the
    photo's own (input, target) pixels."""
    config = dataclasses.replace(TINY, crop=1.0, flips=False, exposure=0.0, white_balance=0.0, batch=4)
    batch = sample_batch(pairs, config, torch.Generator().manual_seed(0))
    assert batch.pixels.shape == (4, 3, 1, 64) and batch.cond.shape == (4, 3, 16, 16)
    for b in range(4):
        matches = [i for i, (x, _) in enumerate(pairs) if torch.equal(batch.cond[b:b + 1], thumbnail(x, 16))]
        assert len(matches) == 1
        x, y = pairs[matches[0]]
        colours = {tuple(c) for c in x.reshape(3, -1).T.tolist()}
        assert all(tuple(c) in colours for c in batch.pixels[b, :, 0].T.tolist())
        # each sampled target pixel is the target at the same position as the input pixel
        lookup = {tuple(c): tuple(t) for c, t in zip(x.reshape(3, -1).T.tolist(), y.reshape(3, -1).T.tolist())}
        for c, t in zip(batch.pixels[b, :, 0].T.tolist(), batch.target[b, :, 0].T.tolist()):
            assert lookup[tuple(c)] == tuple(t)


# --- learning --------------------------------------------------------------------------------------

@pytest.mark.parametrize("init", ["identity", "default"])
def test_learns_a_known_retouch(pairs, init):
    config = TrainConfig.fast(steps=150, batch=4, pixels=256, thumb_size=16, lr=5e-3, init=init,
                              exposure=0.0, ema=0.0, progress=False)
    result = train(None, pairs, config)
    history = result.history
    assert len(history) == 150 and history.step[-1] == 150
    assert sum(history.loss[-10:]) < 0.2 * sum(history.loss[:10])
    test = [(x, retouch(x)) for x in smooth_images(4, seed=1)]  # unseen photos
    with torch.no_grad():
        gain = [psnr(result.model(x, thumbnail(x, 16)), y) - psnr(x, y) for x, y in test]
    assert min(gain) > 8, gain


def test_returned_model_is_the_running_average(pairs):
    config = dataclasses.replace(TINY, steps=2, ema=0.5, ema_warmup=0)
    model = init_model(config, pairs)
    snapshots = [[p.detach().clone() for p in model.parameters()]]
    record = lambda step, history: snapshots.append([p.detach().clone() for p in model.parameters()])  # noqa: E731
    result = train(model, pairs, config, callback=record)
    assert result.model is not model  # `model` keeps the last trained weights
    for i, p in enumerate(result.model.parameters()):
        w0, w1, w2 = (s[i] for s in snapshots)
        torch.testing.assert_close(p.detach(), 0.25 * w0 + 0.25 * w1 + 0.5 * w2, rtol=0, atol=1e-6)


def test_training_does_not_take_a_fitted_start_below_itself_on_its_training_photos():
    """`fast` from its fitted start, 60 steps on 8 data_samples pairs at 64 px: the running average ends
    above the start on the photos it trained on. With the average's decay constant from the first step
    (ema_warmup=0) it ended 1.2 dB below (18.42 against 19.58 dB)."""
    from csrnet_lite.data import PairDataset
    from csrnet_lite.image import Resize
    from csrnet_lite.settings import DATA_SAMPLES

    pairs = [(s.input, s.target) for s in list(PairDataset(DATA_SAMPLES, resize=Resize("long", 64)))[:8]]
    config = TrainConfig.fast(steps=60, progress=False)
    view = CondView.trained_on(config.thumb_size)

    def score(model):
        with torch.no_grad():
            return sum(psnr(model(x, view(x)), y) for x, y in pairs) / len(pairs)
    start = score(init_model(config, pairs).eval())
    result = train(None, pairs, config)
    assert score(result.model) > start and not result.kept_start
    old = dataclasses.replace(config, ema_warmup=0, keep_start=False)  # the old schedule, unchecked
    assert score(train(None, pairs, old).model) < start


def test_a_run_that_ends_below_its_start_returns_the_start(pairs, tmp_path):
    """keep_start: 6 steps at a learning rate of 0.5 wreck the fitted start. The run says so, returns the
    start and its checkpoint serves it (the trained weights stay for resuming); unchecked, the wreck."""
    from csrnet_lite.checkpoint import load_model
    from csrnet_lite.metrics import psnr as psnr_8bit

    config = dataclasses.replace(TINY, lr=0.5, warmup=0, keep_start=True)
    start, view = init_model(config, pairs).eval(), CondView.trained_on(config.thumb_size)
    with torch.no_grad():
        start_db = sum(float(psnr_8bit(start(x, view(x)), y)[0]) for x, y in pairs) / len(pairs)
    result = train(None, pairs, config, checkpoint=tmp_path / "c.pt")
    assert result.kept_start and result.start_psnr == pytest.approx(start_db, abs=1e-4)
    assert result.trained_psnr < result.start_psnr - 1 and same_state(result.model, start)
    assert same_state(load_model(tmp_path / "c.pt")[0], start)
    assert not torch.equal(load_checkpoint(tmp_path / "c.pt")["weights"]["conv1.weight"], start.conv1.weight)
    def stop(step, history):
        if step == 3:
            raise KeyboardInterrupt
    half = train(None, pairs, config, callback=stop, checkpoint=tmp_path / "r.pt")
    assert half.interrupted and half.trained_psnr is None  # an interrupted run is not checked...
    resumed = train(None, pairs, config, resume=tmp_path / "r.pt", checkpoint=tmp_path / "r.pt")
    assert resumed.kept_start and same_state(resumed.model, start)  # ...its resumed end is, from the saved start
    wreck = train(None, pairs, dataclasses.replace(config, keep_start=False))
    assert not wreck.kept_start and wreck.trained_psnr is None and not same_state(wreck.model, start)
    with torch.no_grad():
        assert sum(float(psnr_8bit(wreck.model(x, view(x)), y)[0]) for x, y in pairs) / len(pairs) < start_db - 1
    assert train_module.ema_at(config, 0) == 0.1 and train_module.ema_at(config, 10_000) == config.ema


def test_same_seed_same_model_other_seed_other_model(pairs):
    a, b = train(None, pairs, TINY), train(None, pairs, TINY)
    assert same_state(a.model, b.model) and a.history.loss == b.history.loss
    c = train(None, pairs, dataclasses.replace(TINY, seed=1))
    assert not same_state(a.model, c.model)


@pytest.mark.parametrize("recipe", ["fast", "paper"])
def test_resume_continues_bitwise(pairs, tmp_path, recipe):
    if recipe == "fast":
        config = TINY
    else:
        config = TrainConfig.paper(steps=6, lr_halve_every=3, progress=False)
    whole = train(None, pairs, config)
    ckpt = tmp_path / "run.pt"

    def stop_at_4(step, history):  # the schedule still plans 6 steps
        if step == 4:
            raise KeyboardInterrupt

    first = train(None, pairs, config, checkpoint=ckpt, callback=stop_at_4)
    assert load_checkpoint(ckpt)["step"] == 4 and first.steps == 4
    second = train(None, pairs, config, resume=ckpt, checkpoint=ckpt)
    assert same_state(whole.model, second.model)
    assert second.history.loss == whole.history.loss and second.history.step == list(range(1, 7))


def test_stops_on_the_time_budget(pairs):
    config = dataclasses.replace(TINY, steps=None, minutes=0.5 / 60)
    start = time.perf_counter()
    result = train(None, pairs, config)
    assert 0.5 <= time.perf_counter() - start < 10
    assert result.steps > 0 and not result.interrupted and result.seconds >= 0.5
    assert result.images == result.steps * config.batch and result.images_per_second > 0


def test_keyboard_interrupt_returns_the_model_and_a_resumable_checkpoint(pairs, tmp_path):
    ckpt = tmp_path / "run.pt"

    def stop_at_3(step, history):
        if step == 3:
            raise KeyboardInterrupt

    result = train(None, pairs, TINY, callback=stop_at_3, checkpoint=ckpt)
    assert result.interrupted and result.steps == 3 and len(result.history) == 3
    assert not result.model.training  # handed back ready to use
    assert load_checkpoint(ckpt)["step"] == 3
    resumed = train(None, pairs, TINY, resume=ckpt)
    assert same_state(resumed.model, train(None, pairs, TINY).model)


def test_callback_sees_every_step(pairs):
    seen = []
    train(None, pairs, TINY, callback=lambda step, history: seen.append((step, len(history))))
    assert seen == [(s, s) for s in range(1, 7)]


# --- checkpoints -----------------------------------------------------------------------------------

def test_failed_checkpoint_write_keeps_the_old_file(pairs, tmp_path, monkeypatch):
    ckpt = tmp_path / "run.pt"
    result = train(None, pairs, dataclasses.replace(TINY, steps=2), checkpoint=ckpt)
    before = ckpt.read_bytes()

    def broken_save(obj, f):  # serialising fails half-way (the checkpoint is built in memory first)
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(train_module.torch, "save", broken_save)
    optimizer = torch.optim.AdamW(result.model.parameters())
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, result.model, optimizer, 9, TINY, result.history, torch.Generator().get_state())
    assert ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no partial file left behind


def test_foreign_and_broken_checkpoints_are_refused_clearly(pairs, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="cannot read"):
        train(None, pairs, TINY, resume=garbage)
    plain = tmp_path / "state_dict.pt"
    torch.save(CSRNet().state_dict(), plain)  # e.g. the authors' csrnet.pth
    with pytest.raises(ValueError, match="not a csrnet-lite training checkpoint.*--official PATH"):
        train(None, pairs, TINY, resume=plain)
    ckpt = tmp_path / "run.pt"
    train(None, pairs, dataclasses.replace(TINY, steps=2), checkpoint=ckpt)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(ValueError, match="cannot read"):
        load_checkpoint(truncated)
    with pytest.raises(ValueError, match=r"another config \(lr: checkpoint 0.002 vs now 0.01"):
        train(None, pairs, dataclasses.replace(TINY, lr=1e-2), resume=ckpt)
    assert config_from_checkpoint(load_checkpoint(ckpt)) == dataclasses.replace(TINY, steps=2)


def test_bad_data_is_refused_clearly():
    with pytest.raises(ValueError, match="empty"):
        train(None, [], TINY)
    with pytest.raises(TypeError, match="Pair"):
        train(None, ["photo.png"], TINY)
    with pytest.raises(ValueError, match="differ in shape"):
        train(None, [(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))], TINY)


def test_the_command_line_says_when_a_run_kept_its_start_or_was_cut_short():
    """`train` prints these sentences after a run (tools.arguments.after_training), planted results."""
    from csrnet_lite.tools.arguments import after_training

    history = History(step=[1, 2, 3], loss=[1.0] * 3, psnr=[1.0] * 3, lr=[1.0] * 3, seconds=[1.0] * 3, images=[1] * 3)
    config = dataclasses.replace(TINY, steps=10, minutes=5.0)
    kept = train_module.TrainResult(CSRNet(), history, config, start_psnr=20.0, trained_psnr=19.5, kept_start=True)
    notes = after_training(config, kept)
    assert len(notes) == 2 and "stopped by the time budget" in notes[0] and "after 3 of the recipe's 10 steps" in notes[0]
    assert "kept the start" in notes[1] and "19.50 dB" in notes[1] and "20.00 dB" in notes[1]
    better = dataclasses.replace(kept, trained_psnr=20.5, kept_start=False)
    assert after_training(dataclasses.replace(config, steps=3), better) == []  # all 3 steps, start not kept
    assert after_training(config, dataclasses.replace(better, interrupted=True)) == []  # Ctrl-C: said elsewhere
