"""What the demo's steps share: the :class:`DemoContext`, :class:`DemoError` and the sample data's location.

Where it sits: ``engine.demo``, below :mod:`engine.demo.main` (which runs the steps) and the step modules
(:mod:`engine.demo.accounts`, :mod:`engine.demo.delegation`, :mod:`engine.demo.lifecycle`, :mod:`engine.demo.sync`),
so a step never imports the runner that imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from engine.settings import Settings
from engine.store.unit_of_work import get_engine

#: The sample customer lives beside the repository (``<repo>/../shared/data``), in a clone as in CI.
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
WORKSPACE_FILE = "acme-workspace.json"
CATALOG_FILE = "acme-catalog.json"
DEMO_SLUG = "acme"
#: Name of the demo's API key; each run revokes the previous one and prints a fresh key.
DEMO_KEY_NAME = "demo"


class DemoError(Exception):
    """The demo cannot run; the message says why and what to do."""


@dataclass
class DemoContext:
    """What the steps share. ``settings`` exists once :func:`configure` ran."""

    var_dir: Path
    data_dir: Path = SHARED_DATA
    host: str = "127.0.0.1"
    port: int = 8000
    emulator_port: int = 0
    emulator: Any = None  #: the running ``EmulatorServer``
    settings: Settings | None = None
    workspace: dict[str, Any] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)
    tenant_slug: str = DEMO_SLUG
    api_key: str | None = None
    ingested: int = 0
    notes: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    echo: Callable[[str], None] = print
    exit_after_seed: bool = False
    #: Extra MUSTER_* variables for :func:`configure` (e.g. a service-account key file a step wrote).
    env: dict[str, str] = field(default_factory=dict)
    #: The whole MUSTER_* configuration :func:`configure` built: the ``muster`` commands the set-up steps run
    #: (:mod:`engine.demo.cli`) see exactly this.
    cli_env: dict[str, str] = field(default_factory=dict)
    web: tuple[Any, threading.Thread] | None = None  #: the running uvicorn server and its thread
    #: ``--suspend EMAIL``: suspend this organizer once synced and show the transfer (engine.demo.lifecycle).
    suspend_email: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_engine(self) -> Engine:
        if self.settings is None:
            raise DemoError("internal: settings are not configured yet")
        return get_engine(self.settings)


Step = Callable[[DemoContext], None]
