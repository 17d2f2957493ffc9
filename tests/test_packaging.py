"""A plain `pip install fundament` (no extras) has every library the code imports.

`fundament bench capacity` used to fail on the quick-start install with
`ModuleNotFoundError: No module named 'httpx'`: httpx was only in the `test` extra. This
checks every command's code path at once, by reading the imports instead of running them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "fundament").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "fundament"}


def _runtime_closure() -> set[str]:
    """Distributions a plain install brings: [project].dependencies and what they require
    (with the extras they ask for, such as uvicorn[standard])."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = [(Requirement(r), "") for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        req, parent_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        extras = sorted(req.extras)
        key = name + "[" + ",".join(extras) + "]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        for child in importlib.metadata.requires(req.name) or []:
            child_req = Requirement(child)
            if child_req.marker is None:
                todo.append((child_req, ""))
            else:
                todo.extend((child_req, extra) for extra in ["", *extras])
    return {s for s in seen if "[" not in s}


def test_every_imported_library_is_a_runtime_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    closure = _runtime_closure()
    missing = {
        module: distributions.get(module)
        for module in _imported_top_level_modules()
        if not any(canonicalize_name(d) in closure for d in distributions.get(module, []))
    }
    assert not missing, f"imported by src/fundament but not installed by a plain install: {missing}"


def test_bench_capacity_imports_from_a_plain_install() -> None:
    # The module `fundament bench capacity` runs: its HTTP client is a runtime dependency.
    closure = _runtime_closure()
    assert "httpx" in closure
