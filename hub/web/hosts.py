"""The web admins of an installation of many alliances on one port: each request goes to the alliance whose
`[web] base_url` names the host it asks for (a reverse proxy in front passes the Host header on) and, where
several alliances share one host, the path it starts with ("https://hub.example.org/a/eins")."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import Config, web_hosts
from hub.i18n import _
from hub.web.app import create_app
from hub.web.core import AllianceAddress


class ByAddress:
    """An ASGI app that hands each request to the app of the alliance at its Host and path. An alliance under
    a path gets the path as the request's `root_path`: its pages route without it and link with it. Each app
    knows every alliance by name and address (no other alliance's config): a provider switches between them."""

    def __init__(self, alliances: Sequence[Config]):
        self.apps: dict[str, list[tuple[str, ASGIApp]]] = {}
        addresses = [AllianceAddress(each.alliance.name, each.web.base_url) for each in alliances]
        for (host, path), config in web_hosts(list(alliances)).items():
            self.apps.setdefault(host, []).append((path, create_app(config, addresses)))
        for paths in self.apps.values():
            paths.sort(key=lambda each: len(each[0]), reverse=True)  # the longest path that fits goes first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path = scope["path"]
        for root, app in self.apps.get(host.strip("[]"), ()):
            if path == root and root:  # "/a/eins": its pages are under "/a/eins/"
                await RedirectResponse(root + "/", status_code=308)(scope, receive, send)
                return
            if not root or path.startswith(root + "/"):
                await app({**scope, "root_path": scope.get("root_path", "") + root}, receive, send)
                return
        if scope["type"] == "http":
            response = PlainTextResponse(_("Unter dieser Adresse gibt es hier kein Bündnis."), status_code=404)
            await response(scope, receive, send)
