"""Tenancy bench (issue 17): one installation of many alliances on PostgreSQL, served by `hub serve`.

N alliances (660; --quick 66), each with the example alliance's six groups (config/hub.toml), P partners (40;
--quick 10, all with the newsletter) and M meetings (20; --quick 5), weekly from 15 days ahead, so that each
meeting's sends are jobs still to come in its alliance's scheduler. Outgoing mail goes to the outbound bench's
counting SMTP sink (bench/outbound.py) in a process of its own. Measured:
  setup_s         creating the alliances and importing their partners in-process through the hub's use cases:
                  `hub alliances add` (hub.installation.add writes config/alliances/<slug>.toml; the bench appends
                  the six groups), `hub init` (the schema once, then hub.alliance.sync per alliance) and
                  `hub partners import --no-welcome` (hub.partner_actions.import_csv); the meetings apart
  leading         one `hub serve` for all alliances, as in production: does it start every alliance's scheduler
                  (each leads, holding its PostgreSQL advisory lock), and in how many seconds. "Stalled" when no
                  further scheduler starts for STALL_S; then the leading ones, the advisory locks held and the RSS
  newsletter day  every alliance's newsletter drafted, approved and queued through hub.newsletter (N x P
                  personalised mails), its deliveries held (delivery.next_attempt_at) until 1 node (`hub serve`)
                  serves, then let go at once, as a newsletter due at 09:00; then a second issue, sent by 2 nodes
                  on the same database (own ports and data folders). mails/s from the first mail at the sink to
                  the last, and CPU of the nodes' processes per mail; scaling = 2 nodes / 1 node (goal >= 1.6).
                  When `hub serve` cannot lead every scheduler, the bench holds every alliance's scheduler lock
                  itself from then on, so that the nodes' schedulers stand by and the outbox can be measured
  lateness_p99_s  with every scheduler leading: each alliance's send time set to the next full minute (send times
                  are minutes) and a plenum meeting added 14 days after it, whose invitation is then due at that
                  minute: N sends at one instant, as every alliance's 09:00; lateness = ScheduledSend.ran_at - due,
                  when the scheduler fired each (goal p99 < 1 s). With it: replanned_s, until every alliance's
                  job was in place at that minute (the changed send time moves all of its jobs), and made_p99_s,
                  until each send's mail was made (OutboundMail.created_at - due; sends are made two at a time).
                  Not measured (null) when `hub serve` cannot lead them all
  rss_mb          RSS of a `hub serve` and all its processes, SETTLE_S after its start, for the N alliances and for
                  one (`hub --alliance <first> serve`), the two in the same state of their schedulers (both
                  leading, or both standing by); ratio goal <= 1.5. With it the idle CPU of each (the schedulers'
                  resyncs, the outbox process's rounds over every alliance) over CPU_WINDOW_S
When every scheduler leads, the lateness phase waits for the next full minute (up to 60 s more than --quick's
60 s); while `hub serve` cannot lead them all, it is skipped.

    .venv/bin/python bench/tenancy.py [--quick] [--alliances N] [--partners P] [--meetings M] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from installation import ROOT, free_port, scratch_database, tree_mb, wait_for_port
from outbound import _SinkProtocol

sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "postgresql+psycopg://hub:hub@127.0.0.1:5432/hub_test"
SECRET = "tenancy-bench"  # one installation key for every node, as several machines must share one
GROUPS = ["koordinierungskreis", "aktionstage", "gesundheit", "unternehmen", "erziehungslotsen", "plenum"]
WORKING = GROUPS[1:5]
STALL_S = 3.0  # `hub serve` starting no further scheduler for this long has stalled (each starts in < 1 s)
START_S = 120.0  # until the first scheduler starts (Python, the configs, the listener)
SETTLE_S = 1.5  # idle after the start, before memory is read
CPU_WINDOW_S = 3.5  # idle CPU over more than one round of the outbox process (2 s pause + its round)


# --- the counting sink (its own process) -----------------------------------------------------------------


def run_sink(port: int, log: Path) -> None:
    """The outbound bench's counting sink; every 20 ms in which mail came it notes the time and the count."""
    async def main():
        await asyncio.get_running_loop().create_server(_SinkProtocol, "127.0.0.1", port)
        seen = 0
        with log.open("a", buffering=1) as out:
            while True:
                await asyncio.sleep(0.02)
                if _SinkProtocol.counter[0] != seen:
                    seen = _SinkProtocol.counter[0]
                    out.write(f"{time.time():.3f} {seen}\n")

    asyncio.run(main())


