"""The `reelbot` console script: one parser, one module per subcommand (reelbot.commands.*).

Exit codes: 0 success, 1 the work failed, 2 bad input or configuration (with a one-line reason).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn
from collections.abc import Sequence

from reelbot.commands.common import CommandFailed, fail

__all__ = ["main", "COMMANDS"]

# subcommand -> module in reelbot.commands with add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, str] = {
    "make": "make",
    "status": "status",
    "agent": "agent",
    "bot": "bot",
    "worker": "worker",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reelbot", description="Narrated short videos from a topic.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"reelbot.commands.{module_name}")
        p = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except CommandFailed as exc:
        return fail(exc, exc.code)


if __name__ == "__main__":
    sys.exit(main())
