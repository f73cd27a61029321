"""The filing process prepares, right after it starts, what its first batch would otherwise wait for."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from hub import filing
from hub.inbound import authentication


def _rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("alliance", "inboundmessage", "partner", "work_group")}
    finally:
        engine.dispose()


def test_warm_up_reads_the_suffix_list_ahead_and_writes_nothing(config, partners):
    before = _rows(config.database_url)
    authentication._suffixes.cache_clear()
    sender_checked = config.model_copy(update={"inbound": config.inbound.model_copy(update={"sender_check": "dmarc"})})

    filing.warm_up(sender_checked)

    assert authentication._suffixes.cache_info().currsize == 1
    assert _rows(config.database_url) == before


def test_warm_up_with_the_database_gone_only_warns(config, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path}/missing/hub.db")

    with caplog.at_level(logging.WARNING, logger="hub"):
        filing.warm_up(config)

    assert "could not prepare filing ahead" in caplog.text
