"""Run the `hub` command with the clock set to $HUB_TEST_CLOCK (ISO, UTC) and ticking from there.

The end-to-end schedule test starts `hub serve` through this at chosen moments, so a month of schedule
passes in seconds while everything else (sockets, Dovecot, the SMTP sink, SIGKILL) is real.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

import time_machine

from hub.cli import main

if __name__ == "__main__":
    with time_machine.travel(datetime.fromisoformat(os.environ["HUB_TEST_CLOCK"]), tick=True):
        sys.exit(main(sys.argv[1:]))
