"""What the deployment tests share: the Dockerfile as the image would run it, and a fresh
database of their own on the suite's PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from dockerfile_parse import DockerfileParser
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]  # --interval=10s → {"interval": "10s"}
    command: list[str]

    def seconds(self, option: str) -> float:
        value = self.options[option]
        assert value.endswith("s"), f"HEALTHCHECK --{option}={value}: give it in seconds"
        return float(value[:-1])


@dataclass(frozen=True)
class Image:
    """The final stage of the Dockerfile: what a container of the image runs."""

    instructions: list[tuple[str, str]]  # (INSTRUCTION, value), continuation lines joined
    env: dict[str, str]
    user: str
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: Healthcheck

    @property
    def command_line(self) -> list[str]:
        return self.entrypoint + self.cmd


def _exec_form(instruction: str, value: str) -> list[str]:
    # The shell form would run under /bin/sh -c, which then is PID 1 and does not pass
    # SIGTERM on: only the JSON (exec) form is accepted.
    words = json.loads(value)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), (
        f"{instruction} must be in exec form (a JSON list of strings), got {value!r}"
    )
    return words


def _healthcheck(value: str) -> Healthcheck:
    options: dict[str, str] = {}
    rest = value.strip()
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, setting = option[2:].partition("=")
        options[name] = setting
        rest = rest.strip()
    kind, _, command = rest.partition(" ")
    assert kind == "CMD", f"HEALTHCHECK must run a command, got {value!r}"
    return Healthcheck(options, _exec_form("HEALTHCHECK CMD", command.strip()))


def parse_dockerfile(path: Path) -> Image:
    parser = DockerfileParser(str(path))
    structure = parser.structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    final = [(item["instruction"], item["value"]) for item in structure[last_from:]]
    last = {instruction: value for instruction, value in final}
    return Image(
        instructions=final,
        env=dict(parser.envs),
        user=last["USER"],
        entrypoint=_exec_form("ENTRYPOINT", last["ENTRYPOINT"]),
        cmd=_exec_form("CMD", last["CMD"]),
        healthcheck=_healthcheck(last["HEALTHCHECK"]),
    )


@pytest.fixture(scope="session")
def image() -> Image:
    return parse_dockerfile(ROOT / "Dockerfile")


@pytest.fixture
def fresh_database(server_dsn: str) -> Iterator[str]:
    """The admin DSN of a new, empty database (not migrated): nothing another test stored,
    such as a capacity measurement, is in it."""
    name = f"fundament_deploy_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
