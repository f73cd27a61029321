"""Pages of the partner registry and the working groups: list, add, edit, leave, erase, CSV in and out.

They call `hub.partner_actions`, the same as `hub partners …`; here is only the reading of forms and the
choosing of what to show.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from hub import alliance as alliance_module
from hub import groups as groups_module
from hub import partner_actions, partner_csv
from hub.errors import UsageError
from hub.i18n import _
from hub.models import Partner, Role
from hub.partners import PartnerRow
from hub.web.core import Ctx, Web


def register(web: Web) -> None:
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
    web.action("/partners/{id:int}/approve", partner_approve)
    web.page("/groups", group_list)


def partner_list(ctx: Ctx) -> Response:
    slug, q, everyone = ctx.query("group") or None, ctx.query("q").lower(), ctx.query("all") == "1"
    groups = alliance_module.groups(ctx.db, ctx.alliance)
    if slug not in {g.slug for g in groups}:
        slug = None
    rows = partner_actions.listing(ctx.db, ctx.alliance, group=slug, include_left=everyone)
    if q:
        rows = [r for r in rows if q in " ".join(str(r[k] or "") for k in ("email", "name", "organisation")).lower()]
    return ctx.render("partners.html", rows=rows, groups=groups, filters={"group": slug, "q": q, "all": everyone},
                      group_names=_group_names(ctx))


def partner_new(ctx: Ctx) -> Response:
    return ctx.render("partner_form.html", partner=None, current={"groups": [], "role": "member", "newsletter": True},
                      groups=alliance_module.groups(ctx.db, ctx.alliance), roles=[r.value for r in Role])


def partner_create(ctx: Ctx) -> Response:
    row = _partner_row(ctx)
    partner = partner_actions.join(ctx.db, ctx.config, ctx.alliance, row, source="web")
    ctx.audit("partner.add", f"partner:{partner.id}", email=row.email, groups=list(row.groups))
    return ctx.redirect(f"/partners/{partner.id}", flash=_("%(email)s wurde eingetragen.") % {"email": row.email})


def partner_page(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    data = partner_actions.describe(ctx.db, ctx.config, ctx.alliance, partner.email)
    return ctx.render("partner.html", partner=partner, data=data, current=data["partner"],
                      groups=alliance_module.groups(ctx.db, ctx.alliance), roles=[r.value for r in Role],
                      group_names=_group_names(ctx))


def partner_update(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    row = _partner_row(ctx)
    outcome = partner_actions.update(ctx.db, ctx.alliance, partner, row, source="web")
    ctx.audit("partner.edit", f"partner:{partner.id}", email=row.email, outcome=outcome, groups=list(row.groups),
              role=str(row.role), newsletter=row.newsletter)
    return ctx.redirect(f"/partners/{partner.id}", flash=_("Gespeichert.") if outcome != "unchanged"
                        else _("Keine Änderung."))


def partner_leave(ctx: Ctx) -> Response:
    partner = _partner(ctx)
    partner_actions.leave(ctx.db, ctx.alliance, partner.email, source="web")
    ctx.audit("partner.leave", f"partner:{partner.id}", email=partner.email)
    return ctx.redirect(f"/partners/{partner.id}", flash=_(
        "%(email)s ist ausgetreten; es geht keine Post mehr an diese Adresse.") % {"email": partner.email})


def partner_enable(ctx: Ctx) -> Response:
    """The coordinator knows the address works again (the mailbox was full, the server is back)."""
    partner = _partner(ctx)
    if partner_actions.enable(ctx.db, ctx.alliance, partner.email):
        ctx.audit("partner.enable", f"partner:{partner.id}", email=partner.email)
    return ctx.redirect(f"/partners/{partner.id}", flash=_("Die Adresse bekommt wieder Post."))


def partner_approve(ctx: Ctx) -> Response:
    """A reader who subscribed on the web becomes a partner of the registry (the coordinator knows them)."""
    partner = _partner(ctx)
    partner_actions.approve(ctx.db, ctx.alliance, partner.email)
    ctx.audit("partner.approve", f"partner:{partner.id}", email=partner.email)
    return ctx.redirect(f"/partners/{partner.id}", flash=_("%(email)s ist jetzt Bündnispartner/in.")
                        % {"email": partner.email})


def partner_forget(ctx: Ctx) -> Response:
    """DSGVO Art. 17; the checkbox is the confirm step, since this cannot be undone."""
    partner = _partner(ctx)
    if ctx.value("confirm") != "yes":
        raise UsageError(_("Bitte bestätigen Sie mit dem Häkchen, dass die Daten endgültig gelöscht werden sollen."))
    report = partner_actions.forget(ctx.db, ctx.config, ctx.alliance, partner.email)
    ctx.audit("partner.forget", f"partner:{partner.id}", other_protocols=report.other_protocols)
    return ctx.redirect("/partners", flash=_("Die personenbezogenen Daten wurden gelöscht; anonyme Zahlen bleiben.")
                        + " " + partner_actions.review_note(report.other_protocols))


def partner_data(ctx: Ctx) -> Response:
    """DSGVO Art. 15: everything stored about the person, as the file to hand them."""
    partner = _partner(ctx)
    data = partner_actions.describe(ctx.db, ctx.config, ctx.alliance, partner.email)
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="partner-{partner.id}.json"'})


def partner_export(ctx: Ctx) -> Response:
    text = partner_actions.export_csv(ctx.db, ctx.alliance)
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="partner.csv"'})


def partner_import_form(ctx: Ctx) -> Response:
    return ctx.render("partner_import.html", preview=None, columns=partner_csv.CSV_COLUMNS)


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
        raise UsageError(_("Bitte wählen Sie eine CSV-Datei aus."))
    confirm, welcome = ctx.value("confirm") == "1", ctx.value("no_welcome") != "1"
    try:
        result = partner_actions.import_csv(ctx.db, ctx.config, ctx.alliance, text, source="web-import",
                                            dry_run=not confirm, welcome=welcome)
    except partner_csv.CsvError as exc:
        # The core words each mistake with its line and column; the page lists them.
        return ctx.render("partner_import.html", status=400, preview=None, columns=partner_csv.CSV_COLUMNS,
                          problems=[str(p) for p in exc.problems], more=exc.more)
    if not confirm:
        return ctx.render("partner_import.html", preview=result, csv_text=text, columns=partner_csv.CSV_COLUMNS,
                          welcome=welcome)
    ctx.audit("partner.import", "partners", welcome=welcome, **result.as_dict())
    return ctx.redirect("/partners", flash=_(
        "Import: %(added)d neu, %(updated)d geändert, %(unchanged)d unverändert, %(skipped)d übersprungen "
        "(ausgetreten).") % {"added": len(result.added), "updated": len(result.updated),
                             "unchanged": len(result.unchanged), "skipped": len(result.skipped)})


def _group_names(ctx: Ctx) -> dict[str, str]:
    """Slug → name, former groups included: the registry describes memberships by slug."""
    return {g.slug: g.name for g in alliance_module.groups(ctx.db, ctx.alliance, active_only=False)}


def _partner(ctx: Ctx) -> Partner:
    return partner_actions.by_id(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))


def _partner_row(ctx: Ctx) -> PartnerRow:
    return partner_actions.row(ctx.value("email"), name=ctx.value("name"), organisation=ctx.value("organisation"),
                               group_slugs=ctx.values("groups"), role=ctx.value("role", "member"),
                               newsletter=ctx.value("newsletter") == "yes",
                               language=ctx.value("language", None))  # "": the alliance's; absent: unchanged


def group_list(ctx: Ctx) -> Response:
    groups = groups_module.listing(ctx.db, ctx.alliance)
    partners = partner_actions.listing(ctx.db, ctx.alliance)
    members = {g["slug"]: [p for p in partners if g["slug"] in p["groups"]] for g in groups}
    return ctx.render("groups.html", groups=groups, members=members)
