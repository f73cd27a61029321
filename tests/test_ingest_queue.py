"""`hub ingest --queue`, as a Postfix pipe transport calls it: the mail is made durable in the spool and the
process ends without loading the parser or the database; a spool it cannot write is a temporary failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from hub import spool_worker
from hub.inbound import spool

PROTOCOL = (
    "From: Dr. Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>\r\n"
    "To: protokolle@buendnis-musterhausen.example\r\n"
    "Subject: Ergebnisprotokoll AG Gesundheit\r\n"
    "Message-ID: <queued-1@gesundheitsamt-musterhausen.example>\r\n\r\n"
    "Nächstes Treffen: 9. April 2030, 18 Uhr\r\n"
).encode()


def test_queue_spools_from_stdin_without_loading_the_database(hub_dir, config):
    probe = ("import sys; from hub.cli import main; code = main(sys.argv[1:]); "
             "heavy = [m for m in ('sqlmodel', 'sqlalchemy', 'hub.inbound.parse', 'jinja2') if m in sys.modules]; "
             "print(code, heavy, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe, "ingest", "--queue", "--json", "--sender",
                             "j.weiss@gesundheitsamt-musterhausen.example", "--recipient",
                             "protokolle@buendnis-musterhausen.example", "-"],
                            input=PROTOCOL, capture_output=True, cwd=hub_dir, env=os.environ, timeout=60)
    assert result.stderr.decode().strip() == "0 []"
    assert json.loads(result.stdout)["status"] == "queued"
    [entry] = spool.pending(config.data_dir)
    assert entry.path.read_bytes() == PROTOCOL
    assert entry.envelope_from == "j.weiss@gesundheitsamt-musterhausen.example"
    assert entry.envelope_to == ["protokolle@buendnis-musterhausen.example"]


def test_an_unwritable_spool_is_a_temporary_failure_for_postfix(hub, hub_dir):
    blocked = hub_dir / "not-a-folder"
    blocked.write_text("a file where the data folder should be")
    result = hub("ingest", "--queue", "-", input=PROTOCOL, env={"HUB_DATA_DIR": str(blocked)})
    assert result.returncode == 75, result.stderr
    assert "nicht beschreibbar" in result.stderr and "Traceback" not in result.stderr


def test_empty_input_is_refused_and_nothing_spooled(hub, config):
    result = hub("ingest", "--queue", "-", input=b"\r\n")
    assert result.returncode == 1 and "leere Datei" in result.stderr
    assert spool.pending(config.data_dir) == []


def test_a_running_hub_files_what_the_pipe_queued(hub, config, partners):
    """Nothing hands a queued mail over: the filing process finds it in the spool when no mail waits."""
    worker = spool_worker.SpoolWorker(config)
    worker.start()
    engine = sa.create_engine(config.database_url)
    try:
        assert hub("ingest", "--queue", "-", input=PROTOCOL).returncode == 0
        deadline = time.monotonic() + 60
        while (row := _stored(engine)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
        engine.dispose()
    assert row is not None, "the queued mail was never filed"
    assert row == ("protocol", "filed", "file")
    assert spool.pending(config.data_dir) == []


def _stored(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT kind, status, received_via FROM inboundmessage")).first()
