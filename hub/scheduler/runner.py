"""The schedule engine: APScheduler 3 with its SQLAlchemy job store in the hub's own database.

Each planned send (hub/scheduler/plan.py) is one date job whose id is the send's key
("meeting:12:invitation@seq3"). The process's watcher (hub/scheduler/watcher.py) reads the schedule
versions every `resync_seconds`, and when the alliance's has moved the runner mirrors the plan into the job
store (add, move, remove), so an edit takes effect in a running hub without restart. A job's grace time
reaches to the send's expiry, so after downtime a missed send runs once if it is still useful and never
otherwise; the send itself is recorded in `ScheduledSend` and every delivery carries the dedupe key (job,
occurrence, recipient), so a job that runs again sends nothing twice.

Only one scheduler leads (hub/scheduler/leadership.py); what the plan is made from is read by
hub/scheduler/facts.py. APScheduler stores references to the module-level job functions below,
which open their own sessions. The scheduler only says *what* is due: making a send (composing, queueing)
is the use case's `execute(config, key)` that `hub serve` hands to the Runner (hub/sends.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from hub import alliance as alliance_module
from hub.config import Config
from hub.dates import parse_clock
from hub.db import engine_for, utcnow
from hub.models import ScheduledSend
from hub.scheduler import facts, plan, policies
from hub.scheduler.jobstore import BatchingJobStore, job_table
from hub.scheduler.leadership import Leadership
from hub.scheduler.watcher import watcher

log = logging.getLogger("hub.scheduler")

# Makes the planned send with this key, if still due: (config, key) → anything.
Execute = Callable[[Config, str], object]


@dataclass(frozen=True)
class Daily:
    """Housekeeping that runs once a day at a local time of the alliance (e.g. retention at "03:30"), in the
    leading process only. Not kept in the job store: a day missed while the hub was down is done the next day."""

    name: str
    clock: str  # "HH:MM", checked where the config is loaded
    run: Callable[[Config], object]


RETRY_AFTER_ERROR = timedelta(minutes=5)
FULL_RESYNC = timedelta(minutes=5)
SKEW = timedelta(seconds=5)  # look this far behind the last sync for changes (commits race the sync)

# The config and the send-maker of each alliance whose scheduler this process runs, by domain; job functions
# (pickled by reference) read them.
_alliances: dict[str, tuple[Config, Execute]] = {}


def run_send(key: str, domain: str | None = None) -> None:
    """The job function: make the send `key` of the alliance at `domain` if the plan still wants it (the
    Runner's `execute`). Jobs stored before there were several alliances name none: the process has one."""
    if domain is None and len(_alliances) == 1:
        domain = next(iter(_alliances))
    if domain not in _alliances:
        raise RuntimeError(f"no scheduler runs here for {domain}; start it through Runner")
    config, execute = _alliances[domain]
    execute(config, key)


@dataclass
class SyncResult:
    version: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class Runner:
    """The scheduler of one `hub serve` (a service: name, start(), stop()); sync() mirrors the plan into the
    job store."""

    name = "scheduler"

    def __init__(self, config: Config, execute: Execute, resync_seconds: float | None = None,
                 standby_seconds: float = 5.0, daily: tuple[Daily, ...] = ()):
        self.config = config
        self.execute = execute
        self.daily = daily
        self.resync_seconds = resync_seconds if resync_seconds is not None else config.schedule.resync_seconds
        self.standby_seconds = standby_seconds
        self.leadership = Leadership(config)
        self.scheduler: BackgroundScheduler | None = None
        self.store: BatchingJobStore | None = None
        self.leading = False
        self._lock = threading.RLock()
        # Start, stop and sync never overlap (the standby thread may be starting; leading syncs at once).
        self._life = threading.RLock()
        self._known: dict[str, str] = {}  # job id → the plan's description of it ("kind|due|expires")
        self._failed: dict[str, datetime] = {}  # job id → not before
        self._version = -1
        self._signature: tuple = ()
        self._full_at = self._synced_at = utcnow()
        self._stop = threading.Event()
        self._standby: threading.Thread | None = None

    def start(self) -> bool:
        """Lead if no other process does (returns True), else wait in the background to take over."""
        _alliances[self.config.alliance.domain] = (self.config, self.execute)
        if self._try_lead():
            return True
        self._standby = threading.Thread(target=self._wait_to_lead, name="scheduler-standby", daemon=True)
        self._standby.start()
        return False

    def _wait_to_lead(self) -> None:
        while not self._stop.wait(self.standby_seconds):
            if self._try_lead():
                return

    def _try_lead(self) -> bool:
        with self._life:
            if self._stop.is_set():
                return False
            return self._lead()

    def _lead(self) -> bool:
        if not self.leadership.acquire():
            log.info("scheduler: another hub process leads; standing by")
            return False
        self.leading = True
        # APScheduler logs every job it runs; the hub logs each send itself.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.store = BatchingJobStore(engine=engine_for(self.config.database_url), tablename=job_table(self.config))
        self.scheduler = BackgroundScheduler(
            jobstores={
                "default": self.store,
                "internal": MemoryJobStore(),
            },
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.config.tz,
        )
        self.scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        # Paused until the first sync, so stale jobs left by the last run never fire before the plan is read.
        self.scheduler.start(paused=True)
        with self._lock:
            self._known = {job.id: job.name for job in self.scheduler.get_jobs(jobstore="default")}
        self.sync(force=True)
        self.note_missed()
        self.scheduler.resume()
        watcher(self.config.database_url, self.resync_seconds).add(self.config.alliance.domain, self)
        for job in self.daily:
            at = parse_clock(job.clock)
            self.scheduler.add_job(job.run, "cron", hour=at.hour, minute=at.minute, timezone=self.config.tz,
                                   args=[self.config], id=f"daily:{job.name}", jobstore="internal",
                                   replace_existing=True, misfire_grace_time=3600)
        log.info("scheduler: leading, %d jobs", len(self._known))
        return True

    def note_missed(self, now: datetime | None = None) -> list[str]:
        """Newsletters whose time passed while the hub was not running, beyond `grace_hours`: never sent late,
        logged once and kept as missed (so the schedule's history shows them and no later start reports them
        again). Returns their keys."""
        now = now or utcnow()
        with alliance_module.unit_of_work(self.config) as session:
            alliance = alliance_module.current(session, self.config)
            inputs = facts.gather(session, self.config, alliance, meeting_ids=[], counts=False)
            missed = plan.missed_newsletters(inputs, now, self.config.tz)
            for job, occurrence, due in missed:
                session.add(ScheduledSend(alliance_id=alliance.id, job=job, occurrence=occurrence, kind="newsletter",
                                          due=due, ran_at=now, note="ausgelassen: der Hub lief zu dieser Zeit nicht"))
                log.warning("%s@%s missed: the hub was not running at %s nor within %d h after it; not sent",
                            job, occurrence, due.isoformat(), inputs.policies.grace_hours)
        return [f"{job}@{occurrence}" for job, occurrence, _due in missed]

    def stop(self) -> None:
        self._stop.set()
        with self._life:
            self._shutdown()
        if self._standby is not None and self._standby is not threading.current_thread():
            self._standby.join()

    def _shutdown(self) -> None:
        watcher(self.config.database_url, self.resync_seconds).remove(self.config.alliance.domain)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.leading:
            self.leadership.release()
            self.leading = False

    def _job_done(self, event) -> None:
        with self._lock:
            self._known.pop(event.job_id, None)
            if event.code == EVENT_JOB_ERROR:
                log.error("job %s failed: %s; retrying in %s", event.job_id, event.exception, RETRY_AFTER_ERROR)
                self._failed[event.job_id] = utcnow() + RETRY_AFTER_ERROR
            elif event.code == EVENT_JOB_MISSED:
                log.warning("job %s missed its time and expired", event.job_id)
            else:
                log.info("job run %s", event.job_id)

    def sync_if_changed(self, version: int) -> SyncResult | None:
        """The watcher's call: sync when the schedule version moved, or the full resync is due."""
        if version == self._version and utcnow() - self._full_at < FULL_RESYNC:
            return None
        return self.sync()

    def sync(self, force: bool = False, now: datetime | None = None) -> SyncResult | None:
        """Mirror the plan into the job store when the schedule version changed (or `force`).

        A change of meetings or sends re-plans only the meetings touched since the last sync; a change
        of policies or pauses, and every FULL_RESYNC, re-plans everything.
        """
        if self.scheduler is None:
            return None
        # Not while the scheduler stops: its shutdown holds the job stores' lock while it waits for this job,
        # and this job would wait for that lock (a hang of `hub serve`'s stop, seen in the test suite).
        if not self._life.acquire(blocking=False):
            return None
        try:
            return self._sync(force, now)
        finally:
            self._life.release()

    def _sync(self, force: bool, now: datetime | None) -> SyncResult | None:
        with self._lock:
            now = now or utcnow()
            with alliance_module.unit_of_work(self.config) as session:
                alliance = alliance_module.current(session, self.config)
                version = policies.version(session, alliance.id)
                full = force or now - self._full_at >= FULL_RESYNC
                if not full and version == self._version:
                    return None
                signature = facts.settings_signature(session, alliance.id)
                full = full or signature != self._signature
                touched = None if full else facts.touched_meetings(session, alliance.id, self._synced_at - SKEW)
                inputs = facts.gather(session, self.config, alliance, meeting_ids=touched, counts=False)
            wanted = plan.build(inputs, now, self.config.tz)
            scope = None if touched is None else {f"meeting:{i}:" for i in touched} | {"newsletter:", "task:"}
            try:
                with self.store.batch(self.scheduler):
                    result = self._apply(wanted, now, scope)
            except Exception:  # rolled back whole: the jobs are as they were
                self._known = {job.id: job.name for job in self.scheduler.get_jobs(jobstore="default")}
                raise
            self.scheduler.wakeup()  # for the jobs' times just committed
            result.version = version
            self._version, self._signature, self._synced_at = version, signature, now
            if full:
                self._full_at = now
            if result.added or result.changed or result.removed:
                log.info("schedule synced (version %d): %d added, %d moved, %d removed", version,
                         len(result.added), len(result.changed), len(result.removed))
            return result

    def _apply(self, wanted: list[plan.PlannedSend], now: datetime, scope: set[str] | None = None) -> SyncResult:
        """Add, move and remove jobs; with a `scope` (job key prefixes) only jobs under it are considered."""
        result = SyncResult(version=0)
        desired = {p.key: p for p in wanted if not p.paused and self._failed.get(p.key, now) <= now}
        for key in list(self._known):
            if scope is not None and not key.startswith(tuple(scope)):
                continue
            if key not in desired:
                self._remove(key)
                result.removed.append(key)
        for key, send in desired.items():
            name = f"{send.kind}|{send.due.isoformat()}|{send.expires.isoformat()}"
            if self._known.get(key) == name:
                continue
            run_at = max(send.due, now)
            grace = max(1, int((send.expires - run_at).total_seconds()))
            self.scheduler.add_job(run_send, "date", run_date=run_at, args=[key, self.config.alliance.domain],
                                   id=key, name=name,
                                   misfire_grace_time=grace, replace_existing=True, jobstore="default")
            (result.changed if key in self._known else result.added).append(key)
            self._known[key] = name
        return result

    def _remove(self, key: str) -> None:
        self._known.pop(key, None)
        try:
            self.scheduler.remove_job(key, jobstore="default")
        except Exception:  # already ran and was removed by APScheduler itself
            log.debug("job %s was already gone", key)

    def wake(self) -> None:
        """Look at the jobs again now (after the clock moved in tests, or after run-now)."""
        if self.scheduler is not None:
            self.scheduler.wakeup()
