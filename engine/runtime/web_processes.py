"""``muster serve --workers N``: N web server processes, each with its own listening socket on one port.

Where it sits: called by the ``serve`` command (:mod:`engine.cli.main`) when N > 1; each process runs uvicorn
with the web composition root (``admin_ui.web:create_web_app``), exactly as a single ``muster serve`` does.

Why not uvicorn's own ``--workers``: there the processes share one listening socket, and the kernel hands
each new connection to whichever process is waiting in ``accept`` first, which is nearly always the same
one while its event loop idles between requests. With keep-alive clients (a platform's connection pool,
a reverse proxy) one process then serves every connection on one core while the others sit idle. Here
each process binds its own socket with ``SO_REUSEPORT`` (Linux), and the kernel spreads connections over
the sockets by a hash of their addresses, so every core takes a share.

The parent process only supervises: it starts the N processes, starts a new one in place of one that
died, and on SIGINT or SIGTERM asks each to shut down gracefully (uvicorn finishes the requests in
flight), then exits with status 0.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a process gets to finish its requests after SIGTERM before it is killed.
SHUTDOWN_GRACE_S = 30.0
#: Pause between two restarts of processes that keep dying (seconds).
RESTART_PAUSE_S = 1.0


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other processes may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_one(host: str, port: int, options: dict[str, Any]) -> None:
    """One web process: its own socket, uvicorn on it (runs in the child)."""
    import uvicorn

    sock = reuse_port_socket(host, port)
    config = uvicorn.Config("admin_ui.web:create_web_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def run(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Serve with ``workers`` processes until SIGINT or SIGTERM (see the module docstring).

    ``options``: uvicorn ``Config`` keywords (not host, port or workers). Raises ``OSError`` at once when
    the port cannot be bound.
    """
    reuse_port_socket(host, port).close()  # a port in use is reported here, before any process starts
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    received: list[int] = []
    processes: list[multiprocessing.process.BaseProcess] = []

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_serve_one, args=(host, port, options), name="muster-web")
        process.start()
        return process

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        processes.extend(start() for _ in range(workers))
        log.info("muster serve: %d web processes on %s:%d (pids %s)", workers, host, port,
                 ", ".join(str(p.pid) for p in processes))
        while not stopping.wait(0.5):
            for index, process in enumerate(processes):
                if not process.is_alive() and not stopping.is_set():
                    log.warning("web process %s exited with status %s; starting another", process.pid,
                                process.exitcode)
                    stopping.wait(RESTART_PAUSE_S)
                    if not stopping.is_set():
                        processes[index] = start()
    finally:
        if received and received[0] == signal.SIGINT:  # Ctrl-C reached the processes too: let them stop
            for process in processes:
                process.join(2.0)
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(SHUTDOWN_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
