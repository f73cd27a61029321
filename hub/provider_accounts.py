"""The provider's accounts in an installation of many alliances (`hub alliances providers …`): the people of
the Servicestelle or IT service that runs it. An account belongs to the installation, not to an alliance: it
signs in at the web admin of each of the installation's alliances (hub.accounts.sign_in, after the alliance's own
accounts), may change there what a coordinator may, and its audit rows say it was the provider.

Its session cookie carries its id and `session_version`, as a web account's does, and the alliance it was made
for (hub/web/core.py). Signing out, a new password and removal end every session of the account, in every
alliance. New accounts start at a random version, so a cookie of a removed account never fits a later one.

Plain functions on a session: the CLI's, which serves no alliance, or an alliance's web request (the table is no
`TenantRow`, so the alliance filter never hides it). What the account does in an alliance is in that alliance's
audit log, with the role "provider"; the accounts themselves are kept by the CLI, whose calls serve no alliance
and so are in no alliance's log.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session, select

from hub.accounts import check_password, end_sessions, hash_password, set_password
from hub.addresses import InvalidAddress, address_key, normalise_address
from hub.errors import UsageError
from hub.i18n import _
from hub.models import ProviderAccount


def add_provider(session: Session, email: str, password: str) -> ProviderAccount:
    try:
        key = address_key(normalise_address(email))
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from None
    check_password(password)
    if find_provider(session, key) is not None:
        raise UsageError(_("%(email)s hat schon einen Zugang der technischen Betreuung; siehe `hub alliances "
                           "providers list`") % {"email": key})
    provider = ProviderAccount(email=key, password_hash=hash_password(password),
                               session_version=secrets.randbelow(2**30))
    session.add(provider)
    session.flush()
    return provider


def list_providers(session: Session) -> list[ProviderAccount]:
    return list(session.exec(select(ProviderAccount).order_by(ProviderAccount.email)))


def find_provider(session: Session, email: str) -> ProviderAccount | None:
    return session.exec(select(ProviderAccount).where(ProviderAccount.email == address_key(email.strip()))).first()


def _require(session: Session, email: str) -> ProviderAccount:
    provider = find_provider(session, email)
    if provider is None:
        raise UsageError(_("kein Zugang der technischen Betreuung für %(email)s; siehe `hub alliances providers "
                           "list`") % {"email": email.strip()})
    return provider


def remove_provider(session: Session, email: str) -> ProviderAccount:
    """Its sessions end at once, in every alliance: no cookie finds the account any more."""
    provider = _require(session, email)
    session.delete(provider)
    return provider


def change_password(session: Session, email: str, password: str) -> ProviderAccount:
    """A new password; every session of the account ends, in every alliance."""
    provider = _require(session, email)
    set_password(session, provider, password)
    return provider


def sign_out(session: Session, provider_id: int) -> ProviderAccount | None:
    """End every session of the account, in every alliance, not only the cookie of the browser that asked."""
    provider = session.get(ProviderAccount, provider_id)
    if provider is not None:
        end_sessions(session, provider)
    return provider

