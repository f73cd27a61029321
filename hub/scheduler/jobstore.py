"""The schedulers' job store: each alliance's table (`job_table`), kept by APScheduler's SQLAlchemy job store,
whose writes during a sync share one transaction.

APScheduler commits every job it adds, moves or removes on its own. A sync that re-plans an alliance (its first
plan at start, a changed send time) writes every job of every meeting: 60 commits for 20 meetings, and at 660
alliances 40,000, minutes before every scheduler leads or every job has moved (bench/tenancy.py). Inside
`batch(scheduler)` the thread that syncs adds, moves and removes jobs in one transaction, committed at its end
or rolled back whole (the runner then reads the jobs back). The scheduler's lock is held meanwhile, so its own
thread never waits inside it for a row, or SQLite's write lock, that the batch holds.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hub.config import Config

JOB_TABLE = "apscheduler_jobs"


def job_table(config: Config) -> str:
    """Each alliance of an installation of many keeps its jobs in a table of its own; one alone in the first."""
    if config.alliance_file is None:
        return JOB_TABLE
    return f"{JOB_TABLE}_{config.alliance_file.stem.replace('-', '_')}"


class BatchingJobStore(SQLAlchemyJobStore):
    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._local = threading.local()

    @contextmanager
    def batch(self, scheduler: BaseScheduler) -> Iterator[None]:
        with scheduler._jobstores_lock, self.engine.begin() as connection:
            self._local.connection = connection
            try:
                yield
            finally:
                self._local.connection = None

    def _batch(self) -> Connection | None:
        return getattr(self._local, "connection", None)

    def add_job(self, job) -> None:
        connection = self._batch()
        if connection is None:
            return super().add_job(job)
        try:
            with connection.begin_nested():  # a taken id fails this savepoint, not the batch
                connection.execute(self.jobs_t.insert().values(id=job.id, **self._state(job)))
        except IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job) -> None:
        connection = self._batch()
        if connection is None:
            return super().update_job(job)
        result = connection.execute(self.jobs_t.update().values(**self._state(job)).where(self.jobs_t.c.id == job.id))
        if result.rowcount == 0:
            raise JobLookupError(job.id)

    def remove_job(self, job_id) -> None:
        connection = self._batch()
        if connection is None:
            return super().remove_job(job_id)
        if connection.execute(self.jobs_t.delete().where(self.jobs_t.c.id == job_id)).rowcount == 0:
            raise JobLookupError(job_id)

    def shutdown(self) -> None:
        """The engine is the process's, shared by every alliance's scheduler: not disposed with one of them."""

    def _state(self, job) -> dict:
        return {"next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)}
