"""Outbound bench: a personalised 10,000-recipient newsletter through the hub vs. a bare aiosmtplib loop.

Both send to the same sink on 127.0.0.1 over the same number of connections, alternating, each run in a
fresh subprocess (so peak RSS is the run's own):
  hub   enqueue (10,000 delivery rows) + flush (claim, fill in each recipient, VERP, send, record)
  bare  one pre-rendered message sent N times by aiosmtplib, no database
The sink is a minimal asyncio SMTP server in its own process (it only counts messages), so that the
sink's parsing is not what is measured. Memory: the hub path at 1,000 and at 10,000 recipients.
Bytes: what each recipient of a real issue gets (headers, text and HTML part as encoded, DKIM signature), for
ten protocols composed by the hub's own newsletter use case (draft, approve, send) rather than the timed
paths' prerendered HTML; goal < 25 KB. Broken down: headers, text and HTML part as encoded, where the HTML's
bytes go (the text a reader reads, inline styles, what only Outlook reads) and what quoted-printable adds.

    .venv/bin/python bench/outbound.py [--quick] [--recipients N] [--connections C] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the sink -----------------------------------------------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    counter = [0]

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data):
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    # keep only a tail long enough to hold a split terminator
                    if len(self.buffer) > 8:
                        self.buffer = self.buffer[-8:]
                    return
                self.buffer = self.buffer[end + 5:]
                self.in_data = False
                self.counter[0] += 1
                self.transport.write(b"250 2.0.0 ok\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2:]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 100000000\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 ok\r\n")


def run_sink(port_file: str) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_SinkProtocol, "127.0.0.1", 0)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(main())


# --- the newsletter -------------------------------------------------------------------------------------


def newsletter() -> tuple[str, str]:
    """≈ 40 KB of HTML and its text version, with the tokens a real newsletter has."""
    item_html = (
        '<tr><td style="padding:16px 24px;font-family:Arial,sans-serif;font-size:15px;line-height:1.5;color:#222">'
        '<h2 style="color:#1f5c99;font-size:19px;margin:0 0 8px">AG Gesundheit: Familienfreundliche Sprechstunden'
        '</h2><p style="margin:0 0 8px">Die Arbeitsgruppe hat sich am Dienstag, 21. April 2026, getroffen und '
        'beschlossen, gemeinsam mit den Kinderärztinnen und -ärzten der Stadt Sprechstunden am frühen Abend '
        'anzubieten. Wer übernimmt was? Frau Özdemir spricht die Praxen an, Herr Müller kümmert sich um die '
        'Öffentlichkeitsarbeit.</p><p style="margin:0"><a href="https://buendnis-musterhausen.example/protokolle/'
        '17" style="color:#1f5c99">Zum Protokoll</a></p></td></tr>\n'
    )
    item_text = (
        "AG Gesundheit: Familienfreundliche Sprechstunden\n"
        "Die Arbeitsgruppe hat sich am Dienstag, 21. April 2026, getroffen und beschlossen, gemeinsam mit den\n"
        "Kinderärztinnen und -ärzten der Stadt Sprechstunden am frühen Abend anzubieten.\n"
        "Zum Protokoll: https://buendnis-musterhausen.example/protokolle/17\n\n"
    )
    html = (
        '<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Newsletter</title></head>'
        '<body style="margin:0;background:#f4f4f4"><table role="presentation" width="100%" cellpadding="0">'
        '<tr><td style="padding:24px"><p>Guten Tag %%name%%,</p><p>hier sind die Neuigkeiten aus dem Bündnis.</p>'
        "</td></tr>\n" + item_html * 57 +
        '<tr><td style="padding:24px;font-size:12px;color:#666">Sie erhalten diese E-Mail als Bündnispartner/in. '
        '<a href="%%unsubscribe_url%%">Abmelden</a></td></tr></table></body></html>\n'
    )
    text = "Guten Tag %%name%%,\n\nhier sind die Neuigkeiten aus dem Bündnis.\n\n" + item_text * 40 + \
        "Abmelden: %%unsubscribe_url%%\n"
    return html, text


# --- the real newsletter: bytes per recipient -------------------------------------------------------------

NEWSLETTER_GOAL_BYTES = 25_000
# Ten protocols over the four working groups that pass theirs on, as a busy month brings them: each with its
# TOP headings, a list, the tasks the protocol names and its next meeting.
PROTOCOL_GROUPS = ["aktionstage", "gesundheit", "unternehmen", "erziehungslotsen"]


def _protocol_text(n: int) -> str:
    return (
        "Hallo zusammen,\n\nanbei das Protokoll unserer Sitzung.\n\n"
        "Anwesend: Frau Özdemir, Herr Müller, Frau Dr. Weiß, Herr Schäfer\nOrt: Rathaus, Raum 2\n\n"
        f"TOP 1: Rückblick auf den Familientag {n}\n"
        "Der Familientag auf dem Marktplatz war gut besucht; rund 1.200 Besucherinnen und Besucher kamen an die "
        "Stände. Die Rückmeldungen der Familien waren überwiegend positiv, gewünscht wurden mehr Sitzplätze und "
        "ein ruhiger Bereich für Eltern mit Säuglingen.\n\n"
        "TOP 2: Sprechstunden am frühen Abend\n"
        "- Die Kinderärztinnen und -ärzte der Stadt bieten ab Mai dienstags Sprechstunden bis 19 Uhr an.\n"
        "- Die Familienbildungsstätte übernimmt die Terminvergabe für Familien ohne Hausarzt.\n"
        "- Ein Flyer in Deutsch, Türkisch, Arabisch und Ukrainisch wird gedruckt.\n\n"
        "TOP 3: Verschiedenes\nDer Haushaltsantrag für 2027 wird bis Ende Mai vorbereitet.\n\n"
        "Mit freundlichen Grüßen\nJürgen Weiß\n"
    )


def run_newsletter_bytes(recipients: int = 40) -> dict:
    """The bytes each recipient of a ten-section issue gets, composed by the hub's own newsletter use case
    (draft, approve, send: one MJML compile per edition, the outbox's skeleton filled per recipient, DKIM
    signed as `hub serve` sends it)."""
    import uuid
    from datetime import UTC, datetime, timedelta
    from email import message_from_bytes, policy

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from sqlmodel import select

    from hub import alliance as alliance_module
    from hub import config as config_module
    from hub import newsletter
    from hub.db import session_scope, upgrade
    from hub.models import Delivery, Group, InboundMessage, Meeting, OutboundMail, Partner
    from hub.outbound.assemble import Signer, skeleton

    base = Path(tempfile.mkdtemp(prefix="hub-bench-newsletter-"))
    try:
        (base / "config").mkdir()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (base / "config" / "dkim.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
        toml = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")
        toml += f'\n[dkim]\nselector = "hub2026"\nkey_file = "{base / "config" / "dkim.key"}"\n'
        (base / "config" / "hub.toml").write_text(toml, encoding="utf-8")
        os.environ["HUB_DATA_DIR"] = str(base / "var")
        os.environ["HUB_SECRET_KEY"] = "bench"
        os.environ.pop("HUB_DATABASE_URL", None)
        config = config_module.load(base / "config" / "hub.toml")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(config.database_url)
        until = datetime.now(UTC).replace(microsecond=0)
        since = until - timedelta(days=31)
        with session_scope(config.database_url) as session:
            alliance = alliance_module.sync(session, config)
            groups = {g.slug: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
            for n in range(10):
                group = groups[PROTOCOL_GROUPS[n % len(PROTOCOL_GROUPS)]]
                session.add(InboundMessage(
                    message_id=f"<{uuid.uuid4()}@example.org>", content_hash=uuid.uuid4().hex, raw_path="x.eml",
                    sender="j.weiss@gesundheitsamt-musterhausen.example", kind="protocol", status="filed",
                    subject=f"AW: [{group.name}] Protokoll vom {n + 1:02d}.03.", group_id=group.id,
                    received_at=since + timedelta(days=2 * n + 1), meeting_date=(since + timedelta(days=2 * n)).date(),
                    text=_protocol_text(n + 1),
                    next_meeting_start=f"{(until + timedelta(days=14 + n)).date().isoformat()}T18:00",
                    next_meeting_location="Familienzentrum Regenbogen, Raum 1",
                    tasks=[{"what": "Flyer in vier Sprachen drucken lassen", "who": "Frau Özdemir", "due": None},
                           {"what": "Praxen anschreiben", "who": "Herr Müller", "due": None}]))
            for n, slug in enumerate(PROTOCOL_GROUPS):
                session.add(Meeting(alliance_id=alliance.id, group_id=groups[slug].id, title="",
                                    start=until + timedelta(days=20 + n, hours=16),
                                    end=until + timedelta(days=20 + n, hours=18), location="Rathaus, Raum 2",
                                    status="confirmed", uid=f"{uuid.uuid4()}@hub"))
            founded = until - timedelta(days=400)
            for i in range(recipients):
                name = f"Jürgen Müller-Lüdenscheid {i}" if i % 4 == 0 else f"Partnerin Nummer {i}"
                session.add(Partner(alliance_id=alliance.id, email=f"partner{i}@example.org",
                                    email_key=f"partner{i}@example.org", name=name,
                                    organisation=f"Kita Sonnenschein {i}", newsletter=True,
                                    joined_at=founded if i >= 3 else since + timedelta(days=3)))
            session.flush()
            issue = newsletter.draft(session, config, since=since, until=until, with_proposed=True,
                                     editorial="Liebe Partnerinnen und Partner,\n\nder **Familientag** war ein "
                                               "Erfolg – danke an alle, die mitgeholfen haben! Das Programm für "
                                               "den Herbst steht unter [Termine](https://buendnis-musterhausen"
                                               ".example/termine).")
            newsletter.approve(session, issue.id, by="bench")
            newsletter.send(session, config, issue.id)
            issue_id = issue.id
        with session_scope(config.database_url) as session:
            deliveries = list(session.exec(select(Delivery).order_by(Delivery.id)))
            mails = {m.id: m for m in session.exec(select(OutboundMail))}
            skeletons = {mail_id: skeleton(config, mail) for mail_id, mail in mails.items()}
            signer = Signer(config)
            sizes, parts, unencoded = [], {"headers": 0, "text": 0, "html": 0}, 0
            for delivery in deliveries:
                data, _message_id = skeletons[delivery.mail_id].render(config, delivery)
                data = signer.sign(data)
                sizes.append(len(data))
                parts["headers"] += data.index(b"\r\n\r\n") + 4
                for part in message_from_bytes(data, policy=policy.SMTP).walk():
                    kind = {"text/plain": "text", "text/html": "html"}.get(part.get_content_type())
                    if kind:
                        parts[kind] += len(part.as_bytes().split(b"\r\n\r\n", 1)[1])
                        unencoded += len(part.get_content().replace("\n", "\r\n").encode())
            html = next(iter(mails.values())).html
        assert len(sizes) == recipients, (issue_id, len(sizes))
        return {"bytes_per_recipient": round(statistics.mean(sizes)),
                **{f"{k}_bytes": round(v / len(sizes)) for k, v in parts.items()},
                "qp_overhead_bytes": round((parts["text"] + parts["html"] - unencoded) / len(sizes)),
                "html_chars": len(html), **_html_breakdown(html), "recipients": len(sizes)}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _html_breakdown(html: str) -> dict:
    """Where the HTML's bytes go (UTF-8, before encoding): the text a reader reads, the inline styles, the
    tables and comments only Outlook reads; the rest is tags and their other attributes."""
    import html as html_module
    import re

    outlook = re.findall(r"<!--\[if [^\]]*mso.*?<!\[endif\]-->", html, flags=re.DOTALL)
    visible = re.sub(r"<(style|title)\b.*?</\1>|<!--.*?-->|<[^>]+>", "", html.split("<body", 1)[-1],
                     flags=re.DOTALL)
    return {"html_text_bytes": len(html_module.unescape(visible).encode()),
            "html_style_bytes": sum(len(s.encode()) for s in re.findall(r' style="[^"]*"', html)),
            "html_outlook_bytes": sum(len(c.encode()) for c in outlook)}


# --- the two paths, each in its own process -------------------------------------------------------------


def run_hub(port: int, recipients: int, connections: int, database: str | None) -> dict:
    import sqlalchemy as sa

    from hub import alliance as alliance_module
    from hub import config as config_module
    from hub.db import engine_for, session_scope, upgrade
    from hub.models import OutboundMail
    from hub.outbound import deliver, outbox
    from hub.outbound.outbox import Recipient

    base = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    scratch = None
    try:
        (base / "config").mkdir()
        toml = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")
        toml += (f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nconnections = {connections}\n'
                 "messages_per_connection = 1000\nrate_per_minute = 100000000\n")
        (base / "config" / "hub.toml").write_text(toml, encoding="utf-8")
        os.environ["HUB_DATA_DIR"] = str(base / "var")
        os.environ["HUB_SECRET_KEY"] = "bench"
        if database:
            # a scratch database of its own on that server, dropped afterwards
            server = sa.engine.make_url(database)
            scratch = f"hub_bench_{os.getpid()}"
            admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
            os.environ["HUB_DATABASE_URL"] = server.set(database=scratch).render_as_string(hide_password=False)
        config = config_module.load(base / "config" / "hub.toml")
        url = config.database_url
        config.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(url)
        with session_scope(url) as session:
            alliance_module.sync(session, config)
        html, text = newsletter()

        started = time.perf_counter()
        with alliance_module.unit_of_work(config) as session:  # the mail and its deliveries are the alliance's
            mail = OutboundMail(kind="newsletter", subject="Neuigkeiten aus dem Bündnis – April 2026",
                                from_address="", text=text, html=html, bulk=True, source_ref="bench:1")
            result = outbox.enqueue(session, mail, (
                Recipient(f"partner{i}@example.org", name=f"Partnerin Nummer {i}" if i % 4 else f"Jürgen Müller {i}",
                          values={"unsubscribe_url": f"https://buendnis-musterhausen.example/abmelden/{i:08d}sig"})
                for i in range(recipients)))
        enqueued = time.perf_counter()
        flushed = deliver.flush(config, worker_id="bench")
        finished = time.perf_counter()
        assert result.queued == recipients and flushed.sent == recipients, (result, flushed)
        return {"seconds": finished - started, "enqueue_s": enqueued - started, "flush_s": finished - enqueued,
                "rss_mb": _peak_rss_mb()}
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if scratch:
            engine_for(url).dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _prerendered() -> bytes:
    from email import policy
    from email.message import EmailMessage

    html, text = newsletter()
    msg = EmailMessage(policy=policy.default)
    msg["From"] = "Bündnis <geschaeftsstelle@buendnis-musterhausen.example>"
    msg["To"] = "Partnerin <partner@example.org>"
    msg["Subject"] = "Neuigkeiten aus dem Bündnis – April 2026"
    msg.set_content(text.replace("%%name%%", "Partnerin"), cte="quoted-printable")
    msg.add_alternative(html.replace("%%name%%", "Partnerin"), subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def run_bare(port: int, recipients: int, connections: int) -> dict:
    import aiosmtplib

    data = _prerendered()

    async def main():
        counter = iter(range(recipients))

        async def connection():
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench")
            await client.connect()
            sent = 0
            for i in counter:
                await client.sendmail("bounces@buendnis-musterhausen.example", [f"partner{i}@example.org"], data)
                sent += 1
                if sent % 1000 == 0:
                    await client.quit()
                    await client.connect()
            await client.quit()

        await asyncio.gather(*(connection() for _ in range(connections)))

    started = time.perf_counter()
    asyncio.run(main())
    return {"seconds": time.perf_counter() - started, "rss_mb": _peak_rss_mb()}


def run_threads(port: int, recipients: int, connections: int) -> dict:
    """The thread alternative to asyncio: stdlib smtplib, one thread per connection, same message."""
    import smtplib
    import threading

    data = _prerendered()
    counter = iter(range(recipients))
    lock = threading.Lock()

    def connection():
        client = smtplib.SMTP("127.0.0.1", port, local_hostname="bench")
        sent = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            client.sendmail("bounces@buendnis-musterhausen.example", [f"partner{i}@example.org"], data)
            sent += 1
            if sent % 1000 == 0:
                client.quit()
                client = smtplib.SMTP("127.0.0.1", port, local_hostname="bench")
        client.quit()

    started = time.perf_counter()
    threads = [threading.Thread(target=connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - started, "rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _child(kind: str, port: int, recipients: int, connections: int, database: str | None) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--port", str(port), "--recipients", str(recipients),
            "--connections", str(connections)] + (["--database", database] if database else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round instead of three (< 60 s)")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database", help="a PostgreSQL server URL: the bench makes (and drops) a scratch database "
                        "there instead of using a fresh SQLite file")
    parser.add_argument("--threads", action="store_true",
                        help="also time stdlib smtplib in one thread per connection (asyncio vs threads)")
    parser.add_argument("--child", choices=["hub", "bare", "threads", "newsletter"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "hub":
        print(json.dumps(run_hub(args.port, args.recipients, args.connections, args.database)))
        return
    if args.child == "bare":
        print(json.dumps(run_bare(args.port, args.recipients, args.connections)))
        return
    if args.child == "threads":
        print(json.dumps(run_threads(args.port, args.recipients, args.connections)))
        return
    if args.child == "newsletter":
        print(json.dumps(run_newsletter_bytes()))
        return

    port_file = Path(tempfile.mkdtemp(prefix="hub-bench-sink-")) / "port"
    sink = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); "
                             f"import outbound; outbound.run_sink({str(port_file)!r})"])
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        port = int(port_file.read_text())
        rounds = 1 if args.quick else 3
        hub_runs, bare_runs, thread_runs = [], [], []
        for _ in range(rounds):
            bare_runs.append(_child("bare", port, args.recipients, args.connections, None))
            hub_runs.append(_child("hub", port, args.recipients, args.connections, args.database))
            if args.threads:
                thread_runs.append(_child("threads", port, args.recipients, args.connections, None))
        small = _child("hub", port, args.recipients // 10, args.connections, args.database)
        real = _child("newsletter", port, 0, 0, None)
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(port_file.parent, ignore_errors=True)

    n = args.recipients
    hub_s = statistics.median(r["seconds"] for r in hub_runs)
    bare_s = statistics.median(r["seconds"] for r in bare_runs)
    hub_rate, bare_rate = n / hub_s, n / bare_s
    rss_small, rss_big = small["rss_mb"], max(r["rss_mb"] for r in hub_runs)
    enqueue_s = statistics.median(r["enqueue_s"] for r in hub_runs)
    print(f"outbound: {n} recipients, {args.connections} connections, {rounds} round(s), "
          f"database {'PostgreSQL' if args.database else 'SQLite'}, sink: minimal asyncio SMTP sink (own process)")
    print(f"{'path':<34}{'seconds':>9}{'recipients/s':>14}{'peak RSS MB':>13}")
    print(f"{'bare aiosmtplib loop':<34}{bare_s:>9.2f}{bare_rate:>14.0f}{max(r['rss_mb'] for r in bare_runs):>13.1f}")
    if thread_runs:
        threads_s = statistics.median(r["seconds"] for r in thread_runs)
        print(f"{'bare smtplib, a thread each':<34}{threads_s:>9.2f}{n / threads_s:>14.0f}"
              f"{max(r['rss_mb'] for r in thread_runs):>13.1f}")
    print(f"{'hub (enqueue + flush)':<34}{hub_s:>9.2f}{hub_rate:>14.0f}{rss_big:>13.1f}")
    print(f"{'  of which enqueue':<34}{enqueue_s:>9.2f}")
    print(f"{f'hub, {n // 10} recipients':<34}{small['seconds']:>9.2f}{n // 10 / small['seconds']:>14.0f}"
          f"{rss_small:>13.1f}")
    print(f"ratio hub/bare {hub_rate / bare_rate:.2f} (target >= 0.70); RSS {n}/{n // 10} "
          f"{rss_big / rss_small:.2f} (target <= 1.5)")
    goal_kb = NEWSLETTER_GOAL_BYTES / 1000
    print(f"newsletter as sent (ten-protocol issue composed by hub.newsletter, DKIM-signed): "
          f"{real['bytes_per_recipient'] / 1000:.1f} KB per recipient (target < {goal_kb:.0f} KB); "
          f"headers {real['headers_bytes'] / 1000:.1f}, text part {real['text_bytes'] / 1000:.1f}, "
          f"HTML part {real['html_bytes'] / 1000:.1f} KB (HTML {real['html_chars']:,} characters before encoding: "
          f"{real['html_text_bytes'] / 1000:.1f} KB text, {real['html_style_bytes'] / 1000:.1f} KB inline styles, "
          f"{real['html_outlook_bytes'] / 1000:.1f} KB for Outlook only); quoted-printable adds "
          f"{real['qp_overhead_bytes'] / 1000:.1f} KB")
    extra = {}
    if thread_runs:
        extra = {"threads_per_s": round(n / threads_s, 1), "ratio_vs_threads": round(hub_rate * threads_s / n, 3)}
        print(f"ratio hub/bare smtplib threads {extra['ratio_vs_threads']:.2f}")
    print(json.dumps({
        "recipients": n, "connections": args.connections, "recipients_per_s": round(hub_rate, 1),
        "bare_per_s": round(bare_rate, 1), "ratio_vs_bare": round(hub_rate / bare_rate, 3),
        "enqueue_s": round(enqueue_s, 3), "rss_mb_1k": rss_small, "rss_mb_10k": rss_big,
        "rss_ratio": round(rss_big / rss_small, 3), "database": "postgresql" if args.database else "sqlite",
        "newsletter_bytes_per_recipient": real["bytes_per_recipient"],
    } | extra))


if __name__ == "__main__":
    main()
