"""CSRNet against the authors' release (weights + reference outputs) and its defining properties."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from csrnet_lite.checkpoint import OFFICIAL_URL, load_model, load_official
from csrnet_lite.model import CSRNet, ConditionNet, Modulations, count_parameters, gfm


@pytest.fixture(scope="module")
def official(shared_weights):
    return load_official(shared_weights / "csrnet_official.pth")


def test_parameter_count_matches_paper():
    model = CSRNet()
    assert count_parameters(model) == 36_489
    # per part: condition convs 4,736 + 9,248 + 9,248; heads 2 * (2,112 + 2,112 + 99); base 256 + 4,160 + 195
    assert count_parameters(model.cond_net) == 23_232
    heads = sum(count_parameters(getattr(model, f"cond_{k}{i}")) for k in ("scale", "shift") for i in (1, 2, 3))
    assert heads == 8_646
    base = sum(count_parameters(getattr(model, f"conv{i}")) for i in (1, 2, 3))
    assert base == 4_611


def test_state_dict_keys_match_authors_checkpoint(shared_weights):
    state = torch.load(shared_weights / "csrnet_official.pth", map_location="cpu", weights_only=True)
    assert list(state) == list(CSRNet().state_dict())
    CSRNet().load_state_dict(state, strict=True)


@pytest.mark.parametrize("fivek_id", ["a0212", "a2803", "a4670"])
def test_reproduces_reference_outputs(official, shared_weights, fivek_id):
    ref = np.load(shared_weights / "reference_outputs" / f"{fivek_id}.npz")
    x = torch.from_numpy(ref["input"]).permute(2, 0, 1)[None]  # (H, W, 3) -> (1, 3, H, W)
    with torch.no_grad():
        mods = official.modulations(x)
        output = official.base(x, mods)
        assert torch.equal(output, official(x))
    np.testing.assert_allclose(output[0].permute(1, 2, 0).numpy(), ref["output"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(mods.cond[0].numpy(), ref["cond"], rtol=0, atol=1e-5)
    for i in range(3):
        np.testing.assert_allclose(mods.scales[i][0].numpy(), ref[f"scale{i + 1}"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(mods.shifts[i][0].numpy(), ref[f"shift{i + 1}"], rtol=0, atol=1e-5)


def test_gfm_is_the_authors_formula_and_zero_is_identity():
    torch.manual_seed(0)
    x, scale, shift = torch.randn(2, 5, 4, 3), torch.randn(2, 5), torch.randn(2, 5)
    authors = x * scale[:, :, None, None] + shift[:, :, None, None] + x  # as written in their code
    torch.testing.assert_close(gfm(x, scale, shift), authors, rtol=0, atol=1e-6)
    zero = torch.zeros(2, 5)
    assert torch.equal(gfm(x, zero, zero), x)
    # golden: one channel, scale 0.5 and shift 0.25 map 2 -> 2 * 1.5 + 0.25
    assert gfm(torch.full((1, 1, 1, 1), 2.0), torch.tensor([[0.5]]), torch.tensor([[0.25]])).item() == 3.25


def test_identity_modulations_run_the_plain_base_network():
    torch.manual_seed(0)
    model = CSRNet().eval()
    x = torch.rand(1, 3, 8, 8)
    plain = model.conv3(torch.relu(model.conv2(torch.relu(model.conv1(x)))))
    torch.testing.assert_close(model.base(x, Modulations.identity()), plain)


def test_base_network_is_per_pixel():
    """Permuting pixels before or after the base network gives the same result: it is a colour map."""
    torch.manual_seed(0)
    model = CSRNet().eval()
    x = torch.rand(2, 3, 6, 7)
    with torch.no_grad():
        mods = model.modulations(x)
        out = model.base(x, mods)
        perm = torch.randperm(6 * 7)
        shuffled = x.flatten(2)[:, :, perm].reshape(2, 3, 6, 7)
        torch.testing.assert_close(model.base(shuffled, mods), out.flatten(2)[:, :, perm].reshape(2, 3, 6, 7))
        pixels = x.flatten(2)[..., None]  # (B, 3, H*W, 1): a list of pixels works too
        torch.testing.assert_close(model.base(pixels, mods), out.flatten(2)[..., None])


def test_condition_vector_has_fixed_size_for_any_image():
    net = ConditionNet()
    for h, w in [(7, 7), (64, 96), (341, 512)]:
        assert net(torch.rand(2, 3, h, w)).shape == (2, 32)


def test_cond_input_decides_the_modulation(official):
    torch.manual_seed(0)
    x, dark = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32) * 0.2
    with torch.no_grad():
        assert torch.equal(official(x, cond_input=dark), official.base(x, official.modulations(dark)))
        assert not torch.allclose(official(x, cond_input=dark), official(x))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = CSRNet()
    for p in model.parameters():  # non-zero everywhere so that no ReLU is dead by construction
        torch.nn.init.normal_(p, std=0.1)
    model(torch.rand(2, 3, 16, 16)).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_modulations_lerp_between_endpoints():
    a = Modulations.identity()
    b = Modulations(torch.ones(1, 32), tuple(torch.ones(1, c) for c in (64, 64, 3)),
                    tuple(torch.full((1, c), 2.0) for c in (64, 64, 3)))
    assert torch.equal(a.lerp(b, 0.0).scales[0], a.scales[0])
    assert torch.equal(a.lerp(b, 1.0).shifts[2], b.shifts[2])
    assert torch.allclose(a.lerp(b, 0.25).shifts[1], torch.full((1, 64), 0.5))


def test_missing_weights_say_where_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="curl -L") as err:
        load_official(tmp_path / "csrnet.pth")
    assert OFFICIAL_URL in str(err.value)


def test_wrong_file_is_rejected_by_checksum(tmp_path):
    path = tmp_path / "csrnet.pth"
    torch.save(CSRNet().state_dict(), path)
    with pytest.raises(ValueError, match="not the authors' csrnet.pth"):
        load_official(path)
    assert isinstance(load_official(path, check_sha256=False), CSRNet)


def test_foreign_checkpoints_are_rejected_with_their_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"missing keys \['cond_net.*unexpected keys \['features.0.weight'\]"):
        load_model(path)
    wide = CSRNet(base_nf=32).state_dict()
    torch.save(wide, path)
    with pytest.raises(ValueError, match=r"wrong shapes for \['cond_scale1.weight'"):
        load_model(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_model(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="holds a list"):
        load_model(path)


def test_training_checkpoint_dicts_load(tmp_path):
    model = CSRNet()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "step": 3}, path)
    loaded, _ = load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((1, 3, 4, 4)), TypeError, "torch.Tensor"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.float64), TypeError, "float32"),
    (torch.zeros(3, 4, 4), ValueError, r"add a batch axis"),
    (torch.zeros(1, 4, 4, 4), ValueError, r"\(B, 3, H, W\), got \(1, 4, 4, 4\)"),
    (torch.full((1, 3, 4, 4), 255.0), ValueError, "divided by 255"),
])
def test_bad_input_is_explained(bad, error, message):
    with pytest.raises(error, match=message):
        CSRNet()(bad)
