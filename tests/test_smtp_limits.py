"""The listener under hostile load, with real sockets on 127.0.0.1: session caps, timeouts, no descriptors left."""

from __future__ import annotations

import re
import select
import smtplib
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager

from conftest import ROOT
from test_smtp import PROTOCOLS, RAW, listening, with_inbound

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def reply(sock: socket.socket) -> bytes:
    """One whole reply (up to its last line, "250 …" after "250-…"), or what came before the server closed."""
    data = b""
    while not re.search(rb"(^|\r\n)\d{3} [^\r\n]*\r\n$", data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def closed(sock: socket.socket, within: float) -> bool:
    """True when the server closes the connection within the time (after whatever it still says)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0] and sock.recv(4096) == b"":
            return True
    return False


@contextmanager
def greeted(port: int, count: int):
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            sock = stack.enter_context(connect(port))
            assert reply(sock).startswith(b"220 ")
            socks.append(sock)
        yield socks


def test_one_session_beyond_max_sessions_gets_421_at_once(config):
    config = with_inbound(config, max_sessions=3, max_sessions_per_client=10)
    with listening(config, lambda entry: None) as listener, greeted(listener.port, 3) as socks:
        with connect(listener.port) as extra:
            assert reply(extra).startswith(b"421 4.7.0 ")
            assert closed(extra, 5)
        socks[0].close()
        time.sleep(0.2)  # the server sees the close
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            assert client.sendmail(SENDER, [PROTOCOLS], RAW) == {}


def test_one_client_beyond_max_sessions_per_client_gets_421(config):
    config = with_inbound(config, max_sessions=10, max_sessions_per_client=2)
    with listening(config, lambda entry: None) as listener, greeted(listener.port, 2):
        for _ in range(3):
            with connect(listener.port) as extra:
                assert reply(extra).startswith(b"421 4.7.0 ")
                assert closed(extra, 5)
        assert listener.limits.open == 2


def test_a_silent_client_is_told_and_dropped_after_the_timeout(config):
    config = with_inbound(config, timeout=1)
    with listening(config, lambda entry: None) as listener, greeted(listener.port, 1) as [sock]:
        sock.sendall(b"EHLO client.example\r\n")
        assert b"250 " in reply(sock)
        sock.sendall(b"MAIL FROM:<a")  # a command that never ends counts as silence
        started = time.monotonic()
        assert reply(sock).startswith(b"421 4.4.2 ")
        assert closed(sock, 3)
        assert 0.5 < time.monotonic() - started < 3


def test_a_slow_message_may_take_data_timeout_but_no_longer(config):
    config = with_inbound(config, timeout=2, data_timeout=4)
    with listening(config, lambda entry: None) as listener, greeted(listener.port, 1) as [sock]:
        for command in (b"EHLO client.example", f"MAIL FROM:<{SENDER}>".encode(), f"RCPT TO:<{PROTOCOLS}>".encode(),
                        b"DATA"):
            sock.sendall(command + b"\r\n")
            assert reply(sock)[:1] in b"23"
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"Eine Zeile nach der anderen, langsam.\r\n")
            except OSError:
                break
            if select.select([sock], [], [], 0.3)[0]:
                answer = sock.recv(4096)
                break
        took = time.monotonic() - started
        # Lines keep coming, so the idle timeout (2 s) never strikes; the whole message has 4 s.
        assert answer.startswith(b"421 4.4.2 "), answer
        assert 3.5 < took < 6


LISTENER = r"""
import logging, os, resource, sys
from hub.config import load
from hub.inbound.smtp import Listener
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("mail.log").setLevel(logging.WARNING)
config = load(sys.argv[1])
config = config.model_copy(update={"inbound": config.inbound.model_copy(update={"timeout": 3})})
listener = Listener(config, lambda entry: None, host="127.0.0.1", port=0)
listener.start()
used = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 20, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print(listener.port, flush=True)
sys.stdin.read()
listener.stop()
"""


def test_out_of_descriptors_the_listener_goes_on_and_logs_little(config, hub_dir):
    process = subprocess.Popen([sys.executable, "-c", LISTENER, str(hub_dir / "config" / "hub.toml")], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(process.stdout.readline())
        with ExitStack() as idle:
            socks = [idle.enter_context(connect(port)) for _ in range(80)]  # far more than 20 descriptors
            time.sleep(3.5)  # asyncio tries accept() again each second, and fails each time
            for sock in socks[:70]:
                sock.close()
            with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
                assert client.sendmail(SENDER, [PROTOCOLS], RAW) == {}
        stdout, stderr = process.communicate(b"", timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = stderr.decode()
    about_accept = [line for line in log.splitlines()
                    if re.search(r"accept|Too many open files|file descriptors", line, re.IGNORECASE)]
    assert about_accept, log  # the listener did run out of descriptors
    assert len(about_accept) <= 5, log  # a few summary lines for dozens of refused accepts, not one line each
    assert process.returncode == 0, log


def test_when_every_session_is_taken_the_idlest_makes_room_for_a_sender(config):
    """Idle connections from many addresses fill max_sessions: the one idle longest is closed with 421 (after
    `idle_when_full` seconds), and a sender gets its 250 instead of waiting for their timeout."""
    config = with_inbound(config, max_sessions=3, max_sessions_per_client=10)
    with listening(config, lambda entry: None) as listener, greeted(listener.port, 3) as socks:
        listener.limits.idle_when_full = 0.5
        with connect(listener.port) as early:  # nobody idle long enough yet: refused as before
            assert reply(early).startswith(b"421 4.7.0 ")
        time.sleep(0.3)
        socks[1].sendall(b"NOOP\r\n")  # active: not the one to go
        assert reply(socks[1]).startswith(b"250")
        time.sleep(0.4)
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            assert client.sendmail(SENDER, [PROTOCOLS], RAW) == {}
        assert reply(socks[0]).startswith(b"421 4.7.0 Too busy")
        assert closed(socks[0], 5)
        socks[1].sendall(b"NOOP\r\n")
        assert reply(socks[1]).startswith(b"250")  # the active session was kept
