"""Supervisor that keeps the embedded postgres tied to the life of its parent.

Started by :class:`fundament.platform.embedded.EmbeddedPostgres` with a pipe on stdin, in a
session of its own. It starts postgres as its own child, prints ``ready`` once it accepts
connections, then blocks on stdin. EOF on stdin means the parent is gone — exited, crashed
or SIGKILLed, the kernel closes the pipe either way — and postgres is shut down (fast mode,
then SIGKILL). ``PR_SET_PDEATHSIG`` is a second line of defence on Linux.

Only that ends it: SIGINT, SIGTERM and SIGHUP are ignored. A Ctrl-C reaches the whole
foreground process group, and an init system may signal every process of a service at
once; the database must outlive the server's shutdown, which still writes (the final usage
flush), so the parent alone decides when it stops: by exiting.

Usage: python -m fundament.platform._pg_supervisor BIN_DIR DATA_DIR PORT LOG_FILE [RUN_AS_USER]
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from fundament.platform.embedded import accepting as _accepting
from fundament.platform.embedded import run_as

#: Sent by the kernel when the parent dies (SIGTERM is ignored, see above).
_PARENT_DIED = signal.SIGUSR1


def _pdeathsig() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, _PARENT_DIED)  # PR_SET_PDEATHSIG


def main() -> int:
    bin_dir, data_dir, port, log_file = sys.argv[1:5]
    user = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    stop = threading.Event()
    signal.signal(_PARENT_DIED, lambda *_: stop.set())
    _pdeathsig()
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [
                os.path.join(bin_dir, "postgres"),
                "-D",
                data_dir,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "log_min_messages=warning",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            **run_as(user),
            start_new_session=True,  # no terminal's signal reaches postgres either
        )

    # Ignored only now: an ignored signal stays ignored across exec, and postgres is
    # better off with the defaults it expects before it installs its own handlers.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)

    def watch_stdin() -> None:
        # The raw descriptor, not sys.stdin: a daemon thread blocked in a buffered read
        # holds its lock, and the interpreter then dies at exit with "Fatal Python error:
        # _enter_buffered_busy".
        with contextlib.suppress(OSError):
            while os.read(0, 512):
                pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    ready = False
    while not stop.is_set():
        if proc.poll() is not None:
            print(f"exited {proc.returncode}", flush=True)
            return 1
        if not ready and _accepting(int(port)):
            ready = True
            print("ready", flush=True)
        stop.wait(0.05 if not ready else 0.5)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # fast shutdown: roll back, checkpoint, exit
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    time.sleep(0)
    sys.exit(main())
