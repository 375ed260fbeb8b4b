"""Load and soak benchmarks against a real uvicorn process on loopback (not tests; bounded in time and count).

    make bench-load     # 16 clients x 30 s on /v1/ask, then the same on /healthz, then first-frame latency
                        # and 100 clients x 60 s mixing ask, stream and feedback
    make bench-soak     # 5 minutes at moderate load: RSS and open file descriptors at start and end

    make bench-scale    # answer cache off: 1 and 2 processes x 16/64/100 clients, batched vs unbatched
                        # query embedding; then the time to a 503 when the work in flight is saturated

Options: --clients N --duration S --mixed-clients N --mixed-duration S --soak-seconds S --scale-seconds S.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.server import uvicorn_server  # noqa: E402


def questions() -> list[str]:
    f = ROOT.parent / "shared" / "eval" / "dev.jsonl"
    if not f.exists():
        f = ROOT / "tests" / "data" / "calibration.jsonl"
    return [json.loads(x)["question"] for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else float("nan")


def report(name: str, lat: list[float], errors: int, seconds: float) -> None:
    print(
        f"{name:<28} {len(lat) / seconds:8.1f} req/s   p50 {pct(lat, 50):7.1f} ms   p95 {pct(lat, 95):7.1f} ms"
        f"   p99 {pct(lat, 99):7.1f} ms   errors {errors}"
    )


async def run_clients(url: str, clients: int, seconds: float, op: str, qs: list[str]) -> tuple[list[float], int]:
    lat: list[float] = []
    errors = 0
    busy.clear()
    deadline = time.monotonic() + seconds
    message_ids: list[str] = []

    async def one(client: httpx.AsyncClient, k: int) -> None:
        nonlocal errors
        rnd = random.Random(k)
        while time.monotonic() < deadline:
            kind = op if op != "mixed" else rnd.choice(["ask", "ask", "stream", "feedback"])
            t = time.perf_counter()
            r = None
            try:
                if kind == "health":
                    r = await client.get(f"{url}/healthz")
                elif kind == "ask":
                    r = await client.post(f"{url}/v1/ask", json={"question": rnd.choice(qs)})
                    if r.status_code == 200:
                        message_ids.append(r.json()["message_id"])
                elif kind == "stream":
                    async with client.stream("POST", f"{url}/v1/ask/stream", json={"question": rnd.choice(qs)}) as r:
                        async for _ in r.aiter_raw():
                            pass
                else:
                    mid = rnd.choice(message_ids) if message_ids else "none"
                    r = await client.post(f"{url}/v1/feedback", json={"message_id": mid, "helpful": True})
                    if r.status_code == 404 and mid == "none":
                        continue
                ok = r.status_code < 300
            except httpx.HTTPError:
                ok = False
            if ok:
                lat.append((time.perf_counter() - t) * 1000)
            elif r is not None and r.status_code == 503:
                busy.append((time.perf_counter() - t) * 1000)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(one(client, k) for k in range(clients)))
    return lat, errors


busy: list[float] = []  # latencies of 503 busy answers in the last run


def scale(args: argparse.Namespace, qs: list[str]) -> None:
    """Cache off, every request embedded: processes x clients x batching, then saturation."""
    print(f"{os.cpu_count()} cores; answer cache off; {args.scale_seconds:.0f} s per cell")
    for workers in (1, 2):
        for batch in (1, 8):
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    "POLICYBOT_DB_PATH": f"{tmp}/scale.sqlite3",
                    "POLICYBOT_RATE_LIMIT_CLIENT": "1000000/minute",
                    "POLICYBOT_RATE_LIMIT_SESSION": "1000000/minute",
                    "POLICYBOT_RATE_LIMIT_NEW_SESSIONS": "1000000/minute",
                    "POLICYBOT_ANSWER_CACHE_SIZE": "0",
                    "POLICYBOT_WORKERS": str(workers),
                    "POLICYBOT_EMBED_BATCH_MAX": str(batch),
                    "POLICYBOT_MAX_IN_FLIGHT": "1000",
                    "POLICYBOT_ACCESS_LOG": "false",
                    "POLICYBOT_EMBED_THREADS": str(max(1, 2 // workers)),
                }
                with uvicorn_server(env, Path(tmp) / "server.log", cli=True) as server:
                    asyncio.run(run_clients(server.url, 4, 3, "ask", qs))  # warm up every worker
                    for clients in (16, 64, 100):
                        lat, err = asyncio.run(run_clients(server.url, clients, args.scale_seconds, "ask", qs))
                        name = f"{workers} proc, batch {batch:>2}, x{clients}"
                        report(name, lat, err + len(busy), args.scale_seconds)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "POLICYBOT_DB_PATH": f"{tmp}/sat.sqlite3",
            "POLICYBOT_RATE_LIMIT_CLIENT": "1000000/minute",
            "POLICYBOT_RATE_LIMIT_NEW_SESSIONS": "1000000/minute",
            "POLICYBOT_ANSWER_CACHE_SIZE": "0",
            "POLICYBOT_MAX_IN_FLIGHT": "8",
            "POLICYBOT_ACCESS_LOG": "false",
        }
        with uvicorn_server(env, Path(tmp) / "server.log", cli=True) as server:
            # the load generator is one Python process driving 100 connections on the same two cores, so
            # its own event loop lags; a separate probe process asking one request at a time measures the server
            probe = subprocess.Popen(
                [sys.executable, __file__, "--probe", server.url, "--probe-seconds", str(args.scale_seconds)],
                stdout=subprocess.PIPE,
                text=True,
            )
            lat, err = asyncio.run(run_clients(server.url, 100, args.scale_seconds, "ask", qs))
            probed, _ = probe.communicate(timeout=args.scale_seconds + 60)
            print(
                f"saturated (100 clients, 8 in flight): {len(lat) / args.scale_seconds:.1f} answers/s, "
                f"{len(busy)} x 503 busy: time to 503 seen by the load generator p50 {pct(busy, 50):.1f} ms, "
                f"p99 {pct(busy, 99):.1f} ms; answers p50 {pct(lat, 50):.0f} ms; other errors {err}\n"
                f"  {probed.strip()}"
            )


def probe(url: str, seconds: float) -> None:
    """Requests one at a time from its own process while the server is saturated: time to each 503."""
    busy_ms: list[float] = []
    answered = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            r = client.post(f"{url}/v1/ask", json={"question": "稳岗返还怎么申请"})
            if r.status_code == 503:
                busy_ms.append((time.perf_counter() - t) * 1000)
            else:
                answered += 1
    print(
        f"probe (own process, one request at a time): {len(busy_ms)} x 503 p50 {pct(busy_ms, 50):.1f} ms, "
        f"p99 {pct(busy_ms, 99):.1f} ms, max {max(busy_ms, default=0):.1f} ms; {answered} answered"
    )


async def first_frame(url: str, qs: list[str], n: int = 40) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=60) as client:
        for q in qs[:n]:
            t = time.perf_counter()
            async with client.stream("POST", f"{url}/v1/ask/stream", json={"question": q}) as r:
                async for _ in r.aiter_raw():
                    out.append((time.perf_counter() - t) * 1000)
                    break
    return out


def rss_and_fds(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--mixed-clients", type=int, default=100)
    ap.add_argument("--mixed-duration", type=float, default=60)
    ap.add_argument("--soak", action="store_true")
    ap.add_argument(
        "--no-cache", action="store_true", help="embed every request (worst case); default: the deployed LRU cache"
    )
    ap.add_argument("--soak-seconds", type=float, default=300)
    ap.add_argument("--scale", action="store_true", help="processes x clients x batching, cache off")
    ap.add_argument("--scale-seconds", type=float, default=15)
    ap.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--probe-seconds", type=float, default=15, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe(args.probe, args.probe_seconds)
        return
    qs = questions()
    if args.scale:
        scale(args, qs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "POLICYBOT_DB_PATH": f"{tmp}/load.sqlite3",
            "POLICYBOT_RATE_LIMIT_CLIENT": "1000000/minute",
            "POLICYBOT_RATE_LIMIT_SESSION": "1000000/minute",
        }
        if args.no_cache:
            env["POLICYBOT_ANSWER_CACHE_SIZE"] = "0"  # every request embeds: the worst case
        with uvicorn_server(env, Path(tmp) / "server.log") as server:
            pid = server.process.pid
            cache = "off" if args.no_cache else "on (default)"
            print(f"server pid {pid} on {server.url}; {os.cpu_count()} cores; answer cache {cache}")
            if args.soak:
                # warm up first: caches (answers, embeddings, sessions) fill to their bounds, code paths load
                asyncio.run(run_clients(server.url, 8, 30, "mixed", qs))
                rss0, fd0 = rss_and_fds(pid)
                lat, err = asyncio.run(run_clients(server.url, 8, args.soak_seconds, "mixed", qs))
                rss1, fd1 = rss_and_fds(pid)
                report(f"soak mixed x8 {args.soak_seconds:.0f}s", lat, err, args.soak_seconds)
                print(
                    f"RSS {rss0:.1f} MB -> {rss1:.1f} MB ({100 * (rss1 - rss0) / rss0:+.1f}%), open fds {fd0} -> {fd1}"
                )
                return
            # first: time to the first stream frame on a cold cache (each question embedded afresh)
            ff = asyncio.run(first_frame(server.url, qs))
            print(f"first stream frame (1 client, cold): p50 {statistics.median(ff):.1f} ms   p95 {pct(ff, 95):.1f} ms")
            lat, err = asyncio.run(run_clients(server.url, args.clients, args.duration, "ask", qs))
            report(f"/v1/ask x{args.clients}", lat, err, args.duration)
            hl, herr = asyncio.run(run_clients(server.url, args.clients, min(args.duration, 10), "health", qs))
            report(f"/healthz x{args.clients}", hl, herr, min(args.duration, 10))
            ml, merr = asyncio.run(run_clients(server.url, args.mixed_clients, args.mixed_duration, "mixed", qs))
            report(f"mixed x{args.mixed_clients}", ml, merr, args.mixed_duration)
            rss, fds = rss_and_fds(pid)
            print(f"server RSS {rss:.1f} MB, open fds {fds}")


if __name__ == "__main__":
    main()
