"""`config/schedule.toml`: meetings and policies kept under version control, applied by `hub schedule import`.

The file is declarative. Meetings are matched by their `key`; a new key adds a meeting, a changed one
is edited (the calendar entry's SEQUENCE rises), and a meeting from an earlier import whose key is
gone is cancelled (invitations may already be out, so it is never deleted). When the file has a
`[policy]` table it states every override: overrides not in it are removed. Importing the same file
twice changes nothing. Any error refuses the whole file.

Times are written as the office writes them (`20.01.2027 18:00`, `20.01.2027, 18.30 Uhr`, ISO, or TOML's
own date-times); a meeting with `all_day = true` takes dates only, its `end` being its last day.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlmodel import Session, select

from hub import dates
from hub.db import utcnow
from hub.errors import UsageError
from hub.i18n import _
from hub.models import Group, Meeting, MeetingStatus, SchedulePolicy
from hub.scheduler import meetings as meetings_module
from hub.scheduler import policies

SOURCE = "schedule-file"
MEETING_KEYS = {"key", "group", "start", "end", "all_day", "location", "agenda", "title", "status"}


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("added", "changed", "removed", "unchanged")}


def read(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(_("%(path)s: Datei nicht gefunden") % {"path": path}) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_("%(path)s: TOML-Syntaxfehler: %(error)s; berichtigen Sie die genannte Zeile")
                         % {"path": path, "error": exc}) from None


def apply(session: Session, config, alliance, data: dict, where: str = "schedule.toml",
          now: datetime | None = None) -> ImportReport:
    """Apply the file in the caller's transaction; raises UsageError naming the entry at the first problem."""
    unknown = set(data) - {"policy", "meeting"}
    if unknown:
        raise UsageError(_("%(where)s: unbekannte Tabellen %(tables)s; erlaubt sind [policy] und [[meeting]]")
                         % {"where": where, "tables": ", ".join(sorted(unknown))})
    report = ImportReport()
    if "policy" in data:
        _policies(session, config, alliance, data["policy"], where, report)
    _meetings(session, config, alliance, data.get("meeting", []), where, report, now)
    return report


