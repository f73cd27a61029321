"""The installation's secret key: signs VERP bounce tokens and unsubscribe links.

`$HUB_SECRET_KEY` wins (several `hub serve` machines must share one key); otherwise a random key is
generated once into `<data_dir>/secret.key` (mode 0600) and kept, so links in mails already sent stay valid.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub import durable
from hub.config import Config
from hub.errors import HubError

KEY_FILE = "secret.key"
_cache: dict[str, bytes] = {}


def secret_key(config: Config) -> bytes:
    env = os.environ.get("HUB_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    path = config.data_dir / KEY_FILE
    if str(path) not in _cache:
        _cache[str(path)] = _load_or_create(path)
    return _cache[str(path)]


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
