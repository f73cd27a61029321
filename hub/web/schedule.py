"""The schedule: meetings and every planned send, on a timeline (wired to `hub.scheduler`)."""

from __future__ import annotations

from sqlmodel import select
from starlette.responses import Response

from hub.db import utcnow
from hub.models import Group, Meeting
from hub.web.core import Ctx, Web


def register(web: Web) -> None:
    web.page("/schedule", schedule_page)


def upcoming_sends(ctx: Ctx, limit: int = 20) -> list[dict]:
    """The next planned sends: what, when, to how many."""
    return []


def schedule_page(ctx: Ctx) -> Response:
    meetings = ctx.db.exec(select(Meeting, Group).join(Group).where(
        Meeting.alliance_id == ctx.alliance.id, Meeting.start >= utcnow()).order_by(Meeting.start)).all()
    return ctx.render("schedule.html", meetings=meetings, sends=upcoming_sends(ctx))
