"""Section 4: cold start, on the deployment artifact. The zip as ``make package`` makes
it (bench/artifact.py: compiled, lean) is unzipped into a read-only directory and run
by a bare interpreter (``python -I -S``: no site-packages, only the task directory), as
Lambda runs it, in the production configuration (the token secret read from SSM, the
deferred-fetch queue set). Each child is a fresh process, timed from the parent from
its start to the moment its first answer is printed (what a cold Lambda invocation
waits: Lambda freezes the process after answering, it never tears the interpreter down
first), and, for information, to its exit. The children: the app serving its first
pixel behind the REST API (``app.app``) and behind the public door (``public_door``,
payload 2.0), valid or forged, against a minimal boto3 handler in the same directory
and run that does what the valid pixel must: read the secret from SSM, then one
GetItem and one PutItem. Rounds interleave the commands; the first warms the disk cache
and is dropped."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import artifact
from bench.core import REGION, Mode, Row, verdict
from bench.fixtures import door_pixel_event, pixel_event, sent_invoice, store_copies, tokens_for
from chalicelib.adapters.dynamo import lite

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

response = app.HANDLER(json.loads(os.environ["BENCH_EVENT"]), Context())
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
assert response["isBase64Encoded"], response
sys.stdout.flush()
times = {"import_s": t1 - t0, "first_pixel_s": t2 - t1}
print(os.environ["BENCH_MARK"] + json.dumps(times), flush=True)
"""


def _child(handler: str, event: str) -> str:
    return CHILD.replace("HANDLER", handler).replace('"BENCH_EVENT"', f'"{event}"')


VARIANTS_APP = {
    "app": _child("app", "BENCH_EVENT"),
    "forged": _child("app", "BENCH_FORGED_EVENT"),
    "door": _child("public_door", "BENCH_DOOR_EVENT"),
    "door forged": _child("public_door", "BENCH_DOOR_FORGED_EVENT"),
}

BASELINE = "import boto3"
BARE = "pass"
# For scale: the least a handler that must verify a token and then read and write one
# item does with boto3 — the same SSM read as the app (the production configuration),
# one GetItem, one PutItem.
MINIMAL = """
import json, os, time
t0 = time.perf_counter()
import boto3
secret = boto3.client("ssm").get_parameter(
    Name=os.environ["SOBRE_TOKEN_SECRET_PARAMETER"], WithDecryption=True
)["Parameter"]["Value"]
client = boto3.client("dynamodb")
table, key = os.environ["SOBRE_TABLE_NAME"], {"pk": {"S": "BENCH#cold"}, "sk": {"S": "BENCH"}}
client.get_item(TableName=table, Key=key, ConsistentRead=True)
client.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
print(os.environ["BENCH_MARK"] + json.dumps({"total_s": time.perf_counter() - t0}), flush=True)
"""


def _run(
    code: str, env: dict[str, str], task: Path, importtime: bool = False
) -> tuple[float, float, str, str]:
    """(seconds to the first answer — the mark line, or exit when there is none —,
    seconds to exit, stdout, stderr) of one fresh interpreter."""
    flags = ["-I", "-S", *(["-X", "importtime"] if importtime else [])]
    command = [sys.executable, *flags, "-c", PATH.format(task=str(task)) + code]
    began = time.perf_counter()
    answered = None
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=task, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        for line in child.stdout:
            if answered is None and line.startswith(MARK):
                answered = time.perf_counter() - began
            lines.append(line)
        stderr = child.stderr.read()
        returncode = child.wait()
    exited = time.perf_counter() - began
    if returncode != 0:
        raise RuntimeError(f"{code[:40]!r} failed: {stderr[-2000:]}")
    return answered if answered is not None else exited, exited, "".join(lines), stderr


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


def _environment(stack_env: dict[str, str]) -> dict[str, str]:
    from infra.local_stack import create_fetch_queue

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        **stack_env,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SOBRE_STAGE": "prod",
        "SOBRE_TOKEN_SECRET_PARAMETER": SECRET_PARAMETER,
        "SOBRE_FETCH_QUEUE_URL": create_fetch_queue(stack_env.get("AWS_DEFAULT_REGION", REGION)),
        "BENCH_MARK": MARK,
    }
    env.pop(lite.CLIENT_SETTING, None)  # the stores' light client, as deployed
    _put_secret(stack_env, env.pop("SOBRE_TOKEN_SECRET"))
    return env


