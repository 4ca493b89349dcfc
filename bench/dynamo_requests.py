"""Section 1: DynamoDB capacity per operation. The app runs in-process
(``chalice.test.Client``, as the integration tests drive it) with its DynamoDB on
dynalite (moto when dynalite is not installed; SES and S3 stay on moto), and
bench/capacity.py meters every DynamoDB call: read request units (RRU), write request
units (WRU) of the table and of the ``by_status`` index. S3 PUTs are counted at the
botocore level (``bench.core.COUNTER``).

The context's clock is the bench's own, moved by hand: SES events carry its time, and
the pixel opens of one invoice are a minute apart (a person reopening, never a burst).
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bench.capacity import METER, Usage, item_size
from bench.core import (
    ACCOUNT,
    COUNTER,
    ROOT,
    SENDER,
    Backends,
    Mode,
    Row,
    Tally,
    dynamodb_at,
    progress,
    quiet,
    verdict,
)
from bench.fixtures import (
    SES_CASES,
    USER_AGENT,
    SesCase,
    emails,
    invoice_body,
    pdf_of,
    ses_event,
)
from chalicelib.accounts import service as account_service
from chalicelib.adapters.dynamo import accounts as dynamo_accounts
from chalicelib.adapters.dynamo import models
from chalicelib.core.model import iso, partitions_of, utc_now

SECTION = "1 DynamoDB capacity"
PDF_BYTES = 100 * 1024
OPEN_SPACING = timedelta(minutes=1)  # between two opens of the measured invoice
TICK = timedelta(milliseconds=1)
LIST_INVOICES = 60  # at least this many invoices in the account before a list page
T = TypeVar("T")

# The SES event types section 1 reports, by label in bench.fixtures.SES_CASES.
SES_TARGETS: dict[str, float | None] = {
    "Send": 4,
    "Delivery": 4,
    "Bounce (event)": None,
    "Complaint": None,
    "Reject": None,
    "DeliveryDelay": None,
    "Open (event)": None,
    "Click": None,
}
NOTES = (
    "Index WRU are computed from the written items' images before and after each write",
    "by DynamoDB's documented rules (bench/capacity.py, the meter), as dynalite reports",
    "none; table WRU and all RRU are dynalite's ConsumedCapacity (table WRU by the same",
    "rules in the JSON). dynalite bills a read ceil(bytes / 4 KB) x 0.5 (x 1 consistent)",
    "per request, 0 for an empty result. A failed conditional write is billed 1 WRU.",
)


@dataclass
class Cost:
    """What one operation used: DynamoDB capacity (the meter) and other AWS calls."""

    usage: Usage
    tally: Tally  # COUNTER's: its DynamoDB figures include the meter's own reads

    @property
    def s3_puts(self) -> int:
        return self.tally.other.get("s3.PutObject", 0)

    @property
    def index_wru(self) -> float:
        return sum(self.usage.index_wru.values())

    def text(self) -> str:
        u = self.usage
        calls = " + ".join(f"{n} {op}" for op, n in sorted(u.requests.items())) or "no requests"
        text = (
            f"{_n(u.wru)} WRU ({_n(u.table_wru)} table + {_n(self.index_wru)} index), "
            f"{_n(u.rru)} RRU; {calls}"
        )
        if u.conditional_failures:
            text += f" ({u.conditional_failures} cond. failed)"
        return text

    def as_json(self) -> dict[str, Any]:
        u = self.usage
        return {
            "wru": u.wru,
            "table_wru": u.table_wru,
            "table_wru_by_rule": u.table_wru_by_rule,
            "index_wru": dict(u.index_wru),
            "rru": u.rru,
            "requests": dict(u.requests),
            "written_by_kind": dict(u.written_by_kind),
            "conditional_failures": u.conditional_failures,
            "s3_put_object": self.s3_puts,
            "other_services": dict(self.tally.other),
        }


def _n(value: float) -> str:
    return f"{value:g}"


def measured(action: Callable[[], T]) -> tuple[T, Cost]:
    with quiet(), COUNTER.measure() as tally, METER.measure() as usage:
        result = action()
    return result, Cost(usage, tally)


def make_key() -> str:
    from chalicelib.settings import get_settings

    settings = get_settings()
    models.configure(settings.table_name, settings.aws_region)
    return account_service.create_api_key(
        dynamo_accounts.DynamoAccountStore(), utc_now(), ACCOUNT, SENDER
    )


def row(measure: str, cost: Cost, target: str, ok: bool | None, **data: Any) -> Row:
    return Row(
        SECTION,
        measure,
        cost.text(),
        target,
        "info" if ok is None else verdict(ok),
        {**cost.as_json(), **data},
    )


class Clock:
    """The context's clock, moved by hand, and by 1 ms each time it is read (as time
    passes between the writes of one request: the summary's sort key then moves, as in
    production, where two writes of one request are never at the same millisecond)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += TICK
        return self.now

    def advance(self, delta: timedelta = timedelta(seconds=1)) -> str:
        self.now += delta
        return iso(self.now)


