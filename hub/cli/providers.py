"""`hub alliances providers …`: the accounts of the provider that runs an installation of many alliances (they
sign in at the web admin of every alliance, hub/provider_accounts.py). The installation's, so no --alliance."""

from __future__ import annotations

from hub import provider_accounts
from hub.cli.render import print_json, print_table
from hub.cli.users import read_password
from hub.cli.when import when
from hub.i18n import _


def add(ctx, args) -> int:
    password = read_password(args)
    with ctx.installation_session() as session:
        provider = provider_accounts.add_provider(session, args.email, password)
    print(_("%(email)s: Zugang der technischen Betreuung angelegt; er meldet sich in der Web-Verwaltung jedes "
            "Bündnisses an") % {"email": provider.email})
    return 0


def list_providers(ctx, args) -> int:
    with ctx.installation_session() as session:
        providers = provider_accounts.list_providers(session)
    if args.json:
        print_json([{"email": p.email, "created": p.created_at.isoformat(timespec="seconds"),
                     "last_login": p.last_login_at.isoformat(timespec="seconds") if p.last_login_at else None}
                    for p in providers])
        return 0
    tz = ctx.installation.tz
    print_table([{"email": p.email, "created": when(p.created_at, tz),
                  "last_login": when(p.last_login_at, tz) if p.last_login_at else None} for p in providers],
                {"email": _("E-Mail"), "created": _("angelegt"), "last_login": _("letzte Anmeldung")})
    return 0


def remove(ctx, args) -> int:
    with ctx.installation_session() as session:
        provider = provider_accounts.remove_provider(session, args.email)
    print(_("%(email)s: Zugang entfernt; seine Sitzungen in allen Bündnissen sind beendet") % {"email": provider.email})
    return 0


def password(ctx, args) -> int:
    new = read_password(args)
    with ctx.installation_session() as session:
        provider = provider_accounts.change_password(session, args.email, new)
    print(_("%(email)s: neues Passwort gesetzt; alle Sitzungen dieses Zugangs in allen Bündnissen sind beendet")
          % {"email": provider.email})
    return 0
