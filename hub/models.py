"""Storage models: one table per thing the Geschäftsstelle keeps.

All datetimes are aware and stored in UTC (`UTCDateTime`); they are shown in the alliance's time zone.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from hub.db import UTCDateTime, utcnow
from hub.states import DeliveryState, IssueState, MeetingStatus, MessageKind, MessageStatus, Role
from hub.tenancy import TenantRow


def _when(nullable: bool = True, index: bool = False, default=None) -> Field:
    kwargs = {"default_factory": utcnow} if default is utcnow else {"default": default}
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kwargs)


def _empty_list() -> list:
    return []


def _empty_dict() -> dict:
    return {}


def _json(default=_empty_list) -> Field:
    # A Python function, not the builtin `list`: pydantic inspects a factory's signature on every
    # instance, and for builtins that means parsing a text signature (0.1 ms each, several per row).
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Alliance(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(unique=True)
    name: str
    timezone: str = "Europe/Berlin"
    language: str = "de"
    created_at: datetime = _when(nullable=False, default=utcnow)  # no scheduled send of a time before this


class Group(TenantRow, SQLModel, table=True):
    __tablename__ = "work_group"
    __table_args__ = (sa.UniqueConstraint("alliance_id", "slug"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    slug: str
    name: str
    kind: str = "group"  # group | coordination | plenum
    aliases: list[str] = _json()
    active: bool = True


class Partner(TenantRow, SQLModel, table=True):
    """A person, usually speaking for an institution. Leaving keeps the row; forgetting blanks it."""

    __table_args__ = (sa.UniqueConstraint("alliance_id", "email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    email: str | None = None
    email_key: str | None = Field(default=None, index=True)  # lower-cased, for lookups
    name: str = ""
    organisation: str = ""
    role: str = Role.member
    language: str | None = None
    newsletter: bool = False  # current consent; the history is in `consent`
    # "partner": in the registry, gets every section; "public": subscribed itself on the public page, a
    # newsletter reader only (public sections, never listed) until a coordinator approves it.
    audience: str = Field(default="partner", sa_column_kwargs={"server_default": "partner"})
    joined_at: datetime = _when(nullable=False, default=utcnow)
    left_at: datetime | None = _when()
    forgotten_at: datetime | None = _when()
    welcome_sent_at: datetime | None = _when()
    bounce_score: float = 0.0
    bounce_updated_at: datetime | None = _when()
    disabled_at: datetime | None = _when()  # address disabled after too many bounces
    disabled_reason: str | None = None


class Membership(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    group_id: int = Field(foreign_key="work_group.id", index=True)
    role: str = Role.member
    since: datetime = _when(nullable=False, default=utcnow)
    until: datetime | None = _when()


class Consent(SQLModel, table=True):
    """Every change of a partner's newsletter consent: what, when and how (DSGVO Art. 7)."""

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    newsletter: bool
    at: datetime = _when(nullable=False, default=utcnow)
    source: str  # import | cli | opt-in | unsubscribe | web | forget
    detail: str = ""


# --- inbound -------------------------------------------------------------------------------------


