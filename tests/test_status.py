"""`hub status` answers from the config file and the database's own driver (hub/status_store.py): the same
numbers as the storage layer's queries, on SQLite and PostgreSQL; and it falls back to the validating path,
with its clear errors, whenever that is not enough."""

from __future__ import annotations

import json

from test_ingest import WEISS, mail

from hub import alliance as alliance_module
from hub import filing, queries
from hub.cli import status as status_cli
from hub.locations import find_config_path, read_raw


def _file(config, raw: bytes, to: str = "protokolle@buendnis-musterhausen.example") -> str:
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=[to]).status


def test_the_quick_counts_are_the_storage_layers(hub, config, partners, session, hub_dir):
    assert _file(config, mail()) == "filed"
    assert _file(config, mail(message_id="<frage@example.org>", subject="Frage zum Familientag"),
                 to="geschaeftsstelle@buendnis-musterhausen.example") == "held"
    hub("partners", "leave", WEISS)  # left partners are not counted
    alliance = alliance_module.current(session, config)
    by_status = queries.message_counts(session, alliance.id)
    expected = {"partners": len(queries.partners(session, alliance.id)),
                "protocols_filed": by_status.get("filed", 0), "held_for_review": by_status.get("held", 0)}
    assert expected == {"partners": len(partners) - 1, "protocols_filed": 1, "held_for_review": 1}

    path = find_config_path(hub_dir / "config" / "hub.toml")
    quick = status_cli._quick(path, read_raw(path))
    assert quick is not None, "the quick path should read this installation"
    assert {k: quick[k] for k in expected} == expected
    shown = hub("status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert {k: json.loads(shown.stdout)[k] for k in expected} == expected


def test_a_missing_database_is_never_created_and_the_fix_is_named(hub, tmp_path):
    missing = tmp_path / "nirgends" / "hub.db"
    result = hub("status", env={"HUB_DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 2 and "hub init" in result.stderr
    assert not missing.exists()


def test_a_config_without_an_alliance_gets_the_config_error(hub, hub_dir):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[alliance]", "[verein]"), encoding="utf-8")
    result = hub("status")
    assert result.returncode == 2 and "alliance" in result.stderr, result.stderr


def test_ingest_queue_spools_even_when_the_rest_of_the_config_is_wrong(hub, hub_dir, config, partners):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[retention]\nraw_mail_days = 0\n", encoding="utf-8")
    result = hub("ingest", "--queue", "-", input=mail())
    assert result.returncode == 0, result.stderr
    assert len(list((config.data_dir / "spool" / "new").glob("*.eml"))) == 1
    assert hub("status").returncode == 0  # the quick status shows what it reads
    assert hub("partners", "list").returncode == 2  # every other command checks the whole file
