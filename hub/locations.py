"""Where an installation keeps things: its config file, and the database and data folder the config names
(relative paths are relative to the folder that holds `config/`; `HUB_DATABASE_URL` and `HUB_DATA_DIR`
override). Plain functions without the validating config model, so that `hub status` can find them in a
few milliseconds; `hub.config.Config` uses the same functions."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

DEFAULT_CONFIG = Path("config/hub.toml")
DEFAULT_DATABASE = "sqlite:///var/hub.db"
DEFAULT_DATA_DIR = "var"
DEFAULT_SMTP_PORT = 587


def find_config_path(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get("HUB_CONFIG"):
        return Path(os.environ["HUB_CONFIG"])
    return DEFAULT_CONFIG


def base_dir(config_path: Path) -> Path:
    """The installation folder: the parent of `config/` (or the config file's own folder)."""
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "config" else parent


def database_url(configured: str, config_path: Path) -> str:
    url = os.environ.get("HUB_DATABASE_URL") or configured
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            return "sqlite:///" + str(base_dir(config_path) / relative)
    return url


def data_dir(configured: str, config_path: Path) -> Path:
    path = Path(os.environ.get("HUB_DATA_DIR") or configured)
    return path if path.is_absolute() else base_dir(config_path) / path


def read_raw(config_path: Path) -> dict | None:
    """The config file as TOML tables, unvalidated; None when it cannot be read (the validating load says why)."""
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def spool_data_dir(config_path: Path) -> Path | None:
    """The data folder from the config file alone, for `hub ingest --queue` (a Postfix pipe, one process per
    mail): the spool must take the mail even before the rest of the file is checked."""
    raw = read_raw(config_path)
    storage = raw.get("storage", {}) if raw is not None else None
    configured = storage.get("data_dir", DEFAULT_DATA_DIR) if isinstance(storage, dict) else None
    return data_dir(configured, config_path) if isinstance(configured, str) else None
