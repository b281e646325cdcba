"""The installable package: build the wheel, install it in a clean virtualenv outside the checkout, and sync.

Where it sits: ``tests/integration/sync`` (it borrows the run's emulator and its service-account key). Nothing of
the checkout is importable by the installed commands: they run from a temporary folder with a virtualenv of
their own, against a fresh PostgreSQL database and Redis. ``muster db upgrade`` must find the migrations inside
the wheel; ``muster serve`` and ``muster worker`` then sync a session written through the REST API, and
``muster --version`` and ``/readyz`` report the wheel's version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, throwaway_postgres_database
from tests.integration.sync.conftest import OWNERS, WORKER_ENV_KEYS, Emu, _env, organizers, people, session_body
from tests.integration.sync.test_prometheus import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (args, out.stdout[-3000:], out.stderr[-3000:])
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh virtualenv with only the built wheel (and its pinned dependencies) installed."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PIP_INDEX_URL", "PIP_CACHE_DIR")}
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO_ROOT)],
        env=env, cwd=root)
    wheels = list((root / "dist").glob("muster-*.whl"))
    assert len(wheels) == 1, wheels
    run([sys.executable, "-m", "venv", str(root / "venv")], env=env, cwd=root)
    bin_dir = root / "venv" / "bin"
    run([str(bin_dir / "pip"), "install", "-q", "-c", str(REPO_ROOT / "constraints.txt"), str(wheels[0])],
        env=env, cwd=root)
    return bin_dir


@pytest.fixture
def services(emu: Emu, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        db_url = stack.enter_context(throwaway_postgres_database())
        env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEYS and k != "PYTHONPATH"}
        env.update(_env(db_url, emu, tmp_path, redis_url))
        env["MUSTER_REDIS_NAMESPACE"] = f"muster-wheel-{uuid.uuid4().hex[:8]}"
        yield env


def test_the_wheel_installs_migrates_serves_and_syncs(
    installed: Path, services: dict[str, str], emu: Emu, tmp_path: Path
) -> None:
    env, cwd = services, tmp_path  # cwd outside the checkout: nothing of it can be imported
    where = run([str(installed / "python"), "-c", "import engine, alembic; print(engine.__file__)"], env=env, cwd=cwd)
    assert where.strip().startswith(str(installed.parent)), where
    version = run([str(installed / "python"), "-c", "import engine; print(engine.version())"], env=env, cwd=cwd)
    assert run([str(installed / "muster"), "--version"], env=env, cwd=cwd).strip() == f"muster {version.strip()}"

    assert "up to date" in run([str(installed / "muster"), "db", "upgrade"], env=env, cwd=cwd)
    created = run(
        [str(installed / "muster"), "tenant", "create", "--slug", "acme", "--name", "Acme", "--domain", "acme.example",
         "--mode", "vendor", *[a for o in OWNERS for a in ("--vendor-owner", o)]],
        env=env, cwd=cwd,
    )
    key = created.strip().splitlines()[-1]
    assert key.startswith("mk_"), created

    port = free_port()
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("serve", "worker")}  # noqa: SIM115
    procs = [
        subprocess.Popen([str(installed / "muster"), "serve", "--port", str(port)], env=env, cwd=cwd,
                         stdout=logs["serve"], stderr=subprocess.STDOUT),
        subprocess.Popen([str(installed / "muster"), "worker", "--threads", "2", "--metrics-port", "0"], env=env,
                         cwd=cwd, stdout=logs["worker"], stderr=subprocess.STDOUT),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        ready = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, (tmp_path / "serve.log").read_text(errors="replace")
        assert ready.json()["version"] == version.strip()

        body = session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=500))
        put = httpx.put(f"{base}/v1/sessions/wheel-1", json=body, headers={"Authorization": f"Bearer {key}"},
                        timeout=60)  # a deadline for a loaded machine, not an expectation
        assert put.status_code == 201, put.text
        status = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            got = httpx.get(f"{base}/v1/sessions/wheel-1", headers={"Authorization": f"Bearer {key}"}, timeout=60)
            status = got.json()
            if (status.get("sync") or {}).get("status") == "synced":
                break
            time.sleep(0.5)
        assert status is not None and status["sync"]["status"] == "synced", (
            status, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        )
        session_id = put.json()["id"]
        assert len(emu.events_of(uuid.UUID(session_id))) == 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs.values():
            f.close()


def test_a_module_deleted_from_the_checkout_is_not_in_the_next_wheel(tmp_path: Path) -> None:
    """Two builds of one checkout: a module removed between them must not ship from the first build's folder."""
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO_ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            (checkout / name).write_bytes((REPO_ROOT / name).read_bytes())
    stale = checkout / "engine" / "withdrawn_module.py"
    stale.write_text('"""A module that the next build no longer has."""\n')
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PIP_INDEX_URL", "PIP_CACHE_DIR")}

    def build(into: str) -> set[str]:
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", into, "."],
            env=env, cwd=checkout)
        (wheel,) = (checkout / into).glob("muster-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            return set(archive.namelist())

    assert "engine/withdrawn_module.py" in build("first")
    assert (checkout / "build" / "lib" / "engine" / "withdrawn_module.py").is_file()
    stale.unlink()
    second = build("second")
    assert "engine/withdrawn_module.py" not in second
    assert "engine/settings.py" in second and "muster_migrations/env.py" in second
