"""`hub users …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _

ROLES = ("coordinator", "viewer")  # hub.accounts.ROLES


def register(sub) -> None:
    users = group(sub, "users", _("Konten der Web-Verwaltung: anlegen, auflisten, Passwort ändern, "
                                                 "entfernen"))

    p = command(users, "add", "users:add", _("ein Konto anlegen; das Passwort wird abgefragt (oder mit "
                                             "--password-stdin gelesen)"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--role", choices=ROLES, required=True,
                   help=_("coordinator: darf alles ändern; viewer: darf nur ansehen"))
    p.add_argument("--password-stdin", action="store_true", help=_("das Passwort von der Standardeingabe lesen"))

    json_flag(command(users, "list", "users:list_users", _("die Konten auflisten")))

    p = command(users, "remove", "users:remove", _("ein Konto entfernen; seine Sitzungen enden sofort"))
    p.add_argument("email", metavar=_("E-MAIL"))

    p = command(users, "password", "users:password", _("ein neues Passwort setzen; alle Sitzungen des Kontos "
                                                       "enden sofort"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--password-stdin", action="store_true", help=_("das Passwort von der Standardeingabe lesen"))
