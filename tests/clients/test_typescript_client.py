"""The TypeScript client (clients/typescript) against a live server: type-checked with tsc,
then its scenario (clients/typescript/test/scenario.test.ts) run by node's test runner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servers import Server

CLIENTS = Path(__file__).parent.parent.parent / "clients"
TYPESCRIPT = CLIENTS / "typescript"


def test_scenario(server: Server, operator_key: str) -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: the TypeScript client's tests need Node.js 18+ and npm "
            "(.ci/run installs Debian's nodejs and npm; elsewhere: apt-get install nodejs npm)"
        )
    # npm ci, unless node_modules already holds what package-lock.json pins.
    subprocess.run(
        [sys.executable, str(CLIENTS / "generate.py"), "--setup", "--only", "typescript"], check=True, timeout=600
    )
    # Compiling type-checks the scenario against the generated types (strict): a call the
    # document does not allow fails here.
    compiled = subprocess.run(
        ["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.test.json"],
        cwd=TYPESCRIPT, capture_output=True, text=True, timeout=300,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    env = {**os.environ, "FUNDAMENT_URL": server.base, "FUNDAMENT_OPERATOR_KEY": operator_key}
    ran = subprocess.run(
        ["node", "--test", "--test-reporter=tap", ".build/test/scenario.test.js"],
        cwd=TYPESCRIPT, env=env, capture_output=True, text=True, timeout=300,
    )
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, report
    assert re.search(r"^# pass 2$", ran.stdout, re.M) and re.search(r"^# fail 0$", ran.stdout, re.M), report
