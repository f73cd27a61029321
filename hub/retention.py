"""Retention by age (DSGVO Art. 5(1)(e), issue 13): nothing the hub stores is kept longer than `[retention]`
says. `hub serve` runs it once a day (`daily`), `hub retention run [--dry-run]` by hand; both call `run`.

What goes, per category (the periods are config/hub.toml's `[retention]`):
- held and rejected mail, quarantined mail, mail only recorded (bounce reports, auto-replies, other): the rows,
  their attachment links and their raw bytes;
- any other mail older than `raw_mail_days`: its raw bytes, attachments and sender fields — what the hub
  understood (subject, group, dates, the protocol's text) stays as the alliance's record;
- sent mail: the delivery rows and the mail's body once every delivery of it ended; the mail keeps its kind,
  subject and the counts of its deliveries by state, which every count of the web and the CLI still includes;
- bounce records and the audit log; attachments nothing refers to any more; files of the Maildir outbox.

A dry run selects exactly what a real run deletes and changes nothing. A real run commits before it removes
files, so a row never points to a file that is gone, and then checkpoints SQLite's write-ahead log.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from hub import alliance as alliance_module
from hub import retention_store as store
from hub.config import Config
from hub.db import checkpoint, utcnow
from hub.models import MessageStatus
from hub.outbound.transports import maildir_path

log = logging.getLogger("hub.retention")

# The categories in the order a run reports them, each with the `[retention]` key of its period.
PERIODS = {
    "held_mail": "held_mail_days",
    "quarantined_mail": "quarantine_days",
    "recorded_mail": "bounces_days",
    "raw_mail": "raw_mail_days",
    "attachments": None,  # when no message and no mail refers to them any more
    "sent_mail": "sent_mail_days",
    "deliveries": "sent_mail_days",
    "bounces": "bounces_days",
    "audit": "audit_days",
    "outbox_files": "outbox_files_days",
}
# How the Maildir transport names a file: "<created, Unix seconds>.D<delivery id>.hub", and a mail client may
# add ":2,<flags>" when it moves the file to cur/.
MAILDIR_NAME = re.compile(r"^(\d+)\.")


@dataclass
class Report:
    dry_run: bool
    at: datetime
    counts: dict[str, int] = field(default_factory=dict)  # category → rows or files deleted (or to delete)
    days: dict[str, int | None] = field(default_factory=dict)  # category → its period (None: no period of its own)

    def as_json(self) -> dict:
        return {"dry_run": self.dry_run, "at": self.at.isoformat(),
                "categories": {name: {"count": self.counts[name], "days": self.days[name]} for name in PERIODS}}

    def log_line(self) -> str:
        """Counts only: a log line never names a person."""
        counts = " ".join(f"{name}={self.counts[name]}" for name in PERIODS)
        return f"retention{' (dry run)' if self.dry_run else ''}: {counts}"


def run(session: Session, config: Config, now: datetime | None = None, dry_run: bool = False) -> Report:
    """Delete (or with `dry_run` only count) what is older than its period; returns the counts per category.
    A real run commits `session`."""
    now = now or utcnow()
    settings = config.retention
    days = {name: getattr(settings, key) if key else None for name, key in PERIODS.items()}

    def cutoff(name: str) -> datetime:
        return now - timedelta(days=days[name])

    alliance_id = alliance_module.current(session, config).id
    held = store.messages_with_status(session, alliance_id, (MessageStatus.held, MessageStatus.rejected),
                                      cutoff("held_mail"))
    quarantined = store.messages_with_status(session, alliance_id, (MessageStatus.quarantined,),
                                             cutoff("quarantined_mail"), since_error=True)
    recorded = store.messages_with_status(session, alliance_id, (MessageStatus.recorded,), cutoff("recorded_mail"))
    deleted = set(held) | set(quarantined) | set(recorded)
    stripped = [m for m in store.raw_kept(session, alliance_id, cutoff("raw_mail")) if m not in deleted]
    leaving = deleted | set(stripped)
    raw_files = store.raw_files_left(session, store.raw_paths(session, leaving), leaving)
    mails = store.mails_done(session, alliance_id, cutoff("sent_mail"))
    deliveries = store.deliveries_of_mails(session, mails)
    blobs = store.blobs_left(session, leaving, set(mails))
    bounces = store.bounces_before(session, alliance_id, cutoff("bounces"))
    audit = store.audit_before(session, cutoff("audit"))
    outbox_files = old_outbox_files(maildir_path(config), cutoff("outbox_files"))
    report = Report(dry_run=dry_run, at=now, days=days, counts={
        "held_mail": len(held), "quarantined_mail": len(quarantined), "recorded_mail": len(recorded),
        "raw_mail": len(stripped), "attachments": len(blobs), "sent_mail": len(mails),
        "deliveries": len(deliveries), "bounces": len(bounces), "audit": len(audit),
        "outbox_files": len(outbox_files)})
    if dry_run:
        return report
    store.delete_messages(session, sorted(deleted))
    store.strip_raw(session, stripped)
    store.delete_deliveries(session, deliveries)
    store.drop_bodies(session, mails)
    store.delete_blobs(session, [sha for sha, _path in blobs])
    store.delete_bounces(session, bounces)
    store.delete_audit(session, audit)
    session.commit()
    store.remove_files(config.data_dir, [*raw_files, *(path for _sha, path in blobs)])
    for path in outbox_files:
        path.unlink(missing_ok=True)
    checkpoint(config.database_url)
    return report


def old_outbox_files(folder: Path, before: datetime) -> list[Path]:
    """Files in the Maildir outbox written before `before`: by the time in their name (the transport's clock,
    as Maildir names go), else by when the file was last changed."""
    found = []
    for sub in ("new", "cur"):
        try:
            entries = list(os.scandir(folder / sub))
        except FileNotFoundError:
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            named = MAILDIR_NAME.match(entry.name)
            seconds = int(named.group(1)) if named else entry.stat(follow_symlinks=False).st_mtime
            if datetime.fromtimestamp(seconds, UTC) < before:
                found.append(Path(entry.path))
    return sorted(found)


def daily(config: Config) -> Report:
    """The daily job of `hub serve`: one run, one log line with the counts."""
    with alliance_module.unit_of_work(config) as session:
        report = run(session, config)
    log.info(report.log_line())
    return report
