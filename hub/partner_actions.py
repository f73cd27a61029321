"""What a coordinator does with partners, one function per action, called by `hub partners …` and the web.

Joining (one at a time or by CSV import) sends the welcome mail unless the caller says not to, whichever
door it came through; named groups must exist; the registry (`hub.partners`) keeps the records.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session

from hub import alliance as alliance_module
from hub import erasure, groups, mailings, partner_csv, queries
from hub import partners as registry
from hub.addresses import InvalidAddress, needs_smtputf8, normalise_address
from hub.config import Config
from hub.errors import UsageError
from hub.i18n import _, ngettext
from hub.mail_redaction import identity
from hub.models import Alliance, Partner, Role
from hub.outbound import bounces


def row(email: str, name: str = "", organisation: str = "", group_slugs: tuple[str, ...] | list[str] = (),
        role: str = "member", newsletter: bool = True, language: str | None = None) -> registry.PartnerRow:
    """A partner as typed into a form or a command line; a bad address, role or language is refused.
    `language` None keeps what is stored, "" means the alliance's language."""
    try:
        address = normalise_address(email)
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from None
    try:
        typed_role = Role(role or "member")
    except ValueError:
        raise UsageError(_("unbekannte Rolle %(role)r; möglich sind member, representative, coordinator")
                         % {"role": role}) from None
    return registry.PartnerRow(email=address, name=name.strip(), organisation=organisation.strip(),
                               groups=tuple(group_slugs), role=typed_role, newsletter=newsletter,
                               language=language_of(language))


def language_of(value: str | None) -> str | None:
    """A partner's language as typed (de, en, Deutsch, English …); "" the alliance's, None no change."""
    if value is None:
        return None
    typed = value.strip().lower()
    if not typed:
        return ""
    language = partner_csv.LANGUAGES.get(typed)
    if language is None:
        raise UsageError(_("„%(value)s“ ist keine unterstützte Sprache; schreiben Sie de oder en")
                         % {"value": value})
    return language


def edit(session: Session, alliance: Alliance, email: str, name: str | None = None, organisation: str | None = None,
         language: str | None = None) -> Partner:
    """A partner's name, organisation or language (the one their mail is written in); groups, role and
    consent stay as they are. None leaves a field alone; language "" returns to the alliance's language."""
    partner = registry.get(session, alliance, email)
    if partner.left_at is not None:
        raise UsageError(_("%(email)s ist ausgetreten; nehmen Sie die Person neu auf, um sie zurückzuholen")
                         % {"email": partner.email})
    if name is not None:
        partner.name = name.strip()
    if organisation is not None:
        partner.organisation = organisation.strip()
    if language is not None:
        partner.language = language_of(language) or None
    session.add(partner)
    return partner


def join(session: Session, config: Config, alliance: Alliance, new: registry.PartnerRow, source: str,
         welcome: bool = True) -> Partner:
    """A new partner, or one who left coming back, or a self-subscriber (a newsletter reader) the coordinator
    now takes into the registry (that approves it); the welcome mail unless `welcome` is False."""
    groups.require_all(session, alliance, new.groups)
    require_deliverable(config, new.email)
    existing = registry.find(session, alliance, new.email)
    if existing is not None and existing.left_at is None and existing.audience == registry.PUBLIC:
        registry.upsert(session, alliance, replace(new, audience=registry.PARTNER), source=source, partner=existing)
        return existing
    if existing is not None and existing.left_at is None:
        raise UsageError(_("%(email)s ist schon eingetragen; ändern Sie den vorhandenen Eintrag oder importieren "
                           "Sie eine CSV-Datei mit `hub partners import`") % {"email": new.email})
    registry.upsert(session, alliance, replace(new, audience=registry.PARTNER), source=source, partner=existing)
    partner = registry.get(session, alliance, new.email)
    if welcome:
        mailings.send_welcome(session, config, partner)
    return partner


def approve(session: Session, alliance: Alliance, email: str) -> Partner:
    """A self-subscriber becomes a partner of the registry: listed under "Neu im Bündnis", organisation shown,
    every section of the newsletter. Idempotent."""
    partner = registry.get(session, alliance, email)
    if partner.audience != registry.PARTNER:
        partner.audience = registry.PARTNER
        session.add(partner)
    return partner


def require_deliverable(config: Config, email: str) -> None:
    """An address whose local part is not ASCII only if the smarthost announces SMTPUTF8."""
    if needs_smtputf8(email) and not smtputf8(config):
        raise UsageError(partner_csv.utf8_local_part(email))


