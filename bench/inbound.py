"""Inbound bench: N concurrent SMTP clients on 127.0.0.1 sending 10 KB protocols to a real `hub serve`,
beside a bare aiosmtpd server (same aiosmtpd settings) whose handler only answers 250, alternating.

  accepted  all 250s received: the hub has spooled and fsynced every message (the bare server kept nothing)
  spool     the hub's listener alone (spools and fsyncs, files nothing): the listener's own cost, without
            the filing worker competing for the same interpreter
  filed     from the first connection until the last message is a row in the database (parse, classify,
            route, extract, store) — end to end, on SQLite by default
  followed  … until every message's receipt and relay are in the outbox too (the follow-up stage, which
            `hub serve` runs in its outbox process, beside filing)
Each round starts with the hub idle (the previous round's receipts and relays delivered to the Maildir
outbox): a burst of protocols from quiet, as in the baseline.
  RSS       growth of the peak RSS (VmHWM) of `hub serve` and its filing process, summed, while it
            receives and files one mail with a 20 MB attachment, against the size of the attachment

Both servers run in their own process; the client is a minimal asyncio SMTP client in this process.

    .venv/bin/python bench/inbound.py [--quick] [--messages N] [--connections C] [--database URL] [--sender-check]

With --sender-check the hub checks every sender (issue 12): loopback is not trusted, the protocols are DKIM-signed
(dkimpy) and the DKIM, SPF and DMARC records come from a real DNS server (dnsmasq, tests/dns_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from installation import ROOT, example_config, free_port, scratch_database, tree_mb, wait_for_port
from installation import installation as bench_installation

sys.path.insert(0, str(ROOT))

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"  # AG Gesundheit's representative in the example partners
RECIPIENT = "protokolle@buendnis-musterhausen.example"
WORDS = ("Familienzentrum Kita Ferienbetreuung Elterncafé Sprechstunde Gesundheitstag Flyer Stadtpark "
         "Vereinbarkeit Beruf Familie Unternehmen Pflege Zuschuss Raum Termin Ergebnis Umsetzung").split()


def protocol(run: str, number: int, size: int = 10_000) -> bytes:
    rng = random.Random(number)
    lines = ["Liebe Kolleginnen und Kollegen,", "", "anbei das Ergebnisprotokoll unserer Sitzung vom 12.03.2026.", ""]
    while sum(len(line) + 2 for line in lines) < size - 900:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(11)))
    lines += ["", "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen", "",
              "Viele Grüße", "Jürgen Weiß"]
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{SENDER}>"
    msg["To"] = RECIPIENT
    msg["Subject"] = f"Ergebnisprotokoll AG Gesundheit Nr. {number}"
    msg["Date"] = "Fri, 13 Mar 2026 09:30:00 +0100"
    msg["Message-ID"] = f"<bench-{run}-{number}@gesundheitsamt-musterhausen.example>"
    msg.set_content("\n".join(lines))
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- the client ---------------------------------------------------------------------------------------


async def _reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


async def _connection(port: int, queue: list[bytes], on_accepted=None, paced=None) -> int:
    """Send from `queue` until it is empty; `on_accepted(raw)` right after each 250; with `paced` (a
    function that returns the moment the next message is due), no message before its time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    writer.write(b"EHLO bench.example\r\n")
    await _reply(reader)
    sent = 0
    while queue:
        raw = queue.pop()
        if paced is not None:
            await asyncio.sleep(max(0.0, paced() - time.perf_counter()))
        for command in (f"MAIL FROM:<{SENDER}>".encode(), f"RCPT TO:<{RECIPIENT}>".encode(), b"DATA"):
            writer.write(command + b"\r\n")
            await _reply(reader)
        writer.write(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        answer = await _reply(reader)
        if not answer.startswith(b"250"):
            raise RuntimeError(f"server answered {answer!r}")
        if on_accepted is not None:
            on_accepted(raw)
        sent += 1
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()
    return sent


def send_all(port: int, messages: list[bytes], connections: int, on_accepted=None, rate: float | None = None
             ) -> float:
    """Send every message over `connections` parallel connections (at most `rate` per second when given);
    seconds until the last 250."""
    queue = list(reversed(messages))
    started = time.perf_counter()
    slots = iter(range(len(messages)))
    paced = (lambda: started + next(slots) / rate) if rate else None

    async def main():
        return await asyncio.gather(*(_connection(port, queue, on_accepted, paced) for _ in range(connections)))

    counts = asyncio.run(main())
    assert sum(counts) == len(messages)
    return time.perf_counter() - started


# --- the servers --------------------------------------------------------------------------------------


def run_bare(port: int) -> None:
    """aiosmtpd with the listener's settings and a handler that keeps nothing."""
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 OK"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="bench.example", data_size_limit=25 * 1024 * 1024,
                         enable_SMTPUTF8=True, decode_data=False), "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def run_spool_only(port: int) -> None:
    """The hub's SMTP listener spooling into a scratch folder, with nobody filing."""
    from hub import config as config_module
    from hub.inbound.smtp import Listener

    base = Path(tempfile.mkdtemp(prefix="hub-bench-spool-"))
    os.environ["HUB_DATA_DIR"] = str(base)
    listener = Listener(config_module.load(ROOT / "config" / "hub.toml"), lambda entry: None, port=port)
    listener.start()
    signal.sigwait({signal.SIGTERM})
    listener.stop()


