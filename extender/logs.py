"""Logging setup: human-readable text or one JSON object per line, one level flag.

The same configuration is applied to podsift's own loggers and to gunicorn's
error logger (through `gunicorn_logconfig`, gunicorn's `logconfig_dict`), so a
log collector sees one format. Gunicorn's access log stays off: a line per
request would cost more than answering a cached filter call, and the request
metrics already count every request. Only events worth a line are logged at
INFO (start, sync, relist, configuration, bind failures).
"""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any

import orjson

from extender.model.errors import ConfigError

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _timestamp(record: logging.LogRecord) -> str:
    """RFC 3339 UTC time with milliseconds, e.g. 2026-11-26T10:25:04.123Z."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _check(level: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--log-format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if level.lower() not in LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level.upper()


def gunicorn_logconfig(level: str, fmt: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, usable as gunicorn's `logconfig_dict`.

    Gunicorn replaces its defaults key by key with this dict, so it names every
    section: the root logger (podsift's own), `gunicorn.error` and a silent
    `gunicorn.access`.
    """
    upper = _check(level, fmt)
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"podsift": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "podsift",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": upper, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": upper, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def configure(level: str = "info", fmt: str = "text") -> None:
    """Apply the level and format to this process (podsift's loggers and gunicorn's)."""
    logging.config.dictConfig(gunicorn_logconfig(level, fmt))
