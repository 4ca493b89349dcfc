"""End to end: the local stack exactly as ``make run`` starts it (infra/run.py, on free
ports, with its own state directory), driven only from the outside: the public HTTP
API, the outbox in a real browser (headless Chromium, as a customer's mail client),
and SNS through boto3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from playwright.sync_api import Browser, Page

from infra.run import DEMO_ACCOUNT, port_is_free
from tests.emulators import ROOT, free_ports
from tools.local_mail import messages

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36"
)
BOUNCE = "bounce@simulator.amazonses.com"
READING_DELAY = timedelta(seconds=4)
# A page display within 10 s of the delivery is a security gateway's, not a person's.
VIEWING_DELAY = timedelta(seconds=11)
ARTIFACTS = ROOT / "tests" / "artifacts"
SES_FIXTURES = ROOT / "tests" / "fixtures" / "ses-events"
T = TypeVar("T")


@dataclass
class LocalStack:
    process: subprocess.Popen[bytes]
    state: Path
    ports: dict[str, int]
    env: dict[str, str]  # local.env

    @property
    def api(self) -> str:
        return self.env["SOBRE_API_URL"]

    @property
    def outbox(self) -> str:
        return self.env["SOBRE_OUTBOX_URL"]

    def log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.state.glob("*.log"))
        )


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    return {name: value for name, value in pairs}


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group run.py leads: ours only
            process.wait()


@contextmanager
def running_stack(state: Path) -> Iterator[LocalStack]:
    """`make run` (infra/run.py) on free ports, its state in ``state``; stopped after."""
    names = (
        "SOBRE_PORT",
        "SOBRE_AWS_PORT",
        "SOBRE_OUTBOX_PORT",
        "SOBRE_STORAGE_PORT",
        "SOBRE_DOOR_PORT",
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "SOBRE_STATE_DIR": str(state),
        # The door as the template's load balancer calls it (make run's default is the
        # HTTP API's shape, which tests/integration/test_public_door.py covers too).
        "SOBRE_LOCAL_DOOR": "load-balancer",
    }
    with (state / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = LocalStack(process, state, ports, {})
    try:
        deadline = time.monotonic() + 120
        while not (state / "local.env").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run did not come up:\n{stack.log()}")
            time.sleep(0.2)
        stack.env = read_env(state / "local.env")
        yield stack
    finally:
        stop(process)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("sobre-state")) as stack:
        yield stack


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900}
    )
    yield context.new_page()
    context.close()


def api(stack: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        stack.api + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {stack.env['SOBRE_API_KEY']}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def send_invoice(stack: LocalStack, number: str, recipients: list[dict[str, str]]) -> Any:
    status, created = api(
        stack,
        "POST",
        "/invoices",
        {
            "number": number,
            "customer": {"name": "Customer S.A."},
            "recipients": recipients,
            "currency": "EUR",
            "total": "250.00",
            "due_date": "2030-01-31",
            "lines": [{"description": "Design work", "quantity": "2", "unit_price": "125.00"}],
        },
    )
    # 202: stored and queued; the local stack's sender mails them within a moment.
    assert status == 202, created
    assert {r["status"] for r in created["recipients"]} == {"queued"}

    def mailed() -> Any:
        _, detail = api(stack, "GET", f"/invoices/{created['id']}")
        out = all(r["message_id"] or r["status"] == "failed" for r in detail["recipients"])
        return detail if out else None

    return eventually(mailed)


def recipient(stack: LocalStack, invoice_id: str, recipient_id: str) -> Any:
    status, detail = api(stack, "GET", f"/invoices/{invoice_id}")
    assert status == 200, detail
    return next(r for r in detail["recipients"] if r["id"] == recipient_id)


def eventually(check: Callable[[], T | None], timeout: float = 15.0) -> T:
    """The first non-None result of ``check``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.3)


