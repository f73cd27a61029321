"""The steps of filing one message: parse and authenticate it, classify it and extract from it ahead of the
database transaction (pure work), then, in the transaction, route it and store what was found into its row
(`file_into`). `hub.filing` runs them for a batch; `hub.quarantine` runs `file_into` again for a message in
quarantine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session

from hub import delivery, follow_up, mailings, replies, rsvp, steps, tasks
from hub.addresses import address_key
from hub.config import Config
from hub.db import utcnow
from hub.failpoints import failpoint
from hub.i18n import _
from hub.inbound import archive, sender_check, spool, store
from hub.inbound.authentication import Verdict
from hub.inbound.classify import classify
from hub.inbound.extract import extract
from hub.inbound.message import BounceInfo, Classification, Directory, Extraction, ParsedMessage
from hub.inbound.mime import DocumentReader
from hub.inbound.owners import resolve_owners
from hub.inbound.parse import parse, unreadable
from hub.inbound.route import route
from hub.models import Alliance, InboundMessage, MessageKind, MessageStatus

log = logging.getLogger("hub")


@dataclass
class Loaded:
    """A spooled message read and parsed; `fault` when parsing itself raised."""

    entry: spool.SpoolEntry
    raw: bytes
    parsed: ParsedMessage
    fault: Exception | None = None
    verdict: Verdict | None = None  # the sender check's, made before the database transaction (it does DNS)
    # Made before the transaction too (pure work that needs no row): on SQLite the transaction holds the one
    # write lock that the outbox process, composing receipts, waits for. A step that raised keeps its error
    # here, raised again where the step comes, so that the message goes to quarantine with that step's name.
    classification: Classification | Exception | None = None
    extraction: Extraction | Exception | None = None
    row: InboundMessage | Exception | None = None  # its new row, taken once (`fresh_row`)


class Step:
    """The step a message is in, for the quarantine's record of where it failed."""

    def __init__(self) -> None:
        self.name = steps.STORE

    def enter(self, name: str) -> None:
        self.name = name
        failpoint(name)


def parse_entry(raw: bytes, entry: spool.SpoolEntry, read_document: DocumentReader) -> Loaded:
    try:
        failpoint(steps.PARSE)
        return Loaded(entry, raw, parse(raw, read_document))
    except Exception as exc:  # parse is total; should a bug make it raise, the message goes to quarantine
        log.exception("could not parse %s", entry.label)
        return Loaded(entry, raw, unreadable(raw, exc), fault=exc)


def authenticate(config: Config, item: Loaded) -> Loaded:
    """The sender check's verdict on the message (DNS, bounded by [inbound] dns_timeout); never raises."""
    try:
        item.verdict = sender_check.check(config.inbound, item.raw, item.parsed.sender, item.entry,
                                          item.parsed.headers)
    except Exception as exc:  # a bug in the check must not stop filing: the sender counts as not authenticated
        log.exception("sender check failed on %s", item.entry.label)
        item.verdict = Verdict(False, "error", f"{type(exc).__name__}")
    return item


def understand_ahead(config: Config, item: Loaded) -> Loaded:
    """Make the row, classify, and extract from what may be a protocol: the pure steps of filing, done before the
    transaction."""
    if item.fault is not None:
        return item
    try:
        item.row = store.new_row(item.entry, item.parsed, archive.archive_path(item.parsed.content_hash),
                                 len(item.raw))
    except Exception as exc:
        item.row = exc
    try:
        item.classification = classify(item.raw, item.parsed)
    except Exception as exc:
        item.classification = exc
        return item
    if item.classification.kind not in _NOT_ROUTED:
        try:
            item.extraction = extract(item.parsed, config.tz)
        except Exception as exc:
            item.extraction = exc
    return item


_NOT_ROUTED = (MessageKind.rsvp, "bounce", "autoreply", "other")  # kinds that never get to extraction


def fresh_row(item: Loaded, raw_path: str) -> InboundMessage:
    """The message's new row: the one made ahead, or one made now for a batch filed again (a row that was in a
    transaction rolled back is not new any more)."""
    made, item.row = item.row, None
    if made is None:
        return store.new_row(item.entry, item.parsed, raw_path, len(item.raw))
    if isinstance(made, Exception):
        raise made
    return made


def _ahead(value, compute):
    """A result made ahead (raising its error again), or `compute()` for an item made without `understand_ahead`."""
    if value is None:
        return compute()
    if isinstance(value, Exception):
        raise value
    return value


