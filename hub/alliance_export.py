"""One alliance moves out of an installation of many: `hub alliances export SLUG --to DIR`.

DIR becomes an installation of that one alliance, laid out as any: `config/hub.toml` with the machine's
sections and the alliance's in one file (what `hub --alliance SLUG` reads), the database made by the migrations
and filled with the alliance's rows, ids kept (hub/export_store.py), and under `var/` the archived mail,
attachments and Maildir outbox files those rows name, at the same paths. It copies: the source stays as it was,
so an export can be checked before the alliance is removed here (`hub alliances remove`, which refuses while
the alliance holds data).

The installation's secret key is not copied unless asked for: it signs the links and sign-ins of every alliance
here, and whoever runs the new installation could forge them. Without it, links in mails the alliance sent
already (unsubscribe, confirmation) stop working there.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlmodel import select

from hub import config as config_module
from hub import config_alliances, durable, export_store, secret
from hub.db import engine_for, read_scope, upgrade
from hub.erasure_files import MAILDIR_NAME
from hub.errors import UsageError
from hub.i18n import _
from hub.locations import DEFAULT_DATA_DIR, DEFAULT_DATABASE, base_dir, find_config_path, read_raw
from hub.models import Alliance
from hub.outbound.transports import maildir_path

MAILDIR_FOLDERS = ("new", "cur", "tmp")
# Paths a config may give relative to the installation folder: the export's folder is another one.
PATH_KEYS = (("dkim", "key_file"), ("templates", "dir"), ("smtp", "ca_file"))


@dataclass
class Exported:
    slug: str
    name: str
    folder: Path
    config_file: Path
    data_dir: Path
    database: str  # without its password
    rows: dict[str, int]
    files: int
    missing: list[str] = field(default_factory=list)  # files the rows name that were not there
    outside: list[str] = field(default_factory=list)  # files the config names outside the folder
    password_left_out: bool = False  # the database's password is not in hub.toml: $HUB_DATABASE_URL has it
    secret_key: bool = False


def export(explicit_config: str | None, slug: str, folder: Path, database: str | None = None,
           with_secret_key: bool = False) -> Exported:
    """Make `folder` (new or empty) an installation of the alliance `slug`; `database`: an empty database for it
    instead of SQLite in the folder."""
    config_path = find_config_path(explicit_config)
    source = _source(config_path, slug)
    folder = folder.absolute()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(_("%(folder)s ist nicht leer; geben Sie einen neuen oder leeren Ordner an, der zur "
                           "Installation des Bündnisses werden soll") % {"folder": folder})
    data_dir = folder / DEFAULT_DATA_DIR
    if database and database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        # Relative to where the command runs; in the new hub.toml it would be relative to the folder.
        database = f"sqlite:///{Path(database.removeprefix('sqlite:///')).absolute()}"
    url = database or f"sqlite:///{data_dir / 'hub.db'}"
    if database:
        _check_empty(database)
    with read_scope(source.database_url) as session:
        alliance_id = session.exec(select(Alliance.id).where(Alliance.domain == source.alliance.domain)).first()
    if alliance_id is None:
        raise UsageError(_("das Bündnis %(slug)s ist noch nicht eingerichtet (hub --alliance %(slug)s init); es "
                           "hat nichts zu exportieren") % {"slug": slug})
    # The password stays out of the file, as in any hub.toml: it comes from $HUB_DATABASE_URL.
    written = sa.engine.make_url(database)._replace(password=None).render_as_string(hide_password=False) \
        if database else DEFAULT_DATABASE
    data, outside = _single_config(config_path, slug, written)
    text = toml_text(data, _("%(name)s, exportiert aus %(source)s mit `hub alliances export %(slug)s`: die "
                             "Abschnitte der Installation und die des Bündnisses in einer Datei. Die Kommentare der "
                             "Quelldateien sind nicht übernommen; das kommentierte Beispiel ist config/hub.toml des "
                             "Hubs.") % {"name": source.alliance.name, "source": config_path.absolute(),
                                         "slug": slug})
    config_file = folder / "config" / "hub.toml"
    config_module.parse(data, config_file)  # refused here, before anything is written, if it would not load
    created = not folder.exists()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(url)
        copied = export_store.copy(source.database_url, url, alliance_id)
        files, missing = _copy_files(source, data_dir, copied)
        if with_secret_key:
            durable.write_new(data_dir / secret.KEY_FILE, secret.load(source) + b"\n")
        config_file.parent.mkdir(parents=True, exist_ok=True)
        durable.write_new(config_file, text.encode("utf-8"))
    except BaseException:
        _undo(folder, url, created)
        raise
    finally:
        engine_for(url).dispose()
    return Exported(slug, source.alliance.name, folder, config_file, data_dir,
                    sa.engine.make_url(url).render_as_string(hide_password=True), copied.rows, files, missing,
                    outside, bool(database and sa.engine.make_url(database).password), with_secret_key)


def _source(config_path: Path, slug: str) -> config_module.Config:
    if "alliance" in (read_raw(config_path) or {}):
        raise UsageError(_("%(path)s hat ein einziges Bündnis: diese Installation gehört schon ihm allein; "
                           "kopieren Sie den Ordner, statt ein Bündnis zu exportieren") % {"path": config_path})
    known = config_alliances.slugs(config_path)
    if slug not in known:
        raise UsageError(_("ein Bündnis %(slug)s gibt es in dieser Installation nicht; bekannt sind: %(known)s")
                         % {"slug": slug, "known": ", ".join(known) or "–"})
    return config_module.load(config_path, slug)


def _check_empty(url: str) -> None:
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    try:
        tables = export_store.table_names(url)
    except (sa.exc.DBAPIError, sa.exc.ArgumentError) as exc:
        raise UsageError(_("die Datenbank %(url)s ist nicht erreichbar (%(error)s); prüfen Sie die Adresse und ob "
                           "die Datenbank angelegt ist") % {"url": shown, "error": str(exc).splitlines()[0]}) from None
    finally:
        engine_for(url).dispose()
    if tables:
        named = ", ".join(tables[:3]) + (", …" if tables[3:] else "")
        raise UsageError(_("die Datenbank %(url)s ist nicht leer (%(count)d Tabellen: %(tables)s); geben Sie eine "
                           "neue, leere Datenbank an") % {"url": shown, "count": len(tables), "tables": named})


def _single_config(config_path: Path, slug: str, database: str) -> tuple[dict, list[str]]:
    """hub.toml's sections with the alliance's, as `hub --alliance SLUG` reads them, the storage in the new
    folder, and paths relative to this installation made absolute (returned too: they lie outside the folder)."""
    alliance_file = config_alliances.file_of(config_path, slug)
    data = config_alliances.merged(config_path, read_raw(config_path) or {}, alliance_file,
                                   read_raw(alliance_file) or {})
    data["storage"] = {"database": database, "data_dir": DEFAULT_DATA_DIR}
    # As the example hub.toml has them: the alliance and its addresses first, its groups last.
    data = {key: data[key] for key in sorted(data, key=lambda key: (key not in ("alliance", "mail"), key == "group"))}
    base = base_dir(config_path)
    outside = []
    for section, key in PATH_KEYS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value:
            path = Path(value) if Path(value).is_absolute() else base / value
            data[section] = {**data[section], key: str(path)}
            outside.append(str(path))
    return data, outside


def _copy_files(source: config_module.Config, data_dir: Path, copied: export_store.Copied) -> tuple[int, list[str]]:
    """The files the copied rows name, at the same paths under the new data dir; the Maildir outbox's files of
    the copied deliveries. Copies keep their times (the outbox's retention goes by them)."""
    wanted = set(copied.files)
    outbox = maildir_path(source)
    for name in MAILDIR_FOLDERS:
        for path in sorted((outbox / name).glob("*")) if (outbox / name).is_dir() else []:
            match = MAILDIR_NAME.search(path.name)
            if match is not None and int(match.group(1)) in copied.deliveries:
                wanted.add(str(path.relative_to(source.data_dir)))
    done, missing = 0, []
    for relative in sorted(wanted):
        parts = PurePosixPath(relative).parts
        if PurePosixPath(relative).is_absolute() or ".." in parts:  # a row never names a path outside
            missing.append(relative)
            continue
        origin, target = source.data_dir / relative, data_dir / relative
        if not origin.is_file():
            missing.append(relative)  # taken by retention or an erasure while the rows were read
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
        done += 1
    return done, missing


def _undo(folder: Path, url: str, created: bool) -> None:
    """What a failed export wrote into the folder (it was new or empty); a PostgreSQL database keeps its tables,
    and says so when it is given again."""
    engine_for(url).dispose()
    if created:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in folder.iterdir():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def toml_text(data: dict, comment: str) -> str:
    """`data` as TOML (the tables a config has: values, tables, arrays of tables), checked by reading it back."""
    lines = [f"# {line}" for line in _wrapped(comment)]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not _is_table(v)]

    def tables(prefix: str, values: dict) -> None:
        for key, value in values.items():
            name = f"{prefix}{_key(key)}"
            for item in ([value] if isinstance(value, dict) else value if _is_table(value) else []):
                lines.extend(["", f"[[{name}]]" if isinstance(value, list) else f"[{name}]"])
                lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items() if not _is_table(v))
                tables(f"{name}.", item)

    tables("", data)
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text) != data:
        raise ValueError("toml_text: the written file does not read back as the data")
    return text


def _is_table(value) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value)
                                       and all(isinstance(item, dict) for item in value))


def _key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else _value(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's escapes are TOML's; DEL is the one control character JSON leaves as it is.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_value(item) for item in value) + "]"


def _wrapped(text: str, width: int = 110) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]
