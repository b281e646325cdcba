"""Recurrence lines a platform may send for a session: the REST API's view of the calendar port's rule.

Where it sits: :mod:`engine.api.schemas` calls :func:`check_recurrence_line` on every ``recurrence`` line
of a session PUT. The checks themselves live in :mod:`connectors.ports.recurrence`, shared with the
Google emulator so Muster and the emulated Google agree on what is valid (both read rules with
python-dateutil's RFC 5545 parser). Muster's one product rule on top: a session repeats at most daily
(``HOURLY`` and finer are refused, with the reason named).

Not done here: expanding rules into instances (Google does that; the session's time zone keeps the local
wall-clock time across clock changes).
"""

from __future__ import annotations

from connectors.ports.recurrence import FREQS, LINE_KINDS, SUB_DAILY_FREQS, RecurrenceSyntaxError
from connectors.ports.recurrence import check_recurrence_line as _check_line


def check_recurrence_line(line: str) -> str:
    """Return ``line`` if Muster accepts it as a session's recurrence line, else raise
    :class:`RecurrenceSyntaxError` naming the part and what is expected."""
    return _check_line(line, sub_daily=False)


__all__ = ["FREQS", "LINE_KINDS", "SUB_DAILY_FREQS", "RecurrenceSyntaxError", "check_recurrence_line"]
