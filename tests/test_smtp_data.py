"""DATA as the listener reads it, in blocks up to the next ".\r\n" (hub/inbound/smtp_data.py): over a raw socket,
the spooled bytes are exactly what the client meant (dot-stuffing undone), whatever the blocks and packets; the
lone dot ends the message only at the start of a line; limits answer after the dot and keep nothing; the
session goes on after each."""

from __future__ import annotations

import socket
import time

import pytest
from test_smtp import PROTOCOLS, listening, with_inbound

from hub.inbound import spool

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"
HEAD = f"From: {SENDER}\r\nTo: {PROTOCOLS}\r\nSubject: Protokoll\r\n\r\n".encode()


class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        while True:
            lines = self.buffer.split(b"\r\n")
            for index, line in enumerate(lines[:-1]):
                if line[3:4] == b" ":
                    self.buffer = b"\r\n".join(lines[index + 1:])
                    return line
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def envelope(self) -> None:
        assert self.command("EHLO client.example").startswith(b"250")
        assert self.command(f"MAIL FROM:<{SENDER}>").startswith(b"250")
        assert self.command(f"RCPT TO:<{PROTOCOLS}>").startswith(b"250")
        assert self.command("DATA").startswith(b"354")

    def send(self, wire: bytes, pieces: int = 1, pause: float = 0.0) -> bytes:
        """The message as it goes over the wire (stuffed, with its lone dot), in `pieces` packets."""
        step = max(1, -(-len(wire) // pieces))
        for start in range(0, len(wire), step):
            self.sock.sendall(wire[start:start + step])
            if pause:
                time.sleep(pause)
        return self.reply()

    def close(self) -> None:
        assert self.command("QUIT").startswith(b"221")
        self.sock.close()


def stuffed(content: bytes) -> bytes:
    """What an SMTP client sends for `content` (which ends with CRLF): each line that begins with a dot gets one
    more, then the lone dot."""
    lines = content.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines) + b".\r\n"


@pytest.fixture
def server(config):
    received = []
    with listening(config, received.append) as listener:
        yield listener, received


def _spooled(config) -> list[bytes]:
    return [entry.path.read_bytes() for entry in sorted(spool.pending(config.data_dir), key=lambda e: e.path.name)]


CONTENTS = {
    "dots": HEAD + b".Zeile mit Punkt\r\n..zwei Punkte\r\n.\r\n...\r\nViele Gr\xc3\xbc\xc3\x9fe.\r\nEnde.\r\n",
    "one line": b"Subject: nur eine Zeile\r\n",
    "ends in a dot": HEAD + b"Am Ende ein Punkt.\r\n",
    "large": HEAD + b"".join(b"Zeile %d endet mit Punkt.\r\n.Punkt am Anfang %d\r\n" % (n, n) for n in range(4000)),
    "long lines": HEAD + b"".join(b"x" * 998 + b"\r\n" for _ in range(70)) + b"y" * 997 + b".\r\n",
    "bare line ends": HEAD + b"a\nb\r.c\n.\r\nd\r\n",
}


@pytest.mark.parametrize("name", list(CONTENTS))
@pytest.mark.parametrize("pieces", [1, 7, 301])
def test_the_spooled_bytes_are_what_the_client_meant(server, config, name, pieces):
    listener, received = server
    client = Client(listener.port)
    client.envelope()
    content = CONTENTS[name]
    assert client.send(stuffed(content), pieces).startswith(b"250")
    client.close()
    assert _spooled(config) == [content]
    assert len(received) == 1


def test_the_lone_dot_at_once_is_an_empty_message_and_the_session_goes_on(server, config):
    listener, _received = server
    client = Client(listener.port)
    client.envelope()
    assert client.send(b".\r\n").startswith(b"250")
    client.envelope()
    assert client.send(stuffed(CONTENTS["one line"])).startswith(b"250")
    client.close()
    assert _spooled(config) == [b"", CONTENTS["one line"]]


def test_a_command_right_behind_the_dot_is_the_next_command(server, config):
    listener, _received = server
    client = Client(listener.port)
    client.envelope()
    client.sock.sendall(stuffed(CONTENTS["ends in a dot"]) + b"RSET\r\n")
    assert client.reply().startswith(b"250")  # the message
    assert client.reply().startswith(b"250")  # RSET, not a line of the message
    client.close()
    assert _spooled(config) == [CONTENTS["ends in a dot"]]


@pytest.mark.parametrize("pieces", [1, 13])
def test_a_line_too_long_gets_500_after_the_dot_and_nothing_is_kept(server, config, pieces):
    listener, received = server
    client = Client(listener.port)
    client.envelope()
    assert client.send(stuffed(HEAD + b"z" * 1000 + b"\r\nnoch eine Zeile.\r\n"), pieces).startswith(b"500")
    client.envelope()  # the session goes on
    assert client.send(stuffed(CONTENTS["dots"])).startswith(b"250")
    client.close()
    assert _spooled(config) == [CONTENTS["dots"]]
    assert len(received) == 1


def test_a_line_of_a_megabyte_without_an_end_is_refused_and_the_session_goes_on(server, config):
    listener, _received = server
    client = Client(listener.port)
    client.envelope()
    assert client.send(HEAD + b"w" * (1 << 20) + b"\r\n.\r\n", 64).startswith(b"500")
    client.envelope()
    assert client.send(stuffed(CONTENTS["one line"])).startswith(b"250")
    client.close()
    assert _spooled(config) == [CONTENTS["one line"]]


def test_too_much_data_gets_552_after_the_dot(config):
    small = with_inbound(config, max_message_size=5000)
    with listening(small, lambda entry: None) as listener:
        client = Client(listener.port)
        client.envelope()
        assert client.send(stuffed(CONTENTS["large"]), 9).startswith(b"552")
        client.envelope()
        assert client.send(stuffed(CONTENTS["one line"])).startswith(b"250")
        client.close()
    assert _spooled(config) == [CONTENTS["one line"]]


def test_a_line_end_split_between_packets_is_one_line_end(server, config):
    listener, _received = server
    client = Client(listener.port)
    client.envelope()
    wire = stuffed(HEAD + b"Punkt.\r\n.am Anfang\r\n")
    # Every byte a packet of its own, with a pause: each CR, LF and dot arrives alone.
    assert client.send(wire, len(wire), pause=0.0005).startswith(b"250")
    client.close()
    assert _spooled(config) == [HEAD + b"Punkt.\r\n.am Anfang\r\n"]
