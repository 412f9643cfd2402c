"""Command line: `python -m csrnet_lite {train,evaluate,retouch,data} ...` (also installed as `csrnet-lite`).

Each subcommand lives beside the code it runs: the module exposes `add_cli(subparsers)`, which adds
its parser and sets `func` to a function taking the parsed arguments and returning an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module that implements it
COMMANDS = {"train": "train", "evaluate": "evaluate", "retouch": "retouch", "data": "data"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csrnet_lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f"csrnet_lite.{module}").add_cli(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, TypeError) as e:  # user errors: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
