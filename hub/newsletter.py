"""The partners' newsletter and the half-yearly report ("Bericht über die Bündnisaktivitäten").

An issue collects everything since the previous one — protocols filed per group, upcoming meetings, partners
who joined, the coordinator's editorial — and freezes it in `NewsletterIssue.content` when drafted, so what
is sent is what was previewed and approved. States: draft → approved → sending → sent; a second send is
refused. The MJML is compiled once per issue and language; each recipient's greeting and signed unsubscribe
link are the outbox's `%%greeting%%` / `%%unsubscribe_url%%` tokens, filled in at send time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from babel.dates import format_date
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub.compose.render import ComposedMail, by_locale, compose, locale_for, markdown_html, translations
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound, UsageError
from hub.i18n import _
from hub.models import Group, InboundMessage, Meeting, NewsletterIssue, OutboundMail, Partner
from hub.outbound import outbox

EXCERPT_CHARS = 420
MAX_TASKS = 8
UPCOMING_DAYS = 120
MAX_UPCOMING = 12
DIGEST_DAYS = 31
REPORT_DAYS = 182
SUBJECT_NOISE = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)
OPENING = re.compile(r"^(hallo|liebe|lieber|sehr geehrte|guten tag|anbei|im anhang|hier (ist|das|kommt)|"
                     r"-{2,}|von:|from:|gesendet:|an:|betreff:|datum:)", re.IGNORECASE)


@dataclass
class SendResult:
    issue_id: int
    recipients: int = 0
    queued: int = 0
    note: str = ""


# --- collecting ---------------------------------------------------------------------------------------


def draft(session: Session, config: Config, since: datetime | None = None, editorial: str = "",
          report: bool = False, until: datetime | None = None, source: str = "cli") -> NewsletterIssue:
    """A new issue in state draft with everything since `since` (default: the end of the previous issue)."""
    alliance = alliance_module.current(session, config)
    end = until or utcnow()
    start = since or _previous_end(session, alliance.id, report) or end - timedelta(
        days=REPORT_DAYS if report else DIGEST_DAYS)
    if start >= end:
        raise UsageError(_("die Ausgabe würde nach ihrem Ende beginnen (%(start)s nach %(end)s); geben Sie "
                           "--since mit einem früheren Datum an")
                         % {"start": f"{start:%d.%m.%Y}", "end": f"{end:%d.%m.%Y}"})
    issue = NewsletterIssue(
        alliance_id=alliance.id, kind="report" if report else "digest", title=_title(config, start, end, report),
        period_start=start, period_end=end, editorial=editorial or "",
        content=collect(session, config, alliance.id, start, end, report), source=source,
    )
    session.add(issue)
    session.flush()
    return issue


def _previous_end(session: Session, alliance_id: int, report: bool) -> datetime | None:
    return session.exec(select(sa.func.max(NewsletterIssue.period_end)).where(
        NewsletterIssue.alliance_id == alliance_id, NewsletterIssue.kind == ("report" if report else "digest"),
        NewsletterIssue.state != "draft",
    )).one()


def _title(config: Config, start: datetime, end: datetime, report: bool) -> str:
    locale = config.alliance.language
    last = (end - timedelta(seconds=1)).astimezone(config.tz)
    if report:
        return translations(locale).gettext("Bericht über die Bündnisaktivitäten %(period)s") % {
            "period": f"{format_date(start.astimezone(config.tz), 'MMMM y', locale=locale)} – "
                      f"{format_date(last, 'MMMM y', locale=locale)}"}
    return translations(locale).gettext("Newsletter %(month)s") % {
        "month": format_date(last, "MMMM y", locale=locale)}


def collect(session: Session, config: Config, alliance_id: int, start: datetime, end: datetime,
            report: bool = False) -> dict:
    """The issue's sections as plain JSON data (ISO dates), frozen into the issue."""
    groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance_id))}
    protocols = session.exec(select(InboundMessage).where(
        InboundMessage.kind == "protocol", InboundMessage.status == "filed", InboundMessage.group_id.is_not(None),
        InboundMessage.received_at >= start, InboundMessage.received_at < end,
    ).order_by(InboundMessage.received_at)).all()
    by_group: dict[int, list[dict]] = defaultdict(list)
    for message in protocols:
        group = groups.get(message.group_id)
        spec = config.group_by_slug(group.slug) if group else None
        if group is None or (spec is not None and spec.relay == "none"):
            continue  # a group that passes nothing on keeps its protocols internal
        by_group[group.id].append({
            "id": message.id,
            "title": protocol_title(message.subject, group.name),
            "meeting_date": message.meeting_date.isoformat() if message.meeting_date else None,
            "excerpt": excerpt(message.text),
            "tasks": [{"what": t.get("what", ""), "who": t.get("who") or ""} for t in message.tasks[:MAX_TASKS]],
            "next_meeting": message.next_meeting_start,
            "next_meeting_location": message.next_meeting_location,
        })
    content = {
        "groups": [{"name": groups[gid].name, "slug": groups[gid].slug, "protocols": items}
                   for gid, items in sorted(by_group.items(), key=lambda kv: groups[kv[0]].name)],
        "upcoming": upcoming(session, config, alliance_id, end, groups, protocols),
        "new_partners": [{"name": p.name, "organisation": p.organisation} for p in session.exec(
            select(Partner).where(Partner.alliance_id == alliance_id, Partner.joined_at >= start,
                                  Partner.joined_at < end, Partner.left_at.is_(None),
                                  Partner.forgotten_at.is_(None)).order_by(Partner.organisation, Partner.name))],
    }
    if report:
        content["summary"] = summary(session, alliance_id, start, end, groups, protocols)
    return content


