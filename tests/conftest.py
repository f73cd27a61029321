"""Shared fixtures: an example alliance on a fresh database — SQLite by default, PostgreSQL when
`HUB_TEST_DATABASE_URL` is set (the test command runs the suite once each way).

No test depends on the day it runs: the whole session runs on a clock set to `$HUB_TEST_CLOCK` (ISO, UTC;
a summer day by default, `scripts/test` runs the PostgreSQL pass on a winter day) and ticking from there,
and every `hub` process a test starts gets the same clock (`hub_command()`, through tests/hub_at.py).
No test reads a file outside the repository except the public corpus, which a clone of the project alone
does not have: tests that need it skip with a reason (`needs_corpus`), and an audit hook fails the session
if any other path beside the repository is opened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import Session, SQLModel

from hub import alliance as alliance_module
from hub import config as config_module
from hub.cli import main
from hub.db import engine_for, upgrade

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CORPUS = ROOT.parent / "shared" / "corpus"
PG_URL = os.environ.get("HUB_TEST_DATABASE_URL")
SUMMER, WINTER = "2026-07-14T08:00:00+00:00", "2026-01-20T08:00:00+00:00"
CLOCK = datetime.fromisoformat(os.environ.get("HUB_TEST_CLOCK") or SUMMER)

needs_corpus = pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(),
                                  reason="public corpus not present (../shared/corpus beside the repository)")


def hub_command() -> list[str]:
    """The argv prefix that runs `hub` in a subprocess on the session's clock (see tests/hub_at.py)."""
    return [sys.executable, str(TESTS / "hub_at.py")]


# Every `hub serve` a test starts (in a session of its own, start_new_session=True), so that none runs after it.
SERVING: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_hub_left_running():
    yield
    while SERVING:
        process = SERVING.pop()
        if process.poll() is None:
            process.kill()
            process.wait(30)
        end_process_group(process.pid)


def end_process_group(leader: int, timeout: float = 30) -> None:
    """Kill what is left of a `hub serve` started in a session of its own: its filing, outbox and helper
    processes notice a killed parent within a second and then finish what they hold, and one still writing
    while the next test's database is emptied fails that test."""
    if leader == os.getpgrp():
        raise ValueError("the test session's own process group")
    deadline = time.monotonic() + timeout
    while members := process_group(leader):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {members} of hub serve {leader} do not end")
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def process_group(leader: int) -> list[int]:
    """The live processes (not zombies) of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == leader:
            members.append(int(stat.parent.name))
    return members


def clock_env() -> dict[str, str]:
    """The environment that sets a `hub` subprocess's clock to the test's current (travelled) time."""
    return {"HUB_TEST_CLOCK": datetime.now(UTC).isoformat()}


def watched_beside() -> bool:
    """Whether reads beside the repository can be told apart: not when the repository sits directly in the
    file system's root or in (or above) the temporary folder, where every test's own files are beside it."""
    temp = Path(tempfile.gettempdir()).resolve()
    return ROOT.parent != Path(ROOT.anchor) and not (ROOT.parent == temp or ROOT.parent in temp.parents)


def outside_repository(path: str | bytes | os.PathLike) -> bool:
    """A path beside the repository (in its parent folder, not in the repository or the corpus)?"""
    if isinstance(path, int) or not watched_beside():
        return False
    try:
        resolved = Path(os.fsdecode(path)).resolve()
    except (OSError, ValueError):
        return False
    allowed = [ROOT, CORPUS, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    if any(resolved == base or base in resolved.parents for base in allowed):
        return False
    return ROOT.parent in resolved.parents


READ_OUTSIDE: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and args and outside_repository(args[0]):
        READ_OUTSIDE.append(os.fsdecode(args[0]))


def pytest_configure(config) -> None:
    sys.addaudithook(_audit)
    time_machine.travel(CLOCK, tick=True).start()


def pytest_collection_modifyitems(config, items) -> None:
    """The PostgreSQL pass runs the tests that have a database (the `db_url` fixture, directly or through
    `hub_dir`, `config`, `session`, …); the others — parsing, documents, templates, the plan — do the same on
    either pass and ran in the SQLite pass already. Shown as deselected in the summary."""
    if not PG_URL or os.environ.get("HUB_TEST_ALL_ON_POSTGRES") == "1":
        return
    without = [item for item in items if "db_url" not in getattr(item, "fixturenames", ())]
    if without:
        config.hook.pytest_deselected(items=without)
        items[:] = [item for item in items if "db_url" in getattr(item, "fixturenames", ())]


@pytest.fixture(autouse=True)
def _reads_only_the_repository():
    """Fails the test that opened a file beside the repository (a clone alone would not have it)."""
    yield
    if READ_OUTSIDE:
        paths = sorted(set(READ_OUTSIDE))
        READ_OUTSIDE.clear()
        pytest.fail(f"the test opened files outside the repository (only ../shared/corpus may be read): {paths}")


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database of this test process's own, migrated once; tests empty it between them.

    The name is unique per process so that parallel runs (xdist workers, other checkouts) never share it.
    """
    if not PG_URL:
        yield None
        return
    with scratch_pg_database(os.environ.get("PYTEST_XDIST_WORKER", "main")) as url:
        upgrade(url)
        yield url


