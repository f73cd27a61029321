"""Several `hub serve` nodes on one PostgreSQL database (issue 17): each files what its own listener spooled,
exactly one runs the scheduler (an advisory lock), and when that node dies — killed with all its processes, as a
machine that loses power — another takes over within 30 seconds."""

from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SERVING, TESTS, clock_env
from servers import free_port
from sqlmodel import Session, select
from test_ingest import WEISS, mail

from hub.db import engine_for
from hub.models import InboundMessage
from hub.scheduler.leadership import Leadership

TAKE_OVER_SECONDS = 30


class Node:
    """One `hub serve` with its own listener, web port and data folder (spool), on the shared database."""

    def __init__(self, hub_dir: Path, name: str):
        self.folder = hub_dir / name
        (self.folder / "config").mkdir(parents=True)
        text = (hub_dir / "config" / "hub.toml").read_text(encoding="utf-8")
        text = re.sub(r"(?ms)(^\[web\].*?^port = )\d+", rf"\g<1>{free_port()}", text, count=1)
        (self.folder / "config" / "hub.toml").write_text(text, encoding="utf-8")
        shutil.copy(hub_dir / "config" / "partners.example.csv", self.folder / "config")
        self.port = free_port()
        self.log = self.folder / "serve.log"
        env = {**os.environ, **clock_env(), "HUB_CONFIG": str(self.folder / "config" / "hub.toml"),
               "HUB_DATA_DIR": str(self.folder / "var")}
        self.process = subprocess.Popen([sys.executable, str(TESTS / "hub_at.py"), "serve", "--port", str(self.port)],
                                        cwd=self.folder, env=env, stdout=subprocess.DEVNULL,
                                        stderr=self.log.open("w"), start_new_session=True)
        SERVING.append(self.process)

    def logged(self, text: str) -> bool:
        return text in self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.logged(text):
                return time.monotonic() - started
            assert self.process.poll() is None, f"hub serve exited:\n{self.log.read_text()}"
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.log.read_text()}")

    def send(self, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            client.sendmail(WEISS, ["protokolle@buendnis-musterhausen.example"], raw)

    def die(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def _filed(config, message_id: str, timeout: float = 60) -> InboundMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine_for(config.database_url)) as session:
            row = session.exec(select(InboundMessage).where(InboundMessage.message_id == message_id)).first()
        if row is not None and row.status == "filed":
            return row
        time.sleep(0.2)
    raise AssertionError(f"{message_id} not filed within {timeout} s")


def test_two_nodes_file_their_own_mail_and_one_takes_over_the_scheduler(hub_dir, config, partners):
    if not config.database_url.startswith("postgresql"):
        pytest.skip("several nodes share one PostgreSQL database; this pass runs on SQLite")
    first = Node(hub_dir, "eins")
    first.wait_for_log("scheduler: leading")
    second = Node(hub_dir, "zwei")
    second.wait_for_log("scheduler: another hub process leads; standing by")
    try:
        for node, name in ((first, "eins"), (second, "zwei")):
            node.send(mail(message_id=f"<knoten-{name}@example.org>",
                           subject=f"Ergebnisprotokoll AG Gesundheit {name}"))
        for name in ("eins", "zwei"):
            _filed(config, f"<knoten-{name}@example.org>")
        assert not second.logged("scheduler: leading")

        first.die()
        took = second.wait_for_log("scheduler: leading", timeout=TAKE_OVER_SECONDS + 30)
        assert took < TAKE_OVER_SECONDS, f"the second node took {took:.1f} s to lead"
        second.send(mail(message_id="<nach-dem-ausfall@example.org>", subject="Ergebnisprotokoll AG Gesundheit 3"))
        _filed(config, "<nach-dem-ausfall@example.org>")
    finally:
        second.stop()


def test_one_process_leads_the_schedulers_of_many_alliances_on_one_connection(config):
    """A connection per alliance's lock took the pool (20) at the twentieth alliance and stopped hub serve."""
    if not config.database_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; on SQLite each alliance has a lock file")
    configs = [config.model_copy(update={"alliance": config.alliance.model_copy(update={"domain": f"b{n}.example"})})
               for n in range(30)]
    leaders = [Leadership(each) for each in configs]
    engine = engine_for(config.database_url)
    try:
        assert all(leader.acquire() for leader in leaders)
        assert engine.pool.checkedout() == 1
        assert not Leadership(configs[0]).acquire(), "a lock this process holds was given twice"
        other = sa.create_engine(config.database_url, poolclass=sa.pool.NullPool)  # another node
        with other.connect() as conn:
            key = leaders[7]._key
            assert conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is False
            leaders[7].release()
            assert conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is True
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        other.dispose()
    finally:
        for leader in leaders:
            leader.release()
    assert engine.pool.checkedout() == 0
