"""Extract bench: the hub's extractor vs. a plain `dateparser.search.search_dates` pass over the same protocols.

A labelled set of realistic protocols is generated from parts real working groups write (meeting date in
the subject or the text in the usual German spellings, next meeting lines with time and place, open next
meetings, attendee lists, task lists, due dates, English minutes). Each protocol has its true meeting date
and next meeting start. Both extractors read subject + text:
  hub       hub.inbound.extract.extract
  baseline  search_dates(languages=de,en) over subject and text; meeting date = the first date found on or
            before the mail date, next meeting = the last date found after the meeting date (its time
            if it has one; protocols end with the next meeting) — what a plain "find the dates" pass gives.
The hub's time includes matching the tasks' owners to the example partners, as filing does.
Accuracy counts a protocol right when the meeting date (resp. the next meeting start, or its absence) is
exactly the label. The labels come from the same generator as the texts, so a high score here only says the
extractor reads these forms; tests/test_extract.py holds the harder hand-written cases. Time is per
protocol, best of a few rounds.

    .venv/bin/python bench/extract.py [--quick] [--protocols N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.inbound.extract import extract  # noqa: E402
from hub.inbound.message import Directory, ParsedMessage, SenderEntry  # noqa: E402
from hub.inbound.owners import resolve_owners  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember"]
WEEKDAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
GROUPS = ["AG Gesundheit", "AG Aktionstage", "Projektgruppe Erziehungslotsen", "Koordinierungskreis",
          "AG Familienfreundliches Unternehmen"]
PEOPLE = ["Dr. Jürgen Weiß", "Aylin Yılmaz", "Maria Öztürk", "Sabine Krüger", "Thomas Becker", "Klaus Hoffmann",
          "Lena Fischer", "Stefan Wagner", "Ingrid Schäfer"]
PLACES = ["Familienzentrum Regenbogen", "Rathaus, Raum 2.14", "Kita Sonnenschein, Lindenweg 3",
          "Gemeindehaus St. Martin", "Stadtbibliothek"]
FILLER = ["Frau Öztürk berichtet vom Elternabend in der Kita; die Resonanz war gut.",
          "Die Stadt unterstützt den Aktionstag mit 500 Euro aus dem Budget 2026.",
          "Es wird vorgeschlagen, die Flyer auch auf Türkisch und Arabisch zu drucken.",
          "Herr Becker stellt die Ergebnisse der Unternehmensbefragung vor (42 Rückmeldungen).",
          "Diskussion über familienfreundliche Öffnungszeiten der Ämter; Vorschlag geht an die Verwaltung."]


@dataclass
class Labelled:
    subject: str
    text: str
    sent_at: datetime
    meeting_date: date
    next_start: date | datetime | None


def _numeric(d: date, rng: random.Random, year: bool = True) -> str:
    style = rng.choice(["dd.mm.yyyy", "d.m.yyyy", "dd.mm.yy"]) if year else "dd.mm."
    return {"dd.mm.yyyy": f"{d:%d.%m.%Y}", "d.m.yyyy": f"{d.day}.{d.month}.{d.year}",
            "dd.mm.yy": f"{d:%d.%m.%y}", "dd.mm.": f"{d:%d.%m.}"}[style]


def _long(d: date, weekday: bool = False) -> str:
    text = f"{d.day}. {MONTHS[d.month - 1]} {d.year}"
    return f"{WEEKDAYS[d.weekday()]}, {text}" if weekday else text


def protocol(rng: random.Random) -> Labelled:
    meeting = date(2026, 1, 5) + timedelta(days=rng.randrange(300))
    sent = datetime.combine(meeting + timedelta(days=rng.randrange(1, 6)), datetime.min.time(), BERLIN) + \
        timedelta(hours=rng.randrange(8, 20))
    group = rng.choice(GROUPS)
    where = rng.choice(["subject", "text", "both", "yearless"])
    subject = f"Ergebnisprotokoll {group}"
    if where in ("subject", "both"):
        subject += f" vom {_numeric(meeting, rng)}"
    lines = ["Liebe Kolleginnen und Kollegen,", "",
             rng.choice(["anbei das Protokoll unserer letzten Sitzung.", "hier kommt das Protokoll."]), ""]
    if where in ("text", "both"):
        lines += [f"Protokoll der Sitzung am {_long(meeting, rng.random() < 0.5)}", ""]
    if where == "yearless":
        lines += [f"Protokoll unseres Treffens vom {meeting.day}. {MONTHS[meeting.month - 1]}", ""]
    people = rng.sample(PEOPLE, rng.randrange(3, 7))
    lines += [f"{rng.choice(['Teilnehmende', 'Anwesend', 'Teilnehmer/innen'])}: {', '.join(people)}", ""]
    lines += ["1. Mit welcher Idee wollen wir starten?", *rng.sample(FILLER, 2), ""]
    lines += ["2. Was ist für die konkrete Umsetzung zu tun?", *rng.sample(FILLER, 2), ""]
    lines += ["3. Wer von uns übernimmt was?"]
    for person in rng.sample(people, 2):
        due = meeting + timedelta(days=rng.randrange(5, 25))
        lines.append(f"- {rng.choice(['Flyer gestalten', 'Raum reservieren', 'Presse informieren'])}: "
                     f"{person} (bis {_numeric(due, rng, year=False)})")
    lines.append("")
    nxt = meeting + timedelta(days=rng.randrange(14, 60))
    hour = rng.choice([9, 16, 17, 18, 19])
    place = rng.choice(PLACES)
    kind = rng.choice(["line", "prose", "form", "open", "date-only"])
    start: date | datetime | None = datetime(nxt.year, nxt.month, nxt.day, hour)
    if kind == "line":
        lines.append(f"Nächstes Treffen: {_long(nxt, True)}, {hour}:00 Uhr, {place}")
    elif kind == "prose":
        lines.append(f"Wir treffen uns wieder am {_numeric(nxt, rng)} um {hour} Uhr im {place}.")
    elif kind == "form":
        lines += ["4. Wie, wann und wo geht es weiter?", "",
                  f"Nächste Sitzung am {_long(nxt)}, {hour}.30 Uhr", f"Ort: {place}"]
        start = datetime(nxt.year, nxt.month, nxt.day, hour, 30)
    elif kind == "open":
        lines.append(rng.choice(["Nächstes Treffen: noch offen (Doodle folgt)",
                                 "Der nächste Termin wird noch bekannt gegeben."]))
        start = None
    else:
        lines.append(f"Nächster Termin: {_numeric(nxt, rng)}")
        start = nxt
    lines += ["", *rng.sample(FILLER, 1), "", "Viele Grüße", rng.choice(people)]
    return Labelled(subject, "\n".join(lines), sent, meeting, start)


def english(rng: random.Random) -> Labelled:
    meeting = date(2026, 2, 2) + timedelta(days=rng.randrange(200))
    nxt = meeting + timedelta(days=28)
    sent = datetime.combine(meeting + timedelta(days=2), datetime.min.time(), BERLIN)
    text = (f"Minutes of the working group meeting on {meeting.day} {meeting:%B %Y}\n\n"
            f"Attendees: {', '.join(rng.sample(PEOPLE, 4))}\n\n{rng.choice(FILLER)}\n\n"
            f"Next meeting: {nxt:%A, %B} {nxt.day}, {nxt.year}, 6 pm, City Hall\n")
    return Labelled("Minutes", text, sent, meeting, datetime(nxt.year, nxt.month, nxt.day, 18))


def parsed(item: Labelled) -> ParsedMessage:
    return ParsedMessage("<bench@x>", "0" * 64, "a@example.org", "", item.subject, item.sent_at, [], [], item.text)


def example_directory() -> Directory:
    """The example alliance's partners, as filing reads them, for matching task owners."""
    import csv

    with (ROOT / "config" / "partners.example.csv").open(encoding="utf-8") as rows:
        senders = {row["email"].lower(): SenderEntry(row["email"].lower(), row["role"], tuple(row["groups"].split(";")),
                                                    partner_id=number, name=row["name"],
                                                    organisation=row["organisation"])
                   for number, row in enumerate(csv.DictReader(rows), 1)}
    return Directory("buendnis-musterhausen.example", "protokolle@buendnis-musterhausen.example", [], senders)


