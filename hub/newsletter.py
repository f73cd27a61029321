"""The partners' newsletter and the half-yearly report ("Bericht über die Bündnisaktivitäten").

An issue collects everything since the previous one — protocols filed per group, upcoming meetings, partners
who joined, the coordinator's editorial — and freezes it in `NewsletterIssue.content` when drafted, so what
is sent is what was previewed and approved. States: draft → approved → sending → sent; a second send is
refused. The MJML is compiled once per issue and language; each recipient's greeting and signed unsubscribe
link are the outbox's `%%greeting%%` / `%%unsubscribe_url%%` tokens, filled in at send time.

Two audiences (`Partner.audience`): partners of the registry get every section collected (protocols of groups
whose relay policy is not "none", upcoming meetings, "Neu im Bündnis"); public subscribers (who subscribed
themselves on the public page) get the editorial and only what a coordinator marked public (`public = true` on
a group in the config, never a group with `relay = "group"`) — see `newsletter_content.for_audience`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import newsletter_content, newsletter_mail, signing
from hub.addresses import address_key
from hub.compose.render import by_locale, locale_for, office_mail
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound, UsageError
from hub.i18n import _
from hub.mailings import unsubscribe_url
from hub.models import IssueState, NewsletterIssue, Partner
from hub.outbound import outbox
from hub.secret import secret_key

DIGEST_DAYS = 31
REPORT_DAYS = 182


@dataclass
class SendResult:
    issue_id: int
    recipients: int = 0
    queued: int = 0
    note: str = ""


# --- collecting ---------------------------------------------------------------------------------------


def draft(session: Session, config: Config, since: datetime | None = None, editorial: str = "",
          report: bool = False, until: datetime | None = None, source: str = "cli",
          with_proposed: bool = False) -> NewsletterIssue:
    """A new issue in state draft with everything since `since` (default: the end of the previous issue);
    `with_proposed`: "Nächste Termine" lists meetings still only proposed too, marked as such."""
    alliance = alliance_module.current(session, config)
    end = until or utcnow()
    start = since or _previous_end(session, alliance.id, report) or end - timedelta(
        days=REPORT_DAYS if report else DIGEST_DAYS)
    if start >= end:
        raise UsageError(_("die Ausgabe würde nach ihrem Ende beginnen (%(start)s nach %(end)s); geben Sie "
                           "--since mit einem früheren Datum an")
                         % {"start": f"{start.astimezone(config.tz):%d.%m.%Y}",
                            "end": f"{end.astimezone(config.tz):%d.%m.%Y}"})
    issue = NewsletterIssue(
        alliance_id=alliance.id, kind="report" if report else "digest",
        title=newsletter_mail.issue_title(config, start, end, report),
        period_start=start, period_end=end, editorial=editorial or "",
        content=newsletter_content.collect(session, config, alliance.id, start, end, report, with_proposed),
        source=source,
    )
    session.add(issue)
    session.flush()
    return issue


def _previous_end(session: Session, alliance_id: int, report: bool) -> datetime | None:
    return session.exec(select(sa.func.max(NewsletterIssue.period_end)).where(
        NewsletterIssue.alliance_id == alliance_id, NewsletterIssue.kind == ("report" if report else "digest"),
        NewsletterIssue.state != IssueState.draft,
    )).one()


# --- states and sending -------------------------------------------------------------------------------


def get(session: Session, issue_id: int, alliance_id: int | None = None) -> NewsletterIssue:
    """The issue; with `alliance_id` only one of that alliance's (the doors always say which)."""
    issue = session.get(NewsletterIssue, issue_id)
    if issue is None or alliance_id not in (None, issue.alliance_id):
        raise NotFound(_("keine Newsletter-Ausgabe %(id)s; siehe `hub newsletter list`") % {"id": issue_id})
    return issue


def edit(session: Session, alliance_id: int, issue_id: int, editorial: str | None = None,
         title: str | None = None, with_proposed: bool | None = None) -> NewsletterIssue:
    """The editorial, the title (the mail's subject) or whether proposed meetings are announced; only a draft
    can be changed, so that what is sent is what was approved."""
    issue = get(session, issue_id, alliance_id)
    if issue.state != IssueState.draft:
        raise UsageError(_("Ausgabe %(id)s ist kein Entwurf mehr; nur ein Entwurf lässt sich ändern")
                         % {"id": issue_id})
    if title is not None and not title.strip():
        raise UsageError(_("Der Titel darf nicht leer sein."))
    if editorial is not None:
        issue.editorial = editorial
    if title is not None:
        issue.title = title.strip()
    if with_proposed is not None:
        issue.content = {**(issue.content or {}), "with_proposed": with_proposed}  # a new dict: JSON is not tracked
    session.add(issue)
    return issue


def approve(session: Session, issue_id: int, by: str = "cli", alliance_id: int | None = None) -> NewsletterIssue:
    issue = get(session, issue_id, alliance_id)
    if issue.state != IssueState.draft:
        raise HubError(_("Ausgabe %(id)s ist kein Entwurf mehr (%(state)s); nur ein Entwurf kann freigegeben werden")
                       % {"id": issue_id, "state": issue.state})
    issue.state, issue.approved_at, issue.approved_by = IssueState.approved, utcnow(), by
    session.add(issue)
    return issue


def recipients(session: Session, alliance_id: int) -> list[Partner]:
    """Partners and public subscribers with newsletter consent, who have not left, whose address is not
    disabled."""
    return list(session.exec(select(Partner).where(
        Partner.alliance_id == alliance_id, Partner.newsletter.is_(True), Partner.left_at.is_(None),
        Partner.forgotten_at.is_(None), Partner.disabled_at.is_(None), Partner.email.is_not(None),
    ).order_by(Partner.id)))


