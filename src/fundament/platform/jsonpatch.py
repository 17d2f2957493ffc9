"""JSON Merge Patch, RFC 7396 §2.

Written here rather than taken from a library: the algorithm is the RFC's ten-line
pseudocode, and the PyPI packages for it are unmaintained.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` and return the result; neither input is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
