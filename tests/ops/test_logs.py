"""JSON log lines: what uvicorn adds for terminals stays out."""

from __future__ import annotations

import json
import logging

from fundament.ops import JSONFormatter


def test_uvicorn_color_message_is_dropped() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "levelname": "INFO",
            "msg": "Started server process [%d]",
            "args": (42,),
            # what uvicorn passes as `extra` for its coloured terminal formatter
            "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
            "tenant": "tnt_x",
        }
    )
    line = JSONFormatter().format(record)
    out = json.loads(line)
    assert out["msg"] == "Started server process [42]"
    assert "color_message" not in out and "\x1b" not in line and "\\u001b" not in line
    assert out["tenant"] == "tnt_x"  # other extras stay


def test_the_access_line_is_the_same_written_directly_or_through_logging() -> None:
    """With `fundament serve`'s logging (one JSON stream handler) the access line is written
    without a LogRecord; any other configuration gets the record. Both lines agree."""
    import io
    import time

    from fundament.ops import log_request
    from fundament.platform import Exchange

    exchange = Exchange("GET", "/v1/x", "req_1", time.perf_counter())
    exchange.status, exchange.route, exchange.duration = 200, "/v1/{x}", 0.0012
    exchange.tenant_id, exchange.client, exchange.trace_id = "tnt_x", "127.0.0.1", "a" * 32
    logger = logging.getLogger("fundament.access")
    saved = logger.handlers[:], logger.propagate, logger.level
    try:
        lines = []
        for extra_handler in (False, True):
            direct = io.StringIO()
            handler = logging.StreamHandler(direct)
            handler.setFormatter(JSONFormatter())
            logger.handlers = [handler]
            logger.propagate = False
            logger.setLevel(logging.INFO)
            captured: list[logging.LogRecord] = []
            if extra_handler:  # a second handler: the record path
                spy = logging.Handler()
                spy.emit = captured.append  # type: ignore[method-assign]
                logger.addHandler(spy)
            log_request(exchange)
            assert bool(captured) == extra_handler
            lines.append(json.loads(direct.getvalue()))
        direct_line, record_line = lines
        assert direct_line.pop("ts") and record_line.pop("ts")
        assert direct_line == record_line
        assert direct_line["route"] == "/v1/{x}" and direct_line["tenant"] == "tnt_x"
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


async def test_access_lines_go_out_in_batches_and_none_is_kept_back() -> None:
    """Inside a running server (a loop) lines wait for their batch, at most 0.1 s, and
    the shutdown's flush writes what is left."""
    import asyncio
    import io
    import time

    from fundament.ops import flush_access_log, log_request
    from fundament.platform import Exchange

    logger = logging.getLogger("fundament.access")
    saved = logger.handlers[:], logger.propagate, logger.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    try:
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
        exchange = Exchange("GET", "/v1/x", "req_1", time.perf_counter())
        exchange.status, exchange.route = 200, "/v1/{x}"
        for _ in range(3):
            log_request(exchange)
        assert stream.getvalue() == ""  # batched
        await asyncio.sleep(0.2)
        assert len(stream.getvalue().splitlines()) == 3
        log_request(exchange)
        flush_access_log()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert len(lines) == 4 and all(line["route"] == "/v1/{x}" for line in lines)
    finally:
        flush_access_log()
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
