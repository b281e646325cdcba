"""Runs the emulator as a real HTTP server: in a background thread (tests, demo) or standalone (CLI).

Where it sits: the outermost layer of ``connectors.google_emulator``. ``EmulatorServer`` binds a free
port on 127.0.0.1 (or the one asked for) before starting uvicorn, so ``.url`` is known immediately;
``run_standalone`` backs ``muster emulator --port N --seed FILE``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from connectors.google_emulator.app import AppOptions, build_app
from connectors.google_emulator.seed import load_seed
from connectors.google_emulator.state import EmulatorOptions, World

log = logging.getLogger(__name__)


class EmulatorServer:
    """The emulator on ``http://host:port/`` in a daemon thread. Use as a context manager."""

    def __init__(
        self,
        world: World | None = None,
        seed: Path | dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        options: EmulatorOptions | None = None,
        app_options: AppOptions | None = None,
    ) -> None:
        self.world = world or World(options=options)
        if seed is not None:
            load_seed(self.world, seed)
        self.host = host
        # added for bench/emulator.py: proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted sockets
        # (it skips sockets whose proto is 0); without it every answer waits ~40 ms on delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._app_options = app_options
        self.app = build_app(self.world, options=app_options)
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        self._sock.listen(128)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"google-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Google emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._thread is None:
            self._sock.close()
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None  # module shutdown hooks ran in the app's lifespan shutdown
        self._sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_standalone(port: int, seed: Path | None) -> None:
    """Serve the emulator in the foreground on 127.0.0.1:``port`` until interrupted."""
    world = World()
    if seed is not None:
        load_seed(world, seed)
    app = build_app(world)
    print(f"Google Workspace emulator on http://127.0.0.1:{port}/ (control API under /_emulator/)")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")
