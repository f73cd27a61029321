"""One watcher per process reads every alliance's schedule version in one query and tells each alliance's runner
(issue 17: a resync job per alliance cost about one percent of a CPU each, idle)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from test_tenancy import two  # noqa: F401  (a fixture)

from hub.alliance import current, unit_of_work
from hub.db import engine_for
from hub.scheduler import policies
from hub.scheduler.watcher import Watcher


class Recorder:
    """An alliance's runner as the watcher sees it: it notes each version it is told."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.told = threading.Event()

    def sync_if_changed(self, version: int) -> None:
        self.seen.append(version)
        self.told.set()


def test_each_round_reads_all_versions_at_once_and_tells_each_runner_its_own(two):  # noqa: F811
    eins, zwei = two["eins"], two["zwei"]
    statements: list[str] = []
    engine = engine_for(eins.database_url)

    def count(conn, cursor, statement, *args):
        if "schedulestate" in statement and threading.current_thread().name == "schedule watcher":
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    watcher = Watcher(eins.database_url, 0.05)
    runners = {"eins": Recorder(), "zwei": Recorder()}
    try:
        with unit_of_work(zwei) as session:
            changed = policies.mark_changed(session, current(session, zwei).id)
        for name, each in two.items():
            watcher.add(each.alliance.domain, runners[name])
        for recorder in runners.values():
            assert recorder.told.wait(10)
        time.sleep(0.3)
    finally:
        for each in two.values():
            watcher.remove(each.alliance.domain)
        sa.event.remove(engine, "before_cursor_execute", count)
    assert runners["zwei"].seen[-1] == changed and changed not in runners["eins"].seen
    rounds = min(len(r.seen) for r in runners.values())
    assert rounds >= 2 and len(statements) <= rounds + 1, (rounds, len(statements))
    told = sum(len(r.seen) for r in runners.values())
    time.sleep(0.3)  # without runners the thread has ended: nobody is told anything more
    assert sum(len(r.seen) for r in runners.values()) == told

