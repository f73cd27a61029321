"""What a handler gets besides its arguments: the config (loaded on first use) and database sessions.

Imported by `main()` after parsing, so that `hub --help` and a mistyped call never load the database layer.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import config as config_module
from hub.config import Config
from hub.db import session_scope
from hub.errors import NotFound
from hub.i18n import _
from hub.models import Alliance, Group


class Context:
    def __init__(self, args: argparse.Namespace):
        self.args = args

    @cached_property
    def config(self) -> Config:
        return config_module.load(self.args.config)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.config.database_url) as session:
            yield session

    def alliance(self, session: Session) -> Alliance:
        return alliance_module.current(session, self.config)

    def group(self, session: Session, alliance: Alliance, slug: str) -> Group:
        """The active group with this slug; an unknown slug is a wrong call (exit 2) in every command."""
        found = session.exec(select(Group).where(Group.alliance_id == alliance.id, Group.slug == slug,
                                                 Group.active)).first()
        if found is None:
            raise unknown_group(slug)
        return found


def unknown_group(slug: str) -> NotFound:
    return NotFound(_("unbekannte Gruppe %(slug)r; siehe `hub groups list`") % {"slug": slug})
