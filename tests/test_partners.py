"""The partner registry, through the real `hub` command as a coordinator uses it."""

import json

from sqlmodel import select

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
    assert "revision 0001" in second.stdout
    groups = json.loads(hub("groups", "list", "--json").stdout)
    assert [g["slug"] for g in groups].count("gesundheit") == 1


def test_import_then_list_shows_example_partners(hub):
    result = load(hub)
    assert "10 added" in result.stdout
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


def test_bad_row_reports_line_and_applies_nothing(hub, hub_dir):
    assert hub("init").returncode == 0
    csv_path = hub_dir / "bad.csv"
    csv_path.write_text(
        "name,organisation,email,groups,role,newsletter\n"
        "Anna Gut,Kita,anna@kita.example,aktionstage,member,yes\n"
        "Bernd Schlecht,Schule,bernd-at-schule.example,aktionstage,member,yes\n",
        encoding="utf-8",
    )
    result = hub("partners", "import", str(csv_path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "line 3" in result.stderr and "bernd-at-schule.example" in result.stderr
    assert listing(hub) == []


def test_unknown_group_and_role_are_refused(hub, hub_dir):
    assert hub("init").returncode == 0
    for row, expected in [
        ("A,B,a@b.example,kegelclub,member,yes", "unknown group 'kegelclub'"),
        ("A,B,a@b.example,aktionstage,chef,yes", "role: 'chef'"),
        ("A,B,a@b.example,aktionstage,member,vielleicht", "newsletter"),
    ]:
        path = hub_dir / "row.csv"
        path.write_text("name,organisation,email,groups,role,newsletter\n" + row + "\n", encoding="utf-8")
        result = hub("partners", "import", str(path))
        assert result.returncode == 2
        assert "line 2" in result.stderr and expected in result.stderr


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
    assert exported.splitlines()[0] == "name,organisation,email,groups,role,newsletter"
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
    assert "not a valid e-mail address" in result.stderr


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
    rows = registry.parse_csv("name,organisation,email,groups,role,newsletter\n"
                              "A,B,a@b.example,x;y,representative,no\n", {"x", "y"})
    assert rows == [registry.PartnerRow(email="a@b.example", name="A", organisation="B", groups=("x", "y"),
                                        role=registry.Role.representative, newsletter=False, line=2)]
