"""Structured logs: one context per unit of work, carried to every line, as JSON or text, with secrets redacted.

Where it sits: every entry point calls :func:`configure` once (``muster`` commands, ``muster worker`` processes,
``muster serve`` with uvicorn's own loggers routed here). The ``reconcile_session`` actor opens
:func:`bind` with a fresh ``reconcile_id`` and the ``session``; the reconciler adds the ``tenant``; each
Google call is logged with its ``op``, ``outcome`` and ``google_identity``
(:func:`engine.runtime.wiring.observe_call`). A :class:`contextvars.ContextVar` carries the context,
so every line logged inside the block, by any module, carries the same fields.

Formats (``MUSTER_LOG_FORMAT``): ``text`` (the default; readable in a terminal, context appended as
``key=value``) or ``json`` (one object per line: ``ts``, ``level``, ``logger``, ``message``, the context
fields ``reconcile_id``, ``tenant``, ``session``, ``google_identity``, ``op``, ``outcome`` when set, and
``exception``). Both pass through :func:`redact`: bearer and OAuth tokens, Muster API keys, private keys,
passwords and secrets in ``key=value`` or JSON form, and passwords in URLs are replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

#: The context fields, in the order JSON lines show them.
FIELDS = ("reconcile_id", "tenant", "session", "google_identity", "op", "outcome")

_context: ContextVar[dict[str, str]] = ContextVar("muster_log_context", default={})  # noqa: B039 (never mutated)

#: What :func:`redact` replaces (each pattern keeps its first group and masks the rest).
_SECRET_PATTERNS = (
    # Authorization headers and bare bearer tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # Muster API keys: mk_<prefix>_<secret>
    re.compile(r"(mk_[A-Za-z0-9]+_)[A-Za-z0-9_-]+"),
    # Google OAuth access tokens and refresh tokens as they look on the wire
    re.compile(r"(ya29\.)[A-Za-z0-9._-]+"),
    re.compile(r"(1//)[A-Za-z0-9._-]{10,}"),
    # key=value, key: value and "key": "value" for secret-looking keys
    re.compile(
        r"""(?ix)
        ((?:access_token|refresh_token|id_token|client_secret|private_key(?:_id)?|password|passwd|secret(?:_key)?
            |api_key|assertion|token|code)
         ["']?\s*[:=]\s*["']?)
        [^"'\s,&}]+"""
    ),
    # passwords in URLs: scheme://user:password@host
    re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)"),
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
MASK = "***"


def redact(text: str) -> str:
    """``text`` with tokens, keys and passwords masked (see the module docstring)."""
    text = _PEM.sub("-----PRIVATE KEY " + MASK + "-----", text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def new_reconcile_id() -> str:
    return uuid.uuid4().hex[:16]


def context() -> dict[str, str]:
    return dict(_context.get())


@contextlib.contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Add ``fields`` (``None`` values are skipped) to the context of every line logged inside the block."""
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, str]:
    out = dict(_context.get())
    for name in FIELDS:  # ``extra={"op": ...}`` on one call wins over the context
        value = record.__dict__.get(name)
        if value is not None:
            out[name] = str(value)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),  # before JSON escaping hides the quotes redact looks for
        }
        fields = _fields(record)
        line.update({k: fields[k] for k in FIELDS if k in fields})
        line["pid"] = record.process
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if fields:
            text += " [" + " ".join(f"{k}={fields[k]}" for k in FIELDS if k in fields) + "]"
        return redact(text)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


#: Marks the handler :func:`configure` installed (so a second call replaces it rather than adding one).
_HANDLER_NAME = "muster"


def configure(fmt: str = "text", level: int = logging.WARNING, stream: TextIO | None = None) -> None:
    """Route every logger (uvicorn's and dramatiq's included) to one stderr handler in ``fmt``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
