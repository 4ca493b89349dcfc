"""An attacker's run against a running local stack (``make run``): tries each of the
eleven findings of issue 15 as the issue describes them and prints one line per
finding, reproduced or not, with the evidence. Exits 1 when any reproduces (or a
check could not run), 0 otherwise. Development only; never deployed.

    source "$SOBRE_STATE_DIR/local.env"     # .sobre/local.env by default
    python -m tools.attack                  # every finding, full size (a few minutes)
    python -m tools.attack --fast           # smaller floods; what tests/e2e runs
    python -m tools.attack --only 1,4,10    # some findings

It talks only to the stack's own endpoints (the API, the outbox, the AWS and DynamoDB
emulators from local.env), and writes only there: invoices to made-up customers, a
second account (``attack-<run>``), SNS messages to the local topic. The wrong-key
flood (finding 6) blocks 127.0.0.0/24 on the API for the rest of its minute, so it runs
last; wait a minute before using the stack's API from this machine again.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
SES_FIXTURES = ROOT / "tests" / "fixtures" / "ses-events"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def sobre_shaped(self) -> bool:
        """``{"error": {"code", "message", "details"}}``."""
        document = self.json()
        error = document.get("error") if isinstance(document, dict) else None
        return isinstance(error, dict) and {"code", "message", "details"} <= set(error)


@dataclass
class Verdict:
    """What one finding's attempt found: ``problems`` (each one reproduces it) and
    ``evidence`` (what held)."""

    problems: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)

    def hold(self, text: str) -> None:
        self.evidence.append(text)

    def check(self, ok: bool, held: str, broke: str) -> None:
        """``broke`` is a problem unless ``ok``; ``held`` (when not empty) is evidence."""
        if not ok:
            self.fail(broke)
        elif held:
            self.hold(held)

    @property
    def reproduced(self) -> bool:
        return bool(self.problems)


# An invoice stored: 201 before the send queue, 202 once its sends are queued.
CREATED = (201, 202)


class Stack:
    """The running local stack, seen from outside (its local.env)."""

    def __init__(self, env: dict[str, str], state_dir: Path, fast: bool) -> None:
        self.env = env
        self.state_dir = state_dir
        self.fast = fast
        self.run = "atk" + secrets.token_hex(4)
        self.api_url = env["SOBRE_API_URL"].rstrip("/")
        self.outbox_url = env["SOBRE_OUTBOX_URL"].rstrip("/")
        self.key = env["SOBRE_API_KEY"]
        self.topic = env["SOBRE_EVENTS_TOPIC_ARN"]
        self._sns = boto3.client("sns", endpoint_url=env["AWS_ENDPOINT_URL"])
        # A 429 means the check did not get to try (only the wrong-key flood wants one).
        self.rate_limits_expected = False

    # -- HTTP -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        url: str | None = None,
    ) -> Answer:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key != "":
            sent.setdefault("Authorization", f"Bearer {key or self.key}")
        target = (url or self.api_url) + path
        if not target.startswith("http://"):  # the stack's own endpoints, from local.env
            raise ValueError(f"not a local stack URL: {target}")
        request = urllib.request.Request(target, data=body, method=method, headers=sent)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                answer = Answer(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as exc:
            answer = Answer(exc.code, exc.read(), dict(exc.headers))
        if answer.status == 429 and not self.rate_limits_expected:
            raise RuntimeError(f"{method} {path} was rate limited: the check did not get to try")
        return answer

    def wait_until_usable(self, timeout: float = 70.0) -> None:
        """Until the demo key works: an earlier run's wrong-key flood blocks this network
        until its minute ends."""
        deadline = time.monotonic() + timeout
        self.rate_limits_expected = True
        try:
            while (answer := self.request("GET", "/invoices?limit=1")).status == 429:
                if time.monotonic() > deadline:
                    raise RuntimeError("the API still answers 429")
                time.sleep(min(5.0, float(answer.headers.get("Retry-After") or 1)))
            if answer.status != 200:
                raise RuntimeError(f"GET /invoices with the demo key: {answer.status}")
        finally:
            self.rate_limits_expected = False

    def post_json(self, path: str, document: Any, key: str | None = None) -> Answer:
        # ensure_ascii: a lone surrogate goes over the wire as the escape "\ud800".
        return self.request("POST", path, json.dumps(document).encode(), key=key)

    def invoice_body(self, recipients: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
        return {
            "number": f"{self.run.upper()}-{secrets.token_hex(3)}",
            "customer": {"name": "Customer S.A."},
            "recipients": recipients,
            "currency": "EUR",
            "total": "100.00",
            "due_date": "2030-01-31",
            "lines": [{"description": "Work", "quantity": "1", "unit_price": "100.00"}],
            **extra,
        }

    def address(self, name: str, domain: str = "customer.example") -> str:
        return f"{name}-{self.run}@{domain}"

    def settled(self, invoice_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The invoice once no recipient is ``queued`` any more (the send queue drained)."""
        deadline = time.monotonic() + timeout
        while True:
            detail = self.invoice(invoice_id)
            queued = [r for r in detail["recipients"] if r["status"] == "queued"]
            if not queued or time.monotonic() > deadline:
                return detail
            time.sleep(0.3)

    def invoice(self, invoice_id: str, key: str | None = None) -> dict[str, Any]:
        answer = self.request("GET", f"/invoices/{invoice_id}", key=key)
        if answer.status != 200:
            raise RuntimeError(f"GET /invoices/{invoice_id}: {answer.status}")
        document: dict[str, Any] = answer.json()
        return document

    # -- the outbox -------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        answer = self.request("GET", "/messages.json", key="", url=self.outbox_url)
        rows: list[dict[str, Any]] = answer.json() or []
        return rows

    def copies(self, addresses: Iterable[str]) -> Counter[str]:
        """How many messages the emulator accepted for each address (destinations,
        compared without case)."""
        wanted = {a.lower() for a in addresses}
        found: Counter[str] = Counter()
        for row in self.outbox():
            for destination in row["to"]:
                if destination.lower() in wanted:
                    found[destination.lower()] += 1
        return found

    def message_part(self, message_id: str, part: str) -> str:
        path = f"/messages/{message_id}/{part}"
        return self.request("GET", path, key="", url=self.outbox_url).body.decode()

    # -- SNS and the handler's log ------------------------------------------------------

    def publish(self, message: str) -> str:
        answer = self._sns.publish(TopicArn=self.topic, Message=message)
        return str(answer["MessageId"])

    def handled(self, message_ids: list[str], timeout: float = 60.0) -> dict[str, str]:
        """Each SNS message's outcome as the bridge logged it: the handler's result
        (``<- …: {json}``) or its failures (``failed on … (n)``), once every message has a
        result or was given up on."""
        deadline = time.monotonic() + timeout
        while True:
            log = "\n".join(p.read_text(errors="replace") for p in self.state_dir.glob("*.log"))
            outcome: dict[str, str] = {}
            for message_id in message_ids:
                if f"<- SNS message {message_id}:" in log:
                    line = log.split(f"<- SNS message {message_id}:", 1)[1].split("\n", 1)[0]
                    failed = f"failed on SNS message {message_id} " in log
                    outcome[message_id] = ("raised, then " if failed else "") + line.strip()
                elif f"gave up on SNS message {message_id}" in log:
                    outcome[message_id] = "raised every attempt (to the DLQ)"
            if len(outcome) == len(message_ids) or time.monotonic() > deadline:
                return outcome
            time.sleep(0.3)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.state_dir.glob("*.log"))


