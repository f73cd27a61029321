"""`hub outbox …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _
from hub.states import DeliveryState

STATES = tuple(DeliveryState)


def register(sub) -> None:
    box = group(sub, "outbox", _("Postausgang: ausgehende Mails auflisten, zeigen, wiederholen, stornieren und "
                                 "senden (flush)"))

    p = command(box, "list", "outbox:list_deliveries", _("Zustellungen auflisten, neueste zuerst"))
    p.add_argument("--state", choices=STATES, help=_("nur Zustellungen in diesem Zustand"))
    p.add_argument("--limit", type=int, default=200, help=_("höchstens so viele (Standard 200)"))
    json_flag(p)

    p = command(box, "show", "outbox:show", _("alles über eine Zustellung"))
    p.add_argument("id", type=int, metavar="ID")
    json_flag(p)

    p = command(box, "retry", "outbox:retry", _("eine fehlgeschlagene, zurückgestellte oder stornierte "
                                                "Zustellung jetzt noch einmal senden"))
    p.add_argument("id", type=int, nargs="?", metavar="ID")
    p.add_argument("--failed", action="store_true", help=_("alle fehlgeschlagenen Zustellungen wiederholen"))

    p = command(box, "cancel", "outbox:cancel", _("diese Zustellung nicht senden"))
    p.add_argument("id", type=int, metavar="ID")

    p = command(box, "flush", "outbox:flush", _("alles senden, was jetzt fällig ist (SMTP-Smarthost oder der "
                                                "Maildir-Postausgang)"))
    p.add_argument("--limit", type=int, help=_("höchstens so viele senden"))
    json_flag(p)
