"""Section 7: the open classifier (chalicelib/core/classification.py, agents.py, networks.py):
microseconds per verdict on the labelled fetches, what each detection library adds to a
cold start (each measured in a fresh interpreter), and the network table's load time and
memory beside the ``ip_network`` objects it replaces."""

from __future__ import annotations

import ipaddress
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from bench.core import ROOT, Mode, Row, verdict

SECTION = "7 open classifier"
# The pixel is the hot path: a cached verdict must cost next to nothing, and a cold
# container must not wait on a library for the common mail clients.
WARM_TARGET_US = 50.0
MAIL_COLD_TARGET_MS = 50.0
TABLE_LOAD_TARGET_MS = 200.0
TABLE_MEMORY_TARGET_MB = 20.0

# Run in a fresh interpreter: module import, then the first verdict of each kind of user
# agent, each timed; the libraries each path loaded are reported.
_COLD_PROBE = """
import json, sys, time
from datetime import UTC, datetime
t = time.perf_counter()
from chalicelib.core.classification import FetchSignals, classify
out = {"import_ms": (time.perf_counter() - t) * 1000}
at = datetime(2026, 3, 2, 12, tzinfo=UTC)
LIBRARIES = ("crawleruseragents", "device_detector", "crawlerdetect")
for name, ua in json.loads(sys.argv[1]).items():
    t = time.perf_counter()
    classify(FetchSignals("open", at, ua, "40.94.89.0/24", "GET", None, None, 1, False))
    out[name] = {
        "ms": (time.perf_counter() - t) * 1000,
        "loaded": [m for m in LIBRARIES if m in sys.modules],
    }
print(json.dumps(out))
"""
COLD_AGENTS = {
    "mail client (Outlook)": "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro)",
    "plain browser (Chrome)": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/132.0.0.0 Safari/537.36"
    ),
    "anything else (an HTTP library)": "insomnia/2022.6.0",
}


def _cold(runs: int) -> dict[str, Any]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _COLD_PROBE, json.dumps(COLD_AGENTS)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        results.append(json.loads(done.stdout))
    median = {"import_ms": statistics.median(r["import_ms"] for r in results)}
    for name in COLD_AGENTS:
        median[name] = {
            "ms": statistics.median(r[name]["ms"] for r in results),
            "loaded": results[-1][name]["loaded"],
        }
    return median


def _per_verdict(rounds: int) -> tuple[float, float, int]:
    """(µs per verdict on first sight of each string, µs per cached verdict, n)."""
    from chalicelib.core import agents
    from chalicelib.core.classification import classify
    from tools.eval_opens import load_all

    signals = [entry.signals for entry in load_all()]
    for item in signals:  # load every library once: the cold start is measured apart
        classify(item)
    agents._identify.cache_clear()
    started = time.perf_counter()
    for item in signals:
        classify(item)
    first = (time.perf_counter() - started) / len(signals) * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        for item in signals:
            classify(item)
    warm = (time.perf_counter() - started) / (rounds * len(signals)) * 1e6
    return first, warm, len(signals)


def _table() -> dict[str, float]:
    """Load time and memory of the interval table, and of the ip_network objects the same
    ranges would make."""
    from chalicelib.core import networks

    networks.families.cache_clear()
    tracemalloc.start()
    started = time.perf_counter()
    table = networks.families()
    load_ms = (time.perf_counter() - started) * 1000
    table_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    spans = [
        (ipaddress.IPv4Address(s), ipaddress.IPv4Address(e))
        for f in table
        for s, e in zip(f.v4_starts, f.v4_ends, strict=True)
    ]
    tracemalloc.start()
    started = time.perf_counter()
    objects = [n for s, e in spans for n in ipaddress.summarize_address_range(s, e)]
    objects_ms = (time.perf_counter() - started) * 1000
    objects_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return {
        "intervals": float(sum(len(f.v4_starts) + len(f.v6_starts) for f in table)),
        "load_ms": load_ms,
        "table_mb": table_mb,
        "ipv4_network_objects": float(len(objects)),
        "objects_ms": objects_ms,
        "objects_mb": objects_mb,
    }


def run(mode: Mode) -> list[Row]:
    cold = _cold(1 if mode.smoke else 5)
    first, warm, n = _per_verdict(1 if mode.smoke else 20)
    table = _table()
    rows = [
        Row(
            SECTION,
            "µs per verdict (labelled fetches)",
            f"cached {warm:.1f} µs, first sight {first:.0f} µs (n={n})",
            f"cached < {WARM_TARGET_US:g} µs",
            verdict(warm < WARM_TARGET_US),
            {"first_us": first, "cached_us": warm, "n": n},
        ),
        Row(
            SECTION,
            "cold import of the classifier",
            f"{cold['import_ms']:.1f} ms",
            data={"import_ms": cold["import_ms"]},
        ),
    ]
    for name in COLD_AGENTS:
        figure = cold[name]
        loaded = ", ".join(figure["loaded"]) or "no detection library"
        is_mail = name.startswith("mail")
        rows.append(
            Row(
                SECTION,
                f"cold first verdict, {name}",
                f"{figure['ms']:.1f} ms (loads {loaded})",
                f"< {MAIL_COLD_TARGET_MS:g} ms, no library" if is_mail else "",
                verdict(figure["ms"] < MAIL_COLD_TARGET_MS and not figure["loaded"])
                if is_mail
                else "info",
                figure,
            )
        )
    rows.append(
        Row(
            SECTION,
            "network table (sorted intervals, bisect)",
            f"{table['intervals']:,.0f} intervals: load {table['load_ms']:.0f} ms, "
            f"{table['table_mb']:.1f} MB; as ip_network objects (IPv4 only) "
            f"{table['ipv4_network_objects']:,.0f}: {table['objects_ms']:.0f} ms, "
            f"{table['objects_mb']:.1f} MB",
            f"< {TABLE_LOAD_TARGET_MS:g} ms, < {TABLE_MEMORY_TARGET_MB:g} MB",
            verdict(
                table["load_ms"] < TABLE_LOAD_TARGET_MS
                and table["table_mb"] < TABLE_MEMORY_TARGET_MB
            ),
            table,
        )
    )
    return rows
