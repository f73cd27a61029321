"""The web admins of an installation of many alliances on one port: each request goes to the alliance whose
`[web] base_url` names the host it asks for (a reverse proxy in front passes the Host header on)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import Config, web_hosts
from hub.i18n import _
from hub.web.app import create_app


class ByHost:
    """An ASGI app that hands each request to the app of the alliance at its Host."""

    def __init__(self, alliances: Sequence[Config]):
        self.apps: dict[str, ASGIApp] = {host: create_app(config)
                                         for host, config in web_hosts(list(alliances)).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        app = self.apps.get(host.strip("[]"))
        if app is None:
            if scope["type"] != "http":
                return
            response = PlainTextResponse(_("Unter dieser Adresse gibt es hier kein Bündnis."), status_code=404)
            await response(scope, receive, send)
            return
        await app(scope, receive, send)
