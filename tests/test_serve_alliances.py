"""One `hub serve` for an installation of many alliances (issue 17): one listener takes the mail of every
alliance's domain and refuses other domains, each message is filed for the alliance its recipients are at (a
message for two alliances is split by the client, asked with 452), each alliance's receipts go out from its own
address, each alliance has its scheduler, and its web admin at its own host name."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import SERVING, TESTS, clock_env
from servers import DOVECOT_PASSWORD, dovecot, free_port  # noqa: F401  (dovecot is a fixture)
from sqlmodel import select
from test_alliances_config import GROUPS, _installation_only
from test_ingest import WEISS, mail

from hub import config as config_module
from hub.alliance import unit_of_work
from hub.models import Delivery, InboundMessage, OutboundMail

DOMAINS = {"eins": "buendnis-eins.example", "zwei": "buendnis-zwei.example"}


def _until(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {check.__doc__}")


def _two_alliances(hub, hub_dir, own_sections: dict[str, str]) -> dict[str, config_module.Config]:
    """The installation of two alliances, each with its group, Jürgen Weiß as a partner, and `own_sections`."""
    path = hub_dir / "config" / "hub.toml"
    path.write_text(_installation_only(path.read_text(encoding="utf-8")), encoding="utf-8")
    for slug, domain in DOMAINS.items():
        assert hub("alliances", "add", slug, "--name", f"Bündnis {slug.title()}", "--domain", domain).returncode == 0
        own = hub_dir / "config" / "alliances" / f"{slug}.toml"
        own.write_text(own.read_text(encoding="utf-8") + GROUPS + own_sections[slug], encoding="utf-8")
        for args in (["init"], ["partners", "add", WEISS, "--name", "Jürgen Weiß", "--group", "gesundheit",
                                "--role", "representative", "--no-welcome"]):
            done = hub("--alliance", slug, *args)
            assert done.returncode == 0, done.stderr
    return {slug: config_module.load(path, slug) for slug in DOMAINS}


def _serve(hub_dir, port: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """`hub serve` for every alliance of the installation, once it says it serves both."""
    log = hub_dir / "serve.log"
    inherited = {key: value for key, value in os.environ.items() if key != "HUB_ALLIANCE"}
    process = subprocess.Popen([sys.executable, str(TESTS / "hub_at.py"), "serve", "--port", str(port)],
                               cwd=hub_dir, env={**inherited, **clock_env(), **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
    SERVING.append(process)
    _until(lambda: "hub serving Bündnis Eins, Bündnis Zwei" in log.read_text(encoding="utf-8")
           or process.poll() is not None)
    return process, log


def test_one_serve_receives_files_and_answers_for_every_alliance(hub, hub_dir):
    configs = _two_alliances(hub, hub_dir, {slug: f'\n[web]\nbase_url = "http://{slug}.example.test"\n'
                                            for slug in DOMAINS})
    port = free_port()
    process, log = _serve(hub_dir, port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            both = [f"protokolle@{DOMAINS['eins']}", f"protokolle@{DOMAINS['zwei']}"]
            raw = mail(to=", ".join(both), subject="Ergebnisprotokoll AG Gesundheit für beide",
                       message_id="<beide@example.org>")
            refused = client.sendmail(WEISS, both, raw)
            assert list(refused) == [both[1]] and refused[both[1]][0] == 452, refused
            assert client.sendmail(WEISS, [both[1]], raw) == {}
            try:
                client.sendmail(WEISS, ["protokolle@fremd.example"], raw)
                raise AssertionError("a recipient at no alliance's domain was accepted")
            except smtplib.SMTPRecipientsRefused as refusal:
                assert refusal.recipients["protokolle@fremd.example"][0] == 550

        for slug, each in configs.items():
            def filed(each=each):
                """the protocol filed in the alliance"""
                with unit_of_work(each) as session:
                    return session.exec(select(InboundMessage).where(InboundMessage.status == "filed")).all()

            def receipt_sent(each=each):
                """its receipt sent from the alliance's own address"""
                with unit_of_work(each) as session:
                    return session.exec(select(OutboundMail).join(Delivery, Delivery.mail_id == OutboundMail.id)
                                        .where(OutboundMail.kind == "receipt", Delivery.state == "sent")).all()

            (message,) = _until(filed)
            assert message.message_id == "<beide@example.org>" and message.envelope_to == [
                f"protokolle@{DOMAINS[slug]}"]
            (receipt,) = _until(receipt_sent)
            assert receipt.from_address == f"geschaeftsstelle@{DOMAINS[slug]}"
        _until(lambda: log.read_text(encoding="utf-8").count("scheduler: leading") == 2)
        web = configs["eins"].web.port
        for slug in DOMAINS:  # one web server, each alliance's admin at its own host name
            asked = urllib.request.Request(f"http://127.0.0.1:{web}/login", headers={"Host": f"{slug}.example.test"})
            with urllib.request.urlopen(asked, timeout=30) as page:
                assert f"Bündnis {slug.title()}" in page.read().decode("utf-8")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text(encoding="utf-8")


def test_each_alliance_fetches_its_own_mailbox_and_files_what_is_in_it_for_itself(hub, hub_dir, dovecot):  # noqa: F811
    """IMAP mail has no envelope: what the poller of one alliance's mailbox fetches is that alliance's."""
    users = {slug: dovecot.new_user() for slug in DOMAINS}
    configs = _two_alliances(hub, hub_dir, {slug: (
        f'\n[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\ntls = "none"\nuser = "{users[slug]}"\n'
        'password_env = "HUB_TEST_IMAP_PASSWORD"\npoll_interval = 1\n'
        f'\n[web]\nbase_url = "http://{slug}.example.test"\n') for slug in DOMAINS})
    for slug, domain in DOMAINS.items():
        with dovecot.client(users[slug]) as client:
            client.append("INBOX", mail(to=f"protokolle@{domain}", subject=f"Ergebnisprotokoll AG Gesundheit {slug}",
                                        message_id=f"<postfach-{slug}@example.org>"))
    process, log = _serve(hub_dir, free_port(), {"HUB_TEST_IMAP_PASSWORD": DOVECOT_PASSWORD})
    try:
        for slug, each in configs.items():
            def filed(each=each):
                """the protocol of the alliance's mailbox filed in the alliance"""
                with unit_of_work(each) as session:
                    return session.exec(select(InboundMessage)).all()

            (message,) = _until(filed)
            assert (message.message_id, message.received_via) == (f"<postfach-{slug}@example.org>", "imap")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text(encoding="utf-8")
