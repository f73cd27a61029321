"""The web admin as one of `hub serve`'s services: uvicorn on `[web] host:port`, in the hub's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from hub.config import Config
from hub.errors import HubError
from hub.web.app import create_app

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
    sock.set_inheritable(True)
    return sock


async def serve(config: Config, stop: asyncio.Event, sock: socket.socket | None = None) -> None:
    """Serve until `stop` is set, then finish the requests in flight. `sock`: an already bound socket."""
    sock = sock or bind(config)
    server = _Server(uvicorn.Config(
        create_app(config), log_level="warning", lifespan="off", access_log=False, server_header=False,
    ))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        log.info("web server stopping")
        server.should_exit = True
    else:
        stopping.cancel()
    try:
        await task
    finally:
        sock.close()