def protocol_title(subject: str, group_name: str) -> str:
    title = SUBJECT_NOISE.sub("", subject or "").strip()
    return title or f"Protokoll {group_name}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of the protocol's results: greetings, forward headers and sign-offs left out."""
    lines = []
    for raw in (text or "").splitlines():
        line = " ".join(raw.split())
        if not line or OPENING.match(line) or line.startswith(">"):
            continue
        lines.append(line)
        if sum(len(x) for x in lines) > limit:
            break
    joined = " ".join(lines)
    if len(joined) <= limit:
        return joined
    cut = joined[:limit].rsplit(" ", 1)[0].rstrip(",;:-–")
    return cut + " …"


def upcoming(session: Session, config: Config, alliance_id: int, after: datetime, groups: dict[int, Group],
             protocols: list[InboundMessage]) -> list[dict]:
    """Meetings still to come: from the schedule, and the next meetings named in protocols not yet in it."""
    until = after + timedelta(days=UPCOMING_DAYS)
    items, seen = [], set()
    for meeting in session.exec(select(Meeting).where(
            Meeting.alliance_id == alliance_id, Meeting.status != "cancelled", Meeting.start >= after,
            Meeting.start < until).order_by(Meeting.start)):
        group = groups.get(meeting.group_id)
        local = meeting.start.astimezone(config.tz)
        seen.add((meeting.group_id, local.date()))
        start = local.date().isoformat() if meeting.all_day else local.replace(tzinfo=None).isoformat(
            timespec="minutes")  # an all-day meeting shows its day without a time
        items.append({"start": start,
                      "group": group.name if group else "", "title": meeting.title, "location": meeting.location})
    today = after.astimezone(config.tz).date()
    for message in protocols:
        value = message.next_meeting_start
        if not value:
            continue
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            continue
        if day < today or (message.group_id, day) in seen:
            continue
        seen.add((message.group_id, day))
        group = groups.get(message.group_id)
        items.append({"start": value, "group": group.name if group else "", "title": "",
                      "location": message.next_meeting_location or ""})
    items.sort(key=lambda item: item["start"])
    return items[:MAX_UPCOMING]


def summary(session: Session, alliance_id: int, start: datetime, end: datetime, groups: dict[int, Group],
            protocols: list[InboundMessage]) -> list[dict]:
    """Per group: meetings held (scheduled meetings that took place, or dates protocols name) and protocols."""
    held: dict[int, set] = defaultdict(set)
    filed: dict[int, int] = defaultdict(int)
    for meeting in session.exec(select(Meeting).where(
            Meeting.alliance_id == alliance_id, Meeting.status != "cancelled", Meeting.start >= start,
            Meeting.start < min(end, utcnow()))):
        held[meeting.group_id].add(meeting.start.date())
    for message in protocols:
        filed[message.group_id] += 1
        if message.meeting_date and start.date() <= message.meeting_date <= end.date():
            held[message.group_id].add(message.meeting_date)
    rows = [{"group": g.name, "meetings": len(held[gid]), "protocols": filed[gid]}
            for gid, g in groups.items() if g.active and (held[gid] or filed[gid] or g.kind == "group")]
    return sorted(rows, key=lambda r: r["group"])


