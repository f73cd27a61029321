"""The words the web shows for the codes the hub stores: statuses, roles, kinds, audit entries, yes and no.

One table per field, since the same code means different things in different places (a `cancelled`
meeting is "abgesagt", a `cancelled` delivery "abgebrochen"). The words are German message ids, marked
with `lazy` for extraction and translated where they are shown, in the installation's language.
"""

from __future__ import annotations

from hub.i18n import _, lazy

TABLES: dict[str, dict[str, str]] = {
    "message": {  # InboundMessage.status
        "held": lazy("zur Prüfung zurückgehalten"), "filed": lazy("abgelegt"), "rejected": lazy("abgelehnt"),
        "recorded": lazy("vermerkt"), "pending": lazy("in Arbeit"),
        "quarantined": lazy("konnte nicht verarbeitet werden"),
    },
    "message_kind": {
        "protocol": lazy("Protokoll"), "bounce": lazy("Rückläufer"), "autoreply": lazy("automatische Antwort"),
        "reply": lazy("Antwort an die Geschäftsstelle"),
        "other": lazy("sonstige Nachricht"),
    },
    "delivery": {  # Delivery.state, in the order a reader wants them
        "queued": lazy("wartet"), "sending": lazy("wird gesendet"), "deferred": lazy("später erneut"),
        "sent": lazy("gesendet"), "failed": lazy("fehlgeschlagen"), "cancelled": lazy("abgebrochen"),
    },
    "meeting": {
        "proposed": lazy("vorgeschlagen"), "confirmed": lazy("bestätigt"), "cancelled": lazy("abgesagt"),
    },
    "issue": {  # NewsletterIssue.state
        "draft": lazy("Entwurf"), "approved": lazy("freigegeben"), "sending": lazy("wird gesendet"),
        "sent": lazy("versendet"),
    },
    "issue_kind": {"digest": lazy("Rundbrief"), "report": lazy("Halbjahresbericht")},
    "role": {  # partners' roles in the registry, the web users' roles and the provider's
        "member": lazy("Mitglied"), "representative": lazy("Vertreter/in"), "coordinator": lazy("Koordination"),
        "viewer": lazy("nur ansehen"), "provider": lazy("technische Betreuung"),
    },
    "send": {  # what the scheduler plans
        "invitation": lazy("Einladung"), "update": lazy("Änderung"), "reminder": lazy("Erinnerung"),
        "cancellation": lazy("Absage"), "protocol_due": lazy("Protokoll-Erinnerung"), "newsletter": lazy("Newsletter"),
        "task_reminder": lazy("Aufgaben-Erinnerung"),
    },
    "consent": {  # Consent.source and .detail
        "import": lazy("CSV-Import"), "web-import": lazy("CSV-Import"), "cli": lazy("Geschäftsstelle"),
        "web": lazy("Verwaltung im Browser"), "opt-in": lazy("Anmeldung mit Bestätigung"),
        "unsubscribe": lazy("Abmeldung"), "forget": lazy("Löschung der Daten"), "link": lazy("über den Link"),
        "mailto": lazy("per E-Mail"), "double opt-in": lazy("Link in der Bestätigungs-Mail"),
        "left": lazy("Austritt"),
    },
    "meeting_source": {
        "coordinator": lazy("Geschäftsstelle"), "protocol": lazy("aus einem Protokoll"),
        "schedule-file": lazy("aus der Termindatei"),
    },
    "policy_value": {"yes": lazy("ja"), "no": lazy("nein"), "off": lazy("aus")},
    "outcome": {"added": lazy("neu eingetragen"), "updated": lazy("geändert"), "unchanged": lazy("unverändert")},
    "audit": {
        "login": lazy("Anmeldung"), "login.failed": lazy("Anmeldung fehlgeschlagen"), "logout": lazy("Abmeldung"),
        "user.add": lazy("Zugang angelegt"), "user.remove": lazy("Zugang entfernt"),
        "user.password": lazy("Passwort geändert"),
        "review.assign": lazy("Nachricht zugeordnet"), "review.release": lazy("Nachricht freigegeben"),
        "review.reject": lazy("Nachricht abgelehnt"), "review.retry": lazy("Nachricht erneut verarbeitet"),
        "partner.add": lazy("Partner eingetragen"), "partner.approve": lazy("Leser/in als Partner aufgenommen"),
        "partner.edit": lazy("Partner geändert"), "partner.leave": lazy("Austritt eingetragen"),
        "partner.enable": lazy("Adresse wieder freigegeben"), "partner.forget": lazy("Daten gelöscht"),
        "partner.import": lazy("Partner importiert"), "outbox.retry_failed": lazy("Fehlgeschlagene erneut versucht"),
        "outbox.retry": lazy("Sendung erneut versucht"), "outbox.cancel": lazy("Sendung abgebrochen"),
        "newsletter.draft": lazy("Newsletter-Entwurf angelegt"), "newsletter.editorial": lazy("Editorial gespeichert"),
        "newsletter.test": lazy("Test-Mail verschickt"), "newsletter.approve": lazy("Newsletter freigegeben"),
        "newsletter.send": lazy("Newsletter versendet"), "public.unsubscribe": lazy("Newsletter abbestellt"),
        "public.subscribe_request": lazy("Newsletter bestellt (noch unbestätigt)"),
        "public.subscribe_confirm": lazy("Newsletter-Bestellung bestätigt"), "meeting.add": lazy("Treffen eingetragen"),
        "meeting.edit": lazy("Treffen geändert"), "meeting.cancel": lazy("Treffen abgesagt"),
        "meeting.confirm": lazy("Treffen bestätigt"), "schedule.policy": lazy("Regel geändert"),
        "schedule.pause": lazy("Versendung angehalten"), "schedule.resume": lazy("Versendung fortgesetzt"),
        "schedule.run_now": lazy("Sofort verschickt"),
    },
    "audit_target": {  # the part before the colon; "%(id)s" is the rest
        "partner": lazy("Partner Nr. %(id)s"), "message": lazy("Nachricht Nr. %(id)s"),
        "delivery": lazy("Sendung Nr. %(id)s"), "newsletter": lazy("Newsletter-Ausgabe Nr. %(id)s"),
        "meeting": lazy("Treffen Nr. %(id)s"), "user": lazy("Zugang %(id)s"), "group": lazy("Gruppe %(id)s"),
        "provider": lazy("Zugang der technischen Betreuung %(id)s"),
        "job": lazy("Versendung %(id)s"), "policy": lazy("Regel %(id)s"),
    },
    "audit_detail": {
        "email": lazy("E-Mail"), "groups": lazy("Gruppen"), "group": lazy("Gruppe"), "role": lazy("Rolle"),
        "newsletter": lazy("Newsletter"), "outcome": lazy("Ergebnis"), "count": lazy("Anzahl"), "to": lazy("an"),
        "kind": lazy("Art"), "recipients": lazy("Empfänger/innen"), "queued": lazy("in den Postausgang"),
        "summary": lazy("Änderung"), "planned": lazy("neu geplant"), "dropped": lazy("entfällt"),
        "one_click": lazy("mit einem Klick"), "chars": lazy("Zeichen"), "added": lazy("neu"),
        "updated": lazy("geändert"), "unchanged": lazy("unverändert"), "skipped": lazy("übersprungen"),
    },
}
COUNTED = {"planned", "dropped", "added", "updated", "unchanged", "skipped"}  # lists of keys: only how many


