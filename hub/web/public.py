"""The partners' public pages (no sign-in): unsubscribe, subscribe with double opt-in, confirmation.

The signed token in the link is the authorisation; the logic behind each page is `hub.mailings`,
the same that the CLI and the mailto unsubscribe use.
"""

from __future__ import annotations

from starlette.responses import Response

from hub import mailings
from hub.errors import HubError
from hub.i18n import _
from hub.web.core import Ctx, Web


def register(web: Web) -> None:
    web.page("/unsubscribe/{token}", unsubscribe_page, public=True)
    # RFC 8058: a mail client POSTs "List-Unsubscribe=One-Click" to the link and expects it done at once;
    # it cannot send a CSRF token, and the signed token already proves the link came from our mail.
    web.action("/unsubscribe/{token}", unsubscribe, public=True, csrf=False)
    web.page("/subscribe", subscribe_form, public=True)
    web.action("/subscribe", subscribe, public=True)
    web.page("/subscribe/confirm/{token}", confirm_page, public=True)
    web.action("/subscribe/confirm/{token}", confirm, public=True)


def unsubscribe_page(ctx: Ctx) -> Response:
    return ctx.render("public/unsubscribe.html", token=ctx.request.path_params["token"], done=False)


def unsubscribe(ctx: Ctx) -> Response:
    token = ctx.request.path_params["token"]
    try:
        result = mailings.unsubscribe(ctx.db, ctx.config, token)
    except HubError as exc:
        return ctx.render("public/unsubscribe.html", status=400, token=token, done=False, error=str(exc))
    ctx.audit("public.unsubscribe", _target(result), one_click=ctx.value("List-Unsubscribe") == "One-Click")
    return ctx.render("public/unsubscribe.html", token=token, done=True)


def subscribe_form(ctx: Ctx) -> Response:
    return ctx.render("public/subscribe.html", sent=False, values={})


def subscribe(ctx: Ctx) -> Response:
    """Step one of the double opt-in: only the address; name and organisation come on the confirmation page,
    from whoever controls the mailbox. The answer is the same whether a mail went out or the address had one
    within the last day, so the page tells nobody which addresses are known."""
    values = {"email": ctx.value("email")}
    if ctx.value("consent") != "yes":
        return ctx.render("public/subscribe.html", status=400, sent=False, values=values,
                          error=_("Bitte bestätigen Sie, dass Sie den Newsletter erhalten möchten."))
    try:
        mailings.subscribe_request(ctx.db, ctx.config, values["email"], client=ctx.ip)
    except mailings.TooManyRequests as exc:
        return ctx.render("public/subscribe.html", status=429, sent=False, values=values, error=str(exc))
    except HubError as exc:
        return ctx.render("public/subscribe.html", status=400, sent=False, values=values, error=str(exc))
    ctx.audit("public.subscribe_request", "subscribe")
    return ctx.render("public/subscribe.html", sent=True, values={})


def confirm_page(ctx: Ctx) -> Response:
    return ctx.render("public/confirm.html", token=ctx.request.path_params["token"], done=False, values={})


def confirm(ctx: Ctx) -> Response:
    token = ctx.request.path_params["token"]
    values = {"name": ctx.value("name")[:200], "organisation": ctx.value("organisation")[:200]}
    try:
        result = mailings.subscribe_confirm(ctx.db, ctx.config, token, name=values["name"],
                                            organisation=values["organisation"])
    except HubError as exc:
        return ctx.render("public/confirm.html", status=400, token=token, done=False, values=values,
                          error=str(exc))
    ctx.audit("public.subscribe_confirm", _target(result))
    return ctx.render("public/confirm.html", token=token, done=True, values={})


def _target(result) -> str:
    partner_id = getattr(result, "id", None) or getattr(result, "partner_id", None)
    return f"partner:{partner_id}" if partner_id else "partner"
