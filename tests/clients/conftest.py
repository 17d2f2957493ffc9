"""A live `fundament serve` for the generated clients (clients/), on the suite's database."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import Server, server_env

CLIENTS = Path(__file__).parent.parent.parent / "clients"

# The Python client is used from the tree, as committed: installing it would pin the httpx
# of its generator's template into the suite's virtualenv.
sys.path.insert(0, str(CLIENTS / "python"))


@pytest.fixture(scope="module")
def server(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("clients")
    env = server_env(admin_dsn, Path(__file__).parent.parent / "data" / "plans-roomy.toml")
    env.update(FUNDAMENT_POOL_MIN_SIZE="1", FUNDAMENT_POOL_MAX_SIZE="4")
    srv = Server("clients", env, workdir)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
