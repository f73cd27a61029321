"""The hub's own mails to people, wired to the data: receipts, relays, welcome mails, bounce notices,
double opt-in and unsubscribe.

The use cases call these after filing (`send_receipt`, `relay_protocol` from hub/filing.py), after a partner
joins (`send_welcome`) and after bounces disabled addresses (`send_bounce_notice` from hub/delivery.py); the
web's public pages call `unsubscribe`, `subscribe_request` and `subscribe_confirm`. Every mail goes through
compose and the outbox.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import partners as registry
from hub import signing
from hub.addresses import InvalidAddress, address_key, needs_smtputf8, normalise_address
from hub.compose.render import by_locale, compose, locale_for, office_mail
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError
from hub.i18n import _
from hub.models import (
    AuditLog,
    Delivery,
    Group,
    InboundMessage,
    Membership,
    MessageAttachment,
    MessageKind,
    MessageStatus,
    OutboundMail,
    Partner,
    Role,
)
from hub.outbound import outbox
from hub.secret import secret_key

ROBOT = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|donotreply|bounces?|noreply-.*|"
                   r"no_reply|.*-bounces?|.*\+bounces?.*|auto-?reply|nicht-?antworten)$", re.IGNORECASE)
CONFIRM_DAYS = 7
CONFIRM_INTERVAL = timedelta(hours=24)  # at most one confirmation mail per address in this time
SUBSCRIBE_PER_CLIENT = 10  # requests on /subscribe from one client address …
SUBSCRIBE_CLIENT_WINDOW = timedelta(hours=1)  # … in this time
RELAY_TEXT_LIMIT = 30_000


class TokenError(HubError):
    """A link that is broken, forged or expired, phrased for the person who clicked it."""


# --- addresses ----------------------------------------------------------------------------------------


def is_robot_address(address: str | None) -> bool:
    """Empty, MAILER-DAEMON, postmaster, noreply and the like: never answered (RFC 3834)."""
    if not address or not address.strip() or address.strip() == "<>":
        return True
    local = address.strip().strip("<>").rpartition("@")[0]
    return not local or bool(ROBOT.match(local))


def _pseudonym(config: Config, address: str) -> str:
    """What stands for an address in a dedupe key: a keyed hash, never the address (see signing.pseudonym)."""
    return signing.pseudonym(secret_key(config), address_key(address))


def _own_address(config: Config, address: str) -> bool:
    return address_key(address).rpartition("@")[2] == config.alliance.domain


# --- receipts -----------------------------------------------------------------------------------------


def send_receipt(session: Session, config: Config, message: InboundMessage) -> outbox.EnqueueResult | None:
    """Tell the sender that the protocol was filed under its group, and what was recognised (`receipt`)."""
    made = receipt(session, config, message)
    return outbox.enqueue(session, made.mail, made.recipients) if made else None


def receipt(session: Session, config: Config, message: InboundMessage) -> outbox.Composed | None:
    """The receipt for a filed protocol, composed (only reading): `send_receipt` queues it.

    Only to a partner in the registry whose mail passed the sender check, and only for a filed protocol: an
    answer to an unknown, unauthenticated or held sender may go to a forged address (backscatter). A held
    protocol gets its receipt when the Geschäftsstelle files it. Never to robots or the hub's own domain.
    """
    if message.kind != MessageKind.protocol or message.status != MessageStatus.filed or message.group_id is None:
        return None
    if message.partner_id is None or message.sender_verified is False:
        return None
    if is_robot_address(message.sender) or is_robot_address(message.envelope_from or message.sender):
        return None
    try:
        address = normalise_address(message.sender)
    except InvalidAddress:
        return None
    if _own_address(config, address):
        return None
    partner = session.get(Partner, message.partner_id)
    group = session.get(Group, message.group_id)
    context = {
        "name": (partner.name if partner else "") or message.sender_name,
        "group": group.name,
        "protocol_subject": message.subject or "",
        "received_at": message.received_at,
        "meeting_date": message.meeting_date,
        "next_meeting": message.next_meeting_start,
        "next_meeting_location": message.next_meeting_location,
        "tasks": message.tasks,
        "relay": _relay_policy(config, group),
    }
    locale = locale_for(config, partner.language if partner else None)
    composed = compose("receipt", context, locale, config)
    headers = {"Auto-Submitted": "auto-replied"}
    if message.message_id:
        reference = message.message_id if message.message_id.startswith("<") else f"<{message.message_id}>"
        headers |= {"In-Reply-To": reference, "References": reference}
    mail = office_mail(config, "receipt", composed, f"receipt:{message.id}:filed", headers=headers)
    return outbox.Composed(mail, [outbox.Recipient(
        address=address, name=context["name"], partner_id=partner.id if partner else None,
        dedupe_key=f"receipt:{message.id}:filed|{_pseudonym(config, address)}",
    )])


def _relay_policy(config: Config, group: Group) -> str:
    """What happens to the protocol next, for the receipt to say in the sender's language."""
    spec = config.group_by_slug(group.slug)
    return spec.relay if spec else "none"


