"""A process that has imported the hub once and forks a child for each `hub ARGS…` a test runs.

Most CLI tests run `hub` many times, and each fresh interpreter spends a second or two importing SQLModel and
the hub's tables before it does anything — half of the suite's time went there. A forked child is still a
process of its own: its own argv, environment, working folder, stdin/stdout/stderr files, exit status, umask
and clock (tests/hub_at.py), and nothing it does reaches the test process. Only the imports are shared; the
zygote opens no database, config or socket before it forks. `HUB_TEST_FRESH_PROCESSES=1` runs every call as
a fresh interpreter instead (conftest.run_hub), and tests of start-up itself (test_wheel, bench/cli.py)
always do.

Protocol, one Unix-socket connection per call: the client sends one JSON line {argv, env, cwd, stdin,
stdout, stderr} (file paths), the zygote answers {"pid": …} when the child runs and {"status": …} when it
has ended (a negative status is the signal that ended it, as in subprocess).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import signal
import socket
import sys
import threading
from pathlib import Path

# Every module of the hub is imported before forking, except these, which read the environment when imported.
ENV_AT_IMPORT = ["hub.failpoints"]


def _child(request: dict) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path, flags in ((0, request["stdin"], os.O_RDONLY), (1, request["stdout"], os.O_WRONLY),
                            (2, request["stderr"], os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for name in ENV_AT_IMPORT:
        if name in sys.modules:
            importlib.reload(sys.modules[name])
    sys.argv = ["hub", *request["argv"]]
    import hub_at

    from hub.cli import main

    code = 1
    try:
        with hub_at._travel():
            code = main(request["argv"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    os._exit(code or 0)


def _answer(connection: socket.socket, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        connection.sendall(json.dumps({"status": code}).encode() + b"\n")
    finally:
        connection.close()


def _serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    parent = os.getppid()
    listener.settimeout(1.0)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test process is gone: so is its zygote
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(None)
        request = json.loads(connection.makefile("rb").readline())
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            connection.close()
            _child(request)
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        threading.Thread(target=_answer, args=(connection, pid), daemon=True).start()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import hub

    importlib.import_module("time_machine")
    for module in pkgutil.walk_packages(hub.__path__, "hub."):
        skip = module.name in ENV_AT_IMPORT or module.name.endswith("__main__") or ".migrations" in module.name
        if not skip:
            importlib.import_module(module.name)
    _serve(sys.argv[1])