# --- rendering ----------------------------------------------------------------------------------------


def context(issue: NewsletterIssue) -> dict:
    content = issue.content or {}
    return {
        "title": issue.title,
        "report": issue.kind == "report",
        "period_start": issue.period_start,
        "period_end": issue.period_end - timedelta(seconds=1),
        "editorial_html": markdown_html(issue.editorial) if issue.editorial.strip() else None,
        "editorial_text": issue.editorial.strip(),
        "groups": content.get("groups", []),
        "upcoming": content.get("upcoming", []),
        "new_partners": content.get("new_partners", []),
        "summary": content.get("summary"),
        "greeting": "%%greeting%%",
        "unsubscribe_url": "%%unsubscribe_url%%",
        "preview": issue.title,
    }


def render(config: Config, issue: NewsletterIssue, locale: str | None = None) -> ComposedMail:
    """The issue in one language, with the per-recipient tokens still in it: one MJML compile."""
    return compose("newsletter", context(issue), locale_for(config, locale), config)


def greeting(locale: str, name: str | None) -> str:
    gettext = translations(locale).gettext
    return gettext("Guten Tag %(name)s,") % {"name": name} if name else gettext("Guten Tag,")


def fill(composed: ComposedMail, values: dict[str, str]) -> ComposedMail:
    """The tokens filled in, as the outbox does at send time: for previews and test mails."""
    import html as html_module

    def text(value: str, escape: bool) -> str:
        for key, item in values.items():
            value = value.replace(f"%%{key}%%", html_module.escape(item) if escape else item)
        return value

    return ComposedMail(subject=composed.subject, text=text(composed.text, False), html=text(composed.html, True))


def preview(config: Config, issue: NewsletterIssue, folder: Path, locale: str | None = None) -> tuple[Path, Path]:
    """Write the issue as a sample recipient sees it: `newsletter-ID.html` and `.txt`."""
    locale = locale_for(config, locale)
    composed = fill(render(config, issue, locale), {
        "greeting": greeting(locale, "Erika Mustermann"),
        "unsubscribe_url": f"{config.web.base_url.rstrip('/')}/unsubscribe/BEISPIEL",
    })
    folder.mkdir(parents=True, exist_ok=True)
    html_path, text_path = folder / f"newsletter-{issue.id}.html", folder / f"newsletter-{issue.id}.txt"
    html_path.write_text(composed.html, encoding="utf-8")
    text_path.write_text(composed.text, encoding="utf-8")
    return html_path, text_path


# --- states and sending -------------------------------------------------------------------------------


def get(session: Session, issue_id: int) -> NewsletterIssue:
    issue = session.get(NewsletterIssue, issue_id)
    if issue is None:
        raise NotFound(_("keine Newsletter-Ausgabe %(id)s; siehe `hub newsletter list`") % {"id": issue_id})
    return issue


def approve(session: Session, issue_id: int, by: str = "cli") -> NewsletterIssue:
    issue = get(session, issue_id)
    if issue.state != "draft":
        raise HubError(_("Ausgabe %(id)s ist kein Entwurf mehr (%(state)s); nur ein Entwurf kann freigegeben werden")
                       % {"id": issue_id, "state": issue.state})
    issue.state, issue.approved_at, issue.approved_by = "approved", utcnow(), by
    session.add(issue)
    return issue


def recipients(session: Session, alliance_id: int) -> list[Partner]:
    """Partners with newsletter consent, who have not left, whose address is not disabled."""
    return list(session.exec(select(Partner).where(
        Partner.alliance_id == alliance_id, Partner.newsletter.is_(True), Partner.left_at.is_(None),
        Partner.forgotten_at.is_(None), Partner.disabled_at.is_(None), Partner.email.is_not(None),
    ).order_by(Partner.id)))


