"""The plain data that flows through the inbound stages: parse → classify → route → extract.

Every stage is a pure function over these values (no database, no files), so each is tested on bytes
alone; `hub/inbound/store.py` and the filing use case (hub/filing.py) do the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

Kind = Literal["protocol", "bounce", "autoreply", "rsvp", "other"]


@dataclass
class Attachment:
    """A part that is a file: a document (DOCX/PDF/ODT/text), an inline image, or anything else."""

    filename: str  # for display only: never used as a path
    content_type: str  # recognised from the content where possible, else as declared
    declared_type: str
    data: bytes
    sha256: str
    inline: bool = False  # inline image (e.g. a signature logo): kept, not read as a document
    text: str = ""  # text extracted from a document
    error: str | None = None  # why no text could be extracted, if that failed

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Forwarded:
    """A message passed on inside another: inline ("-----Ursprüngliche Nachricht-----") or message/rfc822."""

    sender: str | None
    subject: str
    sent_at: datetime | None
    text: str


@dataclass
class ParsedMessage:
    message_id: str  # from the header, or "<sha256-of-raw@hub.invalid>" when missing
    content_hash: str  # sha256 of the raw bytes, hex
    sender: str | None  # normalised address from From (None if absent or unparseable)
    sender_name: str
    subject: str  # decoded
    sent_at: datetime | None  # Date header, aware; None if absent or unparseable
    to: list[str]  # addresses from To and Cc, normalised
    headers: list[tuple[str, str]]  # all top-level headers, decoded, in order
    text: str  # the new text of the body, without quoted replies or forwarded parts
    quoted: str = ""  # quoted text of a reply ("> …", "Am … schrieb …:")
    html: str | None = None  # the HTML body as sent (untrusted; sanitise before showing)
    forwarded: list[Forwarded] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)  # what was wrong with the MIME, human-readable

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def documents(self) -> list[Attachment]:
        return [a for a in self.attachments if not a.inline and a.text]


@dataclass
class BounceInfo:
    recipients: list[str]
    permanent: bool
    status: str | None = None  # DSN status code such as 5.1.1, where known


@dataclass
class Classification:
    kind: Kind
    reason: str  # human-readable, e.g. "Auto-Submitted: auto-replied"
    bounce: BounceInfo | None = None


@dataclass(frozen=True)
class GroupEntry:
    slug: str
    name: str
    aliases: tuple[str, ...] = ()
    id: int | None = None  # the stored group's id, so that filing needs no further query


@dataclass(frozen=True)
class SenderEntry:
    email: str
    role: str  # member | representative | coordinator
    groups: tuple[str, ...]  # slugs
    partner_id: int | None = None
    name: str = ""  # name and organisation let a task's owner be found (hub.inbound.owners)
    organisation: str = ""
    audience: str = "partner"


@dataclass
class Directory:
    """What routing needs to know about the alliance: its addresses, its groups, its known senders."""

    domain: str
    protocol_address: str
    groups: list[GroupEntry]
    senders: dict[str, SenderEntry]  # keyed by lower-cased address


@dataclass
class Routing:
    status: Literal["filed", "held"]
    group: str | None  # slug
    reason: str  # why, in a sentence a coordinator understands (German)


@dataclass
class NextMeeting:
    start: date | datetime  # naive local time of the alliance when a time is given
    location: str | None = None
    # The day of the meeting a correction in a reply moves or gives a new room: the date it names as wrong
    # ("nicht am 12.05. sondern …"), else the day the quoted announcement gave.
    replaces: date | None = None


@dataclass
class Task:
    what: str
    who: str | None = None
    due: date | None = None
    who_email: str | None = None  # the one partner `who` names (hub.inbound.owners), if exactly one fits


@dataclass
class Extraction:
    meeting_date: date | None = None
    next_meeting: NextMeeting | None = None
    cancelled: date | None = None  # the day of a meeting a reply cancels with no new date ("… fällt aus")
    attendees: list[str] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
