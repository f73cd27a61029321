"""The sections of `config/hub.toml` and the values they hold: one pydantic model per `[section]`, each value
checked where it is declared (ports 1–65535, counts 1 or more, finite numbers, http(s) addresses, DNS labels,
time zones), so that a mistake is refused when the file is loaded, naming the key.

Here the alliance's own sections (its name and addresses, groups, templates, schedule and retention policy, DKIM
key) and the checked value types; the installation's (storage, inbound, IMAP, SMTP, outbox, bounces, web) are in
hub/config_installation.py.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from hub.addresses import InvalidAddress, normalise_address
from hub.dates import parse_clock, parse_crontab
from hub.i18n import _

SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(_("%(value)s ist keine Portnummer; nehmen Sie eine Zahl von 1 bis 65535") % {"value": value})
    return value


def _at_least(minimum: int):
    def check(value: int) -> int:
        if value < minimum:
            raise ValueError(_("%(value)s ist zu klein; nehmen Sie %(minimum)s oder mehr")
                             % {"value": value, "minimum": minimum})
        return value

    return check


def _positive(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(_("%(value)s geht nicht; nehmen Sie eine Zahl größer als 0, wie 0.5") % {"value": value})
    return value


def _zero_or_more(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(_("muss 0 oder größer sein"))
    return value


Port = Annotated[int, AfterValidator(_port)]
Count = Annotated[int, AfterValidator(_at_least(1))]  # sizes, counts, intervals, connections, rates: 1 or more
Positive = Annotated[float, AfterValidator(_positive)]  # a finite number above 0 (seconds, scores)
NotNegative = Annotated[float, AfterValidator(_zero_or_more)]  # where 0 has a documented meaning


def _address(value: str) -> str:
    try:
        return normalise_address(value)
    except InvalidAddress as exc:
        raise ValueError(_("%(error)s; schreiben Sie eine vollständige Adresse wie name@example.org")
                         % {"error": exc}) from None


class Alliance(Section):
    name: str
    domain: str
    timezone: str = "Europe/Berlin"
    language: Literal["de", "en"] = "de"
    colour: str = "#1f5c99"
    accent_colour: str = "#f2a900"
    website: str | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if "." not in value or "@" in value or " " in value:
            raise ValueError(_("ist keine Domain; schreiben Sie sie wie buendnis-musterhausen.example"))
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(_("ist keine bekannte Zeitzone; nehmen Sie einen Namen wie Europe/Berlin")) from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Mail(Section):
    protocol_address: str
    office_address: str
    bounce_address: str
    unsubscribe_address: str | None = None

    @field_validator("protocol_address", "office_address", "bounce_address", "unsubscribe_address")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)


class Dkim(Section):
    selector: str
    key_file: str  # read and checked by `dkim_key()` when `hub serve` starts and `hub outbox flush` runs

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        labels = value.split(".")
        if not all(label and set(label) <= SLUG_CHARS | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
                   and not label.startswith("-") for label in labels):
            raise ValueError(_("%(value)r ist kein DKIM-Selektor; nehmen Sie Buchstaben, Ziffern und '-', wie hub2026")
                             % {"value": value})
        return value


class Templates(Section):
    dir: str | None = None


class Schedule(Section):
    """Send-policy defaults; the coordinator overrides them per alliance or group (`hub schedule policy set`)."""

    invitation_days: int = 14  # invitation this many days before a meeting
    reminder_days: int = 2  # reminder this many days before
    protocol_due_days: int = 7  # protocol-due reminder this many days after, if no protocol came
    protocol_due_repeat_days: int = 7  # once more this many days later (0: never)
    task_reminder_days: int = 3  # a task's owner is reminded this many days before it is due
    send_time: str = "09:00"  # local time of day at which invitations and reminders go out
    meeting_time: str = "18:00"  # start assumed when a protocol names only the day of the next meeting
    meeting_minutes: Count = 120  # length of a meeting when no end is given
    digest: str = "0 9 1 * *"  # monthly newsletter digest (crontab: minute hour day month weekday, local time)
    report: str = "0 9 1 6,12 *"  # half-yearly report: 1 June and 1 December
    grace_hours: Count = 6  # how long after its time a newsletter missed while the hub was down still goes out
    resync_seconds: Positive = 0.5  # how often a running hub looks for schedule edits

    @field_validator("send_time", "meeting_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value

    @field_validator("digest", "report")
    @classmethod
    def _crontab(cls, value: str) -> str:
        parse_crontab(value)
        return value

    @field_validator("invitation_days", "reminder_days", "protocol_due_days", "protocol_due_repeat_days",
                     "task_reminder_days")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(_("muss 0 oder größer sein"))
        return value


MAX_RETENTION_DAYS = 3650  # ten years, the longest period German record-keeping rules ask of anyone


def _days(value: int) -> int:
    if value < 1:
        raise ValueError(_("%(value)s Tage geht nicht: Daten werden frühestens nach einem Tag gelöscht; nehmen Sie "
                           "1 oder mehr") % {"value": value})
    if value > MAX_RETENTION_DAYS:
        raise ValueError(_("%(value)s Tage sind zu lang: nichts wird für immer aufbewahrt; nehmen Sie höchstens "
                           "%(maximum)s (zehn Jahre)") % {"value": value, "maximum": MAX_RETENTION_DAYS})
    return value


Days = Annotated[int, AfterValidator(_days)]


class Retention(Section):
    """How long each kind of stored data is kept (DSGVO Art. 5(1)(e)); `hub serve` deletes what is older once a
    day at `run_time`, `hub retention run` by hand (hub/retention.py)."""

    raw_mail_days: Days = 365  # the raw mail, its attachments and sender fields; the protocol's text stays
    held_mail_days: Days = 90  # held and rejected mail, whole
    sent_mail_days: Days = 90  # bodies of sent mail and their delivery rows; counts stay
    bounces_days: Days = 365  # bounce records, bounce reports, auto-replies and other mail only recorded
    audit_days: Days = 365  # the web admin's audit log
    quarantine_days: Days = 30  # mail filing could not process
    outbox_files_days: Days = 30  # files in the Maildir outbox (<data_dir>/outbox)
    run_time: str = "03:30"  # local time of the daily run in `hub serve`

    @field_validator("run_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class Group(Section):
    slug: str
    name: str
    aliases: list[str] = []
    kind: Literal["group", "coordination", "plenum"] = "group"
    relay: Literal["none", "group", "all", "digest"] = "digest"
    relay_attachments: bool = False
    auto_confirm: bool = False
    # The group's protocols and meetings go into the newsletter's public edition (self-subscribers) too;
    # never a group with relay = "group" or "none".
    public: bool = False

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value or not set(value) <= SLUG_CHARS or value.startswith("-"):
            raise ValueError(_("darf nur a-z, 0-9 und '-' enthalten, wie ag-gesundheit"))
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        out = []
        for alias in value:
            alias = alias.strip().lower()
            if not alias or "@" in alias or not set(alias) <= SLUG_CHARS | {".", "_"}:
                raise ValueError(_("Alias %(alias)r darf nur der Teil vor dem @ sein, wie ag-gesundheit")
                                 % {"alias": alias})
            out.append(alias)
        return out
