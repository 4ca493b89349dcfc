"""SES's sending rate on the local emulator (issue 17, point 3): infra/aws_emulator.py
answers SendEmail above its rate as SESv2 does (429 TooManyRequestsException), the SES
adapter raises ``SendThrottled``, and the sender treats it as back-pressure: the message
comes back later, the recipient stays queued, and in the end everyone is mailed once."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.core.model import OutgoingEmail
from chalicelib.errors import SendThrottled
from infra.local_stack import create_send_queue, create_table, provision_messaging
from infra.sqs_bridge import SENDER_FUNCTION, SqsPoller
from tests.emulators import free_port, running
from tests.integration.conftest import (
    SENDER,
    auth,
    invoice_body,
    make_key,
    post_invoice,
    reset_caches,
    run_sender,
    sent_view,
    use_endpoint,
)
from tools.local_mail import messages

RATE = 2  # messages a second: a burst of 2, then one every half second
BURST = 12


@pytest.fixture
def throttled_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "infra.aws_emulator", "-p", str(port), "--ses-rate", str(RATE)]
    with running(command, f"{url}/moto-api/", tmp_path / "aws.log"):
        yield url


@pytest.fixture
def throttled(throttled_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    use_endpoint(monkeypatch, throttled_url)
    monkeypatch.setenv("SOBRE_SEND_ATTEMPTS", "1")  # no client retries: every 429 shows
    monkeypatch.setenv("SOBRE_SES_SEND_RATE", "0")  # unpaced: the emulator says no
    create_table("sobre", "us-east-1")
    provision_messaging("us-east-1", "sobre", (SENDER,))
    monkeypatch.setenv("SOBRE_SEND_QUEUE_URL", create_send_queue("us-east-1"))
    reset_caches()
    yield throttled_url
    reset_caches()


def email(to: str) -> OutgoingEmail:
    raw = f"From: {SENDER}\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n".encode()
    return OutgoingEmail(SENDER, to, raw, {})


def test_the_emulator_answers_sends_above_its_rate_as_ses_does(throttled: str) -> None:
    from chalicelib.adapters.ses import SesMailer

    mailer = SesMailer("sobre", "us-east-1", max_attempts=1)
    mailer.send(email("warm@example.com"))  # the client and its connection, untimed
    time.sleep(1.1)  # the bucket full again

    def attempt(n: int) -> str:
        try:
            mailer.send(email(f"r{n}@example.com"))
        except SendThrottled as exc:
            return str(exc).split(":")[0]
        return "sent"

    # A burst at once (not one after another: on a loaded machine each send can take
    # longer than the bucket takes to refill).
    with ThreadPoolExecutor(BURST) as pool:
        outcomes = list(pool.map(attempt, range(BURST)))
    assert outcomes.count("sent") >= RATE
    assert "TooManyRequestsException" in outcomes
    assert set(outcomes) == {"sent", "TooManyRequestsException"}
    assert len(messages(throttled)) == outcomes.count("sent") + 1
    time.sleep(1.1)  # the bucket refills
    mailer.send(email("later@example.com"))
    with urllib.request.urlopen(f"{throttled}/moto-api/") as answer:
        assert answer.status == 200


def test_the_emulator_lists_only_the_messages_accepted_after_a_point(throttled: str) -> None:
    from chalicelib.adapters.ses import SesMailer

    mailer = SesMailer("sobre", "us-east-1", max_attempts=1)
    for n in range(3):
        time.sleep(0.6)  # within the rate
        mailer.send(email(f"m{n}@example.com"))
    assert [m.to for m in messages(throttled)] == [f"m{n}@example.com" for n in range(3)]
    assert [m.to for m in messages(throttled, after=2)] == ["m2@example.com"]
    assert messages(throttled, after=3) == []
    # The same messages moto's own dump has (what a plain moto server answers).
    with urllib.request.urlopen(f"{throttled}/moto-api/data.json") as answer:
        dumped = json.load(answer)["ses"]["RawMessage"]
    assert [m.message_id for m in messages(throttled)] == [r["id"] for r in dumped]


def test_throttled_sends_come_back_and_everyone_is_mailed_once(throttled: str) -> None:
    from app import app

    key = make_key("acme")
    emails = [f"r{n}@globex.example" for n in range(6)]
    with Client(app, stage_name="local") as client:
        body = invoice_body(recipients=[{"email": e} for e in emails])
        created = post_invoice(client, key, body)
        assert created.status_code == 202
        assert {r["status"] for r in created.json_body["recipients"]} == {"queued"}
        # Three senders at once, a message each (as Lambda runs several), unpaced: well
        # above the emulator's rate however long each send takes on this machine. (The
        # sender's handler itself: Chalice's test client swaps os.environ around each
        # invoke, which threads would interleave.)
        from chalicelib.container import context
        from chalicelib.settings import get_settings

        poller = SqsPoller(
            lambda event: run_sender(context(), event),
            get_settings().send_queue_url or "",
            "us-east-1",
            batch_size=1,
            function=SENDER_FUNCTION,
        )
        deadline = time.monotonic() + 60
        view = sent_view(client, key, created.json_body["id"])
        with ThreadPoolExecutor(3) as pool:
            while time.monotonic() < deadline and any(
                r["status"] != "sent" for r in view["recipients"]
            ):
                list(pool.map(lambda _: poller.poll_once(wait_seconds=1), range(3)))
                view = sent_view(client, key, created.json_body["id"])
        assert [r["status"] for r in view["recipients"]] == ["sent"] * len(emails)
        assert poller.failures > 0  # some came back: SES said no, they waited
        mailed = [d for m in messages(throttled) for d in m.destinations]
        assert sorted(mailed) == sorted(emails)  # each exactly once
        detail = client.http.get(f"/invoices/{created.json_body['id']}", headers=auth(key))
        assert all(r["send_attempts"] == 1 for r in detail.json_body["recipients"])
