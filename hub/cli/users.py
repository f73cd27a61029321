"""`hub users …`: accounts of the web admin (coordinators change things, viewers only look)."""

from __future__ import annotations

import getpass
import sys

from hub import accounts
from hub.cli.render import print_json, print_table
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _


def read_password(args) -> str:
    """The password from standard input (--password-stdin), else asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError(_("kein Terminal, um nach dem Passwort zu fragen; geben Sie --password-stdin an und "
                           "leiten Sie es ein"))
    password = getpass.getpass(_("Passwort: "))
    if getpass.getpass(_("Passwort wiederholen: ")) != password:
        raise UsageError(_("die Passwörter sind verschieden; nichts wurde geändert"))
    return password


def add(ctx, args) -> int:
    password = read_password(args)
    with ctx.session() as session:
        user = accounts.add_user(session, args.email, password, args.role)
        accounts.audit(session, "cli", "user.add", f"user:{user.email}", {"role": user.role})
    print(_("%(email)s: Konto angelegt (%(role)s)") % {"email": user.email, "role": user.role})
    return 0


def list_users(ctx, args) -> int:
    with ctx.session() as session:
        users = accounts.list_users(session)
    if args.json:
        print_json([
            {"email": u.email, "role": u.role, "created": u.created_at.isoformat(timespec="seconds"),
             "last_login": u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else None}
            for u in users
        ])
        return 0
    tz = ctx.config.tz
    print_table([{"email": u.email, "role": u.role, "created": when(u.created_at, tz),
                  "last_login": when(u.last_login_at, tz) if u.last_login_at else None} for u in users],
                {"email": _("E-Mail"), "role": _("Rolle"), "created": _("angelegt"),
                 "last_login": _("letzte Anmeldung")})
    return 0


def remove(ctx, args) -> int:
    with ctx.session() as session:
        accounts.remove_user(session, args.email)
        accounts.audit(session, "cli", "user.remove", f"user:{args.email.strip().lower()}")
    print(_("%(email)s: Konto entfernt") % {"email": args.email})
    return 0


def password(ctx, args) -> int:
    new = read_password(args)
    with ctx.session() as session:
        user = accounts.change_password(session, args.email, new)
        accounts.audit(session, "cli", "user.password", f"user:{user.email}")
    print(_("%(email)s: neues Passwort gesetzt; alle Sitzungen dieses Kontos sind beendet") % {"email": user.email})
    return 0
