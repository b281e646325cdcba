"""REST ingest throughput against a real ``muster serve``: new session PUTs per second with 8 concurrent clients.

Where it sits: ``bench/``; :mod:`bench.sync` (``--only hot``) calls :func:`ingest_figures` with its PostgreSQL
database, Redis namespace and Google emulator. The server is ``muster serve --workers 2`` (the documented
production way: one web process per core), reached over TCP on 127.0.0.1, with PostgreSQL and Redis.

The clients are lean on purpose, because they share the machine's cores with the server: one thread runs
an asyncio loop with one keep-alive HTTP/1.1 connection per client, each sending its next pre-encoded PUT
as soon as the previous answer (status line, headers and the whole body) has been read. Every answer must
be 201; anything else stops the run. The CPU of the client thread and of the server processes is measured
over the same window, so the output says how the machine's CPU was split between them.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def unused_port() -> int:
    """A port nobody listens on, chosen by the system."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port(lo: int, hi: int) -> int:
    """The first port of ``lo..hi`` nobody listens on."""
    for port in range(lo, hi + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of ``pids`` so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


@contextmanager
def serve(env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[list[int]]:
    """``muster serve --workers N`` on ``port``; yields its process ids once every worker answers."""
    out = log.open("wb")
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "muster"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"muster serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if log.read_text(errors="replace").count("Application startup complete") >= workers:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"muster serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process_tree(proc.pid)
    finally:
        stop(proc, 20)
        out.close()


def stop(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Terminate ``proc`` and wait for it; kill it when it is not gone within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def encode_put(path: str, body: object, key: str) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _client(port: int, requests: Iterator[bytes], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            statuses.append(status)
            if status not in (200, 201):
                raise RuntimeError(f"answer {status}: {body[:300]!r}")
    finally:
        writer.close()


@dataclass(frozen=True)
class Run:
    requests: int
    elapsed_s: float
    client_cpu_s: float
    server_cpu_s: float
    statuses: tuple[int, ...]


def drive(port: int, requests: Sequence[bytes], clients: int, server_pids: Sequence[int]) -> Run:
    """Send ``requests`` over ``clients`` keep-alive connections, in a thread of its own (its CPU measured)."""
    statuses: list[int] = []
    result: dict[str, float] = {}
    errors: list[BaseException] = []

    def body() -> None:
        shared = iter(requests)

        async def main() -> None:
            await asyncio.gather(*(_client(port, shared, statuses) for _ in range(clients)))

        cpu = time.thread_time()
        server = cpu_seconds(server_pids)
        started = time.monotonic()
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        result["elapsed"] = time.monotonic() - started
        result["server"] = cpu_seconds(server_pids) - server
        result["client"] = time.thread_time() - cpu

    thread = threading.Thread(target=body, name="ingest-clients")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return Run(len(requests), result["elapsed"], result["client"], result["server"], tuple(statuses))


def one_put(port: int, request: bytes) -> tuple[int, float]:
    """Send one pre-encoded request on a fresh connection; its status and wall time (seconds, connect excluded)."""
    statuses: list[int] = []

    async def main() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(int(x.split(b":", 1)[1]) for x in lines if x.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            statuses.append(int(head[9:12]))
            return elapsed
        finally:
            writer.close()

    elapsed = asyncio.run(main())
    return statuses[0], elapsed


def _listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def callgrind(pid: int, *command: str) -> None:
    """``callgrind_control`` on ``pid`` (returns once it took effect)."""
    subprocess.run(["callgrind_control", *command, str(pid)], check=True, capture_output=True, timeout=300)


def callgrind_totals(path: Path) -> int:
    """The instructions a callgrind dump counted (its ``totals:`` line)."""
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{path}: no totals line")


def put_instructions(env: dict[str, str], port: int, warm_up: Sequence[bytes], measure: Sequence[bytes],
                     tmp: Path) -> float:
    """Instructions one web process spends per request of ``measure``: ``muster serve --workers 1`` under
    ``valgrind --tool=callgrind --instr-atstart=no``, sent ``warm_up`` first (connections, caches, prepared
    statements), then ``measure`` one at a time on one keep-alive connection with the instrumentation on.
    Every thread of that process is counted (HTTP parsing, the app, the database and Redis clients); the
    clients, PostgreSQL and Redis are not. An empty window (on, off) is dumped apart and subtracted."""
    out = tmp / "serve-callgrind.out"
    log = tmp / "serve-callgrind.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             str(REPO / ".venv" / "bin" / "python"), str(REPO / ".venv" / "bin" / "muster"),
             "serve", "--port", str(port), "--workers", "1"],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 600
            while not _listening(port):  # uvicorn binds its socket after "Application startup complete"
                if proc.poll() is not None:
                    raise RuntimeError(f"muster serve under valgrind exited: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError("muster serve under valgrind did not start in 600 s")
                time.sleep(0.5)
            drive(port, warm_up, 1, [proc.pid])
            callgrind(proc.pid, "-i", "on")
            callgrind(proc.pid, "-i", "off")
            callgrind(proc.pid, "-d")
            callgrind(proc.pid, "-i", "on")
            drive(port, measure, 1, [proc.pid])
            callgrind(proc.pid, "-i", "off")
        finally:
            stop(proc, 120)
    overhead = callgrind_totals(out.with_name(out.name + ".1"))
    return (callgrind_totals(out) - overhead) / len(measure)
