"""Delivery: what becomes of outgoing mail — the use case behind `hub outbox flush` and `hub serve`'s outbox
process, and of bounces coming back by mail.

The outbound stage sends and records (hub/outbound/deliver.py) and says which addresses its bounces
disabled; telling the Geschäftsstelle about them is a composed mail, so it is sent from here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlmodel import Session

from hub import alliance as alliance_module
from hub import mailings
from hub.config import Config
from hub.inbound.message import BounceInfo
from hub.models import InboundMessage, Partner
from hub.outbound import bounces, deliver
from hub.outbound.delivery_records import FlushResult

log = logging.getLogger("hub.outbound")


def flush(
    config: Config,
    worker_id: str | None = None,
    limit: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FlushResult:
    """Send everything that is due now (at most `limit` rows), then tell the Geschäftsstelle which addresses
    the bounces disabled; returns what became of it."""
    result = deliver.flush(config, worker_id, limit, stop, progress)
    if result.disabled:
        notify_disabled(config, result.disabled)
    return result


def notify_disabled(config: Config, partner_ids: list[int]) -> None:
    """One notice to the Geschäftsstelle for the addresses a flush disabled. The disabling is committed
    already, so a notice that cannot be made is only logged: the partner lists still show the addresses
    as disabled, with the reason."""
    try:
        with alliance_module.unit_of_work(config) as session:
            partners = [p for p in (session.get(Partner, i) for i in partner_ids) if p is not None]
            mailings.send_bounce_notice(session, config, partners)
    except Exception:
        log.exception("could not queue the bounce notice for partners %s", partner_ids)


def record_bounce_report(session: Session, config: Config, message: InboundMessage, bounce: BounceInfo) -> None:
    """A bounce report filed from the inbox: count it, and tell the Geschäftsstelle in the same transaction."""
    disabled = bounces.record_report(session, config, message.envelope_to, bounce.recipients, bounce.permanent,
                                     bounce.status, message.id)
    mailings.send_bounce_notice(session, config, disabled)
