"""Alembic environment: the hub's models are the target; the URL comes from hub.db.alembic_config."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _include_object(obj, name, type_, reflected, compare_to) -> bool:
    # APScheduler creates and owns its job tables (hub/scheduler/runner.py), migration 0010 the full-text index
    # (SQLite's FTS5 table and its shadow tables, PostgreSQL's generated column): autogenerate must not drop them.
    if type_ == "table" and (name.startswith("apscheduler_jobs") or name.startswith("protocol_fts")):
        return False
    return not (type_ == "column" and name == "search_vector")


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