def sink_log(log: Path) -> list[tuple[float, int]]:
    return [(float(at), int(count)) for at, count in (line.split() for line in log.read_text().splitlines())]


def sink_count(log: Path) -> int:
    seen = sink_log(log)
    return seen[-1][1] if seen else 0


# --- the installation -------------------------------------------------------------------------------------


def machine_config(database: str, sink_port: int) -> str:
    """hub.toml of an installation of many: the machine's sections only, mail out to the sink."""
    return (f'[storage]\ndatabase = "{database}"\ndata_dir = "var"\n\n'
            '[inbound]\nhost = "127.0.0.1"\nport = 8025\nsender_check = "off"\n\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
            "rate_per_minute = 1000000  # the bench's sink, not a provider: no limit\n\n"
            "[web]\nenabled = false\n")


def example_groups() -> str:
    """The example alliance's six [[group]] sections, from config/hub.toml."""
    text = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")
    groups = text[text.index("[[group]]"):]
    assert groups.count("[[group]]") == len(GROUPS) and all(f'slug = "{g}"' in groups for g in GROUPS), \
        "config/hub.toml no longer ends with the six groups the bench knows"
    return groups


def partners_csv(slug: str, count: int) -> str:
    """A coordinator, a representative of each working group, members in one or two groups; all want the
    newsletter."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "organisation", "email", "groups", "role", "newsletter"])
    for i in range(count):
        if i == 0:
            groups, role = ["koordinierungskreis"], "coordinator"
        elif i <= len(WORKING):
            groups, role = [WORKING[i - 1], "koordinierungskreis"], "representative"
        else:
            groups, role = sorted({WORKING[i % 4], WORKING[(i * 7 + i // 4) % 4]}), "member"
        writer.writerow([f"Partnerin {i} aus {slug}", f"Organisation {i}", f"p{i}@{slug}.partner.example",
                         ";".join(groups), role, "yes"])
    return out.getvalue()


def build(base: Path, database: str, sink_port: int, count: int, partners: int) -> tuple[list, dict]:
    """The installation's files and database, through the hub's use cases; the configs and the seconds each
    step took in all."""
    from hub import alliance as alliance_module
    from hub import config as config_module
    from hub import installation, partner_actions, secret
    from hub.db import session_scope, upgrade

    (base / "config").mkdir(parents=True)
    config_path = base / "config" / "hub.toml"
    config_path.write_text(machine_config(database, sink_port), encoding="utf-8")
    groups = example_groups()
    seconds = {"add_s": 0.0, "init_s": 0.0, "import_s": 0.0}
    configs = []
    os.environ["HUB_SECRET_KEY"] = SECRET
    os.environ["HUB_DATA_DIR"] = str(base / "var")
    for i in range(count):
        slug = f"b{i:04d}"
        began = time.perf_counter()
        config = installation.add(str(config_path), slug, f"Bündnis für Familie {slug}", f"{slug}.example")
        with config.alliance_file.open("a", encoding="utf-8") as own:
            own.write("\n" + groups)
        config = config_module.load(config_path, slug)
        added = time.perf_counter()
        if i == 0:
            upgrade(config.database_url, secret.load(config))
        with session_scope(config.database_url) as session:
            alliance_module.sync(session, config)
        set_up = time.perf_counter()
        with alliance_module.unit_of_work(config) as session:
            result = partner_actions.import_csv(session, config, alliance_module.current(session, config),
                                                partners_csv(slug, partners), source="import:partners.csv",
                                                welcome=False)
            assert len(result.added) == partners, result
        seconds["add_s"] += added - began
        seconds["init_s"] += set_up - added
        seconds["import_s"] += time.perf_counter() - set_up
        configs.append(config)
    return configs, seconds


def add_meetings(configs: list, per_alliance: int) -> float:
    """Meetings of every group, weekly from 15 days ahead: their invitations (14 days before) are all still to
    come, so each is a job in the alliance's scheduler."""
    from hub import alliance as alliance_module
    from hub import meetings_actions

    began = time.perf_counter()
    for config in configs:
        first = datetime.now(config.tz).replace(hour=18, minute=0, second=0, microsecond=0) + timedelta(days=15)
        with alliance_module.unit_of_work(config) as session:
            alliance = alliance_module.current(session, config)
            for j in range(per_alliance):
                meetings_actions.add(session, config, alliance, GROUPS[j % len(GROUPS)], first + timedelta(days=7 * j),
                                     location=f"Familienzentrum, Raum {j % 5 + 1}")
    return time.perf_counter() - began


