"""Telling every node's outbox process that mail was queued.

On PostgreSQL the queueing transaction sends a NOTIFY on the channel `hub_outbox` (delivered at its commit,
and only if it commits), and the outbox process of every `hub serve` sharing the database LISTENs to it: a
newsletter queued on one node is sent by all nodes at once, and an invitation leaves at its time, not at the
next poll (`[outbox] poll_seconds`, which stays as the fallback and for retries that fall due). SQLite serves one
node and has no such channel: there the outbox polls, and the filing process wakes it for receipts.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlmodel import Session

log = logging.getLogger("hub.outbound")

CHANNEL = "hub_outbox"
RETRY_S = 5.0  # after a lost connection; the poll covers the gap


def announce(session: Session) -> None:
    """Within the transaction that queued deliveries: wake every outbox at its commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


def listens(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "postgresql"


def listen(url: str, wake, stop: threading.Event, retry_s: float = RETRY_S) -> None:
    """Until `stop` is set: set `wake` at every notification (and once after each (re)connect, for what was
    queued while nobody listened). Runs in a thread of the outbox process; a lost connection is made again."""
    if not listens(url):
        return
    import psycopg  # here: a process on SQLite never needs it

    conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                wake.set()
                while not stop.is_set():
                    for _notification in connection.notifies(timeout=1.0, stop_after=1):
                        wake.set()
        except psycopg.Error as exc:
            log.warning("outbox: not listening for queued mail (%s); polling until connected again", exc)
            stop.wait(retry_s)
