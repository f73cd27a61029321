"""What a bounce says: whether a mail is one (a DSN report, a mailer daemon, a failure in the subject or the
opening lines), and which addresses failed, permanently or for now — from the DSN's fields, from flufl.bounce's
detectors for the MTAs that write no DSN, and from the wording of the text. hub/inbound/classify.py decides a
bounce first of all kinds; whether it counts against a partner is hub/outbound/bounces.py's (only at our own
VERP address).
"""

from __future__ import annotations

import logging
import re
from email import message_from_bytes, policy
from email.message import Message

from hub.addresses import InvalidAddress, normalise_address
from hub.inbound.message import BounceInfo, Classification, ParsedMessage

# flufl.bounce logs a traceback whenever one of its detectors trips over an unusual message; that is expected
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|post_?master|mail-daemon|maildaemon|mail\.?delivery|"
                            r"mailerdaemon|bounces?|mdaemon|microsoftexchange[0-9a-f]*|nobody)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|returned to sender|delivery status notification|delivery notification"
    r"|failure notice|delivery fail|failed delivery|mail delivery|delivery report|delivery problem|nicht zustellbar"
    r"|unzustellbar|zustellung|non remis|non recapitabile|message delayed|delayed mail|warning: message|"
    r"could not be delivered|not delivered|delivery has failed|mail system error|rejected|returned|"
    r"status notification|unable to deliver|permanent error|nondeliverable|non-delivery|"
    r"no se puede entregar|niet bezorgd|non consegnato|utilisateur non|problème de remise|delivery warning|"
    r"warning: could not send|mail could not|was not delivered|error sending|trouble delivering", re.I)
_DELAY = re.compile(r"\b(delayed|delay|will (?:be )?retr(?:y|ied)|still being retried|not yet been delivered|"
                    r"still trying|verzögert|warning)\b", re.I)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def looks_like_bounce(parsed: ParsedMessage, headers: dict[str, str], content_type: str) -> bool:
    """Cheap checks first: flufl.bounce reads the whole message with a dozen detectors, so only suspects go there."""
    if content_type.startswith("multipart/report") and "delivery-status" in content_type:
        return True
    if "x-failed-recipients" in headers:
        return True
    if _is_daemon(parsed, headers) or _BOUNCE_SUBJECT.search(parsed.subject):
        return True
    opening = parsed.text[:5000].lower()
    return any(word in opening for word in _FAILURE_WORDS)


def read(raw: bytes, parsed: ParsedMessage, headers: dict[str, str]) -> Classification | None:
    msg = message_from_bytes(raw, policy=policy.compat32)
    reports = _dsn_reports(msg, raw)
    failures = [r for r in reports if r["action"] in ("failed", "delayed", "expired") or (
        not r["action"] and r["status"][:1] in ("4", "5"))]
    if reports and not failures:
        return None  # a success DSN (delivered, relayed, expanded): not a bounce
    recipients: list[str] = []
    status: str | None = None
    permanent: bool | None = None
    flufl_permanent: bool | None = None
    source = "Zustellbericht (DSN)" if failures else ""
    for report in failures:
        _add(recipients, _address(report["final"]) or _address(report["original"]))
        status = status or report["status"] or None
    if failures:
        # the status class decides (4.x.x is transient even with "Action: failed"); a delay is never permanent
        permanent = any(r["action"] != "delayed" and (r["status"].startswith("5") or (
            not r["status"] and r["action"] == "failed")) for r in failures)
    if not recipients:
        temporary, permanent_set = _flufl(msg)
        for value in [*sorted(permanent_set), *sorted(temporary)]:
            _add(recipients, _address(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)))
        if recipients:
            source = source or "Unzustellbarkeitsnachricht"
            flufl_permanent = bool(permanent_set) and not _RETRY_TIMEOUT.search(parsed.text)
    for value in re.split(r"[,\s]+", headers.get("x-failed-recipients", "")):
        _add(recipients, _address(value))
    if not recipients and (_is_daemon(parsed, headers) or _FAILURE_WORDING.search(parsed.text[:5000])):
        for address in _text_recipients(parsed):
            _add(recipients, address)
    if not failures and not recipients:
        if not _strong_bounce(parsed, headers):
            return None
        source = "Unzustellbarkeitsnachricht ohne erkennbare Empfängeradresse"
    source = source or "Unzustellbarkeitsnachricht"
    status = status or _status_in_text(parsed)
    if permanent is None:
        if _is_delay(parsed):
            permanent = False
        elif status:  # as for DSNs, the status class decides, whatever the wording around it
            permanent = status.startswith("5")
        elif flufl_permanent is not None:
            permanent = flufl_permanent
        elif re.search(r"permanent (?:error|failure)|permanently", parsed.text, re.I):
            permanent = True
        else:
            permanent = not _temporary_wording(parsed)
    kind = "dauerhaft" if permanent else "vorübergehend"
    who = ", ".join(recipients) if recipients else "unbekannt"
    return Classification("bounce", f"{source}: Zustellung an {who} {kind} fehlgeschlagen"
                          + (f" (Status {status})." if status else "."),
                          BounceInfo(recipients=recipients, permanent=permanent, status=status))


def _add(recipients: list[str], address: str | None) -> None:
    if address and address.lower() not in (r.lower() for r in recipients):
        recipients.append(address)