def queue_newsletters(configs: list) -> tuple[int, float]:
    """Each alliance's next issue drafted, approved and queued: (deliveries queued, seconds)."""
    from hub import alliance as alliance_module
    from hub import newsletter

    began = time.perf_counter()
    queued = 0
    for config in configs:
        with alliance_module.unit_of_work(config) as session:
            issue = newsletter.draft(session, config, editorial="Liebe Partnerinnen und Partner,\n\nder "
                                     "**Familientag** war ein Erfolg – danke an alle, die mitgeholfen haben!")
            newsletter.approve(session, issue.id, by="bench")
            queued += newsletter.send(session, config, issue.id).queued
    return queued, time.perf_counter() - began


class SchedulerLocks:
    """Every alliance's scheduler lock held by the bench on one connection, so that the nodes' schedulers stand
    by (hub/scheduler/leadership.py: a PostgreSQL advisory lock per alliance domain)."""

    def __init__(self, database: str, configs: list):
        import sqlalchemy as sa

        from hub.scheduler.leadership import Leadership

        self.engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
        self.connection = self.engine.connect()
        for config in configs:
            digest = hashlib.sha256(f"hub-scheduler:{config.alliance.domain}".encode()).digest()[:8]
            self.connection.execute(sa.text("SELECT pg_advisory_lock(:k)"),
                                    {"k": int.from_bytes(digest, "big", signed=True)})
        self.connection.commit()
        assert not Leadership(configs[0]).acquire(), "the hub's scheduler lock is no longer the one the bench holds"

    def release(self) -> None:
        self.connection.close()
        self.engine.dispose()


# --- nodes ------------------------------------------------------------------------------------------------


class Node:
    """One `hub serve` of the installation (every alliance, or the one named), with its own port and data folder."""

    started_ever: list[Node] = []  # so that a bench that fails leaves none running

    def __init__(self, base: Path, name: str, alliance: str | None = None):
        self.port = free_port()
        folder = base / name
        folder.mkdir()
        self.log = folder / "serve.log"
        env = {**os.environ, "HUB_CONFIG": str(base / "config" / "hub.toml"), "HUB_DATA_DIR": str(folder / "var"),
               "HUB_SECRET_KEY": SECRET}
        argv = [sys.executable, "-m", "hub.cli", *(["--alliance", alliance] if alliance else []), "serve",
                "--port", str(self.port), "--no-imap"]
        self.started = time.monotonic()
        with self.log.open("w") as log:
            self.process = subprocess.Popen(argv, cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=log,
                                            start_new_session=True)
        Node.started_ever.append(self)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_serving(self, stall_s: float = STALL_S) -> dict:
        """Until every service has started ("hub serving"), it exits, or no further scheduler starts for
        `stall_s` (after the first): seconds taken, schedulers started and leading, and what went wrong."""
        started, since = -1, time.monotonic()
        while True:
            text = self.text()
            outcome = {"seconds": round(time.monotonic() - self.started, 2),
                       "schedulers": text.count("started scheduler"), "leading": text.count("scheduler: leading"),
                       "error": None}
            if "hub serving" in text:
                return outcome
            if self.process.poll() is not None:
                return {**outcome, "error": f"exited with {self.process.returncode}: {last_line(text)}"}
            if outcome["schedulers"] != started:
                started, since = outcome["schedulers"], time.monotonic()
            elif time.monotonic() - since > (stall_s if started else START_S):
                return {**outcome, "error": f"stalled: no further scheduler started for {stall_s:.0f} s"}
            time.sleep(0.1)

    def memory(self) -> dict:
        return {"rss_mb": round(tree_mb(self.process.pid, "status", "VmRSS:"), 1),
                "pss_mb": round(tree_mb(self.process.pid, "smaps_rollup", "Pss:"), 1)}

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None and not kill:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                kill = True
        if self.process.poll() is None or kill:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(30)


