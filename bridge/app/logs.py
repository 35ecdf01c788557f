"""The process's logging: one handler on stderr (journald reads it under
systemd), plain lines or one JSON object a line, at the configured level.
Twisted's own log events go through the same handler, so a traceback in a
Deferred is written in the same format as everything else."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from linkdesk.bridge.app.process_config import LogConfig

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has: what is not among them came as `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: at (UTC, ISO 8601), level, logger, message,
    the record's `extra` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k not in line})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(config: LogConfig, stream=None) -> logging.Handler:
    """Replace the root logger's handlers with one on `stream` (stderr) in the
    configured format and level; Twisted's log goes there too."""
    handler = logging.StreamHandler(stream or sys.stderr)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    reconfigure(handler, config)
    _bridge_twisted()
    return handler


def reconfigure(handler: logging.Handler, config: LogConfig) -> None:
    """Apply the level and the format now (at start-up, and again on SIGHUP)."""
    handler.setFormatter(JsonFormatter() if config.format == "json" else logging.Formatter(PLAIN))
    logging.getLogger().setLevel(config.level.upper())


def _bridge_twisted() -> None:
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    # Twisted's per-connection chatter ("Starting factory") is debug, not news.
    logging.getLogger("twisted").setLevel(logging.WARNING)
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
