"""Two-way sync benchmark driver: runs the scenario modules ``bench/twoway_*.py`` and prints their figures.

Where it sits: ``bench/``; run with ``.venv/bin/python bench/twoway.py [--only NAME ...]`` (PostgreSQL on
127.0.0.1:5432 and Redis on 127.0.0.1:6379 like the test suite, or ``MUSTER_TEST_POSTGRES_URL`` /
``MUSTER_TEST_REDIS_URL``). One private database, one Redis namespace, the emulator in this process and two
``muster worker`` processes (the :class:`bench.sync.Bench` harness); quotas at Google's values (600 requests
per minute per user, on Muster and on the emulator alike).

Each figure is one line ``name: value (goal …)``. A scenario module is a thin file that defines
``run(bench, args) -> Iterable[str]`` (or ``figures``: the lines it prints) and optionally
``add_arguments(parser)``; the
driver finds every ``bench/twoway_*.py`` and runs them in name order (``--only calls`` runs
``twoway_calls.py`` alone). Scenarios share the harness but create their own tenants.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sync as harness  # noqa: E402  (bench/sync.py: the Bench harness, the private database)


def scenarios() -> list[tuple[str, ModuleType]]:
    out = []
    for path in sorted(HERE.glob("twoway_*.py")):
        name = path.stem.removeprefix("twoway_")
        out.append((name, importlib.import_module(path.stem)))
    return out


def main() -> None:
    found = scenarios()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=[n for n, _ in found], help="run only these scenarios")
    for _name, module in found:
        add = getattr(module, "add_arguments", None)
        if add is not None:
            add(parser)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    chosen = [(n, m) for n, m in found if not args.only or n in args.only]
    with harness.database() as db_url, tempfile.TemporaryDirectory() as tmpdir:
        b = harness.Bench(args, db_url, Path(tmpdir))
        try:
            for _name, module in chosen:
                run = getattr(module, "run", None) or module.figures
                for line in run(b, args):
                    print(line, flush=True)
        finally:
            b.stop_workers()
            b.server.stop()
            b.engine.dispose()
            import redis

            client = redis.Redis.from_url(harness.REDIS)
            for k in client.scan_iter(f"{harness.NS}:*"):
                client.delete(k)


if __name__ == "__main__":
    main()
