"""Tasks from every shape a protocol gives them, due dates in the forms people write, and owners found in the
registry (issue 16). Pure functions: no database, no clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.inbound import tasks as tasks_module
from hub.inbound.extract import extract
from hub.inbound.message import Directory, GroupEntry, ParsedMessage, SenderEntry, Task
from hub.inbound.owners import match_owner, resolve_owners

BERLIN = ZoneInfo("Europe/Berlin")
DECEMBER = datetime(2026, 12, 10, 9, 30, tzinfo=BERLIN)  # the meeting of 8 December: due dates cross the year


def tasks(text: str, sent: datetime = DECEMBER) -> list[Task]:
    parsed = ParsedMessage(message_id="<t@example>", content_hash="0" * 64, sender="a@example.org", sender_name="",
                           subject="Ergebnisprotokoll AG Aktionstage", sent_at=sent, to=[], headers=[], text=text)
    return extract(parsed, BERLIN).tasks


HEAD = "Protokoll der Sitzung vom 08.12.2026\n\n"


# --- shapes -----------------------------------------------------------------------------------------------------


def test_prose_sentences_outside_a_task_section():
    text = HEAD + ("Herr Becker kümmert sich um die Stände. Frau Öztürk berichtet vom Elternabend am 3.12.\n"
                   "Thomas Becker erstellt den Fragebogen bis zum 18. Dezember.\n"
                   "Frau Krüger fragt beim Jugendamt an.\n"
                   "Herr Wagner stellt die Ergebnisse der Befragung vor.\n")
    assert tasks(text) == [
        Task("die Stände", "Herr Becker"),
        Task("den Fragebogen erstellen", "Thomas Becker", date(2026, 12, 18)),
        Task("beim Jugendamt anfragen", "Frau Krüger"),
    ]


def test_bullets_under_the_four_question_heading():
    text = HEAD + ("## Wer von uns übernimmt was?\n"
                   "- Flyer: Frau Stürmer bis 15.01.\n"
                   "- Herr Becker kümmert sich um die Stände\n"
                   "- Lena Fischer schreibt den Pressetext (bis KW 3)\n\n"
                   "## Wie, wann und wo geht es weiter?\n"
                   "Nächstes Treffen: 20.01.2027, 18 Uhr\n")
    assert tasks(text) == [
        Task("Flyer", "Frau Stürmer", date(2027, 1, 15)),
        Task("die Stände", "Herr Becker"),
        Task("den Pressetext schreiben", "Lena Fischer", date(2027, 1, 22)),
    ]


def test_bold_heading_with_bis_wann():
    text = HEAD + "**Wer macht was bis wann?**\n- Plakate drucken – Klaus Hoffmann – bis Ende Januar\n"
    assert tasks(text) == [Task("Plakate drucken", "Klaus Hoffmann", date(2027, 1, 31))]


def test_labelled_lines_one_per_field_and_on_one_line():
    text = HEAD + ("Was: Flyer drucken\nWer: Frau Stürmer\nBis wann: 15.01.\n\n"
                   "Wer: Herr Becker  Was: Stände aufbauen  Bis wann: KW 3\n")
    assert tasks(text) == [
        Task("Flyer drucken", "Frau Stürmer", date(2027, 1, 15)),
        Task("Stände aufbauen", "Herr Becker", date(2027, 1, 22)),
    ]


def test_table_from_a_document_with_aufgabe_wer_bis_wann():
    # DOCX, ODT and HTML tables arrive as "a | b | c" lines
    text = HEAD + ("Aufgabe | Wer | Bis wann\n"
                   "Flyer drucken | Frau Stürmer | 15.01.\n"
                   "Stände | Herr Becker | bis zum nächsten Treffen\n"
                   "Presse | Lena Fischer | Mitte Februar\n\n"
                   "Nächstes Treffen: Mittwoch, 20. Januar 2027, 18 Uhr\n")
    assert tasks(text) == [
        Task("Flyer drucken", "Frau Stürmer", date(2027, 1, 15)),
        Task("Stände", "Herr Becker", date(2027, 1, 20)),
        Task("Presse", "Lena Fischer", date(2027, 2, 15)),
    ]


def test_a_task_in_a_list_and_again_in_prose_is_one_task():
    text = HEAD + "Aufgaben:\n- Herr Becker kümmert sich um die Stände\n\nHerr Becker kümmert sich um die Stände.\n"
    assert tasks(text) == [Task("die Stände", "Herr Becker")]


# --- due dates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("due", "expected"), [
    ("15.01.", date(2027, 1, 15)),  # after a December meeting: next year
    ("18.12.", date(2026, 12, 18)),
    ("18. Dezember", date(2026, 12, 18)),
    ("Ende Januar", date(2027, 1, 31)),
    ("Anfang März", date(2027, 3, 1)),
    ("KW 3", date(2027, 1, 22)),  # the Friday of ISO week 3 of 2027
    ("KW 51", date(2026, 12, 18)),
    ("zum nächsten Treffen", date(2027, 1, 20)),
])
def test_due_date_forms_relative_to_the_meeting(due, expected):
    text = HEAD + f"Aufgaben:\n- Flyer: Frau Stürmer bis {due}\n\nNächstes Treffen: 20.01.2027, 18 Uhr\n"
    assert tasks(text) == [Task("Flyer", "Frau Stürmer", expected)]


def test_next_meeting_due_without_a_next_meeting_has_no_date():
    assert tasks(HEAD + "Aufgaben:\n- Flyer: Frau Stürmer bis zum nächsten Treffen\n") == [
        Task("Flyer", "Frau Stürmer", None)]


def test_summer_meeting_keeps_its_year():
    text = "Protokoll vom 10.06.2026\n\nAufgaben:\n- Flyer: Frau Stürmer bis Ende Juli\n"
    assert tasks(text, datetime(2026, 6, 11, 9, tzinfo=BERLIN)) == [Task("Flyer", "Frau Stürmer", date(2026, 7, 31))]


# --- owners -----------------------------------------------------------------------------------------------------


def entry(email, name, organisation="", role="member", groups=("aktionstage",), audience="partner"):
    return SenderEntry(email=email, role=role, groups=groups, name=name, organisation=organisation, audience=audience)


REGISTRY = [
    entry("t.becker@example.org", "Thomas Becker", "Stadtverwaltung"),
    entry("m.becker@example.org", "Martina Becker", "Kita Sonnenschein", groups=("gesundheit",)),
    entry("j.weiss@example.org", "Dr. Jürgen Weiß", "Gesundheitsamt", role="representative", groups=("gesundheit",)),
    entry("a.yilmaz@example.org", "Aylin Yılmaz", "AWO", role="representative"),
    entry("b.stuermer@example.org", "Birgit Stürmer", "Familienzentrum"),
    entry("gs@example.org", "Sabine Krüger", "Geschäftsstelle", role="coordinator", groups=()),
    entry("leser@example.org", "Birgit Stürmer", audience="public", groups=()),
]


@pytest.mark.parametrize(("who", "group", "email"), [
    ("Thomas Becker", None, "t.becker@example.org"),
    ("T. Becker", None, "t.becker@example.org"),
    ("Herr Becker", "aktionstage", "t.becker@example.org"),  # the namesake at the table
    ("Frau Stürmer", None, "b.stuermer@example.org"),  # a reader of the same name is no partner
    ("Dr. Weiß", None, "j.weiss@example.org"),
    ("Jürgen Weiss", None, "j.weiss@example.org"),
    ("Frau Yilmaz", None, "a.yilmaz@example.org"),
    ("AWO", None, "a.yilmaz@example.org"),
    ("Geschäftsstelle", None, "gs@example.org"),
    ("Vertretung", "gesundheit", "j.weiss@example.org"),
    ("die Vertreterin", "aktionstage", "a.yilmaz@example.org"),
])
def test_owner_fits_exactly_one_partner(who, group, email):
    partners = [p for p in REGISTRY if p.audience == "partner"]
    owner = match_owner(who, partners, group)
    assert owner is not None and owner.email == email


@pytest.mark.parametrize(("who", "group"), [
    ("Becker", None),  # two Beckers, no group to tell them apart
    ("Herr Becker", "koordinierungskreis"),  # neither is in that group
    ("Herr Schulz", "aktionstage"),  # nobody of that name
    ("Alle", "aktionstage"),
    ("Becker und Stürmer", "aktionstage"),  # two owners: no single address
    ("Vertretung", None),
])
def test_owner_left_open_when_none_or_several_fit(who, group):
    assert match_owner(who, [p for p in REGISTRY if p.audience == "partner"], group) is None


def test_resolve_owners_sets_who_email_on_the_tasks():
    directory = Directory(domain="example.org", protocol_address="protokolle@example.org",
                          groups=[GroupEntry("aktionstage", "AG Aktionstage")],
                          senders={p.email: p for p in REGISTRY})
    found = resolve_owners([Task("Flyer", "Frau Stürmer"), Task("Stände", "Becker"), Task("Getränke")],
                           directory, None)
    assert [t.who_email for t in found] == ["b.stuermer@example.org", None, None]


@given(st.lists(st.sampled_from(["Herr", "Becker", "Frau", "Öztürk", "erstellt", "erstellten", "kümmert", "sich",
                                 "bis", "Ende", "Januar", "(bis", "wird", "plant,", "\u00a0", " ", "\t", "Flyer",
                                 "übernimmt", "macht", "bist", "Bis", "-", "Fragebogen."]), max_size=12))
def test_a_line_the_prose_pattern_finds_holds_one_of_the_words_looked_for_first(words):
    line = " ".join(words)
    if tasks_module._PROSE_HINT.search(line):
        assert any(hint in line for hint in tasks_module._hints_in([line]))


_LINES = ["", "Aufgaben:", "AUFGABENVERTEILUNG", "Wer übernimmt was?", "**Wer von uns macht was (bis wann)?**",
          "TOP 3: To-dos", "Offene Punkte", "Vereinbarungen", "Action items", "taſks", "actıon items", "Was: Flyer",
          "Wer: Frau Öztürk", "Bis wann: 12.05.", "| Was | Wer | Bis wann |",
          "| Flyer drucken | Herr Becker | 12.05. |",
          "Aufgabe\tVerantwortlich", "Stände aufbauen\tFrau Stürmer", "- Flyer drucken (Frau Stürmer)",
          "- Herr Becker: Getränke bestellen", "Herr Becker kümmert sich um den Flyer bis Ende Mai.",
          "Frau Öztürk übernimmt die Anmeldung.", "Die Kita plant das Fest bis Juni.", "Teilnehmende: A, B",
          "Nächstes Treffen: 21.04.2026", "Der Haushalt wird beraten.", "Sonst nichts."]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=14))
def test_the_lines_find_tasks_passes_over_hold_no_task(lines):
    """find_tasks looks only at lines holding a separator, a colon, a task heading's word or a prose hint
    (textlines.lines_holding); looking at every line must find the same tasks."""
    found = tasks_module.find_tasks([lines], date(2026, 3, 12), date(2026, 4, 21))
    every_line = tasks_module.lines_holding
    try:
        tasks_module.lines_holding = lambda all_lines, _words: list(range(len(all_lines)))
        assert tasks_module.find_tasks([lines], date(2026, 3, 12), date(2026, 4, 21)) == found
    finally:
        tasks_module.lines_holding = every_line
