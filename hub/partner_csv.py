"""The partner list as CSV: what a Geschäftsstelle keeps in Excel, in and out.

One row a person. The header may be English (`name,organisation,email,groups,role,newsletter,language`) or
German (`Name, Organisation, E-Mail, Gruppen, Rolle, Newsletter, Sprache`); `language` is optional (empty:
the alliance's language). Values may be German too (Rolle `Vertretung`, Newsletter `ja`). Excel's
semicolon CSV works. A file with mistakes is refused whole, and every mistake is reported at once (up to
`MAX_PROBLEMS`), each with its line, column and what to write instead — one round of corrections, not fifty.

Addresses are stored in their normal form (`hub.addresses`); one whose part before the @ is not ASCII is
refused unless the smarthost announces SMTPUTF8 (`[smtp] smtputf8 = true`). The export neutralises spreadsheet
formulas as OWASP recommends (a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`), and
the import takes that `'` off again, so an exported file reads back unchanged.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from hub.addresses import InvalidAddress, address_key, needs_smtputf8, normalise_address
from hub.errors import UsageError
from hub.i18n import _, normalise
from hub.models import Role
from hub.partners import PartnerRow

CSV_COLUMNS = ["name", "organisation", "email", "groups", "role", "newsletter", "language"]
REQUIRED = CSV_COLUMNS[:6]
HEADERS = {  # every header a coordinator may write → the column
    "name": "name", "organisation": "organisation", "organization": "organisation", "email": "email",
    "e-mail": "email", "groups": "groups", "gruppen": "groups", "role": "role", "rolle": "role",
    "newsletter": "newsletter", "language": "language", "sprache": "language",
}
ROLES = {
    "member": Role.member, "mitglied": Role.member,
    "representative": Role.representative, "vertretung": Role.representative, "vertreter": Role.representative,
    "vertreterin": Role.representative, "vertreter/in": Role.representative,
    "coordinator": Role.coordinator, "koordination": Role.coordinator, "koordinator": Role.coordinator,
    "koordinatorin": Role.coordinator, "koordinator/in": Role.coordinator, "geschäftsstelle": Role.coordinator,
}
YES = {"yes", "ja", "y", "j", "true", "1", "x"}
NO = {"no", "nein", "n", "false", "0", ""}
LANGUAGES = {"de": "de", "deutsch": "de", "german": "de", "en": "en", "englisch": "en", "english": "en"}
MAX_PROBLEMS = 50
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvProblem:
    line: int
    column: str  # as the file names it, or "" for the whole line
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("Zeile %(line)d, Spalte %(column)s: %(message)s") % {
                "line": self.line, "column": self.column, "message": self.message}
        return _("Zeile %(line)d: %(message)s") % {"line": self.line, "message": self.message}


class CsvError(UsageError):
    """The file was refused whole; `problems` lists every mistake found (at most MAX_PROBLEMS)."""

    def __init__(self, problems: list[CsvProblem], more: int = 0):
        self.problems = problems
        self.more = more
        lines = [str(p) for p in problems]
        if more:
            lines.append(_("… und %(count)d weitere Fehler") % {"count": more})
        head = _("Die Datei wurde nicht importiert, nichts wurde geändert. Bitte korrigieren Sie:")
        super().__init__("\n".join([head, *lines]))


def parse_csv(text: str, known_groups: set[str], smtputf8: bool = False) -> list[PartnerRow]:
    """The rows of a partner CSV, or CsvError naming every mistake; `smtputf8`: the smarthost takes addresses
    with a local part outside ASCII."""
    text = text.removeprefix("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    written = [h.strip() for h in (reader.fieldnames or [])]
    columns = [HEADERS.get(h.lower(), "") for h in written]
    _check_header(written, columns)
    names = dict(zip(columns, written, strict=True))  # column → the header as the file writes it
    reader.fieldnames = columns

    problems: list[CsvProblem] = []
    rows: list[PartnerRow] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:
            problems.append(CsvProblem(line, "", _(
                "mehr Felder als Spalten; setzen Sie Werte, die das Trennzeichen enthalten, in Anführungszeichen")))
            continue
        values = {k: _unquote((v or "").strip()) for k, v in record.items()}
        if not any(values.values()):
            continue
        row, found = _row(values, line, known_groups, names, smtputf8)
        problems += found
        if row is None:
            continue
        key = address_key(row.email)
        if key in seen:
            problems.append(CsvProblem(line, names["email"], _(
                "%(email)s steht schon in Zeile %(first)d; bitte nur eine Zeile pro Person") % {
                "email": row.email, "first": seen[key]}))
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise CsvError(problems[:MAX_PROBLEMS], max(0, len(problems) - MAX_PROBLEMS))
    return rows


def _check_header(written: list[str], columns: list[str]) -> None:
    expected = "name,organisation,email,groups,role,newsletter[,language]"
    german = "Name;Organisation;E-Mail;Gruppen;Rolle;Newsletter[;Sprache]"
    problems = []
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problems.append(CsvProblem(1, "", _(
            "es fehlen die Spalten %(missing)s; die Kopfzeile muss %(expected)s lauten (oder deutsch: %(german)s)")
            % {"missing": ", ".join(missing), "expected": expected, "german": german}))
    unknown = [w for w, c in zip(written, columns, strict=True) if not c]
    if unknown:
        problems.append(CsvProblem(1, "", _(
            "unbekannte Spalten %(unknown)s; erlaubt sind %(expected)s (oder deutsch: %(german)s)")
            % {"unknown": ", ".join(unknown), "expected": expected, "german": german}))
    doubled = sorted({c for c in columns if c and columns.count(c) > 1})
    if doubled:
        problems.append(CsvProblem(1, "", _("die Spalten %(columns)s stehen doppelt in der Kopfzeile")
                                   % {"columns": ", ".join(doubled)}))
    if problems:
        raise CsvError(problems)


def _row(values: dict[str, str], line: int, known: set[str], names: dict[str, str],
         smtputf8: bool = False) -> tuple[PartnerRow | None, list[CsvProblem]]:
    problems = []

    def problem(column: str, message: str) -> None:
        problems.append(CsvProblem(line, names[column], message))

    email = ""
    try:
        email = normalise_address(values["email"])
    except InvalidAddress as exc:
        problem("email", str(exc))
    else:
        if needs_smtputf8(email) and not smtputf8:
            problem("email", utf8_local_part(email))
    groups = tuple(g.strip().lower() for g in values["groups"].replace(",", ";").split(";") if g.strip())
    for slug in groups:
        if slug not in known:
            problem("groups", _("unbekannte Gruppe „%(slug)s“; möglich sind: %(known)s")
                    % {"slug": slug, "known": ", ".join(sorted(known))})
    role = ROLES.get(values["role"].lower() or "member")
    if role is None:
        problem("role", _("„%(value)s“ ist keine Rolle; schreiben Sie member, representative oder coordinator "
                          "(Mitglied, Vertretung, Koordination)") % {"value": values["role"]})
    newsletter = values["newsletter"].lower()
    if newsletter not in YES | NO:
        problem("newsletter", _("„%(value)s“: bitte ja oder nein (yes oder no)") % {"value": values["newsletter"]})
    language = values.get("language", "").lower()
    if language and language not in LANGUAGES:
        problem("language", _("„%(value)s“ ist keine unterstützte Sprache; schreiben Sie de oder en, "
                              "oder lassen Sie das Feld leer") % {"value": values["language"]})
    if problems:
        return None, problems
    return PartnerRow(
        email=email,
        name=values["name"],
        organisation=values["organisation"],
        groups=groups,
        role=role,
        newsletter=newsletter in YES,
        language=normalise(LANGUAGES.get(language)),
        line=line,
    ), []


def utf8_local_part(email: str) -> str:
    """Why an address with a local part outside ASCII is refused, and what to do."""
    return _("%(email)s: der Teil vor dem @ enthält Zeichen außerhalb von ASCII, und der Mailserver "
             "(Smarthost) kann solche Adressen nicht zustellen. Bitte fragen Sie die Person nach einer Adresse "
             "ohne Umlaute vor dem @; wenn Ihr Smarthost SMTPUTF8 anbietet, setzen Sie [smtp] smtputf8 = true.") % {
        "email": email}


def export_csv(partners: list[dict]) -> str:
    """The partners (as `partners.listing` gives them) as a CSV that `parse_csv` reads back unchanged; every
    cell that a spreadsheet would take for a formula is neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in partners:
        writer.writerow([neutralise(str(value)) for value in (
            p["name"], p["organisation"], p["email"], ";".join(p["groups"]), p["role"],
            "yes" if p["newsletter"] else "no", p.get("language") or "")])
    return buffer.getvalue()


def neutralise(value: str) -> str:
    """A cell that would start a formula in Excel or LibreOffice (OWASP: `=`, `+`, `-`, `@`, tab, CR) gets a
    leading `'`, so it is shown as text; a value that already starts with `'` gets one more, so that the
    import's `_unquote` gives back exactly the value."""
    return "'" + value if value.startswith((*FORMULA_PREFIXES, "'")) else value


def _unquote(value: str) -> str:
    """The inverse of `neutralise` for a cell as read (the `'` an export put there, or Excel kept)."""
    if value.startswith("'") and value[1:].startswith((*FORMULA_PREFIXES, "'")):
        return value[1:]
    return value
