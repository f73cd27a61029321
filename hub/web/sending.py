"""The newsletter: editorial, preview at phone and desktop width, test, approve, send, results."""

from __future__ import annotations

from starlette.responses import Response

from hub.web.core import Ctx, Web


def register(web: Web) -> None:
    web.page("/newsletter", newsletter_page)


def newsletter_page(ctx: Ctx) -> Response:
    return ctx.render("newsletter.html")
