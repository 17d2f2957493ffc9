"""Which database a command uses: the same from every directory, said on stderr, and never a
new empty one made quietly by a command that only reads or adds to the server's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fundament.cli import cli
from fundament.platform import Settings


@pytest.fixture
def user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A normal user with a home in tmp_path, working in another directory, no settings."""
    for name in list(os.environ):
        if name.startswith("FUNDAMENT_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path / "home"


def test_the_default_is_per_user_and_never_relative(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().data_dir == user / ".local" / "share" / "fundament"
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/xdg")
    assert Settings().data_dir == Path("/srv/xdg/fundament")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/invalid")
    assert Settings().data_dir == user / ".local" / "share" / "fundament"
    monkeypatch.setenv("FUNDAMENT_DATA_DIR", "~/d")
    assert Settings().data_dir == user / "d"
    monkeypatch.setenv("FUNDAMENT_DATA_DIR", "")
    assert Settings().data_dir == user / ".local" / "share" / "fundament"


def test_roots_default_needs_no_home_opened(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert Settings().data_dir == Path("/var/lib/fundament")


def test_no_database_there_is_an_error_not_a_new_database(user: Path) -> None:
    result = CliRunner().invoke(cli, ["operator-key", "create", "--name", "x"])
    assert result.exit_code == 2, result.output
    where = user / ".local" / "share" / "fundament"
    assert f"error: no database in {where} (the default data directory)" in result.stderr
    assert "fundament serve" in result.stderr and "FUNDAMENT_DATA_DIR" in result.stderr
    assert result.stdout == ""
    assert not where.exists(), "a command that only adds to a database must not create one"


def test_a_database_left_in_the_old_relative_default_is_named(user: Path) -> None:
    (Path(".fundament") / "pg").mkdir(parents=True)
    (Path(".fundament") / "pg" / "PG_VERSION").write_text("18\n")
    result = CliRunner().invoke(cli, ["operator-key", "list"])
    assert result.exit_code == 2, result.output
    legacy = Path(".fundament").resolve()
    assert f"found Fundament's data in {legacy}" in result.stderr
    assert f"FUNDAMENT_DATA_DIR={legacy}" in result.stderr


def test_a_master_key_left_in_the_old_default_is_not_replaced_quietly(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An external database, but subject hashes keyed by ./.fundament/master.key.
    monkeypatch.setenv("FUNDAMENT_DATABASE_URL", "postgresql://ops:pw@127.0.0.1:1/fundament")
    Path(".fundament").mkdir()
    Path(".fundament/master.key").write_bytes(b"k" * 32)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 2, result.output
    assert "found Fundament's data in" in result.stderr
    assert not (user / ".local" / "share" / "fundament" / "master.key").exists()
    monkeypatch.setenv("FUNDAMENT_MASTER_KEY", "set-explicitly")
    result = CliRunner().invoke(cli, ["operator-key", "list"])
    assert "found Fundament's data" not in result.stderr  # the key file is not used then


def test_the_database_used_is_said_without_its_password(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDAMENT_DATABASE_URL", "postgresql://ops:s3cret-pw@127.0.0.1:1/fundament")
    result = CliRunner().invoke(cli, ["operator-key", "list"])
    assert result.exit_code != 0  # nothing listens on port 1
    first = result.stderr.splitlines()[0]
    assert first == "fundament: database: postgresql://ops:***@127.0.0.1:1/fundament (FUNDAMENT_DATABASE_URL)"
    assert "s3cret-pw" not in result.output