@contextmanager
def scratch_pg_database(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped at the end: its URL."""
    base = sa.engine.make_url(PG_URL)
    name = f"{base.database}_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def dns_server():
    """dnsmasq on 127.0.0.1 with SPF, DKIM and DMARC records of the partners' domains (tests/dns_server.py), as
    the sender check's DNS server; started once per test process, like PostgreSQL and Dovecot."""
    import dns_server as dns_server_module  # lazy: cryptography and dkimpy only for the tests that use it

    server = dns_server_module.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "hub.db"
    upgrade(f"sqlite:///{path}")
    engine_for(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def db_url(tmp_path, pg_database, request) -> str:
    if pg_database is None:
        target = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    _empty(pg_database)
    return pg_database


def _empty(url: str) -> None:
    """Delete every row and restart every sequence (ids start at 1 again, as in a fresh database). DELETE, not
    TRUNCATE: on tables this small it takes 10 ms where TRUNCATE takes 400 (new files, fsync), once per test.
    It waits for every other connection's transaction on the rows, so a process a previous test left behind (a
    `hub serve` child still stopping) could hold it forever, or take the same locks the other way round: after a
    few seconds, or the deadlock, those connections are ended, named in the output, and it runs again."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]  # children before their parents
    if not tables:
        return
    for attempt in range(3):
        try:
            with engine_for(url).begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                existing = set(sa.inspect(conn).get_table_names())
                extra = sorted(t for t in existing if t not in tables and t != "alembic_version")
                emptied = [*extra, *(t for t in tables if t in existing)]
                # Locked first: a process still stopping could otherwise add a row to a child table already
                # emptied (a meeting it proposed) before its parent (the group) is deleted.
                quoted = ", ".join(f'"{name}"' for name in emptied)
                conn.exec_driver_sql(f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE")
                for name in emptied:
                    conn.exec_driver_sql(f'DELETE FROM "{name}"')
                conn.exec_driver_sql("SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                                     "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                     "WHERE c.relkind = 'S' AND n.nspname = current_schema()")
            return
        except sa.exc.OperationalError as error:  # a lock it waited for too long, or one taken the other way round
            if not any(why in str(error) for why in ("lock timeout", "deadlock detected")) or attempt == 2:
                raise
            _end_other_connections(url)


def _end_other_connections(url: str) -> None:
    engine_for(url).dispose()
    with engine_for(url).connect() as conn:
        holders = conn.exec_driver_sql(
            "SELECT pid, application_name, state, left(query, 200) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").all()
        print(f"tests: ended connections that held the test database: {holders}", file=sys.stderr)
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    engine_for(url).dispose()


@pytest.fixture
def hub_dir(tmp_path, db_url, monkeypatch) -> Path:
    """A folder laid out like an installation: config/hub.toml (the example alliance), var/."""
    (tmp_path / "config").mkdir()
    from servers import free_port  # servers imports this module

    # Each test's own web port: several `hub serve` run side by side under xdist.
    web_port = free_port()
    example = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")
    example = example.replace("port = 8080", f"port = {web_port}").replace("127.0.0.1:8080", f"127.0.0.1:{web_port}")
    (tmp_path / "config" / "hub.toml").write_text(example, encoding="utf-8")
    shutil.copy(ROOT / "config" / "partners.example.csv", tmp_path / "config" / "partners.example.csv")
    monkeypatch.setenv("HUB_DATABASE_URL", db_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "config" / "hub.toml"))
    return tmp_path


@pytest.fixture
def config(hub_dir) -> config_module.Config:
    return config_module.load(hub_dir / "config" / "hub.toml")


@pytest.fixture
def session(config):
    # A plain engine (deferred BEGIN): a test that keeps reading must not hold SQLite's write lock
    # against the `hub` subprocesses it starts, as the hub's own BEGIN IMMEDIATE sessions would.
    engine = sa.create_engine(config.database_url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def alliance(session, config):
    alliance = alliance_module.sync(session, config)
    session.commit()
    return alliance


@pytest.fixture
def partners(session, alliance, hub_dir):
    """The example partners from config/partners.example.csv."""
    from hub import partners as registry
    from hub.partner_csv import parse_csv

    text = (hub_dir / "config" / "partners.example.csv").read_text(encoding="utf-8")
    rows = parse_csv(text, {g.slug for g in alliance_module.groups(session, alliance)})
    registry.import_rows(session, alliance, rows, source="test")
    session.commit()
    return rows


def run_hub(*args: str, input: bytes | str | None = None, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `hub` command in a process of its own, as a user or a Postfix pipe would: forked from a
    process that has imported the hub once (tests/hub_zygote.py), or a fresh interpreter when
    `HUB_TEST_FRESH_PROCESSES=1`."""
    data = input.encode() if isinstance(input, str) else input
    env = {**os.environ, **clock_env(), **(env or {})}
    if os.environ.get("HUB_TEST_FRESH_PROCESSES") == "1":
        return subprocess.run([*hub_command(), *args], input=data, capture_output=True, cwd=cwd, env=env,
                              timeout=timeout)
    return _zygote().run(list(args), data, Path(cwd or os.getcwd()), env, timeout)


class _Zygote:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hub-zygote-"))
        self.socket = self.folder / "socket"
        self.process = subprocess.Popen([sys.executable, str(TESTS / "hub_zygote.py"), str(self.socket)],
                                        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(TESTS)})
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the hub zygote did not start (exit status {self.process.wait(10)})")

    def run(self, argv: list[str], data: bytes | None, cwd: Path, env: dict, timeout: float):
        files = {name: self.folder / f"{uuid.uuid4().hex}.{name}" for name in ("stdin", "stdout", "stderr")}
        files["stdin"].write_bytes(data or b"")
        files["stdout"].touch()
        files["stderr"].touch()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(str(self.socket))
                request = {"argv": argv, "env": env, "cwd": str(cwd), **{k: str(v) for k, v in files.items()}}
                connection.sendall(json.dumps(request).encode() + b"\n")
                answers = connection.makefile("rb")
                pid = json.loads(answers.readline())["pid"]
                connection.settimeout(timeout)
                try:
                    status = json.loads(answers.readline())["status"]
                except TimeoutError:
                    os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(["hub", *argv], timeout) from None
            return subprocess.CompletedProcess(["hub", *argv], status, files["stdout"].read_bytes(),
                                               files["stderr"].read_bytes())
        finally:
            for path in files.values():
                path.unlink(missing_ok=True)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


_ZYGOTES: list[_Zygote] = []


def _zygote() -> _Zygote:
    if not _ZYGOTES or _ZYGOTES[0].process.poll() is not None:
        _ZYGOTES[:] = [_Zygote()]
    return _ZYGOTES[0]


def pytest_unconfigure(config) -> None:
    for zygote in _ZYGOTES:
        zygote.stop()


@pytest.fixture
def hub(hub_dir):
    """Call `hub ARGS…` in the installation folder; returns the CompletedProcess (text decoded)."""

    def call(*args: str, input: bytes | str | None = None, env: dict | None = None):
        result = run_hub(*args, input=input, cwd=hub_dir, env=env)
        result.stdout = result.stdout.decode("utf-8", "replace")
        result.stderr = result.stderr.decode("utf-8", "replace")
        return result

    return call


@pytest.fixture
def hub_in_process(hub_dir, capsys, monkeypatch):
    """`hub ARGS…` in the installation folder, in-process (the same parser, handlers and exit codes as the
    console script, without a second of interpreter start per call); returns returncode, stdout, stderr."""
    monkeypatch.chdir(hub_dir)

    def call(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


def world_readable_tempdir(prefix: str) -> Path:
    """pytest's temp dirs are 0700; servers that drop privileges (Dovecot) need to read theirs."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path
