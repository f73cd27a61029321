"""`hub retention run`: what retention deletes (or would delete), per kind of data, with its period."""

from __future__ import annotations

from hub import retention
from hub.cli.render import print_json, print_table
from hub.cli.when import when
from hub.i18n import _, ngettext


def labels() -> dict[str, str]:
    return {
        "held_mail": _("zurückgehaltene und abgelehnte Mails"),
        "quarantined_mail": _("Mails in Quarantäne"),
        "recorded_mail": _("nur verzeichnete Mails (Unzustellbarkeitsberichte, Abwesenheitsnotizen, andere)"),
        "raw_mail": _("Rohfassungen eingegangener Mails mit Absenderangaben (Text, Betreff, Gruppe bleiben)"),
        "attachments": _("Anhänge, die keine Mail mehr braucht"),
        "sent_mail": _("Inhalte gesendeter Mails (Art, Betreff und Anzahlen bleiben)"),
        "deliveries": _("Zustellungen gesendeter Mails"),
        "bounces": _("Einträge über Unzustellbarkeit"),
        "audit": _("Einträge im Änderungsprotokoll der Web-Verwaltung"),
        "outbox_files": _("Dateien im Maildir-Postausgang"),
    }


def run(ctx, args) -> int:
    with ctx.session() as session:
        report = retention.run(session, ctx.config, dry_run=args.dry_run)
    if args.json:
        print_json(report.as_json())
        return 0
    if report.dry_run:
        print(_("Probelauf (%(at)s): nichts wurde gelöscht. Gelöscht würde:") % {"at": when(report.at, ctx.config.tz)})
    else:
        print(_("Aufbewahrung (%(at)s): gelöscht wurde:") % {"at": when(report.at, ctx.config.tz)})
    names = labels()
    print_table([{"what": names[name], "count": report.counts[name],
                  "days": ngettext("%(days)d Tag", "%(days)d Tage", days) % {"days": days} if days else None}
                 for name, days in report.days.items()],
                {"what": _("Art"), "days": _("Frist"), "count": _("Anzahl")})
    return 0
