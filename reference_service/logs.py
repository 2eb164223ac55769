"""Structured JSON logs: one line per event on stderr.

Log lines are built from fixed event names and typed fields the code chooses. Request bodies are
never logged, so a PAN cannot reach a log line through them; uvicorn's own access log (which prints
paths and client addresses in free text) is replaced by our optional ``--access-log`` event.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "log_event"]

LOGGER_NAME = "reference_service"
_logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ts, level, logger, event and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            # Type and message only: a traceback's locals could carry request data.
            doc["error_type"] = record.exc_info[0].__name__
        return orjson.dumps(doc, default=str).decode("utf-8")


def configure_logging(level: str) -> None:
    """Route our and uvicorn's loggers to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    lvl = getattr(logging, level.upper(), logging.INFO)
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(lvl)
        lg.propagate = False
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.disabled = True


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with typed fields (callers pass no request-controlled free text)."""
    if _logger.isEnabledFor(level):
        _logger.log(level, event, extra={"fields": fields})
