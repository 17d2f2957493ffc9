"""Identity: API keys (hashed, prefixed, role-scoped), users and roles."""

from __future__ import annotations

from typing import Any

from fundament.identity.keys import KeyAuthenticator, hash_key
from fundament.identity.service import (
    add_operator_key,
    count_active_api_keys,
    count_users,
    create_operator_key,
    list_operator_keys,
    revoke_operator_key,
)
from fundament.identity.throttle import FailureThrottle

__all__ = [
    "FailureThrottle",
    "KeyAuthenticator",
    "add_operator_key",
    "count_active_api_keys",
    "count_users",
    "create_operator_key",
    "hash_key",
    "install",
    "list_operator_keys",
    "revoke_operator_key",
]


def install(app: Any) -> None:
    """Mount key and user routes; the app factory installs the authenticator."""
    from fundament.identity.api import operator_router, router

    app.include_router(router)
    app.include_router(operator_router)
