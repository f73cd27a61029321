"""Filing: what becomes of a message that came in — the use case behind `hub ingest`, the SMTP/LMTP listener
and the IMAP poller (through `hub serve`'s filing process).

A spooled message goes parse → classify → route → extract → store; what follows filing (a receipt, a
relay, a proposed meeting) is a stage of its own (`hub.follow_up`), and a bounce report or an unsubscribe is
handed to the use case it concerns, so the stages never import each other. A message that makes any step
raise goes to quarantine (`store.quarantine`; `hub.quarantine` files it again) and filing goes on; only a
fault of the database or the disk leaves it in the spool, to be filed again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from hub import alliance as alliance_module
from hub import delivery, follow_up, mailings, replies, rsvp, steps, tasks
from hub.addresses import address_key, for_log
from hub.config import Config
from hub.db import session_scope, utcnow
from hub.errors import NotFound
from hub.failpoints import failpoint
from hub.i18n import _
from hub.inbound import sender_check, spool, store
from hub.inbound.authentication import Verdict
from hub.inbound.classify import classify
from hub.inbound.extract import extract
from hub.inbound.message import BounceInfo, Classification, Directory, Extraction, ParsedMessage
from hub.inbound.mime import DocumentReader
from hub.inbound.owners import resolve_owners
from hub.inbound.parse import parse, unreadable
from hub.inbound.route import route
from hub.inbound.sandbox import Sandbox, limits_from_config
from hub.models import Alliance, InboundMessage, MessageKind, MessageStatus

log = logging.getLogger("hub")


@dataclass
class IngestResult:
    """What became of one message; `as_json()` is the `hub ingest --json` contract."""

    data: dict

    @property
    def status(self) -> str:
        return self.data["status"]

    def as_json(self) -> dict:
        return self.data


@dataclass
class _Loaded:
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


class Step:
    """The step a message is in, for the quarantine's record of where it failed."""

    def __init__(self) -> None:
        self.name = steps.STORE

    def enter(self, name: str) -> None:
        self.name = name
        failpoint(name)


def ingest_bytes(
    config: Config,
    raw: bytes,
    via: str = "file",
    envelope_from: str | None = None,
    envelope_to: list[str] | tuple[str, ...] = (),
    read_document: DocumentReader | None = None,
    peer: str | None = None,
    helo: str | None = None,
) -> IngestResult:
    """Spool (durably) and process one message: what `hub ingest` does per file (`peer` and `helo`: the SMTP
    client's IP address and HELO name, for a message that came over SMTP)."""
    entry = spool.write(config.data_dir, raw, via=via, envelope_from=envelope_from, envelope_to=list(envelope_to),
                        peer=peer, helo=helo)
    result = process_entry(config, entry, read_document=read_document)
    follow_up.follow_up(config)
    return result


def process_entry(config: Config, entry: spool.SpoolEntry, full: bool = True,
                  read_document: DocumentReader | None = None) -> IngestResult:
    """Idempotent: the same message (Message-ID and content) is stored once, however often it comes."""
    results = process_entries(config, [entry], full, read_document)
    if not results:
        raise NotFound(_("%(name)s ist nicht mehr im Eingang: schon abgelegt") % {"name": entry.path.name})
    return results[0]


def process_entries(config: Config, entries: list[spool.SpoolEntry], full: bool = True,
                    read_document: DocumentReader | None = None) -> list[IngestResult]:
    """File several spooled messages in one transaction: one commit and one read of the groups and senders
    for the lot, which is what lets `hub serve` keep up with a burst. A step that fails on one message puts
    that message into quarantine; if the database or the disk fails, nothing of the batch is kept and the
    caller files the messages one by one (`hub serve`). An entry whose file is gone was filed by another
    process meanwhile and is left out. With `full=False` the results carry only what the log line needs,
    not the `hub ingest --json` description. Attachments are read by `read_document` (the filing process's
    sandbox), else in a sandbox of this call's own."""
    with reader(config, read_document) as read:
        loaded = []
        for entry in entries:
            try:
                raw = entry.path.read_bytes()
            except FileNotFoundError:
                continue
            loaded.append(understand_ahead(config, authenticate(config, parse_entry(raw, entry, read))))
    failpoint("parsed")
    try:
        try:
            results = _store_batch(config, loaded, full, guarded=any(item.fault for item in loaded))
        except _Unguarded:  # one of them goes to quarantine: the batch again, each in a savepoint of its own
            results = _store_batch(config, loaded, full, guarded=True)
    except IntegrityError as exc:
        if len(loaded) == 1:
            results = [_duplicate_after_race(config, loaded[0].parsed, exc)]
        else:  # another process stored one of them meanwhile: file one by one
            return [r for item in loaded for r in process_entries(config, [item.entry], full, read_document)]
    failpoint("stored")
    for item, result in zip(loaded, results, strict=True):
        spool.finish(item.entry)
        # The reason names the sender: a log line names only ids (invariant 8).
        log.info("%s message %s (%s) from %s", result.status, result.data["id"], result.data["kind"],
                 for_log(result.data.get("partner_id"), result.data.get("sender")))
    return results


@contextmanager
def reader(config: Config, read_document: DocumentReader | None = None) -> Iterator[DocumentReader]:
    """`read_document` if given, else the reader of a sandbox (`[extraction]` limits) for the `with` block."""
    if read_document is not None:
        yield read_document
        return
    with Sandbox(limits_from_config(config.extraction)) as sandbox:
        yield sandbox.read


def parse_entry(raw: bytes, entry: spool.SpoolEntry, read_document: DocumentReader) -> _Loaded:
    try:
        failpoint(steps.PARSE)
        return _Loaded(entry, raw, parse(raw, read_document))
    except Exception as exc:  # parse is total; should a bug make it raise, the message goes to quarantine
        log.exception("could not parse %s", entry.label)
        return _Loaded(entry, raw, unreadable(raw, exc), fault=exc)


