"""The load generator: a process of its own, so that its work is not the server's and can be measured apart.

    .venv/bin/python -m bench.loadgen < job.json

A job (one line of JSON on standard input) is one pass: `concurrency` clients, each sending its next request as
soon as the previous one answered (closed loop), for `warmup` seconds (not counted) and then `duration` seconds
(counted).

- mode "http": POST `body` (a GraphQL request, sent as the same bytes every time) to `url` with `headers`, over
  keep-alive connections (aiohttp, one connection per client). A request counts as an error unless the status is
  200, the response has no `errors`, and, for a mutation, the payload under `data.<payload>` has an empty `errors`
  list. `extensions.sqlStatements` is collected when the server reports it.
- mode "sql": the raw-SQL floor: the statement `sql` (with `args`) through asyncpg, one connection per client, each
  run the way a request of the hub runs it: a read-only repeatable-read transaction acting as `role`, with the
  principal bound by `bind` (the same set_config call that hub/store/base.py makes), so that the same row-level
  security policies apply.

Prints "measuring" when the counted window is about to start and "measured" when it has ended, and waits each time
for a line on standard input (so that the caller can read the servers' CPU time at those instants), then prints one
line of JSON: the counts, requests/s, latency percentiles in
milliseconds, SQL statements per request, and the generator's own CPU time.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import orjson


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values, by nearest rank."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Pass:
    """What one pass counted."""

    def __init__(self) -> None:
        self.counting = False
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.statements: list[int] = []
        self.response_bytes = 0
        self.window_start = self.window_end = 0.0
        self.cpu_start = self.cpu_end = 0.0

    def record(self, seconds: float, error: str | None, statements: int | None, size: int) -> None:
        if not self.counting:
            return
        self.latencies.append(seconds)
        self.response_bytes += size
        if error is not None:
            self.errors += 1
            if len(self.error_samples) < 3:
                self.error_samples.append(error[:500])
        if statements is not None:
            self.statements.append(statements)


def check_response(status: int, raw: bytes, payload: str | None) -> tuple[str | None, int | None]:
    """(an error message or None, the SQL statement count the server reported or None)."""
    if status != 200:
        return f"HTTP {status}: {raw[:300]!r}", None
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"not JSON: {raw[:300]!r}", None
    statements = (answer.get("extensions") or {}).get("sqlStatements")
    if answer.get("errors"):
        return json.dumps(answer["errors"])[:500], statements
    data = answer.get("data")
    if not data:
        return "no data", statements
    if payload is not None:
        result = data.get(payload) or {}
        if result.get("errors"):
            return json.dumps(result["errors"])[:500], statements
    return None, statements


async def run_http(job: dict[str, Any], counted: Pass) -> None:
    import aiohttp

    body = job["body"].encode()
    headers = {"Content-Type": "application/json", **job.get("headers", {})}
    payload = job.get("payload")
    url = job["url"]
    stop_at = [float("inf")]  # set to 0 when the pass is over
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=job.get("timeout", 60))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=["User-Agent"]) as client:

        async def one_client() -> None:
            while time.perf_counter() < stop_at[0]:
                started = time.perf_counter()
                try:
                    async with client.post(url, data=body, headers=headers) as response:
                        raw = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as failure:
                    counted.record(time.perf_counter() - started, f"{type(failure).__name__}: {failure}", None, 0)
                    continue
                elapsed = time.perf_counter() - started
                problem, statements = check_response(status, raw, payload)
                counted.record(elapsed, problem, statements, len(raw))

        await drive(job, counted, stop_at, one_client)


async def run_sql(job: dict[str, Any], counted: Pass) -> None:
    import asyncpg

    role = job.get("role")

    async def init(con: asyncpg.Connection) -> None:
        if role:
            await con.execute(f'set role "{role}"')

    pool = await asyncpg.create_pool(
        job["dsn"], min_size=job["concurrency"], max_size=job["concurrency"], init=init, statement_cache_size=100
    )
    assert pool is not None
    sql, args = job["sql"], job.get("args", [])
    bind, bind_args = job.get("bind"), job.get("bind_args", [])
    stop_at = [float("inf")]
    try:

        async def one_client() -> None:
            async with pool.acquire() as con:
                while time.perf_counter() < stop_at[0]:
                    started = time.perf_counter()
                    error = None
                    size = 0
                    try:
                        async with con.transaction(isolation="repeatable_read", readonly=True):
                            if bind:
                                await con.execute(bind, *bind_args)
                            value = await con.fetchval(sql, *args)
                        size = len(value) if isinstance(value, str | bytes) else 0
                        if value is None:
                            error = "the statement returned nothing"
                    except asyncpg.PostgresError as failure:
                        error = f"{type(failure).__name__}: {failure}"
                    counted.record(time.perf_counter() - started, error, 1 if bind is None else 2, size)

        await drive(job, counted, stop_at, one_client)
    finally:
        await pool.close()


async def drive(job: dict[str, Any], counted: Pass, stop_at: list[float], one_client: Any) -> None:
    """Warm up, then count for `duration` seconds. At the window's start and end the caller is told ("measuring",
    "measured") and answered before going on, so that it reads the servers' CPU time while every connection of
    this pass is still open (a PostgreSQL backend that ends takes its CPU time with it)."""
    warmup, duration = float(job.get("warmup", 1.0)), float(job["duration"])
    clients = [asyncio.ensure_future(one_client()) for _ in range(int(job["concurrency"]))]
    await asyncio.sleep(warmup)
    print("measuring", flush=True)
    await caller_ready()
    counted.window_start, counted.cpu_start = time.perf_counter(), cpu_seconds()
    counted.counting = True
    await asyncio.sleep(duration)
    counted.window_end, counted.cpu_end = time.perf_counter(), cpu_seconds()
    # answers that arrive after the window are not counted: the window is the denominator of requests/s
    counted.counting = False
    print("measured", flush=True)
    await caller_ready()
    stop_at[0] = 0.0
    await asyncio.gather(*clients)


async def caller_ready() -> None:
    """Wait for the caller's line on standard input (at its end, when there is no caller, go on at once)."""
    await asyncio.to_thread(sys.stdin.readline)


