"""`hub serve` always starts, whatever the spool holds: recovery runs in the filing process after the listener
opened, and a message that breaks a step goes to quarantine instead of stopping the hub."""

from __future__ import annotations

import smtplib
import time

from servers import free_port
from test_crash import (  # noqa: F401 — the installation is a fixture
    PROTOCOLS,
    SENDER,
    Hub,
    installation,
    protocol,
    send,
    wait_until_stored,
)

from hub.inbound import spool


def test_serve_starts_and_goes_on_past_a_message_that_breaks_a_step(installation, config):  # noqa: F811
    spool.write(config.data_dir, protocol("breaks"), via="smtp", envelope_from=SENDER, envelope_to=[PROTOCOLS])
    port = free_port()
    hub = Hub(installation, port, "raise:attachments")  # every message breaks while its attachments are stored
    send(port, protocol("after"))
    assert wait_until_stored(config, "<breaks@gesundheitsamt-musterhausen.example>") == [("quarantined", "other")]
    assert wait_until_stored(config, "<after@gesundheitsamt-musterhausen.example>") == [("quarantined", "other")]
    assert hub.stop() == 0
    hub = Hub(installation, port)  # "after the upgrade": a later start finds nothing blocked
    send(port, protocol("fixed"))
    assert wait_until_stored(config, "<fixed@gesundheitsamt-musterhausen.example>") == [("filed", "protocol")]
    assert hub.stop() == 0


def _seconds_to_greeting(installation, port: int) -> tuple[float, Hub]:  # noqa: F811
    started = time.monotonic()
    hub = Hub(installation, port)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.noop()[0] == 250
    return time.monotonic() - started, hub


def test_the_listener_opens_at_once_with_ten_thousand_messages_in_the_spool(installation, config):  # noqa: F811
    port = free_port()
    empty, hub = _seconds_to_greeting(installation, port)
    assert hub.stop() == 0
    _, new = spool.spool_dirs(config.data_dir)
    template = protocol("{n}").replace(b"%", b"%%").replace(b"{n}", b"%d")
    for n in range(10_000):  # written as a crash would leave them (by name, like `hub ingest --queue`'s)
        (new / f"{n:020d}-1-00000000.eml").write_bytes(template % n)
    loaded, hub = _seconds_to_greeting(installation, port)
    send(port, protocol("while-recovering"))
    assert wait_until_stored(config, "<while-recovering@gesundheitsamt-musterhausen.example>",
                             spool_empty=False) == [("filed", "protocol")]
    # Filing 10,000 messages before the listener took minutes; a busy machine may slow the second start a bit.
    assert loaded < empty * 1.5 + 2.0, f"greeting after {loaded:.2f} s with 10,000 spooled, {empty:.2f} s without"
    assert hub.stop() == 0