def run(mode: Mode, backends: Backends) -> list[Row]:
    backend = "dynalite" if backends.dynalite else "moto"
    if backends.dynalite is None:
        progress("section 1 on moto: its capacity figures are moto's, not dynalite's")
    with dynamodb_at(backends.dynalite):
        rows = _run(mode, backend)
    rows.extend(Row(SECTION, "note" if i == 0 else "", line) for i, line in enumerate(NOTES))
    return rows


def _run(mode: Mode, backend: str) -> list[Row]:  # noqa: C901 (one story, in order)
    from chalice.test import Client

    from app import app
    from chalicelib import container
    from tests.fakes import FakeSendQueue

    ctx = container.context()
    clock = Clock(utc_now().replace(microsecond=0))
    ctx.clock = clock
    # The send queue runs each queued send at once, in this process, over the same
    # storage: a POST's figures are the request's and its sender's run together.
    ctx.sends = FakeSendQueue(auto=True, ctx=ctx)
    key = make_key()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    pixel_headers = {"User-Agent": USER_AGENT, "Accept": "image/webp,*/*"}
    rows: list[Row] = []

    with Client(app, stage_name="local", project_dir=str(ROOT)) as client:

        def post(addresses: list[str] | tuple[str, ...], pdf: bytes | None = None) -> Any:
            clock.advance()
            body = json.dumps(invoice_body(addresses, pdf))
            response = client.http.post("/invoices", headers=auth, body=body)
            assert response.status_code == 202, response.body
            return response.json_body

        def posted(addresses: list[str] | tuple[str, ...], pdf: bytes | None = None) -> Any:
            """POST, then the invoice as its queued sends left it (read unmeasured)."""
            return get(f"/invoices/{post(addresses, pdf)['id']}").json_body

        def get(path: str, headers: dict[str, str] | None = None) -> Any:
            response = client.http.get(path, headers=headers if headers is not None else auth)
            assert response.status_code == 200, (path, response.body)
            return response

        def notification(case: SesCase, created: Any, email: str | None = None) -> Any:
            address = email or case.routed or case.recipients[0]
            recipient = next(r for r in created["recipients"] if r["email"] == address)
            at = clock.advance()
            return ses_event(
                case, created["id"], recipient["id"], recipient["message_id"], at, email
            )

        def invoke(event: Any) -> dict[str, int]:
            return dict(client.lambda_.invoke("ses_events", event).payload)

        def ses(case: SesCase, created: Any, email: str | None = None) -> dict[str, int]:
            return invoke(notification(case, created, email))

        def pixel(token: str) -> None:
            response = get(f"/t/{token}.gif", pixel_headers)
            assert response.body.startswith(b"GIF89a")

        # Authentication reads the key and the account once, then trusts them 60 s.
        _, cost = measured(lambda: get("/invoices?limit=1"))
        rows.append(row("first authenticated request (key cache cold; list page)", cost, "", None))

        # Creating and sending: the invoice, one message per recipient, the PDF in S3.
        for count in mode.recipient_counts:
            for pdf in (None, pdf_of(PDF_BYTES)):
                created, cost = measured(functools.partial(post, emails(count), pdf))
                label = f"POST /invoices + its sends, {count} recipient{'s' if count > 1 else ''}"
                label += ", 100 KB PDF" if pdf else ", no PDF"
                puts = cost.s3_puts
                if count == 1:
                    target = f"≤ 10 WRU + {1 if pdf else 0} S3 PUT"
                    ok: bool | None = cost.usage.wru <= 10 and puts == (1 if pdf else 0)
                else:
                    target, ok = "", None
                result = row(label, cost, target, ok, recipients=count, pdf_bytes=len(pdf or b""))
                sent = cost.tally.other.get("sesv2.SendEmail", 0)
                result.value += f"; {puts} S3 PUT, {sent} SendEmail"
                if count > 1:
                    result.value += f"; {_n(round(cost.usage.wru / count, 2))} WRU/recipient"
                rows.append(result)

        # SES events, each on an invoice of its own (Send, then Delivery, on the same).
        cases = {case.label: case for case in SES_CASES}
        first = posted(cases["Send"].recipients)
        for label, limit in SES_TARGETS.items():
            case = cases[label]
            created = first if label in ("Send", "Delivery") else posted(case.recipients)
            event = notification(case, created)
            outcome, cost = measured(functools.partial(invoke, event))
            assert outcome["processed"] == 1, (case.label, outcome)
            target = f"≤ {_n(limit)} WRU" if limit is not None else ""
            ok = None if limit is None else cost.usage.wru <= limit
            rows.append(row(f"SES {label.removesuffix(' (event)')}", cost, target, ok))
            if label == "Delivery":
                # SNS delivers at least once: the same notification again.
                outcome, cost = measured(functools.partial(invoke, event))
                assert outcome["duplicate"] == 1, outcome
                summary = cost.usage.written_by_kind.get("INVOICE", 0)
                rows.append(
                    row(
                        "SES Delivery again (duplicate)",
                        cost,
                        "≤ 1 WRU, no summary write",
                        cost.usage.wru <= 1 and not summary,
                    )
                )

        # Pixel opens of one 2-recipient invoice with a PDF, delivered to both, a minute
        # apart (its POST, Send and Delivery events are the model of docs/SCALING.md).
        pair = ["ana@globex.example", "luis@globex.example"]
        two, cost = measured(functools.partial(post, pair, pdf_of(PDF_BYTES)))
        rows.append(
            row("POST /invoices, 2 recipients, 100 KB PDF (the opened one)", cost, "", None)
        )
        rows[-1].value += f"; {cost.s3_puts} S3 PUT"
        for recipient in two["recipients"]:
            for label in ("Send", "Delivery"):
                event = notification(cases[label], two, recipient["email"])
                outcome, cost = measured(functools.partial(invoke, event))
                assert outcome["processed"] == 1, (label, outcome)
                which = "1st" if recipient is two["recipients"][0] else "2nd"
                rows.append(row(f"  SES {label}, its {which} recipient", cost, "", None))
        ana, luis = two["recipients"]
        token = ctx.signer.token_for(two["id"], ana["id"], "pixel")
        clock.advance(timedelta(hours=1))
        last = max(mode.opens_measured)
        progress(f"section 1: {last:,} pixel opens of one invoice")
        for n in range(1, last + 1):
            clock.advance(OPEN_SPACING)
            if n not in mode.opens_measured:
                with quiet():
                    pixel(token)
                continue
            _, cost = measured(lambda: pixel(token))
            if n == 1:
                newest = ctx.invoices.facts_page(two["id"], 1, None).events[0]
                verdict_ = str(newest.details.get("verdict"))
                size = _summary_bytes(two["id"])
                rows.append(
                    row(
                        "pixel open #1 (the first person open)",
                        cost,
                        "≤ 6 WRU, a person's",
                        cost.usage.wru <= 6 and verdict_ in ("human", "proxy"),
                        verdict=verdict_,
                        summary_bytes=size,
                    )
                )
                rows[-1].value += f"; verdict {verdict_}; summary {size:,} B"
            else:
                rows.append(
                    row(
                        f"pixel open #{n:,} (repeat)",
                        cost,
                        "≤ 2 WRU",
                        cost.usage.wru <= 2,
                        kind="repeat_open",  # section 10 prices the last one
                    )
                )
        other = ctx.signer.token_for(two["id"], luis["id"], "pixel")
        clock.advance(OPEN_SPACING)
        _, cost = measured(functools.partial(pixel, other))
        rows.append(
            row("pixel open, the 2nd recipient's first", cost, "≤ 6 WRU", cost.usage.wru <= 6)
        )
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        _, cost = measured(lambda: pixel(forged))
        rows.append(row("pixel, forged token", cost, "0 requests", not cost.usage.requests))

        # Reading the invoice after its opens: its detail never reads its history.
        detail, cost = measured(lambda: get(f"/invoices/{two['id']}"))
        opens = detail.json_body["recipients"][0]["open_count"]
        rows.append(
            row(
                f"invoice detail (after {last:,} opens)",
                cost,
                "≤ 2 RRU",
                cost.usage.rru <= 2,
                open_count=opens,
            )
        )
        page, cost = measured(lambda: get(f"/invoices/{two['id']}/events?limit=100"))
        shown = len(page.json_body["items"])
        rows.append(row(f"events page of 100 ({shown} events)", cost, "", None, events=shown))

        # Lists: enough invoices in the account, spread over the status groups.
        statuses = _fill_account(ctx, posted, ses, pixel, cases)
        total = sum(statuses.values())
        spread = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        progress(f"section 1: the account holds {total} invoices ({spread})")
        cursor = None
        for status in (None, "sent", "delivered", "bounced", "all, next page"):
            query = "limit=25"
            if status == "all, next page":
                query += f"&cursor={urllib.parse.quote(str(cursor))}"
            elif status:
                query += f"&status={status}"
            listed, cost = measured(functools.partial(get, f"/invoices?{query}"))
            if status is None:
                cursor = listed.json_body["next"]
            items = len(listed.json_body["items"])
            rows.append(
                row(
                    f"list page of 25 ({status or 'all'}; {items} listed of {total})",
                    cost,
                    f"≤ 4 RRU, ≥ {LIST_INVOICES} invoices",
                    cost.usage.rru <= 4 and total >= LIST_INVOICES,
                    invoices=total,
                    statuses=statuses,
                    listed=items,
                    backend=backend,
                )
            )
    return rows


