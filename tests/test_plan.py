"""The send plan, as pure data: what goes out when, what is left out, what expires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.scheduler.plan import Inputs, MeetingFacts, PlannedSend, Protocol, Sent, build, missed_newsletters
from hub.scheduler.policies import GroupPolicy, Policies

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
START = datetime(2027, 3, 9, 17, 0, tzinfo=UTC)  # Tuesday 18:00 in Berlin


def _policies(**group) -> Policies:
    base = GroupPolicy(invitation_days=14, reminder_days=2, protocol_due_days=7, protocol_due_repeat_days=7,
                       send_time=time(9, 0), auto_confirm=False)
    return Policies(digest="off", report="off", imap_poll_seconds=120, grace_hours=72, meeting_time=time(18),
                    meeting_minutes=120, default=base,
                    groups={2: GroupPolicy(**{**base.__dict__, **group})} if group else {})


def _meeting(id=1, start=START, status="confirmed", sequence=1, kind="group", group_id=1, updated=NOW):
    return MeetingFacts(id=id, group_id=group_id, group_slug=f"g{group_id}", group_name=f"AG {group_id}",
                        group_kind=kind, title="Treffen", start=start, end=start + timedelta(hours=2), status=status,
                        sequence=sequence, updated_at=updated)


def _plan(meetings, now=NOW, **kwargs) -> list[PlannedSend]:
    kwargs.setdefault("policies", _policies())
    return build(Inputs(meetings=meetings, counts={("invitees", 1): 5, ("representatives", 1): 1}, **kwargs), now, TZ)


def _at(day: date, hour=9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(UTC)


def test_invitation_reminder_and_protocol_due_times():
    plan = _plan([_meeting()])
    assert [(p.kind, p.occurrence, p.due) for p in plan] == [
        ("invitation", "seq1", _at(date(2027, 2, 23))),
        ("reminder", "1", _at(date(2027, 3, 7))),
        ("protocol_due", "1", _at(date(2027, 3, 16))),
        ("protocol_due", "2", _at(date(2027, 3, 23))),
    ]
    assert plan[0].recipients == 5 and plan[0].audience == "Mitglieder AG 1" and plan[0].expires == START
    assert plan[2].recipients == 1 and plan[2].audience == "Vertreter/in AG 1"
    assert plan[0].key == "meeting:1:invitation@seq1"


def test_group_policy_overrides_the_default():
    plan = _plan([_meeting(group_id=2)], policies=_policies(invitation_days=21, reminder_days=1,
                                                           protocol_due_repeat_days=0))
    assert [(p.kind, p.due.astimezone(TZ).date()) for p in plan] == [
        ("invitation", date(2027, 2, 16)), ("reminder", date(2027, 3, 8)), ("protocol_due", date(2027, 3, 16)),
    ]


def test_meeting_added_late_is_invited_at_once_without_a_separate_reminder():
    now = START - timedelta(days=1)
    plan = _plan([_meeting()], now=now)
    assert [p.kind for p in plan] == ["invitation", "protocol_due", "protocol_due"]
    assert plan[0].due < now < plan[0].expires  # late, still wanted: goes at once


def test_sent_invitation_then_change_sends_an_update_once():
    sent = [Sent("meeting:1:invitation", "seq1", _at(date(2027, 2, 23)), _at(date(2027, 2, 23)))]
    now = datetime(2027, 2, 25, 12, tzinfo=UTC)
    changed = _meeting(sequence=2, updated=now)
    plan = _plan([changed], now=now, sent=sent)
    assert [(p.kind, p.occurrence, p.due) for p in plan][:2] == [("update", "seq2", now),
                                                                  ("reminder", "1", _at(date(2027, 3, 7)))]
    sent.append(Sent("meeting:1:invitation", "seq2", now, now))
    assert [p.kind for p in _plan([changed], now=now, sent=sent)] == ["reminder", "protocol_due", "protocol_due"]


def test_cancellation_only_when_invited():
    now = datetime(2027, 2, 25, 12, tzinfo=UTC)
    cancelled = _meeting(status="cancelled", sequence=3, updated=now)
    assert _plan([cancelled], now=now) == []
    sent = [Sent("meeting:1:invitation", "seq1", _at(date(2027, 2, 23)), _at(date(2027, 2, 23)))]
    plan = _plan([cancelled], now=now, sent=sent)
    assert [(p.kind, p.occurrence) for p in plan] == [("cancellation", "seq3")]


def test_proposed_meetings_send_nothing_and_plenum_has_no_protocol_due():
    assert _plan([_meeting(status="proposed")]) == []
    assert [p.kind for p in _plan([_meeting(kind="plenum")])] == ["invitation", "reminder"]


def test_filed_protocol_stops_protocol_due():
    after = START + timedelta(days=10)
    dated = Protocol(group_id=1, meeting_date=date(2027, 3, 9), received_at=after)
    assert [p.kind for p in _plan([_meeting()], protocols=[dated])] == ["invitation", "reminder"]
    undated = Protocol(group_id=1, meeting_date=None, received_at=START + timedelta(days=1))
    assert [p.kind for p in _plan([_meeting()], protocols=[undated])] == ["invitation", "reminder"]
    other_day = Protocol(group_id=1, meeting_date=date(2027, 2, 9), received_at=START - timedelta(days=20))
    assert "protocol_due" in [p.kind for p in _plan([_meeting()], protocols=[other_day])]


def test_expired_sends_are_missed_not_made_late():
    after_start = START + timedelta(hours=3)
    plan = _plan([_meeting()], now=after_start)
    assert [p.kind for p in plan] == ["protocol_due", "protocol_due"]  # no invitation after the meeting began
    long_after = START + timedelta(days=40)
    assert _plan([_meeting()], now=long_after) == []


def test_paused_jobs_are_marked():
    plan = _plan([_meeting()], paused=["meeting:1"])
    assert plan and all(p.paused for p in plan)
    plan = _plan([_meeting()], paused=["meeting:1:reminder"])
    assert [p.kind for p in plan if p.paused] == ["reminder"]


def test_newsletters_monthly_and_half_yearly_without_doubling_on_report_days():
    policies = _policies()
    policies.digest, policies.report = "0 9 1 * *", "0 9 1 6,12 *"
    plan = build(Inputs(meetings=[], policies=policies, newsletter_recipients=9), NOW, TZ)
    digests = [p.occurrence for p in plan if p.job == "newsletter:digest"]
    reports = [p.occurrence for p in plan if p.job == "newsletter:report"]
    assert reports[:2] == ["2027-06-01", "2027-12-01"]
    assert digests[:6] == ["2027-02-01", "2027-03-01", "2027-04-01", "2027-05-01", "2027-07-01", "2027-08-01"]
    first = next(p for p in plan if p.job == "newsletter:digest")
    assert first.due == datetime(2027, 2, 1, 8, tzinfo=UTC) and first.recipients == 9


def test_newsletter_missed_during_downtime_runs_once_within_grace():
    policies = _policies()
    policies.digest = "0 9 1 * *"
    now = datetime(2027, 2, 2, 12, tzinfo=UTC)  # the hub was down on 1 February
    plan = build(Inputs(meetings=[], policies=policies), now, TZ)
    assert plan[0].occurrence == "2027-02-01" and plan[0].due < now
    sent = [Sent("newsletter:digest", "2027-02-01", plan[0].due, now)]
    plan = build(Inputs(meetings=[], policies=policies, sent=sent), now, TZ)
    assert plan[0].occurrence == "2027-03-01"
    much_later = datetime(2027, 2, 10, tzinfo=UTC)  # past the 72 h grace: missed, not sent late
    assert build(Inputs(meetings=[], policies=policies), much_later, TZ)[0].occurrence == "2027-03-01"


def test_a_newsletter_due_before_the_installation_or_the_change_of_its_crontab_is_never_made():
    """First start on 2 December at 10:00: the report of 1 December 09:00 lies within grace, but the hub was
    installed after it — it was never due (it used to run at once and log 'sent … to 0 recipients')."""
    policies = _policies()
    policies.report = "0 9 1 6,12 *"
    now = datetime(2027, 12, 1, 10, tzinfo=UTC)
    assert build(Inputs(meetings=[], policies=policies), now, TZ)[0].occurrence == "2027-12-01"  # no since: due
    installed = datetime(2027, 12, 1, 9, 30, tzinfo=UTC)
    plan = build(Inputs(meetings=[], policies=policies, newsletter_since={"report": installed}), now, TZ)
    assert [p.occurrence for p in plan][:1] == ["2028-06-01"]
    before = datetime(2027, 12, 1, 7, tzinfo=UTC)  # installed before its time: made, late if need be
    plan = build(Inputs(meetings=[], policies=policies, newsletter_since={"report": before}), now, TZ)
    assert plan[0].occurrence == "2027-12-01"


def test_newsletters_missed_while_the_hub_was_down_are_reported_once_never_sent():
    """Down from 28 January to 10 February (grace 72 h here): the digest of 1 February is missed; the one of
    1 January went out; nothing before the installation counts; once noted as made, it is not reported again."""
    policies = _policies()
    policies.digest = "0 9 1 * *"
    now = datetime(2027, 2, 10, 12, tzinfo=UTC)
    installed = datetime(2026, 12, 15, tzinfo=UTC)
    sent = [Sent("newsletter:digest", "2027-01-01", datetime(2027, 1, 1, 8, tzinfo=UTC), datetime(2027, 1, 1, 8,
                                                                                                  tzinfo=UTC))]
    inputs = Inputs(meetings=[], policies=policies, sent=sent, newsletter_since={"digest": installed})
    assert missed_newsletters(inputs, now, TZ) == [("newsletter:digest", "2027-02-01",
                                                    datetime(2027, 2, 1, 8, tzinfo=UTC))]
    assert [p.occurrence for p in build(inputs, now, TZ)][:1] == ["2027-03-01"]  # and it is not sent late
    noted = [*sent, Sent("newsletter:digest", "2027-02-01", datetime(2027, 2, 1, 8, tzinfo=UTC), now)]
    assert missed_newsletters(replace(inputs, sent=noted), now, TZ) == []
    within_grace = datetime(2027, 2, 2, 12, tzinfo=UTC)  # still sent late: not missed
    assert missed_newsletters(inputs, within_grace, TZ) == []


def _all_day(first: date, days=1, **kwargs) -> MeetingFacts:
    start = datetime(first.year, first.month, first.day, tzinfo=TZ).astimezone(UTC)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=TZ).astimezone(UTC)
    return replace(_meeting(start=start, **kwargs), end=end, all_day=True)


def test_all_day_meeting_sends_at_send_time_relative_to_its_day():
    day = date(2027, 7, 10)  # summer time: 00:00 Berlin is 22:00 UTC the day before
    plan = _plan([_all_day(day, days=2)])
    assert [(p.kind, p.due) for p in plan] == [
        ("invitation", _at(date(2027, 6, 26))),
        ("reminder", _at(date(2027, 7, 8))),
        ("protocol_due", _at(date(2027, 7, 18))),  # 7 days after its last day (11 July), not after its end
        ("protocol_due", _at(date(2027, 7, 25))),
    ]
    assert plan[0].expires == datetime(2027, 7, 11, 22, 0, tzinfo=UTC)  # 00:00 after the last day


def test_all_day_meeting_reminder_on_the_day_itself_still_goes_out():
    day = date(2027, 3, 9)
    on_the_day = _policies(reminder_days=0)
    plan = _plan([_all_day(day, group_id=2)], policies=on_the_day)
    reminder = next(p for p in plan if p.kind == "reminder")
    assert reminder.due == _at(day) and reminder.expires == _at(day + timedelta(days=1), hour=0)
    invited = [Sent("meeting:1:invitation", "seq1", _at(date(2027, 2, 23)), _at(date(2027, 2, 23)))]
    during = _at(day, hour=12)  # the hub was down in the morning: late but still wanted that day
    assert [p.kind for p in _plan([_all_day(day, group_id=2)], now=during, policies=on_the_day, sent=invited)] == [
        "reminder", "protocol_due", "protocol_due"]
    assert [p.kind for p in _plan([_all_day(day, group_id=2)], now=_at(day + timedelta(days=1), hour=1),
                                  policies=on_the_day)] == ["protocol_due", "protocol_due"]


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 12, 31)),
       hour=st.integers(min_value=8, max_value=20),
       repeat=st.integers(min_value=1, max_value=30),
       send_time=st.sampled_from([time(7, 30), time(9, 0), time(17, 45)]))
def test_every_send_goes_at_the_local_send_time_across_both_changes_of_summer_time(day, hour, repeat, send_time):
    """Over a year of meeting days (both DST changes inside): invitation, reminder and both protocol-due
    reminders are due at `send_time` on the wall clock of the alliance, never an hour off."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(UTC)
    policies = _policies()
    policies = replace(policies, default=replace(policies.default, send_time=send_time,
                                                 protocol_due_repeat_days=repeat))
    plan = _plan([_meeting(start=start)], now=datetime(2026, 12, 1, tzinfo=UTC), policies=policies)
    assert {p.kind for p in plan} == {"invitation", "reminder", "protocol_due"}
    for send in plan:
        assert send.due.astimezone(TZ).time() == send_time, (send.kind, send.occurrence, send.due.astimezone(TZ))
