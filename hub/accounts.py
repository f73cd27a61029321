"""Accounts of the web admin, sign-in with a rate limit, and the audit log: the use cases that `hub users`
and the web both call. Plain functions on a session.

The rate limit counts failed sign-ins in the audit log, per account whatever the address (so an attacker
who changes address with every guess gains nothing) and per client address over all accounts, so it holds
across restarts and across several `hub serve` processes sharing one database, with no table of its own.

A session cookie carries the account's `session_version`; signing out and a new password raise it, which
ends every session of that account (on every device, a stolen cookie included). New accounts start at a
random version, so a cookie of a removed account never fits a later one that gets its id or its address.

In an installation of many alliances, the provider's accounts (hub/provider_accounts.py) sign in at every
alliance's admin too: an address that has no account of the alliance may be a provider's. Their failures count
against the account in every alliance's log together, so moving from one alliance's admin to the next gains an
attacker nothing either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, func, select

from hub.addresses import InvalidAddress, address_key, normalise_address
from hub.db import utcnow
from hub.errors import HubError, UsageError
from hub.models import AuditLog, ProviderAccount, WebUser
from hub.tenancy import ACROSS_ALLIANCES

ROLES = ("coordinator", "viewer")
PROVIDER = "provider"  # the role of a provider's account (ProviderAccount), in every alliance
MIN_PASSWORD = 10
FAILED_WINDOW = timedelta(minutes=15)
MAX_FAILED_PER_ACCOUNT = 5  # per account, from any address, within the window: the account waits
MAX_FAILED_PER_IP = 20  # per client address over all accounts within the window: the address waits

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that the answer takes as long either way.
    Made on first use: a hash costs tens of milliseconds, which no `hub` command should pay at import."""
    return _hasher.hash("no such account, but the same amount of work")


class LoginRefused(HubError):
    """Wrong address or password; deliberately does not say which."""


class TooManyAttempts(HubError):
    """Too many failed sign-ins for this account, or from this address: wait and try again."""


@dataclass(frozen=True)
class Actor:
    """Who is acting in a request: a signed-in user (an alliance's account, or a provider's), or the public."""

    email: str
    role: str
    user_id: int | None = None
    provider_id: int | None = None

    @property
    def can_change(self) -> bool:
        return self.role in ("coordinator", PROVIDER)

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None or self.provider_id is not None


PUBLIC = Actor(email="public", role="public")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")


def add_user(session: Session, email: str, password: str, role: str) -> WebUser:
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}")
    try:
        key = address_key(normalise_address(email))
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from None
    check_password(password)
    if session.exec(select(WebUser).where(WebUser.email == key)).first() is not None:
        raise UsageError(f"{key} already has an account; remove it first to change it")
    user = WebUser(email=key, password_hash=hash_password(password), role=role,
                   session_version=secrets.randbelow(2**30))
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[WebUser]:
    return list(session.exec(select(WebUser).order_by(WebUser.email)))


def remove_user(session: Session, email: str) -> None:
    user = find_user(session, email)
    if user is None:
        raise UsageError(f"no account for {email}; see `hub users list`")
    session.delete(user)


def set_password(session: Session, account, password: str) -> None:
    """A new password for an account (an alliance's or a provider's); every session of it ends."""
    check_password(password)
    account.password_hash = hash_password(password)
    end_sessions(session, account)


def end_sessions(session: Session, account) -> None:
    """Every session of the account (an alliance's or a provider's) ends: its cookies carry the old version."""
    account.session_version += 1
    session.add(account)


def change_password(session: Session, email: str, password: str) -> WebUser:
    """A new password for an account; every session of the account ends (it signs in again with the new one)."""
    user = find_user(session, email)
    if user is None:
        raise UsageError(f"no account for {email}; see `hub users list`")
    set_password(session, user, password)
    return user


def sign_out(session: Session, user_id: int) -> WebUser | None:
    """End every session of the account, not only the cookie of the browser that asked."""
    user = session.get(WebUser, user_id)
    if user is not None:
        end_sessions(session, user)
    return user


def find_user(session: Session, email: str) -> WebUser | None:
    return session.exec(select(WebUser).where(WebUser.email == address_key(email.strip()))).first()


def sign_in(session: Session, email: str, password: str, ip: str,
            providers: bool = False) -> WebUser | ProviderAccount:
    """Check the password; every failure is written to the audit log, which the rate limit counts. `ip` is the
    client's address as the web server saw it (a proxy's header only from `[web] trusted_proxies`). With
    `providers` (an installation of many alliances), an address without an account of this alliance may be a
    provider's: the alliance's own accounts come first."""
    key = address_key(email.strip()) if email.strip() else ""
    # The account's row stays locked until the failure is committed: parallel guesses at one account are
    # counted one after the other, not all against the same count (SQLite's write lock does the same).
    user = session.exec(select(WebUser).where(WebUser.email == key).with_for_update()).first() if key else None
    provider = None
    if user is None and providers and key:
        provider = session.exec(select(ProviderAccount).where(ProviderAccount.email == key).with_for_update()).first()
    target = f"provider:{key}" if provider else f"user:{key}"
    since = utcnow() - FAILED_WINDOW
    failed = select(func.count()).select_from(AuditLog).where(AuditLog.action == "login.failed", AuditLog.at >= since)
    of_account = failed.where(AuditLog.target == target)
    # A provider's account is the installation's: its failures in every alliance count together.
    per_account = session.exec(of_account.execution_options(**ACROSS_ALLIANCES) if provider else of_account).one()
    per_ip = session.exec(failed.where(AuditLog.ip == ip)).one()
    if per_account >= MAX_FAILED_PER_ACCOUNT or per_ip >= MAX_FAILED_PER_IP:
        raise TooManyAttempts("Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie 15 Minuten.")
    account = user or provider
    try:
        _hasher.verify(account.password_hash if account else _dummy_hash(), password)
        ok = account is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        audit(session, key or "-", "login.failed", target, {}, ip)
        raise LoginRefused("E-Mail-Adresse oder Passwort stimmen nicht.")
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = utcnow()
    session.add(account)
    audit(session, account.email, "login", target, {"role": PROVIDER} if provider else {}, ip)
    return account


def audit(session: Session, actor: str, action: str, target: str = "", detail: dict | None = None,
          ip: str = "") -> AuditLog:
    row = AuditLog(actor=actor, action=action, target=target, detail=detail or {}, ip=ip)
    session.add(row)
    return row


def recent_audit(session: Session, limit: int = 100) -> list[AuditLog]:
    return list(session.exec(select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)))
