"""Named steps of the write paths, where a test stops the process as if the worker died there.

Where it sits: ``engine.runtime``; the reconciler (:mod:`engine.sync.reconciler`), the executor
(:mod:`engine.sync.apply`), the organizer transfer (:mod:`engine.lifecycle.transfer`) and the mode switch
(:mod:`engine.delegation.mode_switch`) call :func:`reached` between their steps: after observing Google, after
the write-ahead intent, after each Google write, after recording. In production no hook is installed and
:func:`reached` returns at once. The step-by-step proof (``tests/integration/lifecycle/test_write_matrix.py``)
installs one that records the steps a write path takes, then one that raises :class:`WorkerDied` at each step in
turn: a ``BaseException``, so no ``except Exception`` of the code under test catches it and nothing after that
step runs or commits, exactly as when the process is killed there.
"""

from __future__ import annotations

from collections.abc import Callable

#: Called with the step's name each time a write path reaches it (None: nothing installed).
StepHook = Callable[[str], None]

_hook: StepHook | None = None


class WorkerDied(BaseException):
    """Raised by a test's hook at a step: the process stops there (nothing after it runs)."""


def install(hook: StepHook | None) -> None:
    """Install ``hook`` for this process (None removes it)."""
    global _hook
    _hook = hook


def reached(step: str) -> None:
    """A write path reached ``step`` (see the module docstring)."""
    hook = _hook
    if hook is not None:
        hook(step)
