"""Real servers for tests: a Dovecot IMAP server on 127.0.0.1 and a free-port helper.

Recipe from the shared testing notes: Dovecot runs as a child process with its own config in a
world-readable temp folder (its login processes drop privileges), every user name logs in with the same
password and gets its own Maildir, so each test can use a fresh user instead of a fresh server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import world_readable_tempdir
from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
DOVECOT_PASSWORD = "geheim-im-test"

_DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/run/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
default_internal_group = dovecot
mail_location = maildir:{dir}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={dir}/mail/%u
}}
first_valid_uid = 1
{extra}
"""


def free_port() -> int:
    """A port nobody listens on right now (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Dovecot:
    port: int
    dir: Path

    def new_user(self) -> str:
        """A user of its own (its own empty Maildir) for one test."""
        return f"test-{uuid.uuid4().hex[:10]}"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, DOVECOT_PASSWORD)
        return client


@pytest.fixture(scope="session")
def dovecot():
    yield from _run_dovecot()


@pytest.fixture(scope="session")
def dovecot_without_move():
    """A Dovecot that does not announce MOVE (as older servers): pollers must copy, flag and expunge."""
    yield from _run_dovecot("imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS")


def _run_dovecot(extra: str = ""):
    if not Path(DOVECOT).exists():
        raise RuntimeError("dovecot-imapd is not installed; run scripts/setup --test")
    base = world_readable_tempdir("hub-dovecot-")
    (base / "run").mkdir()
    (base / "mail").mkdir()
    shutil.chown(base / "mail", "dovecot", "dovecot")
    for attempt in range(3):
        port = free_port()
        conf = _DOVECOT_CONF.format(dir=base, port=port, password=DOVECOT_PASSWORD, extra=extra)
        (base / "dovecot.conf").write_text(conf)
        process = subprocess.Popen([DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, process=process)
            break
        except RuntimeError:
            process.kill()
            process.wait()
            if attempt == 2:
                log = base / "dovecot.log"
                raise RuntimeError(f"dovecot did not start: {log.read_text() if log.exists() else ''}") from None
    try:
        yield Dovecot(port=port, dir=base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)
