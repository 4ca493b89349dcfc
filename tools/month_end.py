"""A month-end run against a running local stack (``make run``), as a billing system
would do it: N invoices to R recipients each, ``POST /invoices/batch`` 100 at a time,
then wait until SES (the emulator, throttled at its rate) has taken every message.
Prints the time to accept, the time to send all, the send rate, the recipients failed
and the messages per recipient (the targets: 0, exactly 1). Development only.

    source .sobre/local.env && python -m tools.month_end --invoices 500 --recipients 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
import uuid
from collections import Counter
from typing import Any

from tools.local_mail import messages

BATCH = 100  # the most POST /invoices/batch takes


def _post(api: str, key: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (the local stack's URL)
        f"{api}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _invoice(run: str, n: int, recipients: int) -> dict[str, Any]:
    return {
        "number": f"ME-{run}-{n:05d}",
        "customer": {"name": "Globex S.L."},
        "recipients": [{"email": f"r{k}-{n}-{run}@globex.example"} for k in range(recipients)],
        "currency": "EUR",
        "total": "10.00",
        "due_date": "2030-01-31",
        "idempotency_key": f"{run}-{n}",
    }


def accept(api: str, key: str, run: str, invoices: int, recipients: int) -> float:
    """POST the invoices in batches; the seconds until the last batch answered."""
    began = time.perf_counter()
    for start in range(0, invoices, BATCH):
        items = [_invoice(run, n, recipients) for n in range(start, min(invoices, start + BATCH))]
        status, body = _post(api, key, "/invoices/batch", {"invoices": items})
        if status != 207:
            raise SystemExit(f"POST /invoices/batch answered {status}: {body}")
        codes = Counter(item["status"] for item in body["items"])
        if set(codes) != {202}:
            raise SystemExit(f"batch items answered {dict(codes)}")
    return time.perf_counter() - began


def mailed(aws: str, run: str) -> Counter[str]:
    """The run's recipients as SES took their messages, each with its count."""
    return Counter(d for m in messages(aws, timeout=60) for d in m.destinations if run in d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.month_end", description=__doc__)
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--recipients", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for SES")
    args = parser.parse_args(argv)
    api, key = os.environ.get("SOBRE_API_URL"), os.environ.get("SOBRE_API_KEY")
    aws = os.environ.get("AWS_ENDPOINT_URL")
    if not (api and key and aws):
        print("Start the local stack (make run) and source .sobre/local.env", file=sys.stderr)
        return 2
    run = uuid.uuid4().hex[:8]
    total = args.invoices * args.recipients
    began = time.perf_counter()
    accepted = accept(api, key, run, args.invoices, args.recipients)
    print(f"accepted {args.invoices} invoices x {args.recipients} in {accepted:.1f} s", flush=True)
    seen: Counter[str] = Counter()
    while time.perf_counter() - began < args.timeout:
        seen = mailed(aws, run)
        if sum(seen.values()) >= total:
            break
        time.sleep(5)  # reading every message costs the emulator time
    sent_all = time.perf_counter() - began
    time.sleep(5)  # a duplicate would show now
    seen = mailed(aws, run)
    per = Counter(seen.values())
    print(
        f"sent {sum(seen.values())} of {total} in {sent_all:.1f} s after the first POST "
        f"({sum(seen.values()) / sent_all:.1f}/s)"
    )
    print(f"messages per recipient: {dict(sorted(per.items()))} (target: {{1: {total}}})")
    return 0 if per == Counter({1: total}) else 1


if __name__ == "__main__":
    sys.exit(main())
