"""Dates and times as a German office types them: `20.01.2027 18:00`, `20.1.27 18 Uhr`,
`20.01.2027, 18.30 Uhr`, and ISO (`2027-01-20 18:00`, `2027-01-20T18:00`).

Pure and strict: a fixed set of written forms, nothing guessed ("morgen", "nächsten Dienstag" are the
extractor's business, not a typed field's). Two-digit years are 20xx. Every refusal is one German line
that says what to write instead. Times are the alliance's local time; what comes back is aware UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

from hub.errors import UsageError
from hub.i18n import _, active

EXAMPLE = "20.01.2027 18:00"

_GERMAN_DATE = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4}|\d{2})(?!\d)")
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)")
_NO_YEAR = re.compile(r"\d{1,2}\.\d{1,2}\.?(?:$|\s|,)")
_CLOCK = r"(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
# An offset is accepted because `--json` output prints one (2027-01-20T18:00:00+01:00): it can be fed back.
_TIME = re.compile(rf"{_CLOCK}(?:\s*uhr|(?P<offset>Z|[+-]\d{{2}}:?\d{{2}}))?", re.IGNORECASE)
_SEPARATOR = re.compile(r"\s*,\s*(?:um\s+)?|\s+(?:um\s+)?", re.IGNORECASE)


class DateError(UsageError):
    """A typed date or time the hub cannot read; the message says how to write it."""


class MissingTimeError(DateError):
    """A date was given where a date and a time are needed."""


def parse_date(text: str) -> date:
    """'20.01.2027', '20.1.27' or '2027-01-20' → the day; a time after it is refused."""
    value = _when(text)
    if isinstance(value, tuple):
        raise DateError(_("„%(text)s“: hier ist nur ein Datum gefragt, ohne Uhrzeit; schreiben Sie es "
                          "z. B. als 20.01.2027") % {"text": text.strip()})
    return value


def parse_time(text: str) -> time:
    """'18:00', '18.30', '18 Uhr', '18:30 Uhr' → the time of day."""
    match = _TIME.fullmatch((text or "").strip())
    if match is None or match.group("offset"):
        raise DateError(_("„%(text)s“ ist keine Uhrzeit; schreiben Sie sie z. B. als 18:00 oder 18 Uhr")
                        % {"text": (text or "").strip()})
    return _clock(match, text)


def parse_when(text: str, tz: ZoneInfo) -> date | datetime:
    """A date with or without a time: aware UTC when a time was given, else the bare day."""
    value = _when(text)
    if not isinstance(value, tuple):
        return value
    day, clock, offset = value
    local = datetime.combine(day, clock, tzinfo=offset or tz)
    if offset is None and not _exists(local):
        raise DateError(_("„%(text)s“: diese Uhrzeit gibt es am %(day)s nicht (Umstellung auf Sommerzeit); "
                          "wählen Sie eine Stunde später") % {"text": text.strip(), "day": f"{day:%d.%m.%Y}"})
    return local.astimezone(UTC)


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """A date and a time in the alliance's zone → aware UTC; a bare date is refused with a hint."""
    value = parse_when(text, tz)
    if not isinstance(value, datetime):
        raise MissingTimeError(_("„%(text)s“ hat keine Uhrzeit; schreiben Sie Datum und Uhrzeit, "
                                 "z. B. %(example)s") % {"text": text.strip(), "example": f"{value:%d.%m.%Y} 18:00"})
    return value


