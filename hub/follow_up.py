"""What follows filing, a stage of its own: the sender's receipt, the relay to the group, the proposed meeting.

Mailman's runner per stage: `hub serve` runs it in the outbox process, beside the filing process. The
`followed_up_at` column is the durable queue; each message's mails and its mark commit together, and a message
whose mails cannot be made goes to quarantine without holding up the others.

On SQLite the mails are composed first, in a transaction that only reads, and queued after in a short one:
composing is most of the work, and the one write lock it would hold is what the filing process needs meanwhile.
On PostgreSQL they are composed once the batch's rows are locked (another node skips them). Either way a batch
whose mails could all be made is queued with one INSERT.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import protocol_mail, steps, tasks
from hub.compose import render
from hub.config import Config
from hub.db import utcnow
from hub.failpoints import failpoint
from hub.inbound import store
from hub.models import Group, InboundMessage, MessageKind, MessageStatus, Partner
from hub.outbound import outbox
from hub.scheduler import meetings as scheduled_meetings

log = logging.getLogger("hub")

STAGE = steps.FOLLOW_UP


def needs_follow_up(message: InboundMessage) -> bool:
    """A protocol filed or held gets a receipt, a relay and a proposed meeting; not one whose sender failed the
    sender check (`sender_verified` False): its From may be forged, an answer would be backscatter."""
    return (message.kind == MessageKind.protocol and message.status in (MessageStatus.filed, MessageStatus.held)
            and message.sender_verified is not False)


def warm_up(config: Config) -> None:
    """The receipt's and relay's templates compiled before the first protocol waits for them."""
    render.warm_up(config, ("receipt", "relay"))


def follow_up(config: Config, limit: int = 50) -> int:
    """Receipts, relays and proposed meetings for protocols filed or held since: returns how many were done."""
    postgres = config.database_url.startswith("postgresql")
    seen, composed = ([], {}) if postgres else _compose_ahead(config, limit)
    if not postgres and not seen:
        return 0
    with alliance_module.unit_of_work(config) as session:
        query = _pending(limit)
        if postgres:
            query = query.with_for_update(skip_locked=True)  # a second hub process takes other rows
        else:  # those composed ahead: one filed meanwhile would send the whole batch the slow way, one by one
            query = query.where(InboundMessage.id.in_(seen))
        pending = session.exec(query).all()
        _held = _hold_groups_and_senders(session, pending)  # for the whole loop
        readers: protocol_mail.Readers = {}
        if postgres:  # its rows are locked now; composing holds no lock anyone else waits for
            made = _composed_each(session, config, pending, readers)
        else:
            made = {m.id: ahead[1] for m in pending if (ahead := composed.get(m.id)) and ahead[0] == _state(m)}
        if pending and len(made) == len(pending):
            if _queued_together(session, config, pending, made, readers):
                return len(pending)
            made = {}  # its mails were in the savepoint rolled back: they are made again
        for message in pending:  # each in a savepoint of its own, its mails composed again if need be
            try:
                with session.begin_nested():
                    after_filing(session, config, message, made.get(message.id), readers)
            except Exception as exc:  # one protocol whose mails cannot be made must not stop the others
                log.exception("could not send the receipt or relay for message %s; it goes to quarantine",
                              message.message_id)
                store.quarantine(message, STAGE, exc, steps.reason(STAGE), utcnow())
                session.add(message)
        return len(pending)


def _queued_together(session: Session, config: Config, messages: list[InboundMessage],
                     made: dict[int, list[protocol_mail.Composed]], readers: protocol_mail.Readers) -> bool:
    """A batch whose mails were all composed ahead, queued with one read of the partners and one INSERT
    (`outbox.enqueue_many`): queueing holds SQLite's one write lock, which filing waits for. False, with
    nothing kept, when anything of it raises: then the caller follows up each protocol on its own, and only
    the one that fails goes to quarantine."""
    try:
        with session.begin_nested():
            outbox.enqueue_many(session, [(one.mail, one.recipients) for m in messages for one in made[m.id]])
            for message in messages:
                after_filing(session, config, message, [], readers)  # its mails are queued above
        return True
    except Exception:
        log.info("following up %d protocols together failed; each on its own now", len(messages), exc_info=True)
        return False


def _hold_groups_and_senders(session: Session, messages: list[InboundMessage]) -> list:
    """The groups and senders of a batch, loaded in two queries and held for it. The session keeps loaded rows
    only while something refers to them: each `session.get` of the same group or partner for the next protocol
    was a query again, and these were a quarter of following up."""
    group_ids = {m.group_id for m in messages if m.group_id is not None}
    partner_ids = {m.partner_id for m in messages if m.partner_id is not None}
    return [*(session.exec(select(Group).where(Group.id.in_(group_ids))).all() if group_ids else ()),
            *(session.exec(select(Partner).where(Partner.id.in_(partner_ids))).all() if partner_ids else ())]


_WAITING = (InboundMessage.followed_up_at.is_(None), InboundMessage.kind == MessageKind.protocol,
            InboundMessage.status.in_((MessageStatus.filed, MessageStatus.held)))


def _pending(limit: int):
    return select(InboundMessage).where(*_WAITING).order_by(InboundMessage.id).limit(limit)


def alliances_waiting(session: Session) -> set[int]:
    """The alliances with protocols waiting for their follow-up, in one query over all of them (an unscoped
    session)."""
    return set(session.exec(select(InboundMessage.alliance_id).where(*_WAITING).distinct()).all())


def _state(message: InboundMessage) -> tuple:
    """What the mails of a message depend on that may change between composing and queueing (a coordinator
    files or rejects it meanwhile): if it did, they are composed again."""
    return message.status, message.group_id, message.partner_id, message.sender_verified, message.next_meeting_start


Ahead = dict[int, tuple[tuple, list[protocol_mail.Composed]]]  # a message's state and its mails, by its id


def _compose_ahead(config: Config, limit: int) -> tuple[list[int], Ahead]:
    """The protocols waiting, and their mails composed in a transaction that only reads. A message whose mails
    cannot be made here is left to the queueing transaction, which tries again and quarantines it."""
    with alliance_module.unit_of_work(config, read_only=True) as session:
        pending = session.exec(_pending(limit)).all()
        _held = _hold_groups_and_senders(session, pending)  # for the whole loop
        made = _composed_each(session, config, pending, {})
        return [m.id for m in pending], {m.id: (_state(m), made[m.id]) for m in pending if m.id in made}


def _composed_each(session: Session, config: Config, messages: list[InboundMessage],
                   readers: protocol_mail.Readers) -> dict[int, list[protocol_mail.Composed]]:
    """The mails of each message that can be composed; one that cannot is left to the protocol's own savepoint,
    which tries again and quarantines it."""
    composed = {}
    for message in messages:
        try:
            composed[message.id] = compose_mails(session, config, message, readers)
        except Exception:
            log.debug("composing failed for message %s", message.id, exc_info=True)
    return composed


def compose_mails(session: Session, config: Config, message: InboundMessage,
                  readers: protocol_mail.Readers | None = None) -> list[protocol_mail.Composed]:
    """The receipt and the relays a filed protocol gets (none for a held one)."""
    receipt = protocol_mail.receipt(session, config, message)
    return ([receipt] if receipt else []) + protocol_mail.relays(session, config, message, readers)


def follow_up_all(config: Config) -> None:
    """Everything `follow_up` has waiting; errors are logged (the queue keeps what was not done)."""
    try:
        while follow_up(config):
            pass
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again later")


def after_filing(session: Session, config: Config, message: InboundMessage,
                 composed: list[protocol_mail.Composed] | None = None,
                 readers: protocol_mail.Readers | None = None) -> None:
    """A filed or held protocol: the sender's receipt, the relay to the group (`composed` ahead, or made now),
    the next meeting proposed, its tasks recorded (and those it reports done closed)."""
    failpoint(STAGE)
    if composed is None:
        protocol_mail.send_receipt(session, config, message)
        protocol_mail.relay_protocol(session, config, message, readers)
    else:
        for made in composed:
            outbox.enqueue(session, made.mail, made.recipients)
    scheduled_meetings.propose_from_protocol(session, config, message)
    tasks.record_from_protocol(session, config, message)
    message.followed_up_at = utcnow()
    session.add(message)
