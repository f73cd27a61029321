"""The newsletter: draft an issue, write the editorial with a live preview, see the mail at phone and desktop
width, send a test to yourself, approve, send with live progress, and see the delivery results.

The issue's life is `hub.newsletter` (the same as `hub newsletter …`); this module reads forms and shows.
"""

from __future__ import annotations

from sqlmodel import func, select
from starlette.responses import HTMLResponse, JSONResponse, Response

from hub import newsletter, newsletter_mail, queries
from hub.compose.render import markdown_html
from hub.errors import HubError, UsageError
from hub.i18n import _, ngettext
from hub.models import Delivery, DeliveryState, IssueState, NewsletterIssue, OutboundMail
from hub.web.core import Ctx, Web
from hub.web.labels import TABLES, label
from hub.web.schedule import describe_send, planned
from hub.web.security import CONTENT_CSP

OPEN_STATES = (DeliveryState.queued, DeliveryState.sending, DeliveryState.deferred)


def register(web: Web) -> None:
    web.page("/newsletter", newsletter_page)
    web.page("/newsletter/mails/{id:int}", mail_page)
    web.page("/newsletter/mails/{id:int}/progress", mail_progress)
    web.action("/newsletter/issues/new", issue_create)
    web.page("/newsletter/issues/{id:int}", issue_page)
    web.page("/newsletter/issues/{id:int}/preview.html", issue_preview)
    web.page("/newsletter/issues/{id:int}/progress", issue_progress)
    web.action("/newsletter/issues/{id:int}/markdown", markdown_preview)
    web.action("/newsletter/issues/{id:int}/editorial", issue_editorial)
    web.action("/newsletter/issues/{id:int}/test", issue_test)
    web.action("/newsletter/issues/{id:int}/approve", issue_approve)
    web.action("/newsletter/issues/{id:int}/send", issue_send)


def newsletter_page(ctx: Ctx) -> Response:
    upcoming = [describe_send(p) for p in planned(ctx) if p.kind == "newsletter"][:6]
    mails = queries.newsletter_mails(ctx.db, ctx.alliance.id, 30)
    return ctx.render("newsletter.html", upcoming=upcoming, mails=[(m, progress(ctx, [m.id])) for m in mails],
                      issues=newsletter.listing(ctx.db, ctx.alliance.id)[:30])


def progress(ctx: Ctx, mail_ids: list[int]) -> dict:
    counts = dict(ctx.db.exec(select(Delivery.state, func.count()).where(Delivery.mail_id.in_(mail_ids or [-1]))
                              .group_by(Delivery.state)).all())
    for state, count in queries.retained_counts(ctx.db, mail_ids=mail_ids).items():  # rows retention deleted
        counts[state] = counts.get(state, 0) + count
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in OPEN_STATES)
    parts = ", ".join(f"{counts[s]} {label(s, 'delivery')}" for s in TABLES["delivery"] if counts.get(s))
    text = _("%(done)d von %(total)d erledigt") % {"done": done, "total": total}
    return {"total": total, "done": done, "finished": total > 0 and done == total,
            "counts": counts, "text": f"{text} ({parts})" if parts else text}


def _mail(ctx: Ctx) -> OutboundMail:
    mail = ctx.db.get(OutboundMail, int(ctx.request.path_params["id"]))
    if mail is None:
        raise UsageError(_("Diese Sendung gibt es nicht."))
    return mail


def mail_page(ctx: Ctx) -> Response:
    mail = _mail(ctx)
    problems = ctx.db.exec(select(Delivery).where(Delivery.mail_id == mail.id,
                                                  Delivery.state.in_((DeliveryState.failed, DeliveryState.deferred)))
                           .order_by(Delivery.id)).all()
    return ctx.render("newsletter_mail.html", mail=mail, progress=progress(ctx, [mail.id]), problems=problems)


def mail_progress(ctx: Ctx) -> Response:
    return JSONResponse(progress(ctx, [_mail(ctx).id]))


# --- issues -------------------------------------------------------------------------------------------


def _issue(ctx: Ctx) -> NewsletterIssue:
    try:
        return newsletter.get(ctx.db, int(ctx.request.path_params["id"]), ctx.alliance.id)
    except HubError:
        raise UsageError(_("Diese Ausgabe gibt es nicht.")) from None


def issue_create(ctx: Ctx) -> Response:
    issue = newsletter.draft(ctx.db, ctx.config, editorial=ctx.value("editorial"), report=ctx.value("kind") == "report",
                             source="web")
    ctx.audit("newsletter.draft", f"newsletter:{issue.id}", kind=issue.kind)
    return ctx.redirect(f"/newsletter/issues/{issue.id}", flash=_("Der Entwurf ist angelegt."))


