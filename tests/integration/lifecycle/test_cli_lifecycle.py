"""``muster report spof`` and ``muster lifecycle sweep`` against the emulator-backed lifecycle fixture."""

from __future__ import annotations

import json

import pytest

from engine.cli.main import main
from engine.settings import get_settings
from tests.integration.lifecycle.conftest import FALLBACK, Life

RADIA = "radia.backus10@acme.example"


def _env(life: Life, monkeypatch: pytest.MonkeyPatch) -> None:
    s = life.settings
    for name, value in {"MUSTER_DATABASE_URL": s.database_url, "MUSTER_VAR_DIR": str(s.var_dir),
                        "MUSTER_SECRET_KEY": s.secret_key, "MUSTER_GOOGLE_ROOT_URL": s.google_root_url or "",
                        "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(s.google_service_account_file),
                        "MUSTER_GOOGLE_OAUTH_CLIENT_ID": s.google_oauth_client_id or "",
                        "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET": s.google_oauth_client_secret or ""}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_report_spof_and_sweep_commands(life: Life, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _env(life, monkeypatch)
    try:
        life.connect(RADIA)
        sid = life.put_session("s-cli", hosts=[RADIA], room=False)
        life.settle(sid)
        code, out, _ = _run(capsys, "report", "spof", "--tenant", "acme")
        assert code == 0 and "No single point of failure" in out
        later = {"leavingOn": "2030-01-02"}
        assert life.request("PUT", f"/v1/people/{RADIA}/departure", later).status_code == 200
        code, out, _ = _run(capsys, "report", "spof", "--json")
        rows = json.loads(out)["sessions"]
        assert code == 0 and [(r["externalId"], r["outcome"], r["leavingOn"]) for r in rows] == [
            ("s-cli", "blocked", "2030-01-02")]
        code, out, err = _run(capsys, "report", "spof", "--tenant", "nope")
        assert code == 2 and "no tenant 'nope'" in (out + err)

        assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
        life.connect(FALLBACK)
        code, out, _ = _run(capsys, "lifecycle", "sweep", "--tenant", "acme", "--no-scan")
        assert code == 0, out
        assert f"{RADIA}\ttransferred\tmove\t{FALLBACK}\tSession s-cli" in out
        assert life.binding(sid).owner_email == FALLBACK
        code, out, _ = _run(capsys, "lifecycle", "sweep", "--tenant", "acme", "--no-scan")
        assert code == 0 and "No transfer due." in out
    finally:
        get_settings.cache_clear()


def test_report_spof_names_a_bad_successor_setting_instead_of_guessing_the_defaults(
        life: Life, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _env(life, monkeypatch)
    try:
        life.connect(RADIA)
        sid = life.put_session("s-bad-rules", hosts=[RADIA], room=False)
        life.settle(sid)
        assert life.request("PUT", f"/v1/people/{RADIA}/departure", {"leavingOn": "2030-01-02"}).status_code == 200
        # Given successor rules an older version stored (a key the schema no longer knows)
        life.set_tenant(settings={"successor": {"eligible": ["co_host"]}})
        code, out, err = _run(capsys, "report", "spof", "--tenant", "acme")
        # Then one line names the setting and the fix, no traceback, and no report under default rules
        assert code == 1, (out, err)
        [line] = err.strip().splitlines()
        assert line.startswith("error: config_error: tenant setting successor.eligible: unknown setting"), line
        assert "muster tenant set --slug acme --setting successor=default" in line
        assert "Traceback" not in out + err and "s-bad-rules" not in out
        code, out, err = _run(capsys, "report", "spof", "--json")
        body = json.loads(out)
        assert code == 1 and body["sessions"] == [] and "successor.eligible" in body["errors"][0]
        # The REST report and the transfer preview answer 409 with the same line
        for path in ("/v1/reports/spof", f"/v1/people/{RADIA}/transfer-preview"):
            answer = life.request("GET", path)
            assert answer.status_code == 409, (path, answer.text)
            assert "config_error: tenant setting successor.eligible" in answer.text, answer.text
        # Once fixed, the report is computed again
        life.set_tenant(settings={"successor": {"eligibleRoles": ["co_host"]}})
        code, out, _ = _run(capsys, "report", "spof", "--tenant", "acme")
        assert code == 0 and "s-bad-rules" in out, out
    finally:
        get_settings.cache_clear()
