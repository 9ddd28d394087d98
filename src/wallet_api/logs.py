"""Log lines for every process of the service: one JSON object per line, or a human-readable
line on a terminal; both carry the trace id of the request while tracing is on."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

# What every LogRecord has; anything else on a record was passed as `extra=` and is logged.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's colored copy of the message
}


# Set by tracing.py in a process that traces: only then is there a span to ask for.
_trace_ids = False


def include_trace_ids() -> None:
    global _trace_ids
    _trace_ids = True


def _fields(record: logging.LogRecord, taken: dict[str, Any]) -> dict[str, Any]:
    """The record's own fields (its `extra=`), then the trace and span ids of the current span."""
    fields = {
        name: value
        for name, value in record.__dict__.items()
        if name not in _RECORD_ATTRIBUTES and name not in taken
    }
    if _trace_ids:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            fields["trace_id"] = format(context.trace_id, "032x")
            fields["span_id"] = format(context.span_id, "016x")
    return fields


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, then the record's extra fields, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record, line))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`12:00:01.234 INFO  wallet_api.access: request method=POST status=200 ...`, for people."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields(record, {})
        if fields:
            line += " " + " ".join(f"{name}={value}" for name, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# The loggers whose lines may wait for the end of the event loop's turn: one per request.
BATCHED_LOGGERS = ("wallet_api.access",)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each line, not as it was when logging was configured:
    a stream swapped since then (a test's capture) may be closed by the time a line comes.

    In an event loop, the access lines of one turn of the loop (one per response it sent) leave
    together at the end of the turn: one write instead of one per line. Any other line goes at
    once, after those still waiting: a worker may end (multiprocessing's os._exit, no atexit)
    right after its last words."""

    def __init__(self, batched: tuple[str, ...] = BATCHED_LOGGERS) -> None:
        super().__init__()
        self._batched = frozenset(batched)
        self._pending: list[str] = []

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if record.name not in self._batched:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if len(self._pending) == 1:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._pending:
                lines, self._pending = "".join(self._pending), []
                self.stream.write(lines)
            self.stream.flush()


def skip_unused_record_fields() -> None:
    """The JSON lines carry no thread, process or source location: not computing them makes
    every record, one per request, cheaper (the logging module's documented switches)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


def resolve_format(log_format: str) -> str:
    """`auto` decided now, once, in the process that owns the terminal: its workers' stderr is
    the same, but they must not each decide (uvicorn hands them this config as it is)."""
    if log_format == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return log_format


def logging_config(level: str, log_format: str = "json") -> dict[str, Any]:
    """A dictConfig for the command, and for uvicorn's `log_config`, which applies it again in
    each worker process: every logger, uvicorn's included, writes its lines to stderr."""
    formatter = {"json": JsonFormatter, "text": TextFormatter}[resolve_format(log_format)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lines": {"()": f"wallet_api.logs.{formatter.__name__}"}},
        "handlers": {"stderr": {"class": "wallet_api.logs.StderrHandler", "formatter": "lines"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
