"""`hub alliances export SLUG --to DIR` (issue 17): one alliance of an installation of many becomes an installation
of its own — one hub.toml, its rows with their ids, the files they name — and nothing of the other alliance goes
along; the source stays as it was."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT, run_hub, scratch_pg_database
from sqlmodel import SQLModel, select
from test_alliances_config import provider  # noqa: F401  (a fixture)
from test_ingest import WEISS, mail
from test_tenancy import COORDINATOR, MARKS
from test_web import PASSWORD

from hub import accounts, filing
from hub import config as config_module
from hub.alliance import unit_of_work
from hub.alliance_export import toml_text
from hub.inbound.archive import blob_path
from hub.models import Blob, InboundMessage, MessageKind, OutboundMail, Partner

DOMAINS = {"eins": "buendnis-eins.example", "zwei": "buendnis-zwei.example"}
# The example's working groups, for each alliance's file: the partners of config/partners.example.csv are in them.
GROUPS = "\n[[group]]" + (ROOT / "config" / "hub.toml").read_text(encoding="utf-8").split("[[group]]", 1)[1]
SHARED = mail(sender="fremd@example.org", message_id="<an-beide@example.org>", subject="Einladung an beide",
              attachments=[("flyer.txt", "text/plain", b"Familienfest im Park")])


def _sent_attachment(config, slug: str) -> str:
    """A sent mail carrying a blob that no received message names any more (retention took the protocol's
    attachments): only the mail's JSON list of attachments says that the alliance needs it."""
    data = f"Rundbrief-Anlage {MARKS[slug]}".encode()
    sha = hashlib.sha256(data).hexdigest()
    path = config.data_dir / blob_path(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with unit_of_work(config) as session:
        session.add(Blob(sha256=sha, size=len(data), content_type="text/plain", path=blob_path(sha)))
        session.add(OutboundMail(kind="relay", subject=f"Rundbrief {MARKS[slug]}", from_address=f"x@{DOMAINS[slug]}",
                                 text="-", attachments=[{"blob": sha, "filename": "anlage.txt",
                                                         "content_type": "text/plain"}]))
    return sha


@pytest.fixture
def many(hub, provider):  # noqa: F811
    """Two alliances of one installation with the same groups and partners, each with a protocol (with an
    attachment), a held mail, a web account and a partner of its own, all marked as its own; the same mail sent to
    both (archived once); their receipts in the Maildir outbox."""
    configs = {}
    for slug, domain in DOMAINS.items():
        added = hub("alliances", "add", slug, "--name", f"Bündnis {slug.title()}", "--domain", domain)
        assert added.returncode == 0, added.stderr
        own = provider / "config" / "alliances" / f"{slug}.toml"
        own.write_text(own.read_text(encoding="utf-8") + GROUPS, encoding="utf-8")
        for args in (["init"], ["partners", "import", "--no-welcome", "config/partners.example.csv"]):
            done = hub("--alliance", slug, *args)
            assert done.returncode == 0, done.stderr
        configs[slug] = config_module.load(provider / "config" / "hub.toml", slug)
    for slug, each in configs.items():
        protocols, office = f"protokolle@{DOMAINS[slug]}", f"geschaeftsstelle@{DOMAINS[slug]}"
        protocol = mail(to=protocols, subject=f"Ergebnisprotokoll AG Gesundheit {MARKS[slug]}",
                        message_id=f"<{slug}@example.org>",
                        attachments=[("anlage.txt", "text/plain", f"Anlage {MARKS[slug]}".encode())])
        stranger = mail(sender="fremd@example.org", to=office, subject=f"Anfrage {MARKS[slug]}",
                        message_id=f"<{slug}-fremd@example.org>")
        for raw, sender, to in ((protocol, WEISS, protocols), (stranger, "fremd@example.org", office),
                                (SHARED, "fremd@example.org", office)):
            filing.ingest_bytes(each, raw, via="smtp", envelope_from=sender, envelope_to=[to])
        with unit_of_work(each) as session:
            accounts.add_user(session, COORDINATOR, PASSWORD, "coordinator")
            session.add(Partner(email=f"{slug}@example.org", email_key=f"{slug}@example.org", name=MARKS[slug]))
        _sent_attachment(each, slug)
        flushed = hub("--alliance", slug, "outbox", "flush")
        assert flushed.returncode == 0, flushed.stderr
    return configs


@pytest.fixture
def target_db(db_url):
    """Where the export's rows go: None for SQLite in its folder; on the PostgreSQL pass a new, empty database."""
    if not db_url.startswith("postgresql"):
        yield None
        return
    with scratch_pg_database("export") as url:
        yield url


def _dump(url: str) -> dict[str, list]:
    """Every row of every table the database has (the full-text index's too), as the database gives them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            return {name: sorted(map(repr, connection.execute(sa.text(f"SELECT * FROM {quote(name)}"))))
                    for name in sa.inspect(connection).get_table_names()}
    finally:
        engine.dispose()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _text_of(name: str, data: bytes) -> str:
    """What a file says: its bytes, and of a mail (archived or in the outbox) also its headers and parts decoded
    (a marker in a base64 attachment or a quoted-printable body is not in the bytes)."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".eml") or "outbox/" in name:
        message = email.message_from_bytes(data, policy=email.policy.default)
        text += "".join(str(value) for value in message.values())
        text += "".join((part.get_payload(decode=True) or b"").decode("utf-8", "replace")
                        for part in message.walk() if not part.is_multipart())
    return text


def _in_export(folder: Path, target_db: str | None, *args: str) -> str:
    """`hub ARGS…` run in the exported folder as its own installation: nothing of the source's environment."""
    done = run_hub(*args, cwd=folder, env={"HUB_CONFIG": "", "HUB_DATA_DIR": "", "HUB_ALLIANCE": "",
                                           "HUB_DATABASE_URL": target_db or ""})
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout.decode()


def _expected_rows(url: str, alliance_id: int) -> dict[str, list]:
    """The alliance's rows in the source, table by table, told apart by hand (not by the exporter's rules)."""
    tables = SQLModel.metadata.tables
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        def ids(table: str) -> list:
            return list(connection.execute(sa.select(tables[table].c.id)
                                           .where(tables[table].c.alliance_id == alliance_id)).scalars())

        blobs = set(connection.execute(sa.select(tables["messageattachment"].c.blob_sha256)
                                       .where(tables["messageattachment"].c.alliance_id == alliance_id)).scalars())
        for attachments in connection.execute(sa.select(tables["outboundmail"].c.attachments)
                                              .where(tables["outboundmail"].c.alliance_id == alliance_id)).scalars():
            blobs.update(a["blob"] for a in attachments)
        where = {"alliance": tables["alliance"].c.id == alliance_id,
                 "membership": tables["membership"].c.partner_id.in_(ids("partner")),
                 "consent": tables["consent"].c.partner_id.in_(ids("partner")),
                 "meeting_answer": tables["meeting_answer"].c.meeting_id.in_(ids("meeting")),
                 "blob": tables["blob"].c.sha256.in_(blobs),
                 "provideraccount": sa.false()}  # the installation's, not the alliance's: it stays behind
        found = {}
        for name, table in tables.items():
            condition = table.c.alliance_id == alliance_id if "alliance_id" in table.c else where[name]
            found[name] = sorted(map(repr, connection.execute(sa.select(table).where(condition))))
    engine.dispose()
    return found


def _exported_rows(url: str) -> dict[str, list]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = {name: sorted(map(repr, connection.execute(sa.select(table))))
                 for name, table in SQLModel.metadata.tables.items()}
    engine.dispose()
    return found


def test_the_exported_alliance_is_an_installation_of_its_own_with_nothing_of_the_other(
        hub, many, provider, db_url, target_db, monkeypatch):  # noqa: F811
    folder = provider / "export"
    with unit_of_work(many["eins"]) as session:
        eins = session.info["alliance_id"]
        protocol = session.exec(select(InboundMessage).where(InboundMessage.kind == MessageKind.protocol)).one()
    expected = _expected_rows(db_url, eins)
    source_rows, source_files = _dump(db_url), {**_files(provider / "config"), **_files(provider / "var")}
    assert MARKS["zwei"] in repr(source_rows), "the other alliance's data is there to be left out"

    done = hub("alliances", "export", "eins", "--to", str(folder), *(["--database", target_db] if target_db else []))

    assert done.returncode == 0, done.stderr
    assert "Bündnis Eins (eins)" in done.stdout and "hub alliances remove eins" in done.stdout, done.stdout
    assert ("HUB_DATABASE_URL" in done.stdout) is bool(target_db), done.stdout
    assert (_dump(db_url), {**_files(provider / "config"), **_files(provider / "var")}) == \
        (source_rows, source_files), "the source changed"
    assert not (folder / "var" / "secret.key").exists(), "the installation's key stays here unless asked for"

    # One hub.toml as a single alliance's installation has it, its storage in the folder (or the given database).
    assert not (folder / "config" / "alliances").exists()
    written = (folder / "config" / "hub.toml").read_text(encoding="utf-8")
    assert "[alliance]" in written and "[[group]]" in written and "[inbound]" in written
    monkeypatch.delenv("HUB_DATA_DIR")
    monkeypatch.setenv("HUB_DATABASE_URL", target_db or "")
    exported = config_module.load(folder / "config" / "hub.toml")
    assert exported.alliance_file is None and exported.alliance.domain == DOMAINS["eins"]
    assert [g.slug for g in exported.group] == [g.slug for g in many["eins"].group]
    assert exported.data_dir == folder / "var"
    if target_db:
        assert exported.storage.database == target_db.replace(":hub@", "@"), "the password stays out of the file"
    else:
        assert exported.storage.database == "sqlite:///var/hub.db"
        assert exported.database_url == f"sqlite:///{folder / 'var' / 'hub.db'}"

    # Exactly the alliance's rows, with their ids.
    assert _exported_rows(exported.database_url) == expected
    assert all(expected[name] for name in ("alliance", "partner", "membership", "consent", "inboundmessage", "blob",
                                           "messageattachment", "outboundmail", "delivery", "webuser"))

    # `hub` in the folder is a normal installation of one alliance and shows it all.
    status = json.loads(_in_export(folder, target_db, "status", "--json"))
    assert (status["domain"], status["protocols_filed"], status["held_for_review"]) == (DOMAINS["eins"], 1, 2)
    for listing in (["protocols", "list", "--all", "--json"], ["partners", "list", "--all", "--json"],
                    ["protocols", "search", "Ersten", "--json"]):
        shown = _in_export(folder, target_db, *listing)
        assert MARKS["eins"] in shown and MARKS["zwei"] not in shown, listing
    assert json.loads(_in_export(folder, target_db, "protocols", "search", "Zweiten", "--json"))["total"] == 0
    # New rows get new ids (PostgreSQL's sequences went on after the copied ids).
    _in_export(folder, target_db, "partners", "add", "neu@example.org", "--name", "Neu", "--group", "gesundheit",
               "--no-welcome")
    assert "neu@example.org" in _in_export(folder, target_db, "partners", "list", "--json")

    # The files the rows name, and only those, at the same paths; the protocol's raw mail reads there.
    with unit_of_work(exported, read_only=True) as session:
        raw_path, text = session.exec(select(InboundMessage.raw_path, InboundMessage.text)
                                      .where(InboundMessage.id == protocol.id)).one()
        raw_paths = set(session.exec(select(InboundMessage.raw_path)))
        blob_paths = set(session.exec(select(Blob.path)))
        mails = set(session.exec(select(OutboundMail.id)))
    parsed = email.message_from_bytes((folder / "var" / raw_path).read_bytes(), policy=email.policy.default)
    assert MARKS["eins"] in parsed["Subject"] and text.startswith(parsed.get_body(("plain",)).get_content().strip())
    files = _files(folder / "var")
    outbox = {name for name in files if name.startswith("outbox/")}
    database = {name for name in files if name.startswith("hub.db")}  # SQLite's file, its WAL, its writer lock
    assert outbox and set(files) - outbox - database == raw_paths | blob_paths
    assert all(files[name] == source_files[name] for name in raw_paths | blob_paths | outbox)
    assert len(blob_paths) == 3, "its attachment, the one shared with the other alliance, and the sent mail's"
    said = {name: _text_of(name, data) for name, data in _files(folder).items()}
    assert [name for name, text in said.items() if MARKS["zwei"] in text or DOMAINS["zwei"] in text] == []
    assert any(MARKS["eins"] in said[f"var/{name}"] for name in outbox) and mails

    # Nothing of the other alliance anywhere in the database either (on PostgreSQL the dump is the proof).
    dumped = repr(_dump(exported.database_url))
    assert MARKS["eins"] in dumped and MARKS["zwei"] not in dumped and DOMAINS["zwei"] not in dumped


def test_the_secret_key_goes_along_only_when_asked(hub, many, provider, target_db):  # noqa: F811
    folder = provider / "export"
    done = hub("alliances", "export", "zwei", "--to", str(folder), "--with-secret-key",
               *(["--database", target_db] if target_db else []))
    assert done.returncode == 0, done.stderr
    key = (provider / "var" / "secret.key").read_bytes().strip()
    assert key and (folder / "var" / "secret.key").read_bytes().strip() == key
    assert "eigenen geheimen Schlüssel" not in done.stdout


def test_an_unknown_or_unset_alliance_is_named_and_nothing_is_written(hub, provider):  # noqa: F811
    for slug in ("eins", "zwei"):
        assert hub("alliances", "add", slug, "--name", slug, "--domain", DOMAINS[slug]).returncode == 0
    folder = provider / "export"
    unknown = hub("alliances", "export", "drei", "--to", str(folder))
    assert unknown.returncode == 2 and "drei" in unknown.stderr and "eins, zwei" in unknown.stderr, unknown.stderr
    unset = hub("alliances", "export", "eins", "--to", str(folder))
    assert unset.returncode == 2 and "hub --alliance eins init" in unset.stderr, unset.stderr
    assert not folder.exists()


def test_a_single_alliance_installation_is_not_exported(hub, hub_dir):
    single = hub("alliances", "export", "musterhausen", "--to", str(hub_dir / "export"))
    assert single.returncode == 2 and "einziges Bündnis" in single.stderr, single.stderr
    assert not (hub_dir / "export").exists()


def test_a_folder_that_is_not_empty_is_refused_and_left_as_it_was(hub, many, provider):  # noqa: F811
    folder = provider / "export"
    folder.mkdir()
    (folder / "notiz.txt").write_text("meins", encoding="utf-8")
    refused = hub("alliances", "export", "eins", "--to", str(folder))
    assert refused.returncode == 2 and "nicht leer" in refused.stderr and str(folder) in refused.stderr
    assert _files(folder) == {"notiz.txt": b"meins"}
    a_file = hub("alliances", "export", "eins", "--to", str(folder / "notiz.txt"))
    assert a_file.returncode == 2 and "nicht leer" in a_file.stderr


def test_a_database_that_is_not_empty_is_refused_and_left_as_it_was(hub, many, provider, db_url):  # noqa: F811
    before = _dump(db_url)
    folder = provider / "export"
    refused = hub("alliances", "export", "eins", "--to", str(folder), "--database", db_url)
    assert refused.returncode == 2 and "nicht leer" in refused.stderr and "alliance" in refused.stderr, refused.stderr
    assert ":hub@" not in refused.stderr, "the password is not shown"
    unreachable = hub("alliances", "export", "eins", "--to", str(folder), "--database",
                      "postgresql+psycopg://hub@127.0.0.1:1/nirgends")
    assert unreachable.returncode == 2 and "nicht erreichbar" in unreachable.stderr, unreachable.stderr
    assert not folder.exists() and _dump(db_url) == before


def test_the_written_config_reads_back_as_it_was_meant():
    data = {"alliance": {"name": 'Bündnis "Eins" \\ 100 %\n\x7f', "colour": "#1f5c99"},
            "inbound": {"trusted_networks": ["127.0.0.0/8", "::1"], "port": 8025, "dns_timeout": 3.5,
                        "enabled": True},
            "group": [{"slug": "a", "aliases": []}, {"slug": "b", "aliases": ["x-y"]}],
            "odd keys": {"a.b": {"ä": 1}}}
    text = toml_text(data, "Kommentar " * 30)
    assert tomllib.loads(text) == data
    assert text.startswith("# Kommentar") and max(map(len, text.splitlines())) <= 120
    assert text.count("[[group]]") == 2 and '["odd keys"."a.b"]' in text
