"""What `make bench` and `make bench-peer` share: the database, the servers, one measured pass, the machine.

The benchmark process itself only orchestrates: it holds the embedded PostgreSQL (so that servers can come and go
on one data set), starts each server as a process of its own, and runs every pass in a load-generator process
(bench/loadgen.py). Around each pass's counted window it reads the CPU time of the server's processes and of
PostgreSQL's with psutil, so that CPU milliseconds per request are the server's and the database's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.data import Sizes, create_tokens, generate, owner_url
from hub.db import EmbeddedServer, connect, ensure_database, start_embedded

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run_main(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, with SIGTERM cancelling the run as Ctrl-C does, so that the servers stop and the embedded
    PostgreSQL is released and its folder removed however the run is ended."""

    async def guarded() -> Any:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    return asyncio.run(guarded())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ database


@dataclass
class Database:
    """The embedded PostgreSQL in a fresh folder, filled with the benchmark's data, and the principals' tokens."""

    data_dir: Path
    server: EmbeddedServer
    url: str
    sizes: Sizes
    counts: dict[str, int]
    generation_seconds: float
    principals: dict[str, dict[str, Any]]
    version: str = ""

    def process_group(self) -> ProcessGroup:
        return ProcessGroup("postgres", lambda: postgres_tree(self.data_dir))


