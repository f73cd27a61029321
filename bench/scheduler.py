"""Schedule engine bench: 5,000 meetings across 100 groups on a scratch SQLite database.

Measures
- build: the hub's first sync (plan + one APScheduler job per planned send in the SQLAlchemy job store),
  against a baseline of bare APScheduler adding the same number of date jobs to the same kind of store;
- edit apply: a meeting moved in the database until its job has moved in the running scheduler
  (the resync job watches the schedule version every `resync_seconds`);
- lateness: probe jobs due over a few seconds, fired by the running scheduler while the full schedule
  is loaded, against the same probes in a bare scheduler with an empty store.

Prints one table and, last, one JSON line. `--quick` uses 1,000 meetings across 20 groups.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import alliance as alliance_module  # noqa: E402
from hub import config as config_module  # noqa: E402
from hub import sends  # noqa: E402
from hub.db import engine_for, session_scope, upgrade  # noqa: E402
from hub.models import Meeting  # noqa: E402
from hub.scheduler import jobstore, meetings, runner  # noqa: E402

FIRED: dict[str, float] = {}
FIRED_LOCK = threading.Lock()


def probe(name: str) -> None:
    with FIRED_LOCK:
        FIRED[name] = time.time()


def _noop() -> None:
    """The baseline's job function."""


def make_config(folder: Path, groups: int):
    import tomllib

    data = tomllib.loads((ROOT / "config" / "hub.toml").read_text(encoding="utf-8"))
    data["storage"] = {"database": f"sqlite:///{folder / 'hub.db'}", "data_dir": str(folder / "var")}
    data["group"] = [{"slug": f"ag-{i:03d}", "name": f"AG {i:03d}"} for i in range(groups)]
    data["schedule"] = {"digest": "0 9 1 * *", "report": "0 9 1 6,12 *"}  # resync every 1 s, the default
    return config_module.parse(data, folder / "config" / "hub.toml")


def add_meetings(config, count: int, groups: int) -> None:
    now = datetime.now(UTC)
    with session_scope(config.database_url) as s:
        alliance = alliance_module.sync(s, config)
        for i in range(count):
            start = (now + timedelta(days=20 + (i * 700) // count, hours=i % 5)).replace(minute=0, second=0,
                                                                                     microsecond=0)
            meetings.add(s, config, alliance, f"ag-{i % groups:03d}", start, location=f"Raum {i % 17}", now=now)


def job_run_times(url: str) -> dict[str, float]:
    with engine_for(url).connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT id, next_run_time FROM {jobstore.JOB_TABLE}")).all())


def baseline_build(folder: Path, jobs: int) -> float:
    url = f"sqlite:///{folder / 'baseline.db'}"
    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine_for(url))}, timezone=UTC)
    scheduler.start(paused=True)
    base = datetime.now(UTC) + timedelta(days=30)
    began = time.perf_counter()
    for i in range(jobs):
        scheduler.add_job(_noop, "date", run_date=base + timedelta(minutes=i), id=f"job-{i}", coalesce=True,
                          misfire_grace_time=3600)
    elapsed = time.perf_counter() - began
    scheduler.shutdown(wait=False)
    return elapsed


def lateness(scheduler: BackgroundScheduler, probes: int, spread: float) -> list[float]:
    FIRED.clear()
    begin = time.time() + 1.0
    due = {f"probe-{i}": begin + spread * i / probes for i in range(probes)}
    for name, at in due.items():
        scheduler.add_job(probe, "date", run_date=datetime.fromtimestamp(at, UTC), args=[name], id=name,
                          jobstore="default", misfire_grace_time=60)
    deadline = time.monotonic() + spread + 30
    while len(FIRED) < probes and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(max(0.0, FIRED[n] - due[n]) for n in due if n in FIRED)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 meetings across 20 groups")
    parser.add_argument("--meetings", type=int)
    parser.add_argument("--groups", type=int)
    args = parser.parse_args()
    count = args.meetings or (1000 if args.quick else 5000)
    groups = args.groups or (20 if args.quick else 100)
    probes, spread, edits = (100, 5.0, 5) if args.quick else (300, 10.0, 10)

    with tempfile.TemporaryDirectory(prefix="hub-bench-scheduler-") as tmp:
        folder = Path(tmp)
        config = make_config(folder, groups)
        upgrade(config.database_url)
        add_meetings(config, count, groups)

        hub = runner.Runner(config, sends.execute)
        began = time.perf_counter()
        hub.start()
        build_s = time.perf_counter() - began
        jobs = len(job_run_times(config.database_url))
        baseline_s = baseline_build(folder, jobs)

        apply_times = []
        with session_scope(config.database_url) as s:
            ids = [m for m in s.exec(sa.select(Meeting.id).order_by(Meeting.id)).scalars()][: edits * 37: 37]
        jitter = random.Random(6)
        for meeting_id in ids:
            # Edits come at random moments, not just after the previous resync (which would wait a full interval).
            time.sleep(jitter.uniform(0, 1))
            key = f"meeting:{meeting_id}:reminder@1"
            before = job_run_times(config.database_url).get(key)
            with session_scope(config.database_url) as s:
                meeting = s.get(Meeting, meeting_id)
                changed_at = time.perf_counter()
                meetings.edit(s, config, meeting, start=meeting.start + timedelta(days=3))
            while job_run_times(config.database_url).get(key) == before:
                if time.perf_counter() - changed_at > 30:
                    raise SystemExit(f"edit of meeting {meeting_id} not applied within 30 s")
                time.sleep(0.01)
            apply_times.append(time.perf_counter() - changed_at)

        late = lateness(hub.scheduler, probes, spread)
        hub.stop()

        bare = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(
            engine=engine_for(f"sqlite:///{folder / 'bare.db'}"))}, timezone=UTC)
        bare.start()
        bare_late = lateness(bare, probes, spread)
        bare.shutdown(wait=False)

    figures = {
        "meetings": count, "groups": groups, "jobs": jobs,
        "build_s": round(build_s, 3), "baseline_build_s": round(baseline_s, 3),
        "build_ratio": round(build_s / baseline_s, 2) if baseline_s else None,
        "edit_apply_s": round(statistics.median(apply_times), 3),
        "edit_apply_max_s": round(max(apply_times), 3),
        "edit_apply_all_s": [round(t, 3) for t in apply_times],
        "lateness_p50_s": round(percentile(late, 0.5), 4), "lateness_p99_s": round(percentile(late, 0.99), 4),
        "baseline_lateness_p50_s": round(percentile(bare_late, 0.5), 4),
        "baseline_lateness_p99_s": round(percentile(bare_late, 0.99), 4),
        "probes_fired": len(late), "probes": probes,
    }
    rows = [
        ("build schedule (plan + job store)", f"{build_s:.2f} s", f"{baseline_s:.2f} s bare add_job",
         f"{figures['build_ratio']}x"),
        ("apply an edit in a running hub", f"{figures['edit_apply_s']:.3f} s (max {figures['edit_apply_max_s']:.3f})",
         "-", "-"),
        ("lateness p50", f"{figures['lateness_p50_s']:.4f} s",
         f"{figures['baseline_lateness_p50_s']:.4f} s empty store", "-"),
        ("lateness p99", f"{figures['lateness_p99_s']:.4f} s",
         f"{figures['baseline_lateness_p99_s']:.4f} s empty store", "target < 1 s"),
    ]
    print(f"{count} meetings across {groups} groups → {jobs} jobs")
    print(f"{'what':<36} {'hub':<26} {'baseline':<28} ratio")
    for row in rows:
        print(f"{row[0]:<36} {row[1]:<26} {row[2]:<28} {row[3]}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
