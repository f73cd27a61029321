"""What a newsletter issue collects, as plain data frozen into the issue when it is drafted: protocols filed
per group (an excerpt and the tasks), meetings still to come, partners who joined, and for the half-yearly
report a table of meetings and protocols per group.

Each group's protocols, each upcoming meeting and each summary row carry `public`: whether the newsletter's
public edition (for self-subscribers, `Partner.audience` "public") may show it. That is the coordinator's
`public = true` on the group in the config, and never for a group with `relay = "group"` (its protocols are
for its members) or `relay = "none"`. "Neu im Bündnis" lists partners of the registry only, never a
self-subscriber, and is never in the public edition.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from hub.config import Config
from hub.db import utcnow
from hub.models import Group, InboundMessage, Meeting, MeetingStatus, MessageKind, MessageStatus, Partner

PARTNER = "partner"  # `Partner.audience` of the registry (hub.partners.PARTNER; this module is the store layer)
EXCERPT_CHARS = 420
MAX_TASKS = 8
UPCOMING_DAYS = 120
MAX_UPCOMING = 12
SUBJECT_NOISE = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)
OPENING = re.compile(r"^(hallo|liebe|lieber|sehr geehrte|guten tag|anbei|im anhang|hier (ist|das|kommt)|"
                     r"-{2,}|von:|from:|gesendet:|an:|betreff:|datum:)", re.IGNORECASE)


def collect(session: Session, config: Config, alliance_id: int, start: datetime, end: datetime,
            report: bool = False) -> dict:
    """The issue's sections as plain JSON data (ISO dates), frozen into the issue."""
    groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance_id))}
    protocols = session.exec(select(InboundMessage).where(
        InboundMessage.kind == MessageKind.protocol, InboundMessage.status == MessageStatus.filed,
        InboundMessage.group_id.is_not(None),
        InboundMessage.received_at >= start, InboundMessage.received_at < end,
    ).order_by(InboundMessage.received_at)).all()
    public = {gid: is_public(config, g) for gid, g in groups.items()}
    by_group: dict[int, list[dict]] = defaultdict(list)
    for message in protocols:
        group = groups.get(message.group_id)
        spec = config.group_by_slug(group.slug) if group else None
        if group is None or (spec is not None and spec.relay == "none"):
            continue  # a group that passes nothing on keeps its protocols internal
        by_group[group.id].append({
            "id": message.id,
            "title": protocol_title(message.subject, group.name),
            "meeting_date": message.meeting_date.isoformat() if message.meeting_date else None,
            "excerpt": excerpt(message.text),
            "tasks": [{"what": t.get("what", ""), "who": t.get("who") or ""} for t in message.tasks[:MAX_TASKS]],
            "next_meeting": message.next_meeting_start,
            "next_meeting_location": message.next_meeting_location,
        })
    content = {
        "groups": [{"name": groups[gid].name, "slug": groups[gid].slug, "protocols": items, "public": public[gid]}
                   for gid, items in sorted(by_group.items(), key=lambda kv: groups[kv[0]].name)],
        "upcoming": upcoming(session, config, alliance_id, end, groups, protocols),
        "new_partners": [{"name": p.name, "organisation": p.organisation} for p in session.exec(
            select(Partner).where(Partner.alliance_id == alliance_id, Partner.joined_at >= start,
                                  Partner.joined_at < end, Partner.left_at.is_(None),
                                  Partner.forgotten_at.is_(None), Partner.audience == PARTNER)
            .order_by(Partner.organisation, Partner.name))],
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
    if audience == PARTNER:
        return content
    return {
        "groups": [g for g in content.get("groups", []) if g.get("public") is True],
        "upcoming": [u for u in content.get("upcoming", []) if u.get("public") is True],
        "new_partners": [],
        "summary": [r for r in content["summary"] if r.get("public") is True] if content.get("summary") else None,
    }


def protocol_title(subject: str, group_name: str) -> str:
    title = SUBJECT_NOISE.sub("", subject or "").strip()
    return title or f"Protokoll {group_name}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of the protocol's results: greetings, forward headers and sign-offs left out."""
    lines = []
    for raw in (text or "").splitlines():
        line = " ".join(raw.split())
        if not line or OPENING.match(line) or line.startswith(">"):
            continue
        lines.append(line)
        if sum(len(x) for x in lines) > limit:
            break
    joined = " ".join(lines)
    if len(joined) <= limit:
        return joined
    cut = joined[:limit].rsplit(" ", 1)[0].rstrip(",;:-–")
    return cut + " …"


def upcoming(session: Session, config: Config, alliance_id: int, after: datetime, groups: dict[int, Group],
             protocols: list[InboundMessage]) -> list[dict]:
    """Meetings still to come: from the schedule, and the next meetings named in protocols not yet in it."""
    until = after + timedelta(days=UPCOMING_DAYS)
    items, seen = [], set()
    for meeting in session.exec(select(Meeting).where(
            Meeting.alliance_id == alliance_id, Meeting.status != MeetingStatus.cancelled, Meeting.start >= after,
            Meeting.start < until).order_by(Meeting.start)):
        group = groups.get(meeting.group_id)
        local = meeting.start.astimezone(config.tz)
        seen.add((meeting.group_id, local.date()))
        start = local.date().isoformat() if meeting.all_day else local.replace(tzinfo=None).isoformat(
            timespec="minutes")  # an all-day meeting shows its day without a time
        items.append({"start": start, "group": group.name if group else "", "title": meeting.title,
                      "location": meeting.location, "public": group is not None and is_public(config, group)})
    today = after.astimezone(config.tz).date()
    for message in protocols:
        value = message.next_meeting_start
        if not value:
            continue
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            continue
        if day < today or (message.group_id, day) in seen:
            continue
        seen.add((message.group_id, day))
        group = groups.get(message.group_id)
        items.append({"start": value, "group": group.name if group else "", "title": "",
                      "location": message.next_meeting_location or "",
                      "public": group is not None and is_public(config, group)})
    items.sort(key=lambda item: item["start"])
    return items[:MAX_UPCOMING]


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
