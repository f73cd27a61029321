"""What a handler gets besides its arguments: the config (loaded on first use) and database sessions.

Imported by `main()` after parsing, so that `hub --help` and a mistyped call never load the database layer;
the database layer itself loads on the first session (`hub ingest --queue` needs only the config).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from hub import config as config_module
from hub.config import Config

if TYPE_CHECKING:
    from sqlmodel import Session

    from hub.models import Alliance, Group


class Context:
    def __init__(self, args: argparse.Namespace):
        self.args = args

    @cached_property
    def config(self) -> Config:
        return config_module.load(self.args.config)

    @contextmanager
    def session(self) -> Iterator[Session]:
        from hub.db import session_scope  # lazy: the database layer (SQLAlchemy, the models) only when used

        with session_scope(self.config.database_url) as session:
            yield session

    def alliance(self, session: Session) -> Alliance:
        from hub import alliance  # lazy: see session()

        return alliance.current(session, self.config)

    def group(self, session: Session, alliance: Alliance, slug: str) -> Group:
        """The active group with this slug; an unknown slug is a wrong call (exit 2) in every command."""
        from hub import groups  # lazy: see session()

        return groups.require(session, alliance, slug)
