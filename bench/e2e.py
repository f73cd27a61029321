"""End-to-end bench: from a protocol's "250 OK" to its receipt in the sender's inbox, against a bare relay.

A real `hub serve` whose `[smtp]` smarthost is a counting SMTP sink in its own process; N protocols of 10 KB from
AG Gesundheit's representative, the group's relay policy "none", so that each yields exactly one receipt; sent
over 8 connections. Measured:
  accepted    messages/s until the last 250 (the hub has spooled and fsynced every one)
  end to end  messages/s until the sink holds every receipt
  250→receipt p50/p99 of the time from a message's 250 to its receipt at the sink: once as a burst, once as
              steady load at half the burst's end-to-end rate (follow-up must not starve behind filing)
Baselines in the same run, alternating with the hub: a bare aiosmtpd that answers 250 and keeps nothing (for
the accept rate), and a **bare relay**: aiosmtpd that forwards each accepted message with aiosmtplib over 8
connections to the same sink, no disk — the least work any mail relay does. Also the idle PSS of `hub serve`
and its processes after the run.

    .venv/bin/python bench/e2e.py [--quick] [--messages N] [--rounds R] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from inbound import protocol, run_bare, send_all
from installation import example_config, free_port, installation, scratch_database, tree_mb, tree_size, wait_for_port

CONNECTIONS = 8
REFERENCE = re.compile(rb"^(?:In-Reply-To|Message-ID):\s*(<bench-[^>]+>)", re.I | re.M)


# --- the sink and the bare relay, each in a process of its own -----------------------------------------


def run_sink(port: int, log: Path) -> None:
    """Answers 250 and notes, per message, when it came and which bench protocol it is or answers."""
    from aiosmtpd.smtp import SMTP

    out = open(log, "a", buffering=1)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            found = REFERENCE.search(envelope.original_content.split(b"\r\n\r\n", 1)[0])
            out.write(f"{time.time():.6f} {found.group(1).decode() if found else '-'}\n")
            return "250 2.0.0 OK"

    _serve(lambda: SMTP(Handler(), hostname="sink.example", decode_data=False), port)


def run_relay(port: int, sink_port: int) -> None:
    """Forwards each accepted message to the sink over `CONNECTIONS` reused connections, from memory."""
    import aiosmtplib
    from aiosmtpd.smtp import SMTP

    waiting: asyncio.Queue = asyncio.Queue()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            waiting.put_nowait((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            return "250 2.0.0 OK"

    async def forward():
        # Connected at the first message, when the sink surely listens, and again after a failure: a forwarder
        # that died with its message (the sink not up yet at the relay's start) left the bench waiting for it.
        client = None
        while True:
            sender, recipients, content = await waiting.get()
            while True:
                try:
                    if client is None:
                        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink_port, start_tls=False)
                        await client.connect()
                    await client.sendmail(sender, recipients, content)
                    break
                except (aiosmtplib.SMTPException, OSError):
                    client = None
                    await asyncio.sleep(0.05)

    _serve(lambda: SMTP(Handler(), hostname="relay.example", decode_data=False), port,
           [forward for _ in range(CONNECTIONS)])


def _serve(factory, port: int, workers=()) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", port)
        tasks = [asyncio.create_task(worker()) for worker in workers]
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()
        for task in tasks:
            task.cancel()

    asyncio.run(main())


# --- measuring -----------------------------------------------------------------------------------------


def wait_for_arrivals(log: Path, offset: int, prefix: str, count: int, timeout: float = 600) -> dict[str, float]:
    """When each message tagged `prefix` came to the sink, from the log's `offset` on (its size before they were
    sent). The log is read on from where the last look ended:
    reading all of it every 50 ms took the bench's client more CPU the longer the hub took, CPU that the hub
    then did not have on a machine of two cores."""
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    with open(log, "rb") as lines:
        lines.seek(offset)
        pending = b""
        while len(seen) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen)} of {count} {prefix}… arrived at the sink")
            pending += lines.read()
            # Only whole lines: the sink may be half-way through writing the last one.
            *whole, pending = pending.split(b"\n")
            for line in whole:
                at, reference = line.decode().split(" ", 1)
                if reference.startswith(prefix):
                    seen.setdefault(reference, float(at))
            if len(seen) < count:
                time.sleep(0.05)
    return seen


def run_through(port: int, log: Path, run: str, n: int, rate: float | None = None) -> dict:
    """Send n protocols tagged `run`; accept rate, end-to-end rate and the 250→arrival times."""
    messages = [protocol(run, i) for i in range(n)]
    accepted: dict[str, float] = {}

    def on_accepted(raw: bytes) -> None:
        accepted[REFERENCE.search(raw).group(1).decode()] = time.time()

    offset = log.stat().st_size
    started = time.time()
    accept_seconds = send_all(port, messages, CONNECTIONS, on_accepted, rate)
    arrived = wait_for_arrivals(log, offset, f"<bench-{run}-", n)
    delays = sorted(arrived[key] - accepted[key] for key in accepted)
    return {"accepted_per_s": n / accept_seconds, "e2e_per_s": n / (max(arrived.values()) - started),
            "p50": statistics.median(delays), "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))]}


def hub_config(sink_port: int) -> str:
    text = example_config()
    text = text.replace("# [smtp]\n", f'[smtp]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
                        "rate_per_minute = 1000000  # the bench's sink, not a provider: no limit\n# ", 1)
    gesundheit = 'slug = "gesundheit"\nname = "AG Gesundheit"\naliases = ["ag-gesundheit"]\nrelay = "group"'
    assert gesundheit in text and f"port = {sink_port}" in text, "config/hub.toml no longer reads as expected"
    return text.replace(gesundheit, gesundheit.replace('relay = "group"', 'relay = "none"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer messages, one round (< 60 s)")
    parser.add_argument("--messages", type=int, help="protocols per burst (default 2000, quick 300)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3, quick 1)")
    parser.add_argument("--database", help="a PostgreSQL server URL: the bench makes (and drops) a scratch database")
    parser.add_argument("--child", choices=["bare", "sink", "relay"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        {"bare": lambda: run_bare(args.port), "sink": lambda: run_sink(args.port, Path(args.log)),
         "relay": lambda: run_relay(args.port, args.sink_port)}[args.child]()
        return

    n = args.messages or (300 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)
    database, drop = scratch_database(args.database, "e2e") if args.database else (None, None)
    sink_port, bare_port, relay_port, hub_port = free_port(), free_port(), free_port(), free_port()
    base, env = installation("e2e", database, hub_config(sink_port))
    log = base / "sink.log"
    log.touch()
    child = [sys.executable, __file__, "--child"]
    sink = subprocess.Popen([*child, "sink", "--port", str(sink_port), "--log", str(log)])
    bare = subprocess.Popen([*child, "bare", "--port", str(bare_port)])
    relay = subprocess.Popen([*child, "relay", "--port", str(relay_port), "--sink-port", str(sink_port)])
    serve_log = open(base / "serve.log", "wb")
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(hub_port), "--no-imap"],
                           cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=serve_log)
    bares, relays, bursts, steadies = [], [], [], []
    try:
        for port, process in ((sink_port, sink), (bare_port, bare), (relay_port, relay), (hub_port, hub)):
            wait_for_port(port, process)
        processes = tree_size(hub.pid)  # hub serve and its children when it has started
        for r in range(rounds):
            bares.append(n / send_all(bare_port, [protocol(f"bare{r}", i) for i in range(n)], CONNECTIONS))
            relays.append(run_through(relay_port, log, f"relay{r}", n))
            bursts.append(run_through(hub_port, log, f"burst{r}", n))
            steadies.append(run_through(hub_port, log, f"steady{r}", n // 2, rate=bursts[-1]["e2e_per_s"] / 2))
        # Idle: the filing helper of the last burst has ended (hub/filing_helpers.py), then 3 s more.
        deadline = time.monotonic() + 30
        while tree_size(hub.pid) > processes and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        pss = tree_mb(hub.pid, "smaps_rollup", "Pss:")  # shared pages counted once across the processes
        hub.send_signal(signal.SIGTERM)
        hub_exit = hub.wait(120)
    finally:
        for process in (hub, sink, bare, relay):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
        serve_log.close()
        if drop:
            drop()

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    bare_rate, relay_rate = statistics.median(bares), median(relays, "e2e_per_s")
    accepted, e2e = median(bursts, "accepted_per_s"), median(bursts, "e2e_per_s")
    figures = {
        "messages": n, "rounds": rounds, "database": "postgresql" if args.database else "sqlite",
        "accepted_per_s": round(accepted, 1), "bare_aiosmtpd_per_s": round(bare_rate, 1),
        "e2e_per_s": round(e2e, 1), "bare_relay_per_s": round(relay_rate, 1),
        "e2e_ratio": round(e2e / relay_rate, 3), "accept_ratio": round(accepted / bare_rate, 3),
        "receipt_p50_s": round(median(bursts, "p50"), 3), "receipt_p99_s": round(median(bursts, "p99"), 3),
        "steady_receipt_p50_s": round(median(steadies, "p50"), 3),
        "steady_receipt_p99_s": round(median(steadies, "p99"), 3),
        "idle_pss_mib": round(pss, 1), "hub_exit": hub_exit,
    }
    print(f"e2e: {n} protocols of 10 KB per burst (steady: {n // 2} at half the burst's end-to-end rate), "
          f"{CONNECTIONS} connections, {rounds} round(s) alternating, database {figures['database']}")
    print(f"{'':<46}{'messages/s':>11}{'p50 s':>9}{'p99 s':>9}")
    print(f"{'bare aiosmtpd: accepted':<46}{bare_rate:>11.0f}")
    print(f"{'bare relay (aiosmtplib, no disk): end to end':<46}{relay_rate:>11.0f}"
          f"{median(relays, 'p50'):>9.2f}{median(relays, 'p99'):>9.2f}")
    print(f"{'hub serve: accepted (spooled + fsync)':<46}{accepted:>11.0f}")
    print(f"{'hub serve: burst, 250 to receipt at the sink':<46}{e2e:>11.0f}"
          f"{figures['receipt_p50_s']:>9.2f}{figures['receipt_p99_s']:>9.2f}")
    print(f"{'hub serve: steady load, 250 to receipt':<46}{median(steadies, 'e2e_per_s'):>11.0f}"
          f"{figures['steady_receipt_p50_s']:>9.2f}{figures['steady_receipt_p99_s']:>9.2f}")
    print(f"end to end / bare relay {figures['e2e_ratio']:.2f} (target >= 0.5); accepted / bare aiosmtpd "
          f"{figures['accept_ratio']:.2f} (target >= 0.7); steady p99 {figures['steady_receipt_p99_s']:.2f} s "
          f"(target < 2 s); idle PSS {pss:.0f} MiB (target < 150)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
