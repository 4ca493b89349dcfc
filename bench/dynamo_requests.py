"""Section 1: DynamoDB requests per operation, counted at the botocore level while the
app runs in-process (``chalice.test.Client``, as the integration tests drive it)
against a moto server."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bench.core import (
    ACCOUNT,
    COUNTER,
    ROOT,
    SENDER,
    TOKEN_SECRET,
    Backends,
    Row,
    Tally,
    dynamodb_at,
    quiet,
    verdict,
)
from bench.fixtures import (
    SES_CASES,
    USER_AGENT,
    emails,
    invoice_body,
    routed_email,
    sent_invoice,
    ses_event,
    store_copies,
    tokens_for,
)
from chalicelib.accounts import service as account_service
from chalicelib.adapters.dynamo import accounts as dynamo_accounts
from chalicelib.adapters.dynamo import models
from chalicelib.tracking import service as tracking_service

SECTION = "1 DynamoDB requests"
T = TypeVar("T")


def measured(action: Callable[[], T]) -> tuple[T, Tally]:
    with quiet(), COUNTER.measure() as tally:
        result = action()
    return result, tally


def make_key() -> str:
    from chalicelib.core.model import utc_now
    from chalicelib.settings import get_settings

    settings = get_settings()
    models.configure(settings.table_name, settings.aws_region)
    return account_service.create_api_key(
        dynamo_accounts.DynamoAccountStore(), utc_now(), ACCOUNT, SENDER
    )


def row(measure: str, tally: Tally, target: str, ok: bool | None, **data: Any) -> Row:
    value = tally.describe()
    if tally.conditional_failures:
        value += f" ({tally.conditional_failures} conditional check failed)"
    return Row(
        SECTION,
        measure,
        value,
        target,
        "info" if ok is None else verdict(ok),
        {**tally.as_json(), **data},
    )


def run(recipient_counts: tuple[int, ...], backends: Backends) -> list[Row]:
    from chalice.test import Client

    from app import app
    from chalicelib.ids import TokenSigner

    signer = TokenSigner(TOKEN_SECRET.encode())
    key = make_key()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    rows: list[Row] = []

    with Client(app, stage_name="local", project_dir=str(ROOT)) as client:

        def post(addresses: list[str] | tuple[str, ...]) -> dict[str, Any]:
            response = client.http.post(
                "/invoices", headers=auth, body=json.dumps(invoice_body(addresses))
            )
            assert response.status_code == 201, response.body
            return dict(response.json_body)

        def get(path: str, headers: dict[str, str] | None = None) -> Any:
            return client.http.get(path, headers=headers if headers is not None else auth)

        # Authentication reads the key and the account once, then trusts them 60 s.
        first, tally = measured(lambda: get("/invoices?limit=1"))
        assert first.status_code == 200, first.body
        rows.append(
            row(
                "first authenticated request (list page, key cache cold)",
                tally,
                "≤ 2 GetItem + 1 Query",
                tally.calls["GetItem"] <= 2 and tally.calls["Query"] == 1 and tally.writes == 0,
            )
        )

        # Sending: one message per recipient.
        for count in recipient_counts:

            def send(count: int = count) -> dict[str, Any]:
                return post(emails(count))

            created, tally = measured(send)
            batches = math.ceil(count / 25)
            sent = tally.other.get("sesv2.SendEmail", 0)
            per_recipient = sum(tally.calls.values()) / count
            result = row(
                f"POST /invoices, {count} recipient{'s' if count > 1 else ''}",
                tally,
                f"{2 + batches} writes (2 PutItem + {batches} BatchWrite), 0 reads",
                tally.writes == 2 + batches and tally.reads == 0,
                recipients=count,
                requests_per_recipient=round(per_recipient, 3),
                ses_send_email_calls=sent,
                invoice_id=created["id"],
            )
            result.value += f"; {per_recipient:.2f}/recipient; {sent} SendEmail"
            rows.append(result)

        # The pixel.
        one = post(["ana@globex.example"])
        token = signer.token_for(one["id"], one["recipients"][0]["id"])
        pixel_headers = {"User-Agent": USER_AGENT, "Accept": "image/webp,*/*"}
        for label in ("first", "repeat"):
            response, tally = measured(lambda: get(f"/t/{token}.gif", pixel_headers))
            assert response.status_code == 200
            assert response.body.startswith(b"GIF89a")
            rows.append(
                row(
                    f"pixel open ({label})",
                    tally,
                    "1 write",
                    tally.writes == 1 and tally.conditional_failures == 0,
                )
            )
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        response, tally = measured(lambda: get(f"/t/{forged}.gif", pixel_headers))
        assert response.status_code == 200
        rows.append(row("pixel, forged token", tally, "0 requests", not tally.calls))

        # SES events of each type, then SNS delivering the same message again.
        for case in SES_CASES:
            created = post(case.recipients)
            recipient = next(r for r in created["recipients"] if r["email"] == routed_email(case))
            event = ses_event(case, created["id"], recipient["id"], recipient["message_id"])

            def invoke(event: dict[str, Any] = event) -> dict[str, int]:
                return dict(client.lambda_.invoke("ses_events", event).payload)

            outcome, tally = measured(invoke)
            assert outcome["processed"] == 1, (case.file, outcome)
            rows.append(
                row(
                    f"SES {case.label} ({case.route_by.replace('_', ' ')})",
                    tally,
                    "1 write",
                    tally.writes == 1 and tally.conditional_failures == 0,
                    file=case.file,
                )
            )
            outcome, tally = measured(invoke)
            assert outcome["duplicate"] == 1, (case.file, outcome)
            rows.append(
                row(
                    f"SES {case.label}, duplicate delivery",
                    tally,
                    "0 writes",
                    tally.writes == 0,
                    file=case.file,
                )
            )

        # Reading.
        page, tally = measured(lambda: get("/invoices?status=sent&limit=3"))
        assert page.status_code == 200, page.body
        assert page.json_body["next"], page.body
        rows.append(row("status-list page (status=sent, 1st)", tally, "1 Query", _one_query(tally)))
        cursor = page.json_body["next"]
        page, tally = measured(lambda: get(f"/invoices?status=sent&limit=3&cursor={cursor}"))
        assert page.status_code == 200, page.body
        rows.append(row("status-list page (status=sent, 2nd)", tally, "1 Query", _one_query(tally)))
        page, tally = measured(lambda: get("/invoices?limit=25"))
        rows.append(row("list page, all statuses", tally, "1 Query", _one_query(tally)))
        detail, tally = measured(lambda: get(f"/invoices/{one['id']}"))
        assert detail.status_code == 200, detail.body
        rows.append(row("invoice detail", tally, "1 Query", _one_query(tally)))
        _, tally = measured(lambda: get(f"/invoices/{one['id']}/events"))
        rows.append(row("invoice timeline", tally, "1 Query", _one_query(tally)))
    rows.extend(contended_opens(backends))
    return rows


def _one_query(tally: Tally) -> bool:
    return tally.calls["Query"] == 1 and sum(tally.calls.values()) == 1


def contended_opens(backends: Backends, threads: int = 8, opens: int = 24) -> list[Row]:
    """Opens of one invoice from several threads at once, through the service with the
    real adapters: the optimistic lock at work. On each DynamoDB backend."""
    from chalicelib.container import context

    rows = []
    for name, url in backends.dynamodb():
        with dynamodb_at(url):
            invoice = store_copies(sent_invoice(["hot@globex.example"]), 1)[0]
            token = tokens_for([invoice])[0]
            ctx = context()

            def open_once(n: int, ctx: Any = ctx, token: str = token) -> bool:
                return tracking_service.record_pixel_open(
                    ctx, token, USER_AGENT, "198.51.100.7", "GET", f"c{n}"
                )

            def all_opens() -> list[bool]:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    return list(pool.map(open_once, range(opens)))

            results, tally = measured(all_opens)
            found = ctx.invoices.get_with_archive(invoice.id)
            assert found is not None
            stored, archived = found
            keys = {e.key for e in [*stored.events, *archived] if e.type == "open"}
            # Facts parked beside the invoice under contention are recorded too (the
            # invoice's next write folds them in; see DESIGN.md, "Bursts on one invoice").
            keys |= {p["key"] for p in stored.parked if p["type"] == "open"}
        recorded = len(keys)
        acknowledged = sum(results)
        ok = acknowledged == opens and recorded == opens
        result = row(
            f"{opens} opens of one invoice, {threads} threads ({name}; per open)",
            tally,
            "every open recorded once",
            ok,
            backend=name,
            opens=opens,
            threads=threads,
            acknowledged=acknowledged,
            recorded=recorded,
            writes_per_open=round(tally.writes / opens, 2),
            conditional_failures_per_open=round(tally.conditional_failures / opens, 2),
        )
        result.value = (
            f"{tally.writes / opens:.2f} PutItem + {tally.reads / opens:.2f} GetItem "
            f"({tally.conditional_failures / opens:.2f} cond. failed); "
            f"{recorded}/{opens} recorded"
        )
        if recorded < acknowledged:
            result.value += f" of {acknowledged} acknowledged: lost update"
        rows.append(result)
    return rows
