"""`hub ingest`: mail from files or standard input, filed at once — or, with `--queue`, only made durable.

`--queue` is for a Postfix pipe transport, which starts one process per mail: it writes the mail into the
spool (fsync'ed, as the SMTP listener does before its 250) and returns; the running `hub serve` files it
within seconds. It loads neither the parser nor the database, so it costs a fraction of filing at once.
Exit status 75 (EX_TEMPFAIL) when the spool cannot be written tells Postfix to try again later.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hub import locations
from hub.cli.render import print_json
from hub.errors import HubError
from hub.i18n import _
from hub.inbound import spool

TEMPFAIL = os.EX_TEMPFAIL


class SpoolUnwritable(HubError):
    exit_status = TEMPFAIL


def ingest(ctx, args) -> int:
    if args.queue:
        return queue(ctx, args)
    from hub.cli import inbound  # lazy: parsing, documents and the database load only when filing at once

    return inbound.ingest(ctx, args)


def queue(ctx, args) -> int:
    data_dir = locations.spool_data_dir(locations.find_config_path(args.config)) or ctx.config.data_dir
    failures = 0
    for name in args.files:
        raw = read(name)
        if raw is None:
            failures += 1
            continue
        try:
            entry = spool.write(data_dir, raw, via="file", envelope_from=args.sender, envelope_to=args.recipient)
        except OSError as exc:
            raise SpoolUnwritable(_("%(file)s: der Spool %(dir)s ist nicht beschreibbar (%(error)s); die Mail "
                                    "wurde nicht angenommen") % {"file": name, "dir": data_dir,
                                                                 "error": exc.strerror}) from None
        if args.json:
            print_json({"file": name, "status": "queued", "spool": entry.path.name})
        else:
            print(_("%(file)s: eingereiht; `hub serve` legt die Mail gleich ab") % {"file": name})
    return 1 if failures else 0


def read(name: str) -> bytes | None:
    """The raw mail of one argument (None after saying why it cannot be filed)."""
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        print(_("hub: %(file)s: nicht lesbar (%(error)s); nichts daraus abgelegt")
              % {"file": name, "error": exc.strerror}, file=sys.stderr)
        return None
    if not raw.strip():
        print(_("hub: %(file)s: leere Datei; nichts daraus abgelegt") % {"file": name}, file=sys.stderr)
        return None
    return raw
