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


ARENAS = textwrap.dedent("""
    import ctypes, re, sys, tempfile, threading
    from hub import memory

    if sys.argv[1] == "one":
        memory.one_arena()
    go = threading.Barrier(4)

    def work():
        go.wait()
        kept.append([bytes(100_000) for _ in range(20)])  # above obmalloc's sizes: glibc's malloc

    kept = []
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    with tempfile.NamedTemporaryFile(mode="r") as report:
        stream = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        print(len(re.findall(r'<heap nr="', report.read())))
""")


def test_a_childs_threads_share_one_malloc_arena():
    """hub/processes.child_start: the filing and outbox processes' threads allocate from one arena, so what they
    free is not spread over arenas of their own (and kept there)."""
    def arenas(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, timeout=60,
                              check=True, cwd=Path(__file__).parent.parent)
        return int(done.stdout)

    assert arenas("default") > 1  # glibc gives new threads arenas of their own
    assert arenas("one") == 1
