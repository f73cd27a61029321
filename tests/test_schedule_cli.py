"""`hub meetings` and `hub schedule` as a coordinator calls them: readable output, refused bad edits, files.

The commands run in-process through `hub.cli.main` (the same parser, handlers and exit codes as the
console script, without a second of interpreter start per call); one call goes through the real
`hub` subprocess to prove the wiring.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import clock_env, hub_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hub(hub_in_process):
    return hub_in_process


def test_meetings_and_schedule_list(hub, hub_dir):
    real = subprocess.run([*hub_command(), "init"], cwd=hub_dir, capture_output=True,
                          text=True, env={**os.environ, **clock_env()})
    assert real.returncode == 0, real.stderr
    assert hub("partners", "import", "config/partners.example.csv").returncode == 0
    added = hub("meetings", "add", "gesundheit", "2030-03-12 18:00", "--location", "Rathaus", "--json")
    assert added.returncode == 0, added.stderr
    meeting = json.loads(added.stdout)
    assert meeting["start"] == "2030-03-12T18:00:00+01:00" and meeting["status"] == "confirmed"

    listed = hub("schedule", "list", "--json")
    sends = [s for s in json.loads(listed.stdout) if s["meeting"] == meeting["id"]]
    assert [(s["kind"], s["due"], s["recipients"]) for s in sends] == [
        ("invitation", "2030-02-26T09:00:00+01:00", 2),
        ("reminder", "2030-03-10T09:00:00+01:00", 2),
        ("protocol_due", "2030-03-19T09:00:00+01:00", 1),
        ("protocol_due", "2030-03-26T09:00:00+01:00", 1),
    ]
    table = hub("schedule", "list").stdout
    assert "Di 26.02.2030 09:00  invitation" in table and "Mitglieder AG Gesundheit" in table

    # A bad edit is one clear line and changes nothing.
    bad = hub("meetings", "edit", str(meeting["id"]), "--start", "2001-01-01 10:00")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "in der Vergangenheit" in bad.stderr
    assert hub("meetings", "add", "nope", "2030-01-01 10:00").stderr.startswith("hub: unbekannte Gruppe 'nope'")
    too_late = hub("schedule", "policy", "set", "reminder_days", "30")
    assert too_late.returncode == 2 and "die Erinnerung käme vor der Einladung" in too_late.stderr
    negative = hub("schedule", "policy", "set", "invitation_days", "-1", "--group", "gesundheit")
    assert negative.returncode == 2 and "nach dem Treffen" in negative.stderr
    shown = json.loads(hub("meetings", "show", str(meeting["id"]), "--json").stdout)
    assert shown["sequence"] == 0 and shown["invitees"] == 2

    assert hub("meetings", "edit", str(meeting["id"]), "--location", "Familienzentrum").returncode == 0
    assert hub("schedule", "policy", "set", "invitation_days", "21", "--group", "gesundheit").returncode == 0
    policy = {p["name"]: p for p in json.loads(hub("schedule", "policy", "show", "--group", "gesundheit",
                                                   "--json").stdout)}
    assert policy["invitation_days"]["value"] == "21" and policy["invitation_days"]["from"] == "group gesundheit"
    invitation = next(s for s in json.loads(hub("schedule", "list", "--json").stdout) if s["kind"] == "invitation")
    assert invitation["due"] == "2030-02-19T09:00:00+01:00"

    assert hub("schedule", "pause", f"meeting:{meeting['id']}").returncode == 0
    assert all(s["paused"] for s in json.loads(hub("schedule", "list", "--json").stdout)
               if s["meeting"] == meeting["id"])
    assert hub("schedule", "resume", f"meeting:{meeting['id']}").returncode == 0
    assert hub("meetings", "cancel", str(meeting["id"])).returncode == 0
    assert [s for s in json.loads(hub("schedule", "list", "--json").stdout) if s["meeting"]] == []
    ics = hub("meetings", "show", str(meeting["id"]), "--ics").stdout
    assert "METHOD:CANCEL" in ics and "SEQUENCE:2" in ics


def test_schedule_file_import_is_exact_idempotent_and_all_or_nothing(hub, hub_dir):
    shutil.copy(ROOT / "config" / "schedule.toml", hub_dir / "config" / "schedule.toml")
    assert hub("init").returncode == 0
    dry = json.loads(hub("schedule", "import", "--dry-run", "--json", "config/schedule.toml").stdout)
    assert dry["dry_run"] and len(dry["added"]) == 14 and dry["changed"] == dry["removed"] == []
    assert json.loads(hub("meetings", "list", "--json").stdout) == []  # the dry run changed nothing

    first = json.loads(hub("schedule", "import", "--json", "config/schedule.toml").stdout)
    assert "buendnistreffen-2027" in first["added"]
    again = json.loads(hub("schedule", "import", "--json", "config/schedule.toml").stdout)
    assert again["added"] == again["changed"] == again["removed"] == [] and len(again["unchanged"]) == 14

    text = (hub_dir / "config" / "schedule.toml").read_text(encoding="utf-8")
    moved = text.replace('start = "2027-02-09 18:00"', 'start = "2027-02-10 18:00"')
    start = moved.index("[[meeting]]\nkey = \"unternehmen-2027-03\"")
    end = moved.index("[[meeting]]", start + 5)
    edited = moved[:start] + moved[end:]
    (hub_dir / "edited.toml").write_text(edited, encoding="utf-8")
    report = json.loads(hub("schedule", "import", "--json", "edited.toml").stdout)
    assert report["changed"] == ["gesundheit-2027-02"] and report["removed"] == ["unternehmen-2027-03"]
    meetings = {m["key"]: m for m in json.loads(hub("meetings", "list", "--all", "--json").stdout)}
    assert meetings["gesundheit-2027-02"]["sequence"] == 1
    assert meetings["gesundheit-2027-02"]["start"] == "2027-02-10T18:00:00+01:00"
    assert meetings["unternehmen-2027-03"]["status"] == "cancelled"

    # One bad entry refuses the whole file: the good new meeting before it is not added either.
    broken = edited + '\n[[meeting]]\nkey = "neu"\ngroup = "gesundheit"\nstart = "2031-01-01 18:00"\n' \
        '\n[[meeting]]\nkey = "kaputt"\ngroup = "gibtsnicht"\nstart = "2031-01-01 18:00"\n'
    (hub_dir / "broken.toml").write_text(broken, encoding="utf-8")
    refused = hub("schedule", "import", "broken.toml")
    assert refused.returncode == 2 and "unbekannte Gruppe 'gibtsnicht'" in refused.stderr
    keys = {m["key"] for m in json.loads(hub("meetings", "list", "--all", "--json").stdout)}
    assert "neu" not in keys and "unternehmen-2027-03" in keys

    exported = hub("schedule", "export").stdout
    (hub_dir / "exported.toml").write_text(exported, encoding="utf-8")
    round_trip = json.loads(hub("schedule", "import", "--json", "exported.toml").stdout)
    assert round_trip["added"] == round_trip["changed"] == round_trip["removed"] == []
