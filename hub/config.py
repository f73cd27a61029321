"""The alliance's configuration: `config/hub.toml`, validated into plain pydantic models.

Every problem becomes one `ConfigError` line naming the file, the key and the fix, because the
person reading it edits a TOML file, not Python.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from hub.addresses import InvalidAddress, normalise_address
from hub.dates import parse_clock, parse_crontab
from hub.errors import UsageError
from hub.i18n import _

DEFAULT_CONFIG = Path("config/hub.toml")
SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class ConfigError(UsageError):
    """A configuration problem, already phrased for the person who edits the file."""


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
    database: str = "sqlite:///var/hub.db"
    data_dir: str = "var"


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
    port: Port = 587
    tls: Literal["implicit", "starttls", "none"] = "starttls"
    user: str | None = None
    password_env: str = "HUB_SMTP_PASSWORD"
    connections: Count = 4
    messages_per_connection: Count = 100
    rate_per_minute: Count = 600
    timeout: Count = 60
    ca_file: str | None = None  # trust this CA (a smarthost with its own certificate)


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
    send_time: str = "09:00"  # local time of day at which invitations and reminders go out
    meeting_time: str = "18:00"  # start assumed when a protocol names only the day of the next meeting
    meeting_minutes: Count = 120  # length of a meeting when no end is given
    digest: str = "0 9 1 * *"  # monthly newsletter digest (crontab: minute hour day month weekday, local time)
    report: str = "0 9 1 6,12 *"  # half-yearly report: 1 June and 1 December
    grace_hours: Count = 72  # how long after its time a missed newsletter still goes out after downtime
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

    @field_validator("invitation_days", "reminder_days", "protocol_due_days", "protocol_due_repeat_days")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(_("muss 0 oder größer sein"))
        return value


class Group(Section):
    slug: str
    name: str
    aliases: list[str] = []
    kind: Literal["group", "coordination", "plenum"] = "group"
    relay: Literal["none", "group", "all", "digest"] = "digest"
    relay_attachments: bool = False
    auto_confirm: bool = False

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


class Config(Section):
    alliance: Alliance
    mail: Mail
    storage: Storage = Storage()
    inbound: Inbound = Inbound()
    imap: Imap | None = None
    smtp: Smtp | None = None
    outbox: Outbox = Outbox()
    bounces: Bounces = Bounces()
    dkim: Dkim | None = None
    web: Web = Web()
    templates: Templates = Templates()
    schedule: Schedule = Schedule()
    group: list[Group] = []

    # Set by load(): where the file was and what the environment overrides.
    path: Path = Path("config/hub.toml")

    @model_validator(mode="after")
    def _unique_groups(self) -> Config:
        seen: dict[str, str] = {}
        reserved = {a.split("@")[0] for a in (self.mail.protocol_address, self.mail.office_address,
                                               self.mail.bounce_address)}
        for index, group in enumerate(self.group):
            for name in [group.slug, *group.aliases]:
                where = f"group[{index}] ({group.slug})"
                if name in seen and not (name == group.slug and seen[name] == where):
                    raise ValueError(_(
                        "group[%(index)d].slug/aliases: %(name)r wird schon von %(other)s verwendet; geben Sie "
                        "jeder Gruppe eigene Kürzel und Aliase") % {"index": index, "name": name, "other": seen[name]})
                if name in reserved:
                    raise ValueError(_(
                        "group[%(index)d].aliases: %(name)r ist eine der eigenen Adressen des Hubs; wählen Sie einen "
                        "anderen Alias") % {"index": index, "name": name})
                seen[name] = where
        return self

    @property
    def database_url(self) -> str:
        url = os.environ.get("HUB_DATABASE_URL") or self.storage.database
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            relative = url.removeprefix("sqlite:///")
            if relative and relative != ":memory:":
                return "sqlite:///" + str(self.base_dir / relative)
        return url

    @property
    def data_dir(self) -> Path:
        path = Path(os.environ.get("HUB_DATA_DIR") or self.storage.data_dir)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def base_dir(self) -> Path:
        """Relative storage paths are relative to the folder that holds `config/`."""
        parent = self.path.resolve().parent
        return parent.parent if parent.name == "config" else parent

    @property
    def tz(self) -> ZoneInfo:
        return self.alliance.tz

    def group_by_slug(self, slug: str) -> Group | None:
        return next((g for g in self.group if g.slug == slug), None)


def dkim_key(config: Config) -> bytes:
    """The private key of `[dkim] key_file`, read and tried once; a ConfigError naming the key and the fix
    otherwise, so that a missing or broken key stops `hub serve` and `hub outbox flush` before any mail
    instead of failing at the first send."""
    assert config.dkim is not None
    path = Path(config.dkim.key_file)
    path = path if path.is_absolute() else config.base_dir / path
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(_(
            "%(config)s: dkim.key_file: %(file)s ist nicht lesbar (%(error)s); legen Sie den privaten DKIM-Schlüssel "
            "dort ab oder berichtigen Sie den Pfad") % {"config": config.path, "file": path,
                                                        "error": exc.strerror or exc}) from None
    import dkim  # lazy: only where mail is signed

    try:
        dkim.sign(b"From: hub@example.org\r\nSubject: check\r\n\r\ncheck\r\n", config.dkim.selector.encode(),
                  config.alliance.domain.encode(), key, include_headers=[b"from"])
    except Exception:  # dkimpy raises its own errors and plain ValueError/IndexError for a garbled key
        raise ConfigError(_(
            "%(config)s: dkim.key_file: %(file)s ist kein privater RSA-Schlüssel im PEM-Format; erzeugen Sie einen "
            "mit `openssl genrsa -out %(file)s 2048` und tragen Sie den öffentlichen Teil ins DNS ein")
            % {"config": config.path, "file": path}) from None
    return key


def find_config_path(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get("HUB_CONFIG"):
        return Path(os.environ["HUB_CONFIG"])
    return DEFAULT_CONFIG


def load(explicit: str | os.PathLike | None = None) -> Config:
    path = find_config_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(_(
            "%(path)s: Datei nicht gefunden; geben Sie --config PFAD an, setzen Sie HUB_CONFIG oder kopieren Sie "
            "config/hub.toml hierher") % {"path": path}) from None
    except OSError as exc:
        raise ConfigError(_("%(path)s: nicht lesbar (%(error)s); prüfen Sie den Pfad und die Zugriffsrechte")
                          % {"path": path, "error": exc.strerror}) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(_("%(path)s: ist nicht UTF-8; speichern Sie die Datei als UTF-8") % {"path": path}) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_("%(path)s: TOML-Syntaxfehler: %(error)s; berichtigen Sie die genannte Zeile")
                          % {"path": path, "error": exc}) from None
    return parse(data, path)


def parse(data: dict, path: Path) -> Config:
    if "path" in data:
        raise ConfigError(_("%(path)s: path: unbekannter Schlüssel; entfernen Sie ihn") % {"path": path})
    try:
        return Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(_first_error_line(exc, path)) from None


def _first_error_line(exc: ValidationError, path: Path) -> str:
    error = exc.errors()[0]
    key = _dotted(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return _("%(path)s: %(key)s: unbekannter Schlüssel; entfernen Sie ihn oder prüfen Sie die Schreibweise "
                 "(siehe config/hub.toml)") % {"path": path, "key": key}
    if kind == "missing":
        return _("%(path)s: %(key)s: fehlt; ergänzen Sie ihn (siehe das Beispiel config/hub.toml)") % {
            "path": path, "key": key}
    message = _pydantic_message(error)
    if key:
        return f"{path}: {key}: {message}"
    return f"{path}: {message}"


def _pydantic_message(error: dict) -> str:
    """Our validators' messages are translated already; pydantic's own common ones are phrased here."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "literal_error":
        return _("erlaubt ist: %(expected)s") % {"expected": ctx.get("expected", "")}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("muss eine ganze Zahl sein")
    if kind in ("float_parsing", "float_type"):
        return _("muss eine Zahl sein")
    if kind in ("bool_parsing", "bool_type"):
        return _("muss true oder false sein")
    if kind == "string_type":
        return _("muss ein Text in Anführungszeichen sein")
    if kind == "greater_than_equal":  # Field(ge=…)
        return _("%(value)s ist zu klein; nehmen Sie %(minimum)s oder mehr") % {
            "value": error.get("input"), "minimum": ctx.get("ge")}
    if kind == "less_than_equal":  # Field(le=…)
        return _("%(value)s ist zu groß; nehmen Sie höchstens %(maximum)s") % {
            "value": error.get("input"), "maximum": ctx.get("le")}
    if kind == "list_type":
        return _("muss eine Liste sein, wie [\"a\", \"b\"]")
    return error["msg"].removeprefix("Value error, ")


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)
