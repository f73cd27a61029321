"""The review queue: the coordinator's decisions on held mail — assign to a group, release, reject — and the
one view of a stored message. `hub protocols …` and the web's review pages both call these."""

from __future__ import annotations

from sqlmodel import Session

from hub import alliance as alliance_module
from hub import follow_up
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound, UsageError
from hub.i18n import _
from hub.inbound import store
from hub.models import InboundMessage, MessageKind, MessageStatus


def show(session: Session, message_id: int) -> dict:
    """The stored message as `hub protocols show --json` prints it."""
    return store.describe(session, _message(session, message_id))


def assign(session: Session, config: Config, message_id: int, slug: str, by: str = "cli") -> InboundMessage:
    """File the message under a group (held, or filed under another one); a first filing is followed up."""
    message = _message(session, message_id)
    alliance = alliance_module.current(session, config)
    group_id = store.active_group_id(session, alliance.id, slug)
    if group_id is None:
        raise NotFound(_("unbekannte Gruppe %(slug)r; siehe `hub groups list`") % {"slug": slug})
    _not_quarantined(message)
    if message.kind in ("bounce", "autoreply"):
        raise HubError(_("Nachricht %(id)s ist kein Protokoll (%(kind)s); sie kann nicht abgelegt werden")
                       % {"id": message_id, "kind": message.kind})
    was_filed = message.status == MessageStatus.filed
    message.group_id = group_id
    message.kind = MessageKind.protocol
    _decide(message, MessageStatus.filed, by,
            _("Von %(by)s der Gruppe %(slug)s zugeordnet.") % {"by": by, "slug": slug})
    session.add(message)
    if not was_filed:
        follow_up.after_filing(session, config, message)
    return message


def release(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    """File a held message under the group routing found for it."""
    message = _message(session, message_id)
    _not_quarantined(message)
    if message.status != MessageStatus.held:
        raise HubError(_("Nachricht %(id)s ist nicht zur Prüfung zurückgehalten (%(status)s)")
                       % {"id": message_id, "status": message.status})
    if message.group_id is None:
        raise UsageError(_("Nachricht %(id)s hat noch keine Gruppe; nehmen Sie `hub protocols assign %(id)s KÜRZEL`")
                         % {"id": message_id})
    message.kind = "protocol"
    _decide(message, MessageStatus.filed, by, _("Von %(by)s freigegeben.") % {"by": by})
    session.add(message)
    follow_up.after_filing(session, config, message)
    return message


def reject(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    if message.status == MessageStatus.rejected:
        raise HubError(_("Nachricht %(id)s ist schon abgelehnt") % {"id": message_id})
    _decide(message, MessageStatus.rejected, by, _("Von %(by)s abgelehnt.") % {"by": by})
    session.add(message)
    return message


def _not_quarantined(message: InboundMessage) -> None:
    """A message that could not be processed is filed again from its bytes or rejected, never filed as it is."""
    if message.status == MessageStatus.quarantined:
        raise HubError(_("Nachricht %(id)s konnte nicht verarbeitet werden: erst erneut versuchen "
                         "(`hub protocols retry %(id)s`) oder ablehnen") % {"id": message.id})


def _decide(message: InboundMessage, status: str, by: str, reason: str) -> None:
    message.status = status
    message.reason = _("%(reason)s (vorher: %(before)s)") % {"reason": reason, "before": message.reason} \
        if message.reason else reason
    message.decided_by = by
    message.decided_at = utcnow()


def _message(session: Session, message_id: int) -> InboundMessage:
    message = session.get(InboundMessage, message_id)
    if message is None:
        raise NotFound(_("keine Nachricht mit der Nummer %(id)s; siehe `hub protocols list`") % {"id": message_id})
    return message
