"""One thread per process that notices schedule changes for every alliance whose scheduler leads here: it reads
all their schedule versions in one query every `resync_seconds` and has the runner of each alliance whose
version moved (or whose full resync is due) sync its jobs. A resync job per alliance asked the database on its
own twice a second, about one percent of a CPU for each alliance, idle (bench/tenancy.py)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from hub.db import read_scope
from hub.scheduler import policies

log = logging.getLogger("hub.scheduler")


class Syncs(Protocol):
    def sync_if_changed(self, version: int) -> object: ...


class Watcher:
    def __init__(self, database_url: str, seconds: float):
        self.database_url, self.seconds = database_url, seconds
        self.runners: dict[str, Syncs] = {}  # by the alliance's domain
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, domain: str, runner: Syncs) -> None:
        with self._guard:
            self.runners[domain] = runner
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="schedule watcher",
                                                daemon=True)
                self._thread.start()

    def remove(self, domain: str) -> None:
        with self._guard:
            self.runners.pop(domain, None)
            if not self.runners and self._thread is not None:
                self._stop.set()  # the thread ends after its round; a new add starts another
                self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.seconds):
            try:
                with read_scope(self.database_url) as session:
                    versions = policies.versions(session)
            except Exception:
                log.exception("could not read the schedule versions; trying again in %s s", self.seconds)
                continue
            for domain, runner in list(self.runners.items()):
                try:
                    runner.sync_if_changed(versions.get(domain, 0))
                except Exception:  # one alliance's plan that cannot be made must not stop the others'
                    log.exception("schedule sync of %s failed; trying again in %s s", domain, self.seconds)


_watchers: dict[tuple[str, float], Watcher] = {}
_made = threading.Lock()


def watcher(database_url: str, seconds: float) -> Watcher:
    """The process's watcher of the database (one per pace: tests run runners of several)."""
    with _made:
        return _watchers.setdefault((database_url, seconds), Watcher(database_url, seconds))
