"""A database that `hub init` has not set up, or set up by an older hub, is told in one line with the fix."""

from __future__ import annotations

import sqlite3

from alembic import command

from hub.db import alembic_config


def test_a_database_never_set_up_asks_for_hub_init(hub, tmp_path):
    empty = tmp_path / "leer.db"
    result = hub("status", env={"HUB_DATABASE_URL": f"sqlite:///{empty}"})
    assert result.returncode == 2, result.stderr
    assert "hub init" in result.stderr and "unerwarteter Fehler" not in result.stderr


def test_a_database_of_an_older_hub_asks_for_hub_init_and_init_brings_it_up_to_date(hub, tmp_path):
    older = tmp_path / "alt.db"
    command.upgrade(alembic_config(f"sqlite:///{older}"), "0008")  # as the hub before alliance.created_at left it
    with sqlite3.connect(older) as connection:
        connection.execute("INSERT INTO alliance (domain, name, timezone, language) VALUES (?, ?, ?, ?)",
                           ("buendnis-musterhausen.example", "Bündnis für Familie Musterhausen", "Europe/Berlin", "de"))
    env = {"HUB_DATABASE_URL": f"sqlite:///{older}"}
    result = hub("partners", "list", env=env)
    assert result.returncode == 2 and "hub init" in result.stderr, result.stderr
    assert hub("init", env=env).returncode == 0
    assert hub("partners", "list", env=env).returncode == 0
