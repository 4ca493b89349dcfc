"""Section 8, month-end (issue 17): the POST answers at once whatever it carries, and a
batch run on the emulators with SES throttled at 14 messages a second is accepted in
seconds and fully sent, every recipient exactly once, none failed.

Its own AWS emulator (infra/aws_emulator.py at ``SES_RATE``), the app through Chalice's
test client, and the send queue drained by ``SENDERS`` pollers into the ``sender``
handler, in this process, paced to the rate (as ``make run`` does). The POST latency is
the request's own (Chalice's test client in process: no network, no Lambda)."""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.core import REGION, SENDER, Mode, Row, quiet, stack_environment, verdict
from bench.core import use_environment as use

SECTION = "9 month-end"
SES_RATE = 14
SENDERS = 4
PDF_MB = 5
MONTH_END_TABLE = "sobre-month-end"


def _invoice(number: str, recipients: list[str], pdf: bytes | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": number,
        "customer": {"name": "Globex S.L."},
        "recipients": [{"email": e} for e in recipients],
        "currency": "EUR",
        "total": "10.00",
        "due_date": "2030-01-31",
    }
    if pdf is not None:
        body["pdf_base64"] = base64.b64encode(pdf).decode()
    return body


def _pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n"
    return head + b"0" * (size - len(head) - 6) + b"\n%%EOF"


def run(mode: Mode, work: Path, dynalite: str | None = None) -> list[Row]:
    """``dynalite``: DynamoDB's emulator (moto's DynamoDB is several times slower)."""
    from tests.emulators import free_port, running

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "infra.aws_emulator", "-p", str(port)]
    command += ["--ses-rate", str(SES_RATE)]
    with running(command, f"{url}/moto-api/", work / "month-end-aws.log"):
        return _run(mode, url, dynalite)


