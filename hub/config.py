"""The alliance's configuration: `config/hub.toml`, validated into plain pydantic models.

Every problem becomes one `ConfigError` line naming the file, the key and the fix, because the
person reading it edits a TOML file, not Python. The sections and their values are in hub/config_sections.py (the
alliance's) and hub/config_installation.py (the machine's).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import ValidationError, model_validator

from hub import config_alliances, locations
from hub.config_installation import Bounces, Extraction, Imap, Inbound, Outbox, Smtp, Storage, Web
from hub.config_sections import Alliance, Dkim, Group, Mail, Retention, Schedule, Section, Templates
from hub.errors import UsageError
from hub.i18n import _
from hub.locations import find_config_path


class ConfigError(UsageError):
    """A configuration problem, already phrased for the person who edits the file."""


class Config(Section):
    alliance: Alliance
    mail: Mail
    storage: Storage = Storage()
    inbound: Inbound = Inbound()
    extraction: Extraction = Extraction()
    imap: Imap | None = None
    smtp: Smtp | None = None
    outbox: Outbox = Outbox()
    bounces: Bounces = Bounces()
    dkim: Dkim | None = None
    web: Web = Web()
    templates: Templates = Templates()
    schedule: Schedule = Schedule()
    retention: Retention = Retention()
    group: list[Group] = []

    # Set by load(): where the file was and what the environment overrides; in an installation of many
    # alliances, the file of this one (config/alliances/<slug>.toml).
    path: Path = Path("config/hub.toml")
    alliance_file: Path | None = None

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
        return locations.database_url(self.storage.database, self.path)

    @property
    def data_dir(self) -> Path:
        return locations.data_dir(self.storage.data_dir, self.path)

    @property
    def base_dir(self) -> Path:
        """Relative storage paths are relative to the folder that holds `config/`."""
        return locations.base_dir(self.path)

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


def load(explicit: str | os.PathLike | None = None, alliance: str | None = None) -> Config:
    """The config of one alliance: hub.toml's own, or (an installation of many) `alliance`'s file in
    config/alliances/ with hub.toml's machine sections (hub.config_alliances)."""
    path = find_config_path(explicit)
    data = _read(path)
    own = config_alliances.chosen(path, data, alliance)
    if own is None:
        return parse(data, path)
    return parse(config_alliances.merged(path, data, own, _read(own)), path, own)


def load_all(explicit: str | os.PathLike | None = None) -> list[Config]:
    """Every alliance of the installation: hub.toml's own, or one per file in config/alliances/."""
    path = find_config_path(explicit)
    if "alliance" in _read(path) or not config_alliances.slugs(path):
        return [load(explicit)]
    return [load(explicit, slug) for slug in config_alliances.slugs(path)]


def web_hosts(alliances: list[Config]) -> dict[tuple[str, str], Config]:
    """Each alliance by the host and path of its `[web] base_url` ("https://hub.example.org/a/eins": host
    "hub.example.org", path "/a/eins"; the path is "" for none): one web server tells them apart by it, so two may
    not share one (a ConfigError naming the second)."""
    addresses: dict[tuple[str, str], Config] = {}
    for config in alliances:
        parts = urlsplit(config.web.base_url)
        address = ((parts.hostname or "").lower(), parts.path.rstrip("/"))
        if address in addresses:
            raise ConfigError(_("%(file)s: web.base_url: %(host)s ist schon die Adresse eines anderen Bündnisses; "
                                "geben Sie jedem Bündnis eine eigene") % {
                                    "file": config.alliance_file or config.path, "host": address[0] + address[1]})
        addresses[address] = config
    return addresses


def _read(path: Path) -> dict:
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
    return data


def parse(data: dict, path: Path, alliance_file: Path | None = None) -> Config:
    for key in ("path", "alliance_file"):
        if key in data:
            raise ConfigError(_("%(path)s: %(key)s: unbekannter Schlüssel; entfernen Sie ihn")
                              % {"path": path, "key": key})
    try:
        return Config.model_validate({**data, "path": path, "alliance_file": alliance_file})
    except ValidationError as exc:
        section = exc.errors()[0]["loc"][0] if exc.errors()[0]["loc"] else None
        named = alliance_file if alliance_file and section in config_alliances.ALLIANCE_SECTIONS else path
        raise ConfigError(_first_error_line(exc, named)) from None


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