# the same as _FAILURE_WORDING as plain substrings: checked on every mail, where a regex alternation is slow
_FAILURE_WORDS = ("could not be delivered", "couldn't be delivered", "undeliverable", "delivery failed",
                  "delivery has failed", "user unknown", "no such user", "mailbox is full", "mailbox full",
                  "mailbox unavailable", "permanent error", "returned permanent errors", "returned temporary errors",
                  "rcpt to", "konnte nicht zugestellt", "nicht zustellbar", "unzustellbar", "delayed for more")
_RETRY_TIMEOUT = re.compile(r"retry time ?out exceeded|retry timeout", re.I)
_FAILURE_WORDING = re.compile(
    r"could not be delivered|couldn't be delivered|undeliverable|delivery (?:has )?failed|user unknown|"
    r"no such user|mailbox (?:is )?(?:full|unavailable)|permanent error|returned (?:permanent|temporary) errors|"
    r"rcpt to|konnte nicht zugestellt|nicht zustellbar|unzustellbar|delayed for more", re.I)
_ADDR = r"[A-Za-z0-9._%+=!#$&'*/?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_TEXT_RECIPIENT = [
    re.compile(rf"RCPT TO:\s*<?({_ADDR})", re.I),
    re.compile(rf"(?:delivered to|recipients?|addresses|address\(es\)|failed)[^\n:<>]{{0,60}}:\s*\n?\s*<?({_ADDR})",
               re.I),
    re.compile(rf"^\s*<({_ADDR})>", re.M),
    re.compile(rf"^({_ADDR}):", re.M),
]
_ORIGINAL_START = re.compile(
    r"^(?:.*original message|.*copy of the (?:original )?message|.*header of the original|received: |"
    r"return-path: |\s*-+ ?(?:this is a copy|original))", re.I | re.M)


def _text_recipients(parsed: ParsedMessage) -> list[str]:
    """Failed addresses as the human-readable part of a non-DSN bounce names them, before the returned message."""
    text = parsed.text[:20000]
    cut = _ORIGINAL_START.search(text)
    if cut:
        text = text[: cut.start()]
    found: list[str] = []
    for pattern in _TEXT_RECIPIENT:
        for match in pattern.finditer(text):
            address = _address(match.group(1).rstrip("."))
            if address and not _BOUNCE_SENDER.search(address) and address != parsed.sender:
                _add(found, address)
    return found


def _is_daemon(parsed: ParsedMessage, headers: dict[str, str]) -> bool:
    return (parsed.sender is None or bool(_BOUNCE_SENDER.search(parsed.sender))
            or headers.get("return-path", "").strip() == "<>"
            or bool(re.search(r"mailer-daemon|postmaster|mail delivery", headers.get("from", ""), re.I)))


def _address(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if ";" in value:  # "rfc822; user@example.org"
        value = value.split(";", 1)[1].strip()
    value = value.strip("<>\"' ")
    try:
        return normalise_address(value)
    except InvalidAddress:
        return None


_DSN_FIELD = re.compile(r"^(final-recipient|original-recipient|action|status)\s*:\s*(.*)$",
                        re.I | re.M)


def _dsn_reports(msg: Message, raw: bytes) -> list[dict[str, str]]:
    """Per-recipient blocks of the delivery-status part(s): final/original recipient, action, status."""
    texts = []
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                texts.append("\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload))
            else:
                data = part.get_payload(decode=True)
                texts.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload))
    if not texts and re.search(rb"^final-recipient\s*:", raw, re.I | re.M):
        # a DSN the MIME structure hides (no boundary, the part's header in its body): read it as text
        texts.append(raw.decode("latin-1"))
    reports = []
    for text in texts:
        text = text.replace("\r\n", "\n")
        for block in re.split(r"\n[ \t]*\n", text):
            fields: dict[str, str] = {}
            for name, value in _DSN_FIELD.findall(block):
                fields.setdefault(name.lower(), value.strip())
            if "final-recipient" in fields or "original-recipient" in fields:
                status = _STATUS.search(fields.get("status", ""))
                reports.append({
                    "final": fields.get("final-recipient", ""),
                    "original": fields.get("original-recipient", ""),
                    "action": fields.get("action", "").split()[0].lower() if fields.get("action") else "",
                    "status": status.group(0) if status else "",
                })
    return reports


def _flufl(msg: Message) -> tuple[set, set]:
    from flufl.bounce import all_failures

    try:
        return all_failures(msg)
    except Exception:
        return set(), set()


def _status_in_text(parsed: ParsedMessage) -> str | None:
    match = _STATUS.search(parsed.text) or _STATUS.search(parsed.subject)
    if match and match.group(1) in "45":
        return match.group(0)
    smtp = re.search(r"\b([45])\d\d[ -]", parsed.text)
    return f"{smtp.group(1)}.0.0" if smtp else None


def _is_delay(parsed: ParsedMessage) -> bool:
    return bool(_DELAY.search(parsed.subject)) or bool(re.search(
        r"will (?:be )?retr(?:y|ied)|still being retried|has not yet been delivered|not been delivered yet|"
        r"delivery (?:is )?delayed|no action is required on your part|still trying", parsed.text, re.I))


def _temporary_wording(parsed: ParsedMessage) -> bool:
    return bool(re.search(r"temporar|mailbox (?:is )?full|over quota|quota exceeded", parsed.text, re.I))


def _strong_bounce(parsed: ParsedMessage, headers: dict[str, str]) -> bool:
    """Without any address found, call it a bounce only when the subject and the sender or the text say so."""
    return bool(_BOUNCE_SUBJECT.search(parsed.subject)) and (
        _is_daemon(parsed, headers) or bool(_FAILURE_WORDING.search(parsed.text[:5000])))
