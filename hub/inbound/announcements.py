"""Mail that announces a meeting instead of recording one: an invitation with its agenda, a reminder.

Coordinators send these to their group, and the protocol address is often among the recipients. Filed as a
protocol, an invitation's "Tagesordnung" would be relayed as the group's results and its date proposed as
the next meeting. What makes a mail an announcement: its subject (reply and forward prefixes aside) or its
opening says it invites or reminds, and nothing in it records a meeting that took place — no subject naming a
protocol, no attendance list, no results, no attached protocol. An agenda's "Genehmigung des Protokolls der
letzten Sitzung" names a protocol but records nothing, so the word alone in the text does not count.
"""

from __future__ import annotations

import re

from hub.inbound.message import ParsedMessage

_PREFIXES = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|weitergeleitet)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_REPLY = re.compile(r"^\s*(?:re|aw|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_ANNOUNCING_SUBJECT = re.compile(
    r"^(?:einladung|erinnerung|terminerinnerung|reminder|save[ -]the[ -]date|tagesordnung|agenda|invitation"
    r"|terminankündigung|ankündigung)\b", re.IGNORECASE)
_ANNOUNCING_TEXT = re.compile(
    r"\b(?:lade[nt]?|laden)\s+(?:ich|wir)?\s*(?:sie|euch|dich)\s+(?:alle\s+)?(?:sehr\s+|recht\s+)?(?:herzlich\s+)?"
    r"(?:zu[rm]?\s|ein\b)"
    r"|\b(?:möchte[n]?|wollte[n]?)\s+(?:ich|wir)?\s*(?:sie|euch|dich)\b(?:[^.!?\n]|\.(?=\d)){0,120}\berinnern\b"
    r"|\b(?:kurze\s+)?erinnerung\s+an\s+(?:unser|das|die|den)"
    r"|\bwe\s+(?:kindly\s+)?invite\s+you\b|\bfriendly\s+reminder\b",
    re.IGNORECASE)
_RECORDING_SUBJECT = re.compile(r"protokoll|niederschrift|ergebnis|mitschrift|minutes|bericht", re.IGNORECASE)
# What only a record of a meeting has: who was there, what was decided or reported.
_RECORDING_TEXT = re.compile(
    r"^\s*(?:anwesend|teilnehmende|teilnehmer(?:innen|/innen|\*innen)?|entschuldigt|abwesend|protokoll(?:führung)?"
    r"|attendees|present)\s*:"
    r"|\b(?:wurde|wurden|ist|sind)\s+(?:einstimmig\s+)?(?:beschlossen|vereinbart|besprochen|festgelegt)\b"
    r"|\b(?:berichtete?|beschließt|beschlossen|vereinbaren|vereinbarten)\b|^\s*(?:ergebnis|beschluss)\s*:",
    re.IGNORECASE | re.MULTILINE)
OPENING = 800  # characters of the text that may say it invites or reminds


def announcement(parsed: ParsedMessage) -> str | None:
    """Why the mail is an invitation or a reminder and no protocol, or None. An answer ("AW: Einladung …") is
    no announcement: answers to the hub's own invitations go to the Geschäftsstelle as replies (hub.replies)."""
    if _REPLY.match(parsed.subject or ""):
        return None
    subject = _PREFIXES.sub("", parsed.subject or "")
    text = parsed.text or ""
    announcing = _ANNOUNCING_SUBJECT.search(subject) or _ANNOUNCING_TEXT.search(text[:OPENING])
    if not announcing:
        forwarded = next((f for f in parsed.forwarded if _ANNOUNCING_SUBJECT.search(_PREFIXES.sub("", f.subject))),
                         None)
        if forwarded is None:
            return None
        subject, text = _PREFIXES.sub("", forwarded.subject), f"{text}\n{forwarded.text}"
    if _RECORDING_SUBJECT.search(subject) or _RECORDING_TEXT.search(text):
        return None
    if any(_RECORDING_SUBJECT.search(a.filename or "") or _RECORDING_TEXT.search(a.text)
           for a in parsed.documents()):
        return None
    return "Einladung oder Erinnerung zu einem Treffen, kein Protokoll."
