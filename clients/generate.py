#!/usr/bin/env python3
"""Regenerate the clients from the committed OpenAPI document, or check that they match it.

    python3 clients/generate.py            # rewrite the generated files
    python3 clients/generate.py --check    # exit 1, listing the differences, if they are stale
    python3 clients/generate.py --setup    # only install the generators (and the TS client's deps)

What is generated, from docs/openapi.json:
- clients/python/fundament_client/ by openapi-python-client, pinned in
  clients/python/generator-requirements.txt and installed into a virtualenv of its own
  (clients/python/.generator): it asks for older httpx and typer than Fundament does;
- clients/typescript/src/schema.d.ts by openapi-typescript, pinned in
  clients/typescript/package-lock.json (installed with `npm ci`).

Everything else under clients/ is written by hand. Only the standard library is used, so
any Python 3.11 runs this.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENTS = Path(__file__).resolve().parent
DOCUMENT = CLIENTS.parent / "docs" / "openapi.json"

PYTHON = CLIENTS / "python"
PY_PACKAGE = PYTHON / "fundament_client"
PY_REQUIREMENTS = PYTHON / "generator-requirements.txt"
PY_CONFIG = PYTHON / "generator.yaml"
PY_VENV = PYTHON / ".generator"

TYPESCRIPT = CLIENTS / "typescript"
TS_SCHEMA = TYPESCRIPT / "src" / "schema.d.ts"
TS_LOCK = TYPESCRIPT / "package-lock.json"
TS_MODULES = TYPESCRIPT / "node_modules"

# Written after a successful install: the install is redone when its inputs change.
STAMP = ".fundament-installed-from"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _installed(directory: Path, source: Path) -> bool:
    stamp = directory / STAMP
    return stamp.is_file() and stamp.read_text() == _digest(source)


def python_generator() -> Path:
    """The openapi-python-client executable, installed on first use."""
    bin_dir = PY_VENV / "bin"
    if not _installed(PY_VENV, PY_REQUIREMENTS):
        shutil.rmtree(PY_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PY_VENV)], check=True)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", str(PY_REQUIREMENTS)],
            check=True,
        )
        (PY_VENV / STAMP).write_text(_digest(PY_REQUIREMENTS))
    return bin_dir / "openapi-python-client"


def npm_ci() -> None:
    """clients/typescript/node_modules as package-lock.json pins it."""
    if _installed(TS_MODULES, TS_LOCK):
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not installed: the TypeScript client needs Node.js 18+ and npm "
                "(Debian: apt-get install nodejs npm)"
            )
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TYPESCRIPT, check=True)
    (TS_MODULES / STAMP).write_text(_digest(TS_LOCK))


def generate_python(target: Path, document: Path) -> None:
    """The generated package, written to ``target`` (a directory that does not exist yet)."""
    generator = python_generator()
    # Its post hooks run the ruff of its own virtualenv, found on PATH.
    env = {**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--meta", "none",
         "--config", str(PY_CONFIG), "--output-path", str(target)],
        env=env, capture_output=True, text=True, check=False,
    )
    # It reports what it could not express as warnings and still exits 0: a warning would be a
    # part of the contract silently missing from the client, so it fails here.
    if done.returncode != 0 or "Warning" in done.stdout + done.stderr:
        raise SystemExit(f"openapi-python-client failed:\n{done.stdout}{done.stderr}")


# openapi-typescript's default reads a property with a `default` as always present, right for
# answers but not for bodies, where the server fills it in: a body would have to send it.
TS_OPTIONS = ["--default-non-nullable=false"]


def generate_typescript(target: Path, document: Path) -> None:
    npm_ci()
    done = subprocess.run(
        ["node", str(TS_MODULES / "openapi-typescript" / "bin" / "cli.js"), str(document),
         "--output", str(target), *TS_OPTIONS],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"openapi-typescript failed:\n{done.stdout}{done.stderr}")


def _files(root: Path) -> dict[str, Path]:
    if root.is_file():
        return {root.name: root}
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def differences(committed: Path, fresh: Path) -> list[str]:
    """What differs between the committed files and freshly generated ones, for a reader."""
    old, new = _files(committed) if committed.exists() else {}, _files(fresh)
    out: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        shown = committed / name if committed.is_dir() else committed
        if name not in new:
            out.append(f"{shown}: no longer generated")
        elif name not in old:
            out.append(f"{shown}: missing (newly generated)")
        elif not filecmp.cmp(old[name], new[name], shallow=False):
            diff = difflib.unified_diff(
                old[name].read_text().splitlines(), new[name].read_text().splitlines(),
                "committed", "generated", lineterm="", n=1,
            )
            out.append(f"{shown}: differs\n" + "\n".join(list(diff)[:40]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on drift")
    mode.add_argument("--setup", action="store_true", help="only install the generators")
    parser.add_argument("--only", choices=("python", "typescript"), help="one client only")
    parser.add_argument(
        "--document", type=Path, default=DOCUMENT, help="another OpenAPI document than docs/openapi.json"
    )
    args = parser.parse_args()

    clients = [args.only] if args.only else ["python", "typescript"]
    if args.setup:
        if "python" in clients:
            python_generator()
        if "typescript" in clients:
            npm_ci()
        return 0

    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fundament-clients-") as tmp:
        for client in clients:
            if client == "python":
                committed, fresh = PY_PACKAGE, Path(tmp) / "fundament_client"
                generate_python(fresh, args.document.resolve())
            else:
                committed, fresh = TS_SCHEMA, Path(tmp) / "schema.d.ts"
                generate_typescript(fresh, args.document.resolve())
            if args.check:
                stale += differences(committed, fresh)
            elif fresh.is_dir():
                shutil.rmtree(committed, ignore_errors=True)
                shutil.copytree(fresh, committed)
            else:
                shutil.copyfile(fresh, committed)
    if stale:
        print(f"The generated clients do not match {args.document}; run `python3 clients/generate.py`:")
        print("\n".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
