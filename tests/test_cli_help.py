"""What a new user reads first: `fundament --help`, `--version`, `serve --help`."""

from __future__ import annotations

from typer.testing import CliRunner

from fundament import __version__
from fundament.cli import cli

runner = CliRunner()


def test_help_is_for_users() -> None:
    result = runner.invoke(cli, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    out = result.output
    assert "self-hostable multi-tenant backend" in out and "fundament serve" in out
    # not the module's docstring for developers, nor its Sphinx markup
    for internal in (":mod:", ":class:", "composition root", "``"):
        assert internal not in out


def test_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"fundament {__version__}"


def test_serve_help_shows_defaults() -> None:
    result = runner.invoke(cli, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    for default in (
        "FUNDAMENT_HOST, else 127.0.0.1",
        "FUNDAMENT_PORT, else 8000",
        "FUNDAMENT_WORKERS, else 1",
    ):
        assert default in out, out
