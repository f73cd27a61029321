"""The partner registry, through the real `hub` command as a coordinator uses it."""

import json

import pytest
from sqlmodel import select

from hub import partner_csv
from hub import partners as registry
from hub.models import Consent, Membership, Partner


def load(hub):
    assert hub("init").returncode == 0
    result = hub("partners", "import", "config/partners.example.csv")
    assert result.returncode == 0, result.stderr
    return result


def listing(hub, *args):
    result = hub("partners", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_init_is_idempotent(hub):
    first = hub("init")
    second = hub("init")
    assert first.returncode == second.returncode == 0
    assert "Datenbank auf Stand" in second.stdout
    groups = json.loads(hub("groups", "list", "--json").stdout)
    assert [g["slug"] for g in groups].count("gesundheit") == 1


def test_import_then_list_shows_example_partners(hub):
    result = load(hub)
    assert "10 angelegt" in result.stdout
    partners = listing(hub)
    assert len(partners) == 10
    weiss = next(p for p in partners if p["email"] == "j.weiss@gesundheitsamt-musterhausen.example")
    assert weiss["name"] == "Dr. Jürgen Weiß"
    assert weiss["groups"] == ["gesundheit", "koordinierungskreis"]
    assert weiss["role"] == "representative"
    assert [p["email"] for p in listing(hub, "--group", "gesundheit")] == [
        "a.yilmaz@awo-musterhausen.example", "j.weiss@gesundheitsamt-musterhausen.example"]


def test_reimport_updates_and_never_duplicates(hub, hub_dir):
    load(hub)
    csv_path = hub_dir / "changed.csv"
    csv_path.write_text(
        "name,organisation,email,groups,role,newsletter\n"
        "Aylin Yılmaz,AWO Kreisverband Musterhausen, A.Yilmaz@AWO-Musterhausen.example ,gesundheit,member,no\n",
        encoding="utf-8",
    )
    result = hub("partners", "import", str(csv_path), "--json")
    assert json.loads(result.stdout)["updated"] == ["A.Yilmaz@awo-musterhausen.example"]
    partners = listing(hub)
    assert len(partners) == 10
    aylin = next(p for p in partners if p["email"].lower() == "a.yilmaz@awo-musterhausen.example")
    assert aylin["organisation"] == "AWO Kreisverband Musterhausen"
    assert aylin["groups"] == ["gesundheit"]
    assert aylin["newsletter"] is False
    history = json.loads(hub("partners", "show", "a.yilmaz@awo-musterhausen.example", "--json").stdout)
    assert [c["newsletter"] for c in history["consent_history"]] == [True, False]
    ended = [m for m in history["memberships"] if m["until"]]
    assert [m["group"] for m in ended] == ["erziehungslotsen"]


def test_every_bad_row_is_reported_at_once_and_nothing_applied(hub, hub_dir):
    assert hub("init").returncode == 0
    csv_path = hub_dir / "bad.csv"
    csv_path.write_text(
        "name,organisation,email,groups,role,newsletter\n"
        "Anna Gut,Kita,anna@kita.example,aktionstage,member,yes\n"
        "Bernd Schlecht,Schule,bernd-at-schule.example,aktionstage,member,yes\n"
        "Clara Chef,Rathaus,clara@rathaus.example,kegelclub,chef,vielleicht\n"
        "Anna Doppelt,Kita,ANNA@kita.example,aktionstage,member,yes\n",
        encoding="utf-8",
    )
    result = hub("partners", "import", str(csv_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("Zeile 3, Spalte email:" in line and "bernd-at-schule.example" in line for line in lines)
    assert any("Zeile 4, Spalte groups:" in line and "kegelclub" in line for line in lines)
    assert any("Zeile 4, Spalte role:" in line and "chef" in line for line in lines)
    assert any("Zeile 4, Spalte newsletter:" in line for line in lines)
    assert any("Zeile 5, Spalte email:" in line and "Zeile 2" in line for line in lines)
    assert "nichts wurde geändert" in result.stderr
    assert listing(hub) == []


def test_more_than_fifty_mistakes_are_cut_with_a_count():
    rows = "".join(f"P{i},Org,p{i}-at-example.org,,member,yes\n" for i in range(70))
    with pytest.raises(partner_csv.CsvError) as caught:
        partner_csv.parse_csv("name,organisation,email,groups,role,newsletter\n" + rows, set())
    assert len(caught.value.problems) == 50 and caught.value.more == 20
    assert [p.line for p in caught.value.problems[:2]] == [2, 3]
    assert "20 weitere" in str(caught.value)


def test_header_mistakes_name_the_columns():
    with pytest.raises(partner_csv.CsvError) as caught:
        partner_csv.parse_csv("name,firma,email,groups,role\nA,B,a@b.example,,member\n", set())
    text = str(caught.value)
    assert "Zeile 1" in text and "newsletter" in text and "firma" in text and "E-Mail;Gruppen" in text


def test_german_header_values_and_language_column(hub, hub_dir):
    assert hub("init").returncode == 0
    path = hub_dir / "deutsch.csv"
    path.write_bytes("\ufeffName;Organisation;E-Mail;Gruppen;Rolle;Newsletter;Sprache\r\n"
                     "Jörg Ärmel;Caritas;joerg@caritas.example;gesundheit;Vertretung;ja;en\r\n"
                     "Eva Ohne;Kita;eva@kita.example;gesundheit;Mitglied;nein;\r\n".encode("utf-8"))
    result = hub("partners", "import", str(path))
    assert result.returncode == 0, result.stderr
    joerg, eva = sorted(listing(hub), key=lambda p: p["email"])[::-1]
    assert (joerg["role"], joerg["newsletter"], joerg["language"]) == ("representative", True, "en")
    assert (eva["role"], eva["newsletter"], eva["language"]) == ("member", False, None)
    bad = hub_dir / "sprache.csv"
    bad.write_text("Name,Organisation,E-Mail,Gruppen,Rolle,Newsletter,Sprache\nA,B,a@b.example,,,ja,fr\n",
                   encoding="utf-8")
    refused = hub("partners", "import", str(bad))
    assert refused.returncode == 2 and "Zeile 2, Spalte Sprache:" in refused.stderr and "fr" in refused.stderr


def test_unknown_group_and_role_are_refused(hub, hub_dir):
    assert hub("init").returncode == 0
    for row, expected in [
        ("A,B,a@b.example,kegelclub,member,yes", "Spalte groups: unbekannte Gruppe „kegelclub“"),
        ("A,B,a@b.example,aktionstage,chef,yes", "Spalte role: „chef“"),
        ("A,B,a@b.example,aktionstage,member,vielleicht", "Spalte newsletter"),
    ]:
        path = hub_dir / "row.csv"
        path.write_text("name,organisation,email,groups,role,newsletter\n" + row + "\n", encoding="utf-8")
        result = hub("partners", "import", str(path))
        assert result.returncode == 2
        assert "Zeile 2" in result.stderr and expected in result.stderr


def test_semicolon_csv_from_excel_is_read(hub, hub_dir):
    assert hub("init").returncode == 0
    path = hub_dir / "excel.csv"
    path.write_bytes("\ufeffname;organisation;email;groups;role;newsletter\r\n"
                     "Jörg Ärmel;Caritas;joerg@caritas.example;gesundheit;member;ja\r\n".encode("utf-8"))
    assert hub("partners", "import", str(path)).returncode == 0
    [joerg] = listing(hub)
    assert joerg["name"] == "Jörg Ärmel" and joerg["newsletter"] is True


def test_export_roundtrips(hub, hub_dir):
    load(hub)
    exported = hub("partners", "export").stdout
    assert exported.splitlines()[0] == "name,organisation,email,groups,role,newsletter,language"
    (hub_dir / "again.csv").write_text(exported, encoding="utf-8")
    result = hub("partners", "import", str(hub_dir / "again.csv"), "--json")
    assert len(json.loads(result.stdout)["unchanged"]) == 10


def test_add_normalises_and_leave_keeps_history(hub, session, config):
    assert hub("init").returncode == 0
    result = hub("partners", "add", "  Neu.Partner@Familienbuero.EXAMPLE ", "--name", "Neu", "--group", "gesundheit")
    assert result.returncode == 0, result.stderr
    assert [p["email"] for p in listing(hub)] == ["Neu.Partner@familienbuero.example"]
    assert hub("partners", "leave", "neu.partner@familienbuero.example").returncode == 0
    assert listing(hub) == []
    assert [p["left_at"] is not None for p in listing(hub, "--all")] == [True]
    partner = session.exec(select(Partner)).one()
    assert partner.newsletter is False
    assert session.exec(select(Membership).where(Membership.partner_id == partner.id)).one().until is not None
    assert hub("partners", "import", "config/partners.example.csv").returncode == 0
    assert hub("partners", "leave", "nobody@nowhere.example").returncode == 1


def test_add_rejects_bad_address(hub):
    assert hub("init").returncode == 0
    result = hub("partners", "add", "not an address")
    assert result.returncode == 2
    assert "keine gültige E-Mail-Adresse" in result.stderr


def test_show_gives_everything_and_forget_erases_it(hub, session):
    load(hub)
    email = "m.oeztuerk@familienzentrum-regenbogen.example"
    data = json.loads(hub("partners", "show", email, "--json").stdout)
    assert data["partner"]["name"] == "Maria Öztürk"
    assert {"memberships", "consent_history", "bounces", "messages_sent", "mails_received"} <= set(data)
    result = hub("partners", "forget", email, "--yes")
    assert result.returncode == 0, result.stderr
    assert hub("partners", "show", email, "--json").returncode == 1
    forgotten = session.exec(select(Partner).where(Partner.forgotten_at.is_not(None))).one()
    assert forgotten.email is None and forgotten.name == "" and forgotten.organisation == ""
    # anonymous counts stay: the row and its consent history remain, without personal data
    assert session.exec(select(Consent).where(Consent.partner_id == forgotten.id)).all()
    assert len(session.exec(select(Partner)).all()) == 10
    assert email not in hub("partners", "export").stdout


def test_registry_parse_is_pure():
    rows = partner_csv.parse_csv("name,organisation,email,groups,role,newsletter\n"
                              "A,B,a@b.example,x;y,representative,no\n", {"x", "y"})
    assert rows == [registry.PartnerRow(email="a@b.example", name="A", organisation="B", groups=("x", "y"),
                                        role=registry.Role.representative, newsletter=False, line=2)]
