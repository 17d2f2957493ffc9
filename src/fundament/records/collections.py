"""Collections: schema compilation, the schema cache, declared indexes.

A collection's JSON Schema is compiled once per version and cached in-process; a change
commits a ``collection:<tenant>:<name>`` notification so every instance recompiles.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import jsonschema_rs
import msgspec
import orjson
from jsonschema import Draft202012Validator as MetaCheck
from jsonschema.exceptions import SchemaError

from fundament.platform import (
    Conflict,
    Database,
    FieldError,
    LoadingCache,
    NotFound,
    Page,
    RequestContext,
    T,
    Tx,
    ValidationFailed,
    json_text,
    keyset_page,
    merge_patch,
    new_id,
    refuse_removal,
    shape,
    utcnow,
)
from fundament.records import _slots
from fundament.records._fields import SchemaFields
from fundament.records._query import META, QueryError, field_sql
from fundament.records.schemas import Collection

log = logging.getLogger("fundament.records")

_COLUMNS = (
    "name, schema::text AS schema, indexes::text AS indexes, personal_fields::text AS"
    " personal_fields, subject_field, retention_days, purpose, legal_basis, on_erasure,"
    " version, created_at, updated_at"
)
MAX_SCHEMA_CHECK_ERRORS = 10
# Tenants write the patterns, so they must not be able to write a catastrophic one:
# `pattern` and `patternProperties` run on Rust's `regex` crate, which matches in linear
# time (no backtracking; backreferences and lookaround do not compile, and are refused).
# The size limits bound what one pattern may cost to compile (`(a{1000}){1000}` and such).
_PATTERNS = jsonschema_rs.RegexOptions(size_limit=2 * 1024 * 1024, dfa_size_limit=2 * 1024 * 1024)
Validator = jsonschema_rs.Validator


def _validator(schema: dict[str, Any]) -> Validator:
    """The compiled validator: draft 2020-12 whatever ``$schema`` says, formats as
    annotations (as the draft's default vocabulary has it), and ``offline``: a ``$ref`` is
    never fetched, as a URL a tenant wrote into a schema would be a server-side request
    forgery."""
    return jsonschema_rs.Draft202012Validator(
        schema, validate_formats=False, pattern_options=_PATTERNS, offline=True
    )


@dataclass(slots=True)
class CollectionDef:
    tenant_id: str
    name: str
    schema: dict[str, Any]
    indexes: list[str]
    personal_fields: list[str]
    subject_field: str | None
    retention_days: int | None
    purpose: str | None
    legal_basis: str | None
    on_erasure: str
    version: int
    created_at: datetime
    updated_at: datetime
    validator: Validator = field(repr=False)

    #: Declared data fields by index slot (``indexes[n]`` is slot ``n``).
    slots: dict[str, int] = field(init=False, repr=False)
    #: The field paths its schema allows, and their types (for filters and sorts).
    fields: SchemaFields = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = {path: n for n, path in enumerate(self.indexes) if path not in META}
        self.fields = SchemaFields(self.schema, _validator)

    def validate(self, data: Any) -> None:
        """Raise 422 with every schema violation (JSON Pointer paths) if ``data`` fails."""
        if self.validator.is_valid(data):
            return
        errors = []
        for error in self.validator.iter_errors(data):
            errors.append(error)
            if len(errors) >= 50:
                break
        errors.sort(key=lambda e: [str(p) for p in e.instance_path])
        raise ValidationFailed(
            "The record does not match the collection schema.",
            errors=[FieldError(_pointer(e.instance_path), e.message[:500]) for e in errors],
        )


def _pointer(path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/data" + ("/" + "/".join(parts) if parts else "")


def compile_schema(schema: dict[str, Any]) -> Validator:
    """Check ``schema`` against the 2020-12 meta-schema and compile it; 422 if invalid,
    including a pattern the linear-time engine cannot run and a ``$ref`` it cannot resolve."""
    try:
        MetaCheck.check_schema(schema)
    except SchemaError as exc:
        where = "/schema" + "".join(f"/{p}" for p in exc.absolute_path)
        raise ValidationFailed(
            "The schema is not a valid JSON Schema (draft 2020-12).",
            errors=[FieldError(where, exc.message[:500])],
        ) from exc
    remote = sorted(_remote_refs(schema))
    if remote:
        raise ValidationFailed(
            "The schema refers to other documents; only references inside it (#...) work.",
            errors=[FieldError("/schema", f"unresolvable $ref {ref[:200]!r}") for ref in remote[:10]],
        )
    try:
        return _validator(schema)
    except jsonschema_rs.ValidationError as exc:
        where = "/schema" + "".join(f"/{p}" for p in exc.instance_path)
        message = exc.message.splitlines()[0][:500]
        if "is not a \"regex\"" in message:
            message = (
                "the pattern cannot run on the linear-time regular expression engine"
                " (backreferences and lookaround are not supported, and its size is bounded)"
            )
        raise ValidationFailed(
            "The schema cannot be compiled (patterns run on a linear-time engine; references"
            " must resolve inside the schema).",
            errors=[FieldError(where, message)],
        ) from exc
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ValidationFailed(
            "The schema cannot be compiled: references must resolve inside the schema.",
            errors=[FieldError("/schema", str(exc).splitlines()[0][:500])],
        ) from exc


def _remote_refs(node: Any) -> set[str]:
    """``$ref``/``$dynamicRef`` values that point outside the schema (never fetched)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                found.add(value)
            else:
                found |= _remote_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _remote_refs(value)
    return found


def _check_paths(body: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """Each of ``indexes`` and ``personal_fields`` must name fields a record can hold under
    ``schema`` (a typo would index, or protect, nothing). On a patch (``before``) a list is
    checked when it or the schema changes: a patch of other members does not fail on what
    was stored before this check existed."""
    errors: list[FieldError] = []
    fields = SchemaFields(body.get("schema"), _validator)
    for key in ("indexes", "personal_fields"):
        check_fields = (
            before is None or body.get(key) != before.get(key) or body.get("schema") != before.get("schema")
        )
        for i, path in enumerate(body.get(key) or []):
            try:
                field_sql(path)
                if check_fields and path not in META:
                    fields.types(path)
            except QueryError as exc:
                errors.append(FieldError(f"/{key}/{i}", exc.detail))
    subject = body.get("subject_field")
    if subject is not None and subject not in (body.get("personal_fields") or []):
        # The subject identifies a person, so it is personal data by definition.
        errors.append(FieldError("/subject_field", "must also be listed in personal_fields"))
    if len(set(body.get("indexes") or [])) != len(body.get("indexes") or []):
        errors.append(FieldError("/indexes", "lists a field twice"))
    if errors:
        raise ValidationFailed("The collection definition is invalid.", errors=errors)


def _from_row(tenant_id: str, rec: asyncpg.Record) -> CollectionDef:
    schema = orjson.loads(rec["schema"])
    return CollectionDef(
        tenant_id=tenant_id,
        name=rec["name"],
        schema=schema,
        indexes=orjson.loads(rec["indexes"]),
        personal_fields=orjson.loads(rec["personal_fields"]),
        subject_field=rec["subject_field"],
        retention_days=rec["retention_days"],
        purpose=rec["purpose"],
        legal_basis=rec["legal_basis"],
        on_erasure=rec["on_erasure"],
        version=rec["version"],
        created_at=rec["created_at"],
        updated_at=rec["updated_at"],
        validator=_stored_validator(schema),
    )


class _Unusable:
    """Stands in for a stored schema that no longer compiles (one saved before patterns
    moved to the linear-time engine): writes get a 422 saying what to fix, not a 500."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def is_valid(self, instance: Any) -> bool:
        raise ValidationFailed(
            "The collection schema cannot be applied: update it with PATCH.",
            errors=[FieldError("/schema", self.reason)],
        )


def _stored_validator(schema: dict[str, Any]) -> Validator:
    try:
        return _validator(schema)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        return _Unusable(str(exc).splitlines()[0][:300])  # type: ignore[return-value]


class CollectionCache:
    """Compiled collections by (tenant, name), dropped on invalidation notifications."""

    def __init__(self, db: Database, *, ttl_seconds: float = 300.0) -> None:
        self._db = db
        self._items: LoadingCache[tuple[str, str], CollectionDef] = LoadingCache(
            ttl_seconds=ttl_seconds, max_entries=50_000
        )
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        kind, _, rest = message.partition(":")
        if message == "*":
            self._items.clear()
        elif kind == "collection":
            tenant, _, name = rest.partition(":")
            self._items.invalidate((tenant, name))
        elif kind == "tenant":
            self._items.invalidate_where(lambda key, _coll: key[0] == rest)

    async def get(self, ctx: RequestContext, tenant_id: str, name: str) -> CollectionDef:
        """The collection, from cache or the database; 404 if it does not exist."""
        key = (tenant_id, name)
        found = self._items.peek(key)
        if found is None:
            # Loaded in the first asker's context for all who ask meanwhile: the row is the
            # same whoever asks (the collections' policy knows the tenant only).
            found = await self._items.get(key, functools.partial(self._load, ctx, tenant_id, name))
            if found is None:
                raise NotFound(f"No collection named {name!r}.")
        return found

    async def _load(self, ctx: RequestContext, tenant_id: str, name: str) -> CollectionDef | None:
        # On the primary, as every cache fill: a replica's older definition would outlive
        # the invalidation that has just passed.
        async with self._db.transaction(ctx, tenant_id=tenant_id, read_only=True, primary=True) as tx:
            return await find_collection(tx, name)

    @property
    def ttl_seconds(self) -> float:
        return self._items.ttl_seconds

    def put(self, coll: CollectionDef) -> None:
        self._items.put((coll.tenant_id, coll.name), coll)


async def find_collection(tx: Tx, name: str, *, for_update: bool = False) -> CollectionDef | None:
    lock = " FOR UPDATE" if for_update else ""
    rec = await tx.conn.fetchrow(
        f"SELECT {_COLUMNS} FROM collections WHERE tenant_id = $1 AND name = $2{lock}",
        tx.tenant_id,
        name,
    )
    return None if rec is None else _from_row(str(tx.tenant_id), rec)


async def get_collection(tx: Tx, name: str, *, for_update: bool = False) -> CollectionDef:
    found = await find_collection(tx, name, for_update=for_update)
    if found is None:
        raise NotFound(f"No collection named {name!r}.")
    return found


async def list_collections(tx: Tx, *, limit: int, cursor: str | None) -> Page[CollectionDef]:
    return await keyset_page(
        tx.conn,
        select=f"SELECT {_COLUMNS} FROM collections",
        where=["tenant_id = $1"],
        args=[tx.tenant_id],
        key="name",
        cursor=cursor,
        limit=limit,
        build=lambda r: _from_row(str(tx.tenant_id), r),
        key_of=lambda coll: coll.name,
    )


async def create_collection(tx: Tx, body: dict[str, Any]) -> CollectionDef:
    compile_schema(body["schema"])
    _check_paths(body)
    now = utcnow()
    try:
        rec = await tx.conn.fetchrow(
            "INSERT INTO collections (tenant_id, name, id, schema, indexes, personal_fields,"
            " subject_field, retention_days, purpose, legal_basis, on_erasure, version,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb,"
            f" $7, $8, $9, $10, $11, 1, $12, $12) RETURNING {_COLUMNS}",
            tx.tenant_id,
            body["name"],
            new_id("col"),
            json_text(body["schema"]),
            json_text(body.get("indexes") or []),
            json_text(body.get("personal_fields") or []),
            body.get("subject_field"),
            body.get("retention_days"),
            body.get("purpose"),
            body.get("legal_basis"),
            body.get("on_erasure") or "delete",
            now,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"A collection named {body['name']!r} already exists.") from exc
    tx.emit("collection.created", "collection", body["name"])
    return _from_row(str(tx.tenant_id), rec)


_REQUIRED = ("schema", "indexes", "personal_fields", "on_erasure")
_PATCHABLE = (
    "schema",
    "indexes",
    "personal_fields",
    "subject_field",
    "retention_days",
    "purpose",
    "legal_basis",
    "on_erasure",
)


async def update_collection(tx: Tx, name: str, patch: dict[str, Any]) -> CollectionDef:
    """Apply a merge patch. A schema that existing records fail is refused with 409.

    The collection row is locked FOR UPDATE first: record writes hold FOR KEY SHARE on it
    and re-check the schema version, so no record validated against the old schema can
    commit after the check below has passed.
    """
    current = await get_collection(tx, name, for_update=True)
    # The patch applies to the collection as a client reads it (a copy: the cache keeps `current`).
    before: dict[str, Any] = msgspec.to_builtins(shape(Collection, current))
    merged = merge_patch(before, patch)
    refuse_removal({k: merged.get(k) for k in _REQUIRED}, _REQUIRED)
    if not isinstance(merged["schema"], dict):
        raise ValidationFailed("schema must be an object.", errors=[FieldError("/schema", "not an object")])
    validator = compile_schema(merged["schema"])
    _check_paths(merged, before)
    if merged["schema"] != current.schema:
        offenders = await _records_failing(tx, name, validator)
        if offenders:
            raise Conflict(
                f"{len(offenders)} existing record(s) do not match the new schema"
                f"{' (first 10)' if len(offenders) >= MAX_SCHEMA_CHECK_ERRORS else ''}: "
                + ", ".join(offenders),
                type=T.SCHEMA_CONFLICT,
                title="Schema conflicts with existing records",
                extra={"record_ids": offenders},
            )
    rec = await tx.conn.fetchrow(
        "UPDATE collections SET schema = $3::jsonb, indexes = $4::jsonb,"
        " personal_fields = $5::jsonb, subject_field = $6, retention_days = $7, purpose = $8,"
        " legal_basis = $9, on_erasure = $10, version = version + 1, updated_at = $11"
        f" WHERE tenant_id = $1 AND name = $2 RETURNING {_COLUMNS}",
        tx.tenant_id,
        name,
        json_text(merged["schema"]),
        json_text(merged["indexes"]),
        json_text(merged["personal_fields"]),
        merged.get("subject_field"),
        merged.get("retention_days"),
        merged.get("purpose"),
        merged.get("legal_basis"),
        merged["on_erasure"],
        utcnow(),
    )
    if merged["indexes"] != current.indexes:
        # The collection row is locked, so no record write interleaves: every record
        # gets the slots of the new declaration in this transaction.
        await tx.conn.execute(
            f"UPDATE records SET {_slots.assignments_sql('data', '$3::jsonb')}"
            " WHERE tenant_id = $1 AND collection = $2",
            tx.tenant_id,
            name,
            json_text(merged["indexes"]),
        )
    changed = sorted(k for k in _PATCHABLE if merged.get(k) != before.get(k))
    tx.emit("collection.updated", "collection", name, changed=changed)
    tx.invalidate(f"collection:{tx.tenant_id}:{name}")
    return _from_row(str(tx.tenant_id), rec)


async def _records_failing(tx: Tx, name: str, validator: Validator) -> list[str]:
    offenders: list[str] = []
    async for row in tx.conn.cursor(
        "SELECT id, data::text AS data FROM records WHERE tenant_id = $1 AND collection = $2 ORDER BY id",
        tx.tenant_id,
        name,
        prefetch=500,
    ):
        try:
            ok = validator.is_valid(orjson.loads(row["data"]))
        except Exception:
            ok = False
        if not ok:
            offenders.append(row["id"])
            if len(offenders) >= MAX_SCHEMA_CHECK_ERRORS:
                break
    return offenders


async def delete_collection(tx: Tx, name: str) -> None:
    await get_collection(tx, name, for_update=True)
    await tx.conn.execute("DELETE FROM collections WHERE tenant_id = $1 AND name = $2", tx.tenant_id, name)
    tx.emit("collection.deleted", "collection", name)
    tx.invalidate(f"collection:{tx.tenant_id}:{name}")
