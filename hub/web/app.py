"""The web admin of the Geschäftsstelle and the partners' public pages: `create_app(config)`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from hub.accounts import LoginRefused, TooManyAttempts, recent_audit, sign_in
from hub.config import Config
from hub.web import admin, public, schedule, sending
from hub.web.core import HERE, Ctx, Web
from hub.web.security import SecurityHeaders


def create_app(config: Config) -> Starlette:
    web = Web(config)
    web.page("/login", login_form, public=True)
    web.action("/login", login, public=True)
    web.action("/logout", logout, public=True)
    web.page("/audit", audit_log)
    web.page("/healthz", healthz, public=True)
    for module in (admin, public, schedule, sending):
        module.register(web)
    app = Starlette(
        routes=[*web.routes, Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.web = web
    return app


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" or "https://…" would send the user elsewhere after sign-in.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_form(ctx: Ctx) -> Response:
    if ctx.actor.user_id is not None:
        return ctx.redirect(_safe_next(ctx.query("next", "/")))
    return ctx.render("login.html", next=_safe_next(ctx.query("next", "/")))


def login(ctx: Ctx) -> Response:
    target = _safe_next(ctx.value("next", "/"))
    try:
        user = sign_in(ctx.db, ctx.value("email"), ctx.value("password"), ctx.ip)
    except (LoginRefused, TooManyAttempts) as exc:
        # The failure row must survive the error page: it is what the rate limit counts.
        ctx.db.commit()
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return ctx.render("login.html", status=status, error=str(exc), next=target, email=ctx.value("email"))
    ctx.start_session(user)
    return ctx.redirect(target)


def logout(ctx: Ctx) -> Response:
    if ctx.actor.user_id is not None:
        ctx.audit("logout", f"user:{ctx.actor.email}")
    ctx.start_session()
    return ctx.redirect("/login", flash="Sie sind abgemeldet.")


def audit_log(ctx: Ctx) -> Response:
    return ctx.render("audit.html", rows=recent_audit(ctx.db, 200))


def healthz(ctx: Ctx) -> Response:
    return Response("ok\n", media_type="text/plain")
