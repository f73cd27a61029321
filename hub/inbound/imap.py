"""Receive from a provider's mailbox: poll IMAP, spool each unseen message, only then mark and move it.

What real servers taught (Paperless-ngx's tracker): search only with ASCII criteria (`UNSEEN`, no
CHARSET: Exchange refuses it, Gmail refuses non-ASCII terms); fetch `BODY.PEEK[]` because a plain
FETCH sets `\\Seen` before the message is safe; set flags and move only after the spool write.
A crash between spool and flag would fetch the message again, so the UIDs spooled but not yet
flagged are remembered per (folder, UIDVALIDITY) in `<data_dir>/spool/imap-state.json`; the
filing's Message-ID + content hash dedupe covers the remaining window (a crash before that file
is written).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from hub import durable
from hub.config import Config, Imap
from hub.errors import HubError
from hub.inbound import spool

log = logging.getLogger("hub.inbound.imap")

OnSpooled = Callable[[spool.SpoolEntry], None]
SEEN = b"\\Seen"
DELETED = b"\\Deleted"


def connect(settings: Imap, timeout: float = 60) -> IMAPClient:
    password = os.environ.get(settings.password_env)
    if password is None:
        raise HubError(f"[imap] needs the password in the environment variable {settings.password_env}; set it")
    context = ssl.create_default_context()
    client = IMAPClient(settings.host, port=settings.port, ssl=settings.tls == "implicit",
                        ssl_context=context, timeout=timeout)
    try:
        if settings.tls == "starttls":
            client.starttls(context)
        client.login(settings.user, password)
    except Exception:
        client.shutdown()
        raise
    return client


def poll_once(config: Config, on_spooled: OnSpooled, stop: threading.Event | None = None) -> int:
    """Fetch every unseen message of the folder into the spool; returns how many were spooled.

    `stop` ends the poll after the message in hand (a graceful shutdown)."""
    settings = config.imap
    if settings is None:
        raise HubError("no [imap] section in the config; add one to fetch mail from a mailbox")
    client = connect(settings)
    try:
        return _poll(client, config, on_spooled, stop)
    finally:
        try:
            client.logout()
        except (IMAPClientError, OSError):
            client.shutdown()


def _poll(client: IMAPClient, config: Config, on_spooled: OnSpooled, stop: threading.Event | None) -> int:
    settings = config.imap
    processed = settings.processed_folder
    if processed and not client.folder_exists(processed):
        client.create_folder(processed)
    uidvalidity = int(client.select_folder(settings.folder)[b"UIDVALIDITY"])
    state = _State.load(config.data_dir, settings, uidvalidity)
    count = 0
    for uid in sorted(client.search(["UNSEEN"])):
        if stop is not None and stop.is_set():
            break
        if uid not in state.spooled:
            # One message at a time: a 25 MB mail is held once in memory, never a whole folder.
            fetched = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
            if fetched is None or b"BODY[]" not in fetched:
                continue  # gone meanwhile (another client moved it)
            entry = spool.write(config.data_dir, bytes(fetched[b"BODY[]"]), via="imap",
                                alliance=config.alliance.domain)
            state.add(uid)
            log.info("received %s via imap from %s/%s UID %s", entry.label, settings.host, settings.folder, uid)
            on_spooled(entry)
            count += 1
        _mark_processed(client, uid, processed)
        state.remove(uid)
    return count


def _mark_processed(client: IMAPClient, uid: int, processed: str | None) -> None:
    client.add_flags([uid], [SEEN])
    if not processed:
        return
    if client.has_capability("MOVE"):
        client.move([uid], processed)
        return
    client.copy([uid], processed)
    client.add_flags([uid], [DELETED])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])
    else:
        client.expunge()


class _State:
    """UIDs spooled but not yet marked, for one (host, user, folder, UIDVALIDITY); durable like the spool."""

    def __init__(self, path: Path, key: str, uidvalidity: int, spooled: set[int]):
        self.path, self.key, self.uidvalidity, self.spooled = path, key, uidvalidity, spooled

    @classmethod
    def load(cls, data_dir: Path, settings: Imap, uidvalidity: int) -> _State:
        path = spool.spool_dirs(data_dir)[0].parent / "imap-state.json"
        key = f"{settings.user}@{settings.host}:{settings.port}/{settings.folder}"
        try:
            saved = json.loads(path.read_text()).get(key, {})
        except (FileNotFoundError, ValueError):
            saved = {}
        # A new UIDVALIDITY means the server renumbered the folder: old UIDs name other messages now.
        spooled = set(saved.get("spooled", [])) if saved.get("uidvalidity") == uidvalidity else set()
        return cls(path, key, uidvalidity, spooled)

    def add(self, uid: int) -> None:
        self.spooled.add(uid)
        self._save()

    def remove(self, uid: int) -> None:
        if uid in self.spooled:
            self.spooled.discard(uid)
            self._save()

    def _save(self) -> None:
        with _SAVING:
            try:
                everything = json.loads(self.path.read_text())
            except (FileNotFoundError, ValueError):
                everything = {}
            everything[self.key] = {"uidvalidity": self.uidvalidity, "spooled": sorted(self.spooled)}
            durable.replace(self.path, json.dumps(everything).encode("utf-8"))


# The pollers of several alliances (one thread each) share the state file: one reads and rewrites it at a time,
# else one poller's write could undo another's.
_SAVING = threading.Lock()


class Poller:
    """Polls every `poll_interval` seconds in its own thread until stopped; errors are logged, not fatal."""

    def __init__(self, config: Config, on_spooled: OnSpooled, interval: Callable[[], float] | None = None):
        self.name = f"imap poller of {config.alliance.domain}"
        self.config = config
        self.on_spooled = on_spooled
        # Asked before each wait, so that the coordinator's change of the poll interval applies at once.
        self.interval = interval or (lambda: config.imap.poll_interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        settings = self.config.imap
        while not self._stop.is_set():
            try:
                poll_once(self.config, self.on_spooled, self._stop)
            except HubError as exc:
                log.error("imap: %s", exc)
            except (IMAPClientError, OSError) as exc:
                log.warning("imap: polling %s failed, trying again in %s s: %s", settings.host,
                            settings.poll_interval, exc)
            try:
                pause = self.interval()
            except Exception:  # the database is away for a moment: poll at the configured pace meanwhile
                log.exception("imap: reading the poll interval failed")
                pause = settings.poll_interval
            self._stop.wait(pause)
