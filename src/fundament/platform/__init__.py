"""The kernel: settings, database and transactions, tenant context, errors, ids, clock.

It depends on no other module. Other modules import only the names below.
"""

from fundament.platform.auth import Admission, Authenticator, bearer_scheme, require_role
from fundament.platform.clock import Clock, rfc3339, utcnow
from fundament.platform.context import ROLES, Principal, RequestContext, role_rank
from fundament.platform.crypto import (
    b64,
    new_data_key,
    open_sealed,
    seal,
    subject_hash,
    unb64,
    unwrap_key,
    wrap_key,
)
from fundament.platform.db import Database, Tx, WriteEvent
from fundament.platform.embedded import EmbeddedPostgres, EmbeddedPostgresError
from fundament.platform.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    InvalidFilter,
    NotFound,
    PreconditionFailed,
    Problem,
    QuotaExceeded,
    ServiceUnavailable,
    T,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from fundament.platform.http import (
    EXCEPTION_HANDLERS,
    EdgeMiddleware,
    FastPaths,
    FastRoute,
    JSONResponse,
    StrictRoute,
    check_json_body,
    database,
    doc_responses,
    json_response,
    json_text,
    validation_problem,
)
from fundament.platform.idempotency import (
    StoredResponse,
    check_idempotency_key,
    request_fingerprint,
    run_idempotent,
)
from fundament.platform.ids import looks_like_id, new_id, new_secret
from fundament.platform.jsonpatch import merge_patch, refuse_removal
from fundament.platform.observe import Exchange, Observer, current_exchange
from fundament.platform.pagination import (
    ListParams,
    Page,
    decode_id_cursor,
    encode_id_cursor,
    list_params,
)
from fundament.platform.settings import Settings

__all__ = [
    "EXCEPTION_HANDLERS",
    "ROLES",
    "Admission",
    "Authenticator",
    "BadRequest",
    "Clock",
    "Conflict",
    "Database",
    "EdgeMiddleware",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "Exchange",
    "FastPaths",
    "FastRoute",
    "FieldError",
    "Forbidden",
    "InvalidFilter",
    "JSONResponse",
    "ListParams",
    "NotFound",
    "Observer",
    "Page",
    "PreconditionFailed",
    "Principal",
    "Problem",
    "QuotaExceeded",
    "RequestContext",
    "ServiceUnavailable",
    "Settings",
    "StoredResponse",
    "StrictRoute",
    "T",
    "TooManyRequests",
    "Tx",
    "Unauthenticated",
    "ValidationFailed",
    "WriteEvent",
    "b64",
    "bearer_scheme",
    "check_idempotency_key",
    "check_json_body",
    "current_exchange",
    "database",
    "decode_id_cursor",
    "doc_responses",
    "encode_id_cursor",
    "json_response",
    "json_text",
    "list_params",
    "looks_like_id",
    "merge_patch",
    "new_data_key",
    "new_id",
    "new_secret",
    "open_sealed",
    "refuse_removal",
    "request_fingerprint",
    "require_role",
    "rfc3339",
    "role_rank",
    "run_idempotent",
    "seal",
    "subject_hash",
    "unb64",
    "unwrap_key",
    "utcnow",
    "validation_problem",
    "wrap_key",
]
