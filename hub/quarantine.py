"""Quarantine: a message that made a step of filing raise is kept with the step, the error and the time
(status "quarantined", `store.quarantine`), and filing goes on with the next one, as Mailman's runners move
such a message to their shunt queue. After an upgrade `retry` files it again (`hub protocols retry`, the web's
button); `review.reject` closes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from hub import alliance as alliance_module
from hub import filing, filing_steps, follow_up, steps
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound
from hub.i18n import _
from hub.inbound import spool, store
from hub.inbound.authentication import Verdict
from hub.inbound.mime import DocumentReader
from hub.models import InboundMessage, MessageStatus

log = logging.getLogger("hub")


def retry(session: Session, config: Config, message_id: int,
          read_document: DocumentReader | None = None) -> InboundMessage:
    """File a quarantined message again from its raw bytes (after an upgrade that fixed the step that failed),
    and follow up a protocol at once. If a step fails again it stays in quarantine with the new error."""
    message = session.get(InboundMessage, message_id)
    if message is None:
        raise NotFound(_("keine Nachricht mit der Nummer %(id)s; siehe `hub protocols list`") % {"id": message_id})
    if message.status != MessageStatus.quarantined:
        raise HubError(_("Nachricht %(id)s ist nicht in Quarantäne (%(status)s)")
                       % {"id": message_id, "status": message.status})
    raw = (config.data_dir / message.raw_path).read_bytes()
    entry = spool.SpoolEntry(path=Path(message.raw_path), via=message.received_via,
                             envelope_from=message.envelope_from, envelope_to=list(message.envelope_to),
                             received_at=message.received_at)
    with filing.reader(config, read_document) as read:
        item = filing_steps.parse_entry(raw, entry, read)
    # The verdict of when it came (its client IP is not kept; DNS may have changed since)
    item.verdict = (Verdict(message.sender_verified, "", message.authentication) if message.authentication
                    else filing_steps.authenticate(config, item).verdict)
    alliance = alliance_module.current(session, config)
    directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
    step = filing_steps.Step()
    try:
        with session.begin_nested():
            if item.fault is not None:
                step.name = steps.PARSE
                raise item.fault
            for column, value in store.new_row(entry, item.parsed, message.raw_path, len(raw)).model_dump(
                    exclude={"id", "message_id", "content_hash"}).items():
                setattr(message, column, value)
            store.detach(session, message)
            filing_steps.file_into(session, config, alliance, directory, message, item, step)
            if follow_up.needs_follow_up(message):
                step.enter(steps.FOLLOW_UP)
                follow_up.after_filing(session, config, message)
    except (OperationalError, OSError):
        raise
    except Exception as exc:
        log.exception("retry of message %s failed again (step %s)", message.message_id, step.name)
        session.refresh(message)
        store.quarantine(message, step.name, exc, steps.reason(step.name), utcnow())
        session.add(message)
    log.info("retried message %s: %s", message.message_id, message.status)
    return message
