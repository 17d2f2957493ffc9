"""The README's quick start and "A first session", run as a new user runs them.

The shell blocks are read from README.md itself (the blocks after a
``<!-- readme-test: NAME -->`` comment), so the README and this test cannot drift apart. The
quick start runs in a copy of the working tree, from an empty virtual environment; the
first session runs in a second shell beside it. Each ``# → …`` line in a block is what the
commands above it print, and is checked: ``…`` stands for what differs from run to run.

Only two things differ from a user's terminal, both through the environment or one explicit
rewrite, never by editing the commands: the server listens on a free port (the README's
``localhost:8000`` and ``127.0.0.1:8000`` become that port) and keeps its data in a temporary
``FUNDAMENT_DATA_DIR``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (?P<name>[\w-]+)[^>]*-->\s*```sh\n(?P<body>.*?)^```", re.S | re.M)
EXPECTED = "# → "
ELLIPSIS = "…"
README_PORT = 8000

# The quick start installs the package into a new virtual environment (about a minute here,
# more on a cold cache) before the embedded PostgreSQL's first start.
SERVE_READY_SECONDS = 600


@dataclass
class Step:
    """Commands as the README has them, and the lines it says they print."""

    commands: str
    expected: list[str] = field(default_factory=list)


def readme_blocks() -> dict[str, str]:
    blocks = {m["name"]: m["body"] for m in BLOCK.finditer(README.read_text(encoding="utf-8"))}
    assert {"quick-start", "first-session"} <= blocks.keys(), (
        f"README blocks marked for the test: {sorted(blocks)}"
    )
    return blocks


def steps(block: str) -> list[Step]:
    """Split a block at its ``# →`` lines: each step is the commands up to its expectations."""
    result: list[Step] = []
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith(EXPECTED):
            if commands:
                result.append(Step("\n".join(commands)))
                commands = []
            assert result, f"an expected line before any command: {line!r}"
            result[-1].expected.append(line.removeprefix(EXPECTED))
        else:
            commands.append(line)
    if any(c.strip() for c in commands):
        result.append(Step("\n".join(commands)))
    return result


def on_port(text: str, port: int) -> str:
    """The one rewrite of the README's text: the server's port."""
    for host in ("localhost", "127.0.0.1"):
        text = text.replace(f"{host}:{README_PORT}", f"{host}:{port}")
    return text


# --- expected output: text with `…`, or JSON abbreviated with `…` ------------------------


def _loose_json(text: str) -> Any:
    """Parse JSON in which a bare ``…`` stands for further members or items.

    A bare ``…`` in an object becomes the member ``"…": "…"`` (more members allowed), in an
    array the item ``"…"`` (more items allowed); ``"tnt_…"`` stays a string pattern.
    """
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            stack.pop()
        elif ch == ELLIPSIS:
            out.append('"…": "…"' if stack and stack[-1] == "{" else '"…"')
            continue
        out.append(ch)
    return json.loads("".join(out))


def _text_matches(actual: str, pattern: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split(ELLIPSIS))
    return re.fullmatch(regex, actual, re.S) is not None


def json_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        members = {k: v for k, v in expected.items() if k != ELLIPSIS}
        if expected.get(ELLIPSIS) != ELLIPSIS and actual.keys() != members.keys():
            return False
        return all(k in actual and json_matches(actual[k], v) for k, v in members.items())
    if isinstance(expected, list):
        open_ended = bool(expected) and expected[-1] == ELLIPSIS
        items = expected[:-1] if open_ended else expected
        if not isinstance(actual, list) or len(actual) < len(items):
            return False
        if not open_ended and len(actual) != len(items):
            return False
        return all(json_matches(a, e) for a, e in zip(actual, items, strict=False))
    if isinstance(expected, str) and ELLIPSIS in expected:
        return isinstance(actual, str) and _text_matches(actual, expected)
    return type(actual) is type(expected) and actual == expected


def line_matches(actual: str, expected: str) -> bool:
    if expected.startswith(("{", "[")):
        try:
            parsed = json.loads(actual)
        except ValueError:
            return False
        return json_matches(parsed, _loose_json(expected))
    return _text_matches(actual, expected)


def printed_in_order(output: str, expected: list[str]) -> bool:
    """Every expected line, in order, among the lines printed (others may come between)."""
    lines = iter(output.splitlines())
    return all(any(line_matches(line, want) for line in lines) for want in expected)


