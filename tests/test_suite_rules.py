"""The rules the suite keeps so that it passes on any day, in any clone: a fixed clock, no files beside the
repository except the public corpus."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import conftest
from conftest import CLOCK, CORPUS, ROOT, clock_env, hub_command, outside_repository, watched_beside


def test_the_session_runs_on_the_test_clock_not_today():
    assert abs(datetime.now(UTC) - CLOCK) < timedelta(hours=3)


def test_hub_subprocesses_get_the_same_clock():
    """tests/hub_at.py sets the clock of every `hub` process a test starts, and the processes it forks (`hub serve`'s
    filing and outbox processes) keep it: set it that way, fork, and read the clock in the child."""
    probe = subprocess.run(
        [sys.executable, "-c",
         f"import runpy; hub_at = runpy.run_path({hub_command()[1]!r}, run_name='hub_at'); "
         "hub_at['_travel']().start(); "
         "import datetime, multiprocessing; context = multiprocessing.get_context('fork'); queue = context.Queue(); "
         "child = context.Process(target=lambda: queue.put(datetime.datetime.now(datetime.UTC).isoformat())); "
         "child.start(); print(queue.get(timeout=30)); child.join()"],
        capture_output=True, text=True, env={**os.environ, **clock_env()}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert abs(datetime.fromisoformat(probe.stdout.strip()) - datetime.now(UTC)) < timedelta(minutes=5)


def test_files_beside_the_repository_are_caught():
    beside = ROOT.parent / "shared" / "DESIGN.md"
    if watched_beside():
        assert outside_repository(beside)
        assert outside_repository(str(ROOT / ".." / "elsewhere.txt"))
    assert not outside_repository(ROOT / "README.md")
    assert not outside_repository(CORPUS / "MANIFEST.tsv")
    assert not outside_repository(Path(tempfile.gettempdir()) / "x")
    assert not outside_repository(sys.executable)
    conftest._audit("open", (str(ROOT / "README.md"), "r", 0))
    assert conftest.READ_OUTSIDE == []
    if watched_beside():
        conftest._audit("open", (str(beside), "r", 0))
        assert conftest.READ_OUTSIDE == [str(beside)]
        conftest.READ_OUTSIDE.clear()


def test_no_test_names_a_path_beside_the_repository():
    """Only conftest.py may name the parent folder (for the corpus); everything else uses fixtures."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        text = path.read_text(encoding="utf-8")
        if "ROOT.parent" in text or re.search(r"[\"'](\.\./|/work/)", text):
            offenders.append(path.name)
    assert offenders == []