DIRECTORY = example_directory()


def hub_tasks(item: Labelled) -> list:
    """The protocol's tasks with their owners matched against the partners (as filing does)."""
    return resolve_owners(extract(parsed(item), BERLIN).tasks, DIRECTORY, None)


def hub_extract(item: Labelled) -> tuple[date | None, date | datetime | None]:
    result = extract(parsed(item), BERLIN)
    resolve_owners(result.tasks, DIRECTORY, None)  # timed with the rest: filing matches owners right after
    return result.meeting_date, result.next_meeting.start if result.next_meeting else None


def baseline_extract(item: Labelled) -> tuple[date | None, date | datetime | None]:
    from dateparser.search import search_dates

    settings = {"RELATIVE_BASE": item.sent_at.replace(tzinfo=None), "PREFER_DATES_FROM": "past",
                "DATE_ORDER": "DMY"}
    found = search_dates(f"{item.subject}\n{item.text}", languages=["de", "en"], settings=settings) or []
    sent = item.sent_at.date()
    meeting = next((d.date() for _, d in found if d.date() <= sent), None)
    later = next((d for _, d in reversed(found) if meeting and d.date() > meeting), None)
    if later is None:
        return meeting, None
    return meeting, later if (later.hour, later.minute) != (0, 0) else later.date()


