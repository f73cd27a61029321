"""Attachments are read in a worker process with hard limits, so that no document can stop filing.

A DOCX zip bomb once took the filing process to 813 MB, and a 17 KB PDF held the next message up for 62 s.
`Sandbox.read` (a `mime.DocumentReader`) hands every document that needs a third-party reader to one worker
process that runs `documents.document_text` under RLIMIT_AS (memory) and RLIMIT_CPU; the parent kills it at
the wall-time limit. A document over a limit, or one that makes the worker crash, is kept without text and
its error says why; the worker is replaced after that, and after `documents_per_worker` documents.

The worker is a plain `python -c` subprocess, not multiprocessing: the filing process is itself a daemonic
multiprocessing child (which may not start children), and a subprocess imports only this module and
`documents`, not the program that started it. It exits when its parent dies (PR_SET_PDEATHSIG; the end of
its stdin while it waits). It answers in JSON, never pickle: what it read is hostile, so is what it says.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from hub.failpoints import failpoint
from hub.inbound.documents import DOCX, ODT, PDF, document_text, import_readers, recognise
from hub.inbound.extraction_limits import MB, NOT_EXTRACTED, ReadLimits, not_extracted, out_of_time, too_big
from hub.parent_death import die_with_parent

if TYPE_CHECKING:
    from hub.config_installation import Extraction

# Plain text this small is decoded in the calling process: the standard library's codecs and
# charset-normalizer (on at most 200 KB) do bounded work on bytes the process already holds, so the round trip
# costs more than it protects. Types no reader reads (images, archives) cost nothing either.
IN_PROCESS_BYTES = 256 * 1024
_WORKER_TYPES = {DOCX, ODT, PDF, "text/html", "application/xhtml+xml"}
STARTUP_SECONDS = 60  # for a worker to start and import its readers, before its first document
_MEMORY_EXIT = 3  # the worker ran out of memory outside a document reader
_LENGTH = struct.Struct("!Q")
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from hub.inbound.sandbox import worker_main; worker_main(sys.argv[2])")


@dataclass(frozen=True)
class ExtractionLimits:
    """The limits of config [extraction]: of the worker process, and of each document (`read`)."""

    memory_mb: int = 256  # address space for documents, beyond the worker's own at its start
    seconds: float = 10  # wall time (and CPU time) per document
    documents_per_worker: int = 200
    read: ReadLimits = field(default_factory=ReadLimits)


def limits_from_config(section: Extraction) -> ExtractionLimits:
    """The limits of a loaded `config.extraction`."""
    return ExtractionLimits(
        memory_mb=section.memory_mb, seconds=section.seconds, documents_per_worker=section.documents_per_worker,
        read=ReadLimits(max_unpacked_bytes=section.max_unpacked_mb * MB, max_ratio=section.max_ratio,
                        max_pdf_pages=section.max_pdf_pages))


class Sandbox:
    """One worker process, started on the first document that needs it. Use as a context manager or close()."""

    def __init__(self, limits: ExtractionLimits | None = None) -> None:
        self.limits = limits or ExtractionLimits()
        self.workers_started = 0
        self.peak_rss_kb = 0  # the highest peak resident size a worker reported, or had when it was stopped
        self.ready_rss_kb = 0  # the largest a worker was when it had started (memory_mb is on top of that)
        self._worker: subprocess.Popen | None = None
        self._documents = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, data: bytes, declared_type: str, filename: str,
             charset: str | None = None) -> tuple[str, str | None, str]:
        """(text, error or None, content type), like `documents.document_text`; never raises."""
        content_type = recognise(data, declared_type, filename)
        if content_type not in _WORKER_TYPES and not (content_type.startswith("text/")
                                                      and len(data) > IN_PROCESS_BYTES):
            return document_text(data, declared_type, filename, charset, self.limits.read)
        with self._lock:
            try:
                text, error = self._in_worker(data, declared_type, filename, charset)
            except Exception as exc:  # the mail is filed anyway; the worker is not trusted after this
                self._stop()
                text, error = "", not_extracted(f"Fehler beim Lesen ({type(exc).__name__})")
        return text, error, content_type

    def close(self) -> None:
        with self._lock:
            self._stop()

    def forsake(self) -> None:
        """In a child forked from the owner: let go of the owner's worker (its pipes closed here only)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            for stream in (worker.stdin, worker.stdout):
                stream.close()
            worker.returncode = 0  # not this process's child: never waited for here

    @property
    def pid(self) -> int | None:
        """The process id of the running worker, if one runs."""
        return self._worker.pid if self._worker is not None and self._worker.poll() is None else None

    def _in_worker(self, data: bytes, declared_type: str, filename: str,
                   charset: str | None) -> tuple[str, str | None]:
        header = json.dumps({"declared_type": declared_type, "filename": filename, "charset": charset}).encode()
        for attempt in (1, 2):
            try:
                worker = self._start()
            except TimeoutError:
                self._stop()
                return "", not_extracted(f"das Leseprogramm ist nicht gestartet (Zeitlimit {STARTUP_SECONDS} s)")
            except EOFError:
                return "", self._death_sentence(self._stop())
            try:
                _send(worker.stdin, header, data)
                break
            except OSError:  # died while it waited (killed): the document was not read, so a new one reads it
                self._stop()
                if attempt == 2:
                    raise
        deadline = time.monotonic() + self.limits.seconds
        try:
            reply = json.loads(_receive(worker.stdout, deadline, 8 * self.limits.read.max_chars + MB))
        except TimeoutError:
            self._stop()
            return "", not_extracted(out_of_time(self.limits.seconds))
        except EOFError:
            return "", self._death_sentence(self._stop())
        text, error = reply.get("text"), reply.get("error")
        if not isinstance(text, str) or not (error is None or isinstance(error, str)):
            raise ValueError("unexpected reply")
        self.peak_rss_kb = max(self.peak_rss_kb, int(reply.get("peak_rss_kb", 0)))
        self._documents += 1
        if self._documents >= self.limits.documents_per_worker or (error or "").startswith(NOT_EXTRACTED):
            self._stop()  # after a limit the worker may hold fragmented memory: start afresh
        return text, error

    def _death_sentence(self, code: int | None) -> str:
        if code == -signal.SIGXCPU:
            return not_extracted(out_of_time(self.limits.seconds))
        if code in (_MEMORY_EXIT, -signal.SIGKILL):  # SIGKILL from outside: the kernel's OOM killer, most likely
            return not_extracted(too_big(f"Speicher über {self.limits.memory_mb} MB"))
        how = f"Signal {-code}" if code is not None and code < 0 else f"Status {code}"
        return not_extracted(f"das Leseprogramm ist abgestürzt ({how}), vielleicht ist die Datei beschädigt")

    def _start(self) -> subprocess.Popen:
        if self._worker is not None and self._worker.poll() is None:
            return self._worker
        self._stop()
        settings = {"limits": asdict(self.limits), "parent": os.getpid()}
        root = str(Path(__file__).resolve().parents[2])
        self._worker = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, root, json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self.workers_started += 1
        self._documents = 0
        # The document's time limit starts when the worker has started and imported its readers: on a busy
        # machine that alone can take seconds, and it must not count against the first document.
        _receive(self._worker.stdout, time.monotonic() + STARTUP_SECONDS, 0)
        self.ready_rss_kb = max(self.ready_rss_kb, peak_rss_kb(self._worker.pid))
        return self._worker

    def _stop(self) -> int | None:
        """End the worker (its stdin closed, then killed) and reap it; its exit code, None if none ran."""
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        for stream in (worker.stdin, worker.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if worker.poll() is None:  # a worker busy with a document never reads its closed stdin
            self.peak_rss_kb = max(self.peak_rss_kb, peak_rss_kb(worker.pid))
            worker.kill()
            worker.wait()
        return worker.returncode


def _send(stream: BinaryIO, header: bytes, data: bytes) -> None:
    stream.write(_LENGTH.pack(len(header)) + header + _LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: BinaryIO, deadline: float, limit: int) -> bytes:
    """One framed reply, or TimeoutError at the deadline, EOFError if the worker died."""
    fd = stream.fileno()
    buffer = bytearray()
    wanted = _LENGTH.size
    length = None
    while len(buffer) < wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(fd, max(wanted - len(buffer), 65536))
        if not chunk:
            raise EOFError
        buffer += chunk
        if length is None and len(buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer)
            if length > limit:
                raise ValueError("reply too long")
            wanted = _LENGTH.size + length
    return bytes(buffer[_LENGTH.size:wanted])


def peak_rss_kb(pid: int) -> int:
    """The peak resident size of a living process in KB (0 if unknown). Not ru_maxrss: on Linux that counts
    the parent's size, copied by fork, before exec replaced it."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# --- the worker -----------------------------------------------------------------------------------------------

def worker_main(settings_json: str) -> None:
    """Read documents from stdin until it ends; one framed JSON reply each on stdout."""
    settings = json.loads(settings_json)
    limits = settings["limits"]
    read_limits = ReadLimits(**limits["read"])
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a reader that prints must not write into the replies
    die_with_parent(settings["parent"])
    seconds = limits["seconds"]
    cpu_budget = int(seconds * (limits["documents_per_worker"] + 1)) + 10
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_budget, cpu_budget))
    import_readers()
    # The limit is what documents may take beyond the worker as it starts (Python and every reader, ~75 MB),
    # so that it means the same for a PDF as for a DOCX, whichever readers a version of the hub imports.
    memory = _address_space() + limits["memory_mb"] * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    failpoint("sandbox-start")
    replies.write(_LENGTH.pack(0))  # ready
    replies.flush()
    try:
        while (header := _frame(requests)) is not None:
            data = _frame(requests)
            if data is None:
                return
            request = json.loads(header)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = min(int(usage.ru_utime + usage.ru_stime + seconds) + 1, cpu_budget)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_budget))  # SIGXCPU ends this document
            text, error, content_type = document_text(data, request["declared_type"], request["filename"],
                                                      request["charset"], read_limits)
            del data
            reply = json.dumps({"text": text, "error": error, "content_type": content_type,
                                "peak_rss_kb": peak_rss_kb(os.getpid())}).encode()
            replies.write(_LENGTH.pack(len(reply)) + reply)
            replies.flush()
    except MemoryError:
        os._exit(_MEMORY_EXIT)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


def _address_space() -> int:
    """This process's virtual memory size in bytes (what RLIMIT_AS limits)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    return body if len(body) == length else None
