"""The command line's one error boundary: `run(func, args)` turns every failure into a short message.

Every failure is one to three lines on stderr naming the file and the fix, with exit code 1 (2: a
usage error, from argparse; 130: Ctrl-C; 128 + N: signal N, e.g. 143 for SIGTERM). The traceback is
shown only with --debug or CSRNET_LITE_DEBUG=1. Once the work is done, a report that cannot be printed
(standard output closed or full, a terminal that cannot show a file's name) does not change the exit
code: characters a terminal lacks are escaped, and a failed print becomes a note on stderr. SIGTERM and SIGHUP stop a command the way Ctrl-C
does (`Terminated` is a KeyboardInterrupt), so temporary files are removed and training writes its
checkpoint.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from typing import Callable, Iterator

from ..settings import debug_mode

DEBUG_HELP = "show the full traceback of an error (also CSRNET_LITE_DEBUG=1)"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, *,
        debug: bool = False) -> int:
    """func(args) -> its exit code; any error -> a short message on stderr and exit code 1 (docstring).

    `args.interrupted`, when set, is the message for Ctrl-C and the signals (e.g. how to go on).
    """
    interrupted = getattr(args, "interrupted", "interrupted")
    _received.clear()
    try:
        debug = debug or debug_mode()
        with _signals_as_interrupts(), _tolerant_stdout():
            code = int(func(args) or 0)
        return 128 + _received[0] if _received else code  # e.g. training saved its checkpoint and returned
    except Terminated as e:
        print(f"stopped by {e}" + interrupted.removeprefix("interrupted"), file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place where every error becomes a message
        if debug:
            traceback.print_exc()
        print(f"error: {describe(e)}", file=sys.stderr)
        return 1


def describe(e: BaseException) -> str:
    """One to three lines for an error: its own message when it is one of ours or the system's, else
    its type and a pointer to --debug.

    >>> describe(ValueError("bits must be 8 or 16, got 12"))
    'bits must be 8 or 16, got 12'
    >>> describe(PermissionError(13, "Permission denied", "out.png"))
    "out.png: Permission denied; choose a place you can write to, or change the file's permissions"
    """
    if isinstance(e, OSError) and e.strerror and not isinstance(e, ConnectionError):
        where = e.filename if e.filename is not None else ""
        text = f"{where}: {e.strerror}" if where else e.strerror
        if isinstance(e, PermissionError):
            text += "; choose a place you can write to, or change the file's permissions"
        elif e.errno == 28:  # ENOSPC
            text += "; free some disk space and run again"
        return text
    if isinstance(e, MemoryError):
        return ("out of memory; use smaller photos, or lower CSRNET_LITE_MAX_PIXELS so that large ones "
                "are refused up front")
    text = str(e).strip() or type(e).__name__
    if isinstance(e, (ValueError, TypeError, OSError, LookupError)):
        return text
    first = text.splitlines()[0][:300]
    return (f"unexpected {type(e).__name__}: {first}\n(run again with --debug or CSRNET_LITE_DEBUG=1 for "
            "the traceback, and please report it)")


class _Report:
    """sys.stdout for a command's report: a print that fails (closed pipe, full disk) is dropped and
    remembered instead of raised, so that it cannot undo finished work. Outputs written through to
    standard output (`tools.outputs.deliver`) use `.buffer`, whose errors are raised as usual."""

    def __init__(self, stream):
        self.stream, self.failure = stream, None

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                return self.stream.write(text)
            except OSError as e:
                self.failure = e
        return len(text)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self.stream.flush()
            except OSError as e:
                self.failure = e

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def _tolerant_stdout() -> Iterator[None]:
    """Inside the block, printing cannot fail the command (module docstring); restored after."""
    stream = sys.stdout
    with contextlib.suppress(AttributeError, ValueError, OSError):
        stream.reconfigure(errors="backslashreplace")  # an ascii-only terminal: escapes, not errors
    sys.stdout = report = _Report(stream)
    try:
        yield
        report.flush()
    finally:
        sys.stdout = stream
    if report.failure is not None:
        with contextlib.suppress(OSError, ValueError):  # no second failure when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        with contextlib.suppress(OSError):
            print(f"note: the report could not be printed ({report.failure.strerror or report.failure}); "
                  "the work itself is done", file=sys.stderr)


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """Inside the block SIGTERM and SIGHUP raise `Terminated` (main thread only; restored after)."""
    names = [name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {}
    try:
        for name in names:
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, _raise_terminated)
    except ValueError:  # not the main thread: leave the handlers alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_received: list[int] = []  # the signals turned into Terminated during `run`


def _raise_terminated(signum, frame):
    _received.append(signum)
    raise Terminated(signum)
