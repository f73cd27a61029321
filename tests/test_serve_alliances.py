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

from conftest import SERVING, TESTS, clock_env
from servers import free_port
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


def test_one_serve_receives_files_and_answers_for_every_alliance(hub, hub_dir):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(_installation_only(path.read_text(encoding="utf-8")), encoding="utf-8")
    for slug, domain in DOMAINS.items():
        assert hub("alliances", "add", slug, "--name", f"Bündnis {slug.title()}", "--domain", domain).returncode == 0
        own = hub_dir / "config" / "alliances" / f"{slug}.toml"
        own.write_text(own.read_text(encoding="utf-8") + GROUPS + f'\n[web]\nbase_url = "http://{slug}.example.test"\n',
                       encoding="utf-8")
        for args in (["init"], ["partners", "add", WEISS, "--name", "Jürgen Weiß", "--group", "gesundheit",
                                "--role", "representative", "--no-welcome"]):
            done = hub("--alliance", slug, *args)
            assert done.returncode == 0, done.stderr
    configs = {slug: config_module.load(path, slug) for slug in DOMAINS}

    port = free_port()
    log = hub_dir / "serve.log"
    env = {key: value for key, value in os.environ.items() if key != "HUB_ALLIANCE"}
    process = subprocess.Popen([sys.executable, str(TESTS / "hub_at.py"), "serve", "--port", str(port)],
                               cwd=hub_dir, env={**env, **clock_env()}, stdout=subprocess.DEVNULL,
                               stderr=log.open("w"))
    SERVING.append(process)
    try:
        _until(lambda: "hub serving Bündnis Eins, Bündnis Zwei" in log.read_text(encoding="utf-8"))
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
