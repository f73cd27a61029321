"""Crash points for the crash-safety tests: `HUB_FAILPOINT=stored` kills the process right there.

Invariant 1 (nothing accepted is lost) is only believable when a test has killed the hub between
every two stages and found the message filed exactly once after a restart.
"""

import os
import signal

_ARMED = os.environ.get("HUB_FAILPOINT")


def failpoint(name: str) -> None:
    if _ARMED == name:
        os.kill(os.getpid(), signal.SIGKILL)
