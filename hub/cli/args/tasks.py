"""`hub tasks …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    tasks = group(sub, "tasks", _("Aufgaben aus den Protokollen: wer übernimmt was bis wann"))
    p = command(tasks, "list", "tasks:list_tasks", _("Aufgaben auflisten, die fälligen zuerst"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur diese Gruppe"))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help=_("nur offene Aufgaben"))
    which.add_argument("--overdue", action="store_true", help=_("nur offene Aufgaben, deren Frist vorbei ist"))
    json_flag(p)
    p = command(tasks, "done", "tasks:done", _("eine Aufgabe als erledigt markieren"))
    p.add_argument("id", type=int, metavar="ID")
    p = command(tasks, "drop", "tasks:drop", _("eine Aufgabe streichen (wird nicht mehr verfolgt)"))
    p.add_argument("id", type=int, metavar="ID")
