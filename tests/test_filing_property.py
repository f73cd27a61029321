"""The whole filing path never raises and never blocks the spool, whatever bytes arrive: arbitrary bytes,
and the sample mails (and the public corpus, when it is beside the repository) with bytes spliced in and out.

Each example goes through `filing.ingest_bytes` as the listener's mail does (spool → parse → classify → route
→ extract → store → follow-up) on the test database, which keeps every row of the examples before it, as a
real hub would."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import CORPUS_SAMPLE, REAL, edits, spliced
from sqlmodel import select

from hub import filing
from hub.alliance import unit_of_work
from hub.inbound import spool
from hub.inbound.sandbox import ExtractionLimits, Sandbox
from hub.models import InboundMessage

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
STORED = {"filed", "held", "recorded", "quarantined", "duplicate"}
# Function-scoped fixtures are set up once for all examples: that is the point (one hub, many messages).
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(ExtractionLimits(memory_mb=256, seconds=5)) as box:
        yield box


def file_one(config, sandbox, raw: bytes) -> None:
    result = filing.ingest_bytes(config, raw, via="smtp", envelope_from="absender@example.org",
                                 envelope_to=[PROTOCOLS], read_document=sandbox.read)
    assert result.status in STORED
    assert spool.pending(config.data_dir) == []
    with unit_of_work(config) as session:
        row = session.exec(select(InboundMessage).where(InboundMessage.id == result.data["id"])).one()
        assert (config.data_dir / row.raw_path).is_file()


@PROPERTY
@given(raw=st.binary(max_size=3000))
def test_filing_arbitrary_bytes_never_raises_nor_blocks_the_spool(config, partners, sandbox, raw):
    file_one(config, sandbox, raw)


@PROPERTY
@given(raw=st.sampled_from(REAL + CORPUS_SAMPLE), changes=edits)
def test_filing_mutated_real_mail_never_raises_nor_blocks_the_spool(config, partners, sandbox, raw, changes):
    file_one(config, sandbox, spliced(raw, changes))
