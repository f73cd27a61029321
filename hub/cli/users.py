"""`hub users …`: accounts of the web admin (coordinators change things, viewers only look)."""

from __future__ import annotations

import getpass
import sys

from hub import accounts
from hub.cli import command, group, print_json, print_table
from hub.errors import UsageError


def register(sub) -> None:
    users = group(sub, "users", "web admin accounts: add, list, remove")

    p = command(users, "add", add, "add an account; the password is asked for (or read with --password-stdin)")
    p.add_argument("email")
    p.add_argument("--role", choices=accounts.ROLES, required=True,
                   help="coordinator: may change everything; viewer: may only look")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    p = command(users, "list", list_users, "list the accounts")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(users, "remove", remove, "remove an account; its sessions end at once")
    p.add_argument("email")


def add(ctx, args) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise UsageError("the passwords differ; nothing was changed")
    else:
        raise UsageError("no terminal to ask for the password; pass --password-stdin and pipe it in")
    with ctx.session() as session:
        user = accounts.add_user(session, args.email, password, args.role)
        accounts.audit(session, "cli", "user.add", f"user:{user.email}", {"role": user.role})
    print(f"{user.email}: account added ({user.role})")
    return 0


def list_users(ctx, args) -> int:
    with ctx.session() as session:
        rows = [
            {"email": u.email, "role": u.role, "created": u.created_at.isoformat(timespec="seconds"),
             "last_login": u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else None}
            for u in accounts.list_users(session)
        ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["email", "role", "created", "last_login"])
    return 0


def remove(ctx, args) -> int:
    with ctx.session() as session:
        accounts.remove_user(session, args.email)
        accounts.audit(session, "cli", "user.remove", f"user:{args.email.strip().lower()}")
    print(f"{args.email}: account removed")
    return 0
