"""A real ``uvicorn`` process on a free loopback port, for tests where transport matters."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing - what a crash looks like."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextmanager
def uvicorn_server(
    env: dict[str, str], log: Path, *, ready: bool = True, cli: bool = False, max_open_files: int | None = None
) -> Iterator[Server]:
    """Start ``bot.api:create_app`` under uvicorn with ``env`` (POLICYBOT_*), wait for /readyz, stop after.

    ``cli`` starts it the production way, ``policybot serve`` (bot/server.py: limits, header timeout, JSON
    logs, access log); ``max_open_files`` sets the process's ``ulimit -n``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if cli:
        command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bot.api:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-proxy-headers",
        ]

    def limit_files() -> None:
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    with open(log, "ab") as fh:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=fh,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files if max_open_files is not None else None,
        )
    server = Server(url, process, log)
    try:
        if ready:
            wait_ready(url, process)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
