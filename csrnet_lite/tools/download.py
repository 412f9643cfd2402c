"""Resumable, atomic downloads with a progress bar (what `tools.fetch` downloads FiveK with).

A download goes to `<path>.part`, resumes it with an HTTP range request when the connection drops,
and is renamed to `path` only when complete.
"""
from __future__ import annotations

import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

USER_AGENT = "csrnet-lite-fetch/1"
TIMEOUT = 30.0  # seconds a connection may stay silent (connecting or sending) before it is retried
MAX_MB = 1000  # the largest file (in MB, 10^6 bytes) accepted from the server; FiveK's TIFFs are ~100 MB


class _Interrupted(Exception):
    """A transfer stopped before the end; the `.part` file keeps what arrived."""

    def __init__(self, have: int, total: int | None, reason: object):
        super().__init__(f"stopped after {have:,} of {'?' if total is None else f'{total:,}'} bytes ({reason})")


def download(url: str, path: str | os.PathLike, *, retries: int = 2, timeout: float = TIMEOUT,
             progress: bool = True, max_mb: float = MAX_MB) -> Path:
    """Download `url` to `path`, resuming `path.part` with an HTTP Range request if one is there.

    The file appears under `path` only once complete (its size matches the server's Content-Length)
    and on disk (fsync); an interrupted transfer keeps `path.part` for the next call, which continues
    where it stopped. An existing `path` is returned as it is (callers check it). Raises ConnectionError
    when the server cannot be reached or keeps dropping the connection, FileNotFoundError for HTTP 404,
    ValueError for a file larger than `max_mb` megabytes (nothing of it is kept). A server silent for
    `timeout` seconds is reported on stderr and retried.
    """
    path = Path(path)
    if path.exists():
        return path
    part = path.with_name(path.name + ".part")
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, timeout, progress, desc=path.name, max_bytes=int(max_mb * 1e6))
            break
        except _Interrupted as e:
            if attempt == retries:
                again = f"run again to resume from {part}" if part.exists() else "try again later"
                raise ConnectionError(f"download of {url} {e}; {again}") from None
            tqdm.write(f"{path.name}: {e}; trying again ({attempt + 1} of {retries})", file=sys.stderr)
            time.sleep(0.5 * (attempt + 1))
    os.replace(part, path)  # atomic: the final name only ever holds a complete file
    return path


def _download_once(url: str, part: Path, timeout: float, progress: bool, desc: str, max_bytes: int) -> None:
    """One request for the rest of `part`; raises _Interrupted for what a retry may fix."""
    have = part.stat().st_size if part.exists() else 0
    response = _request(url, part, have, timeout)
    if response is None:  # the part file was complete already
        return
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total is not None else None
        if response.status == 206:  # the server continues where the part file stops
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise _Interrupted(have, total, f"server resumed at byte {start}, not {have}; starting over")
        else:  # 200: the whole file (the server ignored or was not asked for a range)
            have = 0
        if (total or 0) > max_bytes:
            part.unlink(missing_ok=True)
            raise ValueError(f"{url} is {total / 1e6:,.4g} MB, more than the {max_bytes / 1e6:,.4g} MB "
                             "a file may have (--max-mb); is --base-url the FiveK server?")
        have = _receive(response, part, have, total, max_bytes, timeout, progress, desc)
    if have > max_bytes:
        part.unlink(missing_ok=True)
        raise ValueError(f"{url} is larger than the {max_bytes / 1e6:,.4g} MB a file may have (--max-mb); "
                         "is --base-url the FiveK server?")
    if total is not None and have != total:
        raise _Interrupted(have, total, "connection closed early")


def _request(url: str, part: Path, have: int, timeout: float):
    """The server's response for `url` from byte `have` on, or None when `part` is complete already."""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    host = urllib.parse.urlsplit(url).netloc
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked past the end: the part file is complete, or longer than it
            total = _content_range(e.headers.get("Content-Range"))[1]
            if total == have:
                return None
            part.unlink()
            raise _Interrupted(have, total, "partial file did not match the server's; starting over") from None
        if e.code == 404:
            raise FileNotFoundError(f"{url} is not on the server (HTTP 404); check the base name "
                                    "(see --names) and the expert letter") from None
        raise ConnectionError(f"{host} answered HTTP {e.code} {e.reason} for {url}; try again later") from None
    except urllib.error.URLError as e:
        raise ConnectionError(f"cannot reach {host} ({e.reason}): check your connection") from None
    except TimeoutError:  # connected, but the server sends nothing
        raise _Interrupted(have, None, f"{host} did not answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError) as e:  # dropped before the headers: worth a retry
        raise _Interrupted(have, None, e) from None


def _receive(response, part: Path, have: int, total: int | None, max_bytes: int, timeout: float,
             progress: bool, desc: str) -> int:
    """Append the response's body to `part` (flushed to disk) -> the bytes `part` holds.

    Stops early, returning more than `max_bytes`, once the body passes `max_bytes` (a server without
    Content-Length, or a wrong one).
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
            leave=False, disable=not progress, file=sys.stderr) as bar:
        try:
            while chunk := response.read(1 << 16):
                if have + len(chunk) > max_bytes:
                    return have + len(chunk)
                f.write(chunk)
                have += len(chunk)
                bar.update(len(chunk))
        except TimeoutError:
            raise _Interrupted(have, total, f"{urllib.parse.urlsplit(response.url).netloc} sent nothing "
                                            f"for {timeout:g} s") from None
        except (http.client.HTTPException, OSError) as e:  # connection dropped
            raise _Interrupted(have, total, e) from None
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename to the final name
    return have


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, file size) of a Content-Range header ('bytes 1000-4999/5000', 'bytes */5000'),
    None for each that it does not give."""
    start, total = re.match(r"bytes (\d+)-\d+/", value or ""), re.search(r"/(\d+)\s*$", value or "")
    return int(start[1]) if start else None, int(total[1]) if total else None
