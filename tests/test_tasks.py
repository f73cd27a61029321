"""Tasks as rows (issue 16): made when a protocol is filed, with the owner found in the registry; closed by a later
protocol of the group, by `hub tasks done|drop`; listed by `hub tasks list`. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from hub import filing, follow_up, tasks
from hub.alliance import unit_of_work
from hub.db import utcnow
from hub.models import GroupTask, InboundMessage

BERLIN = ZoneInfo("Europe/Berlin")
WEISS = "j.weiss@gesundheitsamt-musterhausen.example"  # representative of AG Gesundheit

PROTOCOL = """Ergebnisprotokoll der Sitzung vom 08.12.2026

Wer übernimmt was?
- Flyer drucken: Frau Yılmaz bis 15.01.
- Raum buchen: Vertretung (bis KW 3)
- Herr Becker kümmert sich um die Stände
- Getränke besorgen: Frau Schmidt

Nächstes Treffen: Mittwoch, 20. Januar 2027, 18 Uhr, Rathaus
"""

LATER = """Ergebnisprotokoll der Sitzung vom 20.01.2027

erledigt: Flyer
Raum buchen (erledigt)

Nächstes Treffen: Mittwoch, 17. Februar 2027, 18 Uhr, Rathaus
"""


def mail(body: str, sent: datetime, number: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{WEISS}>"
    msg["To"] = "protokolle+gesundheit@buendnis-musterhausen.example"
    msg["Subject"] = f"Ergebnisprotokoll AG Gesundheit {number}"
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = f"<tasks-{number}@gesundheitsamt-musterhausen.example>"
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def filed(config, partners, session):
    result = filing.ingest_bytes(config, mail(PROTOCOL, datetime(2026, 12, 10, 9, tzinfo=BERLIN), 1))
    assert result.status == "filed"
    return result.as_json()


def rows(session) -> list[GroupTask]:
    session.expire_all()
    return list(session.exec(select(GroupTask).order_by(GroupTask.position)))


def test_ingest_json_names_the_owners_addresses(filed):
    assert filed["tasks"] == [
        {"what": "Flyer drucken", "who": "Frau Yılmaz", "who_email": "a.yilmaz@awo-musterhausen.example",
         "due": "2027-01-15"},
        {"what": "Raum buchen", "who": "Vertretung", "who_email": WEISS, "due": "2027-01-22"},
        {"what": "die Stände", "who": "Herr Becker", "who_email": "t.becker@ihk-musterhausen.example", "due": None},
        {"what": "Getränke besorgen", "who": "Frau Schmidt", "who_email": None, "due": None},  # nobody of that name
    ]


def test_filed_protocol_gives_one_open_row_per_task(filed, session, config):
    found = rows(session)
    assert [(t.what, t.who, t.due.isoformat() if t.due else None, t.state) for t in found] == [
        ("Flyer drucken", "Frau Yılmaz", "2027-01-15", "open"), ("Raum buchen", "Vertretung", "2027-01-22", "open"),
        ("die Stände", "Herr Becker", None, "open"), ("Getränke besorgen", "Frau Schmidt", None, "open")]
    assert all(t.partner_id for t in found[:3]) and found[3].partner_id is None
    assert {t.message_id for t in found} == {filed["id"]}
    message = session.get(InboundMessage, filed["id"])
    message.followed_up_at = None  # following the protocol up again adds no second set of rows
    session.add(message)
    session.commit()
    follow_up.follow_up(config)
    assert len(rows(session)) == 4


def test_later_protocol_saying_erledigt_closes_the_matching_tasks(filed, session, config):
    later = filing.ingest_bytes(config, mail(LATER, datetime(2027, 1, 21, 9, tzinfo=BERLIN), 2)).as_json()
    by_what = {t.what: t for t in rows(session)}
    assert by_what["Flyer drucken"].state == "done"
    assert by_what["Flyer drucken"].closed_by == f"protocol:{later['id']}"
    assert by_what["Flyer drucken"].closed_at is not None
    assert by_what["Raum buchen"].state == "done"
    assert by_what["die Stände"].state == "open" and by_what["Getränke besorgen"].state == "open"
    assert later["tasks"] == []  # "erledigt: Flyer" closes a task, it gives no new one


def test_cli_lists_and_closes_tasks(filed, session, hub):
    today = utcnow().astimezone(BERLIN).date()
    found = rows(session)
    found[0].due, found[1].due = today - timedelta(days=1), today + timedelta(days=10)
    session.add_all(found[:2])
    session.commit()

    listed = json.loads(hub("tasks", "list", "--json").stdout)
    assert [t["what"] for t in listed] == ["Flyer drucken", "Raum buchen", "die Stände", "Getränke besorgen"]
    assert listed[0]["overdue"] and not listed[1]["overdue"]
    assert listed[0]["who_email"] == "a.yilmaz@awo-musterhausen.example" and listed[0]["group"] == "gesundheit"
    overdue = json.loads(hub("tasks", "list", "--overdue", "--json").stdout)
    assert [t["what"] for t in overdue] == ["Flyer drucken"]
    assert json.loads(hub("tasks", "list", "--group", "aktionstage", "--json").stdout) == []

    done = hub("tasks", "done", str(found[0].id))
    assert done.returncode == 0, done.stderr
    assert "erledigt" in done.stdout
    assert hub("tasks", "drop", str(found[3].id)).returncode == 0
    again = hub("tasks", "done", str(found[0].id))
    assert again.returncode == 1 and "schon geschlossen" in again.stderr
    assert hub("tasks", "done", "99999").returncode == 2
    assert hub("tasks", "list", "--group", "gibtsnicht").returncode == 2

    opened = json.loads(hub("tasks", "list", "--open", "--json").stdout)
    assert [t["what"] for t in opened] == ["Raum buchen", "die Stände"]
    states = {t.what: (t.state, t.closed_by) for t in rows(session)}
    assert states["Flyer drucken"] == ("done", "cli") and states["Getränke besorgen"] == ("dropped", "cli")
    table = hub("tasks", "list").stdout
    assert "Raum buchen" in table and "gestrichen" in table


def test_listing_marks_overdue_against_the_given_day(filed, session, config):
    listed = tasks.listing(session, config, overdue=True, today=datetime(2027, 1, 16).date())
    assert [t["what"] for t in listed] == ["Flyer drucken"]


def test_web_tasks_page_button_and_overdue_on_the_dashboard(filed, session, config):
    from starlette.testclient import TestClient
    from test_web import PASSWORD, csrf_of, sign_in

    from hub import accounts
    from hub.web.app import create_app

    with unit_of_work(config) as s:
        accounts.add_user(s, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
    found = rows(session)
    found[0].due = utcnow().astimezone(BERLIN).date() - timedelta(days=2)
    session.add(found[0])
    session.commit()
    app = create_app(config)
    c: TestClient = sign_in(app)
    assert "Flyer drucken" in c.get("/").text  # overdue on the dashboard
    page = c.get("/tasks")
    assert page.status_code == 200 and "Raum buchen" in page.text and "überfällig" in page.text
    response = c.post(f"/tasks/{found[0].id}/done", data={"csrf": csrf_of(page)})
    assert response.status_code == 303
    assert (found[0].id, "done") in {(t.id, t.state) for t in rows(session)}
    assert rows(session)[0].closed_by == "koordination@buendnis-musterhausen.example"
    assert "erledigt." in c.get("/tasks").text  # the flash
    assert "Flyer drucken" not in c.get("/tasks").text
    assert "Flyer drucken" in c.get("/tasks?show=all").text
    again = c.post(f"/tasks/{found[0].id}/done", data={"csrf": csrf_of(c.get("/tasks"))})
    assert again.status_code == 400 and "nicht mehr offen" in again.text