def idle_figures(nodes: list[Node]) -> list[dict]:
    """Of each node, started and idle since: RSS and PSS of all its processes after SETTLE_S, and their CPU use
    over the next CPU_WINDOW_S, of all of them and of the main process alone (listener, schedulers; the child
    processes file and send)."""
    time.sleep(SETTLE_S)
    figures = [node.memory() for node in nodes]
    pids = [node.process.pid for node in nodes]
    before, main_before, began = [tree_cpu_s(p) for p in pids], [tree_cpu_s(p, children=False) for p in pids], \
        time.monotonic()
    time.sleep(CPU_WINDOW_S)
    seconds = time.monotonic() - began
    for each, pid, cpu, main_cpu in zip(figures, pids, before, main_before, strict=True):
        each["cpu_pct"] = round(100 * (tree_cpu_s(pid) - cpu) / seconds, 1)
        each["main_cpu_pct"] = round(100 * (tree_cpu_s(pid, children=False) - main_cpu) / seconds, 1)
    return figures


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def tree_cpu_s(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of a process (and all its descendants) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        below = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                 for c in (task / "children").read_text().split()] if children else []
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(tree_cpu_s(c) for c in below)


def held_scheduler_locks(database: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar()
    finally:
        engine.dispose()


def hold_outbox(database: str, until: datetime) -> int:
    """Every queued delivery due at `until` (the newsletter's time): the nodes start before it goes out. The
    outboxes are told (NOTIFY) as when a send queues mail, so a release reaches every node at once."""
    import sqlalchemy as sa

    from hub.db import session_scope
    from hub.models import Delivery
    from hub.outbound import wakeup

    with session_scope(database) as session:
        held = session.execute(sa.update(Delivery).where(Delivery.state == "queued")
                               .values(next_attempt_at=until)).rowcount
        wakeup.announce(session)
        return held


def newsletter_day(label: str, nodes_count: int, base: Path, database: str, sink: Path, timeout: float) -> dict:
    """The queued newsletters held, `nodes_count` nodes started, the newsletters let go once every node serves;
    until the sink has them all: mails/s from the first to the last, the nodes' CPU seconds meanwhile."""
    before = sink_count(sink)
    queued = hold_outbox(database, datetime.now(UTC) + timedelta(days=1))  # the newsletters, and nothing left over
    nodes = [Node(base, f"{label}-node{n + 1}") for n in range(nodes_count)]
    try:
        for node in nodes:
            started = node.wait_until_serving()
            if started["error"]:
                raise RuntimeError(f"{label}: hub serve: {started['error']}; see {node.log}")
        time.sleep(0.5)
        cpu_before = sum(tree_cpu_s(node.process.pid) for node in nodes)
        hold_outbox(database, datetime.now(UTC))
        deadline = time.monotonic() + timeout
        while sink_count(sink) < before + queued:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: only {sink_count(sink) - before} of {queued} mails at the sink "
                                   f"after {timeout:.0f} s; see {nodes[0].log}")
            for node in nodes:
                if node.process.poll() is not None:
                    raise RuntimeError(f"{label}: hub serve exited with {node.process.returncode}: "
                                       f"{last_line(node.text())}")
            time.sleep(0.05)
        cpu = sum(tree_cpu_s(node.process.pid) for node in nodes) - cpu_before
        seen = sink_log(sink)
        first = next(at for at, count in seen if count > before)
        last = next(at for at, count in seen if count >= before + queued)
        return {"mails": queued, "per_s": queued / max(last - first, 1e-3), "seconds": last - first, "cpu_s": cpu}
    finally:
        for node in nodes:
            node.stop()


# --- lateness ---------------------------------------------------------------------------------------------


