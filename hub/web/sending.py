"""The newsletter: what is planned, and for every issue sent its delivery results with live progress."""

from __future__ import annotations

from sqlmodel import func, select
from starlette.responses import JSONResponse, Response

from hub.db import utcnow
from hub.errors import UsageError
from hub.models import Delivery, OutboundMail
from hub.web.core import Ctx, Web
from hub.web.schedule import describe_send, planned

LABELS = {"queued": "wartet", "sending": "wird gesendet", "deferred": "später erneut", "sent": "gesendet",
          "failed": "fehlgeschlagen", "cancelled": "abgebrochen"}
OPEN_STATES = ("queued", "sending", "deferred")


def register(web: Web) -> None:
    web.page("/newsletter", newsletter_page)
    web.page("/newsletter/mails/{id:int}", mail_page)
    web.page("/newsletter/mails/{id:int}/progress", mail_progress)


def newsletter_page(ctx: Ctx) -> Response:
    upcoming = [describe_send(p) for p in planned(ctx) if p.kind == "newsletter"][:6]
    mails = ctx.db.exec(select(OutboundMail).where(OutboundMail.kind == "newsletter")
                        .order_by(OutboundMail.created_at.desc()).limit(30)).all()
    return ctx.render("newsletter.html", upcoming=upcoming, mails=[(m, progress(ctx, m.id)) for m in mails])


def progress(ctx: Ctx, mail_id: int) -> dict:
    counts = dict(ctx.db.exec(select(Delivery.state, func.count()).where(Delivery.mail_id == mail_id)
                              .group_by(Delivery.state)).all())
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in OPEN_STATES)
    text = ", ".join(f"{counts[s]} {LABELS[s]}" for s in LABELS if counts.get(s))
    return {"total": total, "done": done, "finished": total > 0 and done == total,
            "counts": counts, "text": f"{done} von {total} erledigt" + (f" ({text})" if text else "")}


def _mail(ctx: Ctx) -> OutboundMail:
    mail = ctx.db.get(OutboundMail, int(ctx.request.path_params["id"]))
    if mail is None:
        raise UsageError("Diese Sendung gibt es nicht.")
    return mail


def mail_page(ctx: Ctx) -> Response:
    mail = _mail(ctx)
    problems = ctx.db.exec(select(Delivery).where(Delivery.mail_id == mail.id,
                                                  Delivery.state.in_(("failed", "deferred")))
                           .order_by(Delivery.id)).all()
    return ctx.render("newsletter_mail.html", mail=mail, progress=progress(ctx, mail.id), problems=problems,
                      labels=LABELS, now=utcnow())


def mail_progress(ctx: Ctx) -> Response:
    return JSONResponse(progress(ctx, _mail(ctx).id))
