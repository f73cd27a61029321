"""Store: which rows of the database are one alliance's, and copying them, ids kept, into another database
(`hub alliances export`, hub/alliance_export.py).

The tables are found from the models' foreign keys, not listed by hand, so that a table added later is
exported without anyone remembering this module: the alliance's own row; every table with a key to it (the
`TenantRow`s, hub/tenancy.py); every table whose rows hang off those (a membership, a consent, an answer to an
invitation) — its rows that point at one of the alliance's; and what alliances share, stored once by content
(an attachment's blob) — the rows the alliance's rows name. The installation's own rows, of no alliance (the
provider's accounts), stay behind. A table that fits none of these stops the export: its rows could not be
placed, and leaving them out silently would lose data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from hub.db import engine_for
from hub.models import Alliance, Blob, Delivery, InboundMessage, OutboundMail, ProviderAccount

ROOT = Alliance.__table__
BATCH = 1000
# Columns that name a file under the data dir, relative to it: the files go where their rows go.
FILE_COLUMNS = (InboundMessage.__table__.c.raw_path, Blob.__table__.c.path)
# The installation's, not any alliance's: a provider runs the installation the alliance leaves.
INSTALLATION = (ProviderAccount.__table__,)


@dataclass
class Copied:
    rows: dict[str, int] = field(default_factory=dict)  # by table, every table of the schema (0 for none)
    files: set[str] = field(default_factory=set)  # relative to the data dir
    deliveries: set[int] = field(default_factory=set)  # their Maildir outbox files go too


class Unplaced(RuntimeError):
    """A table of the schema that belongs to no alliance and that no alliance's row names: a bug of the models."""


def criteria(alliance_id: int) -> dict[sa.Table, sa.ColumnElement[bool]]:
    """For every table hanging off the alliance, the condition its rows of this alliance meet, in foreign-key
    order (a parent before its children)."""
    found: dict[sa.Table, sa.ColumnElement[bool]] = {ROOT: ROOT.c.id == alliance_id}
    for table in SQLModel.metadata.sorted_tables:
        if table is ROOT:
            continue
        own = [key.parent for key in table.foreign_keys if key.column.table is ROOT]
        if own:  # a TenantRow: its alliance_id says it
            found[table] = sa.or_(*(column == alliance_id for column in own))
            continue
        # Rows hanging off the alliance's (a membership of its partner): sorted_tables puts the parents first.
        parents = [key for key in table.foreign_keys if key.column.table in found and key.column.table is not table]
        if parents:
            found[table] = sa.or_(*(key.parent.in_(sa.select(key.column).where(found[key.column.table]))
                                    for key in parents))
    return found


def shared_keys(connection: Connection, table: sa.Table, found: dict[sa.Table, sa.ColumnElement[bool]]) -> set:
    """The keys of the rows of a shared table (one no alliance owns) that the alliance's rows name."""
    references = [(child, key) for child in found for key in child.foreign_keys if key.column.table is table]
    if not references or len(table.primary_key.columns) != 1:
        raise Unplaced(f"{table.name}: belongs to no alliance and no alliance's row names it")
    keys: set = set()
    for child, key in references:
        keys.update(connection.execute(sa.select(key.parent).distinct().where(found[child], key.parent.is_not(None)))
                    .scalars())
    if table is Blob.__table__:
        # A sent mail names the blobs it carries in a JSON list, which no foreign key sees (a relay with attachments
        # whose protocol's own attachments retention has taken already).
        for attachments in connection.execute(sa.select(OutboundMail.__table__.c.attachments)
                                              .where(found[OutboundMail.__table__])).scalars():
            keys.update(item["blob"] for item in attachments or [] if isinstance(item, dict) and item.get("blob"))
    return keys


def _rows(connection: Connection, table: sa.Table, condition: sa.ColumnElement[bool] | None,
          keys: set) -> Iterator[list[dict]]:
    if condition is not None:
        result = connection.execution_options(yield_per=BATCH).execute(
            sa.select(table).where(condition).order_by(*table.primary_key.columns))
        for part in result.partitions():
            yield [dict(row._mapping) for row in part]
        return
    [key] = table.primary_key.columns
    wanted = sorted(keys)
    for start in range(0, len(wanted), BATCH):
        yield [dict(row._mapping) for row in connection.execute(
            sa.select(table).where(key.in_(wanted[start:start + BATCH])).order_by(key))]


def copy(source_url: str, target_url: str, alliance_id: int) -> Copied:
    """Insert every row of the alliance from the source database into the target (migrated, empty), parents
    first, in one transaction: a failed export leaves no half of an alliance behind."""
    found = criteria(alliance_id)
    copied = Copied()
    reading = {"hub_read_only": True}  # SQLite: no write lock on the source (hub.db)
    if source_url.startswith("postgresql"):
        reading["isolation_level"] = "REPEATABLE READ"  # every table read from the same snapshot
    with engine_for(source_url).connect().execution_options(**reading) as source, \
            engine_for(target_url).begin() as target:
        with source.begin():
            # Every table placed before the first row is written (hub.export_store.Unplaced).
            shared = {table: shared_keys(source, table, found)
                      for table in SQLModel.metadata.sorted_tables if table not in found and table not in INSTALLATION}
            for table in SQLModel.metadata.sorted_tables:
                count = 0
                for rows in _rows(source, table, found.get(table), shared.get(table, set())):
                    target.execute(table.insert(), rows)
                    count += len(rows)
                    for column in FILE_COLUMNS:
                        if column.table is table:
                            copied.files.update(row[column.name] for row in rows if row[column.name])
                    if table is Delivery.__table__:
                        copied.deliveries.update(row["id"] for row in rows)
                copied.rows[table.name] = count
        if target.dialect.name == "postgresql":
            reset_sequences(target)
    return copied


def reset_sequences(connection: Connection) -> None:
    """Rows came with their ids: each id sequence must go on after the highest, or the next insert collides."""
    quote = connection.dialect.identifier_preparer.quote
    for table in SQLModel.metadata.sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or not isinstance(columns[0].type, sa.Integer) or columns[0].foreign_keys:
            continue
        name, column = quote(table.name), quote(columns[0].name)
        connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', '{columns[0].name}'), "
                                   f"COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {name}")


def table_names(url: str) -> list[str]:
    """The tables a database has already (an export's target must have none)."""
    with engine_for(url).connect() as connection:
        return sorted(sa.inspect(connection).get_table_names())