def lateness(database: str, configs: list, margin_s: float, timeout: float) -> dict:
    """With every scheduler leading (a running `hub serve`): each alliance's send time moved to the next full
    minute at least `margin_s` ahead and a plenum meeting added 14 days after that day, so that its invitation
    is due then. Waits until every scheduler has the invitation's job in place (a changed send time re-plans
    all of an alliance's meetings), then for the sends: their lateness (ran_at - due: when the scheduler fired
    each) and when each one's mail was made (OutboundMail.created_at - due)."""
    from sqlmodel import select

    from hub import alliance as alliance_module
    from hub import meetings_actions
    from hub.db import session_scope
    from hub.models import Delivery, OutboundMail, ScheduledSend

    due = (datetime.now(UTC) + timedelta(seconds=margin_s + 60)).replace(second=0, microsecond=0)
    jobs = {}
    for config in configs:
        at = due.astimezone(config.tz)
        with alliance_module.unit_of_work(config) as session:
            alliance = alliance_module.current(session, config)
            meetings_actions.set_policy(session, config, alliance, "send_time", f"{at:%H:%M}")
            start = at.replace(hour=18, minute=0) + timedelta(days=14)
            meeting = meetings_actions.add(session, config, alliance, "plenum", start, location="Rathaus, Ratssaal")
            jobs[config.alliance_file.stem] = f"meeting:{meeting.id}:invitation@seq0"
    set_at = datetime.now(UTC)
    in_place, replanned_s = jobs_in_place(database, jobs, due)
    deadline = due + timedelta(seconds=timeout)
    while True:
        time.sleep(0.5)
        with session_scope(database) as session:
            rows = session.exec(select(ScheduledSend.ran_at).where(ScheduledSend.kind == "invitation",
                                                                    ScheduledSend.due == due)).all()
        if len(rows) >= len(configs) or datetime.now(UTC) > deadline:
            break
    while datetime.now(UTC) < deadline:  # the invitations sent before this hub stops
        with session_scope(database) as session:
            if not session.exec(select(Delivery.id).where(Delivery.state == "queued")).first():
                break
        time.sleep(0.5)
    with session_scope(database) as session:
        made_at = session.exec(select(OutboundMail.created_at).where(
            OutboundMail.source_ref.in_([f"schedule:{key}:de" for key in jobs.values()]))).all()
    late = sorted(max(0.0, (ran_at - due).total_seconds()) for ran_at in rows)
    made = len(late)
    late += [float(timeout)] * (len(configs) - made)  # not made within the wait: at least that late
    queued = sorted(max(0.0, (at - due).total_seconds()) for at in made_at)
    queued += [float(timeout)] * (len(configs) - len(queued))
    return {"sends": len(configs), "made": made, "lead_s": round((due - set_at).total_seconds(), 1),
            "in_place": in_place, "replanned_s": replanned_s,
            "p50_s": percentile(late, 0.5), "p99_s": percentile(late, 0.99),
            "made_p50_s": percentile(queued, 0.5), "made_p99_s": percentile(queued, 0.99)}


