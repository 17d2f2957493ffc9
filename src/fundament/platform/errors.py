"""RFC 9457 problem details: one exception tree, one renderer.

Routes and services raise a :class:`Problem` subclass; :func:`problem_response` renders it.
Lower libraries' errors are mapped once, at the boundary (:func:`map_db_errors`), the way
httpx maps transport errors, so no SQL or internal name ever reaches a client.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
import msgspec
import orjson
from msgspec import UNSET
from starlette.responses import Response

from fundament.platform import problem_shape as shape

#: Relative references with the full path (RFC 9457 §3.1.1): each resolves against the
#: server that answered, which serves the type's documentation there (docs/api-decisions.md).
PROBLEM_BASE = "/problems/"


class T:
    """Problem ``type`` URIs, in one place so clients can switch on them.

    Each has an entry in ``fundament.apidocs``' catalogue, served at the URI itself."""

    BASE = PROBLEM_BASE

    BAD_REQUEST = PROBLEM_BASE + "bad-request"
    INVALID_FILTER = PROBLEM_BASE + "invalid-filter"
    INVALID_JSON = PROBLEM_BASE + "invalid-json"
    INVALID_CURSOR = PROBLEM_BASE + "invalid-cursor"
    INVALID_CONSISTENCY = PROBLEM_BASE + "invalid-consistency-token"
    VALIDATION = PROBLEM_BASE + "validation-error"
    UNAUTHENTICATED = PROBLEM_BASE + "unauthenticated"
    FORBIDDEN = PROBLEM_BASE + "forbidden"
    TENANT_SUSPENDED = PROBLEM_BASE + "tenant-suspended"
    NOT_FOUND = PROBLEM_BASE + "not-found"
    METHOD_NOT_ALLOWED = PROBLEM_BASE + "method-not-allowed"
    CONFLICT = PROBLEM_BASE + "conflict"
    SCHEMA_CONFLICT = PROBLEM_BASE + "schema-conflict"
    PRECONDITION_FAILED = PROBLEM_BASE + "precondition-failed"
    IDEMPOTENCY_MISMATCH = PROBLEM_BASE + "idempotency-key-reused"
    PAYLOAD_TOO_LARGE = PROBLEM_BASE + "payload-too-large"
    UNSUPPORTED_MEDIA_TYPE = PROBLEM_BASE + "unsupported-media-type"
    RATE_LIMITED = PROBLEM_BASE + "rate-limited"
    AUTH_THROTTLED = PROBLEM_BASE + "authentication-throttled"
    QUOTA_RECORDS = PROBLEM_BASE + "quota-max-records"
    QUOTA_STORED_BYTES = PROBLEM_BASE + "quota-max-stored-bytes"
    QUOTA_COLLECTIONS = PROBLEM_BASE + "quota-max-collections"
    QUOTA_API_KEYS = PROBLEM_BASE + "quota-max-api-keys"
    QUOTA_USERS = PROBLEM_BASE + "quota-max-users"
    QUOTA_OPEN_PRIVACY_JOBS = PROBLEM_BASE + "quota-max-open-privacy-jobs"
    QUOTA_INDEXES = PROBLEM_BASE + "quota-max-indexes-per-collection"
    #: The plan's ``max_webhooks`` (webhook endpoints).
    QUOTA_WEBHOOKS = PROBLEM_BASE + "quota-max-webhooks"
    UNAVAILABLE = PROBLEM_BASE + "service-unavailable"
    TIMEOUT = PROBLEM_BASE + "timeout"
    BAD_GATEWAY = PROBLEM_BASE + "bad-gateway"
    GATEWAY_TIMEOUT = PROBLEM_BASE + "gateway-timeout"
    INTERNAL = PROBLEM_BASE + "internal-error"


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


class Problem(Exception):
    """An error that renders itself as ``application/problem+json``."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = T.INTERNAL
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        type: str | None = None,
        title: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors)
        self.headers = dict(headers or {})
        if type is not None:
            self.type = type  # type: ignore[misc]
        if title is not None:
            self.title = title  # type: ignore[misc]
        self.extra = dict(extra or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document: its declared members, then this problem's extensions."""
        document = shape.Problem(
            type=self.type,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance or UNSET,
            errors=[shape.ProblemFieldError(e.path, e.message) for e in self.errors] or UNSET,
        )
        out: dict[str, Any] = msgspec.to_builtins(document)
        out.update(self.extra)
        return out


class BadRequest(Problem):
    status = 400
    type = T.BAD_REQUEST
    title = "Bad request"


class InvalidFilter(BadRequest):
    type = T.INVALID_FILTER
    title = "Invalid filter"


class InvalidJSON(BadRequest):
    """The body is not I-JSON (RFC 7493): malformed, not UTF-8, a duplicate key, a lone
    surrogate, or nested deeper than the one limit every route shares."""

    type = T.INVALID_JSON
    title = "Invalid JSON body"


class InvalidCursor(BadRequest):
    """A ``cursor`` this list did not issue; the same answer on every list."""

    type = T.INVALID_CURSOR
    title = "Invalid cursor"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("errors", [FieldError("cursor", "not a cursor this list issued")])
        super().__init__(
            detail or "The cursor is not valid for this list; pass a next_cursor this list returned.", **kw
        )