def test_make_run_writes_local_env_and_serves_everything(local_stack: LocalStack) -> None:
    env = local_stack.env
    ports = local_stack.ports
    assert env["SOBRE_API_URL"] == f"http://localhost:{ports['SOBRE_PORT']}"
    assert env["SOBRE_OUTBOX_URL"] == f"http://127.0.0.1:{ports['SOBRE_OUTBOX_PORT']}"
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{ports['SOBRE_AWS_PORT']}"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://127.0.0.1:{ports['SOBRE_STORAGE_PORT']}"
    assert env["SOBRE_FETCH_QUEUE_URL"].endswith("/sobre-fetches")
    assert env["SOBRE_SEND_QUEUE_URL"].endswith("/sobre-sends")
    assert env["SOBRE_EVENTS_TOPIC_ARN"].endswith(":sobre-ses-events")
    assert env["SOBRE_API_KEY"].startswith("sobre_")
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(env)
    for url in (f"{env['SOBRE_API_URL']}/health", f"{env['SOBRE_OUTBOX_URL']}/health"):
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
    banner = (local_stack.state / "run.log").read_text()
    assert f"Outbox            {env['SOBRE_OUTBOX_URL']}/" in banner
    assert f"Dashboard         {env['SOBRE_API_URL']}/   (sign in with the demo key)" in banner
    assert env["SOBRE_DOOR_URL"] == f"http://localhost:{ports['SOBRE_DOOR_PORT']}"
    assert f"Public door       {env['SOBRE_DOOR_URL']}   (/t/ and /v/ as a load balancer" in banner
    status, listed = api(local_stack, "GET", "/invoices")
    assert (status, listed["items"]) == (200, [])


def test_a_customer_opens_the_invoice_in_a_browser_and_another_address_bounces(
    local_stack: LocalStack, page: Page
) -> None:
    created = send_invoice(
        local_stack,
        "E2E-001",
        [{"email": "dana@customer.example", "name": "Dana"}, {"email": BOUNCE}],
    )
    dana, bounced = created["recipients"]
    # A person reads the mail a little while after it arrived: fetches within seconds of
    # the delivery are what security gateways do, and are not counted as opens.
    delivered_at = eventually(
        lambda: recipient(local_stack, created["id"], dana["id"])["delivered_at"]
    )
    arrived = datetime.fromisoformat(delivered_at.replace("Z", "+00:00"))
    time.sleep(max(0.0, (arrived + READING_DELAY - datetime.now(UTC)).total_seconds()))

    page.goto(f"{local_stack.outbox}/")
    link = page.locator(f'a[href="/messages/{dana["message_id"]}"]')
    assert link.count() == 1
    with page.expect_response(lambda r: "/t/" in r.url) as pixel:
        link.click()
    assert pixel.value.status == 200
    assert pixel.value.headers["content-type"] == "image/gif"
    assert pixel.value.request.headers["user-agent"] == DESKTOP_CHROME
    page.wait_for_load_state("load")
    mail = page.frame_locator("iframe").locator("body")
    assert "E2E-001" in mail.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-outbox-message.png"), full_page=True)

    def settled() -> Any | None:
        _, detail = api(local_stack, "GET", f"/invoices/{created['id']}")
        by_id = {r["id"]: r for r in detail["recipients"]}
        opened, bounce = by_id[dana["id"]], by_id[bounced["id"]]
        done = (
            detail["status"] == "opened"
            and opened["status"] == "opened"
            and opened["delivered_at"] is not None  # the emulated SES Delivery
            and bounce["status"] == "bounced"
        )
        return detail if done else None

    detail = eventually(settled)
    opened = next(r for r in detail["recipients"] if r["id"] == dana["id"])
    assert opened["open_count"] == 1
    _, events = api(local_stack, "GET", f"/invoices/{created['id']}/events")
    opens = [
        e["details"]
        for e in events["items"]
        if e["type"] == "open" and e["recipient_id"] == dana["id"]
    ]
    assert [o["user_agent"] for o in opens] == [DESKTOP_CHROME]
    assert opens[0]["user_agent_family"] == "Chrome"
    bounce = next(r for r in detail["recipients"] if r["id"] == bounced["id"])
    assert bounce["bounce"]["type"] == "Permanent"
    assert bounce["delivered_at"] is None