# --- relays -------------------------------------------------------------------------------------------


def relay_protocol(session: Session, config: Config, message: InboundMessage) -> outbox.EnqueueResult | None:
    """Pass a filed protocol on per its group's `relay` policy: `group`/`all` now, `digest`/`none` not now."""
    made = relays(session, config, message)
    if not made:
        return None
    total = outbox.EnqueueResult(mail_id=0)
    for one in made:
        result = outbox.enqueue(session, one.mail, one.recipients)
        total.mail_id = total.mail_id or result.mail_id
        total.queued += result.queued
        total.duplicates += result.duplicates
        total.skipped += result.skipped
    return total


def relays(session: Session, config: Config, message: InboundMessage) -> list[outbox.Composed]:
    """The relay of a filed protocol, one mail per language of its readers, composed (only reading)."""
    if message.kind != MessageKind.protocol or message.status != MessageStatus.filed or message.group_id is None:
        return None
    group = session.get(Group, message.group_id)
    spec = config.group_by_slug(group.slug) if group else None
    if spec is None or spec.relay not in ("group", "all"):
        return []
    query = select(Partner).where(
        Partner.alliance_id == group.alliance_id, Partner.left_at.is_(None), Partner.forgotten_at.is_(None),
        Partner.disabled_at.is_(None), Partner.email.is_not(None),
    )
    if spec.relay == "group":
        members = select(Membership.partner_id).where(Membership.group_id == group.id, Membership.until.is_(None))
        query = query.where(Partner.id.in_(members))
    sender_key = address_key(message.sender) if message.sender else None
    people = [p for p in session.exec(query.order_by(Partner.id)) if p.email_key != sender_key]
    if not people:
        return []
    rows = session.exec(select(MessageAttachment).where(
        MessageAttachment.message_id == message.id, MessageAttachment.inline.is_(False),
    ).order_by(MessageAttachment.position)).all()
    attachments = [{"blob": a.blob_sha256, "filename": a.filename or "anhang", "content_type": a.content_type}
                   for a in rows]
    sender = session.get(Partner, message.partner_id) if message.partner_id else None
    text = message.text if len(message.text) <= RELAY_TEXT_LIMIT else message.text[:RELAY_TEXT_LIMIT] + "\n[…]"
    made = []
    for locale, recipients in by_locale(config, people).items():
        context = {
            "group": group.name, "protocol_subject": message.subject or "Protokoll",
            "sender_name": (sender.name if sender else "") or message.sender_name,
            "meeting_date": message.meeting_date, "next_meeting": message.next_meeting_start,
            "next_meeting_location": message.next_meeting_location, "tasks": message.tasks, "text": text,
            "attachments": [a["filename"] for a in attachments],
            "attachments_included": spec.relay_attachments,
        }
        mail = office_mail(config, "relay", compose("relay", context, locale, config), f"relay:{message.id}:{locale}")
        if spec.relay_attachments:
            mail.attachments = attachments
        made.append(outbox.Composed(mail, [
            outbox.Recipient(address=p.email, name=p.name, partner_id=p.id,
                             dedupe_key=f"relay:{message.id}|{_pseudonym(config, p.email)}") for p in recipients
        ]))
    return made


