"""Which alliance a unit of work belongs to, and the filter that keeps it to that alliance.

Every row that belongs to an alliance is a `TenantRow` and carries `alliance_id`. A session is scoped to one
alliance by `scope()` (which `hub.alliance.current` does for every command, page and job): from then on every
ORM query, update and delete it runs sees only that alliance's rows, and every row it adds is stamped with that
alliance — or refused when it names another. The filter is added to the statements themselves, so a query
function cannot forget it. Only work that serves the whole installation (the outbox worker sending what every
alliance queued, the migrations) runs unscoped.
"""

from __future__ import annotations

import functools

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from hub.errors import HubError

_KEY = "alliance_id"


class TenantRow:
    """A table whose rows belong to one alliance (it has an `alliance_id` column)."""


class CrossAllianceWrite(HubError):
    """A row of one alliance was about to be written in a unit of work of another: a bug, never data."""


def scope(session: Session, alliance_id: int) -> None:
    """Keep this session to one alliance; scoping it to a second one is a bug (a unit of work is one alliance's)."""
    current = session.info.get(_KEY)
    if current is not None and current != alliance_id:
        raise CrossAllianceWrite(f"session of alliance {current} asked for alliance {alliance_id}")
    session.info[_KEY] = alliance_id


# `.execution_options(**ACROSS_ALLIANCES)` on a query of a scoped session: for what all alliances share, the
# archive's files and attachments stored once by content, whose last reference anywhere decides when they go.
ACROSS_ALLIANCES = {"hub_across_alliances": True}


def scoped_to(session: Session) -> int | None:
    return session.info.get(_KEY)


@event.listens_for(Session, "do_orm_execute")
def _only_this_alliance(state: ORMExecuteState) -> None:
    alliance_id = state.session.info.get(_KEY)
    if alliance_id is None or state.is_column_load or state.execution_options.get("hub_across_alliances"):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_criteria(alliance_id))


@functools.lru_cache(maxsize=64)
def _criteria(alliance_id: int) -> tuple:
    return tuple(with_loader_criteria(table, table.alliance_id == alliance_id, include_aliases=True)
                 for table in TenantRow.__subclasses__())


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context, _instances) -> None:
    alliance_id = session.info.get(_KEY)
    for row in session.dirty:
        if isinstance(row, TenantRow) and alliance_id is not None and row.alliance_id != alliance_id:
            raise CrossAllianceWrite(f"{type(row).__name__} moved to alliance {row.alliance_id} "
                                     f"in a session of alliance {alliance_id}")
    for row in session.new:
        if not isinstance(row, TenantRow):
            continue
        if row.alliance_id is None:
            if alliance_id is None:
                raise CrossAllianceWrite(f"{type(row).__name__} without an alliance in an unscoped session")
            row.alliance_id = alliance_id
        elif alliance_id is not None and row.alliance_id != alliance_id:
            raise CrossAllianceWrite(f"{type(row).__name__} of alliance {row.alliance_id} "
                                     f"written in a session of alliance {alliance_id}")
