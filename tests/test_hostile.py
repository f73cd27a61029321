"""Hostile mail never stops filing: every message of tests/hostile_mail.py (document bombs attached to a
protocol, 2,000-deep nesting, broken charsets, non-ASCII tokens and envelopes, 8-bit headers, NUL bytes,
5,000 parts, 20,000 headers, no blank line after the headers) goes through the real filing path, is stored
once with the sender and subject it was sent with, leaves the spool empty, and the protocol after it is filed.

A fault forced in each step (hub/failpoints.py) while filing a hostile message puts that one into
quarantine and the next is filed; tests/test_quarantine.py does the same with ordinary protocols.
The wall limit of reading a document is 2 s here instead of 10 (the limits themselves: tests/test_sandbox.py).
"""

from __future__ import annotations

import hashlib

import hostile_documents
import hostile_mail
import pytest
from sqlmodel import select

from hub import config as config_module
from hub import filing, steps
from hub.addresses import normalise_address
from hub.failpoints import armed
from hub.inbound import spool
from hub.models import InboundMessage

STORED = {"filed", "held", "recorded", "quarantined"}


@pytest.fixture
def quick_config(hub_dir, partners) -> config_module.Config:
    """The example installation with a 2 s wall limit per document (a bomb costs the limit at most)."""
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[extraction]\nseconds = 2\n", encoding="utf-8")
    return config_module.load(path)


def rows(session) -> list[InboundMessage]:
    session.expire_all()
    return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def ingest(config, message: hostile_mail.Hostile) -> filing.IngestResult:
    return filing.ingest_bytes(config, message.raw, via="smtp", envelope_from=message.envelope_from,
                               envelope_to=message.envelope_to)


def file_normal(config, n: int) -> filing.IngestResult:
    return filing.ingest_bytes(config, hostile_mail.normal_protocol(n), via="smtp",
                               envelope_from=hostile_mail.SENDER, envelope_to=[hostile_mail.PROTOCOLS])


@pytest.mark.parametrize("name", hostile_mail.names())
def test_a_hostile_message_is_stored_with_its_headers_and_the_next_protocol_is_filed(session, quick_config, name):
    message = hostile_mail.message(name)
    result = ingest(quick_config, message)
    assert result.status in STORED
    assert spool.pending(quick_config.data_dir) == []
    assert file_normal(quick_config, 1).status == "filed"
    assert spool.pending(quick_config.data_dir) == []
    hostile, normal = rows(session)
    assert hostile.status in STORED  # the follow-up after filing may still have put it into quarantine
    assert (quick_config.data_dir / hostile.raw_path).read_bytes() == message.raw  # kept as it came
    if message.sender is not None:  # in the one normal form of addresses (IDNA domain)
        assert hostile.sender == normalise_address(message.sender)
    if message.subject is not None:
        assert hostile.subject == message.subject
    assert len(hostile.message_id) <= 500  # an index entry of PostgreSQL holds 2,704 bytes
    assert (normal.status, normal.sender, normal.subject) == (
        "filed", hostile_mail.SENDER, hostile_mail.subject_of("normal-1"))


def test_a_hostile_document_is_filed_without_its_text_and_the_file_kept(session, quick_config):
    data = hostile_documents.docx_bomb_10000()
    result = ingest(quick_config, hostile_mail.message("doc_docx_bomb_10000"))
    assert result.status == "filed"
    [attachment] = result.data["attachments"]
    assert (attachment["filename"], attachment["size"], attachment["text_chars"]) == ("protokoll.docx", len(data), 0)
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    [message] = rows(session)
    assert "Nächstes Treffen" in message.text and message.next_meeting_start.startswith("2026-04-21")


def test_control_characters_in_a_protocol_do_not_keep_it_from_its_relay(session, quick_config):
    """A form feed or a record separator in the text (an old mailer's, or a broken base64 part's) is no reason
    to quarantine a protocol: its receipt and relay are made like any other's."""
    for name in ("control_characters", "part_bad_transfer_encoding"):
        assert ingest(quick_config, hostile_mail.message(name)).status == "filed"
    assert [(m.status, m.error_stage) for m in rows(session)] == [("filed", None)] * 2


# A fault in each step while a hostile message is filed: the message most likely to reach that step oddly.
FAULTS = [
    (steps.PARSE, "nested_2000"),
    (steps.CLASSIFY, "non_ascii_everywhere"),
    (steps.ROUTE, "envelope_non_ascii"),
    (steps.EXTRACT, "many_parts_5000"),
    (steps.STORE, "message_id_5000_non_ascii"),
    (steps.ATTACHMENTS, "doc_odt_bomb_10000"),
    (steps.FOLLOW_UP, "headers_raw_latin1"),
]


@pytest.mark.parametrize(("step", "name"), FAULTS, ids=[step for step, _ in FAULTS])
def test_a_fault_while_filing_a_hostile_message_quarantines_it_and_the_next_is_filed(session, quick_config,
                                                                                    step, name):
    message = hostile_mail.message(name)
    with armed(f"raise:{step}"):
        ingest(quick_config, message)
    assert file_normal(quick_config, 2).status == "filed"
    assert spool.pending(quick_config.data_dir) == []
    bad, good = rows(session)
    assert (bad.status, bad.error_stage) == ("quarantined", step)
    assert bad.error == f"InjectedFault: fault injected at {step}"
    assert (quick_config.data_dir / bad.raw_path).read_bytes() == message.raw
    if step != steps.PARSE:
        assert (bad.sender, bad.subject) == (normalise_address(message.sender), message.subject)
    assert good.status == "filed" and good.followed_up_at is not None


def test_the_whole_set_is_built_quickly_and_differs_by_name():
    names = hostile_mail.names()
    assert len(names) == len(set(names)) >= 25
    raws = [m.raw for m in hostile_mail.mail_messages()]
    assert len(set(raws)) == len(raws)
    assert hostile_mail.normal_protocol(1) != hostile_mail.normal_protocol(2)
