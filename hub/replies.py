"""Replies: mail that answers the hub, or is written to the Geschäftsstelle, is never a protocol.

Every hub mail has a signed Message-ID and the office as Reply-To; partners answer receipts, relays and
invitations, and out-of-office robots without RFC 3834 headers answer everything. Such mail must not be
receipted or relayed to a group: it waits in the review queue with the mail it answers, and a coordinator
files it as a protocol with one action (`review.assign`) when it is one.
"""

from __future__ import annotations

import re

from sqlmodel import Session

from hub import queries
from hub.addresses import address_key
from hub.config import Config
from hub.i18n import _
from hub.inbound.message import ParsedMessage
from hub.outbound.assemble import delivery_answered

_IDS = re.compile(r"<[^<>\s]{1,500}>")
_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|antwort|sv|vs|tr|rif|r)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
                     re.IGNORECASE)
MAX_REFERENCES = 50  # a References header of a long thread; the newest ids are at its end


def answered(session: Session, config: Config, parsed: ParsedMessage, envelope_to: list[str]) -> str | None:
    """Why this mail is a reply rather than a protocol, or None: it names a mail of the hub in In-Reply-To or
    References, its subject is Re:/AW:/WG:/Fwd: of a subject the hub sent, or it is written to the office."""
    original = _referenced(session, config, parsed) or _subject_answered(session, parsed.subject)
    if original is not None:
        return _("Antwort auf die Mail des Hubs „%(subject)s“: nicht als Protokoll abgelegt. Ist es eines, "
                 "ordnen Sie es einer Gruppe zu.") % {"subject": original}
    if _to_office_only(config, parsed, envelope_to):
        return _("An die Geschäftsstelle gerichtet, nicht an die Protokolladresse: nicht als Protokoll abgelegt. "
                 "Ist es eines, ordnen Sie es einer Gruppe zu.")
    return None


def answered_deliveries(config: Config, parsed: ParsedMessage) -> list[int]:
    """The hub's deliveries this mail names in In-Reply-To or References (signed Message-IDs), newest first."""
    values = [v for name, v in parsed.headers if name.lower() in ("in-reply-to", "references")]
    ids = _IDS.findall(" ".join(values))[-MAX_REFERENCES:]
    return [d for message_id in reversed(ids) if (d := delivery_answered(config, message_id)) is not None]


def _referenced(session: Session, config: Config, parsed: ParsedMessage) -> str | None:
    for delivery_id in answered_deliveries(config, parsed):
        if (subject := queries.subject_of_delivery(session, delivery_id)) is not None:
            return subject
    return None


def _subject_answered(session: Session, subject: str) -> str | None:
    prefix = _PREFIX.match(subject)
    if prefix is None:
        return None
    original = " ".join(subject[prefix.end():].split())
    return original if original and queries.hub_sent_subject(session, original) else None


def _to_office_only(config: Config, parsed: ParsedMessage, envelope_to: list[str]) -> bool:
    office = config.mail.office_address
    recipients = envelope_to or parsed.to
    return bool(office and recipients) and all(address_key(r) == address_key(office) for r in recipients)
