"""Run the `hub` command with the clock set to $HUB_TEST_CLOCK (ISO, UTC) and ticking from there.

The end-to-end schedule test starts `hub serve` through this at chosen moments, so a month of schedule
passes in seconds while everything else (sockets, Dovecot, the SMTP sink, SIGKILL) is real. The processes
`hub serve` forks (filing, outbox worker) keep the clock they are forked with.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta

import time_machine


def _travel() -> time_machine.travel:
    if "HUB_TEST_CLOCK_STARTED" not in os.environ:
        os.environ["HUB_TEST_CLOCK_STARTED"] = repr(time.time())  # inherited by the processes it starts
    ticked = time.time() - float(os.environ["HUB_TEST_CLOCK_STARTED"])
    return time_machine.travel(datetime.fromisoformat(os.environ["HUB_TEST_CLOCK"]) + timedelta(seconds=ticked),
                               tick=True)


if __name__ == "__main__":
    from hub.cli import main

    with _travel():
        sys.exit(main(sys.argv[1:]))
