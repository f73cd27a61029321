"""CLI bench: how long a `hub` process takes from start to exit, against a bare interpreter.

Postfix starts one `hub ingest` per mail, and coordinators type the other commands, so start-up is the cost.
Four commands, each run as a whole process, the rounds alternating between them so that a busy machine
slows all alike; medians are compared with the baseline `python -I -c pass`:
  --help   builds the parser only (goal ≤ 6× the bare interpreter)
  status   reads the config and counts rows in the database (goal ≤ 10×)
  ingest   `hub ingest --queue -` with one 10 KB German protocol on standard input, as a Postfix pipe
           transport calls it: the mail is made durable in the spool for `hub serve` (goal ≤ 15×)
  ingest now  `hub ingest FILE`, which files the mail at once, receipt included (shown, no goal: what a
           coordinator does by hand, not once per incoming mail)
A temporary installation (config/hub.toml, SQLite, the example partners) is set up once before timing;
each ingest gets a mail with a Message-ID of its own, so every round files a new protocol.

    .venv/bin/python bench/cli.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = Path(sys.executable).with_name("hub")
GOALS = {"help": 6.0, "status": 10.0, "ingest": 15.0}

AGENDA = """TOP {n}: Gesundheitsförderung in Kitas
Frau Weiß berichtet über das Projekt „Gesund aufwachsen in Musterhausen“. Die Kitas Regenbogen und
Sonnenschein nehmen teil; die Elternabende im Frühjahr waren gut besucht. Die AG beschließt, die
Zahnputzaktion auf alle Kitas auszuweiten. Verantwortlich: Frau Yılmaz, bis zum nächsten Treffen.
"""


def protocol_mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Dr. Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>"
    msg["To"] = "protokolle@buendnis-musterhausen.example"
    msg["Subject"] = "Ergebnisprotokoll AG Gesundheit vom 12.03.2030"
    msg["Date"] = "Wed, 13 Mar 2030 09:30:00 +0100"
    msg["Message-ID"] = f"<bench-cli-{n}-{time.time_ns()}@gesundheitsamt-musterhausen.example>"
    body = "Ergebnisprotokoll der AG Gesundheit vom 12.03.2030\nAnwesend: Frau Weiß, Frau Yılmaz, Herr Krüger\n\n"
    top = 1
    while len(body) < 10_000:
        body += AGENDA.format(n=top) + "\n"
        top += 1
    body += "Nächstes Treffen: 9. April 2030, 18 Uhr, Familienzentrum Regenbogen\n"
    msg.set_content(body)
    return msg.as_bytes()


def installation(folder: Path) -> dict[str, str]:
    shutil.copy(ROOT / "config" / "hub.toml", folder / "hub.toml")
    env = {**os.environ, "HUB_CONFIG": str(folder / "hub.toml"), "HUB_DATA_DIR": str(folder / "var"),
           "HUB_DATABASE_URL": f"sqlite:///{folder / 'hub.db'}"}
    for args in (["init"], ["partners", "import", str(ROOT / "config" / "partners.example.csv"), "--no-welcome"]):
        subprocess.run([str(HUB), *args], env=env, check=True, capture_output=True)
    return env


def timed(argv: list[str], env: dict[str, str], stdin: Path | None = None) -> float:
    start = time.perf_counter()
    with open(stdin or os.devnull, "rb") as source:
        subprocess.run(argv, env=env, check=True, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 60 s in all)")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15

    with tempfile.TemporaryDirectory(prefix="hub-bench-cli-") as tmp:
        folder = Path(tmp)
        env = installation(folder)
        commands = {
            "python": lambda n: [sys.executable, "-I", "-c", "pass"],
            "help": lambda n: [str(HUB), "--help"],
            "status": lambda n: [str(HUB), "status"],
            "ingest": lambda n: [str(HUB), "ingest", "--queue", "-"],
            "ingest_now": lambda n: [str(HUB), "ingest", str(folder / f"mail-{n}.eml")],
        }
        stdin = {"ingest": lambda n: folder / f"queued-{n}.eml"}
        for n in range(rounds + 1):
            (folder / f"mail-{n}.eml").write_bytes(protocol_mail(n))
            (folder / f"queued-{n}.eml").write_bytes(protocol_mail(1000 + n))
        for name, argv in commands.items():  # a warm-up round: page cache and .pyc files
            timed(argv(rounds), env, stdin[name](rounds) if name in stdin else None)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for n in range(rounds):
            for name, argv in commands.items():
                times[name].append(timed(argv(n), env, stdin[name](n) if name in stdin else None))

    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["python"]
    print(f"{'command':<26} {'median ms':>10} {'min ms':>8} {'ratio':>7} {'goal':>6}")
    labels = {"python": "python -I", "help": "hub --help", "status": "hub status",
              "ingest": "hub ingest --queue", "ingest_now": "hub ingest (files at once)"}
    for name, values in times.items():
        goal = f"≤ {GOALS[name]:.0f}×" if name in GOALS else ""
        label = labels[name]
        print(f"{label:<26} {medians[name]:>10.0f} {min(values):>8.0f} {medians[name] / base:>6.1f}× {goal:>6}")
    figures = {"python_ms": round(base, 1)}
    figures |= {f"{name}_ms": round(medians[name], 1) for name in GOALS}
    figures |= {f"{name}_ratio": round(medians[name] / base, 2) for name in GOALS}
    figures |= {"ingest_now_ms": round(medians["ingest_now"], 1),
                "ingest_now_ratio": round(medians["ingest_now"] / base, 2)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
