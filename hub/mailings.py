"""The hub's own mails to people, wired to the data: welcome mails, bounce notices, double opt-in and unsubscribe
(a filed protocol's receipt and relay are in hub/protocol_mail.py).

The use cases call these after a partner joins (`send_welcome`) and after bounces disabled addresses
(`send_bounce_notice` from hub/delivery.py); the
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
from hub.compose.render import compose, locale_for, office_mail
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError
from hub.i18n import _
from hub.models import (
    AuditLog,
    Delivery,
    Group,
    Membership,
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


class TokenError(HubError):
    """A link that is broken, forged or expired, phrased for the person who clicked it."""


# --- addresses ----------------------------------------------------------------------------------------


def is_robot_address(address: str | None) -> bool:
    """Empty, MAILER-DAEMON, postmaster, noreply and the like: never answered (RFC 3834)."""
    if not address or not address.strip() or address.strip() == "<>":
        return True
    local = address.strip().strip("<>").rpartition("@")[0]
    return not local or bool(ROBOT.match(local))


def pseudonym(config: Config, address: str) -> str:
    """What stands for an address in a dedupe key: a keyed hash, never the address (see signing.pseudonym)."""
    return signing.pseudonym(secret_key(config), address_key(address))


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
        dedupe_key=f"{ref}|{pseudonym(config, config.mail.office_address)}")])


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
    key = pseudonym(config, address)
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
