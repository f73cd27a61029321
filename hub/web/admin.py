"""Pages of the web admin: dashboard, review queue, protocols archive and the outbox.

They call the same functions as the CLI (`hub.review` for the review queue, `hub.outbox_actions`, the
counts and listings of `hub.queries`);
what is here is only the reading of forms and the choosing of what to show. Where a core function's
refusal would tell a command-line user what to type, the web checks first and says it in its own words.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import nh3
from sqlmodel import select
from starlette.responses import FileResponse, Response

from hub import alliance as alliance_module
from hub import dates, outbox_actions, quarantine, queries, review, search, tasks
from hub.errors import UsageError
from hub.i18n import _, ngettext
from hub.models import Blob, InboundMessage, MessageAttachment, MessageStatus
from hub.web.core import Ctx, Web, int_param
from hub.web.labels import TABLES, label
from hub.web.schedule import upcoming_sends
from hub.web.security import CONTENT_CSP

PAGE_SIZE = 50
# Attachments keep their type only when a browser shows it without running anything; the rest is a download.
SAFE_TYPES = {
    "application/pdf", "text/plain", "image/png", "image/jpeg", "image/gif",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text", "application/msword",
}
OUTBOX_STATES = list(TABLES["delivery"])  # the order a reader wants


def register(web: Web) -> None:
    web.page("/", dashboard)
    web.page("/review", review_queue)
    web.page("/messages/{id:int}", message_page)
    web.page("/messages/{id:int}/html", message_html)
    web.page("/attachments/{id:int}", attachment)
    web.action("/messages/{id:int}/assign", assign)
    web.action("/messages/{id:int}/release", release)
    web.action("/messages/{id:int}/reject", reject)
    web.action("/messages/{id:int}/retry", retry)
    web.page("/protocols", protocols)
    web.page("/outbox", outbox_page)
    web.action("/outbox/retry-failed", outbox_retry_failed)
    web.action("/outbox/{id:int}/retry", outbox_retry)
    web.action("/outbox/{id:int}/cancel", outbox_cancel)


# --- dashboard ---------------------------------------------------------------------------------------


def dashboard(ctx: Ctx) -> Response:
    db, alliance_id = ctx.db, ctx.alliance.id
    counts = outbox_actions.counts(db, ctx.alliance)
    return ctx.render(
        "dashboard.html", held=queries.held_messages(db, alliance_id, limit=10, newest_first=True),
        held_count=sum(queries.message_counts(db, alliance_id).get(status, 0) for status in queries.REVIEW),
        recent=queries.recent_protocols(db, alliance_id, 8), bounces=queries.recent_bounces(db, alliance_id, 8),
        disabled=queries.disabled_partners(db, alliance_id, 8),
        outbox=[(state, counts.get(state, 0)) for state in OUTBOX_STATES], groups=_group_names(ctx),
        sends=upcoming_sends(ctx, limit=8), overdue=tasks.listing(db, ctx.config, overdue=True)[:8],
    )


# --- review queue ------------------------------------------------------------------------------------


def review_queue(ctx: Ctx) -> Response:
    return ctx.render("review.html", held=queries.held_messages(ctx.db, ctx.alliance.id), groups=_group_names(ctx))


def message_page(ctx: Ctx) -> Response:
    message = _message(ctx)
    attachments = ctx.db.exec(
        select(MessageAttachment, Blob).join(Blob).where(MessageAttachment.message_id == message.id)
        .order_by(MessageAttachment.position)
    ).all()
    groups = alliance_module.groups(ctx.db, ctx.alliance)
    return ctx.render("message.html", message=message, attachments=attachments, groups=groups,
                      group_names=_group_names(ctx))


def message_html(ctx: Ctx) -> Response:
    """The mail's HTML, sanitized, for a sandboxed iframe: no script, no links that run, nothing fetched."""
    message = _message(ctx)
    cleaned = nh3.clean(message.html or "", url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
    return Response(
        f'<!doctype html><meta charset="utf-8"><base target="_blank">{cleaned}',
        media_type="text/html",
        headers={"Content-Security-Policy": CONTENT_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


def attachment(ctx: Ctx) -> Response:
    row = ctx.db.get(MessageAttachment, int(ctx.request.path_params["id"]))
    if row is not None and queries.message(ctx.db, ctx.alliance.id, row.message_id) is None:
        row = None  # another alliance's
    blob = ctx.db.get(Blob, row.blob_sha256) if row else None
    if blob is None:
        return ctx.render("error.html", status=404, message=_("Diesen Anhang gibt es nicht."))
    content_type = row.content_type.lower() if row.content_type.lower() in SAFE_TYPES else "application/octet-stream"
    filename = re.sub(r"[\x00-\x1f\"\\/]", "_", row.filename or "") or f"anhang-{row.id}"
    return FileResponse(
        ctx.config.data_dir / blob.path, media_type=content_type, filename=filename,
        content_disposition_type="attachment",
        headers={"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"},
    )


def assign(ctx: Ctx) -> Response:
    message = _message(ctx)
    group = next((g for g in alliance_module.groups(ctx.db, ctx.alliance) if g.slug == ctx.value("group")), None)
    if group is None:
        raise UsageError(_("Bitte wählen Sie eine Gruppe aus der Liste."))
    review.assign(ctx.db, ctx.config, message.id, group.slug, by=ctx.actor.email)
    ctx.audit("review.assign", f"message:{message.id}", group=group.slug)
    return ctx.redirect("/review", flash=_("Nachricht %(id)s wurde der Gruppe %(group)s zugeordnet und abgelegt.")
                        % {"id": message.id, "group": group.name})


def release(ctx: Ctx) -> Response:
    message = _message(ctx)
    if message.status != MessageStatus.held:
        raise UsageError(_("Diese Nachricht wartet nicht mehr auf Prüfung; ihr Stand: %(status)s.")
                         % {"status": label(message.status, "message")})
    if message.group_id is None:
        raise UsageError(_("Diese Nachricht hat noch keine Gruppe. Wählen Sie auf ihrer Seite unter „Gruppe "
                           "zuordnen“ eine aus."))
    review.release(ctx.db, ctx.config, message.id, by=ctx.actor.email)
    ctx.audit("review.release", f"message:{message.id}")
    return ctx.redirect("/review", flash=_("Nachricht %(id)s wurde freigegeben und abgelegt.") % {"id": message.id})


def reject(ctx: Ctx) -> Response:
    message = _message(ctx)
    if message.status == MessageStatus.rejected:
        raise UsageError(_("Diese Nachricht ist schon abgelehnt."))
    review.reject(ctx.db, ctx.config, message.id, by=ctx.actor.email)
    ctx.audit("review.reject", f"message:{message.id}")
    return ctx.redirect("/review", flash=_("Nachricht %(id)s wurde abgelehnt.") % {"id": message.id})


def retry(ctx: Ctx) -> Response:
    message = _message(ctx)
    if message.status != MessageStatus.quarantined:
        raise UsageError(_("Diese Nachricht wurde verarbeitet; ihr Stand: %(status)s.")
                         % {"status": label(message.status, "message")})
    message = quarantine.retry(ctx.db, ctx.config, message.id)
    ctx.audit("review.retry", f"message:{message.id}", status=message.status)
    if message.status == MessageStatus.quarantined:
        return ctx.redirect(f"/messages/{message.id}", flash=_("Nachricht %(id)s konnte wieder nicht verarbeitet "
                                                               "werden: %(error)s") % {"id": message.id,
                                                                                       "error": message.error})
    return ctx.redirect(f"/messages/{message.id}", flash=_("Nachricht %(id)s wurde erneut verarbeitet: %(status)s.")
                        % {"id": message.id, "status": label(message.status, "message")})


def _message(ctx: Ctx) -> InboundMessage:
    message = queries.message(ctx.db, ctx.alliance.id, int(ctx.request.path_params["id"]))
    if message is None:
        raise UsageError(_("Diese Nachricht gibt es nicht (mehr)."))
    return message


# --- protocols archive -------------------------------------------------------------------------------


def protocols(ctx: Ctx) -> Response:
    groups = alliance_module.groups(ctx.db, ctx.alliance, active_only=False)
    slug, q = ctx.query("group"), ctx.query("q").strip()
    since, until = _date(ctx.query("from")), _date(ctx.query("to"))
    page = max(int_param(ctx.query("page", "1")) or 1, 1)
    group = next((g for g in groups if g.slug == slug), None)
    window = {"since": dates.day_start(since, ctx.config.tz) if since else None,
              "until": dates.day_start(until, ctx.config.tz) + timedelta(days=1) if until else None,
              "offset": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE}
    if q:
        results = search.search_protocols(ctx.db, ctx.alliance, q, group=group, **window)
        total, rows, more = results.total, [hit.message for hit in results.hits], results.more
        titles = {hit.message.id: hit.title for hit in results.hits}
        snippets = {hit.message.id: hit.snippet for hit in results.hits}
    else:
        total, rows = queries.archive(ctx.db, ctx.alliance.id, group_id=group.id if group else None, **window)
        more = False
        titles = {r.id: [(r.subject, False)] for r in rows}
        snippets = {r.id: [(r.text[:search.SNIPPET_CHARS], False)] for r in rows}
    return ctx.render("protocols.html", rows=rows, groups=groups, group_names=_group_names(ctx), total=total,
                      page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), ranked=bool(q), more=more,
                      filters={"group": slug, "q": q, "from": ctx.query("from"), "to": ctx.query("to")},
                      titles=titles, snippets=snippets)


def _date(value: str) -> date | None:
    """A filter's day as picked or typed ("2027-03-01", "1.3.27"); a day that is no day filters nothing."""
    try:
        return dates.parse_date(value) if value else None
    except dates.DateError:
        return None


def _group_names(ctx: Ctx) -> dict[int, str]:
    return queries.group_names(ctx.db, ctx.alliance.id)


# --- outbox ------------------------------------------------------------------------------------------


def outbox_page(ctx: Ctx) -> Response:
    state = ctx.query("state")
    state = state if state in OUTBOX_STATES else ""
    return ctx.render("outbox.html", counts=outbox_actions.counts(ctx.db, ctx.alliance), states=OUTBOX_STATES,
                      state=state, rows=outbox_actions.listing(ctx.db, ctx.alliance, state or None, limit=200))


def outbox_retry_failed(ctx: Ctx) -> Response:
    count = outbox_actions.retry_failed(ctx.db, ctx.alliance)
    ctx.audit("outbox.retry_failed", "outbox", count=count)
    return ctx.redirect("/outbox", flash=ngettext("%(count)d fehlgeschlagene Sendung wird erneut versucht.",
                                                  "%(count)d fehlgeschlagene Sendungen werden erneut versucht.",
                                                  count) % {"count": count})


def outbox_retry(ctx: Ctx) -> Response:
    delivery_id = int(ctx.request.path_params["id"])
    outbox_actions.retry(ctx.db, ctx.alliance, delivery_id)
    ctx.audit("outbox.retry", f"delivery:{delivery_id}")
    return ctx.redirect("/outbox", flash=_("Sendung %(id)s wird erneut versucht.") % {"id": delivery_id})


def outbox_cancel(ctx: Ctx) -> Response:
    delivery_id = int(ctx.request.path_params["id"])
    outbox_actions.cancel(ctx.db, ctx.alliance, delivery_id)
    ctx.audit("outbox.cancel", f"delivery:{delivery_id}")
    return ctx.redirect("/outbox", flash=_("Sendung %(id)s wurde abgebrochen.") % {"id": delivery_id})