class InvalidConsistencyToken(BadRequest):
    """A ``Fundament-Consistency`` header that holds no token this API issues."""

    type = T.INVALID_CONSISTENCY
    title = "Invalid consistency token"


class ValidationFailed(Problem):
    status = 422
    type = T.VALIDATION
    title = "Validation failed"


class Unauthenticated(Problem):
    status = 401
    type = T.UNAUTHENTICATED
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="fundament"'})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status = 403
    type = T.FORBIDDEN
    title = "Forbidden"


class TenantSuspended(Forbidden):
    type = T.TENANT_SUSPENDED
    title = "Tenant suspended"


class QuotaExceeded(Forbidden):
    """A plan's cap (records, stored bytes, collections, keys, ...) would be exceeded;
    nothing was written.

    403, not 429: waiting does not help, deleting data or a bigger plan does. The
    ``type`` names the quota (``quota-max-records``, ``quota-max-stored-bytes``,
    ``quota-max-collections``, ...), ``extra`` carries ``quota``, ``limit`` and ``plan``.
    """

    title = "Quota exceeded"


class NotFound(Problem):
    status = 404
    type = T.NOT_FOUND
    title = "Not found"


class MethodNotAllowed(Problem):
    status = 405
    type = T.METHOD_NOT_ALLOWED
    title = "Method not allowed"


class Conflict(Problem):
    status = 409
    type = T.CONFLICT
    title = "Conflict"


class PreconditionFailed(Problem):
    status = 412
    type = T.PRECONDITION_FAILED
    title = "Precondition failed"


class PayloadTooLarge(Problem):
    status = 413
    type = T.PAYLOAD_TOO_LARGE
    title = "Payload too large"


class UnsupportedMediaType(Problem):
    status = 415
    type = T.UNSUPPORTED_MEDIA_TYPE
    title = "Unsupported media type"


class TooManyRequests(Problem):
    status = 429
    type = T.RATE_LIMITED
    title = "Too many requests"


class AuthenticationThrottled(TooManyRequests):
    """Too many failed authentications from one address or with one key id: an unknown key
    waits ``Retry-After`` seconds without being looked up. Keys in use are not refused."""

    type = T.AUTH_THROTTLED
    title = "Too many failed authentications"


class ServiceUnavailable(Problem):
    status = 503
    type = T.UNAVAILABLE
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": "1"})
        super().__init__(detail, **kw)


class Timeout(ServiceUnavailable):
    type = T.TIMEOUT
    title = "Request took too long"


class BadGateway(Problem):
    """An upstream the gateway sends a request on to failed or could not be reached."""

    status = 502
    type = T.BAD_GATEWAY
    title = "Bad gateway"


class GatewayTimeout(Problem):
    """An upstream the gateway sends a request on to did not answer in time."""

    status = 504
    type = T.GATEWAY_TIMEOUT
    title = "Gateway timeout"


PROBLEM_JSON = "application/problem+json"


def problem_response(problem: Problem, *, instance: str | None = None) -> Response:
    return Response(
        content=orjson.dumps(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


_UNAVAILABLE = (
    # "cannot switch to state …; another operation is in progress": the connection broke
    # mid-protocol, as when the server shuts down under it.
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
)


def translate_db_error(exc: BaseException) -> Problem | None:
    """Map an asyncpg error onto the most specific problem, or None if it is a bug."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict("A resource with these identifying fields already exists.")
    if isinstance(exc, asyncpg.QueryCanceledError):
        return Timeout("The database query took too long and was cancelled.")
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return ServiceUnavailable("A concurrent change got in the way; retry the request.")
    if isinstance(exc, asyncpg.ProgramLimitExceededError):
        return PayloadTooLarge("A value is too large to store.")
    if isinstance(exc, asyncpg.UntranslatableCharacterError | asyncpg.CharacterNotInRepertoireError):
        return BadRequest("A value contains characters that cannot be stored.")
    if isinstance(exc, asyncpg.InvalidTextRepresentationError | asyncpg.NumericValueOutOfRangeError):
        return BadRequest("A value has the wrong form or is out of range.")
    if isinstance(exc, asyncpg.InvalidParameterValueError):
        return BadRequest("A value has the wrong form.")
    if isinstance(exc, asyncpg.InsufficientResourcesError | asyncpg.AdminShutdownError):
        return ServiceUnavailable("The database is unavailable; retry shortly.")
    if isinstance(exc, _UNAVAILABLE):
        return ServiceUnavailable("The database is unavailable; retry shortly.")
    if isinstance(exc, TimeoutError):
        return ServiceUnavailable("The database did not answer in time; retry shortly.")
    return None


@contextmanager
def map_db_errors() -> Iterator[None]:
    """Re-raise database errors as problems at the module boundary."""
    try:
        yield
    except Problem:
        raise
    except Exception as exc:
        mapped = translate_db_error(exc)
        if mapped is None:
            raise
        raise mapped from exc
