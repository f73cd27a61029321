"""The web admin of the Geschäftsstelle and the partners' public pages: `create_app(config)`."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub import i18n, provider_accounts, secret
from hub.accounts import FAILED_WINDOW, LoginRefused, TooManyAttempts, recent_audit, sign_in, sign_out
from hub.config import Config
from hub.i18n import _
from hub.web import admin, partners, public, schedule, sending
from hub.web import tasks as task_pages
from hub.web.core import HERE, AllianceAddress, Ctx, Web
from hub.web.security import SecurityHeaders

FAVICON = HERE / "static" / "favicon.svg"


def create_app(config: Config, alliances: Sequence[AllianceAddress] = ()) -> Starlette:
    """The admin and public pages of one alliance. `alliances`: every alliance of an installation of many, by
    name and address (hub/web/hosts.py); the provider's accounts sign in here then, and switch between them."""
    # The web speaks the installation's language: templates through their environment, Python through this.
    i18n.activate(config.alliance.language)
    secret.load(config)
    web = Web(config, alliances)
    web.page("/login", login_form, public=True)
    web.action("/login", login, public=True)
    web.action("/logout", logout, public=True)
    web.page("/audit", audit_log)
    web.page("/healthz", healthz, public=True)
    for module in (admin, partners, public, schedule, sending, task_pages):
        module.register(web)
    app = Starlette(
        routes=[*web.routes, Route("/favicon.ico", favicon),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        middleware=[Middleware(SecurityHeaders, hsts=web.secure)],
        exception_handlers={404: web.not_found, 500: web.server_error},
    )
    app.state.web = web
    return app


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" or "https://…" would send the user elsewhere after sign-in.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_form(ctx: Ctx) -> Response:
    if ctx.actor.signed_in:
        return ctx.redirect(_safe_next(ctx.query("next", "/")))
    return ctx.render("login.html", next=_safe_next(ctx.query("next", "/")))


def login(ctx: Ctx) -> Response:
    target = _safe_next(ctx.value("next", "/"))
    try:
        account = sign_in(ctx.db, ctx.value("email"), ctx.value("password"), ctx.ip, providers=ctx.web.providers)
    except (LoginRefused, TooManyAttempts) as exc:
        # The failure row must survive the error page: it is what the rate limit counts.
        ctx.db.commit()
        if isinstance(exc, TooManyAttempts):
            status, error = 429, _("Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie %(minutes)d Minuten.") % {
                "minutes": FAILED_WINDOW.total_seconds() // 60}
        else:
            status, error = 401, _("E-Mail-Adresse oder Passwort stimmen nicht.")
        return ctx.render("login.html", status=status, error=error, next=target, email=ctx.value("email"))
    ctx.start_session(account)
    return ctx.redirect(target)


def logout(ctx: Ctx) -> Response:
    if ctx.actor.user_id is not None:
        # Every session of the account ends, not only this browser's: a copied cookie is worth nothing after it.
        sign_out(ctx.db, ctx.actor.user_id)
        ctx.audit("logout", f"user:{ctx.actor.email}")
    elif ctx.actor.provider_id is not None:
        # A provider's: in every alliance, not only in this one.
        provider_accounts.sign_out(ctx.db, ctx.actor.provider_id)
        ctx.audit("logout", f"provider:{ctx.actor.email}")
    ctx.start_session()
    return ctx.redirect("/login", flash=_("Sie sind abgemeldet."))


def audit_log(ctx: Ctx) -> Response:
    return ctx.render("audit.html", rows=recent_audit(ctx.db, 200))


def healthz(ctx: Ctx) -> Response:
    return Response("ok\n", media_type="text/plain")


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page says; they take the SVG under that name too."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
