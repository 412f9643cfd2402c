"""Hostile servers and arguments for `python -m csrnet_lite data fetch`, through the real command line
(tests/cli_harness.py): a server that accepts and never answers, one that sends too much, none at all,
and arguments out of range. Each case: the exit code, a message without a traceback, nothing left
half-written."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from cli_harness import Case, check, run_cases
from fixtures_fetch import FiveKServer, closed_port_url
from test_fetch import NAMES, _files, _photo


def names_file(d: Path) -> None:
    (d / "names.txt").write_text(f"{NAMES[0]}\n")


F = ["data", "fetch", "--root", "subset", "--names", "names.txt", "--n", "1", "--quiet"]
CASES = [
    Case("--size -5", [*F, "--size", "-5", "--base-url", "{server}"], 2, r"--size: must be a whole number from 0 to 100,000",
         names_file),
    Case("--n 0", [*F[:-3], "--n", "0", "--base-url", "{server}"], 2, r"--n: must be a whole number from 1 to 5,000", names_file),
    Case("--timeout 0", [*F, "--timeout", "0", "--base-url", "{server}"], 2, r"--timeout: must be a number above 0 up to 3,600",
         names_file),
    Case("--expert Z", [*F, "--expert", "Z", "--base-url", "{server}"], 1, r"expert must be one of A, B, C, D, E",
         names_file),
    Case("--root is a file", [*F[:3], "notes.txt", *F[4:], "--base-url", "{server}"], 1,
         r"root notes\.txt: notes\.txt is a file, not a folder",
         lambda d: (names_file(d), (d / "notes.txt").write_text("keep"))),
    Case("--names missing", [*F[:4], "--names", "gone.txt", "--base-url", "{server}"], 1, r"gone\.txt"),
    Case("--retries -1", [*F, "--retries", "-1", "--base-url", "{server}"], 2, r"--retries: must be a whole number from 0 to 100",
         names_file),
    Case("a server that never answers", [*F, "--timeout", "1", "--retries", "1", "--base-url", "{stalled}"], 1,
         r"did not answer within 1 s\); trying again \(1 of 1\)\nerror: download of .* did not answer",
         names_file, writes=("subset/",)),
    Case("a file over --max-mb", [*F, "--max-mb", "0.001", "--base-url", "{server}"], 1,
         r"larger than the 0\.001 MB a file may have|more than the 0\.001 MB", names_file, writes=("subset/",)),
    Case("no server", [*F, "--base-url", "{closed}"], 1, r"error: cannot reach 127\.0\.0\.1", names_file,
         writes=("subset/",)),
    Case("a good server still works", [*F, "--size", "16", "--base-url", "{server}"], 0, "", names_file,
         writes=("subset/",)),
]


class StalledServer:
    """Accepts connections on 127.0.0.1 and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    stalled = StalledServer()
    with FiveKServer(_files({NAMES[0]: _photo(0.0)})) as server:
        out = run_cases(CASES, tmp_path_factory.mktemp("fetch"), server=server.url, stalled=stalled.url,
                        closed=closed_port_url())
    stalled.close()
    return out


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case(results, name):
    check(results[name])


def test_a_stalled_server_is_reported_within_seconds(results):
    stalled = results["a server that never answers"]
    assert stalled.seconds < 30, stalled.seconds  # two silent seconds, plus start-up on a busy machine


def test_what_is_left_behind(results):
    for name in ("a server that never answers", "a file over --max-mb", "no server"):
        root = results[name].folder / "subset"
        left = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        assert not [p for p in left if p.suffix == ".png"], left  # no pair written
    good = results["a good server still works"].folder / "subset"
    assert sorted(p.name for p in (good / "target").iterdir()) == [f"{NAMES[0]}.png"]
