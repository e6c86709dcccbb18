"""One line format for everything an API writes (runtime, server, predictor output, supervisor).

Text (default):  `2026-12-01 19:29:09,088 INFO mlserve.server [2206] Application startup complete.`
JSON (`MLSERVE_LOG_FORMAT=json`): one object per line with time, level, logger, api, pid,
message and, where known, request_id, status, latency_ms and traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

FORMAT_VARIABLE = "MLSERVE_LOG_FORMAT"
TEXT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
# Third-party logger names shown as mlserve's own, so an API's log reads as one program.
RENAMED = {"uvicorn.error": "mlserve.server", "uvicorn": "mlserve.server", "uvicorn.access": "mlserve.access",
           "py.warnings": "mlserve.warnings"}
_FIELDS = ("request_id", "status", "latency_ms")
_TRACEBACK = "Traceback (most recent call last):"


def json_format() -> bool:
    return os.environ.get(FORMAT_VARIABLE, "").strip().lower() == "json"


class Formatter(logging.Formatter):
    def __init__(self, api: str | None = None, as_json: bool = False) -> None:
        super().__init__(TEXT)
        self.api, self.as_json = api, as_json

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "py.warnings":  # "file:line: Category: text" and the source line: keep the first
            record.msg, record.args = record.getMessage().splitlines()[0], None
        record.name = RENAMED.get(record.name, record.name)
        if not self.as_json:
            return super().format(record).rstrip()  # a traceback's last newline is no log line
        message = record.getMessage().rstrip()
        traceback = self.formatException(record.exc_info) if record.exc_info else None
        if traceback is None and _TRACEBACK in message:  # the runtime logs user tracebacks in the message
            message, _, rest = message.partition(_TRACEBACK)
            message, traceback = message.rstrip(), _TRACEBACK + rest
        return json_line(record.levelname, record.name, message, created=record.created, api=self.api,
                         pid=record.process, traceback=traceback,
                         **{k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})


def json_line(level: str, logger: str, message: str, *, created: float | None = None, **fields) -> str:
    created = time.time() if created is None else created
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
    data = {"time": stamp, "level": level, "logger": logger, "message": message}
    data.update((k, v) for k, v in fields.items() if v is not None)
    return json.dumps(data, ensure_ascii=False)


def note_line(message: str, logger: str = "mlserve.supervisor") -> str:
    """A line written outside `logging` (the local supervisor's notes), in the same format."""
    if json_format():
        return json_line("INFO", logger, message, pid=os.getpid())
    record = logging.LogRecord(logger, logging.INFO, "", 0, message, None, None)
    return Formatter().format(record)


class _LineWriter:
    """sys.stdout for user code: each printed line becomes a log record."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger, self.buffer = logger, ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.logger.info(line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def configure(api: str | None = None) -> None:
    """Access log to stdout, everything else (including user tracebacks) to stderr, all in one
    format; what user code prints becomes `mlserve.predictor` lines; no progress bars."""
    formatter = Formatter(api, json_format())
    err = logging.StreamHandler(sys.__stderr__)
    err.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [err]
    root.setLevel(logging.INFO)
    out = logging.StreamHandler(sys.__stdout__)
    out.setFormatter(formatter)
    access = logging.getLogger("mlserve.access")
    access.handlers[:] = [out]
    access.propagate = False
    logging.captureWarnings(True)
    sys.stdout = _LineWriter(logging.getLogger("mlserve.predictor"))
    # Progress bars are terminal animations; in a log they are noise.
    for variable in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(variable, "1")
