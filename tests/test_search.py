"""Full-text search of the protocol archive (issue 16): every form of a word, umlauts and ß folded, best first, with
the found words marked — through the use case, `hub protocols search` and the web archive, on SQLite (FTS5 with
German stems) and PostgreSQL (tsvector 'german'); the index follows filing, review, erasure and the migration."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select
from test_ingest import WEISS, mail
from test_web import app as app  # noqa: PLC0414 — the web admin's fixture, used below
from test_web import sign_in

from hub import alliance as alliance_module
from hub import filing, partner_actions, review, search, search_terms
from hub.alliance import unit_of_work
from hub.db import alembic_config, engine_for, upgrade, utcnow
from hub.inbound import spool
from hub.models import InboundMessage

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
MAILS = Path(__file__).parent / "mails"


def filed(config, group: str, subject: str, text: str, *, days_ago: int = 0, **values) -> int:
    """A filed protocol of `group`, received `days_ago` days ago, stored as filing stores it (one row)."""
    with unit_of_work(config) as s:
        alliance = alliance_module.current(s, config)
        groups = {g.slug: g.id for g in alliance_module.groups(s, alliance)}
        key = uuid.uuid4().hex
        row = InboundMessage(**{
            "message_id": f"<{key}@example.org>", "content_hash": key, "raw_path": "messages/x.eml",
            "subject": subject, "text": text, "kind": "protocol", "status": "filed", "group_id": groups[group],
            "received_at": utcnow() - timedelta(days=days_ago), **values})
        s.add(row)
        s.flush()
        return row.id


def filed_at_old_revision(config, group: str, subject: str, text: str) -> int:
    """`filed`, into a database an older migration made: only the columns its table has."""
    import sqlalchemy as sa

    with unit_of_work(config) as s:
        alliance = alliance_module.current(s, config)
        group_id = next(g.id for g in alliance_module.groups(s, alliance) if g.slug == group)
        columns = {c["name"] for c in sa.inspect(s.connection()).get_columns("inboundmessage")}
        key = uuid.uuid4().hex
        row = InboundMessage(message_id=f"<{key}@example.org>", content_hash=key, raw_path="messages/x.eml",
                             subject=subject, text=text, kind="protocol", status="filed", group_id=group_id,
                             received_at=utcnow())
        values = {c.name: getattr(row, c.name) for c in InboundMessage.__table__.columns
                  if c.name in columns and c.name != "id"}
        return s.execute(InboundMessage.__table__.insert().values(**values)).inserted_primary_key[0]


def find(config, query: str, **filters) -> list[int]:
    with unit_of_work(config) as s:
        alliance = alliance_module.current(s, config)
        if "group" in filters:
            filters["group"] = next(g for g in alliance_module.groups(s, alliance) if g.slug == filters["group"])
        return [hit.message.id for hit in search.search_protocols(s, alliance, query, **filters).hits]


def test_umlauts_and_sharp_s_are_folded_in_both_directions(config, partners):
    oeztuerk = filed(config, "aktionstage", "Protokoll Aktionstage", "Maria Öztürk stellt den Plan vor.")
    weiss = filed(config, "gesundheit", "Protokoll Gesundheit", "Raum reservieren: Dr. Jürgen Weiß, Große Straße 5")
    filed(config, "unternehmen", "Protokoll Unternehmen", "Nichts davon.")
    for query in ("öztürk", "Öztürk", "ÖZTÜRK", "oztürk"):
        assert find(config, query) == [oeztuerk], query
    for query in ("Weiß", "weiss", "WEISS"):
        assert find(config, query) == [weiss], query
    assert find(config, "strasse") == [weiss]
    assert find(config, "grosse straße") == [weiss]


def test_every_form_of_a_word_is_found(config, partners):
    day = filed(config, "aktionstage", "Ergebnisprotokoll", "Der Familientag im Stadtpark war ein Erfolg.")
    days = filed(config, "aktionstage", "Planung", "Wir planen zwei Familientage im Herbst, mit allen Kindern.")
    assert sorted(find(config, "Familientage")) == sorted([day, days])
    assert sorted(find(config, "familientag")) == sorted([day, days])
    assert find(config, "Kinder") == [days]
    assert find(config, '"Familientag im Stadtpark"') == [day]
    assert find(config, '"Stadtpark im Familientag"') == []
    assert find(config, "Familientag Herbst") == [days], "every word must occur"
    assert find(config, "...") == [] and find(config, "") == []


def test_the_protocol_that_is_most_about_the_word_ranks_first(config, partners):
    # newest first would put it last: the ranking, not the date, decides
    best = filed(config, "gesundheit", "Sommerfest: Planung", "Das Sommerfest findet statt. Zum Sommerfest kommen "
                 "alle. Für das Sommerfest brauchen wir Helfer. " + "Sonstiges. " * 40, days_ago=30)
    once = filed(config, "gesundheit", "Protokoll Mai", "Wir sprachen über vieles, auch kurz über das Sommerfest. "
                 + "Sonstiges. " * 40, days_ago=2)
    filed(config, "gesundheit", "Protokoll Juni", "Nichts zum Thema.", days_ago=1)
    assert find(config, "Sommerfest") == [best, once]


def test_group_and_since_filters(config, partners):
    old = filed(config, "gesundheit", "Alt", "Thema Ferienprogramm", days_ago=400)
    new = filed(config, "gesundheit", "Neu", "Thema Ferienprogramm", days_ago=3)
    other = filed(config, "unternehmen", "Andere Gruppe", "Thema Ferienprogramm", days_ago=3)
    assert sorted(find(config, "Ferienprogramm")) == sorted([old, new, other])
    assert sorted(find(config, "Ferienprogramm", group="gesundheit")) == sorted([old, new])
    assert sorted(find(config, "Ferienprogramm", since=utcnow() - timedelta(days=30))) == sorted([new, other])
    assert find(config, "Ferienprogramm", group="gesundheit", since=utcnow() - timedelta(days=30)) == [new]


def test_snippet_marks_the_found_words_around_the_first(config, partners):
    text = "Einleitung. " * 60 + "Beim Familientag helfen alle; die Familientage sind beliebt.\n\nMehr " + "dazu. " * 60
    filed(config, "aktionstage", "Familientag 2027", text)
    with unit_of_work(config) as s:
        hit, = search.search_protocols(s, alliance_module.current(s, config), "familientage").hits
    assert hit.title == [("Familientag", True), (" 2027", False)]
    assert hit.snippet[0] == ("…", False) and hit.snippet[-1] == ("…", False)
    assert [t for t, marked in hit.snippet if marked][:2] == ["Familientag", "Familientage"]
    line = search.plain(hit.snippet, "»", "«")
    assert "Beim »Familientag« helfen alle; die »Familientage« sind beliebt. Mehr" in line
    assert "\n" not in line and len(line) <= search.SNIPPET_CHARS + 2


def test_filing_indexes_subject_text_and_attachment(config, partners):
    raw = (MAILS / "docx_anhang.eml").read_bytes()
    result = filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS]).as_json()
    assert result["status"] == "filed" and result["attachments"]
    with unit_of_work(config) as s:
        text = s.get(InboundMessage, result["id"]).text
    attachment_words = text.split("--- Anhang:")[1].split()
    word = next(w for w in attachment_words[3:] if w.isalpha() and len(w) > 6 and w not in text.split("--- Anhang:")[0])
    assert find(config, word) == [result["id"]]
    body = filing.ingest_bytes(config, mail(body="Die Kita-Leitungen berichten vom Elternabend."),
                               via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS]).as_json()
    assert find(config, "Elternabende") == [body["id"]]
    assert find(config, "Gesundheit") and body["id"] in find(config, "Gesundheit")  # the subject


def test_a_batch_is_indexed_with_the_terms_filing_made_before_its_transaction(config, partners):
    """Filing stems a batch's protocols before it takes the write lock (search_terms.make_ahead): each protocol
    of the batch is found by its own words, and a terms call of a text not made ahead still stems it."""
    mails = [mail(message_id=f"<ahead-{n}@gesundheitsamt-musterhausen.example>",
                  subject=f"Protokoll AG Gesundheit: {word}", body=f"Heute ging es um {word}.")
             for n, word in enumerate(("Spielplätze", "Ferienfreizeiten", "Familienpässe"))]
    entries = [spool.write(config.data_dir, raw, via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS])
               for raw in mails]
    results = filing.process_entries(config, entries)
    assert [r.status for r in results] == ["filed"] * 3
    for word, result in zip(("Spielplatz", "Ferienfreizeit", "Familienpass"), results, strict=True):
        assert find(config, word) == [result.data["id"]]
    search_terms.make_ahead(["Die Spielplätze"])
    assert search_terms.terms("Die Spielplätze") == search_terms.terms("Die Spielplätze") == "die spielplatz"
    assert search_terms.terms("Neue Spielplätze") == "neu spielplatz"


def test_held_mail_is_found_only_once_filed_and_never_after_rejection(config, partners):
    held = filed(config, "gesundheit", "Protokoll", "Der Wunschbaum steht im Rathaus.", status="held")
    assert find(config, "Wunschbaum") == []
    with unit_of_work(config) as s:
        review.assign(s, config, held, "gesundheit")
    assert find(config, "Wunschbaum") == [held]
    with unit_of_work(config) as s:
        s.get(InboundMessage, held).status = "rejected"
    assert find(config, "Wunschbaum") == []


def test_a_forgotten_person_leaves_the_index(session, config, partners):
    own = filing.ingest_bytes(config, mail(), via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS]).as_json()
    assert find(config, "Jürgen Weiß") == [own["id"]]
    report = partner_actions.forget(session, config, alliance_module.current(session, config), WEISS)
    session.commit()
    session.close()
    engine_for(config.database_url).dispose()
    assert report.own_messages >= 1
    assert find(config, "Jürgen") == [] and find(config, "Weiß") == []
    assert find(config, "Gesundheitstag") == [own["id"]], "the protocol stays findable by its other words"
    if config.database_url.startswith("sqlite"):
        with engine_for(config.database_url).connect() as c:
            c.exec_driver_sql("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, protocol_fts, row)")
            terms = {t for t, in c.exec_driver_sql("SELECT term FROM temp.vocab")}
        assert "gesundheitstag" in terms and not {"jurg", "weiss"} & terms
        data = Path(config.database_url.removeprefix("sqlite:///")).read_bytes()
        assert b"jurg" not in data, "an old segment or row of the index still holds the name"
    else:
        with engine_for(config.database_url).connect() as c:
            lexemes = {w for w, in c.exec_driver_sql(
                "SELECT word FROM ts_stat('SELECT search_vector FROM inboundmessage WHERE search_vector IS NOT NULL')")}
        assert "gesundheitstag" in lexemes and not {"jurg", "weiss"} & lexemes


def test_the_migration_indexes_protocols_already_filed(config, partners):
    url = config.database_url
    engine_for(url).dispose()
    command.downgrade(alembic_config(url), "0009")
    try:
        old = filed_at_old_revision(config, "gesundheit", "Altes Protokoll", "Die Familientage vom letzten Jahr.")
    finally:
        engine_for(url).dispose()
        upgrade(url)
    assert find(config, "Familientag") == [old]


def test_cli_search(hub, config, partners):
    first = filed(config, "aktionstage", "Protokoll Aktionstage", "Maria Öztürk plant den Familientag.")
    filed(config, "aktionstage", "Alt", "Maria Öztürk war dabei.", days_ago=400)
    other = filed(config, "erziehungslotsen", "Protokoll Lotsen", "Frau Öztürk berichtet.")
    result = hub("protocols", "search", "öztürk", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"] == 3
    hit = next(r for r in data["results"] if r["id"] == first)
    assert hit["group"] == "aktionstage" and hit["snippet"] == "Maria Öztürk plant den Familientag."
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["Öztürk"]
    since = (datetime.now() - timedelta(days=30)).strftime("%d.%m.%Y")
    result = hub("protocols", "search", "Familientage", "--group", "aktionstage", "--since", since)
    assert result.returncode == 0, result.stderr
    assert "1 Protokoll gefunden." in result.stdout
    assert f"{first}" in result.stdout and "Maria Öztürk plant den »Familientag«." in result.stdout
    result = hub("protocols", "search", "Öztürk", "--since", since, "--json")
    assert sorted(r["id"] for r in json.loads(result.stdout)["results"]) == sorted([first, other])
    assert hub("protocols", "search", "x", "--group", "gibtsnicht").returncode == 2
    assert hub("protocols", "search", "x", "--since", "gestern um 5").returncode == 2


def test_web_archive_search(app, config, partners):
    best = filed(config, "aktionstage", "Familientag <Planung>", "Der Familientag, der Familientag, Familientage. "
                 "Frau Öztürk <b>lädt</b> ein.", days_ago=20)
    newer = filed(config, "aktionstage", "Protokoll", "Kurz zum Familientag.", days_ago=1)
    c = sign_in(app)
    page = c.get("/protocols?q=familientage").text
    assert "2 Protokolle gefunden." in page
    assert page.index(f"/messages/{best}") < page.index(f"/messages/{newer}")
    assert "<mark>Familientag</mark> &lt;Planung&gt;" in page
    assert "<mark>Familientag</mark>, der <mark>Familientag</mark>, <mark>Familientage</mark>." in page
    assert "&lt;b&gt;lädt&lt;/b&gt;" in page and "<b>lädt" not in page
    page = c.get("/protocols?q=öztürk").text
    assert "1 Protokoll gefunden." in page and "<mark>Öztürk</mark>" in page
    assert "0 Protokolle gefunden." in c.get("/protocols?q=familientag&group=gesundheit").text
    recent = f"{utcnow() - timedelta(days=5):%Y-%m-%d}"
    assert "1 Protokoll gefunden." in c.get(f"/protocols?q=familientag&from={recent}").text
    assert "2 Protokolle gefunden." in c.get("/protocols").text


def test_search_sees_only_filed_protocols_of_its_own_kind(config, partners, session):
    filed(config, "gesundheit", "Protokoll", "Der Wunschbaum.")
    filed(config, "gesundheit", "Abwesend", "Der Wunschbaum.", kind="autoreply", status="recorded")
    assert len(find(config, "Wunschbaum")) == 1
    assert session.exec(select(InboundMessage).where(InboundMessage.kind == "autoreply")).one()


def test_more_matches_than_are_ranked_are_counted_as_more(config, partners, app, monkeypatch):
    """Matches are counted up to RANKED (on PostgreSQL an exact count visits every matching row); the page says
    there are more, and the best of the newest RANKED come first."""
    from hub import search_store

    monkeypatch.setattr(search_store, "RANKED", 3)
    ids = [filed(config, "gesundheit", f"Protokoll {n}", "Thema Verfügungsfonds.", days_ago=10 - n) for n in range(5)]
    with unit_of_work(config) as s:
        results = search.search_protocols(s, alliance_module.current(s, config), "Verfügungsfonds")
    assert (results.total, results.more) == (3, True)
    assert sorted(hit.message.id for hit in results.hits) == sorted(ids[-3:])  # the newest three
    with unit_of_work(config) as s:
        results = search.search_protocols(s, alliance_module.current(s, config), "Verfügungsfonds",
                                          since=utcnow() - timedelta(days=8.5))
    assert (results.total, results.more) == (3, False)
    page = sign_in(app).get("/protocols?q=verfügungsfonds").text
    assert "Mehr als 3 Protokolle gefunden; die besten der neuesten 3 zuerst." in page


def test_the_snippet_starts_where_stemming_every_word_would_start_it():
    """search._first finds the first word with a wanted stem through a pattern of the words that may have it;
    the result is the one of stemming every word."""
    from hub import search_terms

    text = ("Anwesend: Frau Oeztuerk. Später kam Herr Weiß dazu, dann Frau Öztürk. Im Elterncafé besprachen wir "
            "die Familientage, den Familientag 2027 und Kinderbetreuung. WEISS war auch da; FAMILIENTAGE!")
    for query in ("öztürk", "Weiss", "weiß", "Elterncafe", "familientag", "Kinderbetreuungen", "Sommerfest", "2027"):
        wanted = {s for _typed, stems in search_terms.query_parts(query) for s in stems}
        every_word = next((m.start() for m in search_terms.WORD.finditer(text)
                           if search_terms.stem(m.group()) in wanted), 0)
        assert search._first(text, wanted) == every_word, query


VARIANTS = ["Öztürk", "Oeztuerk", "OZTURK", "Weiß", "Weiss", "weisse", "Elterncafé", "Elterncafe", "Familientage",
            "familientag", "Kinderbetreuung", "Müller", "Mueller", "Straße", "Strasse", "Naïve", "Maße", "Masse",
            "Käse", "Kaese", "Sommerfest", "2027", "und", "der", "Café-Treff", "über", "ueber"]


@given(st.lists(st.sampled_from(VARIANTS), max_size=25), st.sampled_from(VARIANTS))
def test_the_snippet_start_is_the_first_word_with_a_wanted_stem_for_any_text(words, query):
    from hub import search_terms

    text = " ".join(words)
    wanted = {s for _typed, stems in search_terms.query_parts(query) for s in stems}
    every_word = next((m.start() for m in search_terms.WORD.finditer(text)
                       if search_terms.stem(m.group()) in wanted), 0)
    assert search._first(text, wanted) == every_word


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aäÄßé1_- .,;:\t\n\r\u00a0\u2028\u3000|»«–\u0301İ"), max_size=60))
def test_a_texts_terms_are_the_stems_of_its_words(text):
    """The terms are looked up per whitespace-separated token (search_terms._token_terms); they must be the
    stems of the words unicode61 sees in the whole text, whatever separates them."""
    assert search_terms.terms(text) == " ".join(search_terms.stem(w) for w in search_terms.WORD.findall(text))


def test_terms_of_a_protocol_line():
    assert search_terms.terms("TOP 2: AG-Sitzung\u00a0am 12.03.2026 – Familientage,Elterncafé;Öztürk_Weiß") == (
        "top 2 ag sitzung am 12 03 2026 familientag elterncaf ozturk weiss")
