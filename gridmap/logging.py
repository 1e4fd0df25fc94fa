"""Structured logs: one JSON object per line, for LOG_FORMAT=json (scripts/serve.sh).

Every record carries ts (UTC, ISO 8601), level, logger, msg, pid and, when present, the
exception text and any ``extra={...}`` fields. Gunicorn's access records are turned into
fields (method, path, status, bytes, duration_ms, remote, agent) rather than one string,
so that a log shipper can count 5xx or slow requests without parsing.
"""

import datetime
import json
import logging

# Attributes every LogRecord has; anything else on a record came from extra={...}.
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()) | {
    "message",
    "asctime",
    "taskName",
}

# Gunicorn access-log atoms (gunicorn.glogging.Logger.atoms) worth keeping, by field name.
_ACCESS_ATOMS = {
    "remote": "h",
    "method": "m",
    "path": "U",
    "query": "q",
    "status": "s",
    "bytes": "B",
    "agent": "a",
    "duration_ms": "M",
}


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """Format a log record as one line of JSON."""

    def format(self, record):
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            entry["msg"] = "request"
            for field, atom in _ACCESS_ATOMS.items():
                value = atoms.get(atom)
                if value in (None, "-", ""):
                    continue
                if field in ("status", "bytes", "duration_ms"):
                    try:
                        value = int(value)
                    except (TypeError, ValueError):
                        pass
                entry[field] = value
        else:
            entry["msg"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
