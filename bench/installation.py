"""What the benches that run a real `hub serve` share: a fresh installation folder and a scratch PostgreSQL
database, so that every run starts from the example alliance and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def installation(label: str, database: str | None, config_text: str) -> tuple[Path, dict]:
    """A folder with `config_text` as its hub.toml and the example partners imported, and the environment to
    run `hub` there (Maildir outbox under var/ unless the config names a smarthost)."""
    base = Path(tempfile.mkdtemp(prefix=f"hub-bench-{label}-"))
    (base / "config").mkdir()
    (base / "config" / "hub.toml").write_text(config_text, encoding="utf-8")
    shutil.copy(ROOT / "config" / "partners.example.csv", base / "config")
    env = {**os.environ, "HUB_CONFIG": str(base / "config" / "hub.toml"), "HUB_DATA_DIR": str(base / "var")}
    env.pop("HUB_FAILPOINT", None)
    if database:
        env["HUB_DATABASE_URL"] = database
    for args in (["init"], ["partners", "import", "--no-welcome", "config/partners.example.csv"]):
        subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=base, env=env, check=True,
                       capture_output=True, timeout=120)
    return base, env


def example_config() -> str:
    """The example config without the web admin (its fixed port would collide with a running hub)."""
    return (ROOT / "config" / "hub.toml").read_text(encoding="utf-8").replace("[web]\n", "[web]\nenabled = false\n")


def scratch_database(url: str, label: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database beside the one `url` names, and the function that drops it again."""
    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"hub_bench_{label}_{os.getpid()}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    """Until something listens on 127.0.0.1:`port` (30 s at most), or the server `process` has exited."""
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def tree_size(pid: int) -> int:
    """How many processes `pid` and its descendants are."""
    return 1 + sum(tree_size(int(child)) for task in Path(f"/proc/{pid}/task").iterdir()
                   for child in (task / "children").read_text().split())


def tree_mb(pid: int, file: str, field: str) -> float:
    """A memory figure of a process and all its descendants, summed, in MiB: `field` ("VmHWM:", "Pss:") of
    /proc/PID/`file` ("status", "smaps_rollup"). `hub serve` files and delivers in child processes."""
    total = 0.0
    for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
        if line.startswith(field):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_mb(int(child), file, field)
    return total

