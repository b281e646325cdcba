"""Writes that may lag a little, made in the background in batches instead of once per reconcile.

Where it sits: under :mod:`engine.runtime.metrics` (each Google call's per-identity figures, written to
Redis) and :mod:`engine.sync.reconciler` (the verification time of sessions found unchanged, written to
the database). Each owner keeps what is due in memory and calls :meth:`Flusher.poke`; one daemon thread
per flusher then calls ``flush()`` about every ``every_s`` seconds while there is something to write, and
once more when the process exits (``atexit``). A failing flush is logged and tried again next time; it
never reaches the reconcile that noted the value.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Flusher:
    """Calls ``flush`` in the background about every ``every_s`` seconds after :meth:`poke`."""

    def __init__(self, flush: Callable[[], None], *, every_s: float, name: str) -> None:
        self._flush = flush
        self.every_s = every_s
        self._name = name
        self._due = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Something was noted: make sure it is written within about ``every_s`` seconds."""
        self._due.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
                    atexit.register(self.flush_now)

    def flush_now(self) -> None:
        """Write what is noted now (a worker stopping, a benchmark reading the figures)."""
        try:
            self._flush()
        except Exception as exc:  # tried again at the next period
            log.warning("%s: could not write: %s", self._name, str(exc).splitlines()[0] if str(exc) else exc)

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.every_s)  # let a batch gather
            self._due.clear()
            self.flush_now()