class InboundMessage(TenantRow, SQLModel, table=True):
    """One received mail: its raw bytes on disk, what the hub understood, and where it went."""

    # The same mail sent to two alliances is filed in each.
    __table_args__ = (sa.UniqueConstraint("alliance_id", "message_id", "content_hash",
                                          name="uq_inboundmessage_alliance_message"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    message_id: str = Field(index=True)
    content_hash: str
    raw_path: str  # relative to the data dir
    size: int = 0
    received_at: datetime = _when(nullable=False, default=utcnow, index=True)
    received_via: str = "file"  # smtp | lmtp | imap | file
    envelope_from: str | None = None
    envelope_to: list[str] = _json()
    sender: str | None = Field(default=None, index=True)
    sender_name: str = ""
    subject: str = ""
    sent_at: datetime | None = _when()  # the mail's Date header
    kind: str = MessageKind.other
    status: str = Field(default=MessageStatus.pending, index=True)
    group_id: int | None = Field(default=None, foreign_key="work_group.id", index=True)
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    reason: str = ""
    error: str | None = None
    # Where and when filing failed: the message waits in quarantine (status "quarantined") for a retry.
    error_stage: str | None = None
    error_at: datetime | None = _when()
    text: str = Field(default="", sa_column=Column(sa.Text, nullable=False, default=""))
    html: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    meeting_date: date | None = None
    next_meeting_start: str | None = None  # ISO date or datetime, local time of the alliance
    next_meeting_location: str | None = None
    # The day of a meeting this mail corrects ("nicht am 12.05. sondern …", a new room, "fällt aus"): moved to the
    # next meeting, or cancelled when there is none.
    corrects_meeting: date | None = None
    attendees: list[str] = _json()
    tasks: list[dict] = _json()
    defects: list[str] = _json()
    decided_by: str | None = None  # who assigned / released / rejected a held message
    decided_at: datetime | None = _when()
    # When the receipt, the relay and the proposed meeting were made; None while a protocol waits for them.
    followed_up_at: datetime | None = _when(index=True)
    # The sender check ([inbound] sender_check): True authenticated, False not (never answer it: no receipt, no
    # relay, no backscatter), None not checked (sender_check = "off", or stored before the check existed).
    sender_verified: bool | None = None
    authentication: str = ""  # how and with what result, e.g. "dmarc: dmarc=fail p=reject header.from=… (…)"


class Blob(SQLModel, table=True):
    """An attachment's bytes, stored once by content hash, with the text extracted from it."""

    sha256: str = Field(primary_key=True)
    size: int
    content_type: str
    path: str  # relative to the data dir
    text: str = Field(default="", sa_column=Column(sa.Text, nullable=False, default=""))
    error: str | None = None


class MessageAttachment(TenantRow, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    message_id: int = Field(foreign_key="inboundmessage.id", index=True)
    blob_sha256: str = Field(foreign_key="blob.sha256", index=True)
    filename: str = ""
    content_type: str = ""
    inline: bool = False
    position: int = 0


class BounceEvent(TenantRow, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    address: str = Field(index=True)
    permanent: bool
    at: datetime = _when(nullable=False, default=utcnow)
    status: str | None = None  # e.g. 5.1.1
    message_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    source: str = "inbound"  # inbound (a report to our VERP address) | smtp | unverified (shown, never scored)


# --- outbound ------------------------------------------------------------------------------------


class OutboundMail(TenantRow, SQLModel, table=True):
    """One mail as composed once; per-recipient values live on its delivery rows."""

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    kind: str = Field(index=True)  # receipt | relay | newsletter | invitation | reminder | ...
    subject: str
    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    text: str = Field(sa_column=Column(sa.Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    headers: dict = _json(_empty_dict)
    attachments: list[dict] = _json()  # [{"blob": sha256, "filename": str, "content_type": str}]
    # iCalendar text of an invitation, update or cancellation, with a `%%ics_attendee%%` line per recipient
    calendar: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    bulk: bool = False  # newsletters: List-Unsubscribe, Precedence: bulk
    created_at: datetime = _when(nullable=False, default=utcnow)
    source_ref: str | None = Field(default=None, index=True)  # e.g. "newsletter:3", "meeting:12:invitation"


class Delivery(TenantRow, SQLModel, table=True):
    """One recipient of one mail: queued → sending (leased) → sent | deferred | failed | cancelled."""

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    mail_id: int = Field(foreign_key="outboundmail.id", index=True)
    recipient: str
    recipient_name: str = ""
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    dedupe_key: str = Field(unique=True)
    values: dict = _json(_empty_dict)  # per-recipient fill-ins (name, unsubscribe link)
    state: str = Field(default=DeliveryState.queued, index=True)
    attempts: int = 0
    next_attempt_at: datetime = _when(nullable=False, default=utcnow, index=True)
    lease_until: datetime | None = _when()
    leased_by: str | None = None
    last_reply: str | None = None
    created_at: datetime = _when(nullable=False, default=utcnow)
    sent_at: datetime | None = _when()
    smtp_message_id: str | None = None


# --- schedule ------------------------------------------------------------------------------------


class Meeting(TenantRow, SQLModel, table=True):
    """A meeting of a group; the Koordinierungskreis and the Bündnistreffen are groups of their own kind.

    `uid` is the calendar entry's stable UID; `sequence` rises with every change the invitees must see.
    """

    __table_args__ = (sa.UniqueConstraint("alliance_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    group_id: int = Field(foreign_key="work_group.id", index=True)
    key: str | None = None  # the name a schedule file gives the meeting, so re-imports find it
    title: str = ""
    start: datetime = _when(nullable=False, index=True)
    end: datetime = _when(nullable=False)
    time_assumed: bool = False  # the protocol named only a day; the time is the default until someone sets it
    # From 00:00 local on its first day to 00:00 local after its last: calendars show the days, not times.
    all_day: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    location: str = ""
    agenda: str = Field(default="", sa_column=Column(sa.Text, nullable=False, default=""))
    status: str = Field(default=MeetingStatus.proposed, index=True)
    uid: str = Field(unique=True)
    sequence: int = 0
    source: str = "coordinator"  # coordinator | protocol:<id> | schedule-file
    created_at: datetime = _when(nullable=False, default=utcnow)
    updated_at: datetime = _when(nullable=False, default=utcnow)


class MeetingAnswer(SQLModel, table=True):
    """A partner's answer to a meeting's invitation (iTIP REPLY, or a COUNTER proposing another time): one row
    per meeting and partner, the answer of the highest SEQUENCE (then DTSTAMP) kept."""

    __tablename__ = "meeting_answer"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "partner_id"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    partstat: str  # ACCEPTED | TENTATIVE | DECLINED | NEEDS-ACTION | DELEGATED, as iCalendar spells it
    method: str = "REPLY"  # REPLY | COUNTER
    sequence: int = 0  # of the invitation it answers
    stamp: datetime | None = _when()  # the answer's DTSTAMP
    proposed_start: datetime | None = _when()  # a COUNTER's time
    proposed_end: datetime | None = _when()
    comment: str = Field(default="", sa_column=Column(sa.Text, nullable=False, default=""))
    message_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    received_at: datetime = _when(nullable=False, default=utcnow)


class SchedulePolicy(TenantRow, SQLModel, table=True):
    """A coordinator's override of one send policy, for the whole alliance (group_id NULL) or one group."""

    __table_args__ = (sa.UniqueConstraint("alliance_id", "group_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    group_id: int | None = Field(default=None, foreign_key="work_group.id", index=True)
    name: str
    value: str
    updated_at: datetime = _when(nullable=False, default=utcnow)


class ScheduleState(TenantRow, SQLModel, table=True):
    """One row per alliance: `version` rises with every schedule change, so a running hub notices at once."""

    alliance_id: int = Field(foreign_key="alliance.id", primary_key=True)
    version: int = 0
    paused: list[str] = _json()  # job keys the coordinator paused
    changed_at: datetime = _when(nullable=False, default=utcnow)


class ScheduledSend(TenantRow, SQLModel, table=True):
    """One occurrence of a scheduled send that ran (or was found empty): never run twice."""

    __table_args__ = (sa.UniqueConstraint("alliance_id", "job", "occurrence"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    job: str  # e.g. "meeting:12:invitation", "newsletter:digest"
    occurrence: str  # e.g. "seq3", "2027-06-01"
    kind: str
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    due: datetime = _when(nullable=False)
    ran_at: datetime = _when(nullable=False, default=utcnow)
    recipients: int = 0
    mail_id: int | None = Field(default=None, foreign_key="outboundmail.id")
    note: str = ""


# --- web admin -----------------------------------------------------------------------------------


class WebUser(TenantRow, SQLModel, table=True):
    """A person who signs in to the web admin: a coordinator changes things, a viewer only looks."""

    __table_args__ = (sa.UniqueConstraint("alliance_id", "email", name="uq_webuser_alliance_email"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    email: str  # lower-cased address key
    password_hash: str  # argon2id, with its own salt and parameters
    role: str = "viewer"  # coordinator | viewer
    created_at: datetime = _when(nullable=False, default=utcnow)
    last_login_at: datetime | None = _when()
    session_version: int = 0  # raised on password change or removal: older session cookies stop working


class ProviderAccount(SQLModel, table=True):
    """A person of the provider that runs an installation of many alliances (a Servicestelle's staff). Belongs to
    the installation, not to an alliance: signs in at the web admin of each of its alliances, may change there
    what a coordinator may, and switches between them (hub/provider_accounts.py)."""

    __table_args__ = (sa.UniqueConstraint("email", name="uq_provideraccount_email"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str  # lower-cased address key
    password_hash: str  # argon2id, with its own salt and parameters
    created_at: datetime = _when(nullable=False, default=utcnow)
    last_login_at: datetime | None = _when()
    session_version: int = 0  # raised on sign-out and password change: its session cookies everywhere stop working


class AuditLog(TenantRow, SQLModel, table=True):
    """Who changed what, from the web admin (and failed sign-ins, which the login rate limit counts)."""

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    at: datetime = _when(nullable=False, default=utcnow, index=True)
    actor: str = Field(index=True)  # a WebUser's email, or "public" for the unsubscribe and subscribe pages
    action: str = Field(index=True)  # e.g. "review.release", "partner.leave", "login.failed"
    target: str = ""  # e.g. "message:12", "partner:a@b.example"
    detail: dict = _json(_empty_dict)
    ip: str = Field(default="", index=True)


# --- newsletter ----------------------------------------------------------------------------------


class NewsletterIssue(TenantRow, SQLModel, table=True):
    """One newsletter issue or half-yearly report: draft → approved → sending → sent.

    `content` freezes what the issue collected when it was drafted, so what is sent is what was previewed.
    """

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    kind: str = "digest"  # digest | report
    title: str
    period_start: datetime = _when(nullable=False)
    period_end: datetime = _when(nullable=False)
    editorial: str = Field(default="", sa_column=Column(sa.Text, nullable=False, default=""))
    content: dict = _json(_empty_dict)
    state: str = Field(default=IssueState.draft, index=True)
    source: str = "cli"  # cli | schedule:<job key>
    created_at: datetime = _when(nullable=False, default=utcnow)
    approved_at: datetime | None = _when()
    approved_by: str | None = None
    sent_at: datetime | None = _when()
    recipients: int = 0
    queued: int = 0
    mail_ids: list[int] = _json()


# --- tasks ---------------------------------------------------------------------------------------


class GroupTask(TenantRow, SQLModel, table=True):
    """A task a group's protocol agreed on ("Wer übernimmt was?"): open → done | dropped."""

    __tablename__ = "task"
    __table_args__ = (sa.UniqueConstraint("message_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    group_id: int = Field(foreign_key="work_group.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="inboundmessage.id", index=True)
    position: int = 0  # its place in the protocol, so that following a protocol up twice adds no second row
    what: str = Field(sa_column=Column(sa.Text, nullable=False))
    who: str | None = None  # as the protocol names the owner
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    due: date | None = None
    state: str = Field(default="open", index=True)  # open | done | dropped
    created_at: datetime = _when(nullable=False, default=utcnow)
    closed_at: datetime | None = _when()
    closed_by: str | None = None  # a web user's or the CLI's name, "protocol:<id>", "reply:<id>"
