"""`hub tasks list|done|drop`."""

from __future__ import annotations

from hub import tasks
from hub.cli.render import print_json, print_table
from hub.i18n import _


def state_label(state: str, overdue: bool = False) -> str:
    if overdue:
        return _("überfällig")
    return {"open": _("offen"), "done": _("erledigt"), "dropped": _("gestrichen")}.get(state, state)


def list_tasks(ctx, args) -> int:
    with ctx.session() as session:
        rows = tasks.listing(session, ctx.config, group=args.group, only_open=args.open, overdue=args.overdue)
    if args.json:
        print_json(rows)
        return 0
    print_table([{**r, "state": state_label(r["state"], r["overdue"]), "who": r["who_email"] or r["who"] or "–",
                  "due": r["due"] or "–"} for r in rows],
                {"id": "ID", "group": _("Gruppe"), "what": _("Aufgabe"), "who": _("Wer"), "due": _("Bis"),
                 "state": _("Stand")})
    return 0


def done(ctx, args) -> int:
    return _close(ctx, args.id, tasks.DONE, _("Aufgabe %(id)s ist erledigt."))


def drop(ctx, args) -> int:
    return _close(ctx, args.id, tasks.DROPPED, _("Aufgabe %(id)s ist gestrichen."))


def _close(ctx, task_id: int, state: str, message: str) -> int:
    with ctx.session() as session:
        tasks.close(session, ctx.config, task_id, state, by="cli")
    print(message % {"id": task_id})
    return 0
