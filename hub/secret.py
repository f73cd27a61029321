"""The installation's secret key: signs VERP bounce tokens, links, cookies (see hub/signing.py).

`$HUB_SECRET_KEY` wins (several `hub serve` machines must share one key); otherwise a random key is
generated once into `<data_dir>/secret.key` (mode 0600) and kept, so links in mails already sent stay valid.
`hub serve` (and each of its processes) and the web app `load` it when they start, so that no file is
created in the middle of writing a mail; `secret_key` then hands out the loaded key (and loads it for a
one-off command such as `hub outbox flush`).
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from hub import durable
from hub.config import Config
from hub.errors import HubError

KEY_FILE = "secret.key"
_cache: dict[str, bytes] = {}
_loading = threading.Lock()  # threads of one process (sends made at once) create the key once


def load(config: Config) -> bytes:
    """Read the key (creating it on an installation's first start); called once by each front door."""
    env = os.environ.get("HUB_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    path = config.data_dir / KEY_FILE
    with _loading:
        if str(path) not in _cache:
            _cache[str(path)] = _load_or_create(path)
    return _cache[str(path)]


def secret_key(config: Config) -> bytes:
    """The key loaded at start (a one-off command loads it on first use)."""
    return load(config)


def _load_or_create(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = b""
    except OSError as exc:
        raise HubError(f"{path}: cannot read the secret key ({exc.strerror}); check its permissions") from None
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    new = secrets.token_hex(32).encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    durable.write_new(tmp, new + b"\n")
    try:
        # link() fails when another process created the key first: then theirs is the key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    durable.fsync_dir(path.parent)
    return path.read_bytes().strip()
