"""Tables, plots and the targets' verdicts from bench/results/*.json: what docs/performance.md shows.

    .venv/bin/python -m bench.report                         # print the markdown
    .venv/bin/python -m bench.report --write docs/performance.md   # replace the generated part of the page

The generated part of the page sits between `<!-- bench:begin -->` and `<!-- bench:end -->`; the rest of the page
(what is measured, how to reproduce) is written by hand. The plots are redrawn from the JSON as well.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# the targets
FLOOR_RATIO_TARGET = 3.0
RSS_TARGET_MB = 200.0
PEER_CONCURRENCY = 32


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"{m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB; {m['system']}; Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}; commit {m['git_commit'][:10]}{' (with uncommitted changes)' * m['git_dirty']}"
        f"; measured {m['measured_at']}; cores busy before the run: {m.get('busy_cores_before', '–')}"
    )


def bench_tables(result: dict[str, Any]) -> str:
    """The hub's figures per run (workers), with the floor and the ratio to it."""
    lines = [f"Machine: {machine_line(result)}", ""]
    s = result["sizes"]
    rows = result["rows"]
    settings = result["settings"]
    lines.append(
        f"Data: {s['labs']} labs, {s['models']:,} models, {s['findings']:,} findings, {s['agreements']:,} agreements, "
        f"{rows.get('coverage_decisions', 0):,} coverage decisions, {s['measures']:,} measures, "
        f"{s['engagements']:,} engagements, {rows.get('events', 0):,} events "
        f"({sum(rows.values()):,} rows, generated in {result['generation_seconds']} s). "
        f"Passes of {settings['duration_seconds']:g} s after {settings['warmup_seconds']:g} s of warm-up, "
        f"as {settings['principal']}."
    )
    lines.append("")
    floors = {name: {p["concurrency"]: p for p in ps} for name, ps in result.get("floor", {}).items()}
    for run in result["runs"]:
        lines.append(f"#### `hub serve`, {run['workers']} worker(s){' (the default)' if run['default'] else ''}")
        lines.append("")
        lines.append(
            "| operation | clients | req/s | p50 ms | p95 ms | p99 ms | errors | SQL/req | hub CPU ms/req "
            "| PostgreSQL CPU ms/req | generator CPU ms/req | worker RSS MB | floor req/s | floor p50 ms "
            "| floor PostgreSQL CPU ms/req | p50 / floor |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, passes in run["passes"].items():
            for p in passes:
                f = floors.get(name, {}).get(p["concurrency"])
                ratio = p["p50_ms"] / f["p50_ms"] if f and f["p50_ms"] else None
                lines.append(
                    f"| {name} | {p['concurrency']} | {_n(p['rps'])} | {_n(p['p50_ms'])} | {_n(p['p95_ms'])} "
                    f"| {_n(p['p99_ms'])} | {p['errors']} | {_n(p['sql_statements_per_request'])} "
                    f"| {_n(p.get('hub_cpu_ms_per_request'))} | {_n(p.get('postgres_cpu_ms_per_request'))} "
                    f"| {_n(p.get('generator_cpu_ms_per_request'), 2)} | {_n(max(p.get('hub_rss_mb') or [0]), 0)} "
                    f"| {_n(f['rps']) if f else '–'} | {_n(f['p50_ms'], 2) if f else '–'} "
                    f"| {_n(f.get('postgres_cpu_ms_per_request'), 2) if f else '–'} | {_n(ratio)} |"
                )
        lines.append("")
        lines.append(noise([p for ps in run["passes"].values() for p in ps]))
        lines.append("")
        if run.get("statements_vs_rows"):
            parts = [
                f"{name}: " + ", ".join(f"first {k} → {v}" for k, v in counts.items())
                for name, counts in run["statements_vs_rows"].items()
            ]
            lines.append("SQL statements per request by page size: " + "; ".join(parts) + ".")
            lines.append("")
    return "\n".join(lines)


def peer_tables(peer: dict[str, Any]) -> str:
    """The hub beside PostGraphile, per operation and concurrency."""
    lines = [f"Machine: {machine_line(peer)}", ""]
    lines.append(
        f"Peer: PostGraphile {peer['peer']['version']} on Node {peer['peer']['node']}, one process; "
        f"hub: `hub serve --workers 1`. Same database, same principal, same row-level security."
    )
    lines.append("")
    lines.append(
        "| operation | clients | hub req/s | peer req/s | hub / peer | hub p99 ms | peer p99 ms | hub SQL/req "
        "| hub CPU ms/req | peer CPU ms/req | PostgreSQL CPU ms/req (hub; peer) | hub RSS MB | peer RSS MB |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in peer["comparison"]:
        h, q = row["hub"], row["peer"]
        lines.append(
            f"| {row['operation']} | {row['concurrency']} | {_n(h['rps'])} | {_n(q['rps'])} | {_n(row['ratio'], 2)} "
            f"| {_n(h['p99_ms'])} | {_n(q['p99_ms'])} | {_n(h['sql_statements_per_request'])} "
            f"| {_n(h.get('hub_cpu_ms_per_request'))} | {_n(q.get('peer_cpu_ms_per_request'))} "
            f"| {_n(h.get('postgres_cpu_ms_per_request'))}; {_n(q.get('postgres_cpu_ms_per_request'))} "
            f"| {_n(max(h.get('hub_rss_mb') or [0]), 0)} | {_n(max(q.get('peer_rss_mb') or [0]), 0)} |"
        )
    lines.append("")
    lines.append(noise([r[who] for r in peer["comparison"] for who in ("hub", "peer")]))
    lines.append("")
    return "\n".join(lines)


def noise(passes: list[dict[str, Any]]) -> str:
    """How much CPU processes other than the measured ones (server, PostgreSQL, load generator) took meanwhile."""
    other = [p["other_busy_cores"] for p in passes if p.get("other_busy_cores") is not None]
    if not other:
        return ""
    return (
        f"Other processes on the machine used {sum(other) / len(other):.2f} of its cores on average during these "
        f"passes (at most {max(other):.2f}): the noise these figures carry."
    )


def targets(bench: dict[str, Any] | None, peer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target of the issue, with the figures it was judged on and whether it is met."""
    found: list[dict[str, Any]] = []
    if peer:
        row = next(
            (
                r
                for r in peer["comparison"]
                if r["operation"] == "wide_nested_list" and r["concurrency"] == PEER_CONCURRENCY
            ),
            None,
        )
        if row:
            found.append(
                {
                    "target": f"wide nested list at {PEER_CONCURRENCY} clients: req/s at least PostGraphile's",
                    "figures": f"hub {_n(row['hub']['rps'])} req/s, PostGraphile {_n(row['peer']['rps'])} req/s, "
                    f"ratio {_n(row['ratio'], 2)}",
                    "met": row["ratio"] >= 1.0,
                }
            )
            found.append(
                {
                    "target": f"wide nested list at {PEER_CONCURRENCY} clients: p99 no worse than PostGraphile's",
                    "figures": f"hub p99 {_n(row['hub']['p99_ms'])} ms, PostGraphile {_n(row['peer']['p99_ms'])} ms",
                    "met": row["hub"]["p99_ms"] <= row["peer"]["p99_ms"],
                }
            )
    if bench:
        run = bench["runs"][0]
        ratio = next(
            (r for r in run["ratio_to_floor"].get("wide_nested_list", []) if r["concurrency"] == 1),
            None,
        )
        if ratio:
            found.append(
                {
                    "target": f"wide nested list at 1 client: within {FLOOR_RATIO_TARGET:g}x of the raw-SQL floor",
                    "figures": f"p50 {_n(ratio['latency_ratio_p50'], 2)}x the floor's "
                    f"(mean {_n(ratio['latency_ratio_mean'], 2)}x)",
                    "met": ratio["latency_ratio_p50"] <= FLOOR_RATIO_TARGET,
                }
            )
        counts = run.get("statements_vs_rows") or {}
        if counts:
            flat = {name: sorted(set(c.values())) for name, c in counts.items()}
            found.append(
                {
                    "target": "SQL statements per request independent of rows",
                    "figures": "; ".join(
                        f"{name}: {', '.join(f'{k} rows → {v}' for k, v in c.items())}" for name, c in counts.items()
                    ),
                    "met": all(len(values) == 1 for values in flat.values()),
                }
            )
        rss = [r["max_worker_rss_mb"] for r in bench["runs"] if r.get("max_worker_rss_mb")]
        if rss:
            found.append(
                {
                    "target": f"memory per worker under {RSS_TARGET_MB:g} MB at the benchmark's data size",
                    "figures": f"largest worker RSS seen: {_n(max(rss), 0)} MB",
                    "met": max(rss) < RSS_TARGET_MB,
                }
            )
    return found


def targets_table(found: list[dict[str, Any]]) -> str:
    lines = ["| target | figures | met |", "|---|---|---|"]
    for t in found:
        lines.append(f"| {t['target']} | {t['figures']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


def plot_bench(result: dict[str, Any], out: Path) -> None:
    """Throughput and p99 against concurrency, per operation (solid: the hub, 1 worker; dashed: the floor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = result["runs"][0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, passes) in enumerate(run["passes"].items()):
        color = colors[i % len(colors)]
        xs = [p["concurrency"] for p in passes]
        left.plot(xs, [p["rps"] for p in passes], "o-", color=color, label=f"hub: {name}")
        right.plot(xs, [p["p99_ms"] for p in passes], "o-", color=color, label=f"hub: {name}")
        floor = result.get("floor", {}).get(name)
        if floor:
            fx = [p["concurrency"] for p in floor]
            left.plot(fx, [p["rps"] for p in floor], "s--", color=color, alpha=0.6, label=f"floor: {name}")
            right.plot(fx, [p["p99_ms"] for p in floor], "s--", color=color, alpha=0.6, label=f"floor: {name}")
    _finish(fig, left, right, f"hub serve, {run['workers']} worker(s), beside the raw-SQL floor (dashed)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_peer(peer: dict[str, Any], out: Path) -> None:
    """Throughput and p99 against concurrency: the hub (solid) beside PostGraphile (dashed), per operation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(dict.fromkeys(r["operation"] for r in peer["comparison"]))
    for i, name in enumerate(names):
        rows = [r for r in peer["comparison"] if r["operation"] == name]
        color = colors[i % len(colors)]
        xs = [r["concurrency"] for r in rows]
        for who, style in (("hub", "o-"), ("peer", "s--")):
            label = f"{'hub' if who == 'hub' else 'PostGraphile'}: {name}"
            left.plot(xs, [r[who]["rps"] for r in rows], style, color=color, label=label)
            right.plot(xs, [r[who]["p99_ms"] for r in rows], style, color=color, label=label)
    _finish(fig, left, right, "the hub (solid) beside PostGraphile (dashed), one process each")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _finish(fig: Any, left: Any, right: Any, title: str) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ticks = sorted({int(x) for line in left.get_lines() for x in line.get_xdata()})
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(ticks)
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("concurrent clients")
        axis.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    right.set_yscale("log")
    left.set_ylabel("requests/s (log)")
    right.set_ylabel("p99 latency, ms (log)")
    left.set_title("throughput", fontsize=10)
    right.set_title("p99 latency", fontsize=10)
    fig.suptitle(title, fontsize=11)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7, frameon=False)
    rows = (len(labels) + 4) // 5
    fig.tight_layout(rect=(0, 0.05 + 0.045 * rows, 1, 0.97))


def markdown(bench: dict[str, Any] | None, peer: dict[str, Any] | None) -> str:
    """The generated part of docs/performance.md."""
    parts = []
    if bench:
        parts += ["### The hub and the raw-SQL floor (`make bench`)", "", bench_tables(bench), ""]
        parts += ["![Throughput and p99 against concurrency](../bench/results/bench.png)", ""]
    if peer:
        parts += ["### The hub beside PostGraphile (`make bench-peer`)", "", peer_tables(peer), ""]
        parts += ["![The hub beside PostGraphile](../bench/results/peer.png)", ""]
    parts += ["### Targets", "", targets_table(targets(bench, peer)), ""]
    return "\n".join(parts)


def load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=RESULTS / "bench.json")
    parser.add_argument("--peer", type=Path, default=RESULTS / "peer.json")
    parser.add_argument("--write", type=Path, help="a page whose generated part (between the markers) to replace")
    args = parser.parse_args()
    bench, peer = load(args.bench), load(args.peer)
    if bench:
        plot_bench(bench, args.bench.with_suffix(".png"))
    if peer:
        plot_peer(peer, args.peer.with_suffix(".png"))
    text = markdown(bench, peer)
    if args.write:
        page = args.write.read_text()
        if BEGIN not in page or END not in page:
            raise SystemExit(f"{args.write} has no {BEGIN} ... {END} markers")
        page = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{text}\n{END}", page, flags=re.S)
        args.write.write_text(page)
    else:
        print(text)


if __name__ == "__main__":
    main()
