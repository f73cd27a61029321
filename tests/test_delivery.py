"""Delivery through a real SMTP server on 127.0.0.1: replies, outages, rate limit, crashes, two workers."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import time
from datetime import timedelta
from email import policy

import pytest
from conftest import clock_env, hub_command
from smtp_sink import SmtpSink, configure, free_port, self_signed_cert
from sqlmodel import select

from hub import delivery
from hub.alliance import unit_of_work
from hub.db import utcnow
from hub.models import BounceEvent, Delivery, OutboundMail, Partner
from hub.outbound import deliver, outbox, verp
from hub.outbound.outbox import Recipient


@pytest.fixture
def sink():
    with SmtpSink() as running:
        yield running


def _enqueue(config, count: int, prefix: str = "p", **mail) -> list[int]:
    fields = {"kind": "newsletter", "subject": "Neuigkeiten", "from_address": "",
              "text": "Hallo %%name%%\n", "source_ref": f"test:{prefix}"} | mail
    with unit_of_work(config) as session:
        result = outbox.enqueue(session, OutboundMail(**fields),
                                (Recipient(f"{prefix}{i}@example.org", name=f"Partner {i}") for i in range(count)))
        assert result.queued == count
        return [d.id for d in session.exec(select(Delivery).where(Delivery.mail_id == result.mail_id))]


def _states(config) -> dict[str, int]:
    with unit_of_work(config) as session:
        return {k: v for k, v in outbox.counts(session).items() if v}


def test_sends_each_recipient_once_with_verp_sender(hub_dir, alliance, sink):
    config = configure(hub_dir, sink, smtp={"connections": 3, "messages_per_connection": 4,
                                            "rate_per_minute": 100000})
    ids = _enqueue(config, 25)
    result = deliver.flush(config)
    assert (result.sent, result.deferred, result.failed) == (25, 0, 0)
    assert sorted(sink.count().values()) == [1] * 25
    assert 7 <= sink.greetings <= 10  # connections reused for 4 messages each, then opened anew
    for received in sink.messages:
        delivery_id = verp.delivery_for(config, received.sender)
        assert delivery_id in ids
        parsed = email.message_from_bytes(received.data, policy=policy.default)
        assert parsed["To"].addresses[0].addr_spec == received.recipients[0]
    with unit_of_work(config) as session:
        rows = session.exec(select(Delivery)).all()
        assert {d.state for d in rows} == {"sent"}
        assert all(d.smtp_message_id and d.last_reply.startswith("250 2.0.0 queued") for d in rows)
    assert deliver.flush(config).sent == 0  # nothing due any more


def test_4xx_defers_5xx_fails_and_counts_as_bounce(hub_dir, alliance, partners, sink):
    config = configure(hub_dir, sink, smtp={"connections": 1})
    with unit_of_work(config) as session:
        a, b, c = session.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id).limit(3)).all()
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient(a.email), Recipient(b.email), Recipient(c.email)])
    sink.fail("550 5.1.1 no such user", recipient=a.email)
    sink.fail("452 4.2.2 mailbox full", recipient=b.email)
    result = deliver.flush(config)
    assert (result.sent, result.deferred, result.failed) == (1, 1, 1)
    assert list(sink.count()) == [c.email.lower()]
    with unit_of_work(config) as session:
        by_recipient = {d.recipient: d for d in session.exec(select(Delivery))}
        assert by_recipient[a.email].state == "failed" and "5.1.1" in by_recipient[a.email].last_reply
        assert by_recipient[b.email].state == "deferred" and by_recipient[b.email].next_attempt_at > utcnow()
        event = session.exec(select(BounceEvent)).one()
        assert (event.source, event.permanent, event.status, event.partner_id) == ("smtp", True, "5.1.1", a.id)
        assert session.get(Partner, a.id).bounce_score == config.bounces.permanent_score


def test_5xx_at_data_fails_and_421_defers(hub_dir, alliance, sink):
    config = configure(hub_dir, sink, smtp={"connections": 1})
    _enqueue(config, 3)
    sink.fail("554 5.6.0 message rejected", at="data", recipient="p0@example.org")
    sink.fail("421 4.3.2 shutting down", at="data", recipient="p1@example.org")
    result = deliver.flush(config)
    assert (result.sent, result.deferred, result.failed) == (1, 1, 1)
    assert list(sink.count()) == ["p2@example.org"]


def test_refused_connection_defers_everything_and_loses_nothing(hub_dir, alliance):
    config = configure(hub_dir, smtp={"host": "127.0.0.1", "port": free_port(), "tls": "none"})
    _enqueue(config, 5)
    result = deliver.flush(config)
    assert result.unreachable and "unreachable" in result.unreachable
    assert result.sent == 0 and result.deferred >= 1
    assert _states(config).get("sent", 0) == 0 and sum(_states(config).values()) == 5


def test_hanging_server_times_out_and_defers(hub_dir, alliance, sink):
    config = configure(hub_dir, sink, smtp={"connections": 1, "timeout": 1})
    _enqueue(config, 2)
    sink.hang(at="data", recipient="p0@example.org")
    result = deliver.flush(config)
    sink.clear()
    assert result.deferred == 1 and result.sent == 1
    with unit_of_work(config) as session:
        deferred = session.exec(select(Delivery).where(Delivery.state == "deferred")).one()
        assert deferred.recipient == "p0@example.org" and "timed out" in deferred.last_reply


def test_outage_then_backlog_goes_out_at_the_rate_limit(hub_dir, alliance):
    port = free_port()
    config = configure(hub_dir, smtp={"host": "127.0.0.1", "port": port, "tls": "none", "connections": 4,
                                      "rate_per_minute": 1200}, outbox={"retry_base_seconds": 1,
                                                                       "retry_max_seconds": 1})
    _enqueue(config, 40)
    assert deliver.flush(config).unreachable  # the smarthost is down
    with SmtpSink(port=port) as sink:
        time.sleep(1.1)  # the deferred rows come due
        started = time.monotonic()
        while _states(config).get("sent", 0) < 40:
            deliver.flush(config)
            assert time.monotonic() - started < 30
        elapsed = time.monotonic() - started
    # 1200/min = 20/s with at most one second's burst: 40 mails cannot take less than about one second
    assert elapsed >= 0.9
    assert sorted(sink.count().values()) == [1] * 40


def test_login_with_password_from_environment(hub_dir, alliance, monkeypatch):
    with SmtpSink(auth=("office", "geheim")) as sink:
        config = configure(hub_dir, sink, smtp={"user": "office", "password_env": "TEST_SMTP_PASSWORD"})
        _enqueue(config, 2)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "falsch")
        assert "refused the login" in deliver.flush(config).unreachable
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "geheim")
        with unit_of_work(config) as session:
            outbox.retry(session, failed=False)
            for d in session.exec(select(Delivery)):
                d.next_attempt_at = utcnow()
                session.add(d)
        assert deliver.flush(config).sent == 2
        assert sink.logins and set(sink.logins) == {"office"}


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_to_a_smarthost_with_its_own_certificate(hub_dir, alliance, tmp_path, tls):
    cert = self_signed_cert(tmp_path)
    with SmtpSink(tls=tls, cert=cert) as sink:
        config = configure(hub_dir, sink, smtp={"tls": tls})
        _enqueue(config, 2)
        untrusted = deliver.flush(config)  # the certificate is not trusted yet: nothing goes out in clear
        assert untrusted.unreachable and untrusted.sent == 0 and not sink.messages
        config = configure(hub_dir, smtp={"ca_file": cert[0]})
        with unit_of_work(config) as session:
            for d in session.exec(select(Delivery)):
                d.next_attempt_at = utcnow()
                session.add(d)
        assert deliver.flush(config).sent == 2
        assert sink.tls_seen and all(sink.tls_seen)


def test_maildir_outbox_without_smarthost(config, alliance):
    _enqueue(config, 3)
    result = deliver.flush(config)
    assert result.transport == "maildir" and result.sent == 3
    import mailbox

    box = mailbox.Maildir(config.data_dir / "outbox", create=False)
    messages = [box.get_message(k) for k in box.keys()]
    assert sorted(m["Delivered-To"] for m in messages) == [f"p{i}@example.org" for i in range(3)]
    assert all(verp.delivery_for(config, m["Return-Path"]) for m in messages)


def _flush_process(hub_dir, worker: str) -> subprocess.Popen:
    env = {**os.environ, **clock_env(), "HUB_CONFIG": str(hub_dir / "config" / "hub.toml")}
    return subprocess.Popen([*hub_command(), "outbox", "flush", "--json"], cwd=hub_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_send_resends_at_most_the_rows_in_flight(hub_dir, alliance, sink):
    connections = 4
    config = configure(hub_dir, sink, smtp={"connections": connections, "rate_per_minute": 1_000_000},
                       outbox={"lease_seconds": 2})
    _enqueue(config, 2000)
    process = _flush_process(hub_dir, "first")
    sink.wait_for(300, timeout=60)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = len(sink.messages)
    assert before < 2000, "the sender finished before it could be killed"
    time.sleep(2.5)  # the killed worker's leases run out
    again = _flush_process(hub_dir, "second")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    counts = sink.count()
    assert len(counts) == 2000  # everyone got it
    twice = [r for r, n in counts.items() if n > 1]
    assert all(n <= 2 for n in counts.values())
    assert len(twice) <= connections, twice
    assert _states(config) == {"sent": 2000}


def test_two_worker_processes_send_each_row_once(hub_dir, alliance, sink):
    config = configure(hub_dir, sink, smtp={"connections": 2, "rate_per_minute": 1_000_000})
    _enqueue(config, 1000)
    workers = [_flush_process(hub_dir, name) for name in ("a", "b")]
    results = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [e.decode() for _, e in results]
    counts = sink.count()
    assert len(counts) == 1000 and set(counts.values()) == {1}
    import json

    sent = [json.loads(out)["sent"] for out, _ in results]
    assert sum(sent) == 1000
    assert _states(config) == {"sent": 1000}


def test_run_worker_sends_what_comes_in_until_stopped(hub_dir, alliance, sink):
    import threading

    from hub import outbox_worker

    config = configure(hub_dir, sink, outbox={"poll_seconds": 0.2})
    stop = threading.Event()
    worker = threading.Thread(target=outbox_worker.run, args=(config, stop))
    worker.start()
    try:
        _enqueue(config, 3, prefix="first")
        sink.wait_for(3, timeout=30)
        _enqueue(config, 2, prefix="later")
        sink.wait_for(5, timeout=30)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert _states(config) == {"sent": 5}


def test_internationalised_domain_goes_out_as_punycode(hub_dir, alliance, sink):
    config = configure(hub_dir, sink)
    with unit_of_work(config) as session:
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient("info@bündnis-müller.example")])
    assert deliver.flush(config).sent == 1
    punycode = "bündnis-müller.example".encode("idna").decode()
    assert punycode.startswith("xn--") and list(sink.count()) == [f"info@{punycode}"]
    parsed = email.message_from_bytes(sink.messages[0].data, policy=policy.default)
    assert parsed["To"].addresses[0].domain == punycode


def test_flush_draws_a_progress_bar_only_on_a_terminal(hub_dir, alliance, sink):
    import pty

    configure(hub_dir, sink)
    config = configure(hub_dir)
    _enqueue(config, 30)
    master, slave = pty.openpty()
    env = {**os.environ, **clock_env(), "HUB_CONFIG": str(hub_dir / "config" / "hub.toml")}
    process = subprocess.run([*hub_command(), "outbox", "flush"], cwd=hub_dir, env=env,
                             stdout=subprocess.PIPE, stderr=slave, timeout=120)
    os.close(slave)
    drawn = os.read(master, 65536).decode()
    os.close(master)
    assert process.returncode == 0
    assert "30/30" in drawn and "[" + "#" * 40 + "]" in drawn
    assert "30 an Smarthost 127.0.0.1 gesendet" in process.stdout.decode()  # German by default
    _enqueue(config, 2, prefix="q")
    quiet = subprocess.run([*hub_command(), "outbox", "flush"], cwd=hub_dir, env=env,
                           capture_output=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == b""


def test_a_non_ascii_local_part_fails_with_a_reason_and_the_rest_goes_out(hub_dir, alliance, sink):
    config = configure(hub_dir, sink)
    with unit_of_work(config) as session:
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient("jürgen@example.org"), Recipient("anna@example.org")])
    result = deliver.flush(config)
    assert (result.sent, result.failed) == (1, 1)
    with unit_of_work(config) as session:
        failed = session.exec(select(Delivery).where(Delivery.state == "failed")).one()
        assert failed.recipient == "jürgen@example.org" and "SMTPUTF8" in failed.last_reply


def test_giving_up_on_a_recipient_4xx_counts_as_a_transient_bounce(hub_dir, alliance, partners, sink):
    config = configure(hub_dir, sink)
    with unit_of_work(config) as session:
        partner = session.exec(select(Partner).where(Partner.left_at.is_(None))).first()
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient(partner.email)])
        for d in session.exec(select(Delivery)):
            d.created_at = utcnow() - timedelta(hours=config.outbox.give_up_hours, minutes=1)
            session.add(d)
    sink.fail("452 4.2.2 mailbox full", recipient=partner.email)
    result = deliver.flush(config)
    assert result.failed == 1
    with unit_of_work(config) as session:
        delivery = session.exec(select(Delivery)).one()
        assert delivery.state == "failed" and delivery.last_reply.startswith("aufgegeben nach 1 Versuchen")
        event = session.exec(select(BounceEvent)).one()
        assert (event.permanent, event.status, event.source) == (False, "4.2.2", "smtp")


def test_stopping_gives_back_what_was_not_sent(hub_dir, alliance, sink):
    import threading

    config = configure(hub_dir, sink, smtp={"connections": 1, "rate_per_minute": 120})
    _enqueue(config, 10)
    stop = threading.Event()
    result = {}
    flusher = threading.Thread(target=lambda: result.update(r=deliver.flush(config, stop=stop)))
    flusher.start()
    sink.wait_for(1, timeout=30)
    stop.set()
    flusher.join(timeout=30)
    sent = result["r"].sent
    assert 1 <= sent < 10 and result["r"].released == 10 - sent
    with unit_of_work(config) as session:
        rest = session.exec(select(Delivery).where(Delivery.state != "sent")).all()
        assert len(rest) == 10 - sent
        assert all(d.state == "queued" and d.attempts == 0 and d.leased_by is None for d in rest)


def _near_threshold(config, partner) -> None:
    """One more permanent bounce disables the address."""
    partner.bounce_score = config.bounces.threshold - config.bounces.permanent_score
    partner.bounce_updated_at = utcnow()


def _notices(config) -> list[OutboundMail]:
    with unit_of_work(config) as session:
        return list(session.exec(select(OutboundMail).where(OutboundMail.kind == "bounce_notice")))


def test_flush_returns_the_partners_it_disabled_and_sends_no_notice_itself(hub_dir, alliance, partners, sink):
    config = configure(hub_dir, sink, smtp={"connections": 1})
    with unit_of_work(config) as session:
        a, b = session.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id).limit(2)).all()
        _near_threshold(config, a)
        session.add(a)
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient(a.email), Recipient(b.email)])
    sink.fail("550 5.1.1 no such user", recipient=a.email)
    sink.fail("550 5.1.1 no such user", recipient=b.email)  # counts, but b is far from the threshold
    result = deliver.flush(config)
    assert result.failed == 2 and result.disabled == [a.id]
    assert result.as_dict()["disabled"] == [a.id]
    assert _notices(config) == []  # the stage records; telling the Geschäftsstelle is the use case's part
    assert deliver.flush(config).disabled == []  # disabled once, reported once


def test_the_delivery_use_case_tells_the_office_about_disabled_addresses(hub_dir, alliance, partners, sink):
    config = configure(hub_dir, sink, smtp={"connections": 1})
    with unit_of_work(config) as session:
        partner = session.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id)).first()
        _near_threshold(config, partner)
        session.add(partner)
        outbox.enqueue(session, OutboundMail(kind="receipt", subject="x", from_address="", text="x"),
                       [Recipient(partner.email)])
        address, partner_id = partner.email, partner.id
    sink.fail("550 5.1.1 no such user", recipient=address)
    result = delivery.flush(config)
    assert result.disabled == [partner_id]
    [notice] = _notices(config)
    assert address in notice.text
    with unit_of_work(config) as session:
        [queued] = session.exec(select(Delivery).where(Delivery.mail_id == notice.id)).all()
        assert queued.recipient == config.mail.office_address and queued.state == "queued"
    assert delivery.flush(config).sent == 1  # the notice itself goes out with the next flush
