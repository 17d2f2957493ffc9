"""What each problem ``type`` means: the catalogue behind ``/problems`` and docs/problems.md.

Every constant of :class:`~fundament.platform.errors.T` has an entry here (a test holds
it), so a client that meets a ``type`` can look it up at that very URL.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from fundament.platform import T

PROBLEM_BASE = T.BASE


@dataclass(frozen=True)
class ProblemType:
    uri: str
    status: int
    title: str
    meaning: str
    remedy: str

    @property
    def slug(self) -> str:
        return self.uri.removeprefix(PROBLEM_BASE)


def _quota(uri: str, what: str, field: str) -> ProblemType:
    return ProblemType(
        uri,
        403,
        "Quota exceeded",
        f"The write would take the tenant past its plan's cap on {what} (`{field}`); nothing "
        "was written. The problem carries `quota`, `limit` and `plan`.",
        "Delete something the cap counts, or move the tenant to a bigger plan. Waiting does not help.",
    )


CATALOGUE: tuple[ProblemType, ...] = (
    ProblemType(
        T.BAD_REQUEST,
        400,
        "Bad request",
        "The URL is wrong: an unknown query parameter, a parameter out of range or of the wrong "
        "form (`errors[].path` is `query.NAME`), or a value the database cannot store.",
        "Fix the parameter that `errors` names.",
    ),
    ProblemType(
        T.INVALID_FILTER,
        400,
        "Invalid filter",
        "`filter` is not a SCIM filter (RFC 7644 §3.4.2.2) this list understands.",
        "Check the attribute paths and operators (`eq ne co sw ew gt ge lt le pr`, `and`, `or`, `not`).",
    ),
    ProblemType(
        T.INVALID_JSON,
        400,
        "Invalid JSON body",
        "The body is not I-JSON (RFC 7493): malformed, not UTF-8, a key twice in one object, a lone "
        "surrogate, `NaN`, or nested deeper than 64 levels.",
        "Send well-formed UTF-8 JSON with unique keys.",
    ),
    ProblemType(
        T.INVALID_CURSOR,
        400,
        "Invalid cursor",
        "`cursor` was not issued by this list (records: with this `sort`).",
        "Pass back a `next_cursor` this list returned, or start again without a cursor.",
    ),
    ProblemType(
        T.INVALID_CONSISTENCY,
        400,
        "Invalid consistency token",
        "The `Fundament-Consistency` header holds something other than the tokens write responses "
        "carry (several may be sent, separated by commas; an empty value means none).",
        "Send back the `Fundament-Consistency` value of the last write response unchanged, or no header.",
    ),
    ProblemType(
        T.VALIDATION,
        422,
        "Validation failed",
        "The body is JSON but its content is refused: a missing or unknown member, a value of the "
        "wrong type, or record data the collection's schema rejects. `errors[].path` is a JSON "
        "Pointer into the body.",
        "Fix each member that `errors` names.",
    ),
    ProblemType(
        T.UNAUTHENTICATED,
        401,
        "Authentication required",
        "No `Authorization: Bearer` key, or a key that is unknown, expired or revoked.",
        "Send a valid key.",
    ),
    ProblemType(
        T.FORBIDDEN,
        403,
        "Forbidden",
        "The key is valid but its role is too small for this operation.",
        "Use a key with a larger role (viewer < member < admin < owner; operator keys act on every tenant).",
    ),
    ProblemType(
        T.TENANT_SUSPENDED,
        403,
        "Tenant suspended",
        "The key's tenant is suspended; every request with its keys is refused.",
        "An operator can reactivate the tenant (`PATCH /v1/tenants/{tenant}` with `status: active`).",
    ),
    ProblemType(
        T.NOT_FOUND,
        404,
        "Not found",
        "No such resource in this tenant. Another tenant's resources are 404 too, never 403.",
        "Check the id and the key's tenant.",
    ),
    ProblemType(
        T.METHOD_NOT_ALLOWED,
        405,
        "Method not allowed",
        "The path exists but does not take this method; `Allow` lists the methods it takes.",
        "Use one of the methods in `Allow`.",
    ),
    ProblemType(
        T.CONFLICT,
        409,
        "Conflict",
        "The request conflicts with the current state: a resource with these identifying fields "
        "exists already, or what it needs is not ready yet (an export still running).",
        "Read the current state; for a resource not ready, retry after `Retry-After`.",
    ),
    ProblemType(
        T.SCHEMA_CONFLICT,
        409,
        "Schema conflicts with existing records",
        "A collection's new schema would reject records it already holds; `record_ids` names up "
        "to 10 of them. Nothing was changed.",
        "Change or delete those records first, or loosen the schema.",
    ),
    ProblemType(
        T.PRECONDITION_FAILED,
        412,
        "Precondition failed",
        "`If-Match` does not match the record's current version (RFC 9110 §13.1.1).",
        "Read the record again (its `ETag`), reapply the change, and retry with the new ETag.",
    ),
    ProblemType(
        T.IDEMPOTENCY_MISMATCH,
        422,
        "Idempotency key reused",
        "This `Idempotency-Key` was used before with another method, path or body.",
        "Use a new key for a new request; reuse a key only to retry the same request.",
    ),
    ProblemType(
        T.PAYLOAD_TOO_LARGE,
        413,
        "Payload too large",
        "The body exceeds the server's limit (`FUNDAMENT_MAX_BODY_BYTES`), or a value is too large to store.",
        "Send less per request.",
    ),
    ProblemType(
        T.UNSUPPORTED_MEDIA_TYPE,
        415,
        "Unsupported media type",
        "The body is not sent as JSON.",
        "Send `Content-Type: application/json` (merge patches: `application/merge-patch+json`).",
    ),
    ProblemType(
        T.RATE_LIMITED,
        429,
        "Too many requests",
        "The tenant's plan allows no more requests in this window; `limit` names it (`minute` or "
        "`burst`), and `RateLimit-*` headers tell the budget.",
        "Wait `Retry-After` seconds; pace requests by `RateLimit-Remaining`.",
    ),
    ProblemType(
        T.AUTH_THROTTLED,
        429,
        "Too many failed authentications",
        "Too many failed authentications from this address or with this key's id; keys are not "
        "even looked up until the wait is over. Keys in use are not refused.",
        "Wait `Retry-After` seconds and check the key you send.",
    ),
    _quota(T.QUOTA_RECORDS, "records", "max_records"),
    _quota(T.QUOTA_STORED_BYTES, "stored bytes (records and audit details)", "max_stored_bytes"),
    _quota(T.QUOTA_COLLECTIONS, "collections", "max_collections"),
    _quota(T.QUOTA_API_KEYS, "active API keys", "max_api_keys"),
    _quota(T.QUOTA_USERS, "users", "max_users"),
    _quota(T.QUOTA_OPEN_PRIVACY_JOBS, "open privacy requests (exports, erasures)", "max_open_privacy_jobs"),
    _quota(T.QUOTA_INDEXES, "declared indexes per collection", "max_indexes_per_collection"),
    _quota(T.QUOTA_WEBHOOKS, "webhook endpoints", "max_webhooks"),
    ProblemType(
        T.UNAVAILABLE,
        503,
        "Service unavailable",
        "The database is unreachable or overloaded, or a concurrent change got in the way.",
        "Retry after `Retry-After` seconds; the request had no effect.",
    ),
    ProblemType(
        T.TIMEOUT,
        503,
        "Request took too long",
        "The request, or one of its database queries, ran past the server's time limit and was cancelled.",
        "Narrow the request (a tighter filter, a smaller `limit`, a declared index) and retry.",
    ),
    ProblemType(
        T.BAD_GATEWAY,
        502,
        "Bad gateway",
        "The gateway (docs/gateway.md) sent the request on to an upstream, legacy or Fundament, "
        "that refused the connection or broke off its answer.",
        "Retry; if it lasts, the upstream that `detail` names is down.",
    ),
    ProblemType(
        T.GATEWAY_TIMEOUT,
        504,
        "Gateway timeout",
        "The upstream the gateway sent the request on to did not connect or answer within the "
        "timeouts its configuration sets.",
        "Retry later; an operator raises the upstream's timeouts if its answers are slow by nature.",
    ),
    ProblemType(
        T.INTERNAL,
        500,
        "Internal server error",
        "A fault of the server, logged with the response's `X-Request-Id`.",
        "Report it with the `X-Request-Id`.",
    ),
)

BY_SLUG = {p.slug: p for p in CATALOGUE}


def markdown() -> str:
    """docs/problems.md, which a test keeps equal to this."""
    lines = [
        "# Problem types",
        "",
        "Every error answer is an RFC 9457 problem document (`application/problem+json`). Its "
        "`type` names what went wrong; clients switch on it. The `type` is a URI reference "
        f"relative to the server, `{PROBLEM_BASE}<name>`, and the server that sent it serves this "
        f"list at `{PROBLEM_BASE.rstrip('/')}` and each entry at its `type` "
        "(see docs/api-decisions.md for why).",
        "",
        "This file is generated from `src/fundament/apidocs/problem_types.py`:",
        "`python -c 'from fundament.apidocs import markdown; print(markdown(), end=\"\")'`.",
        "",
        "| type | status | title |",
        "|---|---|---|",
    ]
    lines += [f"| [`{p.uri}`](#{p.slug}) | {p.status} | {p.title} |" for p in CATALOGUE]
    for p in CATALOGUE:
        lines += ["", f"## {p.slug}", "", f"`{p.uri}`: {p.status} {p.title}.", "", p.meaning, "", p.remedy]
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """Backticks as <code>, the rest escaped: the entries' only markup."""
    parts = html.escape(text, quote=False).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _entry(p: ProblemType, root: str) -> str:
    return (
        f'<section id="{p.slug}"><h2><a href="{root}{p.uri}">{p.slug}</a></h2>'
        f"<p><code>{html.escape(p.uri)}</code> · {p.status} · {html.escape(p.title)}</p>"
        f"<p>{_code(p.meaning)}</p><p>{_code(p.remedy)}</p></section>"
    )


def page(title: str, body: str, root: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{root}/docs/assets/docs.css"></head>'
        f"<body><main>{body}</main></body></html>"
    )


def index_html(root: str) -> str:
    rows = "".join(
        f'<tr><td><a href="#{p.slug}"><code>{html.escape(p.uri)}</code></a></td>'
        f"<td>{p.status}</td><td>{html.escape(p.title)}</td></tr>"
        for p in CATALOGUE
    )
    body = (
        "<h1>Problem types</h1><p>Every error answer of this API is an RFC 9457 problem document; "
        "its <code>type</code> is one of these. The API reference is at "
        f'<a href="{root}/docs">/docs</a>.</p>'
        f"<table><thead><tr><th>type</th><th>status</th><th>title</th></tr></thead><tbody>{rows}"
        "</tbody></table>" + "".join(_entry(p, root) for p in CATALOGUE)
    )
    return page("Fundament problem types", body, root)


def entry_html(p: ProblemType, root: str) -> str:
    index = root + PROBLEM_BASE.rstrip("/")
    body = _entry(p, root) + f'<p><a href="{index}#{p.slug}">All problem types</a></p>'
    return page(f"Problem type {p.slug}", body, root)