# --- welcome ------------------------------------------------------------------------------------------


def send_welcome(session: Session, config: Config, partner: Partner) -> bool:
    """The welcome mail, exactly once per partner (`Partner.welcome_sent_at`); True if queued now."""
    if partner.welcome_sent_at is not None or partner.left_at or partner.forgotten_at or not partner.email:
        return False
    claimed = session.execute(
        sa.update(Partner).where(Partner.id == partner.id, Partner.welcome_sent_at.is_(None))
        .values(welcome_sent_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(partner)
    if not claimed:
        return False
    alliance = alliance_module.current(session, config)
    groups = [g for g in alliance_module.groups(session, alliance) if g.kind == "group"]
    mine = session.exec(select(Group.name).join(Membership, Membership.group_id == Group.id).where(
        Membership.partner_id == partner.id, Membership.until.is_(None)).order_by(Group.id)).all()
    context = {
        "name": partner.name,
        "groups": [{"name": g.name, "address": f"{g.aliases[0] if g.aliases else g.slug}@{config.alliance.domain}"}
                   for g in groups],
        "my_groups": list(mine),
        "newsletter": partner.newsletter,
        "unsubscribe_url": unsubscribe_url(config, partner.id) if partner.newsletter else None,
    }
    composed = compose("welcome", context, locale_for(config, partner.language), config)
    mail = office_mail(config, "welcome", composed, f"welcome:{partner.id}")
    outbox.enqueue(session, mail, [outbox.Recipient(address=partner.email, name=partner.name, partner_id=partner.id,
                                                     dedupe_key=f"welcome:{partner.id}")])
    return True


def welcome_new(session: Session, config: Config, emails: list[str]) -> int:
    """The welcome mail to each of these partners who has not had it (after an import or `partners add`)."""
    alliance = alliance_module.current(session, config)
    sent = 0
    for email in emails:
        partner = registry.find(session, alliance, email)
        if partner is not None and send_welcome(session, config, partner):
            sent += 1
    return sent


# --- bounces ------------------------------------------------------------------------------------------


def send_bounce_notice(session: Session, config: Config, partners: list[Partner]) -> outbox.EnqueueResult | None:
    """Tell the Geschäftsstelle which addresses were disabled after bounces (one mail for the lot)."""
    partners = [p for p in partners if p.disabled_at is not None and p.email]
    if not partners:
        return None
    context = {"addresses": [{"address": p.email, "name": p.name, "organisation": p.organisation,
                              "reason": p.disabled_reason or ""} for p in partners]}
    composed = compose("bounce_notice", context, config.alliance.language, config)
    stamp = ",".join(str(p.id) for p in partners)
    ref = "bounce_notice:" + hashlib.sha256(stamp.encode()).hexdigest()[:16]
    mail = office_mail(config, "bounce_notice", composed, ref)
    return outbox.enqueue(session, mail, [outbox.Recipient(
        address=config.mail.office_address, name=config.alliance.name,
        dedupe_key=f"{ref}|{_pseudonym(config, config.mail.office_address)}")])


# --- signed tokens ------------------------------------------------------------------------------------


def unsubscribe_token(config: Config, partner_id: int) -> str:
    """A short signed token that never expires: links in mails already sent keep working."""
    return signing.sign(secret_key(config), "unsubscribe", str(partner_id))


def unsubscribe_url(config: Config, partner_id: int) -> str:
    return f"{config.web.base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(config, partner_id)}"


def unsubscribe(session: Session, config: Config, token: str) -> Partner:
    """One-click unsubscribe (link or RFC 8058 POST): the newsletter consent is withdrawn; idempotent."""
    partner_id = signing.unsign(secret_key(config), "unsubscribe", token)
    if partner_id is None or not (partner_id.isascii() and partner_id.isdigit()):
        raise TokenError(_("Dieser Abmeldelink ist ungültig. Bitte verwenden Sie den vollständigen Link aus der "
                           "E-Mail oder schreiben Sie der Geschäftsstelle."))
    partner = session.get(Partner, int(partner_id))
    if partner is None:
        raise TokenError(_("Zu diesem Abmeldelink gibt es keine Adresse mehr; Sie erhalten keine E-Mails von uns."))
    registry.set_newsletter(session, partner, False, source="unsubscribe", detail="link")
    return partner


def unsubscribe_by_mail(session: Session, config: Config, sender: str | None,
                        verified: bool = True) -> Partner | None:
    """A mail to the unsubscribe address (`abmelden@`) from a partner's address.

    `verified`: the sender passed the sender check (`InboundMessage.sender_verified`; a hub without the check
    passes True). Then the consent is withdrawn at once. An unauthenticated `From:` may be forged, so then
    nothing changes: the partner's own address gets a confirmation mail with the signed unsubscribe link (at
    most one per `CONFIRM_INTERVAL`). Returns the partner, or None when the sender is unknown (nothing to do;
    the mail is only recorded)."""
    if not sender or is_robot_address(sender):
        return None
    alliance = alliance_module.current(session, config)
    partner = registry.find(session, alliance, sender)
    if partner is None:
        return None
    if not verified:
        if partner.newsletter and partner.email and not _confirmed_recently(session, "unsubscribe_confirm",
                                                                              partner.email):
            _confirmation_mail(session, config, "unsubscribe_confirm", partner.email,
                               unsubscribe_url(config, partner.id), None, partner.language, partner.id)
        return partner
    registry.set_newsletter(session, partner, False, source="unsubscribe", detail="mailto")
    return partner


def _encode(config: Config, purpose: str, data: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    return signing.sign(secret_key(config), purpose, payload, 32)


def _decode(config: Config, purpose: str, token: str) -> dict:
    payload = signing.unsign(secret_key(config), purpose, token, 32)
    if payload is None:
        raise TokenError(_("Dieser Bestätigungslink ist ungültig. Bitte verwenden Sie den vollständigen Link aus "
                           "der E-Mail."))
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        raise TokenError(_("Dieser Bestätigungslink ist beschädigt. Bitte melden Sie sich erneut an.")) from None


def subscribe_token(config: Config, email: str, now: datetime | None = None) -> str:
    """The signed link of the confirmation mail: the address and when the link expires, nothing else."""
    expires = (now or utcnow()) + timedelta(days=CONFIRM_DAYS)
    return _encode(config, "subscribe", {"e": email, "x": int(expires.timestamp())})


class TooManyRequests(HubError):
    """The public page was used too often from one client address; phrased for the person there."""


def subscribe_request(session: Session, config: Config, email: str, language: str | None = None,
                      client: str = "") -> outbox.EnqueueResult | None:
    """Double opt-in, step one: a mail with a signed link that expires after seven days. Nothing is stored
    about the person until they confirm, and the mail carries nothing the requester typed but the address.

    At most one confirmation mail per address per `CONFIRM_INTERVAL` (a second request within it is answered
    like the first, without a mail: the page does not tell whether an address is known); at most
    `SUBSCRIBE_PER_CLIENT` requests per `SUBSCRIBE_CLIENT_WINDOW` from one client address (`client`, counted in
    the audit log, which the web writes for every request it passes on). Both survive a restart."""
    if client and _requests_from(session, client) >= SUBSCRIBE_PER_CLIENT:
        raise TooManyRequests(_("Von Ihrem Anschluss kamen gerade viele Anmeldungen. Bitte versuchen Sie es in "
                                "einer Stunde noch einmal."))
    try:
        address = normalise_address(email)
    except InvalidAddress:
        raise HubError(_("Bitte geben Sie eine vollständige E-Mail-Adresse an, etwa name@beispiel.de.")) from None
    if needs_smtputf8(address) and not (config.smtp and config.smtp.smtputf8):
        raise HubError(_("An Adressen mit Umlauten oder anderen Sonderzeichen vor dem @ können wir leider nicht "
                         "schreiben. Bitte geben Sie eine andere Adresse an."))
    if _confirmed_recently(session, "subscribe_confirm", address):
        return None
    now = utcnow()
    token = subscribe_token(config, address, now)
    url = f"{config.web.base_url.rstrip('/')}/subscribe/confirm/{token}"
    return _confirmation_mail(session, config, "subscribe_confirm", address, url, now + timedelta(days=CONFIRM_DAYS),
                              language, None, now)


def _confirmation_mail(session: Session, config: Config, kind: str, address: str, url: str,
                       expires_at: datetime | None, language: str | None, partner_id: int | None,
                       now: datetime | None = None) -> outbox.EnqueueResult:
    """The mail that asks the owner of `address` to confirm a newsletter subscription (`subscribe_confirm`) or
    its end (`unsubscribe_confirm`) with one click; no name, nothing anyone typed. The dedupe key per day is a
    second guard behind `_confirmed_recently` for two requests at the same moment."""
    now = now or utcnow()
    context = {"action": "unsubscribe" if kind == "unsubscribe_confirm" else "subscribe", "confirm_url": url,
               "expires_at": expires_at}
    composed = compose("subscribe_confirm", context, locale_for(config, language), config)
    key = _pseudonym(config, address)
    day = int(now.timestamp()) // 86_400
    mail = office_mail(config, kind, composed, f"{kind}:{key}:{day}")
    return outbox.enqueue(session, mail, [outbox.Recipient(address=address, partner_id=partner_id,
                                                           dedupe_key=f"{kind}|{key}|{day}")])


def _confirmed_recently(session: Session, kind: str, address: str) -> bool:
    """Whether a confirmation mail of `kind` went to this address within `CONFIRM_INTERVAL` (the outbox keeps
    every mail as a row, so this holds across restarts)."""
    since = utcnow() - CONFIRM_INTERVAL
    return session.exec(select(Delivery.id).join(OutboundMail, OutboundMail.id == Delivery.mail_id).where(
        OutboundMail.kind == kind, Delivery.created_at >= since,
        sa.func.lower(Delivery.recipient) == address_key(address),
    ).limit(1)).first() is not None


def _requests_from(session: Session, client: str) -> int:
    since = utcnow() - SUBSCRIBE_CLIENT_WINDOW
    return session.exec(select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "public.subscribe_request", AuditLog.ip == client, AuditLog.at >= since)).one()


def subscribe_confirm(session: Session, config: Config, token: str, now: datetime | None = None, name: str = "",
                      organisation: str = "") -> Partner:
    """Double opt-in, step two: the person exists with newsletter consent, and gets the welcome mail.

    Someone new is a public subscriber (`Partner.audience` "public"): a newsletter reader only, never listed in
    the newsletter, until a coordinator approves them; `name` and `organisation` are what they typed on the
    confirmation page (kept for the coordinator, shown to nobody else). A partner of the registry only gets
    the newsletter consent back."""
    data = _decode(config, "subscribe", token)
    if (now or utcnow()).timestamp() > data.get("x", 0):
        raise TokenError(_("Dieser Bestätigungslink ist abgelaufen. Bitte melden Sie sich erneut an; der neue Link "
                           "gilt %(days)s Tage.") % {"days": CONFIRM_DAYS})
    alliance = alliance_module.current(session, config)
    partner = registry.find(session, alliance, data["e"])
    if partner is None or partner.left_at is not None or partner.forgotten_at is not None:
        row = registry.PartnerRow(name=name.strip()[:200], organisation=organisation.strip()[:200],
                                  email=data["e"], groups=(), role=Role.member, newsletter=True,
                                  audience=registry.PUBLIC)
        registry.upsert(session, alliance, row, source="opt-in")
        partner = registry.find(session, alliance, data["e"])
    else:
        registry.set_newsletter(session, partner, True, source="opt-in", detail="double opt-in")
    session.flush()
    send_welcome(session, config, partner)
    return partner
