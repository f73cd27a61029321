"""What follows filing, a stage of its own: the sender's receipt, the relay to the group, the proposed meeting.

Mailman's runner per stage: `hub serve` stores a burst first and follows up when the queue is empty, so
senders' mail is safe before any mail is composed. The `followed_up_at` column is the durable queue; each
message's mails and its mark commit together, and a message whose mails cannot be made goes to quarantine
without holding up the others.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from hub import mailings, steps, tasks
from hub.config import Config
from hub.db import session_scope, utcnow
from hub.failpoints import failpoint
from hub.inbound import store
from hub.models import InboundMessage, MessageKind, MessageStatus
from hub.scheduler import meetings as scheduled_meetings

log = logging.getLogger("hub")

STAGE = steps.FOLLOW_UP


def needs_follow_up(message: InboundMessage) -> bool:
    """A protocol filed or held gets a receipt, a relay and a proposed meeting; not one whose sender failed the
    sender check (`sender_verified` False): its From may be forged, an answer would be backscatter."""
    return (message.kind == MessageKind.protocol and message.status in (MessageStatus.filed, MessageStatus.held)
            and message.sender_verified is not False)


def follow_up(config: Config, limit: int = 50) -> int:
    """Receipts, relays and proposed meetings for protocols filed or held since: returns how many were done."""
    with session_scope(config.database_url) as session:
        query = (
            select(InboundMessage)
            .where(InboundMessage.followed_up_at.is_(None), InboundMessage.kind == MessageKind.protocol,
                   InboundMessage.status.in_((MessageStatus.filed, MessageStatus.held)))
            .order_by(InboundMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a second hub process takes other rows
        pending = session.exec(query).all()
        for message in pending:
            try:
                with session.begin_nested():
                    after_filing(session, config, message)
            except Exception as exc:  # one protocol whose mails cannot be made must not stop the others
                log.exception("could not send the receipt or relay for message %s; it goes to quarantine",
                              message.message_id)
                store.quarantine(message, STAGE, exc, steps.reason(STAGE), utcnow())
                session.add(message)
        return len(pending)


def follow_up_all(config: Config) -> None:
    """Everything `follow_up` has waiting; errors are logged (the queue keeps what was not done)."""
    try:
        while follow_up(config):
            pass
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again later")


def after_filing(session: Session, config: Config, message: InboundMessage) -> None:
    """A filed or held protocol: the sender's receipt, the relay to the group, the next meeting proposed, its
    tasks recorded (and those it reports done closed)."""
    failpoint(STAGE)
    mailings.send_receipt(session, config, message)
    mailings.relay_protocol(session, config, message)
    scheduled_meetings.propose_from_protocol(session, config, message)
    tasks.record_from_protocol(session, config, message)
    message.followed_up_at = utcnow()
    session.add(message)
