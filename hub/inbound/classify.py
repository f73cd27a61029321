"""Classify: protocol, bounce, auto-reply, rsvp or other — so that the hub never files or answers a robot's mail.

Order matters: many bounces carry `Auto-Submitted: auto-replied`, so a bounce is decided first (the DSN
report, then flufl.bounce's detectors for the MTAs that write no DSN: `bounce_reports.py`), then a calendar's
answer to an invitation (iTIP REPLY or COUNTER, `itip.py`), then auto-replies (RFC 3834 and the vendors' headers
and subjects, read receipts), then feedback reports and list mail, then invitations and reminders
(`announcements.py`), and what a person wrote is a protocol candidate; routing decides where it goes.
"""

from __future__ import annotations

import re

from hub.inbound import bounce_reports, itip
from hub.inbound.announcements import announcement
from hub.inbound.message import Classification, ParsedMessage
from hub.inbound.parse import PARSE_FAILED

_AUTOREPLY_SUBJECT = re.compile(
    r"abwesenheitsnotiz|automatische antwort|out of (?:the )?office|auto(?:matic)?[ -]?(?:reply|response|antwort)"
    r"|\babwesend\b|\bautoreply\b|^\s*auto:|vacation (?:alert|reply|notice)|urlaubsnotiz|réponse automatique"
    r"|automatyczna odpowied|respuesta automática|risposta automatica|automatisch antwoord|away from (?:my|the) "
    r"(?:mail|office)|i am away|ich bin (?:bis|vom|zur zeit|derzeit) .{0,40}(?:abwesend|nicht im büro)", re.I)
# An out-of-office text that came without RFC 3834 headers (many Exchange and webmail rules send none): said in
# the first person, or naming itself, near the top of a short mail that carries no document.
_ABSENCE = re.compile(
    r"abwesenheitsnotiz|nicht im büro|out of (?:the )?office|automatische antwort|abwesenheitsassistent"
    r"|(?:ich bin|bin ich|wir sind|sind wir)\b[^!?\n]{0,80}\b(?:abwesend|nicht (?:im (?:büro|hause?|dienst)|erreichbar)"
    r"|außer haus|im urlaub|in elternzeit|auf dienstreise)"
    r"|\bi (?:am|will be)\b[^!?\n]{0,60}\b(?:out of|away|on (?:annual |parental )?leave|on vacation|on holiday)",
    re.IGNORECASE)
_ABSENCE_TEXT = 1500  # characters: an out-of-office note is short; a protocol that mentions absence is not
_ABSENCE_HEAD = 400  # where in it the note says so


_VENDOR_AUTOREPLY = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mailautoreply", "x-vacation",
                     "x-ms-exchange-inbox-rules-loop", "x-auto-response-suppress", "x-cr-hashedpuzzle-autoreply")


def classify(raw: bytes, parsed: ParsedMessage) -> Classification:
    """protocol | bounce | autoreply | rsvp | other, with the reason in a sentence; pure, never raising on odd mail."""
    if parsed.defects and parsed.defects[0].startswith(PARSE_FAILED):
        # not recorded as "other": a mail nobody could read must reach a human, and routing holds it
        return Classification("protocol", "Die Nachricht konnte nicht gelesen werden und wartet auf Prüfung.")
    headers = {k.lower(): v for k, v in reversed(parsed.headers)}
    content_type = headers.get("content-type", "").lower()
    report_type = _report_type(content_type)

    if bounce_reports.looks_like_bounce(parsed, headers, content_type):
        bounce = bounce_reports.read(raw, parsed, headers)
        if bounce is not None:
            return bounce
    # Before the auto-replies: a calendar's automatic answer (Exchange's auto-accept) is still an answer.
    if (answer := itip.answer(parsed)) is not None:
        return Classification("rsvp", f"Antwort auf eine Einladung (iTIP {answer.method}): wird beim Termin "
                                      "vermerkt, kein Protokoll.")
    if report_type == "feedback-report":
        return Classification("other", "Beschwerde-/Feedback-Bericht eines Providers (ARF), kein Protokoll.")
    if report_type == "delivery-status":
        return Classification("other", "Zustellbericht ohne Fehler (z. B. Zustellbestätigung), kein Protokoll.")
    auto = _autoreply_reason(parsed, headers, report_type)
    if auto:
        return Classification("autoreply", auto)
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return Classification("other", f"Massen- oder Listenmail (Precedence: {precedence}), kein Protokoll.")
    list_header = next((k for k in headers if k.startswith("list-") and k != "list-unsubscribe-post"), None)
    if list_header:
        return Classification("other", f"Mail einer Mailingliste ({_title(list_header)}), kein Protokoll.")
    if not parsed.text.strip() and not parsed.documents() and not any(f.text.strip() for f in parsed.forwarded):
        return Classification("other", "Weder Text noch lesbares Dokument: nichts, was ein Protokoll sein könnte.")
    if (reason := announcement(parsed)) is not None:
        return Classification("other", reason)
    return Classification("protocol", "Von einem Menschen geschrieben: ein mögliches Protokoll.")


def _title(header: str) -> str:
    return "-".join(p.capitalize() for p in header.split("-"))


def _report_type(content_type: str) -> str | None:
    if not content_type.startswith("multipart/report"):
        return None
    match = re.search(r"report-type\s*=\s*\"?([a-z0-9-]+)", content_type)
    return match.group(1) if match else ""


def _autoreply_reason(parsed: ParsedMessage, headers: dict[str, str], report_type: str | None) -> str | None:
    auto_submitted = headers.get("auto-submitted", "").strip()
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        return f"Automatische Antwort (Auto-Submitted: {auto_submitted.split(';')[0].strip()})."
    if report_type == "disposition-notification":
        return "Lesebestätigung (Disposition-Notification), automatisch erzeugt."
    for name in _VENDOR_AUTOREPLY:
        if name in headers:
            return f"Automatische Antwort ({_title(name)})."
    precedence = headers.get("precedence", "").strip().lower()
    if precedence == "auto_reply" or headers.get("x-precedence", "").strip().lower() == "auto_reply":
        return "Automatische Antwort (Precedence: auto_reply)."
    if match := _AUTOREPLY_SUBJECT.search(parsed.subject):
        return f"Automatische Antwort (Betreff „{match.group(0).strip()}“)."
    text = parsed.text.strip()
    if len(text) <= _ABSENCE_TEXT and not parsed.documents() and (match := _ABSENCE.search(text[:_ABSENCE_HEAD])):
        return f"Abwesenheitsnotiz ohne Kennzeichnung („{' '.join(match.group(0).split())}“)."
    return None
