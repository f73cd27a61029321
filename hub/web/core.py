"""The small frame every page runs in: sign-in, roles, CSRF, audit, rendering, in a worker thread.

Handlers are plain synchronous functions `handler(ctx) -> Response`: they run in Starlette's thread
pool with one database session (committed when the handler returns, rolled back when it raises), so
the database never blocks the event loop that `hub serve` shares with the SMTP listener.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hub import alliance as alliance_module
from hub.accounts import PROVIDER, PUBLIC, Actor, audit
from hub.config import Config
from hub.db import session_scope
from hub.errors import HubError
from hub.i18n import _, translations
from hub.models import Alliance, ProviderAccount, WebUser
from hub.secret import secret_key
from hub.web import formats, labels, security

log = logging.getLogger("hub.web")
HERE = Path(__file__).parent
FLASH_COOKIE = "hub_flash"
MAX_UPLOAD = 5 * 1024 * 1024
# A clause of a core error that tells a command-line user what to type: "; see `hub partners list`".
CLI_HINT = re.compile(r"[^;]*(`hub [^`]*`|\bhub (init|status|groups|partners|ingest|protocols|users|outbox|meetings"
                      r"|schedule|serve|newsletter)\b)[^;]*")


class AllianceAddress(NamedTuple):
    """An alliance of the installation as a provider's menu "Bündnis wechseln" shows it."""

    name: str
    base_url: str


class Web:
    """What every request shares: the config, the signing key and the template environment. `alliances`: every
    alliance of an installation of many (this one too); then the provider's accounts sign in here as well, and
    see them to switch to. Empty in a single alliance's installation, which has no provider."""

    def __init__(self, config: Config, alliances: Sequence[AllianceAddress] = ()):
        self.config = config
        self.providers = bool(alliances)
        self.key = secret_key(config)
        self.secure = config.web.base_url.startswith("https://")
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        # Multi-line {% trans %} blocks are one line of text in the catalog (babel/web.cfg says the same).
        self.env.policies["ext.i18n.trimmed"] = True
        locale = config.alliance.language
        self.env.install_gettext_translations(translations(locale), newstyle=True)
        formats.install(self.env, config.tz, locale)
        self.env.filters["label"] = labels.label
        self.env.filters["yes_no"] = labels.yes_no
        self.env.filters["audit_target"] = labels.audit_target
        self.env.filters["audit_detail"] = labels.audit_detail
        self.env.globals["alliance_name"] = config.alliance.name
        self.env.globals["lang"] = locale
        here = config.web.base_url.rstrip("/")
        self.env.globals["alliances"] = [
            {"name": name, "url": url.rstrip("/") + "/", "current": url.rstrip("/") == here} for name, url in alliances]
        self.routes: list[Route] = []
        self.change_routes: list[str] = []  # POST routes only coordinators may call (the tests walk them)
        self.public_paths: list[str] = []

    def page(self, path: str, handler: Callable, *, public: bool = False, methods=("GET",), name=None) -> None:
        """A page to look at (GET); signed-in users of any role, or everyone when public."""
        self._add(path, handler, methods, public=public, change=False, csrf=False, name=name)

    def action(self, path: str, handler: Callable, *, public: bool = False, csrf: bool = True, name=None) -> None:
        """A POST that changes something: coordinators only (unless public), with a CSRF token."""
        self._add(path, handler, ("POST",), public=public, change=not public, csrf=csrf, name=name)
        if not public:
            self.change_routes.append(path)

    def _add(self, path, handler, methods, *, public, change, csrf, name) -> None:
        if public:
            self.public_paths.append(path)

        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                form = await request.form(max_files=10, max_fields=500, max_part_size=MAX_UPLOAD)
            try:
                return await run_in_threadpool(self._run, handler, request, form, public, change, csrf)
            finally:
                if form is not None:
                    await form.close()

        self.routes.append(Route(path, endpoint, methods=list(methods), name=name or handler.__name__))

    def _run(self, handler, request, form, public, change, csrf) -> Response:
        with session_scope(self.config.database_url) as db:
            ctx = Ctx(self, request, form, db)
            ctx.alliance  # noqa: B018  (scopes the request's session to the alliance: hub.tenancy)
            ctx.load_session()
            refused = ctx.refusal(public, change, csrf)
            if refused is not None:
                return ctx.finish(refused)
            try:
                response = handler(ctx)
            except HubError as exc:
                db.rollback()
                response = ctx.render("error.html", status=400, message=for_web(str(exc)))
            return ctx.finish(response)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """Starlette's 404 as one of our pages, in the installation's language, signed in or not."""
        return await run_in_threadpool(self._run, _not_found, request, None, True, False, False)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        """A crash as a page in the user's language; without the database, which may be what failed."""
        html = self.env.get_template("error.html").render(actor=PUBLIC, csrf="", path="/", flash=None,
                                                          root=request.scope.get("root_path", ""),
                                                          message=_("Ein unerwarteter Fehler ist aufgetreten. "
                                                                    "Bitte versuchen Sie es später noch einmal; "
                                                                    "bleibt er, wenden Sie sich an die technische "
                                                                    "Betreuung."))
        return HTMLResponse(html, status_code=500)


def _not_found(ctx: Ctx) -> Response:
    return ctx.render("error.html", status=404, message=_("Diese Seite gibt es nicht. Vielleicht ist der Link "
                                                          "veraltet; beginnen Sie auf der Startseite."))


