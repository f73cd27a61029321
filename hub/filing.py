"""Filing: what becomes of a message that came in — the use case behind `hub ingest`, the SMTP/LMTP listener
and the IMAP poller (through `hub serve`'s filing process).

A spooled message goes parse → classify → route → extract → store (the steps of one message are in
`hub.filing_steps`, this module runs them for a batch in one transaction); what follows filing (a receipt, a
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
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from hub import alliance as alliance_module
from hub import follow_up, search_terms, steps
from hub.addresses import for_log
from hub.config import Config
from hub.db import utcnow
from hub.errors import NotFound
from hub.failpoints import failpoint
from hub.filing_steps import Loaded, Step, authenticate, file_into, fresh_row, parse_entry, understand_ahead
from hub.i18n import _
from hub.inbound import archive, authentication, spool, store
from hub.inbound.message import Directory, ParsedMessage
from hub.inbound.mime import DocumentReader
from hub.inbound.sandbox import Sandbox, limits_from_config
from hub.models import Alliance, InboundMessage, MessageKind

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
    ahead = _ahead_of_transaction(config, loaded)
    failpoint("parsed")
    try:
        try:
            results = _store_batch(config, loaded, ahead, full, guarded=any(item.fault for item in loaded))
        except _Unguarded:  # one of them goes to quarantine: the batch again, each in a savepoint of its own
            results = _store_batch(config, loaded, ahead, full, guarded=True)
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


def warm_up(config: Config) -> None:
    """Do ahead what the first message after a start would wait for: the public suffix list that DMARC
    alignment needs (0.2 s to read) and the batch's queries compiled (0.07 s). The filing process calls it
    while the listener is already open; it changes nothing, and a failure here is met again, and dealt with,
    by the first batch."""
    try:
        if config.inbound.sender_check == "dmarc":
            authentication.organisational_domain(config.alliance.domain)
        with alliance_module.unit_of_work(config, read_only=True) as session:
            alliance = alliance_module.current(session, config)
            store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
            store.find_duplicates(session, [("", "")])
    except Exception:
        log.warning("could not prepare filing ahead; the first batch meets the same fault", exc_info=True)


@contextmanager
def reader(config: Config, read_document: DocumentReader | None = None) -> Iterator[DocumentReader]:
    """`read_document` if given, else the reader of a sandbox (`[extraction]` limits) for the `with` block."""
    if read_document is not None:
        yield read_document
        return
    with Sandbox(limits_from_config(config.extraction)) as sandbox:
        yield sandbox.read


def _duplicate_after_race(config: Config, parsed: ParsedMessage, error: IntegrityError) -> IngestResult:
    """Another worker stored the same message between our check and our insert."""
    with alliance_module.unit_of_work(config) as session:
        existing = store.find_duplicate(session, *store.key(parsed))
        if existing is None:
            raise error
        return IngestResult(store.describe(session, existing, status="duplicate"))


class _Unguarded(Exception):
    """A message of a batch filed without savepoints raised: nothing of the batch is kept, it is filed again."""


@dataclass
class _Ahead:
    """What a batch's transaction needs that is made before it begins: on SQLite that transaction holds the one
    write lock, which the filing processes and the outbox process take in turns (bench/inbound.py: the lock
    was busy nine tenths of a burst, the archive's directory syncs and the index's stemming within it)."""

    directory: Directory
    archived: set[Path]  # spool files whose bytes are in the archive, durably


def _ahead_of_transaction(config: Config, loaded: list[Loaded]) -> _Ahead:
    """The groups and senders; each new message's bytes archived and their folders synced (a message already
    stored is not archived again: its raw bytes may have been let go by retention or erasure, and a duplicate
    found only in the transaction is archived there); the index's terms of what may be filed."""
    data_dir = config.data_dir
    with alliance_module.unit_of_work(config, read_only=True) as session:
        alliance = alliance_module.current(session, config)
        directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
        stored = store.find_duplicates(session, [store.key(item.parsed) for item in loaded])
    archived, folders = set(), set()
    for item in loaded:
        if store.key(item.parsed) not in stored:
            folders |= archive.folders_of(data_dir, archive.archive_raw(data_dir, item.entry.path,
                                                                        item.parsed.content_hash))
            archived.add(item.entry.path)
    archive.sync_dirs(folders)
    if not config.database_url.startswith("postgresql"):  # PostgreSQL makes its index's terms itself
        search_terms.make_ahead([text for item in loaded if isinstance(item.row, InboundMessage)
                                 and getattr(item.classification, "kind", None) == MessageKind.protocol
                                 for text in (item.row.subject, item.row.text)])
    return _Ahead(directory, archived)


