"""The ``muster`` command line, run as a real process: help, tenant create, config and usage errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from engine.api.app import create_api
from engine.cli.main import main
from engine.settings import get_settings, load_settings
from tests.api.conftest import AsgiClient, session_body


def muster(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``muster`` console script (the entry point a user runs) in a fresh process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    full_env.update(env or {})
    script = Path(sys.executable).parent / "muster"
    command = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from engine.cli.main import main; main()"]
    )
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run ``main`` in this process with no MUSTER_* variables but a private var dir."""
    for name in list(os.environ):
        if name.startswith("MUSTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MUSTER_VAR_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_help_lists_commands_and_each_explains_itself(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, top, _ = run_main(capsys, "--help")
    assert code == 0
    for command in ("db", "serve", "worker", "demo", "tenant", "reconcile", "emulator"):
        assert f"  {command} " in top, command
    helps: tuple[tuple[list[str], str], ...] = (
        (["serve"], "REST API"),
        (["worker"], "worker"),
        (["demo"], "emulator"),
        (["tenant", "create"], "API key"),
        (["reconcile"], "Reconcile"),
        (["emulator"], "emulator"),
        (["db", "upgrade"], "migrations"),
    )
    for words, phrase in helps:
        code, out, _ = run_main(capsys, *words, "--help")
        assert code == 0 and phrase in out, (words, out)


def test_tenant_create_prints_a_key_usable_against_the_api(db_engine: Engine, tmp_path: Path) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    env = {"MUSTER_DATABASE_URL": url, "MUSTER_VAR_DIR": str(tmp_path), "MUSTER_SECRET_KEY": "s" * 40}
    out = muster(
        "tenant",
        "create",
        "--slug",
        "globex",
        "--name",
        "Globex",
        "--domain",
        "globex.example",
        "--vendor-owner",
        "Owner@Vendor.example",
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("mk_")
    api = AsgiClient(create_api(load_settings(env), engine=db_engine))
    resp = api.put("/v1/sessions/s-1", json=session_body(), headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 201, resp.text
    assert api.get("/v1/sessions", headers={"Authorization": "Bearer mk_00000000_wrong"}).status_code == 401
    # the slug is taken now: a clear usage error, exit 2, no traceback
    again = muster("tenant", "create", "--slug", "globex", "--name", "Other", env=env, cwd=tmp_path)
    assert again.returncode == 2
    assert "--slug" in again.stderr and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    listed = muster("tenant", "list", env=env, cwd=tmp_path)
    assert "globex\tvendor\tglobex.example\tGlobex" in listed.stdout


def test_config_error_exits_2_with_variable_and_fix(tmp_path: Path) -> None:
    out = muster("tenant", "list", env={"MUSTER_DATABASE_URL": "mysql://db/muster"}, cwd=tmp_path)
    assert out.returncode == 2
    assert "MUSTER_DATABASE_URL" in out.stderr and "Fix:" in out.stderr
    assert "Traceback" not in out.stderr
    short = muster("serve", env={"MUSTER_SECRET_KEY": "short"}, cwd=tmp_path)
    assert short.returncode == 2 and "MUSTER_SECRET_KEY" in short.stderr and "Traceback" not in short.stderr


def test_bad_cli_input_exits_2_without_traceback(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["tenant", "create", "--slug", "Bad Slug", "--name", "x"],
        ["tenant", "create", "--slug", "ok", "--name", "x", "--mode", "other"],
        ["tenant", "create", "--slug", "ok", "--name", "x", "--vendor-owner", "nope"],
        ["reconcile"],
        ["reconcile", "--session", "not-a-uuid"],
        ["emulator", "--seed", str(isolated / "missing.json")],
        ["serve", "--port", "0"],
        ["nosuch"],
    ):
        code, _out, err = run_main(capsys, *args)
        assert code == 2, (args, err)
        assert "Error" in err and "Traceback" not in err, (args, err)


def test_config_error_in_process_exits_2(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSTER_REDIS_URL", "http://not-redis")
    code, _out, err = run_main(capsys, "tenant", "list")
    assert code == 2
    assert err.startswith("Configuration error: MUSTER_REDIS_URL") and "Fix:" in err


def test_worker_and_reconcile_entry_points(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlmodel import SQLModel

    from engine.store.unit_of_work import get_engine

    SQLModel.metadata.create_all(get_engine(get_settings()))
    code, out, err = run_main(capsys, "reconcile", "--all")
    assert (code, out.strip()) == (0, "no session to reconcile"), err
    # an id that names no session is an error saying where ids come from, not a silent success
    unknown = "00000000-0000-0000-0000-000000000000"
    code, out, err = run_main(capsys, "reconcile", "--session", unknown)
    assert code == 1, (out, err)
    assert f"{unknown}: no such session" in out and "GET /v1/sessions" in out
    assert "did not reconcile" in err and "Traceback" not in out + err
    # without MUSTER_REDIS_URL the worker refuses to start, with the fix
    with pytest.raises(SystemExit) as exited:
        main(["worker"])
    assert "MUSTER_REDIS_URL" in str(exited.value.code)


def test_missing_schema_is_a_clear_error(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_main(capsys, "tenant", "list")  # a fresh SQLite file without tables
    assert code == 1
    assert "muster db upgrade" in err and "Traceback" not in err


def test_sweep_and_reconcile_report_an_unreachable_redis_in_one_line(tmp_path: Path) -> None:
    from sqlmodel import SQLModel

    from engine.ingest.tenants import create_tenant, issue_api_key
    from engine.store.unit_of_work import make_engine, unit_of_work

    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db_url)
    SQLModel.metadata.create_all(engine)
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        tenant = create_tenant(db=uow.db, slug="acme", name="Acme", vendor_owners=["owner@vendor.example"])
        key = issue_api_key(db=uow.db, tenant_id=tenant.id)
    settings = load_settings({"MUSTER_DATABASE_URL": db_url, "MUSTER_VAR_DIR": str(tmp_path)})
    api = AsgiClient(create_api(settings, dispatcher=lambda ids: None, engine=engine))
    created = api.put("/v1/sessions/s1", json=session_body(), headers={"Authorization": f"Bearer {key}"})
    assert created.status_code == 201, created.text
    engine.dispose()
    # Nothing listens on this port (the test run's own port range)
    env = {
        "MUSTER_DATABASE_URL": db_url,
        "MUSTER_VAR_DIR": str(tmp_path),
        "MUSTER_SECRET_KEY": "s" * 40,
        "MUSTER_REDIS_URL": "redis://127.0.0.1:18698/0",
    }
    for args in (("sweep",), ("reconcile", "--session", created.json()["id"]), ("reconcile", "--all")):
        out = muster(*args, env=env, cwd=tmp_path)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, (args, out.stderr)
        assert lines[0].startswith("Redis error: cannot reach Redis at redis://127.0.0.1:18698/0"), lines
        assert "MUSTER_REDIS_URL" in lines[0] and "Traceback" not in out.stderr


def test_version_is_the_installed_distribution() -> None:
    from importlib import metadata

    result = muster("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"muster {metadata.version('muster')}"
