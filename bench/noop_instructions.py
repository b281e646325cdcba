"""Instructions of one no-op reconcile, counted by valgrind's callgrind (a figure no machine load changes).

Where it sits: ``bench/``; started by ``bench/sync.py`` (``noop_reconcile_cost``) as a child process under
``valgrind --tool=callgrind --instr-atstart=no``, with the environment of a ``muster worker`` of the benchmark
(its database, Redis namespace and the emulator's URL: the emulator stays in the parent process, so its work
is not counted, nor PostgreSQL's or Redis'). The child builds the runtime the way a worker does, reconciles
a few sessions to warm up (clients built, credentials fetched, statements prepared), then switches
callgrind's instrumentation on (``callgrind_control -i on``), runs the reconciles named on its command line
as the drift sweep's ``verify_session`` does (the session's lease with its marker, the background lane, the
event read), writes the batched verification times, and switches it off. An empty window (on, off) is
counted first and dumped to a file of its own; the parent subtracts it and divides what is left by the
number of reconciles: every thread of the child is counted (the lease's
renewal thread included), the interpreter's own work too, which is what one reconcile costs the worker.

Run by hand (the parent passes the same)::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=out .venv/bin/python \\
        bench/noop_instructions.py --warm-up ID ... --measure ID ...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runtime import locks, ratelimit
from engine.runtime.actors import background_key
from engine.runtime.wiring import build_runtime
from engine.settings import load_settings


def callgrind(*command: str) -> None:
    """Tell callgrind about this process (returns once it took effect): ``-i on`` / ``-i off`` switch its
    instrumentation, ``-d`` dumps what was counted so far into a file of its own and starts again from 0."""
    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-up", nargs="+", default=[], help="session ids reconciled before counting")
    parser.add_argument("--measure", nargs="+", required=True, help="session ids reconciled while counting")
    args = parser.parse_args()
    runtime = build_runtime(load_settings(dict(os.environ)))

    def one(sid: str) -> None:  # as the sweep's verify_session actor runs it (bench/sync.py does the same)
        with ratelimit.background(), locks.held(
            runtime.lock, sid, 60.0, clearing=runtime.debouncer, marker=background_key(sid)
        ) as lease:
            if lease is None:
                raise SystemExit(f"session {sid} is locked by someone else")
            result = runtime.reconciler.reconcile(uuid.UUID(sid), verify=True)
            if result.writes:
                raise SystemExit(f"session {sid} was not in step with Google: {result}")

    for sid in args.warm_up:
        one(sid)
    runtime.reconciler.flush_verified()
    # an empty window first, dumped apart: what switching on and off costs, which the parent subtracts
    callgrind("-i", "on")
    callgrind("-i", "off")
    callgrind("-d")
    callgrind("-i", "on")
    for sid in args.measure:
        one(sid)
    runtime.reconciler.flush_verified()
    callgrind("-i", "off")


if __name__ == "__main__":
    main()
