"""The database side of a delivery flush (hub/outbound/deliver.py): how much is due, claiming rows with the mails
they carry, and recording what became of each send. The flush runs it in one thread of its own, so that SQLite
sees one writer per process. Only the config's alliance's deliveries: each is signed, and its bounces addressed,
as its alliance's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub.config import Config
from hub.db import engine_for, session_scope, utcnow
from hub.models import Blob, Delivery, DeliveryState, OutboundMail
from hub.outbound import bounces, outbox
from hub.outbound.assemble import Skeleton, skeleton
from hub.outbound.transports import Outcome
from hub.tenancy import scoped_to

log = logging.getLogger("hub.outbound")
_table = Delivery.__table__
SENT = (
    sa.update(_table).where(_table.c.id == sa.bindparam("_id"))
    .values(state=DeliveryState.sent, sent_at=sa.bindparam("_at"), last_reply=sa.bindparam("_reply"),
            smtp_message_id=sa.bindparam("_mid"), lease_until=None, leased_by=None)
)
_mails = OutboundMail.__table__
# The kinds of mail rendered for one person, with their name (or the name of the partner a notice is about) in
# the text: they keep their body only until it is sent (issue 13); then subject, kind and the delivery row stay.
# Mails for many (newsletters, relays, invitations) hold no one's personal values and are kept as they are.
PERSONAL_KINDS = ("receipt", "welcome", "subscribe_confirm", "unsubscribe_confirm", "task_reminder", "bounce_notice")
DROP_PERSONAL_BODIES = (
    sa.update(_mails)
    .where(_mails.c.id.in_(sa.bindparam("_ids", expanding=True)), _mails.c.kind.in_(PERSONAL_KINDS))
    .values(text="", html=None)
)


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0
    transport: str = "maildir"
    unreachable: str | None = None  # why the smarthost could not be reached, if it could not
    seconds: float = 0.0
    disabled: list[int] = field(default_factory=list)  # partners whose address this flush disabled (bounces)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("sent", "deferred", "failed", "cancelled", "released", "transport",
                                               "unreachable", "seconds", "disabled")}



class Records:
    def __init__(self, config: Config, worker_id: str, result: FlushResult) -> None:
        self.config = config
        self.worker_id = worker_id
        self.result = result
        self.skeletons: dict[int, Skeleton] = {}

    def due_count(self) -> int:
        with alliance_module.unit_of_work(self.config) as session:
            return outbox.due_count(session, scoped_to(session))

    def claim(self, limit: int) -> list[tuple[Delivery, Skeleton]]:
        with alliance_module.unit_of_work(self.config) as session:
            cancelled: list[Delivery] = []
            claimed = outbox.claim(session, self.worker_id, limit, self.config.outbox.lease_seconds, cancelled,
                                   scoped_to(session))
            self.result.cancelled += len(cancelled)
        # The mails are read and built after the claim's commit: building them is most of a claim's time, and on
        # SQLite the claim's transaction holds the one write lock that filing waits for meanwhile.
        missing = {d.mail_id for d in claimed} - self.skeletons.keys()
        if missing:
            with alliance_module.unit_of_work(self.config, read_only=True) as session:
                for mail in session.exec(select(OutboundMail).where(OutboundMail.id.in_(missing))):
                    self.skeletons[mail.id] = self._skeleton(session, mail)
        if len(self.skeletons) > 64:
            keep = {d.mail_id for d in claimed}
            self.skeletons = {k: v for k, v in self.skeletons.items() if k in keep}
        return [(d, self.skeletons[d.mail_id]) for d in claimed]

    def _skeleton(self, session: Session, mail: OutboundMail) -> Skeleton:
        shas = [a["blob"] for a in mail.attachments or []]
        blobs = {b.sha256: b for b in session.exec(select(Blob).where(Blob.sha256.in_(shas)))} if shas else {}
        return skeleton(self.config, mail, blobs)

    def apply(self, outcomes: list[Outcome]) -> None:
        self._log(outcomes)
        now = utcnow()
        sent = [{"_id": o.job.delivery_id, "_reply": o.reply[:500], "_mid": o.job.message_id, "_at": now}
                for o in outcomes if o.state == "sent"]
        others = [o for o in outcomes if o.state != "sent"]
        mails = sorted({o.job.mail_id for o in outcomes if o.state == "sent"})
        if not others:
            # The common case, kept lean: it runs once per group commit, thousands of times per newsletter.
            with engine_for(self.config.database_url).begin() as connection:
                connection.execute(SENT, sent)
                connection.execute(DROP_PERSONAL_BODIES, {"_ids": mails})
            return
        disabled: list[int] = []
        with session_scope(self.config.database_url) as session:
            if sent:
                session.connection().execute(SENT, sent)
                session.connection().execute(DROP_PERSONAL_BODIES, {"_ids": mails})
            outbox.release(session, [o.job.delivery_id for o in others if o.state == "released"], self.worker_id)
            for outcome in others:
                if outcome.state in ("deferred", "failed"):
                    disabled += self._apply_failure(session, outcome)
        self.result.disabled += disabled  # only once committed: the caller tells the Geschäftsstelle

    @staticmethod
    def _log(outcomes: list[Outcome]) -> None:
        """One line per event, like an MTA's log: what happened to which delivery and the server's reply."""
        for o in outcomes:
            if o.state == "released":
                continue
            level = logging.WARNING if o.state == "failed" else logging.INFO
            # The delivery's id, never its recipient (logs never name people); a reply that quotes the
            # address gets it masked.
            reply = re.sub(re.escape(o.job.recipient), "<recipient>", o.reply, flags=re.IGNORECASE) \
                if o.job.recipient else o.reply
            log.log(level, "%s delivery %d (mail %d): %s", o.state, o.job.delivery_id, o.job.mail_id,
                    reply[:200] or "-")

    def _apply_failure(self, session: Session, outcome: Outcome) -> list[int]:
        """Record a deferral or a failure; returns the partner whose address this bounce disabled, if any."""
        delivery = session.get(Delivery, outcome.job.delivery_id)
        if delivery is None:
            return []
        permanent = outcome.state == "failed"  # a 5xx; giving up after 4xx replies is a transient bounce
        if outcome.state == "deferred":
            if outbox.mark_deferred(session, self.config, delivery, outcome.reply):
                return []
            outcome.state = "failed"  # past `give_up_hours`: counted as failed
        else:
            outbox.mark_failed(session, delivery, outcome.reply)
        if outcome.bounce_status:
            partner = bounces.record_bounce(session, self.config, delivery.recipient, permanent=permanent,
                                            status=outcome.bounce_status, delivery_id=delivery.id, source="smtp")
            if bounces.newly_disabled(partner):
                return [partner.id]
        return []