def postgres_tree(data_dir: Path) -> list[psutil.Process]:
    """The postmaster of `data_dir` and all its children (the backends, whose command lines do not name it)."""
    pgdata = str(data_dir / "pgdata")
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        try:
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] == "postgres" and "-D" in cmdline and pgdata in " ".join(cmdline):
                return [proc, *proc.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return []


@asynccontextmanager
async def database(sizes: Sizes, *, keep: bool = False) -> AsyncIterator[Database]:
    """A fresh embedded PostgreSQL with the data set of `sizes`; removed afterwards unless `keep`."""
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    server = await asyncio.to_thread(start_embedded, data_dir)
    try:
        await ensure_database(server.admin_url, "frontier_hub")
        url = owner_url(data_dir)
        con = await connect(url)
        try:
            say(f"generating the data set ({sizes.labs} labs, {sizes.models} models, {sizes.findings} findings)")
            started = time.perf_counter()
            counts = await generate(con, sizes)
            seconds = time.perf_counter() - started
            principals = await create_tokens(con)
            version = str(await con.fetchval("show server_version"))
        finally:
            await con.close()
        say(f"data set ready in {seconds:.1f} s: {sum(counts.values()):,} rows")
        yield Database(
            data_dir=data_dir,
            server=server,
            url=url,
            sizes=sizes.resolved(),
            counts=counts,
            generation_seconds=round(seconds, 1),
            principals=principals,
            version=version,
        )
    finally:
        await asyncio.to_thread(server.release)
        if keep:
            say(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ processes


@dataclass
class ProcessGroup:
    """Processes measured together (a server and its workers, or PostgreSQL): CPU time and memory."""

    name: str
    list_processes: Callable[[], list[psutil.Process]]
    workers_only: Callable[[list[psutil.Process]], list[psutil.Process]] = field(default=lambda procs: procs)

    def cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) of each live process, by pid."""
        found = {}
        for proc in self.list_processes():
            try:
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def rss_mb(self) -> list[float]:
        """Resident memory of each worker process, in MB."""
        sizes = []
        for proc in self.workers_only(self.list_processes()):
            try:
                sizes.append(round(proc.memory_info().rss / 2**20, 1))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return sizes


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (processes that started meanwhile count from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Server:
    """A server process (the hub or the peer) and the URL of its GraphQL endpoint."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    workers: int
    log: Path

    def group(self) -> ProcessGroup:
        def tree() -> list[psutil.Process]:
            try:
                root = psutil.Process(self.proc.pid)
                return [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []

        def workers(procs: list[psutil.Process]) -> list[psutil.Process]:
            # with several workers, uvicorn's supervisor is the root and the workers are its children
            return procs[1:] if self.workers > 1 and len(procs) > 1 else procs[:1]

        return ProcessGroup(self.name, tree, workers)


def tail(log: Path) -> str:
    """The end of a server's log, for an error message."""
    return log.read_text(errors="replace")[-3000:]


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n{tail(log)}")
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not get ready in {seconds:.0f} s:\n{tail(log)}")


def hub_environment(db: Database, port: int) -> dict[str, str]:
    """`hub serve` on the benchmark's database: the scheduler off (its periodic work would land in random passes),
    warnings only in the log (a request log line per request is the operator's choice, not the hub's cost), and the
    per-principal rate limit off: one token sends every request of a pass, far over a person's budget, and the
    benchmark measures throughput (in production each request also runs the limit's one statement)."""
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(db.data_dir),
        "HUB_PORT": str(port),
        "HUB_SCHEDULER": "off",
        "HUB_LOG_LEVEL": "warning",
        "HUB_RATE_LIMIT_COST": "0",
    }
    for name in ("HUB_DATABASE_URL", "HUB_WORKERS", "HUB_ENV"):
        env.pop(name, None)
    return env


@asynccontextmanager
async def hub_server(
    db: Database, workers: int | None, *, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """`hub serve` (with `--workers N`, or the hub's default when None) on the benchmark's embedded PostgreSQL."""
    port = free_port()
    env = {**hub_environment(db, port), **(extra_env or {})}
    log = db.data_dir / f"hub-{port}.log"
    args = [sys.executable, "-m", "hub.cli", "serve", *(["--workers", str(workers)] if workers else [])]
    with open(log, "wb") as out:  # noqa: ASYNC230 - opened once, before the server starts
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    effective = workers or default_workers()
    server = Server("hub", f"http://127.0.0.1:{port}/graphql", proc, effective, log)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log)
        if effective > 1:
            await asyncio.sleep(2.0)  # every worker up, not just the first
        yield server
    finally:
        await stop(proc)


def default_workers() -> int:
    """The number of workers `hub serve` starts without --workers and HUB_WORKERS."""
    from hub.settings import Settings

    saved = os.environ.pop("HUB_WORKERS", None)
    try:
        return Settings.from_env().workers
    finally:
        if saved is not None:
            os.environ["HUB_WORKERS"] = saved


async def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator stops a server; SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        for _ in range(300):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------ passes


async def run_pass(job: dict[str, Any], groups: list[ProcessGroup]) -> dict[str, Any]:
    """One load-generator pass (bench/loadgen.py in its own process); adds the CPU milliseconds per request of
    each watched process group in the counted window, and their workers' resident memory after it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job).encode() + b"\n")
    await proc.stdin.drain()
    before: dict[str, dict[int, float]] = {}
    after: dict[str, dict[int, float]] = {}
    result: dict[str, Any] | None = None
    machine: list[float] = []
    try:
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if line in ("measuring", "measured"):
                # the generator waits for this reading (its connections stay open meanwhile)
                (before if line == "measuring" else after).update({g.name: g.cpu() for g in groups})
                machine.append(busy_seconds())
                proc.stdin.write(b"go on\n")
                await proc.stdin.drain()
            elif line.startswith("{"):
                result = json.loads(line)
        proc.stdin.close()
    finally:
        if proc.returncode is None and result is None:
            proc.kill()  # the run was cancelled: no pass outlives it
    if await proc.wait() != 0 or result is None:
        raise RuntimeError(f"the load generator failed (exit {proc.returncode}) on {job.get('name')}")
    requests = max(1, result["requests"])
    for group in groups:
        used = cpu_used(before.get(group.name, {}), after.get(group.name, {}))
        result[f"{group.name}_cpu_ms_per_request"] = round(1000 * used / requests, 3)
        result[f"{group.name}_cpu_share"] = round(used / result["seconds"], 3) if result["seconds"] else None
        if group.name != "postgres":
            result[f"{group.name}_rss_mb"] = group.rss_mb()
    if len(machine) == 2 and result["seconds"]:
        # the whole machine's busy cores in the window, and what of it was none of the measured processes': noise
        busy = (machine[1] - machine[0]) / result["seconds"]
        ours = sum(result.get(f"{g.name}_cpu_share") or 0 for g in groups) + (result["generator_cpu_share"] or 0)
        result["machine_busy_cores"] = round(busy, 2)
        result["other_busy_cores"] = round(max(0.0, busy - ours), 2)
    return result


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, neither idle nor waiting for I/O)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def http_job(
    url: str,
    token: str | None,
    request: dict[str, Any],
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    payload: str | None = None,
) -> dict[str, Any]:
    return {
        "mode": "http",
        "url": url,
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "body": json.dumps(request),
        "payload": payload,
        "concurrency": concurrency,
        "duration": duration,
        "warmup": warmup,
    }


# ------------------------------------------------------------------------------------------------ the machine


def machine_info(db_version: str) -> dict[str, Any]:
    """What the figures came from: CPU, cores, memory, versions, the commit measured."""
    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
            return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    def version(package: str) -> str | None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            return v(package)
        except PackageNotFoundError:
            return None

    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
        "postgresql": db_version,
        "packages": {
            p: version(p) for p in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "asyncpg", "aiohttp")
        },
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores' worth of CPU the machine used over `seconds` before a run: the noise the figures carry
    (on a shared machine, other people's tests)."""
    psutil.cpu_percent(None)
    time.sleep(seconds)
    return round(psutil.cpu_percent(None) * (os.cpu_count() or 1) / 100, 2)
