"""docs/single-vm.md shows the HAProxy configuration deploy/local/fleet writes: the same
text, kept so by this test, and a configuration HAProxy itself accepts."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "single-vm.md"
BEGIN, END = "<!-- haproxy.cfg: begin -->", "<!-- haproxy.cfg: end -->"


def fleet_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("fleet_script", str(ROOT / "deploy" / "local" / "fleet"))
    spec = importlib.util.spec_from_loader("fleet_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def example_config() -> str:
    """What `fleet up --instances 2 --port 8080` writes, with example instance ports."""
    return fleet_script().haproxy_config(  # type: ignore[no-any-return]
        port=8080,
        instances=[{"name": "s1", "port": 41001}, {"name": "s2", "port": 41002}],
        stats_socket=Path("/srv/fleet/haproxy.sock"),
        keepalive=75,
    )


def documented() -> str:
    text = DOC.read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    return block.removeprefix("```haproxy").removesuffix("```").strip("\n") + "\n"


def test_the_page_shows_what_the_script_writes() -> None:
    assert documented() == example_config(), (
        "docs/single-vm.md's HAProxy configuration differs from deploy/local/fleet's; paste:\n"
        + example_config()
    )


def test_haproxy_accepts_it(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    if haproxy is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (.ci/run installs it)")
        pytest.skip("haproxy is not installed (apt-get install -y haproxy)")
    config = tmp_path / "haproxy.cfg"
    config.write_text(example_config().replace("/srv/fleet", str(tmp_path)))
    check = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
