"""The tasks page: what the groups agreed on, overdue first, with "erledigt" and "streichen" buttons. It calls the
same functions as `hub tasks` (hub/tasks.py)."""

from __future__ import annotations

from starlette.responses import Response

from hub import alliance as alliance_module
from hub import tasks
from hub.errors import UsageError
from hub.i18n import _
from hub.web.core import Ctx, Web


def register(web: Web) -> None:
    web.page("/tasks", task_page)
    web.action("/tasks/{id:int}/done", done)
    web.action("/tasks/{id:int}/drop", drop)


def task_page(ctx: Ctx) -> Response:
    groups = alliance_module.groups(ctx.db, ctx.alliance)
    group = ctx.query("group", "") or None
    if group is not None and group not in {g.slug for g in groups}:
        group = None
    which = ctx.query("show", "open")
    rows = tasks.listing(ctx.db, ctx.config, group=group, only_open=which == "open", overdue=which == "overdue")
    return ctx.render("tasks.html", rows=rows, groups=groups, group=group, show=which)


def done(ctx: Ctx) -> Response:
    return _close(ctx, tasks.DONE, _("Aufgabe „%(what)s“ ist erledigt."))


def drop(ctx: Ctx) -> Response:
    return _close(ctx, tasks.DROPPED, _("Aufgabe „%(what)s“ ist gestrichen."))


def _close(ctx: Ctx, state: str, flash: str) -> Response:
    task_id = int(ctx.request.path_params["id"])
    open_ids = {t["id"] for t in tasks.listing(ctx.db, ctx.config, only_open=True)}
    if task_id not in open_ids:  # the core's refusal names a command; here the page says it in its own words
        raise UsageError(_("Diese Aufgabe ist nicht mehr offen."))
    task = tasks.close(ctx.db, ctx.config, task_id, state, by=ctx.actor.email)
    ctx.audit(f"task.{state}", f"task:{task_id}")
    return ctx.redirect("/tasks", flash=flash % {"what": task.what})
