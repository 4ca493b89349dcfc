"""The pixel with storage paused: a DynamoDB emulator of its own (moto server) is
stopped with SIGSTOP while pixels are fetched through the Chalice app. Every fetch
answers the GIF by the deadline; the opens wait in the deferred-fetch queue (moto's
SQS, on the shared emulator, still up) and, once storage is back, the local stack's
SQS bridge hands them to the ``fetch_fallback`` function: each counted once."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from infra.local_stack import create_fetch_queue, create_table
from infra.sns_bridge import app_invoker
from infra.sqs_bridge import FUNCTION_NAME, SqsPoller
from tests.emulators import free_port, running
from tests.integration.conftest import (
    HUMAN,
    Stack,
    auth,
    drain_sends,
    invoice_body,
    message_to,
    pixel_path,
    post_invoice,
    reset_caches,
)
from tests.integration.test_pixel import assert_gif

DEADLINE_MS = 500
FETCHES = 6


@pytest.fixture
def storage(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A DynamoDB emulator apart from the shared one; yields its pid."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(command, f"{url}/moto-api/", tmp_path / "storage.log") as process:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        monkeypatch.setenv("SOBRE_FETCH_DEADLINE_MS", str(DEADLINE_MS))
        reset_caches()
        create_table("sobre", "us-east-1")
        monkeypatch.setenv("SOBRE_FETCH_QUEUE_URL", create_fetch_queue("us-east-1"))
        reset_caches()
        try:
            yield process.pid
        finally:
            os.kill(process.pid, signal.SIGCONT)  # never leave it stopped


def test_pixels_answer_while_storage_is_paused_and_count_once_afterwards(
    storage: int, stack: Stack
) -> None:
    from app import app
    from tests.integration.conftest import make_key

    key = make_key("acme")
    with Client(app, stage_name="local") as client:
        created = post_invoice(client, key, invoice_body()).json_body
        drain_sends(client, stack.send_queue_url)
        pixel = pixel_path(message_to(stack, "ana@globex.example"))
        assert_gif(client.http.get(pixel, headers=HUMAN))  # storage up: recorded at once

        os.kill(storage, signal.SIGSTOP)
        try:
            took = []
            for n in range(FETCHES):
                began = time.monotonic()
                response = client.http.get(pixel, headers={**HUMAN, "X-N": str(n)})
                took.append(time.monotonic() - began)
                assert_gif(response)
        finally:
            os.kill(storage, signal.SIGCONT)
        assert max(took) < DEADLINE_MS / 1000 + 0.7, took

        poller = SqsPoller(
            app_invoker(FUNCTION_NAME), os.environ["SOBRE_FETCH_QUEUE_URL"], "us-east-1"
        )
        drained = 0
        for _ in range(10):
            got = poller.poll_once(wait_seconds=0)
            drained += got
            if not got and drained >= FETCHES:
                break
        assert drained == FETCHES
        assert poller.failures == 0

        detail = client.http.get(f"/invoices/{created['id']}", headers=auth(key)).json_body
        ana = next(r for r in detail["recipients"] if r["email"] == "ana@globex.example")
        assert ana["open_count"] + ana["machine_open_count"] == 1 + FETCHES
        events = client.http.get(
            f"/invoices/{created['id']}/events?limit=100", headers=auth(key)
        ).json_body["items"]
        assert len([e for e in events if e["type"] == "open"]) == 1 + FETCHES
