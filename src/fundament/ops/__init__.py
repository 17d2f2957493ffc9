"""Operations endpoints: liveness and readiness (metrics and traces come later)."""

from __future__ import annotations

from typing import Any

__all__ = ["install"]


def install(app: Any) -> None:
    from fundament.ops.api import router

    app.include_router(router)