def test_the_public_door_serves_the_mail_links_as_a_load_balancer_calls_it(
    local_stack: LocalStack, page: Page
) -> None:
    """The stack's door (infra/local_door.py) calls public_door with the events of the
    template's load balancer: the pixel answers and counts the address the balancer saw,
    not the one the client claimed; the hosted page works in Chromium and is viewed."""
    door = local_stack.env["SOBRE_DOOR_URL"]
    created = send_invoice(local_stack, "E2E-DOOR", [{"email": "fern@customer.example"}])
    (fern,) = created["recipients"]
    delivered_at = eventually(
        lambda: recipient(local_stack, created["id"], fern["id"])["delivered_at"]
    )
    arrived = datetime.fromisoformat(delivered_at.replace("Z", "+00:00"))
    (mail,) = [m for m in messages(local_stack.env["AWS_ENDPOINT_URL"]) if m.to == fern["email"]]
    pixel_url, view_url = mail.pixel_url(), mail.view_url()
    assert pixel_url is not None
    assert view_url is not None
    time.sleep(max(0.0, (arrived + READING_DELAY - datetime.now(UTC)).total_seconds()))

    path = "/t/" + pixel_url.split("/t/", 1)[1]
    claimed = {"User-Agent": DESKTOP_CHROME, "X-Forwarded-For": "192.0.2.77"}
    with urllib.request.urlopen(urllib.request.Request(door + path, headers=claimed)) as got:
        assert (got.status, got.headers["Content-Type"]) == (200, "image/gif")
        assert got.read().startswith(b"GIF89a")
    opened = eventually(
        lambda: (r := recipient(local_stack, created["id"], fern["id"]))["open_count"] and r
    )
    assert opened["status"] == "opened"
    _, events = api(local_stack, "GET", f"/invoices/{created['id']}/events")
    (open_event,) = [e for e in events["items"] if e["type"] == "open"]
    assert open_event["details"]["ip"] == "127.0.0.0/24"  # the peer, not 192.0.2.77

    # Past the burst window of the pixel and the gateways' viewing delay: a person.
    time.sleep(max(2.5, (arrived + VIEWING_DELAY - datetime.now(UTC)).total_seconds()))
    shown = page.goto(door + "/v/" + view_url.split("/v/", 1)[1])
    assert shown is not None
    assert shown.status == 200
    assert "E2E-DOOR" in page.locator("body").inner_text()
    viewed = eventually(
        lambda: (r := recipient(local_stack, created["id"], fern["id"]))["viewed_at"] and r
    )
    assert viewed["status"] == "viewed"
    assert viewed["open_count"] == 1  # the page is not a second open
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-door-hosted-page.png"), full_page=True)
    # Only the public routes are behind the door.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{door}/invoices", timeout=10)
    assert refused.value.code == 404


def test_events_published_to_the_topic_with_boto3_reach_the_app(local_stack: LocalStack) -> None:
    created = send_invoice(local_stack, "E2E-002", [{"email": "erin@customer.example"}])
    erin = created["recipients"][0]

    emulated: str = eventually(  # by the SES emulator, just now
        lambda: recipient(local_stack, created["id"], erin["id"])["delivered_at"]
    )
    env = local_stack.env
    sns = boto3.client(
        "sns",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    expected = {}
    # The doc samples' times (2016, 2017) precede the invoice, and an event outside its
    # window is kept, not applied: the delivery half a minute before the emulated one,
    # the complaint now.
    earlier = datetime.fromisoformat(emulated.replace("Z", "+00:00")) - timedelta(seconds=30)
    times = {"delivery": earlier, "complaint": datetime.now(UTC)}
    for name, kind in (("event-delivery", "delivery"), ("event-complaint", "complaint")):
        event = json.loads((SES_FIXTURES / f"{name}.awsdocs.json").read_text())
        at = times[kind].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event["mail"]["timestamp"] = event[kind]["timestamp"] = at
        mail = event["mail"]
        mail["messageId"] = erin["message_id"]
        mail["destination"] = [erin["email"]]
        mail["tags"].update(
            {
                "sobre-account": [DEMO_ACCOUNT],
                "sobre-invoice": [created["id"]],
                "sobre-recipient": [erin["id"]],
            }
        )
        if kind == "delivery":
            event["delivery"]["recipients"] = [erin["email"]]
        else:
            event["complaint"]["complainedRecipients"] = [{"emailAddress": erin["email"]}]
        expected[kind] = event[kind]["timestamp"]
        sns.publish(TopicArn=env["SOBRE_EVENTS_TOPIC_ARN"], Message=json.dumps(event))

    def complained() -> Any | None:
        now = recipient(local_stack, created["id"], erin["id"])
        return now if now["status"] == "complained" else None

    after = eventually(complained)
    assert after["complaint"] == {"at": expected["complaint"], "type": "abuse"}
    # The fixture's delivery is older than the emulated one: the earliest wins.
    assert expected["delivery"] < emulated
    assert after["delivered_at"] == expected["delivery"]


def test_sigterm_stops_every_child(local_stack: LocalStack) -> None:
    local_stack.process.send_signal(signal.SIGTERM)
    assert local_stack.process.wait(timeout=30) == 0
    assert "Sobre stopped." in (local_stack.state / "run.log").read_text()
    for variable, port in local_stack.ports.items():
        assert port_is_free(port), f"{variable} {port} still in use after SIGTERM"
