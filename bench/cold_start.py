"""Section 4: cold start, on the deployment artifact. The zip as ``make package`` makes
it (bench/artifact.py: compiled, lean) is unzipped into a read-only directory and run
by a bare interpreter (``python -I -S``: no site-packages, only the task directory), as
Lambda runs it, in the production configuration (the token secret read from SSM). Each
child is a fresh process timed from the parent (start to exit): the app importing and
serving its first pixel, valid or forged, against a minimal boto3 handler doing one
GetItem and one PutItem from the same directory in the same run. Rounds interleave the
commands; the first round warms the disk cache and is dropped."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import artifact
from bench.core import Mode, Row, verdict
from bench.fixtures import pixel_event, sent_invoice, store_copies, tokens_for

SECTION = "4 cold start"
TARGET_VALID = 1.1  # app + first valid pixel / minimal handler
TARGET_FORGED = 0.3  # app + first forged-token pixel / minimal handler
MARK = "BENCH-COLD-START "
SECRET_PARAMETER = "/sobre/bench/token-secret"
# Lambda's runtime puts the task directory first; nothing else of this machine's.
PATH = "import sys; sys.path.insert(0, {task!r})\n"

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
FORGED = CHILD.replace('os.environ["BENCH_EVENT"]', 'os.environ["BENCH_FORGED_EVENT"]')

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


def _run(
    code: str, env: dict[str, str], task: Path, importtime: bool = False
) -> tuple[float, str, str]:
    flags = ["-I", "-S", *(["-X", "importtime"] if importtime else [])]
    command = [sys.executable, *flags, "-c", PATH.format(task=str(task)) + code]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=task, env=env, capture_output=True, text=True, check=False)
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
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    task, leaned = artifact.build(work / "artifact")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        **stack_env,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SOBRE_STAGE": "prod",
        "SOBRE_TOKEN_SECRET_PARAMETER": SECRET_PARAMETER,
        "BENCH_EVENT": json.dumps(pixel_event(token)),
        "BENCH_FORGED_EVENT": json.dumps(pixel_event(forged)),
        "BENCH_MARK": MARK,
    }
    _put_secret(stack_env, env.pop("SOBRE_TOKEN_SECRET"))
    variants: dict[str, str] = {
        "bare": BARE,
        "boto3": BASELINE,
        "app": CHILD,
        "forged": FORGED,
        "minimal": MINIMAL,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    inside: dict[str, list[dict[str, float]]] = {"app": [], "forged": []}
    try:
        for round_ in range(mode.cold_runs + 1):
            for name, code in variants.items():
                elapsed, stdout, _ = _run(code, env, task)
                if round_ == 0:
                    continue  # warm-up
                times[name].append(elapsed)
                if name in inside:
                    inside[name].append(_child_times(stdout))
        _, _, stderr = _run(CHILD, env, task, importtime=True)
    finally:
        artifact.writable(task)
    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    valid, forged_ratio = med["app"] / med["minimal"], med["forged"] / med["minimal"]

    def split(name: str) -> str:
        imported = statistics.median(x["import_s"] for x in inside[name]) * 1000
        first = statistics.median(x["first_pixel_s"] for x in inside[name]) * 1000
        return f"import app {imported:.0f} ms, first pixel {first:.0f} ms"

    runs = mode.cold_runs
    rows = [
        Row(
            SECTION,
            "the artifact: compiled, lean, read-only, bare interpreter",
            f"{leaned.compiled} modules as unchecked-hash .pyc, {leaned.stale_removed} stale "
            f"removed; {len(leaned.locales_kept)} Babel locales kept, "
            f"{leaned.locales_removed} removed",
            data={"compiled": leaned.compiled, "locales_kept": len(leaned.locales_kept)},
        ),
        Row(
            SECTION,
            "minimal boto3 handler: import, client, GetItem, PutItem",
            f"{med['minimal']:.0f} ms median of {runs} (bare interpreter {med['bare']:.0f} ms, "
            f"import boto3 {med['boto3']:.0f} ms)",
            data={"runs_ms": [round(t * 1000, 1) for t in times["minimal"]]},
        ),
        Row(
            SECTION,
            "app + first valid pixel (secret from SSM) / minimal handler",
            f"{med['app']:.0f} ms: {valid:.2f}x ({split('app')})",
            f"≤ {TARGET_VALID}x",
            verdict(valid <= TARGET_VALID),
            {"ms": round(med["app"], 1), "ratio": round(valid, 3)},
        ),
        Row(
            SECTION,
            "app + first forged-token pixel / minimal handler",
            f"{med['forged']:.0f} ms: {forged_ratio:.2f}x ({split('forged')})",
            f"≤ {TARGET_FORGED}x",
            verdict(forged_ratio <= TARGET_FORGED),
            {"ms": round(med["forged"], 1), "ratio": round(forged_ratio, 3)},
        ),
    ]
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


def _put_secret(stack_env: dict[str, str], secret: str) -> None:
    """The production configuration: the token secret as an SSM SecureString."""
    import boto3

    ssm = boto3.client(
        "ssm",
        endpoint_url=stack_env["AWS_ENDPOINT_URL"],
        region_name=stack_env.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=stack_env.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=stack_env.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    ssm.put_parameter(Name=SECRET_PARAMETER, Value=secret, Type="SecureString", Overwrite=True)
