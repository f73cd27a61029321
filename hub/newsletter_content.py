"""What a newsletter issue collects, as plain data frozen into the issue when it is drafted: protocols filed
per group (an excerpt and the tasks), meetings still to come, organisations that joined, and for the
half-yearly report a table of meetings and protocols per group.

Each group's protocols, each upcoming meeting and each summary row carry `public`: whether the newsletter's
public edition (for self-subscribers, `Partner.audience` "public") may show it. That is the coordinator's
`public = true` on the group in the config, and never for a group with `relay = "group"` (its protocols are
for its members) or `relay = "none"`. "Neu im Bündnis" lists organisations of the registry only, never a
self-subscriber, and is never in the public edition.

Upcoming meetings carry their `status`: an issue collects confirmed and proposed ones and shows the proposed
ones only when the coordinator ticked `with_proposed` on the draft (`shown_upcoming`), so that choice can
change without collecting again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.addresses import address_key
from hub.config import Config
from hub.db import utcnow
from hub.models import Group, InboundMessage, Meeting, MeetingStatus, MessageKind, MessageStatus, Partner
from hub.states import Role

PARTNER = "partner"  # `Partner.audience` of the registry (hub.partners.PARTNER; this module is the store layer)
CONFIRMED, PROPOSED = str(MeetingStatus.confirmed), str(MeetingStatus.proposed)
EXCERPT_CHARS = 600
# All excerpts of an issue together: a busy month gets shorter excerpts, so that the HTML stays under Gmail's
# clipping limit (102 KB) and the whole issue still reads in a few minutes.
EXCERPT_BUDGET = 15_000
MIN_EXCERPT_CHARS = 200
EXCERPT_LINES = 14
MAX_TASKS = 8
UPCOMING_DAYS = 120
MAX_UPCOMING = 12
FOUNDING = timedelta(days=1)  # partners who joined within a day of the registry's first entry founded it
SUBJECT_NOISE = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)
OPENING = re.compile(r"^(hallo|liebe|lieber|sehr geehrte|guten tag|anbei|im anhang|hier (ist|das|kommt)|"
                     r"-{2,}|von:|from:|gesendet:|an:|betreff:|datum:)", re.IGNORECASE)
# Lines of a protocol's head that name people or repeat what the item shows anyway (date, place, the next
# meeting): a partner reading the excerpt wants the results.
HEAD_LINE = re.compile(r"^(anwesend|teilnehmer\w*|teilnehmende|entschuldigt|abwesend|gäste|protokoll(führung|"
                       r"ant|antin)?|moderation|sitzungsleitung|ort|zeit|uhrzeit|beginn|ende|attendees|present|"
                       r"apologies|minutes taken by)\s*:", re.IGNORECASE)
NEXT_LINE = re.compile(r"^(nächste[sr]?|kommende[sr]?)\s+(treffen|sitzung|termin)|^next meeting", re.IGNORECASE)
SIGN_OFF = re.compile(r"^(mit freundlichen grüßen|viele grüße|beste grüße|liebe grüße|herzliche grüße|gez\.)",
                      re.IGNORECASE)


def collect(session: Session, config: Config, alliance_id: int, start: datetime, end: datetime,
            report: bool = False, with_proposed: bool = False) -> dict:
    """The issue's sections as plain JSON data (ISO dates), frozen into the issue."""
    groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance_id))}
    protocols = session.exec(select(InboundMessage).where(
        InboundMessage.kind == MessageKind.protocol, InboundMessage.status == MessageStatus.filed,
        InboundMessage.group_id.is_not(None),
        InboundMessage.received_at >= start, InboundMessage.received_at < end,
    ).order_by(InboundMessage.received_at)).all()
    public = {gid: is_public(config, g) for gid, g in groups.items()}
    meetings = _meetings(session, alliance_id, end, protocols)
    made_of = {m.source: m for m in meetings}
    by_group: dict[int, list[dict]] = defaultdict(list)
    limit = max(MIN_EXCERPT_CHARS, min(EXCERPT_CHARS, EXCERPT_BUDGET // max(1, len(protocols))))
    for message in protocols:
        group = groups.get(message.group_id)
        spec = config.group_by_slug(group.slug) if group else None
        if group is None or (spec is not None and spec.relay == "none"):
            continue  # a group that passes nothing on keeps its protocols internal
        text, cut = excerpt_of(message.text, limit, drop_next=bool(message.next_meeting_start))
        by_group[group.id].append({
            "id": message.id,
            "title": protocol_title(message.subject, group.name),
            "meeting_date": message.meeting_date.isoformat() if message.meeting_date else None,
            "excerpt": text,
            "truncated": cut,
            "tasks": [{"what": t.get("what", ""), "who": t.get("who") or "", "due": t.get("due") or ""}
                      for t in message.tasks[:MAX_TASKS]],
            **_next_meeting(config, message, made_of.get(f"protocol:{message.id}")),
        })
    content = {
        "groups": [{"name": groups[gid].name, "slug": groups[gid].slug, "protocols": items, "public": public[gid]}
                   for gid, items in sorted(by_group.items(), key=lambda kv: groups[kv[0]].name)],
        "upcoming": upcoming(config, meetings, end, groups, protocols),
        "with_proposed": with_proposed,
        "new_partners": new_organisations(session, config, alliance_id, start, end),
    }
    if report:
        content["summary"] = summary(session, alliance_id, start, end, groups, protocols)
        names = {g.name: public[gid] for gid, g in groups.items()}
        for row in content["summary"]:
            row["public"] = names.get(row["group"], False)
    return content


def is_public(config: Config, group: Group) -> bool:
    """Whether the group's protocols and meetings may go to public subscribers."""
    spec = config.group_by_slug(group.slug)
    return spec is not None and spec.public and spec.relay not in ("group", "none")


def for_audience(content: dict, audience: str) -> dict:
    """The sections one audience gets: partners everything collected, the public only what is marked public
    (an issue frozen before the marks existed has none, so its public edition has only the editorial)."""
    shown = {**content, "upcoming": shown_upcoming(content)}
    if audience == PARTNER:
        return shown
    return {
        "groups": [g for g in content.get("groups", []) if g.get("public") is True],
        "upcoming": [u for u in shown["upcoming"] if u.get("public") is True],
        "new_partners": [],
        "summary": [r for r in content["summary"] if r.get("public") is True] if content.get("summary") else None,
    }


def shown_upcoming(content: dict) -> list[dict]:
    """The meetings the issue announces: confirmed ones, proposed ones only when the coordinator asked for them
    (an issue frozen before meetings carried a status shows what it collected)."""
    wanted = {CONFIRMED, PROPOSED} if content.get("with_proposed") else {CONFIRMED}
    return [u for u in content.get("upcoming", []) if u.get("status", CONFIRMED) in wanted][:MAX_UPCOMING]


def protocol_title(subject: str, group_name: str) -> str:
    title = SUBJECT_NOISE.sub("", subject or "").strip()
    return title or f"Protokoll {group_name}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    return excerpt_of(text, limit)[0]


def excerpt_of(text: str, limit: int = EXCERPT_CHARS, drop_next: bool = False) -> tuple[str, bool]:
    """The start of the protocol's results with its lines kept (paragraphs, lists, TOP headings), and whether
    it was cut. Greetings, forward headers, quotes, sign-offs and the head's attendance, time and place lines
    (before the first result) are left out; with `drop_next` also the next-meeting line, which the item shows
    on its own."""
    lines: list[str] = []
    size, cut = 0, False
    for raw in (text or "").splitlines():
        line = " ".join(raw.split())
        if SIGN_OFF.match(line):
            break
        if line and (OPENING.match(line) or line.startswith(">") or (not any(lines) and HEAD_LINE.match(line))
                     or (drop_next and NEXT_LINE.match(line))):
            continue
        if not line:
            if lines and lines[-1]:
                lines.append("")
            continue
        if size + len(line) > limit or len([x for x in lines if x]) >= EXCERPT_LINES:
            if not any(lines):
                lines.append(line[:limit].rsplit(" ", 1)[0].rstrip(",;:-–"))
            cut = True
            break
        lines.append(line)
        size += len(line)
    while lines and not lines[-1]:
        lines.pop()
    joined = "\n".join(lines)
    return (joined + " …" if cut and joined else joined), cut


def new_organisations(session: Session, config: Config, alliance_id: int, start: datetime,
                      end: datetime) -> list[dict]:
    """Organisations whose first partner joined in the period, by name. Never the office itself (coordinators,
    addresses at the alliance's own domain), never a self-subscriber, never the registry's founding partners
    (the first import is no news), never an organisation another partner already spoke for."""
    registry = (Partner.alliance_id == alliance_id, Partner.audience == PARTNER, Partner.forgotten_at.is_(None))
    founded = session.exec(select(sa.func.min(Partner.joined_at)).where(*registry)).one()
    if founded is None:
        return []
    office = address_key(config.mail.office_address)
    own_domain = "@" + config.alliance.domain.lower()
    known = {_org_key(name) for name in session.exec(select(Partner.organisation).where(
        *registry, Partner.joined_at < start, sa.or_(Partner.left_at.is_(None), Partner.left_at >= start)))}
    names: dict[str, str] = {}
    for partner in session.exec(select(Partner).where(
            *registry, Partner.joined_at >= max(start, founded + FOUNDING), Partner.joined_at < end,
            Partner.left_at.is_(None), Partner.role != Role.coordinator).order_by(Partner.organisation)):
        key = _org_key(partner.organisation)
        email = partner.email_key or ""
        if not key or key in known or email == office or email.endswith(own_domain):
            continue
        names.setdefault(key, partner.organisation.strip())
    return [{"organisation": name} for name in names.values()]


def _org_key(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


def _meetings(session: Session, alliance_id: int, after: datetime, protocols: list[InboundMessage]) -> list[Meeting]:
    """The schedule's meetings in the window after the issue, and those made of the issue's protocols."""
    sources = [f"protocol:{m.id}" for m in protocols if m.next_meeting_start]
    return list(session.exec(select(Meeting).where(Meeting.alliance_id == alliance_id, sa.or_(
        sa.and_(Meeting.start >= after, Meeting.start < after + timedelta(days=UPCOMING_DAYS)),
        Meeting.source.in_(sources or [""]))).order_by(Meeting.start, Meeting.id)))


def _next_meeting(config: Config, message: InboundMessage, meeting: Meeting | None) -> dict:
    """A protocol's next meeting as the schedule has it now: moved, the new time; cancelled, none at all."""
    if meeting is None:
        return {"next_meeting": message.next_meeting_start, "next_meeting_location": message.next_meeting_location}
    if meeting.status == MeetingStatus.cancelled:
        return {"next_meeting": None, "next_meeting_location": None}
    return {"next_meeting": _local_start(config, meeting),
            "next_meeting_location": meeting.location or message.next_meeting_location}


def _local_start(config: Config, meeting: Meeting) -> str:
    """ISO in the alliance's time, as protocols name meetings; an all-day meeting its day without a time."""
    local = meeting.start.astimezone(config.tz)
    return local.date().isoformat() if meeting.all_day else local.replace(tzinfo=None).isoformat(timespec="minutes")


def upcoming(config: Config, meetings: list[Meeting], after: datetime, groups: dict[int, Group],
             protocols: list[InboundMessage]) -> list[dict]:
    """Meetings still to come, each once (by group and start; a confirmed one wins over a proposed one at the
    same time). A protocol's next meeting is the meeting the schedule made of it (its source) or has for that
    group on that day, whatever its status — cancelled there, it is never announced; in no schedule at all, it
    is only proposed."""
    until = after + timedelta(days=UPCOMING_DAYS)
    linked = {m.source for m in meetings}
    scheduled_days = {(m.group_id, m.start.astimezone(config.tz).date()) for m in meetings}
    items: dict[tuple, dict] = {}
    for meeting in sorted(meetings, key=lambda m: (m.start, m.status != MeetingStatus.confirmed)):
        if meeting.status == MeetingStatus.cancelled or not after <= meeting.start < until:
            continue
        start = _local_start(config, meeting)
        items.setdefault((meeting.group_id, start), _item(config, groups.get(meeting.group_id), start,
                                                          meeting.title, meeting.location, str(meeting.status)))
    today = after.astimezone(config.tz).date()
    for message in protocols:
        value = message.next_meeting_start
        if not value or f"protocol:{message.id}" in linked:
            continue
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            continue
        if day < today or (message.group_id, day) in scheduled_days:
            continue
        items.setdefault((message.group_id, value), _item(config, groups.get(message.group_id), value, "",
                                                          message.next_meeting_location or "", PROPOSED))
    ordered = sorted(items.values(), key=lambda item: item["start"])
    return ([i for i in ordered if i["status"] == CONFIRMED][:MAX_UPCOMING]
            + [i for i in ordered if i["status"] == PROPOSED][:MAX_UPCOMING])


def _item(config: Config, group: Group | None, start: str, title: str, location: str, status: str) -> dict:
    return {"start": start, "group": group.name if group else "", "title": title, "location": location,
            "status": status, "public": group is not None and is_public(config, group)}


def summary(session: Session, alliance_id: int, start: datetime, end: datetime, groups: dict[int, Group],
            protocols: list[InboundMessage]) -> list[dict]:
    """Per group: meetings held (scheduled meetings that took place, or dates protocols name) and protocols."""
    held: dict[int, set] = defaultdict(set)
    filed: dict[int, int] = defaultdict(int)
    for meeting in session.exec(select(Meeting).where(
            Meeting.alliance_id == alliance_id, Meeting.status != MeetingStatus.cancelled, Meeting.start >= start,
            Meeting.start < min(end, utcnow()))):
        held[meeting.group_id].add(meeting.start.date())
    for message in protocols:
        filed[message.group_id] += 1
        if message.meeting_date and start.date() <= message.meeting_date <= end.date():
            held[message.group_id].add(message.meeting_date)
    rows = [{"group": g.name, "meetings": len(held[gid]), "protocols": filed[gid]}
            for gid, g in groups.items() if g.active and (held[gid] or filed[gid] or g.kind == "group")]
    return sorted(rows, key=lambda r: r["group"])
