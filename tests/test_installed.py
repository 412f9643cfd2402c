"""What an installed package needs: the weights downloaded where every command finds them (from a
server on 127.0.0.1), the notebooks copied out, the samples found, and no silent stand-in for them."""
from __future__ import annotations

import hashlib

import pytest
from fixtures_fetch import FiveKServer, closed_port_url

from csrnet_lite import book, checkpoint, data, settings
from csrnet_lite.checkpoint import OFFICIAL_SHA256
from csrnet_lite.tools import installed
from csrnet_lite.tools.cli import main

FAKE = b"not the authors' weights, but a file whose sha256 the test plants" * 100


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache and no other place with weights: where `data weights` must put them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CSRNET_LITE_WEIGHTS", raising=False)
    monkeypatch.setattr(settings, "SHARED", tmp_path / "no-shared")
    monkeypatch.setattr(settings, "CHECKOUT", None)  # as installed from a wheel: no ./csrnet.pth
    return tmp_path / "cache" / "csrnet-lite"


@pytest.fixture
def planted(monkeypatch):
    """The downloader expects FAKE's sha256 (the real file is research data, served in place below)."""
    monkeypatch.setattr(checkpoint, "OFFICIAL_SHA256", hashlib.sha256(FAKE).hexdigest())


def test_data_weights_downloads_checks_and_puts_them_where_commands_look(cache, planted, capsys):
    with FiveKServer({"/csrnet.pth": FAKE}) as server:
        assert main(["data", "weights", "--url", server.url + "csrnet.pth"]) == 0
        assert f"downloaded: the authors' weights at {cache / 'csrnet.pth'}" in capsys.readouterr().out
        assert settings.official_weights_path() == cache / "csrnet.pth"
        assert (cache / "csrnet.pth").read_bytes() == FAKE
        assert sorted(p.name for p in cache.iterdir()) == ["csrnet.pth"]  # no temporary files left
        assert main(["data", "weights", "--url", server.url + "csrnet.pth"]) == 0  # a second time: nothing to do
        assert "already there" in capsys.readouterr().out
        assert server.count() == 1


def test_a_file_with_another_sha256_is_refused_and_nothing_is_kept(cache, planted):
    with FiveKServer({"/csrnet.pth": FAKE + b"x"}) as server:
        with pytest.raises(ValueError, match="sha256 .* not the authors'.*nothing was kept"):
            installed.download_weights(url=server.url + "csrnet.pth", progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_an_existing_other_file_is_never_replaced(cache, planted):
    cache.mkdir(parents=True)
    (cache / "csrnet.pth").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="not the authors' csrnet.pth.*--out"):
        installed.download_weights(url=closed_port_url(), progress=False)
    assert (cache / "csrnet.pth").read_bytes() == b"mine"


def test_no_network_says_so(cache, planted):
    with pytest.raises(ConnectionError, match="cannot reach"):
        installed.download_weights(url=closed_port_url() + "csrnet.pth", progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_the_authors_file_passes_the_loaders_own_check(cache, shared_weights):
    """Served from ../shared in place (research data, never copied into the repository)."""
    real = (shared_weights / "csrnet_official.pth").read_bytes()
    assert hashlib.sha256(real).hexdigest() == OFFICIAL_SHA256
    with FiveKServer({"/csrnet.pth": real}) as server:
        path, fresh = installed.download_weights(url=server.url + "csrnet.pth", progress=False)
    from csrnet_lite.checkpoint import load_official

    assert fresh and path == cache / "csrnet.pth"
    load_official()  # what every command calls finds and accepts them


def test_train_says_which_recipe_it_chose_and_why(cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CSRNET_LITE_SMOKE", "1")
    out = tmp_path / "m.pt"
    assert main(["train", "--data", str(settings.DATA_SAMPLES), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "recipe: the default, chosen by cross-validation" in said
    assert f"the authors' weights are not at {cache / 'csrnet.pth'}, so the fixed colour map" in said
    assert "python -m csrnet_lite data weights" in said


def test_notebooks_are_copied_out_and_never_replaced(tmp_path, capsys):
    dest = tmp_path / "course"
    assert main(["notebooks", str(dest)]) == 0
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(p.name for p in settings.NOTEBOOKS.glob("*.ipynb")) and len(names) == 8
    (dest / names[0]).write_text("my notes")
    with pytest.raises(FileExistsError, match="--overwrite"):
        installed.copy_notebooks(dest)
    assert (dest / names[0]).read_text() == "my notes"
    installed.copy_notebooks(dest, overwrite=True)
    assert (dest / names[0]).read_bytes() == (settings.NOTEBOOKS / names[0]).read_bytes()


def test_a_missing_sample_is_an_error_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATA_SAMPLES", tmp_path / "data_samples")
    monkeypatch.delenv("CSRNET_LITE_FIVEK", raising=False)
    with pytest.raises(FileNotFoundError, match="reinstall it.*git checkout data_samples"):
        data.sample_pair(0, 64)


def test_outside_a_clone_runs_go_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "CHECKOUT", None)
    monkeypatch.chdir(tmp_path)
    assert book.run_dir("05_training").parent.parent == tmp_path / "runs"
    assert (tmp_path / "runs" / "notebooks").is_dir()