def authenticate(config: Config, item: _Loaded) -> _Loaded:
    """The sender check's verdict on the message (DNS, bounded by [inbound] dns_timeout); never raises."""
    try:
        item.verdict = sender_check.check(config.inbound, item.raw, item.parsed.sender, item.entry,
                                          item.parsed.headers)
    except Exception as exc:  # a bug in the check must not stop filing: the sender counts as not authenticated
        log.exception("sender check failed on %s", item.entry.label)
        item.verdict = Verdict(False, "error", f"{type(exc).__name__}")
    return item


def understand_ahead(config: Config, item: _Loaded) -> _Loaded:
    """Classify, and extract from what may be a protocol: the pure steps of filing, done before the transaction."""
    if item.fault is not None:
        return item
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


def _ahead(value, compute):
    """A result made ahead (raising its error again), or `compute()` for an item made without `understand_ahead`."""
    if value is None:
        return compute()
    if isinstance(value, Exception):
        raise value
    return value


def _duplicate_after_race(config: Config, parsed: ParsedMessage, error: IntegrityError) -> IngestResult:
    """Another worker stored the same message between our check and our insert."""
    with session_scope(config.database_url) as session:
        existing = store.find_duplicate(session, *store.key(parsed))
        if existing is None:
            raise error
        return IngestResult(store.describe(session, existing, status="duplicate"))


class _Unguarded(Exception):
    """A message of a batch filed without savepoints raised: nothing of the batch is kept, it is filed again."""


def _store_batch(config: Config, loaded: list[_Loaded], full: bool, guarded: bool) -> list[IngestResult]:
    """With `guarded`, each message in a savepoint of its own, so that one that raises goes to quarantine and
    the others stay; without, the batch costs a savepoint per message less (a tenth of filing) and a message
    that raises makes the caller file the batch again, guarded."""
    data_dir = config.data_dir
    with session_scope(config.database_url) as session:
        alliance = alliance_module.current(session, config)
        directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
        stored = store.find_duplicates(session, [store.key(item.parsed) for item in loaded])
        results, archived = [], set()
        for item in loaded:
            existing = stored.get(store.key(item.parsed))
            if existing is not None:
                results.append(IngestResult(store.describe(session, existing, status="duplicate") if full else
                                            store.summary(existing, "duplicate")))
                continue
            raw_path = store.archive_raw(data_dir, item.entry.path, item.parsed.content_hash)
            archived.update({(data_dir / raw_path).parent, (data_dir / raw_path).parent.parent})
            message = _store_one(session, config, alliance, directory, item, raw_path, guarded)
            stored[store.key(item.parsed)] = message
            results.append(IngestResult(store.describe(session, message) if full else
                                        store.summary(message, message.status)))
        store.sync_dirs(archived)  # the archive's links are durable before the spool lets go of the files
        return results


def _store_one(session: Session, config: Config, alliance: Alliance, directory: Directory, item: _Loaded,
               raw_path: str, guarded: bool) -> InboundMessage:
    """The message's row, filed; or, when a step raises, its row in quarantine."""
    step = Step()
    if not guarded:
        try:
            message = store.new_row(item.entry, item.parsed, raw_path, len(item.raw))
            file_into(session, config, alliance, directory, message, item, step)
        except (OperationalError, OSError):
            raise
        except Exception as exc:
            raise _Unguarded from exc
        return message
    try:
        with session.begin_nested():
            if item.fault is not None:
                step.name = steps.PARSE
                raise item.fault
            message = store.new_row(item.entry, item.parsed, raw_path, len(item.raw))
            file_into(session, config, alliance, directory, message, item, step)
            return message
    except (OperationalError, OSError):
        raise  # the database or the disk, not this message: it stays in the spool and is filed again
    except Exception as exc:
        log.exception("could not file message %s (step %s); it goes to quarantine", item.parsed.message_id,
                      step.name)
        return _quarantined(session, item, raw_path, step.name, exc)


def _quarantined(session: Session, item: _Loaded, raw_path: str, stage: str, error: Exception) -> InboundMessage:
    try:
        return _keep(session, store.new_row, item, raw_path, stage, error)
    except (OperationalError, OSError):
        raise
    except Exception:  # the parsed values themselves are the trouble: the raw bytes stay the record
        log.exception("could not keep message %s with what was parsed of it", item.parsed.message_id)
        return _keep(session, store.bare_row, item, raw_path, stage, error)


def _keep(session: Session, make_row, item: _Loaded, raw_path: str, stage: str, error: Exception) -> InboundMessage:
    with session.begin_nested():
        message = make_row(item.entry, item.parsed, raw_path, len(item.raw))
        store.quarantine(message, stage, error, steps.reason(stage), utcnow())
        session.add(message)
        session.flush()
        return message


def file_into(session: Session, config: Config, alliance: Alliance, directory: Directory,
               message: InboundMessage, item: _Loaded, step: Step) -> None:
    """Classify, route, extract and store one message into its row (new, or in quarantine for a retry)."""
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
    session.flush()
    step.enter(steps.ATTACHMENTS)
    store.attach(session, config.data_dir, message, parsed.attachments)
    if message.kind == "bounce":
        step.enter(steps.BOUNCE)
        delivery.record_bounce_report(session, config, message, bounce)
    message.followed_up_at = None if follow_up.needs_follow_up(message) else utcnow()


def _understand(session: Session, config: Config, directory: Directory, message: InboundMessage, item: _Loaded,
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


def _extract_into(message: InboundMessage, item: _Loaded, config: Config, directory: Directory,
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
