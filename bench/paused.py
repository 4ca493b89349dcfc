"""Section 8: the pixel with storage paused. A DynamoDB emulator of the section's own
(dynalite) holds the table and is stopped with SIGSTOP for 10 s (2 s with --smoke)
while the pixel is fetched through the app (Chalice's test client, the production
deadline of 800 ms and the deferred-fetch queue on moto's SQS). Each fetch is timed to
its answer (p50/p99 of the fetches made while storage was stopped); then storage is
resumed, the queue drained into ``fetch_fallback`` as Lambda's SQS event source would
(infra/sqs_bridge.py), and the invoice's recorded opens counted: every fetch once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

from bench.core import Mode, Row, percentile, quiet, reset_app_caches, verdict
from bench.fixtures import USER_AGENT, sent_invoice, store_copies, tokens_for

SECTION = "8 storage paused"
DEADLINE_MS = 800  # production's SOBRE_FETCH_DEADLINE_MS
TARGET_P99_S = 1.0  # "every fetch answers within about a second"


def _dynalite(work: Path) -> tuple[str, AbstractContextManager[subprocess.Popen[bytes]]]:
    from tests.emulators import dynalite_command, free_port, running

    command = dynalite_command()
    if command is None:
        raise RuntimeError("dynalite is not installed (npm ci)")
    port = free_port()
    flags = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    url = f"http://127.0.0.1:{port}"
    return url, running([*command, "--port", str(port), *flags], url, work / "paused.log")


def run(mode: Mode, region: str, work: Path) -> list[Row]:
    from chalice.test import Client

    from app import app
    from chalicelib import container
    from infra.local_stack import create_fetch_queue, create_table
    from infra.sns_bridge import app_invoker
    from infra.sqs_bridge import FUNCTION_NAME, SqsPoller

    pause = 2.0 if mode.smoke else 10.0
    url, server = _dynalite(work)
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_DYNAMODB", "SOBRE_FETCH_QUEUE_URL")}
    saved["SOBRE_FETCH_DEADLINE_MS"] = os.environ.get("SOBRE_FETCH_DEADLINE_MS")
    with server as process:
        try:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
            os.environ["SOBRE_FETCH_DEADLINE_MS"] = str(DEADLINE_MS)
            reset_app_caches()
            create_table(os.environ.get("SOBRE_TABLE_NAME", "sobre"), region)
            os.environ["SOBRE_FETCH_QUEUE_URL"] = queue = create_fetch_queue(region)
            reset_app_caches()
            (invoice,) = store_copies(sent_invoice(["ana@globex.example"]), 1)
            pixel = f"/t/{tokens_for([invoice])[0]}.gif"
            headers = {"User-Agent": USER_AGENT, "Accept": "image/webp,*/*"}
            took: list[float] = []
            with quiet(), Client(app, stage_name="local") as client:
                assert client.http.get(pixel, headers=headers).status_code == 200  # warm
                os.kill(process.pid, signal.SIGSTOP)
                try:
                    stop_at = time.monotonic() + pause
                    while time.monotonic() < stop_at:
                        began = time.monotonic()
                        answer = client.http.get(pixel, headers=headers)
                        took.append(time.monotonic() - began)
                        assert answer.status_code == 200, answer.status_code
                        assert answer.body.startswith(b"GIF89a")
                finally:
                    os.kill(process.pid, signal.SIGCONT)
                poller = SqsPoller(app_invoker(FUNCTION_NAME), queue, region)
                drained = 0
                for _ in range(20):
                    got = poller.poll_once(wait_seconds=0)
                    drained += got
                    if not got and drained >= len(took):
                        break
                stored = container.context().invoices.get(invoice.id)
            assert stored is not None
            [ana] = stored.recipients
            recorded = ana.open_count + ana.machine_open_count
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            reset_app_caches()
    fetched = 1 + len(took)  # the warm-up, and those made while storage was stopped
    p50, p99 = percentile(took, 50), percentile(took, 99)
    return [
        Row(
            SECTION,
            f"pixel latency, storage stopped {pause:.0f} s (deadline {DEADLINE_MS} ms)",
            f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(took):.3f} s (n={len(took)})",
            f"p99 ≤ {TARGET_P99_S} s",
            verdict(p99 <= TARGET_P99_S),
            {"p50_s": round(p50, 3), "p99_s": round(p99, 3), "n": len(took)},
        ),
        Row(
            SECTION,
            "fetches recorded once storage is back (queue drained)",
            f"{recorded} of {fetched} ({drained} from the queue, {poller.failures} failed)",
            f"{fetched} of {fetched}",
            verdict(recorded == fetched and poller.failures == 0),
            {"recorded": recorded, "fetched": fetched, "drained": drained},
        ),
    ]
