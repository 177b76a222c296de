"""Log formats and levels, for podsift's loggers and gunicorn's."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re

import pytest

from extender import logs
from extender.model.errors import ConfigError


class Redirect(io.StringIO):
    """Collects what the configured handlers write (they are pointed here after configuring)."""


@pytest.fixture
def captured():
    """An in-memory stream the handlers are redirected to; restores the root logger afterwards."""
    stream = Redirect()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield stream
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])


def redirect(stream: io.StringIO) -> None:
    for name in ("", "gunicorn.error", "gunicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)


def test_json_lines_carry_time_level_logger_message_and_extras(captured):
    logs.configure("info", "json")
    redirect(captured)
    logging.getLogger("extender.cache.state").info("synced %d nodes", 12, extra={"pods": 40})
    entry = json.loads(captured.getvalue().strip())
    assert entry["level"] == "info"
    assert entry["logger"] == "extender.cache.state"
    assert entry["message"] == "synced 12 nodes"
    assert entry["pods"] == 40
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_json_exception_stays_on_one_line(captured):
    logs.configure("info", "json")
    redirect(captured)
    try:
        raise ValueError("bad quantity")
    except ValueError:
        logging.getLogger("x").exception("request failed")
    lines = captured.getvalue().strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert "ValueError: bad quantity" in entry["exception"]


def test_json_extra_values_that_are_not_json_are_stringified(captured):
    logs.configure("info", "json")
    redirect(captured)
    logging.getLogger("x").info("object", extra={"thing": object()})
    assert json.loads(captured.getvalue())["thing"].startswith("<object object")


def test_level_filters_lines(captured):
    logs.configure("warning", "text")
    redirect(captured)
    log = logging.getLogger("extender.wire.app")
    log.info("hidden")
    log.warning("shown %s", "here", extra={"verb": "filter"})
    out = captured.getvalue()
    assert "hidden" not in out
    assert "WARNING extender.wire.app: shown here verb=filter" in out


def test_gunicorn_error_logger_uses_the_same_format_and_access_log_is_silent(captured):
    logging.config.dictConfig(logs.gunicorn_logconfig("info", "json"))
    redirect(captured)
    logging.getLogger("gunicorn.error").info("Booting worker with pid: 7")
    logging.getLogger("gunicorn.access").info('"POST /filter HTTP/1.1" 200')
    lines = captured.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["logger"] == "gunicorn.error"


def test_logconfig_names_every_section_gunicorn_replaces():
    config = logs.gunicorn_logconfig("debug", "text")
    assert {"formatters", "handlers", "root", "loggers"} <= set(config)
    assert config["root"]["level"] == "DEBUG"
    assert config["loggers"]["gunicorn.error"]["level"] == "DEBUG"


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "text"), ("info", "xml")])
def test_invalid_level_or_format_is_a_config_error(level, fmt):
    with pytest.raises(ConfigError):
        logs.configure(level, fmt)