def _fill_account(
    ctx: Any,
    post: Callable[..., Any],
    ses: Callable[..., Any],
    pixel: Callable[[str], None],
    cases: dict[str, SesCase],
) -> dict[str, int]:
    """Invoices until the account holds ``LIST_INVOICES`` and more: in turn left sent,
    delivered, opened (delivered first) and bounced. Returns the count per status."""
    with quiet():
        statuses = _statuses(ctx)
        for n in range(max(0, LIST_INVOICES + 8 - sum(statuses.values()))):
            kind = n % 4
            if kind == 3:
                created = post(cases["Bounce (event)"].recipients)
                ses(cases["Bounce (event)"], created)
                continue
            created = post(cases["Delivery"].recipients)
            if kind >= 1:
                ses(cases["Delivery"], created)
            if kind == 2:
                ctx.clock.advance(timedelta(minutes=10))
                pixel(ctx.signer.token_for(created["id"], created["recipients"][0]["id"], "pixel"))
        return _statuses(ctx)


def _summary_bytes(invoice_id: str) -> int:
    """The size of the invoice's summary item, as DynamoDB bills it (bench/capacity.py)."""
    from chalicelib.adapters.dynamo.helpers import fact_key, table_client

    found = table_client().get_item(
        TableName=models.InvoiceItem.Meta.table_name,
        Key=fact_key(invoice_id, "INVOICE"),
        ConsistentRead=True,
    )
    return item_size(found["Item"])


def _statuses(ctx: Any) -> dict[str, int]:
    """How many of the account's invoices are in each status (paging the index)."""
    found: dict[str, int] = {}
    cursor = None
    while True:
        page = ctx.invoices.list_page(partitions_of(ACCOUNT, 1), 100, cursor)
        for invoice in page.items:
            found[invoice.status] = found.get(invoice.status, 0) + 1
        cursor = page.cursor
        if not cursor:
            return found