def jobs_in_place(database: str, jobs: dict[str, str], due: datetime) -> tuple[int, float | None]:
    """Until `due`: how many alliances' job stores hold their job (slug -> key) at `due`, and the seconds
    until all did (None if not all by then)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    began, waiting = time.monotonic(), dict(jobs)
    try:
        with engine.connect() as connection:
            while waiting and datetime.now(UTC) < due:
                for slug, key in list(waiting.items()):
                    table = f"apscheduler_jobs_{slug.replace('-', '_')}"
                    at = connection.execute(sa.text(f"SELECT next_run_time FROM {table} WHERE id = :key"),
                                            {"key": key}).scalar()
                    if at is not None and abs(at - due.timestamp()) < 1:
                        del waiting[slug]
                connection.rollback()
                if waiting:
                    time.sleep(1.0)
    finally:
        engine.dispose()
    return len(jobs) - len(waiting), (None if waiting else round(time.monotonic() - began, 1))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 3)


# --- the run ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="66 alliances, 10 partners, 5 meetings each (< 60 s)")
    parser.add_argument("--alliances", type=int, help="default 660, quick 66")
    parser.add_argument("--partners", type=int, help="per alliance (default 40, quick 10)")
    parser.add_argument("--meetings", type=int, help="per alliance (default 20, quick 5)")
    parser.add_argument("--database", default=DEFAULT_DATABASE,
                        help="a PostgreSQL server URL: the bench makes (and drops) a scratch database there")
    parser.add_argument("--child", choices=["sink"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "sink":
        run_sink(args.port, Path(args.log))
        return
    for key in ("HUB_CONFIG", "HUB_ALLIANCE", "HUB_DATABASE_URL", "HUB_DATA_DIR", "HUB_FAILPOINT"):
        os.environ.pop(key, None)  # the bench's installation is the one its hub.toml describes
    count = args.alliances or (66 if args.quick else 660)
    partners = args.partners or (10 if args.quick else 40)
    per_alliance = args.meetings or (5 if args.quick else 20)
    drain_timeout = 120 + count * partners / 20  # even at 20 mails/s

    base = Path(tempfile.mkdtemp(prefix="hub-bench-tenancy-"))
    database, drop = scratch_database(args.database, "tenancy")
    sink_port = free_port()
    sink = base / "sink.log"
    sink.touch()
    sink_process = subprocess.Popen([sys.executable, __file__, "--child", "sink", "--port", str(sink_port),
                                     "--log", str(sink)])
    locks = None
    failed = True
    try:
        began = time.perf_counter()
        configs, setup = build(base, database, sink_port, count, partners)
        setup_s = time.perf_counter() - began
        meetings_s = add_meetings(configs, per_alliance)
        wait_for_port(sink_port, sink_process)

        # The one-alliance hub is measured in the same state of its scheduler as the hub for all: after the
        # one leading every scheduler, or beside the one whose schedulers stand by.
        probe = Node(base, "all-leading")
        leading = probe.wait_until_serving()
        if leading["error"] is None:
            [idle] = idle_figures([probe])
            # twice as long ahead as starting every scheduler (and its first plan) took: a changed send time
            # moves every job of every alliance again
            late = lateness(database, configs, margin_s=5 + 2 * leading["seconds"], timeout=60 + count * 0.1)
            probe.stop()
            one = Node(base, "one-alliance", alliance=configs[0].alliance_file.stem)
            nodes = [one]
        else:
            leading["locks_held"] = held_scheduler_locks(database)
            if probe.process.poll() is None:
                leading.update({f"stalled_{key}": value for key, value in probe.memory().items()})
            probe.stop(kill=True)
            late = None
            locks = SchedulerLocks(database, configs)
            standby = Node(base, "all-standby")
            one = Node(base, "one-alliance", alliance=configs[0].alliance_file.stem)
            nodes = [one, standby]
        for node in nodes:
            started = node.wait_until_serving()
            if started["error"]:
                raise RuntimeError(f"hub serve ({node.log.parent.name}): {started['error']}")
        measured = idle_figures(nodes)
        one_idle = measured[0]
        if late is None:
            idle = measured[1]
        for node in nodes:
            node.stop()
        queued_one, queue_one_s = queue_newsletters(configs)
        day_one = newsletter_day("newsletter-1", 1, base, database, sink, drain_timeout)
        queued_two, _seconds = queue_newsletters(configs)
        day_two = newsletter_day("newsletter-2", 2, base, database, sink, drain_timeout)
        # What the schedulers queued meanwhile (invitations of the meetings) goes out with the newsletters.
        assert day_one["mails"] >= queued_one and day_two["mails"] >= queued_two, (day_one, day_two)
        failed = False
    finally:
        for node in Node.started_ever:
            if node.process.poll() is None:
                node.stop(kill=True)
        if locks:
            locks.release()
        sink_process.terminate()
        sink_process.wait(30)
        if "hub.db" in sys.modules:
            sys.modules["hub.db"].engine_for(database).dispose()
        drop()
        if failed:
            print(f"logs kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    scaling = day_two["per_s"] / day_one["per_s"]
    rss_ratio = idle["rss_mb"] / one_idle["rss_mb"]
    schedulers = "leading" if late else "standing by"
    figures = {
        "alliances": count, "partners": partners, "meetings": per_alliance, "setup_s": round(setup_s, 2),
        **{key: round(value, 2) for key, value in setup.items()}, "meetings_s": round(meetings_s, 2),
        "mails": queued_one, "queue_s": round(queue_one_s, 2),
        "one_node_per_s": round(day_one["per_s"], 1), "two_nodes_per_s": round(day_two["per_s"], 1),
        "scaling": round(scaling, 3),
        "cpu_ms_per_mail_one": round(1000 * day_one["cpu_s"] / day_one["mails"], 2),
        "cpu_ms_per_mail_two": round(1000 * day_two["cpu_s"] / day_two["mails"], 2),
        "lateness_p99_s": late["p99_s"] if late else None, "lateness_p50_s": late["p50_s"] if late else None,
        "made_p99_s": late["made_p99_s"] if late else None, "replanned_s": late["replanned_s"] if late else None,
        "jobs_in_place": late["in_place"] if late else None,
        "rss_mb": idle["rss_mb"], "rss_one_mb": one_idle["rss_mb"],
        "rss_ratio": round(rss_ratio, 3), "pss_mb": idle["pss_mb"],
        "idle_cpu_pct": idle["cpu_pct"], "idle_main_cpu_pct": idle["main_cpu_pct"],
        "idle_cpu_one_pct": one_idle["cpu_pct"],
        "all_leading": leading["error"] is None, "leading_s": leading["seconds"],
        "leading_schedulers": leading["leading"], "leading_error": leading["error"],
        "stalled_rss_mb": leading.get("stalled_rss_mb"), "schedulers": schedulers,
    }

    def row(what: str, value: str, note: str = "") -> None:
        print(f"{what:<52}{value:>16}   {note}")

    print(f"tenancy: {count} alliances x {partners} partners x {len(GROUPS)} groups, {per_alliance} meetings each, "
          f"PostgreSQL, {os.cpu_count()} CPUs")
    row("setup: hub.installation.add (alliances add)", f"{setup['add_s']:.1f} s")
    row("setup: hub.alliance.sync (init)", f"{setup['init_s']:.1f} s")
    row("setup: partner_actions.import_csv (import)", f"{setup['import_s']:.1f} s")
    row("setup_s", f"{setup_s:.1f} s", f"{1000 * setup_s / count:.0f} ms per alliance")
    row(f"meetings_actions.add x {count * per_alliance}", f"{meetings_s:.1f} s")
    if leading["error"] is None:
        row("hub serve: every scheduler leading", f"{leading['seconds']:.1f} s")
    else:
        row("hub serve: every scheduler leading", "FAILED",
            f"{leading['leading']} of {count} lead ({leading.get('locks_held')} locks held), {leading['error']}")
        if "stalled_rss_mb" in leading:
            row(f"hub serve stalled with {leading['leading']} schedulers leading: RSS",
                f"{leading['stalled_rss_mb']:.0f} MB", f"PSS {leading['stalled_pss_mb']:.0f} MB")
    row(f"queue {queued_one} newsletter mails (draft, approve, send)", f"{queue_one_s:.1f} s")
    row("newsletter day, 1 node", f"{day_one['per_s']:.0f} mails/s",
        f"{figures['cpu_ms_per_mail_one']:.1f} ms CPU of hub serve per mail")
    row("newsletter day, 2 nodes", f"{day_two['per_s']:.0f} mails/s",
        f"{figures['cpu_ms_per_mail_two']:.1f} ms CPU of hub serve per mail")
    row("scaling, 2 nodes / 1 node", f"{scaling:.2f}", "goal >= 1.6")
    if late:
        row(f"re-planned after every send time changed: {late['in_place']} of {late['sends']} jobs in place",
            f"{late['replanned_s']} s", f"of {late['lead_s']} s before they were due")
        row(f"lateness of {late['sends']} invitations due at one minute", f"p99 {late['p99_s']} s",
            f"goal < 1 s; p50 {late['p50_s']} s, {late['made']} made (fired: ScheduledSend.ran_at)")
        row("  their mails made (OutboundMail.created_at)", f"p99 {late['made_p99_s']} s",
            f"p50 {late['made_p50_s']} s; two sends are made at a time")
    else:
        row("lateness", "not measured", "needs every scheduler leading")
    for many, each in ((1, one_idle), (count, idle)):
        row(f"hub serve for {many} alliance(s), idle, schedulers {schedulers}: RSS", f"{each['rss_mb']:.0f} MB",
            f"PSS {each['pss_mb']:.0f} MB, CPU {each['cpu_pct']:.0f} % (main process {each['main_cpu_pct']:.0f} %)")
    row(f"RSS {count} alliances / one", f"{rss_ratio:.2f}", "goal <= 1.5")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
