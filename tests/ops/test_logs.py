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
