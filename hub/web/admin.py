"""Pages of the web admin: dashboard, review queue, protocols archive, partners and groups.

They call the same functions as the CLI (`hub.service` for the review queue, `hub.partners` for the
registry); what is here is only the reading of forms and the choosing of what to show.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import nh3
from sqlmodel import func, or_, select
from starlette.responses import FileResponse, JSONResponse, Response

from hub import alliance as alliance_module
from hub import partners as registry
from hub.addresses import InvalidAddress, normalise_address
from hub.db import utcnow
from hub.errors import UsageError
from hub.models import (
    Blob,
    BounceEvent,
    Group,
    InboundMessage,
    MessageAttachment,
    Partner,
    Role,
)
from hub.outbound import bounces, outbox
from hub.web.core import Ctx, Web, int_param
from hub.web.security import CONTENT_CSP

PAGE_SIZE = 50
# Attachments keep their type only when a browser shows it without running anything; the rest is a download.
SAFE_TYPES = {
    "application/pdf", "text/plain", "image/png", "image/jpeg", "image/gif",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text", "application/msword",
}
OUTBOX_STATES = ["queued", "sending", "deferred", "sent", "failed", "cancelled"]  # the order a reader wants


def register(web: Web) -> None:
    web.page("/", dashboard)
    web.page("/review", review_queue)
    web.page("/messages/{id:int}", message_page)
    web.page("/messages/{id:int}/html", message_html)
    web.page("/attachments/{id:int}", attachment)
    web.action("/messages/{id:int}/assign", assign)
    web.action("/messages/{id:int}/release", release)
    web.action("/messages/{id:int}/reject", reject)
    web.page("/protocols", protocols)
    web.page("/partners", partner_list)
    web.page("/partners/new", partner_new)
    web.action("/partners/new", partner_create)
    web.page("/partners/export.csv", partner_export)
    web.page("/partners/import", partner_import_form)
    web.action("/partners/import", partner_import)
    web.page("/partners/{id:int}", partner_page)
    web.action("/partners/{id:int}", partner_update)
    web.action("/partners/{id:int}/leave", partner_leave)
    web.action("/partners/{id:int}/forget", partner_forget)
    web.page("/partners/{id:int}/data.json", partner_data)
    web.action("/partners/{id:int}/enable", partner_enable)
    web.page("/groups", group_list)
    web.page("/outbox", outbox_page)
    web.action("/outbox/retry-failed", outbox_retry_failed)
    web.action("/outbox/{id:int}/retry", outbox_retry)
    web.action("/outbox/{id:int}/cancel", outbox_cancel)


# --- dashboard ---------------------------------------------------------------------------------------


def dashboard(ctx: Ctx) -> Response:
    db = ctx.db
    held = db.exec(select(InboundMessage).where(InboundMessage.status == "held")
                   .order_by(InboundMessage.received_at.desc()).limit(10)).all()
    held_count = db.exec(select(func.count()).select_from(InboundMessage)
                         .where(InboundMessage.status == "held")).one()
    recent = db.exec(select(InboundMessage).where(InboundMessage.status == "filed",
                                                  InboundMessage.kind == "protocol")
                     .order_by(InboundMessage.received_at.desc()).limit(8)).all()
    bounces = db.exec(select(BounceEvent).order_by(BounceEvent.at.desc()).limit(8)).all()
    disabled = db.exec(select(Partner).where(Partner.alliance_id == ctx.alliance.id,
                                             Partner.disabled_at.is_not(None))
                       .order_by(Partner.disabled_at.desc()).limit(8)).all()
    counts = outbox.counts(db)
    from hub.web.schedule import upcoming_sends

    return ctx.render(
        "dashboard.html", held=held, held_count=held_count, recent=recent, bounces=bounces, disabled=disabled,
        outbox=[(state, counts.get(state, 0)) for state in OUTBOX_STATES], groups=_group_names(ctx),
        sends=upcoming_sends(ctx, limit=8),
    )


# --- review queue ------------------------------------------------------------------------------------


def review_queue(ctx: Ctx) -> Response:
    held = ctx.db.exec(select(InboundMessage).where(InboundMessage.status == "held")
                       .order_by(InboundMessage.received_at)).all()
    return ctx.render("review.html", held=held, groups=_group_names(ctx))


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
    blob = ctx.db.get(Blob, row.blob_sha256) if row else None
    if blob is None:
        return ctx.render("error.html", status=404, message="Diesen Anhang gibt es nicht.")
    content_type = row.content_type.lower() if row.content_type.lower() in SAFE_TYPES else "application/octet-stream"
    filename = re.sub(r"[\x00-\x1f\"\\/]", "_", row.filename or "") or f"anhang-{row.id}"
    return FileResponse(
        ctx.config.data_dir / blob.path, media_type=content_type, filename=filename,
        content_disposition_type="attachment",
        headers={"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"},
    )


def assign(ctx: Ctx) -> Response:
    from hub import service

    message_id = int(ctx.request.path_params["id"])
    slug = ctx.value("group")
    service.assign(ctx.db, ctx.config, message_id, slug, by=ctx.actor.email)
    ctx.audit("review.assign", f"message:{message_id}", group=slug)
    return ctx.redirect("/review", flash=f"Nachricht {message_id} wurde der Gruppe {slug} zugeordnet und abgelegt.")


def release(ctx: Ctx) -> Response:
    from hub import service

    message_id = int(ctx.request.path_params["id"])
    service.release(ctx.db, ctx.config, message_id, by=ctx.actor.email)
    ctx.audit("review.release", f"message:{message_id}")
    return ctx.redirect("/review", flash=f"Nachricht {message_id} wurde freigegeben und abgelegt.")


def reject(ctx: Ctx) -> Response:
    from hub import service

    message_id = int(ctx.request.path_params["id"])
    service.reject(ctx.db, ctx.config, message_id, by=ctx.actor.email)
    ctx.audit("review.reject", f"message:{message_id}")
    return ctx.redirect("/review", flash=f"Nachricht {message_id} wurde abgelehnt.")


def _message(ctx: Ctx) -> InboundMessage:
    message = ctx.db.get(InboundMessage, int(ctx.request.path_params["id"]))
    if message is None:
        raise UsageError("Diese Nachricht gibt es nicht (mehr).")
    return message


# --- protocols archive -------------------------------------------------------------------------------


def protocols(ctx: Ctx) -> Response:
    groups = alliance_module.groups(ctx.db, ctx.alliance, active_only=False)
    slug, q = ctx.query("group"), ctx.query("q")
    since, until = _date(ctx.query("from")), _date(ctx.query("to"))
    page = max(int_param(ctx.query("page", "1")) or 1, 1)
    query = select(InboundMessage).where(InboundMessage.kind == "protocol", InboundMessage.status == "filed")
    group = next((g for g in groups if g.slug == slug), None)
    if group is not None:
        query = query.where(InboundMessage.group_id == group.id)
    if since is not None:
        query = query.where(InboundMessage.received_at >= _start_of(ctx, since))
    if until is not None:
        query = query.where(InboundMessage.received_at < _start_of(ctx, until) + timedelta(days=1))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(InboundMessage.text.ilike(pattern, escape="\\"),
                                InboundMessage.subject.ilike(pattern, escape="\\")))
    total = ctx.db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = ctx.db.exec(query.order_by(InboundMessage.received_at.desc())
                       .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return ctx.render("protocols.html", rows=rows, groups=groups, group_names=_group_names(ctx), total=total,
                      page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                      filters={"group": slug, "q": q, "from": ctx.query("from"), "to": ctx.query("to")},
                      snippets={r.id: _snippet(r.text, q) for r in rows})


def _snippet(text: str, q: str, width: int = 160) -> str:
    if not q:
        return text[:width]
    at = text.lower().find(q.lower())
    start = max(at - width // 3, 0) if at >= 0 else 0
    return ("…" if start else "") + text[start:start + width]


def _date(value: str):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date() if value else None
    except ValueError:
        return None


def _start_of(ctx: Ctx, day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ctx.config.tz)


def _group_names(ctx: Ctx) -> dict[int, str]:
    return {g.id: g.name for g in ctx.db.exec(select(Group).where(Group.alliance_id == ctx.alliance.id))}


# --- partners and groups -----------------------------------------------------------------------------


def partner_list(ctx: Ctx) -> Response:
    slug, q, everyone = ctx.query("group") or None, ctx.query("q").lower(), ctx.query("all") == "1"
    groups = alliance_module.groups(ctx.db, ctx.alliance)
    if slug not in {g.slug for g in groups}:
        slug = None
    rows = registry.listing(ctx.db, ctx.alliance, group=slug, include_left=everyone)
    if q:
        rows = [r for r in rows if q in " ".join(str(r[k] or "") for k in ("email", "name", "organisation")).lower()]
    return ctx.render("partners.html", rows=rows, groups=groups, filters={"group": slug, "q": q, "all": everyone})


def partner_new(ctx: Ctx) -> Response:
    return ctx.render("partner_form.html", partner=None, current={"groups": [], "role": "member", "newsletter": True},
                      groups=alliance_module.groups(ctx.db, ctx.alliance), roles=[r.value for r in Role])


def partner_create(ctx: Ctx) -> Response:
    row = _partner_row(ctx)
    if registry.find(ctx.db, ctx.alliance, row.email) is not None:
        raise UsageError(f"{row.email} ist schon eingetragen; bearbeiten Sie den vorhandenen Eintrag.")
    registry.upsert(ctx.db, ctx.alliance, row, source="web")
    partner = registry.get(ctx.db, ctx.alliance, row.email)
    ctx.audit("partner.add", f"partner:{partner.id}", email=row.email, groups=list(row.groups))
    return ctx.redirect(f"/partners/{partner.id}", flash=f"{row.email} wurde eingetragen.")


def partner_page(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    data = registry.describe(ctx.db, ctx.alliance, partner)
    return ctx.render("partner.html", partner=partner, data=data, current=data["partner"],
                      groups=alliance_module.groups(ctx.db, ctx.alliance), roles=[r.value for r in Role])


def partner_update(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    if partner.left_at is not None:
        raise UsageError("Dieser Partner ist ausgetreten. Tragen Sie ihn über „Neuer Partner“ wieder ein.")
    row = _partner_row(ctx)
    if row.email.lower() != (partner.email or "").lower():
        raise UsageError("Die E-Mail-Adresse lässt sich nicht ändern: tragen Sie die neue Adresse als neuen "
                         "Partner ein und lassen Sie die alte austreten.")
    outcome = registry.upsert(ctx.db, ctx.alliance, row, source="web", partner=partner)
    ctx.audit("partner.edit", f"partner:{partner.id}", email=row.email, outcome=outcome, groups=list(row.groups),
              role=str(row.role), newsletter=row.newsletter)
    return ctx.redirect(f"/partners/{partner.id}", flash="Gespeichert." if outcome != "unchanged"
                        else "Keine Änderung.")


def partner_leave(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    registry.leave(ctx.db, ctx.alliance, partner.email or "", source="web")
    ctx.audit("partner.leave", f"partner:{partner.id}", email=partner.email)
    return ctx.redirect(f"/partners/{partner.id}", flash=f"{partner.email} ist ausgetreten; es geht keine Post mehr "
                        "an diese Adresse.")


def partner_enable(ctx: Ctx) -> Response:
    """The coordinator knows the address works again (the mailbox was full, the server is back)."""
    partner = _partner(ctx)
    if bounces.enable(ctx.db, partner):
        ctx.audit("partner.enable", f"partner:{partner.id}", email=partner.email)
    return ctx.redirect(f"/partners/{partner.id}", flash="Die Adresse bekommt wieder Post.")


def partner_forget(ctx: Ctx) -> Response:
    """DSGVO Art. 17; the checkbox is the confirm step, since this cannot be undone."""
    partner = _partner(ctx)
    if ctx.value("confirm") != "yes":
        raise UsageError("Bitte bestätigen Sie mit dem Häkchen, dass die Daten endgültig gelöscht werden sollen.")
    registry.forget(ctx.db, ctx.alliance, partner.email or "")
    ctx.audit("partner.forget", f"partner:{partner.id}")
    return ctx.redirect("/partners", flash="Die personenbezogenen Daten wurden gelöscht; anonyme Zahlen bleiben.")


def partner_data(ctx: Ctx) -> Response:
    """DSGVO Art. 15: everything stored about the person, as the file to hand them."""
    partner = _partner(ctx)
    data = registry.describe(ctx.db, ctx.alliance, partner)
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="partner-{partner.id}.json"'})


def partner_export(ctx: Ctx) -> Response:
    text = registry.export_csv(ctx.db, ctx.alliance)
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="partner.csv"'})


def partner_import_form(ctx: Ctx) -> Response:
    return ctx.render("partner_import.html", preview=None, columns=registry.CSV_COLUMNS)


def partner_import(ctx: Ctx) -> Response:
    """Two steps: the upload shows what would change (nothing saved); "Übernehmen" saves exactly that text."""
    upload = ctx.form.get("file") if ctx.form else None
    if upload is not None and not isinstance(upload, str):
        data = upload.file.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252")
    else:
        text = ctx.value("csv_text")
    if not text.strip():
        raise UsageError("Bitte wählen Sie eine CSV-Datei aus.")
    known = {g.slug for g in alliance_module.groups(ctx.db, ctx.alliance)}
    try:
        rows = registry.parse_csv(text, known)
    except registry.CsvError as exc:
        return ctx.render("partner_import.html", status=400, preview=None, columns=registry.CSV_COLUMNS,
                          error=f"Die Datei wurde nicht übernommen, nichts wurde geändert. Zeile {exc.line}: {exc}")
    confirm = ctx.value("confirm") == "1"
    result = registry.import_rows(ctx.db, ctx.alliance, rows, source="web-import")
    if not confirm:
        ctx.db.rollback()
        return ctx.render("partner_import.html", preview=result, csv_text=text, columns=registry.CSV_COLUMNS)
    ctx.audit("partner.import", "partners", **result.as_dict())
    return ctx.redirect("/partners", flash=f"Import: {len(result.added)} neu, {len(result.updated)} geändert, "
                        f"{len(result.unchanged)} unverändert, {len(result.skipped)} übersprungen (ausgetreten).")


def _partner(ctx: Ctx) -> Partner:
    partner = ctx.db.get(Partner, int(ctx.request.path_params["id"]))
    if partner is None or partner.alliance_id != ctx.alliance.id or partner.forgotten_at is not None:
        raise UsageError("Diesen Partner gibt es nicht (mehr).")
    return partner


def _partner_row(ctx: Ctx) -> registry.PartnerRow:
    try:
        email = normalise_address(ctx.value("email"))
    except InvalidAddress:
        raise UsageError("Bitte geben Sie eine vollständige E-Mail-Adresse an, etwa name@beispiel.de.") from None
    known = {g.slug for g in alliance_module.groups(ctx.db, ctx.alliance)}
    groups = tuple(s for s in ctx.values("groups") if s in known)
    try:
        role = Role(ctx.value("role", "member"))
    except ValueError:
        raise UsageError("Unbekannte Rolle.") from None
    return registry.PartnerRow(email=email, name=ctx.value("name"), organisation=ctx.value("organisation"),
                               groups=groups, role=role, newsletter=ctx.value("newsletter") == "yes")


def group_list(ctx: Ctx) -> Response:
    groups = alliance_module.groups(ctx.db, ctx.alliance)
    members = {g.slug: registry.listing(ctx.db, ctx.alliance, group=g.slug) for g in groups}
    last = dict(ctx.db.exec(
        select(InboundMessage.group_id, func.max(InboundMessage.received_at))
        .where(InboundMessage.kind == "protocol", InboundMessage.status == "filed")
        .group_by(InboundMessage.group_id)
    ).all())
    return ctx.render("groups.html", groups=groups, members=members, last=last, now=utcnow())


# --- outbox ------------------------------------------------------------------------------------------


def outbox_page(ctx: Ctx) -> Response:
    state = ctx.query("state")
    state = state if state in OUTBOX_STATES else ""
    return ctx.render("outbox.html", counts=outbox.counts(ctx.db), states=OUTBOX_STATES, state=state,
                      rows=outbox.listing(ctx.db, state or None, limit=200))


def outbox_retry_failed(ctx: Ctx) -> Response:
    count = outbox.retry(ctx.db, failed=True)
    ctx.audit("outbox.retry_failed", "outbox", count=count)
    return ctx.redirect("/outbox", flash=f"{count} fehlgeschlagene Sendungen werden erneut versucht.")


def outbox_retry(ctx: Ctx) -> Response:
    delivery_id = int(ctx.request.path_params["id"])
    outbox.retry(ctx.db, delivery_id)
    ctx.audit("outbox.retry", f"delivery:{delivery_id}")
    return ctx.redirect("/outbox", flash=f"Sendung {delivery_id} wird erneut versucht.")


def outbox_cancel(ctx: Ctx) -> Response:
    delivery_id = int(ctx.request.path_params["id"])
    outbox.cancel(ctx.db, delivery_id)
    ctx.audit("outbox.cancel", f"delivery:{delivery_id}")
    return ctx.redirect("/outbox", flash=f"Sendung {delivery_id} wurde abgebrochen.")
