"""One way in: every action driven once through `hub …` and once through the web admin, each on a fresh
installation with the same starting rows, leaves the same rows behind (timestamps and the door's own name in
`Consent.source` aside) — or is refused the same way (exit 2 / HTTP 400) and changes nothing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import _empty
from sqlmodel import select
from starlette.testclient import TestClient

from hub import accounts, alliance, filing, newsletter, partner_actions
from hub.alliance import unit_of_work
from hub.cli import main
from hub.db import engine_for
from hub.models import (
    Consent,
    Delivery,
    Group,
    InboundMessage,
    Meeting,
    Membership,
    NewsletterIssue,
    OutboundMail,
    Partner,
)
from hub.outbound import outbox
from hub.web.app import create_app

COORDINATOR, PASSWORD = "koordination@buendnis-musterhausen.example", "richtig-langes-passwort"
CSV = ("name,organisation,email,groups,role,newsletter\n"
       "Nina Neu,Kita Sonne,nina.neu@example.org,gesundheit;aktionstage,representative,yes\n"
       "Otto Ohne,Verein,otto@example.org,,member,no\n")
WEISS = "j.weiss@gesundheitsamt-musterhausen.example"


@pytest.fixture
def doors(hub_dir, config, db_url, request, capsys, monkeypatch):
    monkeypatch.chdir(hub_dir)

    def fresh() -> None:
        """The database as a new installation has it, with the example partners (no welcome mails)."""
        if db_url.startswith("sqlite"):
            engine_for(db_url).dispose()
            path = Path(db_url.removeprefix("sqlite:///"))
            for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                extra.unlink(missing_ok=True)
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        else:
            _empty(db_url)
        text = (hub_dir / "config" / "partners.example.csv").read_text(encoding="utf-8")
        with unit_of_work(config) as s:
            partner_actions.import_csv(s, config, alliance.sync(s, config), text, source="test", welcome=False)
            accounts.add_user(s, COORDINATOR, PASSWORD, "coordinator")

    def cli(*args: str) -> int:
        code = main(list(args))
        capsys.readouterr()
        return code

    def web() -> TestClient:
        c = TestClient(create_app(config), follow_redirects=False)
        response = c.post("/login", data={"csrf": _csrf(c.get("/login").text), "email": COORDINATOR,
                                          "password": PASSWORD, "next": "/"})
        assert response.status_code == 303, response.text
        c.token = _csrf(c.get("/").text)
        return c

    def compare(by_cli, by_web, setup=lambda: None) -> dict:
        fresh()
        setup()
        by_cli(cli)
        after_cli = snapshot(config)
        fresh()
        setup()
        by_web(web())
        after_web = snapshot(config)
        assert after_cli == after_web
        return after_cli

    return SimpleNamespace(compare=compare, config=config)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def post(c: TestClient, path: str, status: int = 303, **data):
    response = c.post(path, data={"csrf": c.token, **data})
    assert response.status_code == status, response.text
    return response


def snapshot(config) -> dict:
    with unit_of_work(config) as s:
        slugs = {g.id: g.slug for g in s.exec(select(Group))}
        return {
            "partners": [(p.id, p.email, p.name, p.organisation, p.role, p.newsletter, p.language,
                          p.left_at is not None, p.forgotten_at is not None, p.welcome_sent_at is not None)
                         for p in s.exec(select(Partner).order_by(Partner.id))],
            "memberships": sorted((m.partner_id, slugs[m.group_id], m.role, m.until is None)
                                  for m in s.exec(select(Membership))),
            "consents": sorted((c.partner_id, c.newsletter, c.detail) for c in s.exec(select(Consent))),
            "outbox": sorted((m.kind, m.subject, m.text, d.recipient, d.partner_id, d.state, d.last_reply or "")
                             for d, m in s.exec(select(Delivery, OutboundMail).join(OutboundMail))),
            "meetings": [(slugs[m.group_id], m.title, m.start, m.end, m.all_day, m.location, m.status, m.sequence,
                          m.source) for m in s.exec(select(Meeting).order_by(Meeting.id))],
            "issues": [(i.state, i.title, i.editorial) for i in s.exec(select(NewsletterIssue))],
            "messages": [(m.kind, m.status, slugs.get(m.group_id))
                         for m in s.exec(select(InboundMessage).order_by(InboundMessage.id))],
        }


def partner_id(config, email: str) -> int:
    with unit_of_work(config) as s:
        return s.exec(select(Partner.id).where(Partner.email == email)).one()


def test_partners_add_sends_the_welcome_mail_in_both_doors(doors):
    after = doors.compare(
        lambda cli: cli("partners", "add", "nina.neu@example.org", "--name", "Nina Neu", "--organisation",
                        "Kita Sonne", "--group", "gesundheit", "--group", "aktionstage", "--role", "representative"),
        lambda web: post(web, "/partners/new", email="nina.neu@example.org", name="Nina Neu",
                         organisation="Kita Sonne", groups=["gesundheit", "aktionstage"], role="representative",
                         newsletter="yes"))
    assert [(kind, to) for kind, _s, _t, to, *_rest in after["outbox"]] == [("welcome", "nina.neu@example.org")]
    assert {(slug, role) for pid, slug, role, _now in after["memberships"] if pid == 11} == {
        ("gesundheit", "representative"), ("aktionstage", "representative")}


def test_partners_import_welcomes_the_new_ones_in_both_doors(doors, hub_dir):
    (hub_dir / "neu.csv").write_text(CSV, encoding="utf-8")
    after = doors.compare(lambda cli: cli("partners", "import", "neu.csv"),
                          lambda web: post(web, "/partners/import", confirm="1", csv_text=CSV))
    assert sorted(to for kind, _s, _t, to, *_rest in after["outbox"] if kind == "welcome") == [
        "nina.neu@example.org", "otto@example.org"]
    quiet = doors.compare(lambda cli: cli("partners", "import", "neu.csv", "--no-welcome"),
                          lambda web: post(web, "/partners/import", confirm="1", csv_text=CSV, no_welcome="1"))
    assert quiet["outbox"] == [] and len(quiet["partners"]) == 12


def test_leave_and_forget_in_both_doors(doors):
    config = doors.config
    left = doors.compare(lambda cli: cli("partners", "leave", WEISS),
                         lambda web: post(web, f"/partners/{partner_id(config, WEISS)}/leave"))
    assert [p for p in left["partners"] if p[1] == WEISS][0][7] is True
    forgotten = doors.compare(lambda cli: cli("partners", "forget", WEISS, "--yes"),
                              lambda web: post(web, f"/partners/{partner_id(config, WEISS)}/forget", confirm="yes"))
    assert WEISS not in str(forgotten)


def test_an_unknown_group_is_refused_in_both_doors(doors, hub_dir):
    (hub_dir / "nope.csv").write_text(CSV.replace("gesundheit;", "nope;"), encoding="utf-8")
    codes = []

    def by_cli(cli):
        codes.extend([cli("partners", "add", "x@example.org", "--group", "nope"),
                      cli("partners", "import", "nope.csv"),
                      cli("meetings", "add", "nope", "2030-03-12 18:00"),
                      cli("schedule", "policy", "set", "reminder_days", "3", "--group", "nope")])

    def by_web(web):
        post(web, "/partners/new", 400, email="x@example.org", groups=["nope"], role="member")
        post(web, f"/partners/{partner_id(doors.config, WEISS)}", 400, email=WEISS, groups=["nope"], role="member")
        post(web, "/partners/import", 400, confirm="1", csv_text=CSV.replace("gesundheit;", "nope;"))
        post(web, "/schedule/meetings/new", 400, group="nope", date="2030-03-12", time="18:00", confirm="1")
        post(web, "/schedule/policies", 400, name="reminder_days", value="3", group="nope", confirm="1")

    after = doors.compare(by_cli, by_web)
    assert codes == [2, 2, 2, 2]
    assert len(after["partners"]) == 10 and after["meetings"] == []


def _issue(config, approved: bool) -> None:
    with unit_of_work(config) as s:
        issue = newsletter.draft(s, config, editorial="Liebe Partner,", source="test")
        if approved:
            newsletter.approve(s, issue.id)


def test_only_a_draft_can_be_edited_in_both_doors(doors):
    codes = []
    refused = doors.compare(
        lambda cli: codes.append(cli("newsletter", "edit", "1", "--text", "Neu", "--title", "Anders")),
        lambda web: post(web, "/newsletter/issues/1/editorial", 400, editorial="Neu", title="Anders"),
        setup=lambda: _issue(doors.config, approved=True))
    assert codes == [2] and refused["issues"][0][0] == "approved" and refused["issues"][0][2] == "Liebe Partner,"
    edited = doors.compare(
        lambda cli: cli("newsletter", "edit", "1", "--text", "Neu", "--title", "Rundbrief Juni"),
        lambda web: post(web, "/newsletter/issues/1/editorial", editorial="Neu", title="Rundbrief Juni"),
        setup=lambda: _issue(doors.config, approved=False))
    assert edited["issues"] == [("draft", "Rundbrief Juni", "Neu")]


def _deliveries(config) -> None:
    with unit_of_work(config) as s:
        mail = OutboundMail(kind="relay", subject="Protokoll AG", from_address=config.mail.office_address, text="Hallo")
        s.add(mail)
        s.flush()
        outbox.enqueue(s, mail, [outbox.Recipient(f"p{i}@example.org") for i in range(4)])
        rows = s.exec(select(Delivery).order_by(Delivery.id)).all()
        for row in rows[:3]:
            outbox.mark_failed(s, row, "550 5.1.1 unbekannt")


def test_outbox_retry_and_cancel_in_both_doors(doors):
    def by_cli(cli):
        assert [cli("outbox", "retry", "1"), cli("outbox", "cancel", "4"), cli("outbox", "cancel", "2")] == [0, 0, 0]

    def by_web(web):
        post(web, "/outbox/1/retry")
        post(web, "/outbox/4/cancel")
        post(web, "/outbox/2/cancel")

    after = doors.compare(by_cli, by_web, setup=lambda: _deliveries(doors.config))
    assert [state for *_r, state, _reply in sorted(after["outbox"], key=lambda r: r[3])] == [
        "queued", "cancelled", "failed", "cancelled"]
    everything = doors.compare(lambda cli: cli("outbox", "retry", "--failed"),
                               lambda web: post(web, "/outbox/retry-failed"),
                               setup=lambda: _deliveries(doors.config))
    assert {state for *_r, state, _reply in everything["outbox"]} == {"queued"}


def test_meeting_add_and_cancel_in_both_doors(doors):
    def by_cli(cli):
        assert cli("meetings", "add", "gesundheit", "2030-03-12 18:00", "--location", "Rathaus") == 0
        assert cli("meetings", "cancel", "1") == 0

    def by_web(web):
        post(web, "/schedule/meetings/new", group="gesundheit", date="2030-03-12", time="18:00",
             location="Rathaus", confirm="1")
        post(web, "/schedule/meetings/1/cancel", confirm="1")

    after = doors.compare(by_cli, by_web)
    assert [(m[0], m[5], m[6], m[7]) for m in after["meetings"]] == [("gesundheit", "Rathaus", "cancelled", 1)]


HELD = (f"From: Dr. Jürgen Weiß <{WEISS}>\r\nTo: protokolle@buendnis-musterhausen.example\r\n"
        "Subject: Protokoll unserer Sitzung\r\nMessage-ID: <doors-held@example.org>\r\n\r\n"
        "Wir haben beschlossen, einen Gesundheitstag zu veranstalten.\r\n").encode()


def _held(config) -> None:
    """A protocol from a member of two groups that names neither: it waits for review."""
    assert filing.ingest_bytes(config, HELD, via="file").as_json()["status"] == "held"


def _held_id(config) -> int:
    with unit_of_work(config) as s:
        return s.exec(select(InboundMessage.id).where(InboundMessage.status == "held")).one()


@pytest.mark.parametrize("action", ["assign", "release", "reject"])
def test_the_review_queue_in_both_doors(doors, action):
    config = doors.config

    def by_cli(cli):
        args = ["protocols", action, str(_held_id(config))] + (["gesundheit"] if action == "assign" else [])
        assert cli(*args) == (2 if action == "release" else 0)  # release needs a group: refused alike

    def by_web(web):
        refused = action == "release"
        post(web, f"/messages/{_held_id(config)}/{action}", status=400 if refused else 303,
             **({"group": "gesundheit"} if action == "assign" else {}))

    after = doors.compare(by_cli, by_web, setup=lambda: _held(config))
    status = {"assign": "filed", "release": "held", "reject": "rejected"}[action]
    assert after["messages"] == [("protocol", status, "gesundheit" if action == "assign" else None)]
