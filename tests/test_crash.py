"""Invariant 1 by force: SIGKILL a real `hub serve` between the stages, start it again, find the mail once.

The failpoints (hub/failpoints.py) kill the process between the spool write and its fsync, right after the
spool commit (both before the 250), after parsing and after storing (before the spool entry is finished).
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from conftest import SERVING, clock_env, end_process_group, hub_command, process_group
from servers import free_port, wait_for_port

from hub.inbound import spool

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"
PROTOCOLS = "protokolle@buendnis-musterhausen.example"


def protocol(message_id: str) -> bytes:
    return (
        f"From: =?utf-8?q?Dr=2E_J=C3=BCrgen_Wei=C3=9F?= <{SENDER}>\r\n"
        f"To: {PROTOCOLS}\r\n"
        "Subject: Ergebnisprotokoll AG Gesundheit vom 12.03.2026\r\n"
        "Date: Fri, 13 Mar 2026 09:30:00 +0100\r\n"
        f"Message-ID: <{message_id}@gesundheitsamt-musterhausen.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Liebe Kolleginnen und Kollegen,\r\n\r\nanbei das Ergebnisprotokoll.\r\n\r\n"
        "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen\r\n"
    ).encode()


@pytest.fixture
def installation(hub_dir, partners):
    """The example installation without the web admin (its fixed port would collide between tests)."""
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[web]\n", "[web]\nenabled = false\n"),
                    encoding="utf-8")
    return hub_dir


class Hub:
    """One `hub serve` process on a port of its own."""

    def __init__(self, directory, port: int, failpoint: str | None = None):
        env = {**os.environ, **clock_env(), "HUB_FAILPOINT": failpoint or ""}
        self.log = directory / f"serve-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*hub_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-imap"],
                cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )
        SERVING.append(self.process)
        wait_for_port(port, timeout=60, process=self.process)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def killed(self) -> bool:
        return self.process.wait(60) == -signal.SIGKILL

    def failed(self) -> bool:
        """The filing process was killed: the hub notices, stops and exits 1 for its supervisor to restart it."""
        return self.process.wait(60) == 1 and "filing process died" in self.log.read_text()


def stored(config, message_id: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(
                sa.text("SELECT status, kind FROM inboundmessage WHERE message_id = :m"), {"m": message_id})]
    finally:
        engine.dispose()


def wait_until_stored(config, message_id: str, timeout: float = 60, spool_empty: bool = True) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stored(config, message_id)
        if rows and not (spool_empty and spool.pending(config.data_dir)):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{message_id} not stored within {timeout} s")


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(SENDER, [PROTOCOLS], raw)


@pytest.mark.parametrize("failpoint", ["parsed", "stored"])
def test_killed_after_the_250_files_once_after_restart(installation, config, failpoint):
    port = free_port()
    message_id = f"<crash-{failpoint}@gesundheitsamt-musterhausen.example>"
    hub = Hub(installation, port, failpoint)
    send(port, protocol(message_id.strip("<>").split("@")[0]))  # the 250 came: the hub now owns the mail
    assert hub.failed()
    assert len(spool.pending(config.data_dir)) == 1
    assert len(stored(config, message_id)) == (1 if failpoint == "stored" else 0)
    hub = Hub(installation, port)  # starts by filing what is left in the spool
    assert wait_until_stored(config, message_id) == [("filed", "protocol")]
    assert hub.stop() == 0
    assert "filed" in hub.log.read_text() or "duplicate" in hub.log.read_text()


def test_killed_before_the_250_the_sender_retries_and_it_is_filed_once(installation, config):
    port = free_port()
    message_id = "<crash-spooled@gesundheitsamt-musterhausen.example>"
    raw = protocol("crash-spooled")
    hub = Hub(installation, port, "spooled")
    with pytest.raises(smtplib.SMTPException):  # the connection drops instead of 250
        send(port, raw)
    assert hub.killed()
    [left] = spool.pending(config.data_dir)
    assert left.path.read_bytes() == raw  # kept although the sender never heard 250
    hub = Hub(installation, port)
    send(port, raw)  # a real MTA tries again after a failed transaction
    assert wait_until_stored(config, message_id) == [("filed", "protocol")]
    assert hub.stop() == 0
    assert stored(config, message_id) == [("filed", "protocol")]


def test_killed_between_the_write_and_its_fsync_nobody_heard_250_and_each_retry_is_filed_once(installation, config):
    """Messages arriving together on several connections, the hub killed while one's bytes are written but not
    yet durable: no 250 may have gone out for any of them (a 250 comes only after a commit passed that point),
    none is in the spool, and each sender's retry is filed once."""
    port = free_port()
    raws = {f"<crash-written-{n}@gesundheitsamt-musterhausen.example>": protocol(f"crash-written-{n}")
            for n in range(4)}
    hub = Hub(installation, port, "spool-written")

    def acked(raw: bytes) -> bool:
        try:
            send(port, raw)
        except (smtplib.SMTPException, OSError):  # dropped mid-transaction, or refused once the hub was gone
            return False
        return True

    with ThreadPoolExecutor(len(raws)) as pool:
        answers = dict(zip(raws, pool.map(acked, raws.values()), strict=True))
    assert hub.killed()
    assert not any(answers.values())
    assert spool.pending(config.data_dir) == []  # written to tmp/ only: never renamed into new/
    hub = Hub(installation, port)
    for raw in raws.values():
        send(port, raw)  # a real MTA tries again after a failed transaction
    for message_id in raws:
        assert wait_until_stored(config, message_id) == [("filed", "protocol")]
    assert hub.stop() == 0
    assert [stored(config, message_id) for message_id in raws] == [[("filed", "protocol")]] * len(raws)


def test_sigterm_stops_cleanly_after_filing(installation, config):
    port = free_port()
    hub = Hub(installation, port)
    for n in range(5):
        send(port, protocol(f"clean-{n}"))
    assert hub.stop() == 0
    # Whatever was not filed before the stop stays in the spool and is filed at the next start.
    filed = sum(len(stored(config, f"<clean-{n}@gesundheitsamt-musterhausen.example>")) for n in range(5))
    assert filed + len(spool.pending(config.data_dir)) == 5
    hub = Hub(installation, port)
    for n in range(5):
        assert wait_until_stored(config, f"<clean-{n}@gesundheitsamt-musterhausen.example>") == [("filed", "protocol")]
    assert hub.stop() == 0
    log = hub.log.read_text()
    assert "stopped smtp listener" in log and "stopped spool worker" in log


def test_what_is_left_of_a_killed_hub_ends_with_its_test(installation):
    """A `hub serve` killed by a test leaves its filing and outbox processes, which stop only once they see it gone
    and have finished what they hold. The suite ends them with the test (conftest.end_process_group): one of
    them once still wrote while the next test's PostgreSQL database was emptied."""
    hub = Hub(installation, free_port())
    children = set(process_group(hub.process.pid)) - {hub.process.pid}
    assert len(children) >= 2, children  # the filing and the outbox process
    os.kill(hub.process.pid, signal.SIGKILL)
    assert hub.killed()
    end_process_group(hub.process.pid)
    assert process_group(hub.process.pid) == []
    with pytest.raises(ValueError):
        end_process_group(os.getpgrp())
