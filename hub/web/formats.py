"""How the web shows dates, times and numbers: in the alliance's time zone and the installation's language."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment

# One format for lists, one for a single thing's details, one for a day; English reads like British English.
DATE_FORMATS = {
    "de": {"short": "EEE, dd.MM.y, HH:mm", "when": "EEEE, d. MMMM y, HH:mm 'Uhr'", "day": "EEEE, d. MMMM y"},
    "en": {"short": "EEE, d MMM y, HH:mm", "when": "EEEE, d MMMM y, HH:mm", "day": "EEEE, d MMMM y"},
}


def install(env: Environment, tz, locale: str) -> None:
    """The filters `when`, `short`, `day`, `local` and `number` of the templates."""
    formats = DATE_FORMATS.get(locale, DATE_FORMATS["de"])
    env.filters["when"] = lambda v: _when(v, tz, locale, formats["when"])
    env.filters["short"] = lambda v: _when(v, tz, locale, formats["short"])
    env.filters["day"] = lambda v: _day(v, tz, locale, formats["day"])
    env.filters["local"] = lambda v: _local(v, tz, locale, formats)
    env.filters["number"] = lambda v: format_decimal(v, locale=locale)


def _when(value: datetime | str | None, tz, locale: str, pattern: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):  # the ISO strings of the registry's plain-data descriptions
        value = datetime.fromisoformat(value)
    return format_datetime(value, pattern, tzinfo=tz, locale=locale)


def _day(value: date | datetime | str | None, tz, locale: str, pattern: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(tz).date()
    return format_date(value, pattern, locale=locale)


def _local(value: object, tz, locale: str, formats: dict[str, str]) -> str:
    """A date or time read from a mail ("2027-03-10", "2027-03-10T18:00", local time), or the text as it came."""
    text = str(value or "").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text or "–"
    if "T" not in text and " " not in text:
        return format_date(parsed.date(), formats["day"], locale=locale)
    return format_datetime(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz), formats["when"], tzinfo=tz,
                           locale=locale)
