"""The schedule engine with a controllable clock: jobs mirror the plan, edits apply live, missed sends run
once after downtime, nothing is sent twice, and one scheduler leads."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import Session, select

from hub import sends
from hub.alliance import unit_of_work
from hub.db import engine_for
from hub.models import Delivery, Group, InboundMessage, OutboundMail, ScheduledSend
from hub.scheduler import facts, jobstore, meetings, runner

T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
START = datetime(2030, 2, 12, 17, 0, tzinfo=UTC)  # Tuesday 18:00 Berlin; invitation Tue 29 Jan 09:00


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _jobs(url) -> set[str]:
    with engine_for(url).connect() as conn:
        if not sa.inspect(conn).has_table(jobstore.JOB_TABLE):
            return set()
        return {row[0] for row in conn.execute(sa.text(f"SELECT id FROM {jobstore.JOB_TABLE}"))}


def _add_meeting(config, **kwargs):
    with unit_of_work(config) as s:
        alliance = runner.alliance_module.current(s, config)
        return meetings.add(s, config, alliance, "gesundheit", START, location="Rathaus", now=T0, **kwargs).id


def _deliveries(config) -> list[tuple[str, str, str]]:
    with Session(engine_for(config.database_url)) as s:
        rows = s.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)).all()
        return sorted((m.kind, d.recipient, d.dedupe_key) for d, m in rows)


def _config(config):
    return config.model_copy(update={"schedule": config.schedule.model_copy(update={
        "digest": "off", "report": "off", "resync_seconds": 0.2})})


def test_jobs_follow_edits_in_a_running_hub(config, partners):
    config = _config(config)
    with time_machine.travel(T0, tick=True):
        meeting_id = _add_meeting(config)
        hub = runner.Runner(config, sends.execute)
        try:
            assert hub.start() is True
            prefix = f"meeting:{meeting_id}"
            assert _jobs(config.database_url) == {f"{prefix}:invitation@seq0", f"{prefix}:reminder@1",
                                                   f"{prefix}:protocol-due@1", f"{prefix}:protocol-due@2"}
            with unit_of_work(config) as s:
                runner.policies.set_paused(s, runner.alliance_module.current(s, config).id, f"{prefix}:reminder", True)
            assert _wait(lambda: f"{prefix}:reminder@1" not in _jobs(config.database_url))
            with unit_of_work(config) as s:
                alliance = runner.alliance_module.current(s, config)
                meetings.cancel(s, meetings.get(s, alliance, meeting_id), now=T0)
            assert _wait(lambda: _jobs(config.database_url) == set())
        finally:
            hub.stop()


def test_missed_invitation_runs_once_after_downtime_and_never_twice(config, partners):
    config = _config(config)
    with time_machine.travel(T0, tick=True):
        meeting_id = _add_meeting(config)
        hub = runner.Runner(config, sends.execute)
        hub.start()
        hub.stop()  # the hub goes down before the invitation is due
    # Two days after the invitation's time the hub starts again: the invitation goes out once, late.
    with time_machine.travel(datetime(2030, 1, 31, 12, 0, tzinfo=UTC), tick=True):
        hub = runner.Runner(config, sends.execute)
        hub.start()
        try:
            assert _wait(lambda: len(_deliveries(config)) == 2)
        finally:
            hub.stop()
        sent = _deliveries(config)
        assert [k for k, _, _ in sent] == ["invitation", "invitation"]
        assert {r for _, r, _ in sent} == {"a.yilmaz@awo-musterhausen.example",
                                           "j.weiss@gesundheitsamt-musterhausen.example"}
        assert all(key.startswith(f"schedule:meeting:{meeting_id}:invitation@seq0|") for _, _, key in sent)
        # Running the same occurrence again (a restart, run-now) sends nothing more.
        assert sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True) is None
        hub = runner.Runner(config, sends.execute)
        hub.start()
        hub.stop()
        assert _deliveries(config) == sent
    with Session(engine_for(config.database_url)) as s:
        (record,) = s.exec(select(ScheduledSend)).all()
        assert record.kind == "invitation" and record.recipients == 2


def test_clock_reaches_the_reminder_in_a_running_hub(config, partners):
    config = _config(config)
    with time_machine.travel(START - timedelta(days=3), tick=True) as clock:
        meeting_id = _add_meeting(config)  # added late: invited at once, reminded two days before
        hub = runner.Runner(config, sends.execute)
        hub.start()
        try:
            assert _wait(lambda: len(_deliveries(config)) == 2)
            clock.move_to(datetime(2030, 2, 10, 8, 0, 1, tzinfo=UTC))  # Sunday 09:00:01 Berlin
            hub.wake()
            assert _wait(lambda: len(_deliveries(config)) == 4)
        finally:
            hub.stop()
    kinds = sorted({(k, key.split("|")[0]) for k, _, key in _deliveries(config)})
    assert kinds == [("invitation", f"schedule:meeting:{meeting_id}:invitation@seq0"),
                     ("reminder", f"schedule:meeting:{meeting_id}:reminder@1")]
    with Session(engine_for(config.database_url)) as s:
        mail = s.exec(select(OutboundMail).where(OutboundMail.kind == "invitation")).one()
        assert "METHOD:REQUEST" in mail.calendar


def test_one_scheduler_leads(config):
    config = _config(config)
    first, second = runner.Runner(config, sends.execute), runner.Runner(config, sends.execute, standby_seconds=0.1)
    try:
        assert first.start() is True
        assert second.start() is False and not second.leading
        first.stop()
        assert _wait(lambda: second.leading)
    finally:
        second.stop()
        first.stop()


def test_run_now_and_protocol_filed_in_time(config, partners):
    config = _config(config)
    with time_machine.travel(T0, tick=True):
        meeting_id = _add_meeting(config)
        result = sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True)
        assert result.kind == "invitation" and result.queued == 2
        # A protocol for the meeting's day makes the protocol-due reminder unnecessary.
        with unit_of_work(config) as s:
            group = s.exec(select(Group).where(Group.slug == "gesundheit")).one()
            s.add(InboundMessage(message_id="<p@x>", content_hash="p", raw_path="x", kind="protocol",
                                        status="filed", group_id=group.id, meeting_date=START.date()))
    with time_machine.travel(START + timedelta(days=8), tick=True):
        assert sends.execute(config, f"meeting:{meeting_id}:protocol-due@1") is None
    assert [k for k, _, _ in _deliveries(config)] == ["invitation", "invitation"]


def test_newsletter_date_sends_the_approved_issue_or_prepares_a_draft(config, partners):
    from hub import newsletter
    from hub.models import NewsletterIssue

    config = config.model_copy(update={"schedule": config.schedule.model_copy(update={"report": "off"})})
    with time_machine.travel(datetime(2030, 3, 1, 8, 0, 1, tzinfo=UTC), tick=True):
        first = sends.execute(config, "newsletter:digest@2030-03-01")
        assert first.queued == 0 and "Entwurf" in first.note  # nothing approved: a draft for the coordinator
        assert sends.execute(config, "newsletter:digest@2030-03-01") is None  # that date is done
    with unit_of_work(config) as s:
        (issue,) = s.exec(select(NewsletterIssue)).all()
        newsletter.approve(s, issue.id)
    with time_machine.travel(datetime(2030, 4, 1, 7, 0, 1, tzinfo=UTC), tick=True):
        second = sends.execute(config, "newsletter:digest@2030-04-01")
    assert second.recipients == second.queued == 9
    assert len([d for d in _deliveries(config) if d[0] == "newsletter"]) == 9


def test_an_all_day_invitation_says_so_and_carries_dates(config, partners):
    """An all-day meeting went out as 'Samstag, 15. Juni 2030, 00:00 Uhr bis 00:00 Uhr' with timed .ics entries."""
    from datetime import date

    config = _config(config)
    with time_machine.travel(T0, tick=True):
        with unit_of_work(config) as s:
            alliance = runner.alliance_module.current(s, config)
            meeting_id = meetings.add(s, config, alliance, "gesundheit", date(2030, 6, 15), date(2030, 6, 16),
                                      location="Marktplatz", all_day=True, now=T0).id
        result = sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True)
        assert result.kind == "invitation" and result.queued == 2
    with Session(engine_for(config.database_url)) as s:
        mail = s.exec(select(OutboundMail).where(OutboundMail.kind == "invitation")).first()
        assert "Samstag, 15. Juni 2030 bis Sonntag, 16. Juni 2030 (ganztägig)" in mail.text
        assert "00:00" not in mail.text and "00:00" not in mail.html
        data = mail.calendar
    assert "DTSTART;VALUE=DATE:20300615" in data and "DTEND;VALUE=DATE:20300617" in data


def test_the_first_start_never_makes_a_newsletter_due_before_the_installation(config, partners, caplog):
    """Installed at 10:00 on 1 December, the half-yearly report of 09:00 that day is not due: not planned, not
    made. A report of a day after the installation is, and its log line says it made a draft, not 'sent'."""
    from hub.models import Alliance

    config = config.model_copy(update={"schedule": config.schedule.model_copy(
        update={"report": "0 9 1 6,12 *", "digest": "off"})})
    installed = datetime(2030, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    with unit_of_work(config) as s:
        (alliance,) = s.exec(select(Alliance)).all()
        alliance.created_at = installed
        s.add(alliance)
    with time_machine.travel(installed + timedelta(minutes=5), tick=True):
        with unit_of_work(config) as s:
            keys = [p.key for p in facts.current_plan(s, config)]
        assert "newsletter:report@2030-12-01" not in keys and "newsletter:report@2031-06-01" in keys
        assert sends.execute(config, "newsletter:report@2030-12-01") is None
    with time_machine.travel(datetime(2031, 6, 1, 7, 0, 1, tzinfo=UTC), tick=True):
        with caplog.at_level("INFO", logger="hub.scheduler"):
            made = sends.execute(config, "newsletter:report@2031-06-01")
    assert made.queued == 0 and "Entwurf" in made.note
    assert "Entwurf" in caplog.text and "to 0 recipients" not in caplog.text


def test_a_start_after_downtime_notes_each_missed_newsletter_once(config, partners, caplog):
    from hub.models import Alliance

    config = config.model_copy(update={"schedule": config.schedule.model_copy(
        update={"digest": "0 9 1 * *", "report": "off"})})
    with unit_of_work(config) as s:
        (alliance,) = s.exec(select(Alliance)).all()
        alliance.created_at = datetime(2030, 1, 15, tzinfo=UTC)
        s.add(alliance)
    hub = runner.Runner(config, sends.execute)
    with caplog.at_level("WARNING", logger="hub.scheduler"):
        missed = hub.note_missed(now=datetime(2030, 3, 10, 12, tzinfo=UTC))
    assert missed == ["newsletter:digest@2030-02-01", "newsletter:digest@2030-03-01"]
    assert caplog.text.count("missed: the hub was not running") == 2
    assert hub.note_missed(now=datetime(2030, 3, 10, 13, tzinfo=UTC)) == []  # noted once
    with unit_of_work(config) as s:
        notes = s.exec(select(ScheduledSend.note).where(ScheduledSend.job == "newsletter:digest")).all()
        assert len(notes) == 2 and all("ausgelassen" in n for n in notes)
        keys = [p.key for p in facts.current_plan(s, config, datetime(2030, 3, 10, 13, tzinfo=UTC))]
    assert "newsletter:digest@2030-03-01" not in keys and "newsletter:digest@2030-04-01" in keys


def test_sends_due_at_one_instant_are_made_two_at_a_time_and_each_keeps_its_time(config, partners, monkeypatch):
    """Every alliance's 09:00: many sends fire at once. They are made two at a time, so that the scheduler
    threads still firing are not starved; each send's time (ran_at) is when it fired, not when its turn came."""
    meeting_ids = [_add_meeting(config, title=f"Treffen {n}") for n in range(6)]
    making, most = [], []
    make = sends._make

    def slow_make(*args):
        making.append(1)
        most.append(len(making))
        try:
            time.sleep(0.3)
            return make(*args)
        finally:
            making.pop()

    monkeypatch.setattr(sends, "_make", slow_make)
    fired = {}

    def fire(meeting_id: int) -> None:
        fired[meeting_id] = datetime.now(UTC).replace(tzinfo=None)
        sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True)

    threads = [threading.Thread(target=fire, args=(i,)) for i in meeting_ids]
    began = datetime.now(UTC)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ended = datetime.now(UTC)
    with unit_of_work(config) as s:
        ran = dict(s.exec(select(ScheduledSend.meeting_id, ScheduledSend.ran_at)
                          .where(ScheduledSend.meeting_id.in_(meeting_ids))).all())
    assert len(ran) == 6
    assert 1 <= max(most) <= 2
    assert ended - began >= timedelta(seconds=0.3 * 6 / 2)  # the sends waited their turn ...
    # ... but each ran when it fired: the last two waited two turns (0.6 s) for theirs. Measured from each
    # thread's own start, so that a thread a busy machine starts late is no failure.
    assert max(_naive(ran[i]) - fired[i] for i in meeting_ids) < timedelta(seconds=0.5)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _job_times(url) -> dict[str, float]:
    with engine_for(url).connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT id, next_run_time FROM {jobstore.JOB_TABLE}")).all())


