"""What a handler gets besides its arguments: the config (loaded on first use) and database sessions.

Imported by `main()` after parsing, so that `hub --help` and a mistyped call never load the database layer;
the database layer itself loads on the first session (`hub ingest --queue` needs only the config).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import UsageError
from hub.i18n import _, lazy

if TYPE_CHECKING:
    from sqlmodel import Session

    from hub.config import Config
    from hub.models import Alliance, Group


NOT_SET_UP = lazy("Die Datenbank ist nicht eingerichtet oder stammt von einer älteren Version des Hubs: führen Sie "
               "bitte `hub init` aus (das legt sie an oder bringt sie auf den neuesten Stand).")


class Context:
    def __init__(self, args: argparse.Namespace):
        self.args = args

    @cached_property
    def config(self) -> Config:
        from hub import config  # lazy: the validating model (pydantic) only for commands that need it

        return config.load(self.args.config, getattr(self.args, "alliance", None))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work of the config's alliance: it sees and writes only that alliance's rows."""
        from hub.db import session_scope  # lazy: the database layer (SQLAlchemy, the models) only when used

        url = self.config.database_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise UsageError(_(NOT_SET_UP))  # connecting would leave an empty file where the hub's database belongs
        with session_scope(url) as session:
            self.alliance(session)  # scopes the session to the config's alliance (hub.tenancy)
            yield session

    @cached_property
    def installation(self) -> Config:
        """For what belongs to the whole installation of many alliances, not to one (the provider's accounts): the
        config of its first alliance, whose machine's sections (storage) all share; `--alliance` plays no part."""
        from hub import config  # lazy: see config

        first = config.load_all(self.args.config)[0]
        if first.alliance_file is None:
            raise UsageError(_("diese Installation hat ein einziges Bündnis und keine technische Betreuung; ihre "
                               "Zugänge legen Sie mit `hub users add` an"))
        return first

    @contextmanager
    def installation_session(self) -> Iterator[Session]:
        """A unit of work of the whole installation, of no alliance (see `installation`)."""
        import sqlalchemy as sa

        from hub.db import session_scope  # lazy: see session()

        url = self.installation.database_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise UsageError(_(NOT_SET_UP))
        try:
            with session_scope(url) as session:
                yield session
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            if not _schema_missing(exc):
                raise
            raise UsageError(_(NOT_SET_UP)) from None

    def alliance(self, session: Session) -> Alliance:
        """The alliance of the config. Every command that reads the database asks this first, so a database
        that `hub init` has not set up (or not for this version of the hub) is told here, in one clear line."""
        import sqlalchemy as sa

        from hub import alliance  # lazy: see session()

        try:
            return alliance.current(session, self.config)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            if not _schema_missing(exc):
                raise
            raise UsageError(_(NOT_SET_UP)) from None

    def group(self, session: Session, alliance: Alliance, slug: str) -> Group:
        """The active group with this slug; an unknown slug is a wrong call (exit 2) in every command."""
        from hub import groups  # lazy: see session()

        return groups.require(session, alliance, slug)


def _schema_missing(exc: Exception) -> bool:
    """A table or column the hub needs is not there: SQLite's and PostgreSQL's words for it."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(words in text for words in ("no such table", "no such column", "does not exist"))