def parse_end(text: str, start: date | datetime, tz: ZoneInfo) -> date | datetime:
    """An end as typed after a start: a full date (and time), or only a time ('20 Uhr') on the start's day."""
    raw = (text or "").strip()
    # '22.07' is a day without its year, not 22:07; a time with a dot needs its 'Uhr' here.
    only_time = _TIME.fullmatch(raw) and ("." not in raw or "uhr" in raw.lower())
    if only_time and isinstance(start, datetime):
        clock = parse_time(text)
        return parse_when(f"{local_day(start, tz):%d.%m.%Y} {clock:%H:%M}", tz)
    return parse_when(text, tz)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """00:00 local on that day, as aware UTC: where an all-day meeting begins, or a `--since` day."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_day(value: datetime, tz: ZoneInfo) -> date:
    return value.astimezone(tz).date()


def _when(text: str) -> date | tuple[date, time, timezone | None]:
    raw = (text or "").strip()
    if not raw:
        raise DateError(_("Es fehlt ein Datum; schreiben Sie es z. B. als %(example)s") % {"example": EXAMPLE})
    iso = _ISO_DATE.match(raw)
    match = iso or _GERMAN_DATE.match(raw)
    if match is None and _NO_YEAR.match(raw):
        raise DateError(_("„%(text)s“: das Jahr fehlt; schreiben Sie das Datum z. B. als 20.01.2027")
                        % {"text": raw})
    if match is None:
        raise DateError(_("„%(text)s“ ist kein Datum; schreiben Sie es z. B. als %(example)s oder 20.01.2027")
                        % {"text": raw, "example": EXAMPLE})
    day = _day(match, raw)
    rest = raw[match.end():]
    if not rest:
        return day
    if iso and rest[0] in "Tt":
        clock_text = rest[1:]
    else:
        separator = _SEPARATOR.match(rest)
        if separator is None:
            raise _bad_time(raw)
        clock_text = rest[separator.end():]
    clock_match = _TIME.fullmatch(clock_text)
    if clock_match is None:
        raise _bad_time(raw)
    return day, _clock(clock_match, raw), _offset(clock_match.group("offset"))


def _day(match: re.Match, raw: str) -> date:
    year, month, day = (int(match.group(k)) for k in ("year", "month", "day"))
    if len(match.group("year")) == 2:
        year += 2000
    if year < 1900:
        raise DateError(_("„%(text)s“: das Jahr %(year)s ist sicher nicht gemeint; schreiben Sie es z. B. als 2027 "
                          "oder 27") % {"text": raw, "year": year})
    if not 1 <= month <= 12:
        raise DateError(_("„%(text)s“: einen %(month)s. Monat gibt es nicht; der Monat ist 1 bis 12")
                        % {"text": raw, "month": month})
    try:
        return date(year, month, day)
    except ValueError:
        first = date(year, month, 1)
        last = (first.replace(year=year + month // 12, month=month % 12 + 1) - timedelta(days=1)).day
        raise DateError(_("„%(text)s“: einen %(day)s. gibt es im %(month)s nicht, er hat %(last)s Tage")
                        % {"text": raw, "day": day, "month": format_date(first, "MMMM y", locale=active()),
                           "last": last}) from None


def _clock(match: re.Match, raw: str) -> time:
    hour, minute, second = (int(match.group(k) or 0) for k in ("hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 59:
        raise DateError(_("„%(text)s“: die Uhrzeit gibt es nicht; Stunden 0 bis 23, Minuten 0 bis 59, "
                          "z. B. 18:30") % {"text": raw.strip()})
    return time(hour, minute, second)


def _offset(text: str | None) -> timezone | None:
    if not text:
        return None
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _bad_time(raw: str) -> DateError:
    return DateError(_("„%(text)s“: nach dem Datum verstehe ich die Uhrzeit nicht; schreiben Sie z. B. "
                       "%(example)s oder 20.01.2027, 18.30 Uhr") % {"text": raw, "example": EXAMPLE})


def _exists(local: datetime) -> bool:
    """False for a wall-clock time skipped by the spring change (02:30 on the last Sunday in March)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(tzinfo=None)


def parse_clock(value: str) -> time:
    """A policy's or the config's clock time, "09:00" (ValueError otherwise, so that config validation
    reports it with the key)."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(_("%(value)r ist keine Uhrzeit; schreiben Sie sie wie 09:00") % {"value": value}) from None


def parse_crontab(value: str, tz: ZoneInfo | None = None) -> CronTrigger | None:
    """A five-field crontab (minute hour day month weekday), or "off"; weekdays are best written as mon-sun."""
    if value.strip().lower() in ("off", "aus", "none", ""):
        return None
    from apscheduler.triggers.cron import CronTrigger  # the scheduler's own parser; loaded only to read one

    try:
        return CronTrigger.from_crontab(value, timezone=tz or ZoneInfo("UTC"))
    except ValueError as exc:
        raise ValueError(_("%(value)r ist keine crontab-Zeile (%(error)s); schreiben Sie sie wie '0 9 1 * *' "
                           "(Minute Stunde Tag Monat Wochentag) oder 'off'") % {"value": value, "error": exc}) from None