def send(session: Session, config: Config, issue_id: int,
         progress: Callable[[int, int], None] | None = None) -> SendResult:
    """Approved → outbox rows for every recipient, grouped by language; a second send is refused."""
    from hub.mailings import unsubscribe_url

    issue = get(session, issue_id)
    claimed = session.execute(
        sa.update(NewsletterIssue).where(NewsletterIssue.id == issue_id, NewsletterIssue.state == "approved")
        .values(state="sending").execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.refresh(issue)
        if issue.state == "draft":
            raise HubError(_("Ausgabe %(id)s ist ein Entwurf; sehen Sie sie an, dann `hub newsletter approve %(id)s`")
                           % {"id": issue_id})
        raise HubError(_("Ausgabe %(id)s ist schon %(state)s; sie wird nie zweimal gesendet") % {"id": issue_id,
                                                                                        "state": issue.state})
    session.refresh(issue)
    people = recipients(session, issue.alliance_id)
    result = SendResult(issue_id=issue.id, recipients=len(people))
    done = 0
    for locale, partners in sorted(by_locale(config, people).items()):
        composed = render(config, issue, locale)
        mail = OutboundMail(
            kind="newsletter", subject=composed.subject, text=composed.text, html=composed.html,
            from_address=config.mail.office_address, from_name=config.alliance.name,
            reply_to=config.mail.office_address, bulk=True, source_ref=f"newsletter:{issue.id}:{locale}",
        )
        enqueued = outbox.enqueue(session, mail, (
            outbox.Recipient(address=p.email, name=p.name, partner_id=p.id,
                             dedupe_key=f"newsletter:{issue.id}|{p.email_key}",
                             values={"greeting": greeting(locale, p.name),
                                     "unsubscribe_url": unsubscribe_url(config, p.id)})
            for p in partners))
        result.queued += enqueued.queued
        issue.mail_ids = [*issue.mail_ids, enqueued.mail_id]
        done += len(partners)
        if progress:
            progress(done, len(people))
    issue.state, issue.sent_at = "sent", utcnow()
    issue.recipients, issue.queued = result.recipients, result.queued
    session.add(issue)
    session.flush()
    return result


def test_send(session: Session, config: Config, issue_id: int, address: str) -> outbox.EnqueueResult:
    """One copy of the issue to `address` (any state), marked as a test in the subject."""
    issue = get(session, issue_id)
    locale = locale_for(config, None)
    composed = render(config, issue, locale)
    mail = OutboundMail(
        kind="newsletter_test", subject=f"[Test] {composed.subject}", text=composed.text, html=composed.html,
        from_address=config.mail.office_address, from_name=config.alliance.name,
        reply_to=config.mail.office_address, source_ref=f"newsletter-test:{issue.id}:{utcnow().timestamp()}",
    )
    return outbox.enqueue(session, mail, [outbox.Recipient(address=address, values={
        "greeting": greeting(locale, None), "unsubscribe_url": f"{config.web.base_url.rstrip('/')}/unsubscribe/TEST",
    })])


def listing(session: Session) -> list[dict]:
    issues = session.exec(select(NewsletterIssue).order_by(NewsletterIssue.id.desc())).all()
    return [describe(i) for i in issues]


def describe(issue: NewsletterIssue) -> dict:
    content = issue.content or {}
    return {
        "id": issue.id, "kind": issue.kind, "title": issue.title, "state": issue.state,
        "period_start": issue.period_start.isoformat(), "period_end": issue.period_end.isoformat(),
        "protocols": sum(len(g["protocols"]) for g in content.get("groups", [])),
        "upcoming": len(content.get("upcoming", [])), "new_partners": len(content.get("new_partners", [])),
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
        NewsletterIssue.state == "approved").order_by(NewsletterIssue.id)).first()
    if waiting is not None:
        result = send(session, config, waiting.id)
        result.note = f"Ausgabe {waiting.id} gesendet"
        return result
    issue = draft(session, config, report=kind == "report", source=f"schedule:{key}")
    return SendResult(issue_id=issue.id, note=f"Entwurf {issue.id} angelegt: bitte prüfen und freigeben")