def label(code: object, table: str) -> str:
    """The word for a stored code; a code the table does not know is shown as it is."""
    if code is None or code == "":
        return "–"
    if isinstance(code, bool):
        return yes_no(code)
    words = TABLES[table]
    text = str(code)
    if text not in words and ":" in text:  # "protocol:12", "schedule:…": the kind is enough
        text = text.split(":", 1)[0]
    return _(words[text]) if text in words else str(code)


def yes_no(value: object) -> str:
    return _("ja") if value else _("nein")


def audit_target(target: str) -> str:
    kind, _sep, rest = (target or "").partition(":")
    pattern = TABLES["audit_target"].get(kind)
    return _(pattern) % {"id": rest} if pattern and rest else target


def audit_detail(detail: dict) -> str:
    """An audit entry's details as "Rolle: Mitglied; Newsletter: ja" rather than its stored keys."""
    parts = []
    for key, value in (detail or {}).items():
        if key in COUNTED and isinstance(value, list):
            shown = str(len(value))
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "–"
        elif key == "role":
            shown = label(value, "role")
        elif key == "kind":
            shown = label(value, "issue_kind")
        elif key == "outcome":
            shown = label(value, "outcome")
        elif isinstance(value, bool):
            shown = yes_no(value)
        else:
            shown = str(value)
        parts.append(f"{label(key, 'audit_detail')}: {shown}")
    return "; ".join(parts)
