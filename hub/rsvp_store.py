"""The rows of partners' answers to invitations (`MeetingAnswer`): one per meeting and partner."""

from __future__ import annotations

from sqlmodel import Session, func, select

from hub.models import Meeting, MeetingAnswer, Partner


def meeting_by_uid(session: Session, uid: str) -> Meeting | None:
    return session.exec(select(Meeting).where(Meeting.uid == uid)).first()


def answer_of(session: Session, meeting_id: int, partner_id: int) -> MeetingAnswer | None:
    return session.exec(select(MeetingAnswer).where(
        MeetingAnswer.meeting_id == meeting_id, MeetingAnswer.partner_id == partner_id)).first()


def answers(session: Session, meeting_id: int) -> list[tuple[MeetingAnswer, Partner]]:
    """A meeting's answers with who gave them, by name."""
    return list(session.exec(
        select(MeetingAnswer, Partner).join(Partner, Partner.id == MeetingAnswer.partner_id)
        .where(MeetingAnswer.meeting_id == meeting_id).order_by(Partner.name, Partner.id)
    ))


def count(session: Session, meeting_id: int, partstat: str) -> int:
    return session.exec(select(func.count()).select_from(MeetingAnswer).where(
        MeetingAnswer.meeting_id == meeting_id, MeetingAnswer.partstat == partstat)).one()
