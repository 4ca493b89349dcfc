"""Metrics per invocation (issue 15, finding 11): under ``chalice local``'s threads,
concurrent invocations never share a metric set, so one flushing can never empty (or
publish) another's, and none answers 500."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from app import app
from chalicelib.observability import EmfMetrics, metrics_per_invocation

pytestmark = pytest.mark.disable_socket


def emf_blobs(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def metric_names(blob: dict[str, Any]) -> set[str]:
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    return {m["Name"] for m in directive["Metrics"]}


def test_the_app_flushes_metrics_per_invocation() -> None:
    registered = [handler for handler, _ in app.middleware_handlers]
    assert metrics_per_invocation in registered


def test_two_interleaved_invocations_each_flush_only_their_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = EmfMetrics()
    a_counted, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def invocation_a(_: Any) -> str:
        sink.count("OpensRecorded")
        a_counted.set()
        b_done.wait(5)  # B runs and flushes entirely while A is in flight
        return "a"

    def invocation_b(_: Any) -> str:
        a_counted.wait(5)
        sink.count("PixelTokenRejected")
        return "b"

    def run(handler: Any) -> None:
        try:
            metrics_per_invocation({}, handler)
        except BaseException as exc:
            errors.append(exc)
        finally:
            if handler is invocation_b:
                b_done.set()

    threads = [threading.Thread(target=run, args=(h,)) for h in (invocation_a, invocation_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    blobs = emf_blobs(capsys.readouterr().out)
    assert [metric_names(b) for b in blobs] == [{"PixelTokenRejected"}, {"OpensRecorded"}]


def test_many_concurrent_invocations_lose_and_share_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = EmfMetrics()
    barrier = threading.Barrier(8)

    def invocation(_: Any) -> None:
        barrier.wait(5)
        for _ in range(50):
            sink.count("OpensRecorded")

    threads = [
        threading.Thread(target=metrics_per_invocation, args=({}, invocation)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    blobs = emf_blobs(capsys.readouterr().out)
    assert len(blobs) == 8
    assert all(b["OpensRecorded"] == 50.0 for b in blobs)  # one value each (EMF: ≤ 100)


def test_a_metric_outside_any_invocation_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An operator command's stdout is its answer (tools/admin.py prints JSON).
    EmfMetrics().count("InvoicesSent")
    assert emf_blobs(capsys.readouterr().out) == []


LATE_LOG = """
import json
from chalicelib.observability import logger, with_lambda_context

class Context:
    function_name = "sobre-prod"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:sobre-prod"
    aws_request_id = "req-1"; log_group_name = log_stream_name = "test"

with_lambda_context({}, Context(), lambda: None)  # logs nothing: Powertools stays out
import sys
assert "aws_lambda_powertools" not in sys.modules
Context.aws_request_id = "req-2"
with_lambda_context({}, Context(), lambda: logger.info("late"))  # loads it here
Context.aws_request_id = "req-3"
with_lambda_context({}, Context(), lambda: logger.info("loaded"))
"""


def test_the_logger_loads_at_its_first_line_with_that_invocations_context() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LATE_LOG], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(x["message"], x["function_request_id"], x["cold_start"]) for x in lines] == [
        ("late", "req-2", False),  # the second invocation: not the cold start
        ("loaded", "req-3", False),
    ]
