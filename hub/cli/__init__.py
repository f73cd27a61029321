"""The `hub` command. Each stage registers its own subcommands from a module in this package.

Exit status: 0 ok, 1 the work failed, 2 the call or the configuration is wrong.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from functools import cached_property

from hub import config as config_module
from hub.config import Config
from hub.errors import HubError, UsageError

# Modules under hub/cli/ that add subcommands; each has `register(subparsers)`.
COMMAND_MODULES = ["core", "partners", "inbound", "users", "outbox", "schedule", "serve", "newsletter"]


class Context:
    """What a subcommand needs: the config (loaded on first use) and database sessions."""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    @cached_property
    def config(self) -> Config:
        return config_module.load(self.args.config)

    @contextmanager
    def session(self):
        from hub.db import session_scope

        with session_scope(self.config.database_url) as session:
            yield session

    def alliance(self, session):
        from hub import alliance

        return alliance.current(session, self.config)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def print_table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns).rstrip())


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hub",
        description="Bündnis-Hub: the mail office of a Lokales Bündnis für Familie.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $HUB_CONFIG or ./config/hub.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"hub.cli.{name}").register(sub)
    return parser


def command(sub, name: str, handler: Callable, help: str, **kwargs) -> argparse.ArgumentParser:
    """Add a subcommand whose handler is called as handler(ctx, args) and returns an exit code."""
    parser = sub.add_parser(name, help=help, description=help, **kwargs)
    parser.set_defaults(handler=handler)
    return parser


def group(sub, name: str, help: str):
    parser = sub.add_parser(name, help=help, description=help)
    inner = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=_Parser)
    inner.required = True
    return inner


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(Context(args), args) or 0
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one readable line instead of a traceback
        print(f"hub: unexpected error: {type(exc).__name__}: {exc} (set HUB_DEBUG=1 for details)",
              file=sys.stderr)
        if os.environ.get("HUB_DEBUG"):
            raise
        return 1
