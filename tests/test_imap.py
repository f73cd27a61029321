"""The IMAP poller against a real Dovecot: spool first, then \\Seen and move; never the same mail twice."""

from __future__ import annotations

import json

import pytest
from servers import dovecot, dovecot_without_move  # noqa: F401  (fixtures)

from hub.config import Imap
from hub.errors import HubError
from hub.inbound import imap, spool

PASSWORD_ENV = "HUB_TEST_IMAP_PASSWORD"


def protocol_mail(number: int) -> bytes:
    return (
        "From: =?utf-8?q?J=C3=BCrgen_Wei=C3=9F?= <j.weiss@gesundheitsamt-musterhausen.example>\r\n"
        "To: protokolle@buendnis-musterhausen.example\r\n"
        f"Subject: Ergebnisprotokoll AG Gesundheit Nr. {number} – Größe\r\n"
        f"Message-ID: <imap-{number}@gesundheitsamt-musterhausen.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Nächstes Treffen: {number}. Mai 2026, 18 Uhr, Familienzentrum Regenbogen\r\n"
    ).encode()


@pytest.fixture
def imap_config(config, monkeypatch):
    def make(server, processed: str | None = "Verarbeitet"):
        monkeypatch.setenv(PASSWORD_ENV, "geheim-im-test")
        user = server.new_user()
        settings = Imap(host="127.0.0.1", port=server.port, tls="none", user=user, password_env=PASSWORD_ENV,
                        processed_folder=processed, poll_interval=1)
        return config.model_copy(update={"imap": settings}), user

    return make


def seed(server, user: str, mails: list[bytes], flags=()) -> None:
    with server.client(user) as client:
        for raw in mails:
            client.append("INBOX", raw, flags=flags)


def test_poll_spools_then_marks_and_moves(dovecot, imap_config):  # noqa: F811
    config, user = imap_config(dovecot)
    mails = [protocol_mail(n) for n in range(1, 4)]
    seed(dovecot, user, mails)
    received = []
    assert imap.poll_once(config, received.append) == 3
    assert sorted(e.path.read_bytes() for e in received) == sorted(mails)
    assert [e.path for e in spool.pending(config.data_dir)] == [e.path for e in received]
    assert {e.via for e in received} == {"imap"}
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        assert client.search(["ALL"]) == []
        client.select_folder("Verarbeitet")
        moved = client.fetch(client.search(["ALL"]), ["FLAGS", "BODY.PEEK[]"])
    assert sorted(m[b"BODY[]"] for m in moved.values()) == sorted(mails)
    assert all(b"\\Seen" in m[b"FLAGS"] for m in moved.values())
    assert imap.poll_once(config, received.append) == 0
    assert len(received) == 3


def test_seen_mail_is_left_alone(dovecot, imap_config):  # noqa: F811
    config, user = imap_config(dovecot)
    seed(dovecot, user, [protocol_mail(1)], flags=[b"\\Seen"])
    seed(dovecot, user, [protocol_mail(2)])
    received = []
    assert imap.poll_once(config, received.append) == 1
    assert b"Nr. 2" in received[0].path.read_bytes()


def test_without_processed_folder_the_mail_stays_and_is_seen(dovecot, imap_config):  # noqa: F811
    config, user = imap_config(dovecot, processed=None)
    seed(dovecot, user, [protocol_mail(1)])
    received = []
    assert imap.poll_once(config, received.append) == 1
    assert imap.poll_once(config, received.append) == 0
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        [uid] = client.search(["SEEN"])
        assert client.search(["UNSEEN"]) == []


def test_a_failure_after_the_spool_write_does_not_spool_twice(dovecot, imap_config):  # noqa: F811
    """The hub dies between spooling and flagging: the next poll only flags and moves."""
    config, user = imap_config(dovecot)
    seed(dovecot, user, [protocol_mail(1)])

    def dies(entry):
        raise RuntimeError("the process would have died here")

    with pytest.raises(RuntimeError):
        imap.poll_once(config, dies)
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        assert len(client.search(["UNSEEN"])) == 1  # not yet marked
    assert len(spool.pending(config.data_dir)) == 1
    received = []
    assert imap.poll_once(config, received.append) == 0
    assert len(spool.pending(config.data_dir)) == 1
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        assert client.search(["ALL"]) == []
        client.select_folder("Verarbeitet")
        assert len(client.search(["SEEN"])) == 1
    state = json.loads((config.data_dir / "spool" / "imap-state.json").read_text())
    assert [v["spooled"] for v in state.values()] == [[]]


def test_a_new_uidvalidity_forgets_old_uids(dovecot, imap_config):  # noqa: F811
    config, user = imap_config(dovecot)
    state = imap._State.load(config.data_dir, config.imap, uidvalidity=1)
    state.add(1)
    assert imap._State.load(config.data_dir, config.imap, uidvalidity=1).spooled == {1}
    assert imap._State.load(config.data_dir, config.imap, uidvalidity=2).spooled == set()


def test_server_without_move_gets_copy_and_expunge(dovecot_without_move, imap_config):  # noqa: F811
    config, user = imap_config(dovecot_without_move)
    seed(dovecot_without_move, user, [protocol_mail(1), protocol_mail(2)])
    with dovecot_without_move.client(user) as client:
        assert not client.has_capability("MOVE")
    received = []
    assert imap.poll_once(config, received.append) == 2
    with dovecot_without_move.client(user) as client:
        client.select_folder("INBOX")
        assert client.search(["ALL"]) == []
        client.select_folder("Verarbeitet")
        assert len(client.search(["SEEN"])) == 2
    assert imap.poll_once(config, received.append) == 0


def test_missing_password_is_a_clear_error(dovecot, imap_config, monkeypatch):  # noqa: F811
    config, _ = imap_config(dovecot)
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(HubError, match=PASSWORD_ENV):
        imap.poll_once(config, lambda entry: None)