def summary(job: dict[str, Any], counted: Pass) -> dict[str, Any]:
    ordered = sorted(counted.latencies)
    window = counted.window_end - counted.window_start
    requests = len(ordered)
    cpu = counted.cpu_end - counted.cpu_start
    statements = counted.statements
    return {
        "concurrency": job["concurrency"],
        "seconds": round(window, 3),
        "requests": requests,
        "errors": counted.errors,
        "error_samples": counted.error_samples,
        "rps": round(requests / window, 2) if window else 0.0,
        "mean_ms": round(1000 * sum(ordered) / requests, 3) if requests else None,
        "p50_ms": round(1000 * percentile(ordered, 0.50), 3),
        "p95_ms": round(1000 * percentile(ordered, 0.95), 3),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 3),
        "max_ms": round(1000 * ordered[-1], 3) if ordered else None,
        "sql_statements_per_request": round(sum(statements) / len(statements), 2) if statements else None,
        "sql_statements_max": max(statements) if statements else None,
        "response_bytes_mean": round(counted.response_bytes / requests) if requests else None,
        "generator_cpu_ms_per_request": round(1000 * cpu / requests, 3) if requests else None,
        "generator_cpu_share": round(cpu / window, 3) if window else None,
    }


async def main(job: dict[str, Any]) -> dict[str, Any]:
    counted = Pass()
    if job["mode"] == "http":
        await run_http(job, counted)
    elif job["mode"] == "sql":
        await run_sql(job, counted)
    else:
        raise SystemExit(f"bench.loadgen: mode must be http or sql, not {job['mode']!r}")
    return summary(job, counted)


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One pass in this process, on uvloop when it is there (it is, with uvicorn[standard])."""
    try:
        import uvloop

        return uvloop.run(main(job))
    except ImportError:
        return asyncio.run(main(job))


if __name__ == "__main__":
    result = run(json.loads(sys.stdin.readline()))
    print(json.dumps(result), flush=True)
