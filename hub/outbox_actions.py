"""What a coordinator does with the outbox, called by `hub outbox …` and the web's Postausgang: look at the
deliveries of the alliance, send one again, send all failed ones again, or cancel one. Sending itself is
`hub.delivery`.
"""

from __future__ import annotations

from sqlmodel import Session

from hub import queries
from hub.errors import NotFound
from hub.i18n import _
from hub.models import Alliance, Delivery, OutboundMail
from hub.outbound import outbox


def counts(session: Session, alliance: Alliance) -> dict[str, int]:
    """Deliveries by state, every state present (0 when none)."""
    return {state: 0 for state in outbox.STATES} | queries.delivery_counts(session, alliance.id)


def listing(session: Session, alliance: Alliance, state: str | None = None, limit: int = 200) -> list[dict]:
    """Newest first, as plain data."""
    return [_described(d, m) for d, m in queries.deliveries(session, alliance.id, state, limit)]


def get(session: Session, alliance: Alliance, delivery_id: int) -> Delivery:
    found = queries.delivery(session, alliance.id, delivery_id)
    if found is None:
        raise NotFound(_("keine Zustellung %(id)s im Postausgang; siehe `hub outbox list`") % {"id": delivery_id})
    return found


def show(session: Session, alliance: Alliance, delivery_id: int) -> dict:
    found = get(session, alliance, delivery_id)
    return _described(found, session.get(OutboundMail, found.mail_id))


def retry(session: Session, alliance: Alliance, delivery_id: int) -> int:
    """Send a failed, deferred, cancelled or waiting delivery now; sent and sending ones are refused."""
    return outbox.retry(session, get(session, alliance, delivery_id).id)


def retry_failed(session: Session, alliance: Alliance) -> int:
    """Every failed delivery of the alliance again; returns how many."""
    return sum(outbox.retry(session, delivery_id) for delivery_id in queries.failed_delivery_ids(session,
                                                                                                 alliance.id))


def cancel(session: Session, alliance: Alliance, delivery_id: int) -> Delivery:
    """Do not send this delivery; sent, sending and cancelled ones are refused."""
    return outbox.cancel(session, get(session, alliance, delivery_id).id)


def _described(delivery: Delivery, mail: OutboundMail) -> dict:
    """A delivery as plain data (`hub outbox list --json`, the web's Postausgang)."""

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "id": delivery.id, "mail_id": mail.id, "kind": mail.kind, "subject": mail.subject,
        "recipient": delivery.recipient, "recipient_name": delivery.recipient_name, "state": delivery.state,
        "attempts": delivery.attempts, "next_attempt_at": iso(delivery.next_attempt_at),
        "created_at": iso(delivery.created_at), "sent_at": iso(delivery.sent_at),
        "last_reply": delivery.last_reply, "message_id": delivery.smtp_message_id,
        "leased_by": delivery.leased_by, "lease_until": iso(delivery.lease_until),
        "source_ref": mail.source_ref,
    }