def installation(database: str | None, dns_port: int | None = None) -> tuple[Path, dict]:
    """A fresh installation (example config and partners); with `dns_port`, the sender check on against the
    DNS server there (loopback not trusted)."""
    text = example_config()
    # A 20 MB attachment is ~27.5 MB in base64: above the 25 MB default, as at most providers.
    text = text.replace("max_message_size = 26214400", "max_message_size = 33554432")
    if dns_port is not None:
        text = text.replace('trusted_networks = ["127.0.0.0/8", "::1"]',
                            f'trusted_networks = []\ndns_servers = ["127.0.0.1"]\ndns_port = {dns_port}')
        assert f"dns_port = {dns_port}" in text, "config/hub.toml no longer lists trusted_networks as expected"
    return bench_installation("inbound", database, text)


class HubCounter:
    """Counts stored messages in the hub's database."""

    def __init__(self, base: Path, env: dict):
        import sqlalchemy as sa

        from hub import config as config_module

        os.environ.update({k: env[k] for k in ("HUB_DATA_DIR", "HUB_CONFIG") if k in env})
        if "HUB_DATABASE_URL" in env:
            os.environ["HUB_DATABASE_URL"] = env["HUB_DATABASE_URL"]
        config = config_module.load(base / "config" / "hub.toml")
        self.engine = sa.create_engine(config.database_url)
        self.queries = {
            "stored": sa.text("SELECT count(*) FROM inboundmessage"),
            "followed": sa.text("SELECT count(*) FROM inboundmessage WHERE followed_up_at IS NOT NULL"),
            "unsent": sa.text("SELECT count(*) FROM delivery WHERE state IN ('queued', 'sending')"),
        }

    def count(self, what: str = "stored") -> int:
        with self.engine.connect() as conn:
            return conn.execute(self.queries[what]).scalar_one()

    def wait_for(self, target: int, what: str = "stored", timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(what) >= target:
                return time.perf_counter()
            time.sleep(0.02)
        raise RuntimeError(f"only {self.count(what)} of {target} messages {what} after {timeout} s")


def wait_until_sent(counter: HubCounter, timeout: float = 600) -> None:
    """Each round starts with the hub idle: the last round's receipts and relays delivered (to its
    Maildir outbox), so that every round measures the same thing and the baseline runs on a quiet machine."""
    deadline = time.monotonic() + timeout
    while counter.count("unsent") and time.monotonic() < deadline:
        time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of a process plus its children (hub serve files in a child process)."""
    return tree_mb(pid, "status", "VmHWM:")


def big_attachment_mail(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{SENDER}>"
    msg["To"] = RECIPIENT
    msg["Subject"] = "Ergebnisprotokoll AG Gesundheit mit Fotos vom Familientag"
    msg["Message-ID"] = "<bench-big@gesundheitsamt-musterhausen.example>"
    msg.set_content("Liebe Kolleginnen und Kollegen,\n\nanbei die Fotos vom Familientag.\n")
    msg.add_attachment(os.urandom(size), maintype="application", subtype="zip", filename="Fotos Familientag.zip")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer messages and two rounds (< 60 s)")
    parser.add_argument("--messages", type=int, help="messages per round (default 2000, quick 300)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, help="rounds of bare + hub (default 3, quick 2)")
    parser.add_argument("--database", help="a PostgreSQL server URL: the bench makes (and drops) a scratch database")
    parser.add_argument("--sender-check", action="store_true",
                        help="DKIM-signed protocols, loopback not trusted, DNS from a local dnsmasq")
    parser.add_argument("--child", choices=["bare", "spool"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bare":
        run_bare(args.port)
        return
    if args.child == "spool":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        run_spool_only(args.port)
        return

    n = args.messages or (300 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 3)
    attachment = 20 * 1024 * 1024
    drop = None
    database = None
    if args.database:
        database, drop = scratch_database(args.database, "inbound")
    dns = None
    if args.sender_check:
        sys.path.insert(0, str(ROOT / "tests"))
        import dns_server  # the tests' DNS server: dnsmasq with the partners' SPF, DKIM and DMARC records

        dns = dns_server.start()
    base, env = installation(database, dns.port if dns else None)
    bare_port, hub_port, spool_port = free_port(), free_port(), free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--child", "bare", "--port", str(bare_port)])
    spool_only = subprocess.Popen([sys.executable, __file__, "--child", "spool", "--port", str(spool_port)])
    log = open(base / "serve.log", "wb")
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(hub_port), "--no-imap"],
                           cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=log)
    bare_runs, hub_runs, filed_runs, spool_runs, followed_runs = [], [], [], [], []
    try:
        wait_for_port(bare_port, bare)
        wait_for_port(spool_port, spool_only)
        wait_for_port(hub_port, hub)
        counter = HubCounter(base, env)
        stored = counter.count()
        for r in range(rounds):
            wait_until_sent(counter)
            messages = [protocol(f"r{r}", i) for i in range(n)]
            if dns is not None:
                messages = [dns.sign(m, SENDER.split("@")[1]) for m in messages]
            bare_runs.append(n / send_all(bare_port, messages, args.connections))
            spool_runs.append(n / send_all(spool_port, messages, args.connections))
            started = time.perf_counter()
            accepted_s = send_all(hub_port, messages, args.connections)
            filed_at = counter.wait_for(stored + n)
            followed_at = counter.wait_for(stored + n, "followed")
            stored += n
            hub_runs.append(n / accepted_s)
            filed_runs.append(n / (filed_at - started))
            followed_runs.append(n / (followed_at - started))
        before = peak_rss_mb(hub.pid)
        send_all(hub_port, [big_attachment_mail(attachment)], 1)
        counter.wait_for(stored + 1)
        rss_growth = peak_rss_mb(hub.pid) - before
        rss_peak = peak_rss_mb(hub.pid)
        hub.send_signal(signal.SIGTERM)
        hub_exit = hub.wait(120)
    finally:
        for process in (hub, bare, spool_only):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(120)
        log.close()
        if drop:
            drop()
        if dns is not None:
            dns.stop()
    spool_left = len(list((base / "var" / "spool" / "new").glob("*.eml")))
    # Moved aside, not deleted: deleting a big folder slows fsync on this disk for seconds (discard).
    shutil.move(str(base), tempfile.mkdtemp(prefix="hub-bench-done-"))

    bare_rate, hub_rate, filed_rate, spool_rate, followed_rate = (
        statistics.median(x) for x in (bare_runs, hub_runs, filed_runs, spool_runs, followed_runs))
    ratio = hub_rate / bare_rate
    print(f"inbound: {n} mails of 10 KB per round, {args.connections} connections, {rounds} round(s) alternating, "
          f"database {'PostgreSQL' if args.database else 'SQLite'}, "
          f"sender check {'on (DKIM-signed, local DNS)' if dns else 'as configured (loopback trusted)'}")
    print(f"{'server':<44}{'messages/s':>12}{'runs':>28}")
    print(f"{'bare aiosmtpd (answers 250, keeps nothing)':<44}{bare_rate:>12.0f}"
          f"{' '.join(f'{x:.0f}' for x in bare_runs):>28}")
    print(f"{'hub serve: accepted (spooled + fsync)':<44}{hub_rate:>12.0f}"
          f"{' '.join(f'{x:.0f}' for x in hub_runs):>28}")
    print(f"{'hub listener alone (spool + fsync, no filing)':<44}{spool_rate:>12.0f}"
          f"{' '.join(f'{x:.0f}' for x in spool_runs):>28}")
    print(f"{'hub serve: filed end to end':<44}{filed_rate:>12.0f}"
          f"{' '.join(f'{x:.0f}' for x in filed_runs):>28}")
    print(f"{'hub serve: filed + receipt and relay queued':<44}{followed_rate:>12.0f}"
          f"{' '.join(f'{x:.0f}' for x in followed_runs):>28}")
    print(f"accepted/bare {ratio:.2f} (target >= 0.50); filed {filed_rate:.0f}/s (target >= 250/s)")
    print(f"20 MB attachment: peak RSS of hub serve grew {rss_growth:.0f} MB to {rss_peak:.0f} MB "
          f"({rss_growth / (attachment / 2**20):.1f}x the attachment; target < 3x); "
          f"exit {hub_exit}, {spool_left} left in the spool")
    print(json.dumps({
        "messages": n, "connections": args.connections, "rounds": rounds,
        "accepted_per_s": round(hub_rate, 1), "bare_per_s": round(bare_rate, 1), "ratio_vs_bare": round(ratio, 3),
        "spool_only_per_s": round(spool_rate, 1), "ratio_spool_only_vs_bare": round(spool_rate / bare_rate, 3),
        "filed_per_s": round(filed_rate, 1), "followed_up_per_s": round(followed_rate, 1),
        "rss_mb_20mb_attachment": round(rss_growth, 1),
        "rss_peak_mb": round(rss_peak, 1), "database": "postgresql" if args.database else "sqlite",
        "sender_check": bool(dns),
    }))


if __name__ == "__main__":
    main()
