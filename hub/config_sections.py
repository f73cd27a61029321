"""The sections of `config/hub.toml` and the values they hold: one pydantic model per `[section]`, each value
checked where it is declared (ports 1–65535, counts 1 or more, finite numbers, http(s) addresses, DNS labels,
time zones), so that a mistake is refused when the file is loaded, naming the key.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.addresses import InvalidAddress, normalise_address
from hub.dates import parse_clock, parse_crontab
from hub.i18n import _
from hub.locations import DEFAULT_DATA_DIR, DEFAULT_DATABASE, DEFAULT_SMTP_PORT

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


class Storage(Section):
    database: str = DEFAULT_DATABASE
    data_dir: str = DEFAULT_DATA_DIR


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(_("%(value)r ist kein Netz; schreiben Sie es wie \"127.0.0.0/8\" oder \"192.0.2.7\"")
                         % {"value": value}) from None


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(_("%(value)r ist keine IP-Adresse; schreiben Sie sie wie \"127.0.0.1\"")
                         % {"value": value}) from None


Network = Annotated[str, AfterValidator(_network)]
IpAddress = Annotated[str, AfterValidator(_ip)]


class Inbound(Section):
    host: str = "127.0.0.1"
    port: Port = 8025
    protocol: Literal["smtp", "lmtp"] = "smtp"
    max_message_size: Count = 25 * 1024 * 1024
    max_recipients: Count = 50
    timeout: Count = 300  # seconds a client may stay silent (per command, per line in DATA)
    data_timeout: Count = 600  # seconds for a whole message after DATA
    max_sessions: Count = 100  # concurrent sessions; more get 421 at once
    max_sessions_per_client: Count = 20  # concurrent sessions from one IP address
    enabled: bool = True
    # Sender authentication (hub/inbound/sender_check.py): "dmarc" checks DKIM, SPF and DMARC itself (the hub
    # receives directly), "trusted-header" believes only the Authentication-Results of the MTA in front
    # (trusted_authserv_id), "off" checks nothing.
    sender_check: Literal["dmarc", "trusted-header", "off"] = "dmarc"
    trusted_authserv_id: str | None = None  # the authserv-id of the MTA's Authentication-Results
    trusted_networks: list[Network] = []  # mail from here counts as the alliance's own (and `hub ingest` files
    #                                       count as from loopback)
    dns_servers: list[IpAddress] | None = None  # None: the system's resolver
    dns_port: Port = 53
    dns_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0  # seconds for all DNS lookups of one message

    @field_validator("trusted_authserv_id")
    @classmethod
    def _authserv_id(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() or c == ";" for c in value.strip())):
            raise ValueError(_("ist keine authserv-id; schreiben Sie den Namen, den Ihr Mailserver in "
                               "Authentication-Results einträgt, wie mx.buendnis-musterhausen.example"))
        return value.strip().lower() if value is not None else None

    @model_validator(mode="after")
    def _trusted_header_needs_id(self) -> Inbound:
        if self.sender_check == "trusted-header" and not self.trusted_authserv_id:
            raise ValueError(_("trusted_authserv_id fehlt für sender_check = \"trusted-header\"; tragen "
                               "Sie den Namen ein, den Ihr Mailserver in Authentication-Results schreibt"))
        return self


class Extraction(Section):
    """Limits of reading the text of an attachment (hub/inbound/sandbox.py): each document is read in a worker
    process that may use this much memory and time; a document over a limit is filed without its text."""

    memory_mb: Annotated[int, Field(ge=128, le=8192)] = 256  # for documents, beyond the worker's own ~75 MB
    seconds: Annotated[float, Field(ge=1, le=600)] = 10  # per document, wall time and CPU time
    max_unpacked_mb: Annotated[int, Field(ge=1, le=1024)] = 50  # a DOCX/ODT unpacked, a PDF's page contents
    max_ratio: Annotated[int, Field(ge=10, le=10_000)] = 100  # unpacked : packed, per member over 1 MB
    max_pdf_pages: Annotated[int, Field(ge=1, le=100_000)] = 500
    documents_per_worker: Annotated[int, Field(ge=1, le=100_000)] = 200  # then a fresh worker


class Imap(Section):
    host: str
    port: Port = 993
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    user: str
    password_env: str = "HUB_IMAP_PASSWORD"
    folder: str = "INBOX"
    processed_folder: str | None = "Verarbeitet"
    poll_interval: Count = 120


class Smtp(Section):
    host: str
    port: Port = DEFAULT_SMTP_PORT
    tls: Literal["implicit", "starttls", "none"] = "starttls"
    user: str | None = None
    password_env: str = "HUB_SMTP_PASSWORD"
    connections: Count = 4
    messages_per_connection: Count = 100
    rate_per_minute: Count = 600
    timeout: Count = 60
    ca_file: str | None = None  # trust this CA (a smarthost with its own certificate)
    # The smarthost announces SMTPUTF8: addresses with a local part outside ASCII may be imported.
    smtputf8: bool = False


class Outbox(Section):
    lease_seconds: Count = 300
    give_up_hours: Count = 72
    retry_base_seconds: Count = 60
    retry_max_seconds: Count = 3600
    poll_seconds: Positive = 2.0  # how often `hub serve` looks for due mail


class Bounces(Section):
    threshold: Positive = 5.0
    permanent_score: Positive = 1.0
    transient_score: NotNegative = 0.5  # 0: delayed and temporary bounces do not count
    decay_days: Count = 7
    success_after_hours: Count = 24  # a mail sent this long ago that has not bounced resets the score


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


class Web(Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    base_url: str = "http://127.0.0.1:8080"
    enabled: bool = True
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IP addresses or networks).
    # Empty: the client address is the socket's peer, whatever a header claims.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, values: list[str]) -> list[str]:
        checked = []
        for value in values:
            text = value.strip()
            try:
                network = ipaddress.ip_network(text, strict=True) if "/" in text else ipaddress.ip_address(text)
            except ValueError:
                raise ValueError(_("%(value)r ist keine IP-Adresse und kein Netz; schreiben Sie etwa "
                                   "\"127.0.0.1\" oder \"10.0.0.0/8\" (ein Netz ohne gesetzte Host-Bits)")
                                 % {"value": value}) from None
            checked.append(str(network))
        return checked

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """The start of every link in mails and pages: http(s) to a host, nothing a link could not carry."""
        value = value.strip()
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if (parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname
                or "@" in parts.netloc or parts.query or parts.fragment or "?" in value or "#" in value
                or any(c.isspace() or not c.isprintable() or c in "<>\"'\\" for c in value)):
            raise ValueError(_("%(value)r ist keine Web-Adresse; schreiben Sie sie wie https://hub.example.org "
                               "(http:// oder https:// und ein Rechnername)") % {"value": value})
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
