"""Issue 12, addresses: one normal form for every address (IDNA domain, NFC, lower-case domain); a local part
outside ASCII is refused at import unless the smarthost announces SMTPUTF8; the CSV export neutralises formulas."""

from __future__ import annotations

import unicodedata

import pytest
from sqlmodel import select

from hub import addresses, partner_actions
from hub import config as config_module
from hub.addresses import InvalidAddress, address_key, needs_smtputf8, normalise_address
from hub.errors import UsageError
from hub.models import Partner
from hub.partner_csv import CsvError, neutralise, parse_csv

HEADER = "name,organisation,email,groups,role,newsletter\n"


def test_the_unicode_and_the_xn_form_of_a_domain_are_one_address():
    assert normalise_address("Info@Bündnis.Example") == "Info@xn--bndnis-3ya.example"
    assert normalise_address("Info@XN--BNDNIS-3YA.example.") == "Info@xn--bndnis-3ya.example"
    assert address_key("info@bündnis.example") == address_key("INFO@xn--bndnis-3ya.example")
    decomposed = unicodedata.normalize("NFD", "jürgen@example.org")
    assert normalise_address(decomposed) == unicodedata.normalize("NFC", "jürgen@example.org")
    assert needs_smtputf8(normalise_address(decomposed)) and not needs_smtputf8("a@xn--bndnis-3ya.example")
    for bad in ("a@xn--zz.example", "a@bünd_nis.example", "a@-bündnis.example"):
        with pytest.raises(InvalidAddress):
            normalise_address(bad)


def test_keys_are_kept_only_for_what_can_be_an_address():
    """address_key keeps the keys it made (filing asks for the same few a dozen times per message), but not of a
    hostile header's kilobytes."""
    before = addresses._cached_key.cache_info().currsize
    huge = "Ä" * 5000 + "@Example.org"
    assert address_key(huge) == huge.lower()
    assert addresses._cached_key.cache_info().currsize == before
    key = "ina.schluessel@xn--bndnis-3ya.example"
    assert address_key("Ina.Schluessel@Bündnis.example") == address_key("ina.schluessel@xn--bndnis-3ya.example") == key
    assert addresses._cached_key.cache_info().currsize == before + 2


def test_both_forms_of_one_address_are_one_partner(config, session, alliance):
    first = partner_actions.import_csv(session, config, alliance, HEADER + "Ina,Kita,ina@bündnis.example,,member,yes\n",
                                       source="test", welcome=False)
    second = partner_actions.import_csv(session, config, alliance,
                                        HEADER + "Ina,Kita,INA@XN--BNDNIS-3YA.example,,member,yes\n",
                                        source="test", welcome=False)
    assert first.added == ["ina@xn--bndnis-3ya.example"] and second.added == []
    rows = session.exec(select(Partner)).all()
    assert [(p.email, p.email_key) for p in rows] == [("INA@xn--bndnis-3ya.example", "ina@xn--bndnis-3ya.example")]
    with pytest.raises(CsvError, match="Zeile 3"):  # one file with both forms: one row per person
        parse_csv(HEADER + "Ina,,ina@bündnis.example,,member,yes\nIna,,ina@xn--bndnis-3ya.example,,member,yes\n",
                  set())


def test_a_non_ascii_local_part_is_refused_at_import_unless_the_smarthost_takes_smtputf8(hub_dir, config, session,
                                                                                           alliance):
    text = HEADER + "Jürgen,Amt,jürgen@amt.example,,member,yes\n"
    with pytest.raises(CsvError) as refused:
        partner_actions.import_csv(session, config, alliance, text, source="test", welcome=False)
    [problem] = refused.value.problems
    assert problem.line == 2 and problem.column == "email"
    assert "jürgen@amt.example" in problem.message and "SMTPUTF8" in problem.message
    assert session.exec(select(Partner)).all() == []
    with pytest.raises(UsageError, match="SMTPUTF8"):
        partner_actions.join(session, config, alliance, partner_actions.row("jürgen@amt.example"), source="test")
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[smtp]\nhost = "smtp.example"\nsmtputf8 = true\n',
                    encoding="utf-8")
    utf8 = config_module.load(path)
    result = partner_actions.import_csv(session, utf8, alliance, text, source="test", welcome=False)
    assert result.added == ["jürgen@amt.example"]


def test_the_csv_export_neutralises_formulas_and_reads_back_unchanged(config, session, alliance):
    evil = '=HYPERLINK("https://evil.example","Klick")'
    partner_actions.join(session, config, alliance, partner_actions.row(
        "formel@familie.example", name=evil, organisation="+49 Verein"), source="test", welcome=False)
    partner_actions.join(session, config, alliance, partner_actions.row(
        "-minus@familie.example", name="@Anna", organisation="'s-Hertogenbosch"), source="test", welcome=False)
    exported = partner_actions.export_csv(session, alliance)
    for line in exported.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "-", "@", "\t", "\r")), line
    assert "'=HYPERLINK" in exported and "'+49 Verein" in exported and "'-minus@familie.example" in exported
    rows = {r.email: r for r in parse_csv(exported, set())}
    assert rows["formel@familie.example"].name == evil
    assert rows["formel@familie.example"].organisation == "+49 Verein"
    assert (rows["-minus@familie.example"].name, rows["-minus@familie.example"].organisation) == (
        "@Anna", "'s-Hertogenbosch")
    assert neutralise("\tx") == "'\tx" and neutralise("\rx") == "'\rx" and neutralise("Anna") == "Anna"
