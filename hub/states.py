"""The states a row moves through, and the roles of partners: one list of each for the models, the queries,
the web and the command line. Plain enums, no database: the command line's argument parser imports them
without loading the storage layer.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    member = "member"
    representative = "representative"
    coordinator = "coordinator"


# Stored as plain text (so adding a state needs no migration).

class MessageKind(StrEnum):
    protocol = "protocol"
    bounce = "bounce"
    autoreply = "autoreply"
    reply = "reply"  # answers a mail of the hub, or is written to the office: waits for the Geschäftsstelle
    rsvp = "rsvp"  # a calendar's answer to an invitation (iTIP REPLY / COUNTER): recorded with the meeting
    other = "other"


class MessageStatus(StrEnum):
    pending = "pending"  # spooled, not yet filed
    filed = "filed"
    held = "held"  # waits for the Geschäftsstelle's review
    rejected = "rejected"
    recorded = "recorded"  # bounces, auto-replies and other mail: kept, never filed
    quarantined = "quarantined"  # filing it failed (a bug, a broken part): waits for a retry or a rejection


class DeliveryState(StrEnum):
    queued = "queued"
    sending = "sending"  # leased by a worker
    sent = "sent"
    deferred = "deferred"  # a 4xx or a network error: tried again later
    failed = "failed"  # a 5xx, or too many attempts
    cancelled = "cancelled"


class MeetingStatus(StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"
    cancelled = "cancelled"


class IssueState(StrEnum):
    draft = "draft"
    approved = "approved"
    sending = "sending"
    sent = "sent"