def send(session: Session, config: Config, issue_id: int,
         progress: Callable[[int, int], None] | None = None, alliance_id: int | None = None) -> SendResult:
    """Approved → outbox rows for every recipient, grouped by language; a second send is refused."""
    issue = get(session, issue_id, alliance_id)
    claimed = session.execute(
        sa.update(NewsletterIssue).where(NewsletterIssue.id == issue_id, NewsletterIssue.state == IssueState.approved)
        .values(state=IssueState.sending).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.refresh(issue)
        if issue.state == IssueState.draft:
            raise HubError(_("Ausgabe %(id)s ist ein Entwurf; sehen Sie sie an, dann `hub newsletter approve %(id)s`")
                           % {"id": issue_id})
        raise HubError(_("Ausgabe %(id)s ist schon %(state)s; sie wird nie zweimal gesendet") % {"id": issue_id,
                                                                                        "state": issue.state})
    session.refresh(issue)
    people = recipients(session, issue.alliance_id)
    result = SendResult(issue_id=issue.id, recipients=len(people))
    done = 0
    editions = [(audience, locale, partners) for audience in newsletter_mail.AUDIENCES for locale, partners in
                sorted(by_locale(config, [p for p in people if edition(p) == audience]).items())]
    key = secret_key(config)
    for audience, locale, partners in editions:
        composed = newsletter_mail.render(config, issue, locale, audience)
        ref = f"newsletter:{issue.id}:{locale}" + ("" if audience == newsletter_content.PARTNER else f":{audience}")
        mail = office_mail(config, "newsletter", composed, ref, bulk=True)
        enqueued = outbox.enqueue(session, mail, (
            outbox.Recipient(address=p.email, name=p.name, partner_id=p.id,
                             dedupe_key=f"newsletter:{issue.id}|{signing.pseudonym(key, address_key(p.email))}",
                             values={"greeting": newsletter_mail.greeting(locale, p.name),
                                     "unsubscribe_url": unsubscribe_url(config, p.id)})
            for p in partners))
        result.queued += enqueued.queued
        issue.mail_ids = [*issue.mail_ids, enqueued.mail_id]
        done += len(partners)
        if progress:
            progress(done, len(people))
    issue.state, issue.sent_at = IssueState.sent, utcnow()
    issue.recipients, issue.queued = result.recipients, result.queued
    session.add(issue)
    session.flush()
    return result


def edition(partner: Partner) -> str:
    """Which edition a recipient gets: anything but a partner of the registry reads the public one."""
    return newsletter_content.PARTNER if partner.audience == newsletter_content.PARTNER else "public"


def test_send(session: Session, config: Config, issue_id: int, address: str,
              alliance_id: int | None = None) -> outbox.EnqueueResult:
    """One copy of the issue to `address` (any state), marked as a test in the subject."""
    issue = get(session, issue_id, alliance_id)
    locale = locale_for(config, None)
    composed = newsletter_mail.render(config, issue, locale)
    mail = office_mail(config, "newsletter_test", composed, f"newsletter-test:{issue.id}:{utcnow().timestamp()}",
                       subject=f"[Test] {composed.subject}")
    tag = signing.pseudonym(secret_key(config), address_key(address))
    return outbox.enqueue(session, mail, [outbox.Recipient(
        address=address, dedupe_key=f"{mail.source_ref}|{tag}",
        values={"greeting": newsletter_mail.greeting(locale, None),
                "unsubscribe_url": f"{config.web.base_url.rstrip('/')}/unsubscribe/TEST"})])


def listing(session: Session, alliance_id: int) -> list[dict]:
    issues = session.exec(select(NewsletterIssue).where(NewsletterIssue.alliance_id == alliance_id)
                          .order_by(NewsletterIssue.id.desc())).all()
    return [describe(i) for i in issues]


def describe(issue: NewsletterIssue) -> dict:
    content = issue.content or {}
    return {
        "id": issue.id, "kind": issue.kind, "title": issue.title, "state": issue.state,
        "period_start": issue.period_start.isoformat(), "period_end": issue.period_end.isoformat(),
        "protocols": sum(len(g["protocols"]) for g in content.get("groups", [])),
        "upcoming": len(newsletter_content.shown_upcoming(content)),
        "with_proposed": bool(content.get("with_proposed")),
        "new_partners": len(content.get("new_partners", [])),
        "created_at": issue.created_at.isoformat(),
        "approved_at": issue.approved_at.isoformat() if issue.approved_at else None,
        "sent_at": issue.sent_at.isoformat() if issue.sent_at else None,
        "recipients": issue.recipients, "queued": issue.queued, "source": issue.source,
    }


def scheduled(session: Session, config: Config, name: str, occurrence: str, key: str) -> SendResult:
    """A scheduled newsletter date (`digest` or `report`): an approved issue of that kind goes out now;
    without one, a draft is prepared for the coordinator to check and approve (nothing is sent unapproved)."""
    alliance = alliance_module.current(session, config)
    kind = "report" if name == "report" else "digest"
    waiting = session.exec(select(NewsletterIssue).where(
        NewsletterIssue.alliance_id == alliance.id, NewsletterIssue.kind == kind,
        NewsletterIssue.state == IssueState.approved).order_by(NewsletterIssue.id)).first()
    if waiting is not None:
        result = send(session, config, waiting.id)
        result.note = f"Ausgabe {waiting.id} gesendet"
        return result
    issue = draft(session, config, report=kind == "report", source=f"schedule:{key}")
    return SendResult(issue_id=issue.id, note=f"Entwurf {issue.id} angelegt: bitte prüfen und freigeben")