def _events(token: str) -> dict[str, str]:
    """The four children's events for one recipient's pixel token."""
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    return {
        "BENCH_EVENT": json.dumps(pixel_event(token)),
        "BENCH_FORGED_EVENT": json.dumps(pixel_event(forged)),
        "BENCH_DOOR_EVENT": json.dumps(door_pixel_event(token)),
        "BENCH_DOOR_FORGED_EVENT": json.dumps(door_pixel_event(forged)),
    }


def run(mode: Mode, stack_env: dict[str, str], work: Path) -> list[Row]:
    # A recipient of its own for each round (and the importtime run): every child
    # serves the first open of its recipient, as a cold container's first pixel most
    # often is, never the latest of a burst of opens of one token seconds apart (which
    # re-judges the burst: a flood's cost, measured in section 1, not a cold start's).
    tokens = tokens_for(store_copies(sent_invoice(["ana@globex.example"]), mode.cold_runs + 2))
    env = _environment(stack_env)
    task, leaned = artifact.build(work / "artifact")
    variants = {"bare": BARE, "boto3": BASELINE, "minimal": MINIMAL, **VARIANTS_APP}
    answered: dict[str, list[float]] = {name: [] for name in variants}
    exited: dict[str, list[float]] = {name: [] for name in variants}
    inside: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS_APP}
    try:
        for round_ in range(mode.cold_runs + 1):
            events = _events(tokens[round_])
            for name, code in variants.items():
                to_answer, to_exit, stdout, _ = _run(code, {**env, **events}, task)
                if round_ == 0:
                    continue  # warm-up
                answered[name].append(to_answer)
                exited[name].append(to_exit)
                if name in inside:
                    inside[name].append(_child_times(stdout))
        importtime_env = {**env, **_events(tokens[-1])}
        stderr = _run(VARIANTS_APP["door"], importtime_env, task, importtime=True)[3]
    finally:
        artifact.writable(task)
    med = {name: statistics.median(values) * 1000 for name, values in answered.items()}
    out = {name: statistics.median(values) * 1000 for name, values in exited.items()}
    base = med["minimal"]

    def split(name: str) -> str:
        imported = statistics.median(x["import_s"] for x in inside[name]) * 1000
        first = statistics.median(x["first_pixel_s"] for x in inside[name]) * 1000
        return f"import {imported:.0f} + pixel {first:.0f}; exit at {out[name]:.0f} ms"

    def judged(name: str, what: str, target: float) -> Row:
        ratio = med[name] / base
        return Row(
            SECTION,
            f"{what} / minimal",
            f"{med[name]:.0f} ms: {ratio:.2f}x ({split(name)})",
            f"≤ {target}x",
            verdict(ratio <= target),
            {"ms": round(med[name], 1), "ratio": round(ratio, 3), "exit_ms": round(out[name], 1)},
        )

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
            "minimal boto3 handler: SSM secret, GetItem, PutItem",
            f"{base:.0f} ms to its answer, median of {mode.cold_runs}; exit at "
            f"{out['minimal']:.0f} ms (bare interpreter {med['bare']:.0f} ms, import boto3 "
            f"{med['boto3']:.0f} ms)",
            data={"runs_ms": [round(t * 1000, 1) for t in answered["minimal"]]},
        ),
        judged("door", "public door (payload 2.0) + first valid pixel", TARGET_VALID),
        judged("door forged", "public door + first forged-token pixel", TARGET_FORGED),
        judged("app", "REST app.app + first valid pixel", TARGET_VALID),
        judged("forged", "REST app.app + first forged-token pixel", TARGET_FORGED),
    ]
    return rows + _import_rows(stderr)


def _import_rows(stderr: str) -> list[Row]:
    top, total = top_imports(stderr)
    modules = sorted(importtime_lines(stderr), reverse=True)[:15]
    return [
        Row(
            SECTION,
            "-X importtime, public door + first valid pixel: by package",
            f"{total:.0f} ms: " + ", ".join(f"{name} {ms:.0f}" for name, ms in top[:6]),
            data={
                "top_packages_self_ms": top,
                "total_ms": round(total, 1),
                "top_modules_self_ms": [(name, round(us / 1000, 1)) for us, _, name in modules],
            },
        ),
        Row(
            SECTION,
            "  slowest modules (self ms)",
            ", ".join(f"{name} {us / 1000:.1f}" for us, _, name in modules[:6]),
        ),
    ]


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
