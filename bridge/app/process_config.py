"""The process's own settings: `[service]` (how it stops) and `[log]` (what
it writes, and how). Read by the one loader (config.py); typed and checked
here so that a bad value stops start-up, or a reload, with its name."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("plain", "json")


class ProcessConfigError(ValueError):
    """A [service] or [log] setting is wrong; the message names it."""


@dataclass(frozen=True)
class ServiceConfig:
    drain_seconds: float = 10.0     # SIGTERM: at most this long for what is in flight to finish


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "plain"           # "plain" lines, or "json": one object a line


def service_config(table: object) -> ServiceConfig:
    """[service]: `drain_seconds`, 0–300."""
    fields = _table(table, "service", {"drain_seconds"})
    seconds = fields.get("drain_seconds", ServiceConfig.drain_seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 300:
        raise ProcessConfigError(f"service.drain_seconds: seconds from 0 to 300, got {seconds!r}")
    return ServiceConfig(drain_seconds=float(seconds))


def log_config(table: object) -> LogConfig:
    """[log]: `level` (debug, info, warning, error) and `format` (plain, json)."""
    fields = _table(table, "log", {"level", "format"})
    level, form = fields.get("level", LogConfig.level), fields.get("format", LogConfig.format)
    if level not in LEVELS:
        raise ProcessConfigError(f"log.level: one of {', '.join(LEVELS)}, got {level!r}")
    if form not in FORMATS:
        raise ProcessConfigError(f"log.format: one of {', '.join(FORMATS)}, got {form!r}")
    return LogConfig(level=level, format=form)


def _table(table: object, where: str, known: set[str]) -> dict:
    if not isinstance(table, dict):
        raise ProcessConfigError(f"{where}: expected a table, got {table!r}")
    unknown = set(table) - known
    if unknown:
        raise ProcessConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    return table
