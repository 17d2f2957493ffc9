"""The kernel: settings, database and transactions, tenant context, errors, ids, clock.

It depends on no other module. Other modules import only the names below.
"""

from fundament.platform.auth import Authenticator, bearer_scheme, require_role
from fundament.platform.clock import Clock, rfc3339, utcnow
from fundament.platform.context import ROLES, Principal, RequestContext, role_rank
from fundament.platform.db import Database, Tx, WriteEvent
from fundament.platform.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    InvalidFilter,
    NotFound,
    PreconditionFailed,
    Problem,
    ServiceUnavailable,
    T,
    Unauthenticated,
    ValidationFailed,
)
from fundament.platform.http import (
    EXCEPTION_HANDLERS,
    EdgeMiddleware,
    JSONResponse,
    StrictRoute,
    database,
    doc_responses,
    json_response,
)
from fundament.platform.idempotency import (
    StoredResponse,
    check_idempotency_key,
    request_fingerprint,
    run_idempotent,
)
from fundament.platform.merge_patch import merge_patch
from fundament.platform.ids import looks_like_id, new_id, new_secret
from fundament.platform.pagination import Page, decode_id_cursor, encode_id_cursor, list_params, ListParams
from fundament.platform.settings import Settings

__all__ = [
    "EXCEPTION_HANDLERS",
    "EdgeMiddleware",
    "StoredResponse",
    "check_idempotency_key",
    "request_fingerprint",
    "run_idempotent",
    "merge_patch",
    "ROLES",
    "Authenticator",
    "BadRequest",
    "Clock",
    "Conflict",
    "Database",
    "FieldError",
    "Forbidden",
    "InvalidFilter",
    "JSONResponse",
    "NotFound",
    "Page",
    "PreconditionFailed",
    "Principal",
    "Problem",
    "RequestContext",
    "ServiceUnavailable",
    "Settings",
    "StrictRoute",
    "T",
    "Tx",
    "Unauthenticated",
    "ValidationFailed",
    "WriteEvent",
    "bearer_scheme",
    "database",
    "decode_id_cursor",
    "doc_responses",
    "encode_id_cursor",
    "list_params",
    "ListParams",
    "json_response",
    "looks_like_id",
    "new_id",
    "new_secret",
    "require_role",
    "rfc3339",
    "role_rank",
    "utcnow",
]