def _move_send_time(config, clock: str) -> None:
    with unit_of_work(config) as s:
        alliance = runner.alliance_module.current(s, config)
        runner.policies.set_policy(s, config, alliance, "send_time", clock)


def test_a_replan_moves_every_job_in_one_transaction_or_none(config, partners, monkeypatch):
    """A changed send time moves every job of every meeting: one commit for all of them (they were one commit
    each: minutes at 660 alliances), and a sync that fails half-way leaves every job as it was."""
    config = _config(config)
    commits = []

    def count(_connection):
        if threading.current_thread() is threading.main_thread():  # the sync's, not the scheduler thread's reads
            commits.append(1)

    with time_machine.travel(T0, tick=True):
        for n in range(5):
            _add_meeting(config, title=f"Treffen {n}")
        hub = runner.Runner(config, sends.execute, resync_seconds=3600)  # only the syncs this test makes
        try:
            assert hub.start() is True
            before = _job_times(config.database_url)
            assert len(before) == 20
            sa.event.listen(engine_for(config.database_url), "commit", count)
            _move_send_time(config, "07:30")
            failing = {"left": 7}
            store = hub.scheduler._jobstores["default"]
            update = store.update_job

            def update_until_failure(job):
                failing["left"] -= 1
                if failing["left"] == 0:
                    raise RuntimeError("the database went away mid-sync")
                update(job)

            monkeypatch.setattr(store, "update_job", update_until_failure)
            with pytest.raises(RuntimeError):
                hub.sync()
            assert _job_times(config.database_url) == before  # rolled back whole
            assert set(hub._known) == set(before)
            monkeypatch.setattr(store, "update_job", update)
            commits.clear()
            result = hub.sync()
            after = _job_times(config.database_url)
            assert len(result.changed) == 20 and set(after) == set(before)
            assert all(after[key] != before[key] for key in before)  # every job moved ...
            assert len(commits) <= 2  # ... in one commit (and the read of the plan's facts)
        finally:
            if sa.event.contains(engine_for(config.database_url), "commit", count):
                sa.event.remove(engine_for(config.database_url), "commit", count)
            hub.stop()