def ses_fixture(name: str) -> dict[str, Any]:
    """An SES event from tests/fixtures: the SNS ``Message`` when the file is an SNS
    HTTP envelope, else the file itself."""
    document: dict[str, Any] = json.loads((SES_FIXTURES / name).read_text())
    if "Message" in document and "Type" in document:
        inner: dict[str, Any] = json.loads(document["Message"])
        return inner
    return document


Check = Callable[[Stack], Verdict]


def run_checks(stack: Stack, checks: dict[int, tuple[str, Check]], only: set[int]) -> int:
    """Runs the checks in order and prints one line per finding; how many failed."""
    failed = 0
    for number, (title, check) in checks.items():
        if only and number not in only:
            continue
        started = time.monotonic()
        try:
            verdict = check(stack)
        except Exception as exc:  # a check that cannot run proves nothing
            verdict = Verdict(problems=[f"the check could not run: {exc!r}"])
            traceback.print_exc(file=sys.stderr)
        seconds = time.monotonic() - started
        word = "REPRODUCED" if verdict.reproduced else "not reproduced"
        failed += verdict.reproduced
        told = verdict.problems if verdict.reproduced else verdict.evidence
        skipped = f" [not tried: {'; '.join(verdict.skipped)}]" if verdict.skipped else ""
        print(f"{number:>2}. {title}: {word} ({seconds:.1f} s) — {'; '.join(told)}{skipped}")
        sys.stdout.flush()
    return failed


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    return {name: value for name, value in pairs if value}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.attack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fast", action="store_true", help="smaller floods (tests/e2e)")
    parser.add_argument("--only", default="", help="comma-separated finding numbers")
    parser.add_argument("--state-dir", help="the stack's SOBRE_STATE_DIR (default: env, .sobre)")
    args = parser.parse_args(argv)
    state = Path(args.state_dir or os.environ.get("SOBRE_STATE_DIR") or ROOT / ".sobre")
    env_file = state / "local.env"
    if not env_file.exists():
        print(f"no {env_file}: start the local stack first (make run)", file=sys.stderr)
        return 2
    env = read_env(env_file)
    os.environ.update(env)  # the emulators, for boto3 and the in-process checks
    from tools.attack_checks import CHECKS  # after the environment points at the stack

    stack = Stack(env, state, args.fast)
    only = {int(n) for n in args.only.split(",") if n.strip()}
    print(f"attack run {stack.run} against {stack.api_url} ({'fast' if args.fast else 'full'})")
    stack.wait_until_usable()
    failed = run_checks(stack, CHECKS, only)
    print(f"{failed} finding(s) reproduced" if failed else "no finding reproduced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