def issue_page(ctx: Ctx) -> Response:
    issue = _issue(ctx)
    problems = ctx.db.exec(select(Delivery).where(Delivery.mail_id.in_(issue.mail_ids or [-1]),
                                                  Delivery.state.in_((DeliveryState.failed, DeliveryState.deferred)))
                           .order_by(Delivery.id)).all()
    return ctx.render("newsletter_issue.html", issue=issue, info=newsletter.describe(issue),
                      progress=progress(ctx, issue.mail_ids), problems=problems,
                      editorial_html=markdown_html(issue.editorial), audience=len(newsletter.recipients(
                          ctx.db, issue.alliance_id)))


def issue_preview(ctx: Ctx) -> Response:
    """The issue as a sample recipient sees it, for the phone- and desktop-width iframes (sandboxed)."""
    issue = _issue(ctx)
    composed = newsletter_mail.fill(newsletter_mail.render(ctx.config, issue), {
        "greeting": newsletter_mail.greeting(ctx.config.alliance.language, "Erika Mustermann"),
        "unsubscribe_url": f"{ctx.config.web.base_url.rstrip('/')}/unsubscribe/BEISPIEL",
    })
    return HTMLResponse(composed.html, headers={"Content-Security-Policy": CONTENT_CSP,
                                                "X-Frame-Options": "SAMEORIGIN"})


def issue_progress(ctx: Ctx) -> Response:
    issue = _issue(ctx)
    return JSONResponse(progress(ctx, issue.mail_ids) if issue.mail_ids else {
        "total": 0, "done": 0, "finished": issue.state == IssueState.sent, "counts": {},
        "text": _("noch nicht versendet")})


def markdown_preview(ctx: Ctx) -> Response:
    """The live preview of the editorial while typing: sanitized HTML, changes nothing."""
    return HTMLResponse(str(markdown_html(ctx.value("markdown"))))


def issue_editorial(ctx: Ctx) -> Response:
    issue = newsletter.edit(ctx.db, ctx.alliance.id, _issue(ctx).id, editorial=ctx.value("editorial"),
                            title=ctx.value("title") or None, with_proposed=ctx.value("with_proposed") == "yes")
    ctx.audit("newsletter.editorial", f"newsletter:{issue.id}", chars=len(issue.editorial))
    return ctx.redirect(f"/newsletter/issues/{issue.id}", flash=_("Das Editorial ist gespeichert."))


def issue_test(ctx: Ctx) -> Response:
    issue = _issue(ctx)
    newsletter.test_send(ctx.db, ctx.config, issue.id, ctx.actor.email, alliance_id=ctx.alliance.id)
    ctx.audit("newsletter.test", f"newsletter:{issue.id}", to=ctx.actor.email)
    return ctx.redirect(f"/newsletter/issues/{issue.id}",
                        flash=_("Eine Test-Mail geht an %(email)s.") % {"email": ctx.actor.email})


def issue_approve(ctx: Ctx) -> Response:
    issue = _issue(ctx)
    if issue.state != IssueState.draft:
        raise UsageError(_("Diese Ausgabe ist schon %(state)s; freigeben lässt sich nur ein Entwurf.")
                         % {"state": label(issue.state, "issue")})
    newsletter.approve(ctx.db, issue.id, by=ctx.actor.email, alliance_id=ctx.alliance.id)
    ctx.audit("newsletter.approve", f"newsletter:{issue.id}")
    return ctx.redirect(f"/newsletter/issues/{issue.id}",
                        flash=_("Freigegeben. Sie können die Ausgabe jetzt senden."))


def issue_send(ctx: Ctx) -> Response:
    issue = _issue(ctx)
    if issue.state == IssueState.draft:
        raise UsageError(_("Diese Ausgabe ist noch ein Entwurf. Sehen Sie sie sich an und geben Sie sie mit "
                           "„Freigeben“ frei; dann können Sie sie senden."))
    if issue.state != IssueState.approved:
        raise UsageError(_("Diese Ausgabe ist schon %(state)s; ein Newsletter geht nie zweimal hinaus.")
                         % {"state": label(issue.state, "issue")})
    result = newsletter.send(ctx.db, ctx.config, issue.id, alliance_id=ctx.alliance.id)
    ctx.audit("newsletter.send", f"newsletter:{issue.id}", recipients=result.recipients, queued=result.queued)
    return ctx.redirect(f"/newsletter/issues/{issue.id}",
                        flash=ngettext("Der Newsletter geht an %(count)d Abonnent/in.",
                                       "Der Newsletter geht an %(count)d Abonnent/innen.", result.recipients)
                        % {"count": result.recipients})
