"""The command line speaks one language (German by default, English with `language = "en"`), argparse's own
words included; the same mistake gives the same exit status in every command; a closed pipe ends quietly;
`hub --help` loads no database or web stack."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
from conftest import clock_env, hub_command

from hub.cli.args import outbox as outbox_args
from hub.cli.args import partners as partner_args
from hub.cli.args import users as user_args
from hub.models import OutboundMail, Role
from hub.outbound import outbox
from hub.outbound.outbox import Recipient


@pytest.fixture
def english(hub_dir):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('language = "de"', 'language = "en"'),
                    encoding="utf-8")


def test_help_is_german_by_default_argparse_words_included(hub):
    result = hub("--help")
    assert result.returncode == 0
    for words in ("Aufruf: hub", "Optionen:", "diese Hilfe zeigen und beenden", "BEFEHL", "Postausgang"):
        assert words in result.stdout
    for english in ("usage:", "options:", "show this help message", "positional arguments"):
        assert english not in result.stdout
    sub = hub("partners", "list", "--help").stdout
    assert "--group KÜRZEL" in sub and "nur Mitglieder dieser Gruppe" in sub


def test_german_without_a_readable_config(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "HUB_CONFIG"}, **clock_env()}
    result = subprocess.run([*hub_command(), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "Aufruf: hub" in result.stdout


@pytest.mark.parametrize(("args", "german"), [
    (["bogus"], "ungültige Wahl: 'bogus'"),
    (["protocols"], "diese Argumente fehlen: BEFEHL"),
    (["protocols", "list", "--limit", "x"], "'x' ist keine ganze Zahl"),
    (["outbox", "list", "--state", "lost"], "ungültige Wahl: 'lost'"),
    (["status", "--nonsense"], "unbekannte Argumente: --nonsense"),
])
def test_argparse_errors_are_german_one_line_exit_2(hub, args, german):
    result = hub(*args)
    assert result.returncode == 2
    assert german in result.stderr and "siehe `hub" in result.stderr
    assert result.stderr.count("\n") == 1 and "error:" not in result.stderr and "Traceback" not in result.stderr


def test_english_installation_speaks_english(hub, english):
    assert hub("init").returncode == 0
    help_text = hub("--help").stdout
    assert "usage: hub" in help_text and "show this help message and exit" in help_text
    assert "Aufruf" not in help_text
    missing = hub("protocols")
    assert missing.returncode == 2 and "the following arguments are required: COMMAND" in missing.stderr
    assert hub("outbox", "list").stdout.strip() == "(none)"
    unknown = hub("partners", "list", "--group", "nope")
    assert unknown.returncode == 2 and "unknown group 'nope'" in unknown.stderr
    status = hub("status").stdout
    assert "Alliance: Bündnis für Familie Musterhausen" in status and "Maildir outbox" in status


def test_german_output_and_weekday_names(hub):
    assert hub("init").returncode == 0
    assert hub("outbox", "list").stdout.strip() == "(keine)"
    added = hub("meetings", "add", "gesundheit", "12.03.2030 18:00")
    assert added.returncode == 0, added.stderr
    assert "Di 12.03.2030 18:00" in added.stdout
    listed = hub("meetings", "list").stdout
    shown = hub("meetings", "show", "1").stdout
    assert "Di 12.03.2030 18:00" in listed and "Di 12.03.2030 18:00" in shown
    assert "GRUPPE" in listed and "Tue" not in listed + shown


UNKNOWN_GROUP = [
    ["protocols", "list", "--group", "nope"],
    ["partners", "list", "--group", "nope"],
    ["partners", "add", "neu@example.org", "--group", "nope"],
    ["meetings", "add", "nope", "12.03.2030 18:00"],
    ["meetings", "list", "--group", "nope"],
    ["meetings", "edit", "1", "--group", "nope"],
    ["schedule", "policy", "show", "--group", "nope"],
    ["schedule", "policy", "set", "reminder_days", "3", "--group", "nope"],
]


def test_an_unknown_group_is_exit_2_in_every_command(hub):
    assert hub("init").returncode == 0
    for args in UNKNOWN_GROUP:
        result = hub(*args)
        expected = "hub: unbekannte Gruppe 'nope'; siehe `hub groups list`\n"
        assert (result.returncode, result.stderr) == (2, expected), args


@pytest.mark.parametrize("args", [
    ["protocols", "show", "999"], ["protocols", "release", "999"], ["outbox", "show", "999"],
    ["outbox", "cancel", "999"], ["newsletter", "approve", "999"], ["schedule", "run-now", "meeting:999"],
])
def test_a_missing_id_is_exit_2(hub, args):
    assert hub("init").returncode == 0
    result = hub(*args)
    assert result.returncode == 2 and "999" in result.stderr and "Traceback" not in result.stderr


def test_a_closed_pipe_ends_quietly(hub_dir, session, alliance):
    # More than a pipe's buffer, so the hub is still writing when `head` has gone.
    mail = OutboundMail(kind="newsletter", subject="Neuigkeiten " * 5, from_address="", text="Hallo",
                        source_ref="newsletter:1")
    outbox.enqueue(session, mail, [Recipient(f"partnerin-{i}@example.org") for i in range(3000)])
    session.commit()
    command = " ".join(shlex.quote(part) for part in hub_command())
    result = subprocess.run(f"{command} outbox list --limit 3000 | head -1; echo \"status ${{PIPESTATUS[0]}}\" >&2",
                            shell=True, executable="/bin/bash", cwd=hub_dir, capture_output=True, text=True,
                            env={**os.environ, **clock_env()}, timeout=120)
    assert result.stdout.startswith("ID")
    assert result.stderr.strip() in ("status 0", "status 141"), result.stderr


def test_help_imports_no_database_or_web_stack(hub_dir):
    probe = ("import sys; from hub.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)))")
    heavy = ["sqlalchemy", "sqlmodel", "starlette", "jinja2", "pydantic", "babel", "mjml", "argon2", "dateparser"]
    code = f"import json; HEAVY = {heavy!r}\n{probe}"
    result = subprocess.run([sys.executable, "-c", code], cwd=hub_dir, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_declared_choices_match_the_core():
    from hub import accounts

    assert outbox_args.STATES == outbox.STATES
    assert user_args.ROLES == accounts.ROLES
    assert partner_args.PARTNER_ROLES == tuple(r.value for r in Role)
