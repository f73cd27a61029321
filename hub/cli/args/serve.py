"""`hub serve`."""

from __future__ import annotations

from hub.cli import command
from hub.i18n import _


def register(sub) -> None:
    p = command(sub, "serve", "serve:serve", _("den Hub betreiben: SMTP/LMTP-Empfang, IMAP-Abruf, Ablage, "
                                               "Zeitplan, Postausgang und Web-Verwaltung, bis er beendet wird"))
    p.add_argument("--host", help=_("auf dieser Adresse empfangen statt [inbound] host"))
    p.add_argument("--port", type=int, help=_("auf diesem Port empfangen statt [inbound] port"))
    p.add_argument("--no-imap", action="store_true",
                   help=_("[imap] nicht abrufen, auch wenn es konfiguriert ist"))