def _policies(session, config, alliance, table: dict, where: str, report: ImportReport) -> None:
    groups = {g.slug: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
    wanted: dict[tuple[str | None, str], str] = {}
    for name, value in table.items():
        if name == "group":
            for slug, values in value.items():
                if slug not in groups:
                    raise UsageError(_("%(where)s: policy.group.%(slug)s: unbekannte Gruppe; möglich sind: %(known)s")
                                     % {"where": where, "slug": slug, "known": ", ".join(sorted(groups))})
                for inner, inner_value in values.items():
                    if policies.SPECS.get(inner) and policies.SPECS[inner].scope != "group":
                        raise UsageError(_("%(where)s: policy.group.%(slug)s.%(name)s gilt für das ganze Bündnis; "
                                           "schreiben Sie es unter [policy]")
                                         % {"where": where, "slug": slug, "name": inner})
                    wanted[(slug, inner)] = _normalised(f"policy.group.{slug}.{inner}", inner, inner_value, config,
                                                        where)
        else:
            wanted[(None, name)] = _normalised(f"policy.{name}", name, value, config, where)
    slugs = {g.id: g.slug for g in groups.values()}
    current = {(slugs.get(r.group_id) if r.group_id else None, r.name): r.value
               for r in policies.overrides(session, alliance.id)}
    for (slug, name), value in wanted.items():
        label = f"policy {name}" + (f" ({slug})" if slug else "")
        if current.get((slug, name)) == value:
            report.unchanged.append(label)
            continue
        policies.set_policy(session, config, alliance, name, value, groups[slug] if slug else None)
        (report.changed if (slug, name) in current else report.added).append(f"{label} = {value}")
    for (slug, name) in current:
        if (slug, name) not in wanted:
            policies.set_policy(session, config, alliance, name, None, groups[slug] if slug else None)
            report.removed.append(f"policy {name}" + (f" ({slug})" if slug else ""))


def _normalised(label: str, name: str, value, config, where: str) -> str:
    if isinstance(value, bool):
        value = "yes" if value else "no"
    try:
        return policies.normalise(name, str(value), config.tz)
    except policies.PolicyError as exc:
        raise UsageError(f"{where}: {label}: {str(exc).split(': ', 1)[-1]}") from None


def _meetings(session, config, alliance, entries: list, where: str, report: ImportReport, now) -> None:
    existing = {m.key: m for m in session.exec(select(Meeting).where(Meeting.alliance_id == alliance.id,
                                                                     Meeting.key.is_not(None)))}
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        label = f"{where}: meeting[{index}]"
        unknown = set(entry) - MEETING_KEYS
        if unknown:
            raise UsageError(_("%(label)s: unbekannte Schlüssel %(keys)s; erlaubt sind %(allowed)s")
                             % {"label": label, "keys": ", ".join(sorted(unknown)),
                                "allowed": ", ".join(sorted(MEETING_KEYS))})
        for required in ("key", "group", "start"):
            if not entry.get(required):
                raise UsageError(_("%(label)s: %(key)s fehlt") % {"label": label, "key": required})
        key = str(entry["key"])
        label = _("%(where)s: Treffen %(key)s") % {"where": where, "key": key}
        if key in seen:
            raise UsageError(_("%(label)s: der Schlüssel steht doppelt; geben Sie jedem Treffen einen eigenen")
                             % {"label": label})
        seen.add(key)
        try:
            all_day = entry.get("all_day", False)
            if not isinstance(all_day, bool):
                raise UsageError(_("all_day ist true oder false (ohne Anführungszeichen)"))
            start = _when(entry["start"], config, "start", all_day)
            end = _when(entry["end"], config, "end", all_day) if entry.get("end") else None
            meeting = existing.get(key) or _exported(session, alliance, key)
            if meeting is None:
                meetings_module.add(
                    session, config, alliance, entry["group"], start, end, location=entry.get("location", ""),
                    agenda=entry.get("agenda", ""), title=entry.get("title", ""),
                    status=entry.get("status", MeetingStatus.confirmed), source=SOURCE, key=key, all_day=all_day,
                    now=now,
                )
                report.added.append(key)
                continue
            if meeting.status == MeetingStatus.cancelled:
                raise UsageError(_("dieses Treffen wurde abgesagt; geben Sie einen neuen Schlüssel, um es neu zu "
                                   "planen"))
            group = meetings_module.group_by_slug(session, alliance, entry["group"])
            stored_start, stored_end = meetings_module.span(config, start, end, all_day, keep=meeting)
            changes = {
                "start": start, "end": end, "all_day": all_day,
                "location": entry.get("location", ""), "agenda": entry.get("agenda", ""),
                "title": entry.get("title") or meetings_module.default_title(group),
            }
            if group.id != meeting.group_id:
                changes["group"] = group.slug
            stored = {**changes, "start": stored_start, "end": stored_end}
            differs = any(getattr(meeting, k) != v for k, v in stored.items() if k != "group") or "group" in changes
            if not differs:
                report.unchanged.append(key)
                continue
            meetings_module.edit(session, config, meeting, now=now, **changes)
            report.changed.append(key)
            if entry.get("status") == MeetingStatus.confirmed and meeting.status == MeetingStatus.proposed:
                meetings_module.confirm(session, config, meeting, now=now)
        except UsageError as exc:
            message = str(exc)
            raise UsageError(message if message.startswith(where) else f"{label}: {message}") from None
    for key, meeting in existing.items():
        if key not in seen and meeting.source == SOURCE and meeting.status != MeetingStatus.cancelled:
            if meeting.end > (now or utcnow()):
                meetings_module.cancel(session, meeting, now=now)
                report.removed.append(key)


def _exported(session: Session, alliance, key: str) -> Meeting | None:
    """`export` names a meeting without a key `meeting-<id>`; importing that file finds it again."""
    if not key.startswith("meeting-") or not key.removeprefix("meeting-").isdigit():
        return None
    meeting = session.get(Meeting, int(key.removeprefix("meeting-")))
    if meeting is None or meeting.alliance_id != alliance.id or meeting.key is not None:
        return None
    meeting.key = key
    session.add(meeting)
    return meeting


def _when(value, config, name: str, all_day: bool) -> datetime | date:
    """A typed or TOML date(-time) → aware UTC, or a date; a date alone only where `all_day = true`."""
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=config.tz)).astimezone(UTC)
    elif isinstance(value, time):
        raise UsageError(_("%(name)s: hier fehlt das Datum; schreiben Sie z. B. %(name)s = \"20.01.2027 18:00\"")
                         % {"name": name})
    elif not isinstance(value, date):
        value = dates.parse_when(str(value), config.tz)
    if not all_day and not isinstance(value, datetime):
        raise UsageError(_("%(name)s hat keine Uhrzeit; schreiben Sie z. B. %(name)s = \"%(day)s 18:00\", oder "
                           "all_day = true für einen ganztägigen Termin") % {"name": name, "day": f"{value:%d.%m.%Y}"})
    return value


