"""The README's "Set up for a customer" walkthroughs, run literally: each ``sh`` block of each subsection,
as written, in bash from the repository root, against the emulator it starts itself.

Where it sits: ``tests/cli``. Each block runs in a fresh process group with only ``PORT``,
``EMULATOR_PORT`` and ``MUSTER_VAR_DIR`` chosen by the test (free ports, a temporary folder) and the
virtualenv's ``muster`` first on ``PATH``; no other ``MUSTER_*`` variable leaks in. The block must end with
status 0 and show its session synced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SECTION = "## Set up for a customer"


def walkthroughs() -> dict[str, str]:
    """``### title`` → the concatenated ``sh`` blocks under it, from README.md."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    out: dict[str, str] = {}
    for part in re.split(r"\n### ", section)[1:]:
        title, _, body = part.partition("\n")
        blocks = re.findall(r"```sh\n(.*?)```", body, flags=re.S)
        if blocks:
            out[title.strip()] = "\n".join(blocks)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_has_a_walkthrough_per_set_up() -> None:
    assert set(walkthroughs()) >= {
        "Vendor mode", "Delegation mode, each organizer's consent", "Delegation mode, domain-wide delegation"}


@pytest.mark.parametrize("title", sorted(walkthroughs()))
def test_walkthrough_runs_as_written(title: str, tmp_path: Path) -> None:
    script = walkthroughs()[title]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(_free_port()),
        EMULATOR_PORT=str(_free_port()),
        MUSTER_VAR_DIR=str(tmp_path / "var"),
    )
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script], cwd=REPO_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{title}: did not finish\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # anything the block left running
    assert proc.returncode == 0, (
        f"{title}: exit {proc.returncode}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}"
    )
    assert "Traceback" not in err, err[-4000:]
    # The block ends by printing the session as REST shows it (the servers it started may log after it)
    # (curl prints no newline after the body, so a log line may follow it on the same line: decode the prefix)
    last = next(line for line in reversed(out.splitlines()) if line.startswith('{"id"'))
    session, _end = json.JSONDecoder().raw_decode(last)
    assert session["sync"]["status"] == "synced", session
    if "delegation" in title.lower():
        assert session["sync"]["meetLink"].startswith("https://"), session
        assert session["sync"]["roomEmail"], session
    else:
        assert session["sync"]["calendarId"].endswith("@muster-vendor.example"), session
