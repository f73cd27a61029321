"""Issue 6 end to end: `hub serve` as a subprocess with a real Dovecot and an SMTP sink.

A protocol with a next meeting arrives by IMAP and proposes a meeting; the coordinator confirms it; the
hub is started at later and later moments (a controlled clock, `tests/hub_at.py`) and killed in between.
The invitation (with its .ics), the reminder, both protocol-due requests and the approved newsletter with the
protocol in it each arrive at the sink once;
restarts (SIGKILL and SIGTERM) lose nothing and double nothing; what fell due while the hub was down goes
out once when it is back.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import icalendar
from conftest import SERVING, run_hub
from servers import dovecot, free_port  # noqa: F401  (fixture)
from smtp_sink import SmtpSink, configure

TESTS = Path(__file__).resolve().parent
PASSWORD_ENV = "HUB_E2E_IMAP_PASSWORD"

# The mailbox is at a provider (here Dovecot) whose MTA checked the sender, as the README advises for IMAP.
PROVIDER = "mx.provider.example"
PROTOCOL = (
    f"Authentication-Results: {PROVIDER}; dmarc=pass header.from=gesundheitsamt-musterhausen.example\r\n"
    "From: =?utf-8?q?J=C3=BCrgen_Wei=C3=9F?= <j.weiss@gesundheitsamt-musterhausen.example>\r\n"
    "To: protokolle@buendnis-musterhausen.example\r\n"
    "Subject: Ergebnisprotokoll AG Gesundheit vom 06.01.2030\r\n"
    "Message-ID: <e2e-protokoll-1@gesundheitsamt-musterhausen.example>\r\n"
    "Date: Mon, 07 Jan 2030 09:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Protokoll der Sitzung vom 06.01.2030\r\n"
    "Anwesend: Dr. Jürgen Weiß, Aylin Yılmaz\r\n"
    "\r\n"
    "Idee: ein Gesundheitstag für Familien im Mai.\r\n"
    "Was ist zu tun: Flyer für Kinderarztpraxen entwerfen (Aylin Yılmaz).\r\n"
    "\r\n"
    "Nächstes Treffen: Dienstag, 12. Februar 2030, 18:00 Uhr, Rathaus Musterhausen\r\n"
).encode()


def _hub(hub_dir, clock: str, *args: str) -> subprocess.CompletedProcess:
    result = run_hub(*args, cwd=hub_dir, env={"HUB_TEST_CLOCK": clock})
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


class Serve:
    """`hub serve` at a given moment; killed (SIGKILL) or stopped (SIGTERM) by the test."""

    def __init__(self, hub_dir, clock: str):
        self.log = hub_dir / f"serve-{clock.replace(':', '')}.log"
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "hub_at.py"), "serve", "--port", str(free_port())], cwd=hub_dir,
            env={**os.environ, "HUB_TEST_CLOCK": clock}, stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
            start_new_session=True,
        )
        SERVING.append(self.process)

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(encoding="utf-8", errors="replace"):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"hub serve exited:\n{self.log.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(60) == 0, self.log.read_text()


def _subjects(sink: SmtpSink) -> list[tuple[str, str]]:
    out = []
    for message in sink.messages:
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        for recipient in message.recipients:
            out.append((str(parsed["Subject"]).split(":")[0], recipient.lower()))
    return sorted(out)


def _is_newsletter(message) -> bool:
    return email.message_from_bytes(message.data, policy=policy.default)["Precedence"] == "bulk"


def _wait_newsletters(sink: SmtpSink, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(len(m.recipients) for m in sink.messages if _is_newsletter(m)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} newsletters not received; got {_subjects(sink)}")


def _wait_subjects(sink: SmtpSink, prefix: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for s, _ in _subjects(sink) if s == prefix) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} × {prefix!r} not received; got {_subjects(sink)} (hub serve must run the "
                         "scheduler, hub.scheduler.runner.Runner, and the outbox worker)")


def test_protocol_to_invitation_reminder_protocol_due_and_newsletter_once_each(hub_dir, dovecot, monkeypatch):  # noqa: F811
    monkeypatch.setenv(PASSWORD_ENV, "geheim-im-test")
    user = dovecot.new_user()
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        'sender_check = "dmarc"', f'sender_check = "trusted-header"\ntrusted_authserv_id = "{PROVIDER}"'),
        encoding="utf-8")
    with SmtpSink() as sink:
        configure(hub_dir, sink,
                  imap={"host": "127.0.0.1", "port": dovecot.port, "tls": "none", "user": user,
                        "password_env": PASSWORD_ENV, "poll_interval": 1},
                  outbox={"poll_seconds": 0.2}, schedule={"report": "off", "digest": "0 9 1 * *"})
        assert _hub(hub_dir, "2030-01-07T08:00:00+00:00", "init").returncode == 0
        assert _hub(hub_dir, "2030-01-07T08:00:00+00:00", "partners", "import",
                    "config/partners.example.csv").returncode == 0
        with dovecot.client(user) as client:
            client.append("INBOX", PROTOCOL)

        # 7 January: the protocol is fetched and filed; its next meeting is proposed; the coordinator confirms.
        clock = "2030-01-07T10:00:00+00:00"
        hub = Serve(hub_dir, clock)
        deadline = time.monotonic() + 60
        proposed = []
        while not proposed and time.monotonic() < deadline:
            listed = _hub(hub_dir, clock, "meetings", "list", "--json")
            proposed = [m for m in json.loads(listed.stdout or "[]") if m["status"] == "proposed"]
            time.sleep(0.3)
        assert proposed, ("no proposed meeting: hub/filing.py's after_filing must call "
                          "hub.scheduler.meetings.propose_from_protocol\n" + hub.log.read_text())
        (meeting,) = proposed
        assert meeting["group"] == "gesundheit" and meeting["start"] == "2030-02-12T18:00:00+01:00"
        assert _hub(hub_dir, clock, "meetings", "confirm", str(meeting["id"])).returncode == 0
        hub.kill()

        # 30 January: the hub was down when the invitation was due (29 January, 09:00): it goes out once, late.
        hub = Serve(hub_dir, "2030-01-30T12:00:00+00:00")
        _wait_subjects(sink, "Einladung", 2)
        hub.kill()
        invitation = next(m for m in sink.messages if b"Einladung" in m.data)
        parsed = email.message_from_bytes(invitation.data, policy=policy.default)
        (ics,) = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
        calendar = icalendar.Calendar.from_ical(ics.get_payload(decode=True))
        (event,) = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "REQUEST" and event.decoded("DTSTART").astimezone(UTC) == \
            datetime(2030, 2, 12, 17, 0, tzinfo=UTC)

        # 10 February, just before 09:00 Berlin: the reminder fires in the running hub; SIGTERM, restart.
        hub = Serve(hub_dir, "2030-02-10T07:59:58+00:00")
        _wait_subjects(sink, "Erinnerung", 2)
        hub.stop()
        hub = Serve(hub_dir, "2030-02-10T08:01:00+00:00")
        hub.wait_for_log("scheduler: leading")

        # 19 February: no protocol for the 12 February meeting → the representative is asked for it.
        hub.kill()
        hub = Serve(hub_dir, "2030-02-19T07:59:58+00:00")
        _wait_subjects(sink, "Bitte senden Sie das Protokoll", 1)
        hub.kill()

        # 25 February: the coordinator drafts the next newsletter (it collects the protocol) and approves it.
        clock = "2030-02-25T10:00:00+00:00"
        drafted = _hub(hub_dir, clock, "newsletter", "draft", "--since", "2030-01-01", "--json")
        assert drafted.returncode == 0, drafted.stderr
        issue = json.loads(drafted.stdout)
        assert issue["protocols"] == 1
        assert _hub(hub_dir, clock, "newsletter", "approve", str(issue["id"])).returncode == 0

        # 1 March, 09:00 Berlin: the monthly date sends the approved issue to every subscriber once; and the
        # second protocol request, due on 26 February while the hub was down, goes out once, late.
        hub = Serve(hub_dir, "2030-03-01T07:59:58+00:00")
        _wait_subjects(sink, "Bitte senden Sie das Protokoll", 2)
        _wait_newsletters(sink, 9)
        hub.kill()
        newsletter = next(m for m in sink.messages if _is_newsletter(m))
        body = email.message_from_bytes(newsletter.data, policy=policy.default).get_body(("plain",)).get_content()
        assert "Gesundheitstag" in body

        # A last start after everything: nothing is sent again.
        before = _subjects(sink)
        hub = Serve(hub_dir, "2030-03-01T09:00:00+00:00")
        hub.wait_for_log("scheduler: leading")
        hub.stop()
        after = _subjects(sink)
        assert after == before
        kinds = [s for s, _ in after]
        newsletters = [r for m in sink.messages if _is_newsletter(m) for r in m.recipients]
        assert len(newsletters) == len(set(newsletters)) == 9
        assert kinds.count("Einladung") == 2 and kinds.count("Erinnerung") == 2
        assert [r for s, r in after if s == "Bitte senden Sie das Protokoll"] == [
            "j.weiss@gesundheitsamt-musterhausen.example"] * 2