def export(session: Session, config, alliance, now: datetime) -> str:
    """The current policies and every future meeting, as a file `apply` takes back unchanged."""
    groups = {g.id: g.slug for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
    lines = [f"# Schedule of {config.alliance.name}, exported {now.astimezone(config.tz):%Y-%m-%d %H:%M}.",
             "# Apply with `hub schedule import FILE` (try --dry-run first). Times are local "
             f"({config.alliance.timezone}).", ""]
    rows = policies.overrides(session, alliance.id)
    lines.append("[policy]")
    for row in sorted((r for r in rows if r.group_id is None), key=lambda r: r.name):
        lines.append(f"{row.name} = {_toml(row.value, row.name)}")
    by_group: dict[str, list[SchedulePolicy]] = {}
    for row in rows:
        if row.group_id is not None:
            by_group.setdefault(groups[row.group_id], []).append(row)
    for slug in sorted(by_group):
        lines += ["", f"[policy.group.{slug}]"]
        lines += [f"{r.name} = {_toml(r.value, r.name)}" for r in sorted(by_group[slug], key=lambda r: r.name)]
    meetings = session.exec(select(Meeting).where(
        Meeting.alliance_id == alliance.id, Meeting.end > now, Meeting.status != MeetingStatus.cancelled,
    ).order_by(Meeting.start)).all()
    for meeting in meetings:
        lines += ["", "[[meeting]]", f"key = {_quote(meeting.key or f'meeting-{meeting.id}')}",
                  f"group = {_quote(groups[meeting.group_id])}"]
        if meeting.all_day:
            first, last = meetings_module.days(meeting, config.tz)
            lines += [f'start = "{first:%Y-%m-%d}"', f'end = "{last:%Y-%m-%d}"', "all_day = true"]
        else:
            lines += [f"start = {_quote(f'{meeting.start.astimezone(config.tz):%Y-%m-%d %H:%M}')}",
                      f"end = {_quote(f'{meeting.end.astimezone(config.tz):%Y-%m-%d %H:%M}')}"]
        lines.append(f"title = {_quote(meeting.title)}")
        if meeting.location:
            lines.append(f"location = {_quote(meeting.location)}")
        if meeting.agenda:
            lines.append(f"agenda = {_quote(meeting.agenda)}")
        lines.append(f"status = {_quote(meeting.status)}")
    return "\n".join(lines) + "\n"


def _toml(value: str, name: str) -> str:
    kind = policies.SPECS[name].kind if name in policies.SPECS else "text"
    if kind in ("days", "seconds"):
        return value
    if kind == "bool":
        return "true" if value == "yes" else "false"
    return _quote(value)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