def _store_batch(config: Config, loaded: list[Loaded], ahead: _Ahead, full: bool,
                 guarded: bool) -> list[IngestResult]:
    """With `guarded`, each message in a savepoint of its own, so that one that raises goes to quarantine and
    the others stay; without, the batch costs a savepoint per message less (a tenth of filing) and a message
    that raises makes the caller file the batch again, guarded."""
    data_dir = config.data_dir
    with alliance_module.unit_of_work(config) as session:
        alliance = alliance_module.current(session, config)
        stored = store.find_duplicates(session, [store.key(item.parsed) for item in loaded])
        filed, archived = [], set()
        for item in loaded:
            existing = stored.get(store.key(item.parsed))
            if existing is not None:
                filed.append((existing, "duplicate"))
                continue
            if item.entry.path in ahead.archived:
                raw_path = archive.archive_path(item.parsed.content_hash)
            else:
                raw_path = archive.archive_raw(data_dir, item.entry.path, item.parsed.content_hash)
                archived |= archive.folders_of(data_dir, raw_path)
            message = _store_one(session, config, alliance, ahead.directory, item, raw_path, guarded)
            stored[store.key(item.parsed)] = message
            filed.append((message, None))
        if not guarded:
            _flush_unguarded(session)
        archive.sync_dirs(archived)  # the archive's links are durable before the spool lets go of the files
        return [IngestResult(store.describe(session, message, status) if full else
                             store.summary(message, status or message.status)) for message, status in filed]


def _store_one(session: Session, config: Config, alliance: Alliance, directory: Directory, item: Loaded,
               raw_path: str, guarded: bool) -> InboundMessage:
    """The message's row, filed; or, when a step raises, its row in quarantine."""
    step = Step()
    if not guarded:
        try:
            message = fresh_row(item, raw_path)
            file_into(session, config, alliance, directory, message, item, step, flush=False)
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
            message = fresh_row(item, raw_path)
            file_into(session, config, alliance, directory, message, item, step)
            return message
    except (OperationalError, OSError):
        raise  # the database or the disk, not this message: it stays in the spool and is filed again
    except Exception as exc:
        log.exception("could not file message %s (step %s); it goes to quarantine", item.parsed.message_id,
                      step.name)
        return _quarantined(session, item, raw_path, step.name, exc)


def _flush_unguarded(session: Session) -> None:
    """The batch's new rows in one flush, not one a message (PostgreSQL takes them in one INSERT; on SQLite the
    write transaction's share of filing's CPU went from 0.28 to 0.20); a row that the database refuses makes
    the caller file the batch again, each message in its savepoint."""
    try:
        session.flush()
    except (OperationalError, OSError):
        raise
    except Exception as exc:
        raise _Unguarded from exc


def _quarantined(session: Session, item: Loaded, raw_path: str, stage: str, error: Exception) -> InboundMessage:
    try:
        return _keep(session, store.new_row, item, raw_path, stage, error)
    except (OperationalError, OSError):
        raise
    except Exception:  # the parsed values themselves are the trouble: the raw bytes stay the record
        log.exception("could not keep message %s with what was parsed of it", item.parsed.message_id)
        return _keep(session, store.bare_row, item, raw_path, stage, error)


def _keep(session: Session, make_row, item: Loaded, raw_path: str, stage: str, error: Exception) -> InboundMessage:
    with session.begin_nested():
        message = make_row(item.entry, item.parsed, raw_path, len(item.raw))
        store.quarantine(message, stage, error, steps.reason(stage), utcnow())
        session.add(message)
        session.flush()
        return message


