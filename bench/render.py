"""Render bench: one newsletter issue compiled once, then filled in per recipient, beside the reference compiler.

A 10-section newsletter (ten working groups, each with protocols, tasks and next meetings, plus upcoming
meetings and new partners) is rendered through the hub's templates:
  compile    Jinja2 → MJML → HTML with mjml-python (the Rust MRML port): once per issue and language
  fill       the outbox's per-recipient step on that HTML and text: `%%greeting%%` and `%%unsubscribe_url%%`
             filled in and quoted-printable encoded (hub.outbound.assemble, the code that sends)
  message    the whole per-recipient message (headers, Message-ID, List-Unsubscribe, bodies) for reference
  invitation an invitation's fill-in: text, HTML and its calendar twice (iMIP part and .ics), each recipient's
             own ATTENDEE line (made when queued, `hub.scheduler.ics.attendee_line`) filled in
  reference  the same MJML source through npm `mjml` 4 (the reference compiler) in one Node process that
             compiles it as many times as we do and reports its own timings (installed into
             ~/.cache/hub-bench/mjml on first use)
Times are medians of several rounds. Targets: fill < 0.2 ms per recipient; compile faster than the reference.

    .venv/bin/python bench/render.py [--quick]
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import config as config_module  # noqa: E402
from hub.compose.render import compile_mjml, render_mjml, render_text  # noqa: E402
from hub.models import Delivery, NewsletterIssue, OutboundMail  # noqa: E402
from hub.newsletter import context as issue_context  # noqa: E402
from hub.newsletter import greeting  # noqa: E402
from hub.outbound import assemble  # noqa: E402
from hub.scheduler import ics  # noqa: E402

CACHE = Path(os.environ.get("HUB_BENCH_CACHE", Path.home() / ".cache" / "hub-bench")) / "mjml"
NODE_SCRIPT = r"""
const mjml = require(process.argv[2]);
const fs = require("fs");
const source = fs.readFileSync(process.argv[3], "utf8");
const rounds = parseInt(process.argv[4], 10);
mjml(source, {validationLevel: "soft"});
const times = [];
let size = 0;
for (let i = 0; i < rounds; i++) {
  const t = process.hrtime.bigint();
  const out = mjml(source, {validationLevel: "soft"});
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
  size = out.html.length;
}
process.stdout.write(JSON.stringify({times, size}));
"""


def issue() -> NewsletterIssue:
    groups = []
    for g in range(10):
        protocols = [{
            "title": f"Protokoll der {n + 1}. Sitzung", "meeting_date": f"2026-03-{10 + n:02d}",
            "excerpt": ("Wir haben beschlossen, beim Familientag einen gemeinsamen Stand zu machen. Die Stadtwerke "
                        "stellen Strom, die Kitas basteln mit den Kindern, die AWO berät zu Kinderbetreuung. ") * 2,
            "tasks": [{"what": f"Aufgabe {t + 1}: Material besorgen", "who": f"Frau Beispiel {t}"} for t in range(3)],
            "next_meeting": "2026-04-14T18:00", "next_meeting_location": "Rathaus, Raum 2",
        } for n in range(2)]
        groups.append({"name": f"AG Beispiel {g + 1}", "slug": f"ag-{g}", "protocols": protocols})
    content = {
        "groups": groups,
        "upcoming": [{"start": f"2026-04-{10 + i:02d}T18:00", "group": f"AG Beispiel {i + 1}", "title": "",
                      "location": "Familienzentrum"} for i in range(10)],
        "new_partners": [{"name": f"Person {i}", "organisation": f"Kita Nummer {i}"} for i in range(5)],
    }
    return NewsletterIssue(id=1, alliance_id=1, title="Newsletter März 2026", content=content,
                           period_start=datetime(2026, 3, 1, tzinfo=UTC), period_end=datetime(2026, 4, 1, tzinfo=UTC),
                           editorial="Liebe Partnerinnen und Partner,\n\nder **Frühling** ist da.")


def median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def reference(source: str, rounds: int) -> dict | None:
    if not shutil.which("node"):
        return None
    module = CACHE / "node_modules" / "mjml"
    if not module.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"installing npm mjml@4 into {CACHE} …", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(CACHE), "mjml@4"],
                       check=True, timeout=600)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench.js").write_text(NODE_SCRIPT)
        (Path(tmp) / "issue.mjml").write_text(source, encoding="utf-8")
        out = subprocess.run(["node", str(Path(tmp) / "bench.js"), str(module), str(Path(tmp) / "issue.mjml"),
                              str(rounds)], capture_output=True, text=True, check=True, timeout=600)
    data = json.loads(out.stdout)
    return {"ms": statistics.median(data["times"]), "bytes": data["size"]}


def _invitation_fill_ms(config, recipients: int) -> float:
    start = datetime(2026, 4, 21, 16, 0, tzinfo=UTC)
    entry = ics.CalendarEntry(uid="bench@hub.example", sequence=1, title="Treffen AG Gesundheit", start=start,
                              end=start.replace(hour=18), location="Rathaus, Raum 2", description="TOP 1\nTOP 2",
                              organizer_email=config.mail.office_address, organizer_name=config.alliance.name)
    mail = OutboundMail(id=2, kind="invitation", subject="Einladung", text="Guten Tag,\n\nwir laden ein." * 20,
                        html="<p>Guten Tag,</p><p>wir laden ein.</p>" * 20, from_address=config.mail.office_address,
                        calendar=ics.calendar_template(entry, config.tz))
    slots = [s for s in assemble.skeleton(config, mail).segments if not isinstance(s, bytes)]
    people = [{"name": f"Dr. Jürgen Weiß {i}", "email": f"person{i}@example.org",
               ics.ATTENDEE_TOKEN: ics.attendee_line(f"person{i}@example.org", f"Dr. Jürgen Weiß {i}")}
              for i in range(recipients)]

    def fill_all():
        for values in people:
            for slot in slots:
                slot.fill(values)

    return median_ms(fill_all, 3) / recipients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 60 s)")
    args = parser.parse_args()
    rounds, recipients = (15, 2000) if args.quick else (60, 20000)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HUB_SECRET_KEY", "bench-secret")
        os.environ["HUB_DATA_DIR"] = tmp
        config = config_module.load(ROOT / "config" / "hub.toml")
        the_issue = issue()
        ctx = issue_context(the_issue)
        subject, text = render_text("newsletter", ctx, "de", config)
        source = render_mjml("newsletter", {**ctx, "subject": subject}, "de", config)
        html = compile_mjml(source)

        jinja_ms = median_ms(lambda: render_mjml("newsletter", {**ctx, "subject": subject}, "de", config), rounds)
        mjml_ms = median_ms(lambda: compile_mjml(source), rounds)
        compile_ms = median_ms(lambda: (render_text("newsletter", ctx, "de", config),
                                        compile_mjml(render_mjml("newsletter", {**ctx, "subject": subject}, "de",
                                                                 config))), rounds)

        mail = OutboundMail(id=1, kind="newsletter", subject=subject, text=text, html=html, bulk=True,
                            from_address=config.mail.office_address, source_ref="newsletter:1:de")
        skeleton = assemble.skeleton(config, mail)
        slots = [s for s in skeleton.segments if not isinstance(s, bytes)]
        people = [Delivery(id=i + 1, mail_id=1, recipient=f"person{i}@example.org", recipient_name=f"Person {i}",
                           dedupe_key=str(i), values={"greeting": greeting("de", f"Person {i}"),
                                                      "unsubscribe_url": f"https://hub.example/unsubscribe/{i}.sig"})
                  for i in range(recipients)]

        def fill_all():
            for d in people:
                values = {"name": d.recipient_name, "email": d.recipient, **d.values}
                for slot in slots:
                    slot.fill(values)

        def messages_all():
            for d in people:
                skeleton.render(config, d)

        fill_ms = median_ms(fill_all, 3) / recipients
        invitation_ms = _invitation_fill_ms(config, recipients)
        message_ms = median_ms(messages_all, 3) / recipients
        ref = reference(source, rounds)

    print(f"10-section newsletter: MJML {len(source) / 1024:.1f} KB → HTML {len(html.encode()) / 1024:.1f} KB, "
          f"text {len(text.encode()) / 1024:.1f} KB; {recipients} recipients\n")
    print(f"{'step':<44} {'ms':>10} {'vs reference':>14}")
    rows = [("Jinja2 → MJML (once per issue)", jinja_ms, None),
            ("mjml-python MJML → HTML (once per issue)", mjml_ms, ref["ms"] if ref else None),
            ("compile total: text + MJML + HTML", compile_ms, ref["ms"] if ref else None),
            ("reference: npm mjml 4 MJML → HTML", ref["ms"] if ref else float("nan"), None),
            ("fill-in per recipient (bodies)", fill_ms, None),
            ("whole message per recipient (headers too)", message_ms, None),
            ("invitation fill-in per recipient (ATTENDEE)", invitation_ms, None)]
    for name, ms, ref_ms in rows:
        ratio = f"{ref_ms / ms:.1f}× faster" if ref_ms else ""
        print(f"{name:<44} {ms:>10.3f} {ratio:>14}")
    met = fill_ms < 0.2 and invitation_ms < 0.2
    print(f"\nfill-in target < 0.2 ms per recipient: {'met' if met else 'MISSED'}; "
          f"compile faster than the reference: {'yes' if ref and compile_ms < ref['ms'] else 'no'}")
    print(json.dumps({
        "compile_ms": round(compile_ms, 3), "mjml_ms": round(mjml_ms, 3), "jinja_ms": round(jinja_ms, 3),
        "fill_ms_per_recipient": round(fill_ms, 5), "message_ms_per_recipient": round(message_ms, 5),
        "invitation_fill_ms_per_recipient": round(invitation_ms, 5),
        "reference_compile_ms": round(ref["ms"], 3) if ref else None,
        "compile_ratio_vs_reference": round(ref["ms"] / compile_ms, 2) if ref else None,
        "html_kb": round(len(html.encode()) / 1024, 1), "recipients": recipients,
    }))


if __name__ == "__main__":
    main()
