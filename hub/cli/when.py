"""Dates as the command line shows them: 'Di 12.01.2027 18:00', in the alliance's time zone, the weekday in
the installation's language — the same in every listing and detail view."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import get_day_names

from hub import i18n


def when(value: datetime | date | None, tz: ZoneInfo) -> str:
    """A moment in `tz` ('Di 12.01.2027 18:00'); a day alone as 'Di 12.01.2027'; '-' for none."""
    if value is None:
        return "-"
    if not isinstance(value, datetime):
        return f"{_weekday(value)} {value:%d.%m.%Y}"
    local = value.astimezone(tz)
    return f"{_weekday(local)} {local:%d.%m.%Y %H:%M}"


def _weekday(day: date) -> str:
    return get_day_names("abbreviated", locale=i18n.active())[day.weekday()].rstrip(".")