def smtputf8(config: Config) -> bool:
    """`[smtp] smtputf8`: the smarthost takes addresses with a local part outside ASCII (default: no)."""
    return bool(config.smtp and config.smtp.smtputf8)


def update(session: Session, alliance: Alliance, partner: Partner, changed: registry.PartnerRow,
           source: str) -> str:
    """A partner's name, organisation, groups, role or newsletter consent; returns "updated" or "unchanged"."""
    if partner.left_at is not None:
        raise UsageError(_("%(email)s ist ausgetreten; nehmen Sie die Person neu auf, um sie zurückzuholen")
                         % {"email": partner.email})
    if changed.email.lower() != (partner.email or "").lower():
        raise UsageError(_("Die E-Mail-Adresse lässt sich nicht ändern: tragen Sie die neue Adresse als neuen "
                           "Partner ein und lassen Sie die alte austreten."))
    groups.require_all(session, alliance, changed.groups)
    return registry.upsert(session, alliance, changed, source=source, partner=partner)


def import_csv(session: Session, config: Config, alliance: Alliance, text: str, source: str,
               dry_run: bool = False, welcome: bool = True) -> registry.ImportResult:
    """A whole CSV file or nothing (CsvError names every mistake). A dry run reports and rolls back;
    otherwise every new partner gets the welcome mail unless `welcome` is False."""
    known = {g.slug for g in alliance_module.groups(session, alliance)}
    rows = partner_csv.parse_csv(text, known, smtputf8=smtputf8(config))
    result = registry.import_rows(session, alliance, rows, source=source)
    if dry_run:
        session.rollback()
    elif welcome:
        mailings.welcome_new(session, config, result.added)
    return result


def by_id(session: Session, alliance: Alliance, partner_id: int) -> Partner:
    """A partner of this alliance who has not been erased (the web names partners by id)."""
    partner = session.get(Partner, partner_id)
    if partner is None or partner.alliance_id != alliance.id or partner.forgotten_at is not None:
        raise UsageError(_("Diesen Partner gibt es nicht (mehr)."))
    return partner


def leave(session: Session, alliance: Alliance, email: str, source: str) -> Partner:
    return registry.leave(session, alliance, email, source=source)


def forget(session: Session, config: Config, alliance: Alliance, email: str) -> erasure.Report:
    """DSGVO Art. 17: the partner's row blanked (anonymous counts stay), and the person erased from every row,
    raw mail and file that names them (hub/erasure.py); the report lists others' protocols to review."""
    partner = registry.get(session, alliance, email)
    address, person = partner.email, identity(partner.email, partner.name)
    registry.forget(session, alliance, email)
    return erasure.erase(session, config, partner.id, address, person)


def review_note(ids: list[int]) -> str:
    """How many protocols of others still mention the person, for the Geschäftsstelle to review."""
    if not ids:
        return _("Kein anderes Protokoll erwähnt den Namen oder die Adresse.")
    return ngettext("%(count)d weiteres Protokoll erwähnt den Namen oder die Adresse; bitte prüfen Sie es "
                    "(Nachricht %(ids)s).",
                    "%(count)d weitere Protokolle erwähnen den Namen oder die Adresse; bitte prüfen Sie sie "
                    "(Nachrichten %(ids)s).", len(ids)) % {"count": len(ids), "ids": ", ".join(map(str, ids))}


def enable(session: Session, alliance: Alliance, email: str) -> bool:
    """The address works again; returns whether it had been disabled."""
    return bounces.enable(session, registry.get(session, alliance, email))


def describe(session: Session, config: Config, alliance: Alliance, email: str) -> dict:
    """DSGVO Art. 15: everything stored about the person, including the raw mails, deliveries and outbox files
    a forget would erase."""
    partner = registry.get(session, alliance, email)
    return registry.describe(session, alliance, partner) | erasure.inventory(
        session, config, partner.id, partner.email, identity(partner.email, partner.name))


def listing(session: Session, alliance: Alliance, group: str | None = None, include_left: bool = False) -> list[dict]:
    """Partners as plain data, by address; `group` (a slug) must exist."""
    if group is not None:
        groups.require(session, alliance, group)
    by_partner = queries.current_groups_by_partner(session, alliance.id)
    out = [registry.summary(p, by_partner.get(p.id, []))
           for p in queries.partners(session, alliance.id, include_left=include_left)]
    return [p for p in out if group in p["groups"]] if group is not None else out


def export_csv(session: Session, alliance: Alliance) -> str:
    return partner_csv.export_csv(listing(session, alliance))
