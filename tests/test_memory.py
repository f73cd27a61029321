"""A process of `hub serve` that falls idle after a burst gives the memory it grew to back to the system."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from hub import memory

BURST = textwrap.dedent("""
    import os
    from hub import memory

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    kept, mails = [], []
    for i in range(60000):  # a burst: 120 MB of mail bodies, a few things kept between them
        mails.append(os.urandom(2000) + b"x" * (i % 7))
        if i % 100 == 0:
            kept.append(bytes(3000))
    mails.clear()
    before = rss_mb()
    memory.release()
    print(before, rss_mb())
""")


def test_falling_idle_after_a_burst_hands_the_free_heap_back():
    done = subprocess.run([sys.executable, "-c", BURST], capture_output=True, text=True, timeout=120, check=True,
                          cwd=Path(__file__).parent.parent)
    before, after = map(float, done.stdout.split())
    assert before > 100  # the freed bodies' pages were still held
    assert after < before - 80, (before, after)


def test_memory_is_released_once_when_work_stops(monkeypatch):
    released = []
    monkeypatch.setattr(memory, "release", lambda: released.append(1))
    idle = memory.Idle()
    idle.falling_idle()
    assert released == []  # idle from the start: nothing to give back
    idle.work()
    idle.work()
    idle.falling_idle()
    idle.falling_idle()
    assert released == [1]