def _run(mode: Mode, url: str, dynalite: str | None) -> list[Row]:  # noqa: C901 (one story, in order)
    from chalice.test import Client

    from app import app
    from bench.dynamo_requests import make_key
    from chalicelib import container
    from chalicelib.settings import get_settings
    from infra.local_stack import create_send_queue, create_table, provision_messaging
    from infra.sqs_bridge import SENDER_FUNCTION, SqsPoller
    from tools.local_mail import messages

    env = {
        **stack_environment(url),
        "SOBRE_SES_SEND_RATE": str(SES_RATE),
        "SOBRE_SENDER_CONCURRENCY": "1",  # one process: its pace is the whole rate
        "SOBRE_TABLE_NAME": MONTH_END_TABLE,
        **({"AWS_ENDPOINT_URL_DYNAMODB": dynalite} if dynalite else {}),
    }
    saved = {k: os.environ.get(k) for k in env}
    use(env)
    create_table(MONTH_END_TABLE, REGION)
    provision_messaging(REGION, "sobre", (SENDER,))
    os.environ["SOBRE_SEND_QUEUE_URL"] = create_send_queue(REGION)
    use({})
    rows: list[Row] = []
    try:
        key = make_key()
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with Client(app, stage_name="local") as client:
            queue_url = get_settings().send_queue_url or ""
            before: Counter[str] = Counter()
            # The batch run: 1,000 invoices to 2 recipients each, 100 a request.
            invoices = 10 if mode.smoke else 1000
            bodies = [
                _invoice(f"ME-{n:04d}", [f"a{n}@globex.example", f"b{n}@globex.example"])
                for n in range(invoices)
            ]
            began = time.perf_counter()
            ids: list[str] = []
            with quiet():
                for start in range(0, invoices, 100):
                    chunk = json.dumps({"invoices": bodies[start : start + 100]})
                    answer = client.http.post("/invoices/batch", headers=auth, body=chunk)
                    assert answer.status_code == 207, answer.body
                    items = answer.json_body["items"]
                    assert {i["status"] for i in items} == {202}, items[:3]
                    ids.extend(i["invoice"]["id"] for i in items)
            accepted = time.perf_counter() - began
            rows.append(
                Row(
                    SECTION,
                    f"accept {invoices} invoices x 2 recipients (POST /invoices/batch)",
                    f"{accepted:.1f} s ({invoices / accepted:.0f} invoices/s)",
                    "seconds",
                    verdict(accepted < max(5.0, invoices / 50)),
                    {"invoices": invoices, "seconds": accepted},
                )
            )
            recipients = 2 * invoices
            pollers = [
                SqsPoller(
                    lambda e: client.lambda_.invoke(SENDER_FUNCTION, e).payload,
                    queue_url,
                    REGION,
                    function=SENDER_FUNCTION,
                )
                for _ in range(SENDERS)
            ]
            done = threading.Event()
            began = time.perf_counter()

            def poll(poller: SqsPoller) -> None:
                while not done.is_set():
                    try:
                        poller.poll_once(wait_seconds=1)
                    except Exception:
                        continue

            with quiet():
                threads = [threading.Thread(target=poll, args=(p,), daemon=True) for p in pollers]
                for thread in threads:
                    thread.start()
                deadline = time.monotonic() + 120 + recipients / SES_RATE * 2
                while time.monotonic() < deadline:
                    mailed = Counter(d for m in messages(url) for d in m.destinations) - before
                    if sum(mailed.values()) >= recipients:
                        break
                    time.sleep(2)  # reading the emulator's mail costs it time
                sent_all = time.perf_counter() - began
                time.sleep(2)  # anything late (a duplicate) would show now
                done.set()
                for thread in threads:
                    thread.join(timeout=5)
            mailed = Counter(d for m in messages(url) for d in m.destinations) - before
            ctx = container.context()
            statuses: Counter[str] = Counter()
            for invoice_id in ids:
                invoice = ctx.invoices.get_summary(invoice_id)
                statuses.update(r.status for r in (invoice.recipients if invoice else []))
            came_back = sum(p.failures for p in pollers)
            total = sum(mailed.values())
            rows.append(
                Row(
                    SECTION,
                    f"send all {recipients} (SES throttled at {SES_RATE}/s, {SENDERS} senders)",
                    f"{sent_all:.1f} s; {total / sent_all:.1f} SES sends/s; "
                    f"{came_back} throttled sends came back later",
                    f"≈ {recipients / SES_RATE:.0f} s, ≤ {SES_RATE}/s",
                    verdict(total / sent_all <= SES_RATE * 1.1 and total >= recipients),
                    {
                        "seconds": sent_all,
                        "sends_per_second": total / sent_all,
                        "came_back": came_back,
                    },
                )
            )
            failed = statuses.get("failed", 0)
            rows.append(
                Row(
                    SECTION,
                    "recipients failed",
                    f"{failed} ({dict(statuses)})",
                    "0",
                    verdict(failed == 0),
                    {"statuses": dict(statuses)},
                )
            )
            per = Counter(mailed.values())
            exactly_once = set(mailed.values()) == {1} and len(mailed) == recipients
            rows.append(
                Row(
                    SECTION,
                    "messages per recipient",
                    ", ".join(f"{n} recipients x{k}" for k, n in sorted(per.items())),
                    "exactly 1",
                    verdict(exactly_once),
                    {"histogram": {str(k): n for k, n in per.items()}},
                )
            )
            # After the batch (their sends are left queued: a 5 MB PDF to 51 people
            # would make the emulator's mail list slow to read).
            # POST latency: 1 and 50 recipients, with a 5 MB PDF; nothing is sent here.
            pdf = _pdf(PDF_MB * 1_000_000)
            for count in (1, 50):
                body = json.dumps(
                    _invoice(f"LAT-{count}", [f"r{n}@example.com" for n in range(count)], pdf)
                )
                times = []
                for attempt in range(1 if mode.smoke else 3):
                    with quiet():
                        began = time.perf_counter()
                        answer = client.http.post(
                            "/invoices",
                            headers=auth,
                            body=body.replace(f"LAT-{count}", f"LAT-{count}-{attempt}"),
                        )
                        times.append(time.perf_counter() - began)
                    assert answer.status_code == 202, answer.body
                best = min(times)
                rows.append(
                    Row(
                        SECTION,
                        f"POST /invoices, {count} recipient(s), {PDF_MB} MB PDF",
                        f"{best * 1000:.0f} ms (202, all queued; best of {len(times)})",
                        "< 1 s",
                        verdict(best < 1.0),
                        {"recipients": count, "seconds": best},
                    )
                )

    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.environ.pop("SOBRE_SEND_QUEUE_URL", None)
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        use({})
    return rows
