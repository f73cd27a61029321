"""Fault points for the crash and quarantine tests.

`HUB_FAILPOINT=stored` kills the process right there: invariant 1 (nothing accepted is lost) is only
believable when a test has killed the hub between every two stages and found the message filed exactly once
after a restart. `HUB_FAILPOINT=raise:classify` makes that stage raise instead: a bug in any stage must put
only that one message into quarantine, never stop filing. `HUB_FAILPOINT=slow:NAME` makes it take
`SLOW_SECONDS` there, as a busy machine might.
"""

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

_armed = os.environ.get("HUB_FAILPOINT") or ""
SLOW_SECONDS = 3.0


class InjectedFault(RuntimeError):
    """The exception a `raise:` fault point throws."""


def failpoint(name: str) -> None:
    if not _armed:
        return
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if _armed == f"raise:{name}":
        raise InjectedFault(f"fault injected at {name}")
    if _armed == f"slow:{name}":
        time.sleep(SLOW_SECONDS)


@contextmanager
def armed(spec: str) -> Iterator[None]:
    """Arm a fault point in this process for the length of a `with` block (tests of in-process filing)."""
    global _armed
    before, _armed = _armed, spec
    try:
        yield
    finally:
        _armed = before