def file_into(session: Session, config: Config, alliance: Alliance, directory: Directory,
              message: InboundMessage, item: Loaded, step: Step, flush: bool = True) -> None:
    """Classify, route, extract and store one message into its row (new, or in quarantine for a retry). With
    `flush=False` the row is only added, unless its attachments or bounce need its id: the caller flushes."""
    parsed = item.parsed
    known = directory.senders.get(address_key(parsed.sender)) if parsed.sender else None
    if known is not None:
        message.partner_id = known.partner_id
    else:  # a partner who left is not in the directory but is still who sent it
        sender = store.partner_by_address(session, alliance.id, parsed.sender)
        message.partner_id = sender.id if sender else None
    bounce = _understand(session, config, directory, message, item, step)
    message.reason = store.storable(message.reason)
    message.next_meeting_location = store.storable(message.next_meeting_location)
    step.enter(steps.STORE)
    session.add(message)
    if flush or parsed.attachments or message.kind == "bounce":
        session.flush()  # the rows of its attachments and bounce refer to its id
    step.enter(steps.ATTACHMENTS)
    store.attach(session, config.data_dir, message, parsed.attachments)
    if message.kind == "bounce":
        step.enter(steps.BOUNCE)
        delivery.record_bounce_report(session, config, message, bounce)
    message.followed_up_at = None if follow_up.needs_follow_up(message) else utcnow()


def _understand(session: Session, config: Config, directory: Directory, message: InboundMessage, item: Loaded,
                step: Step) -> BounceInfo | None:
    """Classify, route and extract into the row; returns the bounce details for a bounce."""
    parsed, envelope_to = item.parsed, item.entry.envelope_to
    verdict = item.verdict or Verdict(None, "off", "")
    message.sender_verified, message.authentication = verdict.passed, verdict.text()
    step.enter(steps.CLASSIFY)
    classification = _ahead(item.classification, lambda: classify(item.raw, parsed))
    message.kind = classification.kind
    if classification.kind == MessageKind.rsvp:  # recorded with its meeting, or held: never routed as a protocol
        step.enter(steps.ROUTE)
        rsvp.record(session, config, message, parsed)
        return None
    if classification.kind in ("bounce", "autoreply", "other"):
        message.status = MessageStatus.recorded
        message.reason = classification.reason
        return classification.bounce or (BounceInfo([], False) if classification.kind == "bounce" else None)
    step.enter(steps.ROUTE)
    if _is_unsubscribe(config, envelope_to, parsed):
        _unsubscribe_by_mail(session, config, message)
        return None
    if (task := tasks.close_by_reply(session, config, message, parsed)) is not None:
        message.kind, message.status = MessageKind.reply, MessageStatus.recorded
        message.reason = _("Aufgabe %(id)d als erledigt gemeldet: „%(what)s“") % {"id": task.id, "what": task.what}
        return None
    if (answered := replies.answered(session, config, parsed, envelope_to)) is not None:
        message.kind, message.status, message.reason = MessageKind.reply, MessageStatus.held, answered
        # A reply may correct the meeting ("nicht am 12.05. sondern am 19.05."): what it says is kept, so that
        # a coordinator filing it as a protocol (review.assign) moves the meeting.
        step.enter(steps.EXTRACT)
        _extract_into(message, item, config, directory, None)
        return None
    # A mail that claims a partner's address but fails the sender check speaks for no one: held, never answered
    # or relayed (follow_up.needs_follow_up).
    forged = message.sender_verified is False and address_key(parsed.sender or "") in directory.senders
    routing = route(parsed, list(envelope_to), directory)
    message.status = routing.status
    message.reason = routing.reason
    if forged:
        message.status = MessageStatus.held
        message.reason = _("Absender nicht bestätigt: %(check)s. Bitte klären Sie mit %(sender)s, ob die Mail "
                           "wirklich von dort kommt.") % {"check": message.authentication, "sender": parsed.sender}
    elif routing.group:
        message.group_id = next(g.id for g in directory.groups if g.slug == routing.group)
    step.enter(steps.EXTRACT)
    _extract_into(message, item, config, directory, routing.group)
    return None


def _extract_into(message: InboundMessage, item: Loaded, config: Config, directory: Directory,
                  group: str | None) -> None:
    extraction = _ahead(item.extraction, lambda: extract(item.parsed, config.tz))
    extraction.tasks = resolve_owners(extraction.tasks, directory, group)
    store.apply_extraction(message, extraction)


def _is_unsubscribe(config: Config, envelope_to: list[str], parsed: ParsedMessage) -> bool:
    target = config.mail.unsubscribe_address
    if not target:
        return False
    addresses = {address_key(a) for a in [*envelope_to, *parsed.to]}
    return address_key(target) in addresses


def _unsubscribe_by_mail(session: Session, config: Config, message: InboundMessage) -> None:
    """An unauthenticated From: may be forged: then the partner is asked to confirm by a signed link."""
    message.kind = "other"
    message.status = MessageStatus.recorded
    verified = message.sender_verified is not False
    if mailings.unsubscribe_by_mail(session, config, message.sender, verified=verified) is None:
        message.reason = _("Abmeldung per E-Mail von unbekannter Adresse: nichts zu tun.")
    elif verified:
        message.reason = _("Abmeldung per E-Mail: Newsletter abbestellt.")
    else:
        message.reason = _("Abmeldung per E-Mail, Absender nicht bestätigt: die Adresse bekommt einen Link zum "
                           "Bestätigen; bis dahin bleibt der Newsletter bestellt.")
