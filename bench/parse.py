"""Parse bench: the hub's parse + classify vs. plain `email.message_from_bytes(policy=default)` on the same mail.

Three workloads, each timed for both, best of a few rounds:
  protocol  a 10 KB plain-text German protocol mail (the pipeline's unit of work: ≥ 250 protocols/s end to end)
  fixtures  the realistic mails of tests/mails/ (HTML, DOCX/PDF/ODT attachments, forwards, broken MIME)
  corpus    every file of ../shared/corpus (bounces, auto-replies, odd MIME)
The baseline only parses and decodes each part (`get_payload(decode=True)`), so the ratio says what the hub's
understanding (charsets, HTML → text, quotes and forwards, document text, bounce detection) costs on top.
Memory: peak RSS growth in a fresh process while parsing a mail with a 20 MB attachment, hub vs. baseline
(the raw bytes are read before the measurement starts).

    .venv/bin/python bench/parse.py [--quick]
"""

from __future__ import annotations

import argparse
import email
import json
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.inbound.classify import classify  # noqa: E402
from hub.inbound.parse import parse  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
MAILS = ROOT / "tests" / "mails"


def protocol_mail() -> bytes:
    text = parse((MAILS / "plain_protokoll_gesundheit.eml").read_bytes()).text
    msg = EmailMessage()
    msg["From"] = "Dr. Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>"
    msg["To"] = "protokolle@buendnis-musterhausen.example"
    msg["Subject"] = "Ergebnisprotokoll AG Gesundheit vom 12.03.2026"
    msg["Date"] = "Fri, 13 Mar 2026 09:30:00 +0100"
    msg["Message-ID"] = "<bench-1@gesundheitsamt-musterhausen.example>"
    body = ""
    while len(body) < 9000:
        body += text + "\n\n"
    msg.set_content(body)
    return msg.as_bytes()


def hub(raw: bytes) -> None:
    classify(raw, parse(raw))


def baseline(raw: bytes) -> None:
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception:  # as the hub does, fall back to compat32 where policy.default gives up on a header
        msg = email.message_from_bytes(raw, policy=policy.compat32)
    for part in msg.walk():
        if not part.is_multipart():
            part.get_payload(decode=True)


def per_second(fn, mails: list[bytes], seconds: float) -> float:
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        while True:
            for raw in mails:
                fn(raw)
            count += len(mails)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, count / elapsed)
    return best


MEMORY_PROBE = """
import sys
sys.path.insert(0, {root!r})
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
import email, email.policy
from hub.inbound.classify import classify
from hub.inbound.parse import parse
import docx, pypdf, odf.opendocument, charset_normalizer
raw = open({path!r}, "rb").read()
before = rss("VmRSS")
if {which!r} == "hub":
    classify(raw, parse(raw))
else:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    data = [p.get_payload(decode=True) for p in msg.walk() if not p.is_multipart()]
print(rss("VmHWM") - before)
"""


def peak_growth_mb(which: str, path: Path) -> float:
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE.format(root=str(ROOT), path=str(path), which=which)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds (< 60 s in all)")
    args = parser.parse_args()
    seconds = 1.5 if args.quick else 6.0

    workloads = {
        "protocol 10 KB": [protocol_mail()],
        "fixtures": [p.read_bytes() for p in sorted(MAILS.glob("*.eml"))],
        "corpus": [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.parent != CORPUS
                   and p.parent.name != "LICENSES"],
    }
    figures: dict[str, float] = {}
    print(f"{'workload':<16} {'mails':>6} {'hub/s':>10} {'baseline/s':>11} {'ratio':>7} {'hub ms/mail':>12}")
    for name, mails in workloads.items():
        hub_rate = per_second(hub, mails, seconds)
        base_rate = per_second(baseline, mails, seconds)
        key = name.split()[0]
        figures[f"{key}_per_s"] = round(hub_rate, 1)
        figures[f"{key}_baseline_per_s"] = round(base_rate, 1)
        figures[f"{key}_ratio_vs_baseline"] = round(hub_rate / base_rate, 3)
        print(f"{name:<16} {len(mails):>6} {hub_rate:>10.1f} {base_rate:>11.1f} {hub_rate / base_rate:>7.2f} "
              f"{1000 / hub_rate:>12.3f}")

    big = Path("/tmp") / f"hub-bench-parse-{id(figures)}.eml"
    msg = EmailMessage()
    msg["From"] = "j.weiss@gesundheitsamt-musterhausen.example"
    msg["Subject"] = "Protokoll mit großem Anhang"
    msg.set_content("Anbei.\n")
    msg.add_attachment(bytes(range(256)) * (20 * 4096), "application", "octet-stream", filename="gross.bin")
    big.write_bytes(msg.as_bytes())
    try:
        hub_mb = peak_growth_mb("hub", big)
        base_mb = peak_growth_mb("baseline", big)
    finally:
        big.unlink()
    figures["rss_mb_20mb_attachment"] = round(hub_mb, 1)
    figures["rss_mb_20mb_attachment_baseline"] = round(base_mb, 1)
    print(f"peak RSS growth, mail with a 20 MB attachment: hub {hub_mb:.0f} MB, baseline {base_mb:.0f} MB")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
