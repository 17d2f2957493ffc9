"""The kernel: settings, database and transactions, tenant context, errors, ids, clock.

It depends on no other module. Other modules import only the names below.
"""

from fundament.platform.auth import Admission, Authenticator, bearer_scheme, bearer_token, require_role
from fundament.platform.cache import LoadingCache
from fundament.platform.cells import CELLS_CHANGED, CONTROL_CELL, Cell, Cells
from fundament.platform.clock import Clock, DateTime, Instant, parse_rfc3339, rfc3339, utcnow
from fundament.platform.context import ROLES, Principal, RequestContext, role_rank
from fundament.platform.cors import MAX_ORIGINS as MAX_CORS_ORIGINS
from fundament.platform.cors import CorsPolicy, parse_origin, parse_origin_list
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
from fundament.platform.db import Database, Tx, WriteEvent, insert_rows, notify_invalidation, set_scope
from fundament.platform.embedded import EmbeddedPostgres, EmbeddedPostgresError
from fundament.platform.errors import (
    AuthenticationThrottled,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    InvalidCursor,
    InvalidFilter,
    InvalidJSON,
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
    check_json_body,
    database,
    doc_responses,
    json_response,
    json_text,
    parse_json_body,
    validation_problem,
)
from fundament.platform.idempotency import (
    KEY_SCHEMA as IDEMPOTENCY_KEY_SCHEMA,
)
from fundament.platform.idempotency import (
    StoredResponse,
    check_idempotency_key,
    request_fingerprint,
    run_idempotent,
)
from fundament.platform.ids import looks_like_id, new_id, new_secret
from fundament.platform.jsonpatch import merge_patch, not_null, refuse_removal
from fundament.platform.lanes import LaneFull, TenantLane
from fundament.platform.observe import (
    Exchange,
    Observer,
    TenantBatches,
    background,
    current_exchange,
    lift_deadline,
)
from fundament.platform.pagination import (
    ListParams,
    Page,
    check_cursor,
    decode_id_cursor,
    encode_id_cursor,
    keyset_page,
    list_params,
)
from fundament.platform.replicas import READ_OUTCOMES as REPLICA_READ_OUTCOMES
from fundament.platform.replicas import Observation as ReplicaObservation
from fundament.platform.replicas import ReplicaSet, ReplicaStatus, format_position
from fundament.platform.routing import Routes
from fundament.platform.settings import REGION_PATTERN, Settings
from fundament.platform.shapes import JsonObject, Timestamp, doc_shape, encode, shape, shape_components
from fundament.platform.wiring import Needs, services

__all__ = [
    "CELLS_CHANGED",
    "CONTROL_CELL",
    "EXCEPTION_HANDLERS",
    "IDEMPOTENCY_KEY_SCHEMA",
    "MAX_CORS_ORIGINS",
    "REGION_PATTERN",
    "REPLICA_READ_OUTCOMES",
    "ROLES",
    "Admission",
    "AuthenticationThrottled",
    "Authenticator",
    "BadRequest",
    "Cell",
    "Cells",
    "Clock",
    "Conflict",
    "CorsPolicy",
    "Database",
    "DateTime",
    "EdgeMiddleware",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "Exchange",
    "FieldError",
    "Forbidden",
    "Instant",
    "InvalidCursor",
    "InvalidFilter",
    "InvalidJSON",
    "JsonObject",
    "LaneFull",
    "ListParams",
    "LoadingCache",
    "Needs",
    "NotFound",
    "Observer",
    "Page",
    "PreconditionFailed",
    "Principal",
    "Problem",
    "QuotaExceeded",
    "ReplicaObservation",
    "ReplicaSet",
    "ReplicaStatus",
    "RequestContext",
    "Routes",
    "ServiceUnavailable",
    "Settings",
    "StoredResponse",
    "T",
    "TenantBatches",
    "TenantLane",
    "Timestamp",
    "TooManyRequests",
    "Tx",
    "Unauthenticated",
    "ValidationFailed",
    "WriteEvent",
    "b64",
    "background",
    "bearer_scheme",
    "bearer_token",
    "check_cursor",
    "check_idempotency_key",
    "check_json_body",
    "current_exchange",
    "database",
    "decode_id_cursor",
    "doc_responses",
    "doc_shape",
    "encode",
    "encode_id_cursor",
    "format_position",
    "insert_rows",
    "json_response",
    "json_text",
    "keyset_page",
    "lift_deadline",
    "list_params",
    "looks_like_id",
    "merge_patch",
    "new_data_key",
    "new_id",
    "new_secret",
    "not_null",
    "notify_invalidation",
    "open_sealed",
    "parse_json_body",
    "parse_origin",
    "parse_origin_list",
    "parse_rfc3339",
    "refuse_removal",
    "request_fingerprint",
    "require_role",
    "rfc3339",
    "role_rank",
    "run_idempotent",
    "seal",
    "services",
    "set_scope",
    "shape",
    "shape_components",
    "subject_hash",
    "unb64",
    "unwrap_key",
    "utcnow",
    "validation_problem",
    "wrap_key",
]
