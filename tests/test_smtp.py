"""The SMTP/LMTP listener, driven by real clients (smtplib, swaks, a raw LMTP socket) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import subprocess
from contextlib import contextmanager

import pytest

from hub.inbound import spool
from hub.inbound.smtp import InboundHandler, Listener

DOMAIN = "buendnis-musterhausen.example"
PROTOCOLS = f"protokolle@{DOMAIN}"
RAW = (
    "From: =?utf-8?q?J=C3=BCrgen_Wei=C3=9F?= <j.weiss@gesundheitsamt-musterhausen.example>\r\n"
    f"To: {PROTOCOLS}\r\n"
    "Subject: Ergebnisprotokoll AG Gesundheit\r\n"
    "Message-ID: <smtp-1@gesundheitsamt-musterhausen.example>\r\n"
    "\r\n"
    "Liebe Kolleginnen und Kollegen,\r\n"
    ".Zeile mit Punkt am Anfang\r\n"
    "N=C3=A4chstes Treffen: 21.04.2026\r\n"
).encode()


def with_inbound(config, **changes):
    return config.model_copy(update={"inbound": config.inbound.model_copy(update=changes)})


@contextmanager
def listening(config, on_spooled):
    listener = Listener(config, on_spooled, host="127.0.0.1", port=0)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def received():
    return []


@pytest.fixture
def server(config, received):
    with listening(config, received.append) as listener:
        yield listener


def test_bytes_are_on_disk_when_the_client_gets_250(server, received, config):
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        refused = client.sendmail("j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS], RAW)
        assert refused == {}
        # The 250 has arrived: the exact bytes (dot-stuffing undone) must already be in the spool.
        [entry] = spool.pending(config.data_dir)
    assert entry.path.read_bytes() == RAW
    assert (entry.via, entry.envelope_from, entry.envelope_to) == (
        "smtp", "j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS])
    assert [e.path for e in received] == [entry.path]


def test_an_mta_may_deliver_many_messages_over_one_connection(server, received):
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        for number in range(150):  # more than aiosmtpd's usual 100 commands of a kind per connection
            assert client.sendmail("j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS],
                                   RAW.replace(b"Subject: ", f"Subject: {number} ".encode(), 1)) == {}
    assert len(received) == 150


@pytest.mark.parametrize("address", [
    PROTOCOLS, f"Protokolle@{DOMAIN.upper()}", f"protokolle+gesundheit@{DOMAIN}", f"protokolle+unbekannt@{DOMAIN}",
    f"ag-gesundheit@{DOMAIN}", f"lotsen@{DOMAIN}", f"geschaeftsstelle@{DOMAIN}", f"bounces@{DOMAIN}",
    f"bounces+Zq3x-17.ab@{DOMAIN}", f"abmelden@{DOMAIN}",
])
def test_own_addresses_are_accepted(server, address):
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        client.mail("j.weiss@gesundheitsamt-musterhausen.example")
        code, reply = client.rcpt(address)
    assert code == 250, reply


@pytest.mark.parametrize("address", [
    "someone@elsewhere.example", f"wer-auch-immer@{DOMAIN}", f"ag-gesundheit@sub.{DOMAIN}",
    "protokolle@buendnis-musterhausen.example.evil.example", f"gesundheit@{DOMAIN}",
])
def test_everything_else_is_refused_no_relaying(server, received, config, address):
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("spammer@elsewhere.example", [address], RAW)
    code, reply = refused.value.recipients[address]
    assert code == 550 and reply.startswith(b"5.1.1")
    assert received == [] and spool.pending(config.data_dir) == []


def test_oversized_mail_gets_552_and_nothing_is_kept(config, received):
    small = with_inbound(config, max_message_size=2000)
    big = RAW + b"x" * 76 + b"\r\n" * 1 + (b"y" * 76 + b"\r\n") * 60
    with listening(small, received.append) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        # A client that announces SIZE is refused at MAIL FROM …
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS], big)
        assert refused.value.smtp_code == 552
        client.rset()
        # … one that does not, after DATA.
        client.mail("j.weiss@gesundheitsamt-musterhausen.example")
        client.rcpt(PROTOCOLS)
        code, _ = client.data(big)
        assert code == 552
        code, _ = client.noop()
        assert code == 250  # the session goes on
    assert received == [] and spool.pending(config.data_dir) == []


def test_too_many_recipients_get_452(config, received):
    with listening(with_inbound(config, max_recipients=2), received.append) as server:
        with smtplib.SMTP("127.0.0.1", server.port) as client:
            client.ehlo()
            client.mail("j.weiss@gesundheitsamt-musterhausen.example")
            assert client.rcpt(PROTOCOLS)[0] == 250
            assert client.rcpt(f"ag-gesundheit@{DOMAIN}")[0] == 250
            code, reply = client.rcpt(f"lotsen@{DOMAIN}")
            assert (code, reply[:5]) == (452, b"4.5.3")
            assert client.data(RAW)[0] == 250
    assert received[0].envelope_to == [PROTOCOLS, f"ag-gesundheit@{DOMAIN}"]


def test_smtputf8_and_8bitmime(server, received):
    raw = (f"From: Jürgen Weiß <jürgen@bündnis-süd.example>\r\nTo: {PROTOCOLS}\r\n"
           "Subject: Protokoll Gesundheit – Sitzung vom 12.03.2026\r\n\r\nGrüße aus Musterhausen\r\n").encode()
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        assert client.has_extn("smtputf8") and client.has_extn("8bitmime")
        client.sendmail("jürgen@bündnis-süd.example", [PROTOCOLS], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [entry] = received
    assert entry.envelope_from == "jürgen@bündnis-süd.example"
    assert entry.path.read_bytes() == raw


def test_lmtp_answers_once_per_accepted_recipient(config, received):
    with listening(with_inbound(config, protocol="lmtp"), received.append) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            lines = sock.makefile("rb")

            def reply() -> bytes:
                line = lines.readline()
                while line[3:4] == b"-":
                    line = lines.readline()
                return line

            assert reply().startswith(b"220")
            for command, expected in [
                (b"LHLO postfix.example", b"250"),
                (b"MAIL FROM:<j.weiss@gesundheitsamt-musterhausen.example>", b"250"),
                (f"RCPT TO:<{PROTOCOLS}>".encode(), b"250"),
                (b"RCPT TO:<fremd@elsewhere.example>", b"550"),
                (f"RCPT TO:<ag-gesundheit@{DOMAIN}>".encode(), b"250"),
                (b"DATA", b"354"),
            ]:
                sock.sendall(command + b"\r\n")
                assert reply().startswith(expected), command
            sock.sendall(RAW.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            assert [reply()[:9] for _ in range(2)] == [b"250 2.0.0"] * 2
            sock.sendall(b"NOOP\r\n")
            assert reply().startswith(b"250")  # nothing else was waiting in the stream
    [entry] = received
    assert entry.via == "lmtp" and entry.envelope_to == [PROTOCOLS, f"ag-gesundheit@{DOMAIN}"]
    assert entry.path.read_bytes() == RAW


def test_swaks_delivers_and_is_refused_for_relay(server, received, tmp_path):
    mail = tmp_path / "mail.eml"
    mail.write_bytes(RAW)
    ok = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port}", "--from", "j.weiss@example.org",
                         "--to", f"protokolle+gesundheit@{DOMAIN}", "--data", str(mail)],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "250 2.0.0 OK: queued" in ok.stdout
    relay = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port}", "--from", "j.weiss@example.org",
                            "--to", "victim@elsewhere.example", "--data", str(mail)],
                           capture_output=True, text=True, timeout=30)
    assert relay.returncode != 0
    assert "550 5.1.1" in relay.stdout
    [entry] = received
    assert entry.envelope_to == [f"protokolle+gesundheit@{DOMAIN}"]
    assert b"Ergebnisprotokoll AG Gesundheit" in entry.path.read_bytes()


def test_a_failing_callback_does_not_cost_the_250(config):
    """Once spooled, the mail is safe: the sender gets 250 whatever happens to filing afterwards."""
    calls = []

    def broken(entry):
        calls.append(entry)
        raise RuntimeError("filing failed")

    with listening(config, broken) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        assert client.sendmail("j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS], RAW) == {}
        assert client.noop()[0] == 250
    assert len(calls) == 1
    assert [e.path for e in spool.pending(config.data_dir)] == [calls[0].path]  # filed at the next start


def test_session_errors_answer_451_without_leaking_details(config):
    handler = InboundHandler(config, lambda entry: None)
    reply = asyncio.run(handler.handle_exception(RuntimeError("geheimes Detail aus /srv/hub")))
    assert reply.startswith("451 4.3.0")
    assert "geheim" not in reply and "RuntimeError" not in reply


def test_spool_failure_answers_451_and_never_250(config, received, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("HUB_DATA_DIR", str(blocker))
    with listening(config, received.append) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        with pytest.raises(smtplib.SMTPDataError) as failed:
            client.sendmail("j.weiss@gesundheitsamt-musterhausen.example", [PROTOCOLS], RAW)
    assert failed.value.smtp_code == 451
    assert received == []


def test_stop_closes_the_port(config, received):
    listener = Listener(config, received.append, host="127.0.0.1", port=0)
    listener.start()
    port = listener.port
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("a@example.org", [PROTOCOLS], RAW)
    listener.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert len(received) == 1
