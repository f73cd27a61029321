"""Full-text search of the protocol archive: 100,000 generated German protocols (3-10 KB, 6 groups, 5 years),
the time to build the index over them (what migration 0010 does on an archive that exists) and the latency of
20 queries through the use case the web and the CLI call (a page of 50 hits with snippets), against the archive's
old `LIKE '%…%'` scan of the same table (count and page, as queries.archive did) as the baseline.

    .venv/bin/python bench/search.py [--quick] [--protocols N] [--database URL]

SQLite always; with `--database` (a PostgreSQL server URL) also PostgreSQL, in a scratch database the bench
makes and drops. Goal: p95 < 50 ms on both and at least 20× faster than the scan. One table, then one JSON line
(the keys of the slowest database at the top level, each database's figures under `databases`).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from installation import scratch_database
from sqlmodel import Session

from hub import search, search_store
from hub.db import engine_for, upgrade
from hub.models import Alliance, Group, InboundMessage

GROUPS = ["gesundheit", "aktionstage", "erziehungslotsen", "unternehmen", "koordinierungskreis", "kita"]
NAMES = [f"{first} {last}" for first in ("Maria", "Jürgen", "Aylin", "Sabine", "Thomas", "Klaus", "Lena", "Stefan",
                                         "Ingrid", "Petra", "Jörg", "Anna", "Mehmet", "Björn", "Doris", "Uwe")
         for last in ("Öztürk", "Weiß", "Yılmaz", "Krüger", "Becker", "Hoffmann", "Fischer", "Wagner", "Schäfer",
                      "Schulze", "Müller", "Groß", "Nowak", "Hähnel", "Kaya", "Lößner", "Brandt", "Vogel")]
PLACES = ["Familienzentrum Regenbogen", "Rathaus, Raum 3", "Kita Sonnenschein", "Stadtbibliothek", "Jugendamt",
          "Gemeindehaus St. Martin", "Stadtwerke, Konferenzraum", "Volkshochschule"]
TOPICS = ["Familientag", "Ferienprogramm", "Elternabend", "Sommerfest", "Familienpass", "Spielplatzfest",
          "Vorlesestunde", "Betreuungsangebot", "Kinderarmut", "Pflegeberatung", "Babybegrüßungspaket",
          "Wunschbaum", "Stadtteilfest", "Elterncafé", "Ausbildungsmesse", "Sprachförderung"]
SENTENCES = [
    "Die Arbeitsgruppe bespricht den Stand beim Thema {topic}.",
    "{name} berichtet über die Vorbereitung von {topic} im {place}.",
    "Für {topic} werden noch Helferinnen und Helfer gesucht; {name} fragt bei den Partnern nach.",
    "Der Termin für {topic} steht fest, die Einladungen verschickt {name}.",
    "Es wird vereinbart, dass {name} die Presse informiert und einen Flyer zu {topic} gestaltet.",
    "Die Finanzierung über den Verfügungsfonds ist beantragt; die Zusage wird im Frühjahr erwartet.",
    "Mehrere Familien haben nach Angeboten am Wochenende gefragt, besonders Alleinerziehende.",
    "Die Zusammenarbeit mit den Kitas und Schulen im Stadtteil soll ausgebaut werden.",
    "Nächstes Treffen: {day}, 18:00 Uhr, {place}.",
    "Wer übernimmt was? {name}: Raum reservieren; die Geschäftsstelle: Protokoll an alle Partner.",
    "Mit welcher Idee wollen wir starten? Ein niedrigschwelliges Angebot für Familien mit kleinen Kindern.",
    "Die Rückmeldungen der Eltern zu {topic} waren durchweg positiv, einige wünschen sich mehr Termine.",
    "Das Bündnis für Familie plant gemeinsam mit dem Jugendamt eine Befragung zur Vereinbarkeit von Familie "
    "und Beruf.",
]
# Names, topics in other forms of the word, umlauts typed or not, phrases, and two words in nearly every protocol.
QUERIES = ["öztürk", "Familientage", "Sommerfest", "Jürgen Weiss", "Elterncafe", "Ferienprogramm Jugendamt",
           "Babybegrüßungspaket", "Vorlesestunden", "Pflegeberatung Rathaus", '"Familie und Beruf"', "Aylin Yılmaz",
           "Spielplatzfeste", "Verfügungsfonds", "Kinderarmut", "Stadtbibliothek", "Wunschbäume", "Doris Groß",
           "Sprachförderung Kita", "Ausbildungsmessen", "Hähnel Presse"]


def protocol(rng: random.Random, index: int, groups: dict[str, int], start: datetime) -> dict:
    group = GROUPS[index % len(GROUPS)]
    received = start + timedelta(minutes=rng.randrange(5 * 365 * 24 * 60))
    topics = rng.sample(TOPICS, 3)  # a meeting is about a few things, its first the main one
    topic = topics[0]
    attendees = rng.sample(NAMES, rng.randrange(4, 9))
    size, lines = rng.randrange(3000, 10000), [f"Ergebnisprotokoll der Sitzung vom {received:%d.%m.%Y}",
                                                "Teilnehmende: " + ", ".join(attendees)]
    while sum(map(len, lines)) < size:
        lines.append(rng.choice(SENTENCES).format(
            topic=topic if rng.random() < 0.5 else rng.choice(topics), name=rng.choice(attendees),
            place=rng.choice(PLACES), day=f"{received + timedelta(days=28):%d.%m.%Y}"))
    return {"message_id": f"<bench-{index}@example.org>", "content_hash": f"h{index}", "raw_path": "messages/x.eml",
            "size": size, "received_at": received, "received_via": "file", "envelope_to": [], "sender_name": "",
            "subject": f"Protokoll {group} vom {received:%d.%m.%Y}: {topic}", "kind": "protocol", "status": "filed",
            "group_id": groups[group], "reason": "", "text": "\n".join(lines), "attendees": [], "tasks": [],
            "defects": [], "authentication": ""}


def load(url: str, count: int) -> tuple[int, float]:
    """The archive without its index: an alliance, its groups and `count` protocols. Returns the alliance id and
    the seconds the protocols took to store."""
    engine = engine_for(url)
    with Session(engine) as session:
        alliance = Alliance(domain="bench.example", name="Bündnis Bench")
        session.add(alliance)
        session.flush()
        groups = {}
        for slug in GROUPS:
            group = Group(alliance_id=alliance.id, slug=slug, name=f"AG {slug}")
            session.add(group)
            session.flush()
            groups[slug] = group.id
        session.commit()
        alliance_id = alliance.id
    with engine.begin() as connection:
        search_store.uninstall(connection)
    rng, start, began = random.Random(16), datetime(2022, 1, 1, tzinfo=UTC), time.perf_counter()
    for first in range(0, count, 2000):
        rows = [protocol(rng, i, groups, start) for i in range(first, min(first + 2000, count))]
        with engine.begin() as connection:
            connection.execute(sa.insert(InboundMessage.__table__), rows)
    return alliance_id, time.perf_counter() - began


def build(url: str) -> float:
    engine = engine_for(url)
    began = time.perf_counter()
    with engine.begin() as connection:
        search_store.install(connection)
    seconds = time.perf_counter() - began
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")  # as autovacuum would soon after the migration
    return seconds


def timed_queries(url: str, alliance_id: int, rounds: int) -> list[float]:
    """Milliseconds of each query, each round: the use case with a page of 50 and its snippets."""
    times = []
    with Session(engine_for(url)) as session:
        alliance = session.get(Alliance, alliance_id)
        for query in QUERIES:  # warm the cache once, as a running hub is
            search.search_protocols(session, alliance, query)
        for _round in range(rounds):
            for query in QUERIES:
                began = time.perf_counter()
                results = search.search_protocols(session, alliance, query)
                times.append((time.perf_counter() - began) * 1000)
                assert results.total, f"{query!r} found nothing"
    return times


def timed_scans(url: str, alliance_id: int) -> list[float]:
    """Milliseconds of the old substring search (count and a page of 50, newest first) for each query."""
    times = []
    with Session(engine_for(url)) as session:
        for query in QUERIES:
            pattern = "%" + query.strip('"') + "%"
            where = sa.and_(InboundMessage.kind == "protocol", InboundMessage.status == "filed",
                            sa.or_(InboundMessage.text.ilike(pattern), InboundMessage.subject.ilike(pattern)))
            began = time.perf_counter()
            session.execute(sa.select(sa.func.count()).where(where)).one()
            session.execute(sa.select(InboundMessage.id).where(where).order_by(InboundMessage.received_at.desc())
                            .limit(50)).all()
            times.append((time.perf_counter() - began) * 1000)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(share * (len(ordered) - 1))), len(ordered) - 1)]


def run(label: str, url: str, count: int, rounds: int) -> dict:
    upgrade(url)
    alliance_id, load_s = load(url, count)
    index_s = build(url)
    times = timed_queries(url, alliance_id, rounds)
    scans = timed_scans(url, alliance_id)
    engine_for(url).dispose()
    p95, scan_p95 = percentile(times, 0.95), percentile(scans, 0.95)
    return {"database": label, "protocols": count, "load_s": round(load_s, 1), "index_s": round(index_s, 1),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1),
            "scan_p50_ms": round(statistics.median(scans), 1), "scan_p95_ms": round(scan_p95, 1),
            "speedup": round(scan_p95 / p95, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,000 protocols, one round (under a minute)")
    parser.add_argument("--protocols", type=int, help="how many protocols (default 100,000; --quick 4,000)")
    parser.add_argument("--database", help="a PostgreSQL server URL: the bench makes (and drops) a scratch database")
    args = parser.parse_args()
    count = args.protocols or (4_000 if args.quick else 100_000)
    rounds = 1 if args.quick else 5
    results = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-search-") as folder:
        results.append(run("sqlite", f"sqlite:///{Path(folder) / 'hub.db'}", count, rounds))
    if args.database:
        url, drop = scratch_database(args.database, "search")
        try:
            results.append(run("postgresql", url, count, rounds))
        finally:
            engine_for(url).dispose()
            drop()
    columns = ["database", "protocols", "load_s", "index_s", "p50_ms", "p95_ms", "scan_p50_ms", "scan_p95_ms",
               "speedup"]
    print(f"full-text search, {len(QUERIES)} queries × {rounds} rounds, a page of 50 with snippets; "
          "baseline: LIKE '%…%' scan")
    print("  ".join(f"{c:>12}" for c in columns))
    for result in results:
        print("  ".join(f"{result[c]!s:>12}" for c in columns))
    worst = max(results, key=lambda r: r["p95_ms"])
    print(json.dumps({"protocols": count, "index_s": max(r["index_s"] for r in results), "p50_ms": worst["p50_ms"],
                      "p95_ms": worst["p95_ms"], "scan_p95_ms": worst["scan_p95_ms"],
                      "speedup": min(r["speedup"] for r in results), "databases": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
