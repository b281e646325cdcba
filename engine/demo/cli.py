"""How the demo sets tenants and people up: through the ``muster`` command line, as a customer types it.

Where it sits: below the demo's set-up steps (:func:`engine.demo.main.ensure_demo_tenant`,
:func:`engine.demo.delegation.delegation_tenant`, :func:`engine.demo.accounts.ui_accounts`). Each call runs
one ``muster`` command in a child process of this Python, with the demo's own ``MUSTER_*`` environment
(its SQLite file, its var folder, the emulator) and nothing else of the caller's, so what the demo does is
exactly what the README's walkthroughs do, with the same validation, audit entries and after-commit
queueing. A command that fails stops the demo with its own one-line message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from sqlmodel import Session

from engine.demo.context import DemoError
from engine.ingest.tenants import get_tenant

if TYPE_CHECKING:
    from engine.demo.context import DemoContext

#: How long one command may take (a cold start of the interpreter on a loaded machine is a few seconds).
TIMEOUT_S = 120


def muster(ctx: DemoContext, *args: str, stdin: str | None = None) -> str:
    """Run ``muster ARGS...`` with the demo's environment; return its standard output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env.update(ctx.cli_env)
    command = [sys.executable, "-c", "from engine.cli.main import main; main()", *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DemoError(f"`muster {' '.join(args[:3])} ...` did not run: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise DemoError(f"`muster {' '.join(args[:3])} ...` failed: {said[-1] if said else done.returncode}")
    return done.stdout


def last_line(output: str) -> str:
    """The last printed line (where ``tenant create`` and ``tenant key`` print the key)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise DemoError("a muster command printed nothing where a key was expected")
    return lines[-1]


def tenant_exists(ctx: DemoContext, slug: str) -> bool:
    """Whether an earlier run created ``slug`` (a read: every write goes through the CLI)."""
    with Session(ctx.db_engine) as db:
        return get_tenant(db=db, slug=slug) is not None
