"""The `hub` command.

Start-up is kept small because Postfix starts one `hub ingest` per mail. The parser is built from light
modules under `hub/cli/args/` that only declare arguments; each command names its handler as
"module:function" (a module of this package, e.g. "partners:import_csv"). After parsing, `main()` imports
that one module — the only place where the rest of the hub (database, stages, templates) gets imported —
and calls `handler(ctx, args)`, which returns the exit status. Handler modules import what they use at
the top, as any module does.

The command line speaks the installation's language (`[alliance] language`, German by default), argparse's
own words included (hub/cli/words.py). Exit statuses are listed in hub/errors.py.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from hub import config_alliances, i18n
from hub.cli import words
from hub.errors import HubError, UsageError
from hub.i18n import _

# Modules under hub/cli/args/ that declare subcommands; each has `register(subparsers)`.
PRIVATE_UMASK = 0o077
COMMAND_MODULES = ["core", "partners", "inbound", "users", "outbox", "schedule", "serve", "newsletter", "retention",
                   "tasks", "alliances"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(_("%(prog)s: %(message)s (siehe `%(prog)s --help`)") % {"prog": self.prog,
                                                                               "message": message})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hub", description=_("Bündnis-Hub: die E-Mail-Geschäftsstelle eines Lokalen "
                                               "Bündnisses für Familie."))
    parser.add_argument("--config", metavar=_("PFAD"),
                        help=_("Konfigurationsdatei (Standard: $HUB_CONFIG oder ./config/hub.toml)"))
    parser.add_argument("--alliance", metavar=_("KÜRZEL"),
                        help=_("das Bündnis, um das es geht, wenn die Installation mehrere hat (Standard: "
                               "$HUB_ALLIANCE; config/alliances/KÜRZEL.toml)"))
    sub = parser.add_subparsers(dest="command", metavar=_("BEFEHL"), parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"hub.cli.args.{name}").register(sub)
    return parser


def command(sub, name: str, handler: str, help: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose handler, "module:function" in hub/cli/, is imported only when it runs."""
    parser = sub.add_parser(name, help=help, description=help, **kwargs)
    parser.set_defaults(handler=handler)
    return parser


def group(sub, name: str, help: str):
    parser = sub.add_parser(name, help=help, description=help)
    inner = parser.add_subparsers(dest=f"{name}_command", metavar=_("BEFEHL"), parser_class=_Parser)
    inner.required = True
    return inner


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_("als JSON ausgeben"))


def main(argv: Sequence[str] | None = None) -> int:
    # Everything a `hub` command creates (the SQLite files and their WAL, spool, archive, attachments, the
    # Maildir outbox, the secret key, exports) is for the hub's own user alone: files 0600, folders 0700,
    # in this process and in the ones it starts. Restored on return for callers that run main() in-process.
    previous = os.umask(PRIVATE_UMASK)
    try:
        return _main(argv)
    finally:
        os.umask(previous)


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    i18n.activate(configured_language(argv))
    words.install()
    try:
        args = build_parser().parse_args(argv)
        module, _sep, function = args.handler.partition(":")
        handler = getattr(importlib.import_module(f"hub.cli.{module}"), function)
        context = importlib.import_module("hub.cli.context")  # the config and database, after parsing
        status = handler(context.Context(args), args) or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return status
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:  # the last line of defence: one readable line instead of a traceback
        print(_("hub: unerwarteter Fehler: %(error)s (Einzelheiten mit HUB_DEBUG=1)")
              % {"error": f"{type(exc).__name__}: {exc}"}, file=sys.stderr)
        if os.environ.get("HUB_DEBUG"):
            raise
        return 1


def configured_language(argv: Sequence[str]) -> str | None:
    """`[alliance] language` of the config file the call names, read without validating the file (that
    waits until a command needs the config); None — German — when it cannot be read."""
    given = {"--config": os.environ.get("HUB_CONFIG") or "config/hub.toml",
             "--alliance": os.environ.get("HUB_ALLIANCE")}
    for i, arg in enumerate(argv):
        for option in given:
            if arg == option and i + 1 < len(argv):
                given[option] = argv[i + 1]
            elif arg.startswith(f"{option}="):
                given[option] = arg.partition("=")[2]
    path = Path(given["--config"])
    try:
        with open(path, "rb") as fp:
            alliance = tomllib.load(fp).get("alliance")
        if alliance is None:
            own = config_alliances.chosen(path, {}, given["--alliance"])
            with open(own, "rb") as fp:
                alliance = tomllib.load(fp).get("alliance", {})
        language = alliance.get("language")
    except (OSError, ValueError, AttributeError, HubError):
        return None
    return language if isinstance(language, str) else None


def _reader_went_away() -> int:
    """`hub outbox list | head`: the rest of the output has no reader. Point stdout at /dev/null so that
    Python's final flush does not complain, and exit as a process killed by SIGPIPE would (128 + 13)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141