def measure(function, items: list[Labelled], rounds: int) -> tuple[float, int, int]:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        results = [function(item) for item in items]
        best = min(best, time.perf_counter() - started)
    meeting_ok = sum(r[0] == i.meeting_date for r, i in zip(results, items, strict=True))
    next_ok = sum(r[1] == i.next_start for r, i in zip(results, items, strict=True))
    return best * 1000 / len(items), meeting_ok, next_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer protocols and rounds (< 60 s)")
    parser.add_argument("--protocols", type=int, default=None)
    args = parser.parse_args()
    count = args.protocols or (40 if args.quick else 200)
    rounds = 2 if args.quick else 3
    rng = random.Random(20260312)
    items = [english(rng) if i % 10 == 9 else protocol(rng) for i in range(count)]
    # Warm both (dateparser loads its language data on first use; our regexes compile at import).
    hub_extract(items[0])
    baseline_extract(items[0])

    hub_ms, hub_meeting, hub_next = measure(hub_extract, items, rounds * 5)
    tasks = [t for item in items for t in hub_tasks(item)]
    owned = sum(1 for t in tasks if t.who_email)
    base_ms, base_meeting, base_next = measure(baseline_extract, items, rounds)
    chars = sum(len(i.text) for i in items) / len(items)

    print(f"{count} labelled protocols, {chars:.0f} characters on average\n")
    print(f"{'extractor':<34} {'ms/protocol':>12} {'protocols/s':>12} {'meeting date':>13} {'next meeting':>13}")
    for name, ms, meeting, nxt in (("hub (regex near cues + babel)", hub_ms, hub_meeting, hub_next),
                                   ("baseline (dateparser search_dates)", base_ms, base_meeting, base_next)):
        print(f"{name:<34} {ms:>12.3f} {1000 / ms:>12.0f} {meeting / count:>12.0%} {nxt / count:>12.0%}")
    print(f"\nspeed-up vs baseline: {base_ms / hub_ms:.0f}×; hub time includes matching task owners to the partners "
          f"({owned} of {len(tasks)} tasks matched); goal: under 5 ms per protocol")
    print(json.dumps({
        "protocols": count,
        "hub_ms_per_protocol": round(hub_ms, 4),
        "baseline_ms_per_protocol": round(base_ms, 4),
        "speedup_vs_baseline": round(base_ms / hub_ms, 1),
        "hub_meeting_date_accuracy": round(hub_meeting / count, 3),
        "hub_next_meeting_accuracy": round(hub_next / count, 3),
        "baseline_meeting_date_accuracy": round(base_meeting / count, 3),
        "baseline_next_meeting_accuracy": round(base_next / count, 3),
        "tasks": len(tasks),
        "task_owners_matched": owned,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
