"""`hub serve` in-process: what was left in the spool, mail over SMTP and mail from IMAP all end up filed."""

from __future__ import annotations

import smtplib
import threading
import time

import sqlalchemy as sa
from servers import dovecot, free_port, wait_for_port  # noqa: F401  (dovecot is a fixture)

from hub import spool_worker, supervisor
from hub.config import Imap
from hub.inbound import spool
from hub.inbound.imap import Poller
from hub.scheduler import policies

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"


def protocol(n: int) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: protokolle@buendnis-musterhausen.example\r\n"
        f"Subject: Ergebnisprotokoll AG Gesundheit Nr. {n}\r\n"
        f"Message-ID: <serve-{n}@gesundheitsamt-musterhausen.example>\r\n\r\n"
        "Nächstes Treffen: 21.04.2026, 18 Uhr\r\n"
    ).encode()


def received_via(config) -> dict[str, str]:
    engine = sa.create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT message_id, received_via FROM inboundmessage")).all())
    finally:
        engine.dispose()


def test_serve_files_from_spool_smtp_and_imap(config, partners, dovecot, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HUB_TEST_IMAP_PASSWORD", "geheim-im-test")
    user = dovecot.new_user()
    config = config.model_copy(update={
        "web": config.web.model_copy(update={"enabled": False}),
        "imap": Imap(host="127.0.0.1", port=dovecot.port, tls="none", user=user,
                     password_env="HUB_TEST_IMAP_PASSWORD", poll_interval=1),
    })
    spool.write(config.data_dir, protocol(1), via="file")  # left over from before a crash
    with dovecot.client(user) as client:
        client.append("INBOX", protocol(2))
    port = free_port()
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(config,), kwargs={"port": port, "stop": stop})
    thread.start()
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(SENDER, ["protokolle+gesundheit@buendnis-musterhausen.example"], protocol(3))
        deadline = time.monotonic() + 60
        while len(received_via(config)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert received_via(config) == {
        "<serve-1@gesundheitsamt-musterhausen.example>": "file",
        "<serve-2@gesundheitsamt-musterhausen.example>": "imap",
        "<serve-3@gesundheitsamt-musterhausen.example>": "smtp",
    }
    assert spool.pending(config.data_dir) == []


def test_the_coordinators_imap_interval_reaches_the_poller(config, session, alliance):
    """The schedule's imap_poll_seconds was shown and editable, but the poller waited `[imap] poll_interval`."""
    assert supervisor._imap_poll_seconds(config) == 120
    policies.set_policy(session, config, alliance, "imap_poll_seconds", "30")
    session.commit()
    assert supervisor._imap_poll_seconds(config) == 30

    asked = threading.Event()
    poller = Poller(config.model_copy(update={"imap": Imap(host="127.0.0.1", port=1, user="x", password_env="X",
                                                         poll_interval=3600)}),
                    lambda entry: None, interval=lambda: (asked.set(), 0.01)[1])
    poller.start()
    try:
        assert asked.wait(10), "the poller never asked for its interval"
    finally:
        poller.stop(10)


def test_the_filing_process_speaks_the_alliance_language(config, partners):
    """The filing process writes in `[alliance] language`, whatever language the process it came from spoke."""
    config = config.model_copy(update={"alliance": config.alliance.model_copy(update={"language": "en"})})
    stranger = (
        b"From: jemand@unbekannt.example\r\nTo: protokolle@buendnis-musterhausen.example\r\n"
        b"Subject: Protokoll\r\nMessage-ID: <stranger-1@unbekannt.example>\r\n\r\nHallo\r\n"
    )
    worker = spool_worker.SpoolWorker(config)
    worker.start()
    engine = sa.create_engine(config.database_url)
    try:
        worker.submit(spool.write(config.data_dir, stranger, via="smtp"))
        deadline = time.monotonic() + 60
        while (row := _held(engine)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
        engine.dispose()
    assert row is not None, "the filing process filed nothing"
    status, reason = row
    assert status == "held" and reason.startswith("Held for review") and "Zur Prüfung" not in reason, reason


def _held(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT status, reason FROM inboundmessage")).first()
