"""Section 4: cold start. A fresh Python process imports ``app`` and serves one pixel
(a valid token, against the moto server, with the table provisioned), timed from the
parent (process start to exit), versus a fresh ``python -c "import boto3"`` in the same
run. Rounds interleave the commands; the first round warms the disk and bytecode
caches and is dropped."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core import ROOT, Mode, Row, verdict
from bench.fixtures import pixel_event, sent_invoice, store_copies, tokens_for

SECTION = "4 cold start"
TARGET_RATIO = 1.3
MARK = "BENCH-COLD-START "

# Runs in the child. Lambda's Python runtime imports the handler module, then calls it.
CHILD = """
import json, os, sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()

class Context:
    function_name = "sobre-prod"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sobre-prod"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start"
    log_group_name = log_stream_name = "bench"

response = app.app(json.loads(os.environ["BENCH_EVENT"]), Context())
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
assert response["isBase64Encoded"], response
sys.stdout.flush()
times = {"import_s": t1 - t0, "first_pixel_s": t2 - t1}
print(os.environ["BENCH_MARK"] + json.dumps(times), flush=True)
"""

# The same, timing the steps of the first pixel apart (the order the pixel does them in).
SPLIT = CHILD.replace(
    "response = app.app(",
    """from chalicelib import container
from chalicelib.adapters.dynamo import models
t_dynamo = time.perf_counter()
container.context()
models.InvoiceItem._get_connection().connection.client
t_client = time.perf_counter()
response = app.app(""",
).replace(
    'times = {"import_s": t1 - t0, "first_pixel_s": t2 - t1}',
    'times = {"import_s": t1 - t0, "dynamo_s": t_dynamo - t1, "client_s": t_client - t_dynamo, '
    '"request_s": t2 - t_client}',
)

BASELINE = "import boto3"
BARE = "pass"
# For scale: the least a handler that reads and writes one item with boto3 does.
MINIMAL = """
import os, boto3
client = boto3.client("dynamodb")
table, key = os.environ["SOBRE_TABLE_NAME"], {"pk": {"S": "BENCH#cold"}, "sk": {"S": "BENCH"}}
client.get_item(TableName=table, Key=key, ConsistentRead=True)
client.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
"""


def _run(code: str, env: dict[str, str], importtime: bool = False) -> tuple[float, str, str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{code[:40]!r} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout, done.stderr


def _child_times(stdout: str) -> dict[str, float]:
    line = next(x for x in stdout.splitlines() if x.startswith(MARK))
    parsed: dict[str, float] = json.loads(line[len(MARK) :])
    return parsed


def importtime_lines(stderr: str) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of each ``-X importtime`` line."""
    found: list[tuple[int, int, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (p.strip() for p in line[len("import time:") :].split("|"))
        found.append((int(self_us), int(cumulative_us), name))
    return found


def top_imports(stderr: str, limit: int = 10) -> tuple[list[tuple[str, float]], float]:
    """Self time (ms) summed by top-level package, from ``-X importtime`` output."""
    by_root: dict[str, float] = {}
    for self_us, _, name in importtime_lines(stderr):
        root = name.split(".")[0]
        by_root[root] = by_root.get(root, 0.0) + self_us / 1000
    total = sum(by_root.values())
    top = sorted(by_root.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [(name, round(ms, 1)) for name, ms in top], total


def run(mode: Mode, stack_env: dict[str, str], work: Path) -> list[Row]:
    invoice = store_copies(sent_invoice(["ana@globex.example"]), 1)
    token = tokens_for(invoice)[0]
    env = {
        **os.environ,
        **stack_env,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SOBRE_STAGE": "local",
        "BENCH_EVENT": json.dumps(pixel_event(token)),
        "BENCH_MARK": MARK,
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)

    variants: dict[str, tuple[str, bool]] = {
        "bare": (BARE, False),
        "boto3": (BASELINE, False),
        "app": (CHILD, False),
        "minimal": (MINIMAL, False),
        "split": (SPLIT, False),
    }
    if not mode.smoke:
        variants |= {"boto3_nopyc": (BASELINE, True), "app_nopyc": (CHILD, True)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    inside: list[dict[str, float]] = []
    inside_nopyc: list[dict[str, float]] = []
    split: list[dict[str, float]] = []
    for round_ in range(mode.cold_runs + 1):
        for name, (code, no_pyc) in variants.items():
            run_env = env
            with tempfile.TemporaryDirectory(dir=work) as empty:
                if no_pyc:
                    # An empty bytecode cache that is never written: every module is
                    # compiled from source, as from a zip without .pyc on a read-only
                    # /var/task.
                    run_env = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
                elapsed, stdout, _ = _run(code, run_env)
            if round_ == 0:
                continue  # warm-up
            times[name].append(elapsed)
            if name == "app":
                inside.append(_child_times(stdout))
            elif name == "split":
                split.append(_child_times(stdout))
            elif name == "app_nopyc":
                inside_nopyc.append(_child_times(stdout))

    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio = med["app"] / med["boto3"]
    net_ratio = (med["app"] - med["bare"]) / max(1e-9, med["boto3"] - med["bare"])
    import_ms = statistics.median(x["import_s"] for x in inside) * 1000
    first_ms = statistics.median(x["first_pixel_s"] for x in inside) * 1000
    runs = mode.cold_runs
    rows = [
        Row(
            SECTION,
            'fresh `python -c "import boto3"` (baseline)',
            f"{med['boto3']:.0f} ms median of {runs} (bare interpreter {med['bare']:.0f} ms)",
            data={"runs_ms": [round(t * 1000, 1) for t in times["boto3"]], "bare_ms": med["bare"]},
        ),
        Row(
            SECTION,
            "fresh process: import app + first pixel",
            f"{med['app']:.0f} ms median (import {import_ms:.0f} ms, "
            f"first pixel {first_ms:.0f} ms)",
            data={
                "runs_ms": [round(t * 1000, 1) for t in times["app"]],
                "import_ms": round(import_ms, 1),
                "first_pixel_ms": round(first_ms, 1),
            },
        ),
        Row(
            SECTION,
            "cold start / import boto3 (same run)",
            f"{ratio:.2f}x ({net_ratio:.2f}x without interpreter start-up)",
            f"≤ {TARGET_RATIO}x",
            verdict(ratio <= TARGET_RATIO),
            {"ratio": round(ratio, 3), "ratio_without_interpreter": round(net_ratio, 3)},
        ),
    ]
    rows.append(
        Row(
            SECTION,
            "  for scale: import boto3 + client + GetItem + PutItem",
            f"{med['minimal']:.0f} ms median: {med['minimal'] / med['boto3']:.2f}x import boto3; "
            f"Sobre is {med['app'] / med['minimal']:.2f}x this",
            data={"runs_ms": [round(t * 1000, 1) for t in times["minimal"]]},
        )
    )
    steps = {
        key: statistics.median(x[key] for x in split) * 1000
        for key in ("import_s", "dynamo_s", "client_s", "request_s")
    }
    rows.append(
        Row(
            SECTION,
            "  where it goes (a run timing each step)",
            f"import app {steps['import_s']:.0f} ms, then pynamodb + botocore imports "
            f"{steps['dynamo_s']:.0f} ms, DynamoDB client {steps['client_s']:.0f} ms, "
            f"the request {steps['request_s']:.0f} ms",
            data={"median_ms": {k.removesuffix("_s"): round(v, 1) for k, v in steps.items()}},
        )
    )
    if "app_nopyc" in med:
        nopyc_import = statistics.median(x["import_s"] for x in inside_nopyc) * 1000
        rows.append(
            Row(
                SECTION,
                "same, no .pyc (the zip has none; /var/task is read-only)",
                f"{med['app_nopyc']:.0f} ms (import {nopyc_import:.0f} ms) vs import boto3 "
                f"{med['boto3_nopyc']:.0f} ms: {med['app_nopyc'] / med['boto3']:.2f}x "
                "boto3 with .pyc",
                data={
                    "app_ms": med["app_nopyc"],
                    "import_ms": round(nopyc_import, 1),
                    "boto3_ms": med["boto3_nopyc"],
                },
            )
        )
    _, _, stderr = _run(CHILD, env, importtime=True)
    top, total = top_imports(stderr)
    modules = sorted(importtime_lines(stderr), reverse=True)[:15]
    rows.append(
        Row(
            SECTION,
            "-X importtime, import app + first pixel: by package",
            f"{total:.0f} ms: " + ", ".join(f"{name} {ms:.0f}" for name, ms in top[:6]),
            data={
                "top_packages_self_ms": top,
                "total_ms": round(total, 1),
                "top_modules_self_ms": [(name, round(us / 1000, 1)) for us, _, name in modules],
            },
        )
    )
    rows.append(
        Row(
            SECTION,
            "  slowest modules (self ms)",
            ", ".join(f"{name} {us / 1000:.1f}" for us, _, name in modules[:6]),
        )
    )
    return rows
