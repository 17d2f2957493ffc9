"""JSON logs: one object per line, with the request id and trace id of the request.

The access log is an edge observer that writes one line per request with what an
operator needs (request id, trace id, client address, tenant, method, route template,
status, times, bytes) and nothing a client sent: no headers, no query string (a filter may hold an
e-mail address), no body. Keys never appear: they live only in the Authorization header.

Access lines are written in batches, as nginx's ``access_log ... buffer= flush=`` does: a
write and flush per request cost about a tenth of a GET-by-id's throughput on this
project's machine (docs/benchmarks.md). A batch goes out at 64 KiB or 0.1 s after its first
line, and when the process exits; a process killed outright loses at most that 0.1 s.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from fundament.platform import Exchange, current_exchange

access_log = logging.getLogger("fundament.access")

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# uvicorn repeats each message with ANSI colour codes for its own terminal formatter;
# in JSON it is noise (and escape sequences in a log viewer).
_DROPPED = _STANDARD | {"color_message"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        exchange = current_exchange.get()
        if exchange is not None:
            out["request_id"] = exchange.request_id
            if exchange.trace_id:
                out["trace_id"] = exchange.trace_id
        for key, value in record.__dict__.items():
            if key not in _DROPPED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def log_request(exchange: Exchange) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "request_id": exchange.request_id,
        "method": exchange.method,
        "route": exchange.route or "(unmatched)",
        "status": exchange.status,
        "duration_ms": round(exchange.duration * 1000, 3),
        "db_ms": round(exchange.db_seconds * 1000, 3),
        "bytes_in": exchange.bytes_in,
        "bytes_out": exchange.bytes_out,
    }
    if exchange.client:
        fields["client"] = exchange.client
    if exchange.tenant_id:
        fields["tenant"] = exchange.tenant_id
    if exchange.trace_id:
        fields["trace_id"] = exchange.trace_id
    handler = _json_stream_only(access_log)
    if handler is not None:
        # What the handler would write, without a LogRecord: in a request, building the
        # record, formatting it and the handler's calls cost ~40 µs of CPU (cold caches),
        # a ninth of a GET-by-id; this line costs a fifth of that (bench/hooks.py).
        line = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": access_log.name,
            "msg": "request",
            **fields,
        }
        _batch.add(handler, orjson.dumps(line, default=str).decode() + handler.terminator)
        return
    record = access_log.makeRecord(access_log.name, logging.INFO, "", 0, "request", (), None, extra=fields)
    access_log.handle(record)


class _Batch:
    """Access lines not yet written, for one handler (the stream's)."""

    FLUSH_BYTES = 64 * 1024
    FLUSH_SECONDS = 0.1

    def __init__(self) -> None:
        self._handler: logging.StreamHandler[Any] | None = None
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, handler: logging.StreamHandler[Any], text: str) -> None:
        if handler is not self._handler:
            self.flush()
            self._handler = handler
        self._lines.append(text)
        self._size += len(text)
        if self._size >= self.FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to flush later: written now
                self.flush()
                return
            self._timer = loop.call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        handler = self._handler
        if not self._lines or handler is None:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(text)
            handler.stream.flush()


_batch = _Batch()
atexit.register(_batch.flush)


def flush_access_log() -> None:
    """Write the access lines not written yet (the server's shutdown calls it)."""
    _batch.flush()


def _json_stream_only(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The one handler a record of ``logger`` reaches, if it is a stream of JSON lines
    (`fundament serve`'s logging) that no filter stands before; else None, and the record
    goes through logging (tests' capturing handlers, an operator's own configuration)."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        found.extend(current.handlers)
        current = current.parent if current.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if (
        type(handler) is not logging.StreamHandler
        or type(handler.formatter) is not JSONFormatter
        or handler.filters
        or handler.level > logging.INFO
    ):
        return None
    return handler