def for_web(message: str) -> str:
    """A core error without the command-line advice it gives (the web offers its own buttons)."""
    kept = [part.strip() for part in message.split(";") if not CLI_HINT.fullmatch(part)]
    return "; ".join(p for p in kept if p) or _("Das ging nicht. Bitte laden Sie die Seite neu und versuchen Sie "
                                                "es noch einmal.")


@dataclass
class Ctx:
    web: Web
    request: Request
    form: FormData | None
    db: Session
    actor: Actor = PUBLIC
    session_data: dict = field(default_factory=dict)
    new_cookie: bool = False
    flash_out: str | None = None

    @property
    def config(self) -> Config:
        return self.web.config

    @cached_property
    def alliance(self) -> Alliance:
        return alliance_module.current(self.db, self.config)

    @property
    def root(self) -> str:
        """Where the alliance's pages are, when several alliances share a host ("/a/eins"); "" otherwise."""
        return self.request.scope.get("root_path", "")

    @property
    def route_path(self) -> str:
        """The page's path below `root`: what the routes, the links and `next` speak of."""
        return self.request.url.path.removeprefix(self.root) or "/"

    @property
    def ip(self) -> str:
        return self.request.client.host if self.request.client else ""

    @property
    def csrf(self) -> str:
        return security.csrf_token(self.web.key, self.session_data["sid"])

    def load_session(self) -> None:
        data = security.decode_session(self.web.key, self.request.cookies.get(security.SESSION_COOKIE))
        if data is None:
            self.start_session()
            return
        self.session_data = data
        if data.get("uid") is not None:
            user = self.db.get(WebUser, data["uid"])
            if user is not None and user.session_version == data.get("v"):
                self.actor = Actor(email=user.email, role=user.role, user_id=user.id)
            else:
                self.start_session()
        elif data.get("pid") is not None:
            # A provider's account is the installation's: its cookie counts only in the alliance it was made for.
            provider = self.db.get(ProviderAccount, data["pid"]) if self.web.providers else None
            if provider is not None and provider.session_version == data.get("v") and data.get("a") == self.alliance.id:
                self.actor = Actor(email=provider.email, role=PROVIDER, provider_id=provider.id)
            else:
                self.start_session()

    def start_session(self, account: WebUser | ProviderAccount | None = None) -> None:
        """A fresh session id (so a CSRF token from before sign-in is worth nothing after it)."""
        if isinstance(account, ProviderAccount):
            self.session_data = security.new_session(version=account.session_version, provider_id=account.id,
                                                     alliance_id=self.alliance.id)
            self.actor = Actor(email=account.email, role=PROVIDER, provider_id=account.id)
        else:
            self.session_data = security.new_session(account.id if account else None,
                                                     account.session_version if account else 0)
            self.actor = Actor(email=account.email, role=account.role, user_id=account.id) if account else PUBLIC
        self.new_cookie = True

    def refusal(self, public: bool, change: bool, csrf: bool) -> Response | None:
        if not public and self.actor is PUBLIC:
            if self.request.method == "GET":
                target = self.route_path + (f"?{self.request.url.query}" if self.request.url.query else "")
                return RedirectResponse(f"{self.root}/login?next={quote(target, safe='')}", status_code=303)
            return self.render("error.html", status=403, message=_("Bitte melden Sie sich zuerst an."))
        if change and not self.actor.can_change:
            return self.render("error.html", status=403, message=_(
                "Ihr Zugang darf nur ansehen, nicht ändern. Fragen Sie die Geschäftsstelle."))
        if csrf and self.request.method == "POST" and not security.csrf_ok(
            self.web.key, self.session_data["sid"], self.form.get("csrf") if self.form else None
        ):
            return self.render("error.html", status=403, message=_(
                "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal."))
        return None

    def value(self, name: str, default: str = "") -> str:
        raw = self.form.get(name) if self.form is not None else None
        return raw.strip() if isinstance(raw, str) else default

    def values(self, name: str) -> list[str]:
        return [v for v in (self.form.getlist(name) if self.form is not None else []) if isinstance(v, str)]

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def audit(self, action: str, target: str = "", **detail) -> None:
        if self.actor.provider_id is not None:
            detail["role"] = PROVIDER  # the provider's, not one of the alliance's own accounts
        audit(self.db, self.actor.email, action, target, detail, self.ip)

    def render(self, template: str, status: int = 200, **values) -> HTMLResponse:
        flash = security.unsign(self.web.key, "flash", self.request.cookies.get(FLASH_COOKIE))
        html = self.web.env.get_template(template).render(
            actor=self.actor, csrf=self.csrf, path=self.route_path, root=self.root, flash=flash, **values
        )
        response = HTMLResponse(html, status_code=status)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=self.root + "/")
        return response

    def redirect(self, url: str, flash: str | None = None) -> RedirectResponse:
        """To a page of this alliance (`url` below `root`)."""
        self.flash_out = flash
        return RedirectResponse(self.root + url if url.startswith("/") else url, status_code=303)

    def finish(self, response: Response) -> Response:
        if self.new_cookie:
            response.set_cookie(
                security.SESSION_COOKIE, security.encode_session(self.web.key, self.session_data),
                max_age=security.SESSION_SECONDS, path=self.root + "/", httponly=True, samesite="lax",
                secure=self.web.secure,
            )
        if self.flash_out:
            response.set_cookie(FLASH_COOKIE, security.sign(self.web.key, "flash", self.flash_out), max_age=60,
                                path=self.root + "/", httponly=True, samesite="lax", secure=self.web.secure)
        return response


def int_param(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
