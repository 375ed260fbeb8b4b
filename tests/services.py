"""Real Redis and PostgreSQL servers for the tests, started on loopback ports in temporary directories.

Both come from Debian's packages (``redis-server``, ``postgresql``; .ci/run installs them). When a binary
is missing the tests that need it are skipped - except under CI (``CI=true``), where that is a failure.
PostgreSQL refuses to run as root: as root, ``initdb`` and ``pg_ctl`` run as ``nobody`` via ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .server import free_port
from .waiting import wait_until


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not installed; CI must run these tests (apt-get install redis-server postgresql)")
    pytest.skip(f"{what} not installed")


def _wait(probe: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Until ``probe`` succeeds: a server not yet up raises (connection refused), which counts as not yet."""

    def up() -> bool:
        try:
            return bool(probe())
        except Exception:  # not up yet
            return False

    wait_until(up, timeout=timeout, interval=0.1, what=f"{what} to start")


NO_DISK = ("--appendonly", "no", "--protected-mode", "no")


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    import redis

    workdir = tempfile.mkdtemp(prefix="pb-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            "--save",
            "",
            *NO_DISK,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: redis.Redis.from_url(url).ping(), "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


INITDB = ("-E", "UTF8", "--no-locale")


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def postgres_server() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        _missing("PostgreSQL (initdb, pg_ctl)")
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="pb-pg-"))
    root.chmod(0o755)
    data, sockets = root / "data", root / "run"
    data.mkdir()
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        for p in (data, sockets):
            shutil.chown(p, "nobody", "nogroup")
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "policybot", "--auth=trust", *INITDB],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=100"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(sockets / "log"), "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    url = f"postgresql://policybot@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        _wait(lambda: psycopg.connect(url, connect_timeout=2).close() is None, "postgresql")
        yield url
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)
