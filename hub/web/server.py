"""The web admin as one of `hub serve`'s services: uvicorn on `[web] host:port`, in a thread of its own."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Sequence

import uvicorn

from hub.config import Config
from hub.errors import HubError
from hub.web.app import create_app
from hub.web.core import AllianceAddress
from hub.web.hosts import ByAddress

log = logging.getLogger("hub.web")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # `hub serve` owns SIGINT/SIGTERM and stops every service itself; uvicorn must not take them over.
        yield


def bind(config: Config) -> socket.socket:
    """Bind `[web] host:port` here, so a taken port is one clear error instead of uvicorn exiting the process."""
    family = socket.AF_INET6 if ":" in config.web.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.web.host, config.web.port))
    except OSError as exc:
        sock.close()
        raise HubError(f"web: cannot listen on {config.web.host}:{config.web.port} ({exc.strerror}); "
                       "is another program using that port? Change [web] port in the config") from None
    return sock


def uvicorn_config(config: Config, alliances: Sequence[Config] = ()) -> uvicorn.Config:
    """uvicorn for the web admin. X-Forwarded-For and X-Forwarded-Proto count only from `[web] trusted_proxies`:
    uvicorn's own default believes them from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so anyone who can reach the
    port from this machine, or through a proxy that passes the header on, could name any client address and
    walk around the sign-in limit per address."""
    trusted = list(config.web.trusted_proxies)
    if len(alliances) > 1:
        app = ByAddress(alliances)
    else:  # one alliance; of an installation of many (its own file), whose provider signs in here too
        app = create_app(config, [AllianceAddress(config.alliance.name, config.web.base_url)]
                          if config.alliance_file is not None else ())
    return uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, server_header=False,
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or [],
    )


class WebServer:
    """A `hub serve` service (name, start, stop). `sock`: an already bound socket, else `[web] host:port`."""

    name = "web server"

    def __init__(self, config: Config, sock: socket.socket | None = None, alliances: Sequence[Config] = ()):
        self.config = config
        self.alliances = tuple(alliances)
        self._sock = sock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.started

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        if self._sock is None:
            try:
                self._sock = bind(self.config)
            except HubError as exc:
                # The mail office matters more than its admin pages: receiving and sending go on, loudly logged.
                log.error("%s; the hub runs on without its web admin", exc)
                return
        self._server = _Server(uvicorn_config(self.config, self.alliances))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=self.name, daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.05)
        if not self._server.started:
            raise HubError(f"web: the server on {self.url} did not start; see the log above")
        log.info("web admin on %s (public address %s)", self.url,
                 ", ".join(each.web.base_url for each in self.alliances or (self.config,)))

    def stop(self) -> None:
        """Finish the requests in flight, then close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()
