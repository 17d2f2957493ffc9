"""The OpenAPI document in the repository is the one the code generates, so a client can be
generated from the repository alone (and a change of the contract shows in review)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

COMMITTED = Path(__file__).parent.parent / "docs" / "openapi.json"


def test_the_committed_document_is_what_the_code_generates(tmp_path: Path) -> None:
    # `fundament openapi` as a user runs it, with the built-in plans (the document lists them).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FUNDAMENT_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "fundament.cli", "openapi"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    generated = json.loads(out)
    committed = json.loads(COMMITTED.read_text())
    assert generated == committed, (
        "docs/openapi.json is stale: regenerate it with `fundament openapi > docs/openapi.json`"
    )
    assert not (tmp_path / "data").exists(), "exporting the document must not create a data directory"


def test_the_committed_clients_are_what_the_committed_document_generates() -> None:
    # The clients under clients/ are generated from docs/openapi.json and committed, so a user
    # needs no generator; the test above ties the document to the code, this one the clients
    # to the document. It installs the pinned generators on first use (a virtualenv of
    # openapi-python-client, `npm ci` for openapi-typescript): Node.js and npm must be there.
    done = subprocess.run(
        [sys.executable, str(COMMITTED.parent.parent / "clients" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