def test_expected_output_notation() -> None:
    assert line_matches('{"id":"tnt_01","slug":"acme","x":1}', '{"id": "tnt_…", "slug": "acme", …}')
    assert not line_matches('{"id":"tnt_01","slug":"acme","x":1}', '{"id": "tnt_…", "slug": "acme"}')
    assert not line_matches('{"id":null}', '{"id": "tnt_…"}')
    assert line_matches('{"items":[{"a":1,"b":2}],"n":null}', '{"items": [{"a": 1, …}], "n": null}')
    assert not line_matches('{"items":[],"n":null}', '{"items": [{"a": 1, …}], "n": null}')
    assert line_matches('{"s":{"t":1}}', '{"s": {…}}')
    assert not line_matches('{"v":true}', '{"v": 1}')
    assert line_matches("fdo_abc", "fdo_…")
    assert not line_matches("null", "fdo_…")
    assert printed_in_order("a\nFundament serving on http://x:1 (1)\n", ["Fundament serving on http://x:1 …"])
    assert steps("A\n# → 1\nB\nC \\\n  D\n# → 2\n# → 3\nE\n") == [
        Step("A", ["1"]),
        Step("B\nC \\\n  D", ["2", "3"]),
        Step("E"),
    ]


# --- the walkthrough ---------------------------------------------------------------------


def _working_tree_copy(dest: Path) -> None:
    """What a clone holds: tracked files, and new ones not ignored yet (as they are now)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not there
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)


def _user_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_") and k != "VIRTUAL_ENV"}
    env.update(FUNDAMENT_DATA_DIR=str(data_dir), FUNDAMENT_PORT=str(port))
    return env


def _tools_present() -> None:
    missing = [tool for tool in ("bash", "curl", "jq", "git") if shutil.which(tool) is None]
    if missing:
        message = f"the README walkthrough needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs them")
        pytest.skip(message)


def test_readme_quick_start_and_first_session(tmp_path: Path) -> None:
    _tools_present()
    blocks = readme_blocks()
    quick_start = steps(blocks["quick-start"])
    assert len(quick_start) == 1, "the quick start is one command, the server"
    serve = quick_start[0]
    assert serve.expected, "the quick start says what the server prints once it serves"
    session = steps(blocks["first-session"])

    port = free_port()
    clone = tmp_path / "clone"
    _working_tree_copy(clone)
    env = _user_env(tmp_path / "data", port)
    serve_log = tmp_path / "serve.log"
    with serve_log.open("wb") as out:
        # A process group of its own, as a terminal runs a foreground job: Ctrl-C reaches all.
        server = subprocess.Popen(
            ["bash", "-c", on_port(serve.commands, port)],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    try:
        expected = [on_port(line, port) for line in serve.expected]
        deadline = time.monotonic() + SERVE_READY_SECONDS
        while not printed_in_order(serve_log.read_text(errors="replace"), expected):
            assert server.poll() is None, f"the quick start ended early:\n{serve_log.read_text()[-20000:]}"
            assert time.monotonic() < deadline, (
                f"the quick start never printed {expected}:\n{serve_log.read_text()}"
            )
            time.sleep(0.5)

        _run_session(session, clone, env, port, tmp_path / "session")

        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as the README says
        assert server.wait(60) == 0, serve_log.read_text()[-20000:]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def _run_session(session: list[Step], clone: Path, env: dict[str, str], port: int, out: Path) -> None:
    """One shell for the whole session (its variables carry over), each step's output apart.

    `{ …; }` groups a step's commands in that same shell, unlike a subshell.
    """
    out.mkdir()
    script = [
        f"{{\n{on_port(step.commands, port)}\n}} >{out}/{i}.out 2>{out}/{i}.err"
        for i, step in enumerate(session)
    ]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for i, step in enumerate(session):
        printed = (out / f"{i}.out").read_text()
        expected = [on_port(line, port) for line in step.expected]
        lines = printed.splitlines()
        # stdout is what the README shows; stderr (the CLI's notes on which database it
        # used, say) may add lines of its own.
        assert len(lines) == len(expected) and all(map(line_matches, lines, expected)), (
            f"step {i + 1} of 'A first session':\n{step.commands}\n"
            f"printed:\n{printed}\nexpected:\n"
            + "\n".join(expected)
            + f"\nstderr:\n{(out / f'{i}.err').read_text()}\nshell: {result.stderr}"
        )
