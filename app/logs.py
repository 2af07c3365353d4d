"""Where and how keyraft logs: etcd's --logger, --log-outputs and --log-level, plus
--log-format (etcd 3.5's flag; `text` or `json`).

With `--logger zap` (or `--log-format json`) every record is one JSON line as zap writes
etcd's: level, ts (ISO 8601, UTC, milliseconds), caller (file:line), msg, and a
stacktrace when an exception is logged. Outputs: `default`/`stderr`, `stdout`, or file
paths (appended to), comma-separated as etcd takes them.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys

import orjson

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_ZAP_LEVELS = {"WARNING": "warn", "CRITICAL": "fatal"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ZapJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        path = record.pathname
        if path.startswith(_PACKAGE_ROOT):
            path = os.path.relpath(path, _PACKAGE_ROOT)
        line = {
            "level": _ZAP_LEVELS.get(record.levelname, record.levelname.lower()),
            "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "caller": f"{path}:{record.lineno}",
            "msg": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            line["stacktrace"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class LogConfigError(ValueError):
    pass


def log_format(logger: str, fmt: str) -> str:
    """`json` or `text`: --log-format if given, else json for zap (etcd's structured
    logger) and text for capnslog."""
    if logger not in ("zap", "capnslog"):
        raise LogConfigError(f'--logger: "{logger}" is not "zap" or "capnslog"')
    if fmt not in ("", "json", "text"):
        raise LogConfigError(f'--log-format: "{fmt}" is not "json" or "text"')
    return fmt or ("json" if logger == "zap" else "text")


def handlers(outputs: str) -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for output in (item.strip() for item in outputs.split(",")):
        if output in ("default", "stderr", ""):
            found.append(logging.StreamHandler(sys.stderr))
        elif output == "stdout":
            found.append(logging.StreamHandler(sys.stdout))
        else:
            try:
                found.append(logging.FileHandler(output, encoding="utf-8"))
            except OSError as error:
                raise LogConfigError(f"--log-outputs: cannot open {output}: {error}") from None
    return found


def configure(logger: str, outputs: str, fmt: str, level: str) -> None:
    """Route every logger (uvicorn's too) to the outputs, in the chosen format."""
    formatter: logging.Formatter = (
        ZapJsonFormatter() if log_format(logger, fmt) == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers(outputs):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # Followers forward lease keepalives with httpx; a log line per forward is noise.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, LEVELS[level]))
