"""Retention by age (issue 13): with the clock moved on, each kind of data is gone after its period — and
only then — while what must stay stays (the protocol's text, subject and group; the counts of sent mail).
A dry run deletes nothing; `hub retention run` prints it in German; `hub serve` runs it daily at 03:30; a
period of 0 days is refused when the config loads."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlmodel import func, select
from test_ingest import WEISS, mail

from hub import config as config_module
from hub import delivery, filing, outbox_actions, queries, retention, review, sends, supervisor
from hub.config import ConfigError
from hub.failpoints import armed
from hub.models import (
    AuditLog,
    Blob,
    BounceEvent,
    Delivery,
    InboundMessage,
    MessageAttachment,
    MessageStatus,
    OutboundMail,
    Partner,
)
from hub.outbound import bounces, outbox
from hub.outbound.outbox import Recipient
from hub.outbound.transports import maildir_path
from hub.scheduler import runner
from hub.spool_worker import SpoolWorker

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
MAILS = Path(__file__).parent / "mails"
DSN = (
    "From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    "Message-ID: <dsn-retention@mx.example.org>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
    "Final-Recipient: rfc822; {to}\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
)
DOCUMENT = "Ergebnisprotokoll AG Gesundheit\nNächstes Treffen: 21.04.2026, 18 Uhr".encode()


def _ingest(config, raw: bytes, **kw):
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS], **kw)


@pytest.fixture
def world(session, config, alliance, partners) -> dict:
    """One alliance's mail of every kind, sent and received on the test clock's day."""
    protocol = _ingest(config, mail(message_id="<ret-protocol@gesundheitsamt-musterhausen.example>",
                                    attachments=[("protokoll.txt", "text/plain", DOCUMENT)]))
    held = _ingest(config, mail(sender="fremd@example.org", message_id="<ret-held@example.org>",
                                subject="Protokoll von irgendwem"))
    rejected = _ingest(config, mail(sender="fremd2@example.org", message_id="<ret-rejected@example.org>",
                                    subject="Werbung"))
    with armed("raise:classify"):
        quarantined = _ingest(config, mail(message_id="<ret-quarantine@gesundheitsamt-musterhausen.example>",
                                           subject="Protokoll, das nicht ging"))
    dsn = _ingest(config, DSN.format(to=PROTOCOLS).encode())
    autoreply = _ingest(config, (MAILS / "abwesenheitsnotiz.eml").read_bytes())
    assert (protocol.status, held.status, quarantined.status, dsn.status, autoreply.status) == (
        "filed", "held", "quarantined", "recorded", "recorded")
    review.reject(session, config, rejected.data["id"])
    session.commit()
    flushed = delivery.flush(config)  # receipt and relay of the protocol, into the Maildir outbox
    assert flushed.sent >= 2
    session.rollback()
    sent = session.exec(select(Delivery).where(Delivery.state == "sent").order_by(Delivery.id)).first()
    bounces.record_bounce(session, config, sent.recipient, True, status="5.1.1", delivery_id=sent.id)
    session.add(AuditLog(actor="p.schulze@buendnis-musterhausen.example", action="login.failed", ip="192.0.2.7"))
    partner = session.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id)).first()
    waiting = OutboundMail(kind="notice", subject="wartet noch", from_address="", text="wartet", html="<p>wartet</p>")
    outbox.enqueue(session, waiting, [Recipient(partner.email, partner_id=partner.id)])  # queued, never flushed
    session.commit()
    ids = {name: result.data["id"] for name, result in (("protocol", protocol), ("held", held), ("rejected", rejected),
                                                         ("quarantined", quarantined), ("dsn", dsn),
                                                         ("autoreply", autoreply))}
    return {**ids, "waiting": waiting.id}


def _later(days: float):
    return time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)


def _fresh(session):
    session.rollback()
    session.expire_all()
    return session


def _count(session, model) -> int:
    return _fresh(session).exec(select(func.count()).select_from(model)).one()


def _files(config) -> list[str]:
    return sorted(str(p.relative_to(config.data_dir)) for p in config.data_dir.rglob("*")
                  if p.is_file() and not p.name.startswith("scheduler.lock"))


def _snapshot(session, config) -> tuple:
    tables = (InboundMessage, MessageAttachment, Blob, OutboundMail, Delivery, BounceEvent, AuditLog)
    bodies = _fresh(session).exec(select(OutboundMail.id, OutboundMail.text, OutboundMail.html)
                                  .order_by(OutboundMail.id)).all()
    raws = session.exec(select(InboundMessage.id, InboundMessage.raw_path, InboundMessage.sender)
                        .order_by(InboundMessage.id)).all()
    return tuple(_count(session, t) for t in tables), bodies, raws, _files(config)


def _outbox_files(config) -> list[Path]:
    return [p for sub in ("new", "cur") for p in (maildir_path(config) / sub).glob("*")]


def test_dry_run_counts_everything_and_deletes_nothing(session, config, world):
    before = _snapshot(session, config)
    with _later(400):
        report = retention.run(_fresh(session), config, dry_run=True)
    assert report.dry_run
    assert {name for name, count in report.counts.items() if count == 0} == set(), report.counts
    assert report.counts["held_mail"] == 2 and report.counts["quarantined_mail"] == 1
    assert report.counts["recorded_mail"] == 2 and report.counts["raw_mail"] == 1
    assert report.counts["sent_mail"] >= 2 and report.counts["outbox_files"] == report.counts["deliveries"]
    assert _snapshot(session, config) == before


def test_each_kind_goes_after_its_period_and_what_must_stay_stays(session, config, alliance, world):
    protocol = _fresh(session).get(InboundMessage, world["protocol"])
    text, subject, group_id = protocol.text, protocol.subject, protocol.group_id
    assert protocol.sender == WEISS and protocol.envelope_from == WEISS and protocol.authentication
    raw_of = {key: (config.data_dir / session.get(InboundMessage, world[key]).raw_path)
              for key in ("protocol", "held", "rejected", "quarantined", "dsn", "autoreply")}
    assert all(path.is_file() for path in raw_of.values())
    blob_files = [config.data_dir / b.path for b in session.exec(select(Blob))]
    assert blob_files and all(path.is_file() for path in blob_files)
    counts = outbox_actions.counts(session, alliance)
    mail_ids = list(session.exec(select(OutboundMail.id).where(OutboundMail.id != world["waiting"])))
    per_mail = {m: dict(session.exec(select(Delivery.state, func.count()).where(Delivery.mail_id == m)
                                     .group_by(Delivery.state)).all()) for m in mail_ids}
    sent_total = len(_outbox_files(config))  # one file per delivery the Maildir transport wrote
    assert sent_total == sum(sum(states.values()) for states in per_mail.values()) >= 2
    assert counts["sent"] >= 1 and counts["failed"] == 1  # the bounce failed one (bounces.record_bounce)
    filed = queries.message_counts(session, alliance.id)[MessageStatus.filed]

    # Day 29: nothing is old enough yet.
    with _later(29):
        assert set(retention.run(_fresh(session), config).counts.values()) == {0}
    assert session.get(InboundMessage, world["quarantined"]) is not None and _outbox_files(config)

    # Day 31: quarantined mail and the Maildir outbox files.
    with _later(31):
        report = retention.run(_fresh(session), config)
    assert report.counts["quarantined_mail"] == 1 and report.counts["outbox_files"] == sent_total
    assert _fresh(session).get(InboundMessage, world["quarantined"]) is None
    assert not raw_of["quarantined"].exists()
    assert _outbox_files(config) == []
    assert session.get(InboundMessage, world["held"]) is not None
    assert outbox_actions.counts(session, alliance) == counts

    # Day 91: held and rejected mail whole; delivery rows and the bodies of sent mail, their counts kept.
    with _later(91):
        report = retention.run(_fresh(session), config)
    assert (report.counts["held_mail"], report.counts["sent_mail"]) == (2, len(mail_ids))
    for key in ("held", "rejected"):
        assert _fresh(session).get(InboundMessage, world[key]) is None
        assert not raw_of[key].exists()
    assert session.exec(select(Delivery).where(Delivery.mail_id.in_(mail_ids))).all() == []
    for mail_row in session.exec(select(OutboundMail).where(OutboundMail.id.in_(mail_ids))):
        assert (mail_row.text, mail_row.html, mail_row.attachments) == ("", None, [])
        assert mail_row.subject and mail_row.kind
        assert queries.retained_counts(session, mail_ids=[mail_row.id]) == per_mail[mail_row.id]
    assert outbox_actions.counts(session, alliance) == counts  # the dashboard's and the outbox page's counts
    bounce = session.exec(select(BounceEvent).where(BounceEvent.source != "unverified")).one()
    assert bounce.delivery_id is None and bounce.partner_id is not None  # the bounce record stays a year
    waiting = session.get(OutboundMail, world["waiting"])
    assert waiting.text == "wartet" and session.exec(select(Delivery).where(Delivery.mail_id == waiting.id)).one()
    protocol = session.get(InboundMessage, world["protocol"])
    assert protocol.sender == WEISS and raw_of["protocol"].is_file()

    # Day 366: the protocol's raw mail, attachments and sender fields; bounces, recorded mail, the audit log.
    with _later(366):
        report = retention.run(_fresh(session), config)
    assert report.counts["raw_mail"] == 1 and report.counts["attachments"] == len(blob_files)
    if config.database_url.startswith("sqlite:///"):  # the write-ahead log was checkpointed and emptied
        wal = Path(config.database_url.removeprefix("sqlite:///") + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    protocol = _fresh(session).get(InboundMessage, world["protocol"])
    assert (protocol.text, protocol.subject, protocol.group_id) == (text, subject, group_id)
    assert (protocol.raw_path, protocol.sender, protocol.envelope_from, protocol.sender_name) == ("", None, None, "")
    assert protocol.envelope_to == [] and protocol.html is None and protocol.authentication == ""
    assert WEISS not in protocol.reason
    assert not raw_of["protocol"].exists()
    assert session.exec(select(MessageAttachment)).all() == [] and session.exec(select(Blob)).all() == []
    assert not any(path.exists() for path in blob_files)
    for key in ("dsn", "autoreply"):
        assert session.get(InboundMessage, world[key]) is None and not raw_of[key].exists()
    assert _count(session, BounceEvent) == 0 and _count(session, AuditLog) == 0
    assert queries.message_counts(session, alliance.id)[MessageStatus.filed] == filed
    assert outbox_actions.counts(session, alliance) == counts
    assert list((config.data_dir / "messages").rglob("*.eml")) == []

    # Once is enough: the next day's run finds nothing.
    with _later(367):
        assert set(retention.run(_fresh(session), config).counts.values()) == {0}


def test_a_protocol_that_comes_again_after_its_raw_mail_went_stays_without_it(session, config, partners):
    """Filing archives a batch's raw bytes before its transaction, but not those of a message already stored: the
    same protocol coming again a year later is a duplicate, and the raw mail retention let go stays gone."""
    raw = mail(message_id="<ret-again@gesundheitsamt-musterhausen.example>")
    first = _ingest(config, raw)
    assert first.status == "filed" and len(list((config.data_dir / "messages").rglob("*.eml"))) == 1
    with _later(366):
        assert retention.run(_fresh(session), config).counts["raw_mail"] == 1
        again = _ingest(config, raw)
    assert (again.status, again.data["id"]) == ("duplicate", first.data["id"])
    assert list((config.data_dir / "messages").rglob("*.eml")) == []
    assert _fresh(session).get(InboundMessage, first.data["id"]).raw_path == ""


def test_cli_shows_what_it_would_delete_and_deletes_it(hub_in_process, session, config, world):
    with _later(400):
        dry = hub_in_process("retention", "run", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "Probelauf" in dry.stdout and "nichts wurde gelöscht" in dry.stdout
        assert "zurückgehaltene und abgelehnte Mails" in dry.stdout and "90 Tage" in dry.stdout
        assert "Dateien im Maildir-Postausgang" in dry.stdout and "30 Tage" in dry.stdout
        assert _fresh(session).get(InboundMessage, world["held"]) is not None
        as_json = hub_in_process("retention", "run", "--dry-run", "--json")
        data = json.loads(as_json.stdout)
        assert data["dry_run"] is True
        assert data["categories"]["held_mail"] == {"count": 2, "days": 90}
        assert data["categories"]["attachments"]["days"] is None
        done = hub_in_process("retention", "run")
        assert done.returncode == 0, done.stderr
        assert "gelöscht wurde" in done.stdout and "Probelauf" not in done.stdout
        row = next(line for line in done.stdout.splitlines() if line.startswith("zurückgehaltene"))
        assert row.split()[-1] == "2"
    assert _fresh(session).get(InboundMessage, world["held"]) is None
    again = json.loads(hub_in_process("retention", "run", "--json").stdout)
    assert all(c["count"] == 0 for c in again["categories"].values())


@pytest.mark.parametrize(("line", "expected"), [
    ("raw_mail_days = 0", "retention.raw_mail_days: 0 Tage geht nicht"),
    ("held_mail_days = -5", "retention.held_mail_days: -5 Tage geht nicht"),
    ("quarantine_days = 0", "retention.quarantine_days:"),
    ("outbox_files_days = 0", "retention.outbox_files_days:"),
    ("sent_mail_days = 3651", "retention.sent_mail_days: 3651 Tage sind zu lang"),
    ("run_time = \"25:00\"", "retention.run_time:"),
])
def test_a_period_of_no_days_is_refused_at_load(hub_dir, hub_in_process, line, expected):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + f"\n[retention]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config_module.load(path)
    assert expected in str(info.value) and str(info.value).startswith(str(path))
    result = hub_in_process("retention", "run", "--dry-run")
    assert result.returncode == 2 and expected in result.stderr


def test_changed_periods_apply(hub_dir, session, world):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[retention]\nheld_mail_days = 10\nraw_mail_days = 20\n",
                    encoding="utf-8")
    config = config_module.load(path)
    with _later(11):
        report = retention.run(_fresh(session), config, dry_run=True)
    assert (report.counts["held_mail"], report.counts["raw_mail"]) == (2, 0)
    with _later(21):
        report = retention.run(_fresh(session), config, dry_run=True)
    # the protocol, and the bounce report and the auto-reply (whose rows stay for bounces_days)
    assert report.counts["raw_mail"] == 3 and report.days["raw_mail"] == 20


def test_hub_serve_runs_retention_daily_at_half_past_three_local_time(config, alliance):
    worker = SpoolWorker(config)
    (scheduler,) = [s for s in supervisor.services(config, worker, imap=False) if isinstance(s, runner.Runner)]
    assert [(d.name, d.clock, d.run) for d in scheduler.daily] == [("retention", "03:30", retention.daily)]

    ran = threading.Event()
    job = runner.Daily("retention", config.retention.run_time, lambda c: ran.set())
    today = datetime.now(config.tz).date() + timedelta(days=1)
    just_before = datetime(today.year, today.month, today.day, 3, 29, 58, tzinfo=config.tz)
    with time_machine.travel(just_before, tick=True):
        hub = runner.Runner(config, sends.execute, resync_seconds=60, daily=(job,))
        try:
            assert hub.start()
            nxt = hub.scheduler.get_job("daily:retention").next_run_time
            assert (nxt.astimezone(config.tz).hour, nxt.astimezone(config.tz).minute) == (3, 30)
            assert not ran.is_set()
            assert ran.wait(15)
        finally:
            hub.stop()


def test_the_daily_job_logs_counts_and_no_addresses(config, world, caplog):
    caplog.set_level("INFO", logger="hub.retention")
    with _later(400):
        retention.daily(config)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "hub.retention"]
    assert line.startswith("retention: held_mail=2 quarantined_mail=1")
    assert "@" not in line and "Weiß" not in line
    assert list((config.data_dir / "messages").rglob("*.eml")) == []
