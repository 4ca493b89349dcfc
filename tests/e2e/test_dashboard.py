"""End to end: the dashboard (``GET /``) in headless Chromium against the local stack as
``make run`` starts it (infra/run.py on free ports, its own state directory), with the
demo invoices of ``make demo`` sent through the public API and opened the way mail
clients open them: a person's browser, Apple's privacy prefetch, the hosted invoice's
display beacon. Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import boto3
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Route, expect

from tests.e2e.test_local_stack import (
    ARTIFACTS,
    DESKTOP_CHROME,
    LocalStack,
    eventually,
    running_stack,
)
from tests.emulators import ROOT
from tools.local_mail import messages

pytestmark = pytest.mark.e2e

APPLE_PRIVACY_PREFETCH = "Mozilla/5.0"
VIEWER_ZONE = "America/New_York"
# A first pixel fetch within 3 s of the delivery, or a page display within 10 s, is what
# security gateways do: people read later.
READING_DELAY = timedelta(seconds=4.5)
VIEWING_DELAY = timedelta(seconds=11)
UPDATE_WITHIN_MS = 10_000
# Chromium reports every 4xx answer to fetch() on the console; only the sign-in with a
# wrong key expects one.
UNAUTHORIZED_LOAD = re.compile(r"Failed to load resource: .*status of 401")


# -- the stack and its data ------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("sobre-dashboard")) as running:
        yield running


def call(stack: LocalStack, method: str, path: str, body: Any = None, key: str = "") -> Any:
    request = urllib.request.Request(
        stack.api + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key or stack.env['SOBRE_API_KEY']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201, 202)
        return json.load(response)


def stack_env(stack: LocalStack) -> dict[str, str]:
    return {**os.environ, **stack.env, "SOBRE_TABLE_NAME": "sobre"}


def new_account(stack: LocalStack, account: str, sender: str) -> str:
    """A new account's API key, made with the operator command."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.admin", "api-key", "--account", account, "--from", sender],
        cwd=ROOT,
        env=stack_env(stack),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def wait_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


def tracking_token(stack: LocalStack, address: str) -> str:
    """The token of the last message sent to ``address`` (read from the emulator)."""
    mine = [m for m in messages(stack.env["AWS_ENDPOINT_URL"]) if m.to == address]
    assert mine, f"no message to {address}"
    url = mine[-1].pixel_url()
    assert url is not None
    found = re.search(r"/t/([A-Za-z0-9_-]+)\.gif$", url)
    assert found, url
    return found.group(1)


def fetch_pixel(stack: LocalStack, address: str, user_agent: str) -> None:
    request = urllib.request.Request(
        f"{stack.api}/t/{tracking_token(stack, address)}.gif", headers={"User-Agent": user_agent}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert (response.status, response.headers["Content-Type"]) == (200, "image/gif")


def confirm_view(stack: LocalStack, address: str) -> None:
    """A person's browser loads the hosted invoice, then its script says it was on
    screen, with the nonce of that page load."""
    mine = [m for m in messages(stack.env["AWS_ENDPOINT_URL"]) if m.to == address]
    view_url = mine[-1].view_url() if mine else None
    assert view_url is not None, f"no View invoice link to {address}"
    path = urlsplit(view_url).path
    page = urllib.request.Request(f"{stack.api}{path}", headers={"User-Agent": DESKTOP_CHROME})
    with urllib.request.urlopen(page, timeout=10) as response:
        found = re.search(r"load=(\"[A-Za-z0-9_-]+\")", response.read().decode())
    assert found, "no beacon nonce in the hosted page"
    request = urllib.request.Request(
        f"{stack.api}{path}/seen",
        method="POST",
        data=json.dumps({"trigger": "visible", "nonce": json.loads(found.group(1))}).encode(),
        headers={"User-Agent": DESKTOP_CHROME, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


@dataclass
class Demo:
    ids: dict[str, str]  # invoice number -> id
    key: str

    def detail(self, stack: LocalStack, number: str) -> Any:
        return call(stack, "GET", f"/invoices/{self.ids[number]}")


DEMO_NUMBERS = ["DEMO-1001", "DEMO-1002", "DEMO-1003", "DEMO-1004"]
LIST_ITEM_KEYS = {
    "id",
    "number",
    "customer",
    "currency",
    "total",
    "status",
    "payment_status",  # since payments (drift from that merge, not the queue)
    "due_date",
    "created_at",
    "updated_at",
    "sent_at",
    "first_opened_at",
    "first_machine_open_at",
    "viewed_at",
    "problem_count",
    "recipient_count",
}
SETTLED = {"delivered", "bounced", "complained"}


@pytest.fixture(scope="module")
def demo(stack: LocalStack) -> Demo:
    """``make demo``, one invoice that only bounces, then: Ana García opens DEMO-1001 in
    her browser, Apple's privacy relay prefetches DEMO-1002 for Bill (a machine), Gavin
    views DEMO-1004 online. DEMO-1003 stays unopened."""
    run = subprocess.run(
        [sys.executable, "-m", "infra.demo"],
        cwd=ROOT,
        env=stack_env(stack),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    bounced = call(
        stack,
        "POST",
        "/invoices",
        {
            "number": "E2E-BOUNCE",
            "customer": {"name": "Gone Away Ltd"},
            "recipients": [{"email": "bounce@simulator.amazonses.com"}],
            "currency": "EUR",
            "total": "10.00",
            "due_date": "2030-01-31",
        },
    )
    listed = call(stack, "GET", "/invoices?limit=100")["items"]
    ids = {item["number"]: item["id"] for item in listed}
    assert set(DEMO_NUMBERS) <= set(ids)
    ids["E2E-BOUNCE"] = bounced["id"]
    demo = Demo(ids, stack.env["SOBRE_API_KEY"])

    def delivered() -> dict[str, datetime] | None:
        times: dict[str, datetime] = {}
        for number in [*DEMO_NUMBERS, "E2E-BOUNCE"]:
            for recipient in demo.detail(stack, number)["recipients"]:
                if recipient["status"] not in SETTLED:
                    return None
                if recipient["delivered_at"]:
                    times[recipient["email"]] = moment(recipient["delivered_at"])
        return times

    arrived = eventually(delivered, timeout=30)
    wait_until(max(arrived.values()) + READING_DELAY)
    fetch_pixel(stack, "ana.garcia@globex.example", DESKTOP_CHROME)
    fetch_pixel(stack, "bill.lumbergh@initech.example", APPLE_PRIVACY_PREFETCH)
    wait_until(arrived["gavin@hooli.example"] + VIEWING_DELAY)
    confirm_view(stack, "gavin@hooli.example")

    def judged() -> bool | None:
        # The counts are the detail's; the list has only when the first open came.
        statuses = {n: demo.detail(stack, n) for n in DEMO_NUMBERS}
        listed = {i["number"]: i for i in call(stack, "GET", "/invoices?limit=100")["items"]}
        done = (
            statuses["DEMO-1001"]["open_count"] == 1
            and statuses["DEMO-1002"]["machine_open_count"] == 1
            and statuses["DEMO-1004"]["status"] == "viewed"
            and listed["DEMO-1001"]["first_opened_at"] is not None
            and listed["DEMO-1002"]["first_machine_open_at"] is not None
            and listed["DEMO-1002"]["first_opened_at"] is None
            and listed["DEMO-1004"]["status"] == "viewed"
        )
        return True if done else None

    eventually(judged)
    return demo


# -- the browser ----------------------------------------------------------------------


def flat(text: str) -> str:
    """Page text with Intl's no-break spaces as plain spaces, and collapsed."""
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " ")).strip()


@dataclass
class Dashboard:
    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.url)
        expect(self.page.locator("#api-key")).to_be_visible()

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.fill("#api-key", key)
        self.page.keyboard.press("Enter")
        expect(self.page.locator("#dashboard")).to_be_visible()
        expect(self.page.locator("#invoices")).to_have_attribute("aria-busy", "false")

    def row(self, number: str) -> Locator:
        return self.page.locator("#rows tr.row", has=self.page.locator(".number", has_text=number))

    def numbers(self) -> list[str]:
        return self.page.locator("#rows tr.row .number").all_inner_texts()

    def chip(self, label: str) -> None:
        self.page.get_by_role("button", name=label, exact=True).click()

    def detail_field(self, name: str) -> str:
        return flat(self.page.locator(f'#detail [data-field="{name}"] dd').inner_text())

    def screenshot(self, name: str, locator: Locator | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        if locator is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            locator.screenshot(path=str(path))
        assert path.stat().st_size > 5_000
        return path

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


Opener = Callable[..., Dashboard]


@pytest.fixture
def dashboard(browser: Browser, stack: LocalStack) -> Iterator[Opener]:
    """Opens the dashboard in a fresh browser context (its own sessionStorage); every
    console error and uncaught exception fails the test."""
    opened: list[tuple[Any, Dashboard]] = []

    def open_dashboard(
        locale: str = "en-US", width: int = 1280, height: int = 900, zone: str = VIEWER_ZONE
    ) -> Dashboard:
        context = browser.new_context(
            user_agent=DESKTOP_CHROME,
            viewport={"width": width, "height": height},
            locale=locale,
            timezone_id=zone,
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        view = Dashboard(page, f"{stack.api}/")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                view.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: view.errors.append(f"uncaught: {error}"))
        page.on("request", lambda request: view.requested.append(request.url))
        opened.append((context, view))
        return view

    yield open_dashboard
    problems = [e for _, view in opened for e in view.unexpected_errors()]
    # Nothing from a CDN or anywhere else: the page works offline on the local stack.
    elsewhere = [
        url for _, view in opened for url in view.requested if not url.startswith(f"{stack.api}/")
    ]
    for context, _ in opened:
        context.close()
    assert problems == [], f"console errors: {problems}"
    assert elsewhere == [], f"requests to other origins: {elsewhere}"
    assert any(url.endswith("/app/assets/app.js") for _, v in opened for url in v.requested)


# -- the tests ---------------------------------------------------------------------------


def test_a_wrong_key_gets_a_clear_message(stack: LocalStack, dashboard: Opener) -> None:
    view = dashboard()
    view.expected.append(UNAUTHORIZED_LOAD)
    view.open()
    page = view.page
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("Enter your API key.")
    page.fill("#api-key", "sobre_this-is-not-a-key")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_role("alert").filter(has_text="not accepted")
    expect(error).to_contain_text("That API key was not accepted")
    expect(page.locator("#api-key")).to_have_attribute("aria-invalid", "true")
    assert page.locator("#dashboard").is_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    assert "sobre_" not in page.url
    assert low_contrast(page) == []
    view.screenshot("dashboard-wrong-key.png")
    assert [e for e in view.errors if UNAUTHORIZED_LOAD.search(e)], "the 401 was not even sent"


def test_sign_in_lists_the_demo_invoices_with_their_activity(
    stack: LocalStack, demo: Demo, dashboard: Opener
) -> None:
    view = dashboard()
    view.sign_in(demo.key)
    page = view.page
    expect(page.locator("#rows tr.row")).to_have_count(5)
    assert set(view.numbers()) == {*DEMO_NUMBERS, "E2E-BOUNCE"}
    # The key is in this tab's sessionStorage only: not in the URL, not in localStorage.
    assert page.evaluate("sessionStorage.getItem('sobre.apiKey')") == demo.key
    assert demo.key not in page.evaluate("JSON.stringify(Object.values(localStorage))")
    assert demo.key not in page.url

    listed = {i["number"]: i for i in call(stack, "GET", "/invoices?limit=100")["items"]}
    # The list items are slim: no counts, no recipients (the detail has those).
    assert {key for item in listed.values() for key in item} == LIST_ITEM_KEYS
    opened = view.row("DEMO-1001")
    opened_icon = opened.locator('[data-activity="opened"] [role="img"]')
    expect(opened_icon).to_have_attribute("aria-label", re.compile(r"^Opened by a person"))
    first_open = ny_time(listed["DEMO-1001"]["first_opened_at"])
    label = flat(cast(str, opened_icon.get_attribute("aria-label")))
    assert label == f"Opened by a person (first opened {first_open})", label
    expect(opened.locator(".count")).to_have_count(0)  # no open count in the list
    expect(opened.locator(".badge")).to_have_text("Opened")
    expect(opened.locator(".total")).to_have_text("€1,210.00")
    machine_only = view.row("DEMO-1002")
    expect(machine_only.locator('[data-activity="not-opened"]')).to_be_visible()
    expect(machine_only.locator('[data-activity="machine-only"] [role="img"]')).to_have_attribute(
        "aria-label", re.compile(r"^Fetched by a machine only")
    )
    expect(machine_only.locator('[data-activity="opened"]')).to_have_count(0)
    expect(machine_only.locator('[data-activity="problem"]')).to_be_visible()  # the bounce
    unopened = view.row("DEMO-1003")
    expect(unopened.locator('[data-activity="not-opened"]')).to_be_visible()
    expect(unopened.locator('[data-activity="machine-only"]')).to_have_count(0)
    expect(unopened.locator('[data-activity="problem"]')).to_be_visible()  # the complaint
    viewed = view.row("DEMO-1004")
    expect(viewed.locator('[data-activity="viewed"] [role="img"]')).to_have_attribute(
        "aria-label", "Viewed online"
    )
    expect(viewed.locator(".badge")).to_have_text("Viewed online")
    expect(view.row("E2E-BOUNCE").locator(".badge")).to_have_text("Bounced")
    # Most recently updated first, as the API lists them.
    api_order = [i["number"] for i in call(stack, "GET", "/invoices")["items"]]
    assert view.numbers() == api_order
    expect(page.locator("#count")).to_have_text("5 invoices, all loaded")
    expect(page.locator("#load-more")).to_be_hidden()
    assert low_contrast(page) == []
    view.screenshot("dashboard-list.png")


def test_filters_and_search(demo: Demo, dashboard: Opener) -> None:
    view = dashboard()
    view.sign_in(demo.key)
    page = view.page
    view.chip("Viewed by customer")
    expect(page.locator("#rows tr.row")).to_have_count(2)
    assert set(view.numbers()) == {"DEMO-1001", "DEMO-1004"}
    statuses = page.locator("#rows tr.row").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert set(statuses) == {"opened", "viewed"}
    expect(page.get_by_role("button", name="Viewed by customer")).to_have_attribute(
        "aria-pressed", "true"
    )
    view.chip("Not opened")
    expect(page.locator("#rows tr.row")).to_have_count(2)
    assert set(view.numbers()) == {"DEMO-1002", "DEMO-1003"}
    view.chip("Problems")
    expect(page.locator("#rows tr.row")).to_have_count(1)
    assert view.numbers() == ["E2E-BOUNCE"]
    view.chip("All")
    expect(page.locator("#rows tr.row")).to_have_count(5)

    # The search box asks the server for invoice numbers starting with what is typed
    # (GET /invoices?number_prefix=, case-insensitive), narrowed to the chosen filter;
    # customers' names are not searched any more (the API looks numbers up only).
    search = page.get_by_label("Search by invoice number")
    search.fill("demo-100")
    expect(page.locator("#count")).to_have_text("4 invoices whose number starts with “demo-100”")
    assert sorted(view.numbers()) == DEMO_NUMBERS
    search.fill("DEMO-1004")
    expect(page.locator("#rows tr.row")).to_have_count(1)
    assert view.numbers() == ["DEMO-1004"]
    view.chip("Viewed by customer")
    search.fill("DEMO")
    expect(page.locator("#rows tr.row")).to_have_count(2)
    assert set(view.numbers()) == {"DEMO-1001", "DEMO-1004"}
    view.chip("All")
    search.fill("globex")
    expect(page.locator("#empty")).to_have_text("No invoice number starts with “globex”.")
    expect(page.locator("#rows tr.row")).to_have_count(0)
    asked = [parse_qs(urlsplit(url).query) for url in view.requested if "number_prefix=" in url]
    assert {q["number_prefix"][0] for q in asked} >= {"demo-100", "DEMO-1004", "DEMO", "globex"}
    search.fill("")
    expect(page.locator("#rows tr.row")).to_have_count(5)
    expect(page.locator("#count")).to_have_text("5 invoices, all loaded")


CONTRAST = """() => {
    const parse = (c) => {
        const [r, g, b, a = 1] = c.match(/[\\d.]+/g).map(Number);
        return { r, g, b, a };
    };
    const luminance = ({ r, g, b }) => {
        const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (node) => {
        for (let n = node; n; n = n.parentElement) {
            const colour = parse(getComputedStyle(n).backgroundColor);
            if (colour.a > 0) return colour;
        }
        return { r: 255, g: 255, b: 255, a: 1 };
    };
    const failures = [];
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode.parentElement;
        if (!walker.currentNode.textContent.trim() || seen.has(node)) continue;
        seen.add(node);
        if (!node.checkVisibility() || node.closest(".visually-hidden, option")) continue;
        const style = getComputedStyle(node);
        const fg = parse(node instanceof SVGElement ? style.fill : style.color);
        const [l1, l2] = [luminance(fg), luminance(background(node))].sort((x, y) => y - x);
        const ratio = (l1 + 0.05) / (l2 + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
        if (ratio < (large ? 3 : 4.5)) {
            failures.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
        }
    }
    return failures;
}"""


def low_contrast(page: Page) -> list[str]:
    """Visible text below WCAG AA contrast (4.5:1, 3:1 for large text)."""
    return cast(list[str], page.evaluate(CONTRAST))


def ny_time(iso: str) -> str:
    """What en-US Intl shows for ``iso`` (dateStyle medium, timeStyle short) in New York."""
    local = moment(iso).astimezone(ZoneInfo(VIEWER_ZONE))
    hour = local.hour % 12 or 12
    return f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p}"


def test_the_detail_shows_who_opened_it_and_when(
    stack: LocalStack, demo: Demo, dashboard: Opener
) -> None:
    view = dashboard(height=2600)  # tall enough for the whole detail in one screenshot
    view.sign_in(demo.key)
    page = view.page
    # By keyboard: Tab from the search box reaches the table (one tab stop), arrow keys
    # move between rows, Enter opens one.
    page.get_by_label("Search by invoice number").focus()
    page.keyboard.press("Tab")
    rows = page.locator("#rows tr.row")
    expect(rows.first).to_be_focused()
    for _ in range(view.numbers().index("DEMO-1001")):
        page.keyboard.press("ArrowDown")
    row = view.row("DEMO-1001")
    expect(row).to_be_focused()
    page.keyboard.press("Enter")
    title = page.locator("#detail-title")
    expect(title).to_have_text("DEMO-1001")
    expect(title).to_be_focused()
    expect(row).to_have_attribute("aria-current", "true")

    detail = demo.detail(stack, "DEMO-1001")
    ana = next(r for r in detail["recipients"] if r["email"] == "ana.garcia@globex.example")
    assert detail["first_opened_by"]["recipient_id"] == ana["id"]
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Opened once by a person"
    )
    first = view.detail_field("first-opened")
    assert first.startswith(ny_time(detail["first_opened_at"])), first
    assert re.search(r"\((now|\d+ (seconds?|minutes?) ago)\)$", first), first
    assert view.detail_field("last-opened").startswith(ny_time(detail["last_opened_at"]))
    assert view.detail_field("first-opened-by") == "Ana García <ana.garcia@globex.example>"
    assert view.detail_field("machine-opens") == "None"
    assert view.detail_field("viewed-at") == "Not yet"
    assert view.detail_field("sent-at").startswith(ny_time(detail["sent_at"]))
    expect(page.locator("#detail")).to_contain_text(f"Times in your time zone ({VIEWER_ZONE}).")

    recipients = page.locator("#detail table.recipients tbody tr")
    expect(recipients).to_have_count(2)
    ana_row = page.locator(f'#detail tr[data-recipient="{ana["id"]}"]')
    expect(ana_row.locator('[data-field="opens"]')).to_have_text("1")
    expect(ana_row.locator(".badge")).to_have_text("Opened")
    other = page.locator("#detail table.recipients tbody tr", has_text="cuentas@globex.example")
    expect(other.locator('[data-field="opens"]')).to_have_text("0")
    expect(other.locator(".badge")).to_have_text("Delivered")

    chart = page.locator("#detail figure.timeline svg.chart[role='img']")
    expect(chart).to_have_count(1)
    expect(chart.locator("g.mk-person")).to_have_count(1)
    expect(chart.locator("g.mk-delivery")).to_have_count(2)
    label = cast(str, chart.get_attribute("aria-label"))
    assert "1 open by a person, 0 machine opens, 0 problems" in label

    answer = call(stack, "GET", f"/invoices/{detail['id']}/events")
    assert answer["next"] is None
    events = answer["items"]
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    history = page.locator("#detail ol.events > li")
    expect(history).to_have_count(len(events))
    times = history.locator("time").evaluate_all("ts => ts.map((t) => t.dateTime)")
    assert times == [e["at"] for e in events]  # newest first, as the API gives them
    expect(page.locator('#detail [data-field="events-truncated"]')).to_have_count(0)
    open_item = page.locator("#detail li.event-open")
    expect(open_item).to_have_count(1)
    expect(open_item.locator(".verdict")).to_have_text("Person")
    expect(open_item.locator('.reasons li[data-code="ua:client:browser"]')).to_have_text(
        "mail client or browser: browser"
    )
    expect(open_item.locator(".reasons li").filter(has_text="after delivery")).to_have_count(1)
    expect(page.get_by_role("button", name="Resend to failed recipients")).to_have_count(0)
    assert low_contrast(page) == []
    view.screenshot("dashboard-detail.png")

    # Arrow keys move between rows and Escape closes the detail, back on its row.
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()
    expect(row).to_be_focused()
    row_index = view.numbers().index("DEMO-1001")
    page.keyboard.press("ArrowDown" if row_index == 0 else "ArrowUp")
    expect(row).not_to_be_focused()


def test_machine_opens_are_told_apart_in_the_detail(demo: Demo, dashboard: Opener) -> None:
    view = dashboard()
    view.sign_in(demo.key)
    page = view.page
    view.row("DEMO-1002").click()
    expect(page.locator("#detail-title")).to_have_text("DEMO-1002")
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Not opened by a person yet"
    )
    assert view.detail_field("machine-opens").startswith("1, not counted")
    assert view.detail_field("problems") == "1 recipient"
    prefetch = page.locator("#detail li.event-open")
    expect(prefetch.locator(".verdict")).to_have_text("Apple Mail privacy prefetch")
    expect(prefetch.locator(".verdict")).to_have_attribute("data-verdict", "privacy_prefetch")
    expect(
        prefetch.locator('.reasons li[data-code="ua:apple-mail-privacy-protection"]')
    ).to_be_visible()
    expect(page.locator("#detail svg.chart g.mk-machine")).to_have_count(1)
    expect(page.locator("#detail svg.chart g.mk-problem")).to_have_count(1)
    bounced = page.locator("#detail table.recipients tr", has_text="bounce@simulator.amazonses.com")
    expect(bounced.locator(".problem-line").first).to_have_text("Bounce: Permanent General")
    expect(bounced.locator(".badge")).to_have_text("Bounced")


def test_a_new_open_appears_by_itself(stack: LocalStack, demo: Demo, dashboard: Opener) -> None:
    view = dashboard(height=420)  # the page scrolls: the scroll position must survive
    view.sign_in(demo.key)
    page = view.page
    row = view.row("DEMO-1003")
    expect(row.locator('[data-activity="not-opened"]')).to_be_visible()
    row.click()
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Not opened by a person yet"
    )
    page.evaluate("window.sameDocument = true")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    focused = page.evaluate("document.activeElement.id")
    assert focused == "detail-title"

    # Delivered long before now: a person's open, not a gateway's.
    fetch_pixel(stack, "procurement@umbrella.example", DESKTOP_CHROME)
    started = time.monotonic()
    expect(row.locator('[data-activity="opened"]')).to_be_visible(timeout=UPDATE_WITHIN_MS)
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Opened once by a person", timeout=UPDATE_WITHIN_MS
    )
    assert time.monotonic() - started < UPDATE_WITHIN_MS / 1000
    assert view.detail_field("first-opened-by") == "Procurement <procurement@umbrella.example>"
    # Without reloading, and the reader's place is kept.
    assert page.evaluate("window.sameDocument") is True
    expect(row).to_have_attribute("aria-current", "true")
    assert page.evaluate("document.activeElement.id") == focused
    assert abs(page.evaluate("window.scrollY") - scrolled) <= 4


def test_spanish(demo: Demo, dashboard: Opener) -> None:
    view = dashboard(locale="es-ES", zone="Europe/Madrid")
    view.sign_in(demo.key)
    page = view.page
    assert page.evaluate("document.documentElement.lang") == "es"
    expect(page.get_by_role("heading", level=1)).to_have_text("Facturas enviadas")
    expect(page.get_by_role("button", name="Vistas por el cliente")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    row = view.row("DEMO-1001")
    assert flat(row.locator(".total").inner_text()) == "1210,00 €"
    expect(row.locator(".badge")).to_have_text("Abierta")
    expect(row.locator('[data-activity="opened"] [role="img"]')).to_have_attribute(
        "aria-label", re.compile(r"^Abierta por una persona \(primera apertura: .+\)$")
    )
    expect(
        view.row("DEMO-1002").locator('[data-activity="machine-only"] [role="img"]')
    ).to_have_attribute("aria-label", re.compile(r"^Solo la descargó una máquina"))
    expect(view.row("DEMO-1004").locator(".badge")).to_have_text("Vista en línea")
    view.chip("Vistas por el cliente")
    expect(view.row("DEMO-1004")).to_have_count(1)
    expect(view.row("DEMO-1001")).to_have_count(1)
    expect(view.row("DEMO-1002")).to_have_count(0)
    view.chip("Todas")
    expect(page.locator("#count")).to_have_text("5 facturas, todas cargadas")
    view.screenshot("dashboard-list-es.png")

    row.click()
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Abierta una vez por una persona"
    )
    expect(page.locator("#detail")).to_contain_text("Horas en tu zona horaria (Europe/Madrid).")
    expect(page.locator("#recipients-title")).to_have_text("Destinatarios")
    expect(page.locator("#detail li.event-open .verdict")).to_have_text("Persona")
    first = view.detail_field("first-opened")
    assert re.search(r"\((ahora|hace \d+ (segundos?|minutos?))\)$", first), first

    # Every message exists in both languages, with the same plural forms.
    missing = page.evaluate(
        """async () => {
            const { MESSAGES } = await import(new URL("app/assets/i18n.js", document.baseURI));
            const keys = (tree, prefix = "") => Object.entries(tree).flatMap(([k, v]) =>
                typeof v === "string" ? [prefix + k] : keys(v, `${prefix}${k}.`));
            const en = new Set(keys(MESSAGES.en)), es = new Set(keys(MESSAGES.es));
            return [...en].filter((k) => !es.has(k)).concat([...es].filter((k) => !en.has(k)));
        }"""
    )
    assert missing == []

    # Switching language re-renders in place, and the choice is remembered (not the key).
    page.get_by_label("Idioma").select_option("en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sent invoices")
    expect(page.locator('#detail [data-field="opens-total"]')).to_have_text(
        "Opened once by a person"
    )
    assert flat(row.locator(".total").inner_text()) == "€1,210.00"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sent invoices")
    assert page.evaluate("localStorage.getItem('sobre.language')") == "en"


def test_usable_at_375_px(demo: Demo, dashboard: Opener) -> None:
    view = dashboard(locale="es-ES", width=375, height=812)
    view.sign_in(demo.key)
    page = view.page
    expect(page.locator("#rows tr.row")).to_have_count(5)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    for number in DEMO_NUMBERS:
        box = view.row(number).bounding_box()
        assert box is not None
        assert box["width"] <= 375
    view.screenshot("dashboard-list-375.png")
    view.row("DEMO-1001").click()
    panel = page.locator("#detail")
    expect(page.locator("#detail-title")).to_have_text("DEMO-1001")
    box = panel.bounding_box()
    viewport = page.evaluate("document.documentElement.clientWidth")
    assert box is not None
    assert (box["x"], box["width"]) == (0, viewport)  # it covers the list
    assert page.evaluate("document.getElementById('list-panel').inert") is True
    assert page.evaluate(overflow) <= 0
    view.screenshot("dashboard-detail-375.png", panel)
    page.get_by_role("button", name="Cerrar el detalle").click()
    expect(panel).to_be_hidden()
    assert page.evaluate("document.getElementById('list-panel').inert") is False
    expect(view.row("DEMO-1001")).to_be_focused()


def test_resend_to_failed_recipients(stack: LocalStack, dashboard: Opener) -> None:
    # An account whose sender SES has not verified: every message is refused.
    sender = "billing@unverified.example"
    key = new_account(stack, "unverified-e2e", sender)
    created = call(
        stack,
        "POST",
        "/invoices",
        {
            "number": "E2E-FAILED",
            "customer": {"name": "Retry S.A."},
            "recipients": [{"email": "one@retry.example"}, {"email": "two@retry.example"}],
            "currency": "EUR",
            "total": "50.00",
            "due_date": "2030-01-31",
        },
        key,
    )
    assert created["status"] == "queued"  # 202: the sender then finds SES refusing

    def attempts_failed(n: int) -> Callable[[], bool | None]:
        def check() -> bool | None:
            detail = call(stack, "GET", f"/invoices/{created['id']}", key=key)
            done = [(r["status"], r["send_attempts"]) for r in detail["recipients"]]
            return True if done == [("failed", n)] * 2 else None

        return check

    eventually(attempts_failed(1))
    view = dashboard()
    view.sign_in(key)
    page = view.page
    row = view.row("E2E-FAILED")
    expect(row.locator(".badge")).to_have_text("Failed")
    expect(row.locator('[data-activity="problem"]')).to_be_visible()
    view.chip("Problems")
    expect(page.locator("#rows tr.row")).to_have_count(1)
    row.click()
    resend = page.get_by_role("button", name="Resend to failed recipients")
    expect(page.locator("#detail .resend")).to_contain_text("2 recipients could not be sent to.")
    resend.click()
    expect(page.locator("#detail .resend-result")).to_have_text("Queued again for 2 recipients.")
    eventually(attempts_failed(2))  # queued, refused again by the sender

    env = stack.env
    boto3.client(
        "ses",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).verify_email_identity(EmailAddress=sender)
    view = dashboard()  # a fresh page: the detail as it is now
    view.sign_in(key)
    page = view.page
    view.row("E2E-FAILED").click()
    resend = page.get_by_role("button", name="Resend to failed recipients")
    expect(page.locator("#detail .problem-line").first).to_contain_text("Last failure:")
    resend.click()
    expect(page.locator("#detail .resend-result")).to_have_text("Queued again for 2 recipients.")

    def out() -> dict[str, Any] | None:
        detail = call(stack, "GET", f"/invoices/{created['id']}", key=key)
        statuses = {r["status"] for r in detail["recipients"]}
        return dict(detail) if statuses <= {"sent", "delivered"} else None

    detail = eventually(out)
    assert [r["send_attempts"] for r in detail["recipients"]] == [3, 3]


def test_load_more_pages_through_the_cursor(stack: LocalStack, dashboard: Opener) -> None:
    key = new_account(stack, "paging-e2e", "billing@example.com")
    ids = []
    for n in range(27):
        created = call(
            stack,
            "POST",
            "/invoices",
            {
                "number": f"PAGE-{n:03d}",
                "customer": {"name": f"Customer {n}"},
                "recipients": [{"email": f"page{n}@customer.example"}],
                "currency": "USD",
                "total": "1.00",
                "due_date": "2030-01-31",
            },
            key,
        )
        ids.append(created["id"])

    # Once every delivery is in, nothing moves in the list while it is paged.
    def delivered() -> bool | None:
        listed = call(stack, "GET", "/invoices?status=delivered&limit=100", key=key)["items"]
        return True if len(listed) == len(ids) else None

    eventually(delivered, timeout=30)
    view = dashboard()
    view.sign_in(key)
    page = view.page
    expect(page.locator("#rows tr.row")).to_have_count(25)
    expect(page.locator("#count")).to_have_text("25 invoices shown")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#rows tr.row")).to_have_count(27)
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator("#count")).to_have_text("27 invoices, all loaded")
    assert sorted(view.numbers()) == [f"PAGE-{n:03d}" for n in range(27)]
    # The auto-refresh reads to the same depth: the list stays 27 long.
    page.wait_for_timeout(6_000)
    expect(page.locator("#rows tr.row")).to_have_count(27)


def test_statuses_are_merged_by_activity_across_cursors(
    stack: LocalStack, dashboard: Opener
) -> None:
    """The merge of a multi-status filter ("Viewed by customer" = viewed + opened), with
    the API replaced by pages of two: nothing is shown before an item that may still
    come, and every item once."""
    view = dashboard()
    view.open()
    result = view.page.evaluate(
        """async () => {
            const { Feed } = await import(new URL("app/assets/feed.js", document.baseURI));
            const at = (n) => `2026-01-01T00:00:${String(n).padStart(2, "0")}.000Z`;
            const item = (id, n) => ({ id, updated_at: at(n) });
            const data = {
                viewed: [item("v9", 9), item("v7", 7), item("moved", 5), item("v3", 3)],
                opened: [item("o10", 10), item("o8", 8), item("o6", 6), item("moved", 4)],
            };
            const calls = [];
            const fetchPage = async ({ status, cursor }) => {
                calls.push(status);
                const start = Number(cursor || 0);
                const next = start + 2 < data[status].length ? String(start + 2) : null;
                return { items: data[status].slice(start, start + 2), next };
            };
            const feed = new Feed("viewed", fetchPage);
            await feed.loadUntil(3);
            const first = feed.visible().map((i) => i.id);
            const firstCalls = calls.length;
            await feed.loadUntil(100);
            const all = feed.visible().map((i) => i.id);
            return { first, firstCalls, all, complete: feed.complete };
        }"""
    )
    assert result["first"] == ["o10", "v9", "o8"]
    assert result["firstCalls"] == 2  # one page of each status
    assert result["all"] == ["o10", "v9", "o8", "v7", "o6", "moved", "v3"]
    assert result["complete"] is True


def test_events_are_loaded_page_by_page_up_to_2000(dashboard: Opener) -> None:
    """api.loadEvents with GET /invoices/{id}/events replaced: it follows ``next`` with
    limit=500 until the end, or until it holds 2,000 events (the latest, newest first)."""
    view = dashboard()
    view.open()
    result = view.page.evaluate(
        """async () => {
            const api = await import(new URL("app/assets/api.js", document.baseURI));
            const run = async (total) => {
                const calls = [];
                const all = Array.from({ length: total }, (_, i) => ({ at: total - i }));
                const fetchPage = async (id, { cursor, limit }) => {
                    calls.push([id, cursor, limit]);
                    const start = cursor ? Number(cursor.slice(1)) : 0;
                    const end = start + limit;
                    const next = end < total ? `c${end}` : null;
                    return { items: all.slice(start, end), next };
                };
                const { items, complete } = await api.loadEvents("inv-1", { fetchPage });
                const first = items[0]?.at ?? null;
                const last = items.at(-1)?.at ?? null;
                return { count: items.length, first, last, complete, calls };
            };
            const stuck = await api.loadEvents("inv-1", {
                fetchPage: async () => ({ items: [], next: "same" }),
            });
            return {
                none: await run(0),
                exact: await run(1000),
                full: await run(2000),
                big: await run(2600),
                stuck: stuck.complete,
            };
        }"""
    )
    assert result["none"] == {
        "count": 0,
        "first": None,
        "last": None,
        "complete": True,
        "calls": [["inv-1", None, 500]],
    }
    assert result["exact"] == {
        "count": 1000,
        "first": 1000,
        "last": 1,
        "complete": True,
        "calls": [["inv-1", None, 500], ["inv-1", "c500", 500]],
    }
    assert (result["full"]["count"], result["full"]["complete"]) == (2000, True)
    big = result["big"]
    assert (big["count"], big["first"], big["last"], big["complete"]) == (2000, 2600, 601, False)
    assert [cursor for _, cursor, _ in big["calls"]] == [None, "c500", "c1000", "c1500"]
    assert result["stuck"] is False  # a cursor that does not move is not followed forever


def test_the_detail_follows_the_event_pages(
    stack: LocalStack, demo: Demo, dashboard: Opener
) -> None:
    """GET /invoices/{id}/events answered with 2,600 made-up events, 500 a page: the
    detail follows the cursor to 2,000 (the latest), says so, and totals from the detail."""
    detail = demo.detail(stack, "DEMO-1004")
    gavin = next(r for r in detail["recipients"] if r["email"] == "gavin@hooli.example")
    now = datetime.now(UTC)
    fake = [
        {
            "at": (now - timedelta(seconds=i + 1)).isoformat(timespec="milliseconds")[:-6] + "Z",
            "type": "open",
            "recipient_id": gavin["id"],
            "source": "pixel",
            "details": {"verdict": "scanner", "counted": True, "reasons": ["ua:scanner:test"]},
        }
        for i in range(2600)
    ]
    asked: list[tuple[str | None, str | None]] = []

    def events_page(route: Route) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        cursor = query.get("cursor", [None])[0]
        limit = query.get("limit", [None])[0]
        asked.append((cursor, limit))
        start = int(cursor or 0)
        end = start + int(limit or 100)
        body = {"items": fake[start:end], "next": str(end) if end < len(fake) else None}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    view = dashboard(height=1200)
    page = view.page
    page.route(re.compile(rf"/invoices/{detail['id']}/events(\?.*)?$"), events_page)
    view.sign_in(demo.key)
    view.row("DEMO-1004").click()
    expect(page.locator("#detail-title")).to_have_text("DEMO-1004")
    history = page.locator("#detail ol.events > li")
    expect(history).to_have_count(2000)
    assert asked[:4] == [(None, "500"), ("500", "500"), ("1000", "500"), ("1500", "500")]
    assert history.first.locator("time").get_attribute("datetime") == fake[0]["at"]
    assert history.last.locator("time").get_attribute("datetime") == fake[1999]["at"]

    def total(count: int, one: str, many: str) -> str:
        return f"1 {one}" if count == 1 else f"{count:,} {many}"

    opens = total(detail["open_count"], "open by a person", "opens by a person")
    machine = total(detail["machine_open_count"], "machine open", "machine opens")
    note = page.locator('#detail [data-field="events-truncated"]')
    expect(note).to_have_count(1)
    expect(note).to_have_text(
        "Only the latest 2,000 events are shown in the timeline and the history. "
        f"In all: {opens}, {machine}."
    )
    chart = page.locator("#detail figure.timeline svg.chart[role='img']")
    expect(chart.locator("g.mk-machine")).to_have_count(2000)
    label = cast(str, chart.get_attribute("aria-label"))
    assert label.startswith("Timeline of the latest 2,000 events"), label
    assert "2000 machine opens" in label
    page.get_by_label("Language").select_option("es")
    expect(note).to_have_text(
        re.compile(r"^La cronología y el historial solo muestran los últimos 2\.?000 eventos\.")
    )
    expect(note).to_contain_text("En total: ")


def test_sign_out_forgets_the_key(demo: Demo, dashboard: Opener) -> None:
    view = dashboard()
    view.sign_in(demo.key)
    page = view.page
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-notice")).to_have_text(
        "You are signed out. The key was removed from this tab."
    )
    assert page.evaluate("sessionStorage.getItem('sobre.apiKey')") is None
    expect(page.locator("#rows tr")).to_have_count(0)
    page.reload()
    expect(page.locator("#api-key")).to_be_visible()
    assert page.locator("#dashboard").is_hidden()


def test_the_page_is_served_with_a_strict_policy(stack: LocalStack) -> None:
    with urllib.request.urlopen(f"{stack.api}/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    with urllib.request.urlopen(f"{stack.api}/app/assets/app.js", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"


# -- the invoice's whole life (issue 16): settings, payment, search, new recipients -------

REFUSED_LOAD = re.compile(r"Failed to load resource: .*status of (400|409)")


def invoice_body(number: str, email: str, total: str = "25.00") -> dict[str, Any]:
    return {
        "number": number,
        "customer": {"name": f"Customer of {number}"},
        "recipients": [{"email": email}],
        "currency": "USD",
        "total": total,
        "due_date": "2030-01-31",
    }


def next_digest_shown(page: Page) -> tuple[str, str]:
    """The next digest as Settings shows it: its instant and its text."""
    shown = page.locator("#next-digest time")
    return cast(str, shown.get_attribute("datetime")), flat(
        page.locator("#next-digest").inner_text()
    )


def us_long_date(local: datetime) -> str:
    """What en-US Intl writes for a date with dateStyle "full"."""
    return f"{local:%A}, {local:%B} {local.day}, {local.year}"


def open_settings(view: Dashboard, name: str = "Settings") -> None:
    page = view.page
    page.get_by_role("navigation").get_by_role("link", name=name).click()
    expect(page.locator("#settings-title")).to_be_focused()
    expect(page.locator("#settings-form")).to_be_visible()
    assert page.url.endswith("#settings")


def test_settings_time_zone_moves_the_next_digest(stack: LocalStack, dashboard: Opener) -> None:
    """The issue's Done-when: changing the time zone in Settings moves the next digest,
    shown in the account's zone (not the viewer's)."""
    key = new_account(stack, "settings-zone-e2e", "billing@example.com")
    call(
        stack,
        "PATCH",
        "/account",
        {"report_address": "reports@example.com", "time_zone": "Europe/Madrid"},
        key,
    )
    view = dashboard()  # the viewer is in New York
    view.sign_in(key)
    page = view.page
    open_settings(view)
    expect(page.locator("#setting-time-zone")).to_have_value("Europe/Madrid")
    expect(page.locator("#setting-report-address")).to_have_value("reports@example.com")
    before = call(stack, "GET", "/account", key=key)["next_digest_at"]
    at, text = next_digest_shown(page)
    assert at == before
    madrid = moment(before).astimezone(ZoneInfo("Europe/Madrid"))
    assert text == f"{us_long_date(madrid)} at 7:00 AM (Europe/Madrid)"

    page.fill("#setting-time-zone", "Asia/Tokyo")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    after = call(stack, "GET", "/account", key=key)
    assert after["time_zone"] == "Asia/Tokyo"
    assert after["next_digest_at"] != before
    expect(page.locator("#next-digest time")).to_have_attribute("datetime", after["next_digest_at"])
    tokyo = moment(after["next_digest_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.hour, tokyo.minute) == (7, 0)
    assert next_digest_shown(page)[1] == f"{us_long_date(tokyo)} at 7:00 AM (Asia/Tokyo)"
    # Without a report address no digest goes out, and Settings says so.
    page.fill("#setting-report-address", "")
    page.keyboard.press("Enter")
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    expect(page.locator("#next-digest")).to_have_text(
        "None: digests go to the report address, and none is set."
    )
    assert call(stack, "GET", "/account", key=key)["report_address"] is None
    assert low_contrast(page) == []
    view.screenshot("dashboard-settings.png")


def test_settings_show_the_apis_errors_beside_their_fields(
    stack: LocalStack, dashboard: Opener
) -> None:
    key = new_account(stack, "settings-errors-e2e", "billing@example.com")
    stored = call(stack, "GET", "/account", key=key)
    view = dashboard()
    view.expected.append(REFUSED_LOAD)
    view.sign_in(key)
    page = view.page
    open_settings(view)
    page.fill("#setting-name", "")
    page.fill("#setting-time-zone", "Mars/Olympus_Mons")
    page.fill("#setting-retention-days", "99999")
    with page.expect_response(
        lambda r: r.url.endswith("/account") and r.request.method == "PATCH"
    ) as answer:
        page.get_by_role("button", name="Save settings").click()
    assert answer.value.status == 400
    expect(page.locator("#settings-error")).to_have_text(
        "Not saved: 3 settings need fixing (marked below)."
    )
    expect(page.locator("#setting-name-error")).to_have_text("must be 1 to 200 characters")
    expect(page.locator("#setting-retention-days-error")).to_have_text(
        "must be a number of days from 1 to 3650"
    )
    expect(page.locator("#setting-time-zone-error")).not_to_be_empty()
    for name in ["name", "time-zone", "retention-days"]:
        field = page.locator(f"#setting-{name}")
        expect(field).to_have_attribute("aria-invalid", "true")
        assert f"setting-{name}-error" in cast(str, field.get_attribute("aria-describedby"))
    expect(page.locator("#setting-reply-to")).to_have_attribute("aria-invalid", "false")
    expect(page.locator("#setting-name")).to_be_focused()  # the first field to fix
    assert call(stack, "GET", "/account", key=key) == stored  # nothing was changed
    view.screenshot("dashboard-settings-errors.png")

    page.fill("#setting-name", "Fixed Ltd")
    page.fill("#setting-time-zone", "UTC")
    page.fill("#setting-retention-days", "30")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    expect(page.locator("#settings-error")).to_be_empty()
    expect(page.locator('#settings-form [aria-invalid="true"]')).to_have_count(0)
    changed = call(stack, "GET", "/account", key=key)
    assert (changed["name"], changed["time_zone"], changed["retention_days"]) == (
        "Fixed Ltd",
        "UTC",
        30,
    )


SETTING_IDS = [
    "setting-name",
    "setting-from-address",
    "setting-reply-to",
    "setting-report-address",
    "setting-time-zone",
    "setting-locale",
    "setting-digest-when-quiet",
    "setting-unopened-after-days",
    "setting-alert-emails",
    "setting-reminders",
    "setting-reminder-after-days",
    "setting-reminder-max",
    "setting-tracking",
    "setting-retention-days",
    "settings-save",
]


def test_settings_at_375_px_by_keyboard(stack: LocalStack, dashboard: Opener) -> None:
    key = new_account(stack, "settings-phone-e2e", "billing@example.com")
    view = dashboard(locale="es-ES", width=375, height=812, zone="Europe/Madrid")
    view.sign_in(key)
    page = view.page
    # By keyboard from the nav link to the form, then field by field in the form's order.
    page.get_by_role("link", name="Ajustes").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#settings-title")).to_be_focused()
    expect(page.locator("#settings-title")).to_have_text("Ajustes")
    expect(page.locator("#settings-form")).to_be_visible()
    order = []
    for _ in SETTING_IDS:
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"no visible focus on {order[-1]}"
    assert order == SETTING_IDS
    # Every control has its label, and nothing is wider than the screen.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#settings-form input, #settings-form select')]
            .filter((i) => !i.labels.length || !i.labels[0].textContent.trim()).map((i) => i.id)"""
    )
    assert unlabelled == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for row in page.locator("#settings-form .setting").all():
        box = row.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 375
    view.screenshot("dashboard-settings-375.png")

    # Shift+Tab back to the name, type, Enter saves.
    for _ in SETTING_IDS[1:]:
        page.keyboard.press("Shift+Tab")
    expect(page.locator("#setting-name")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Teclado S.L.")
    page.keyboard.press("Enter")
    expect(page.locator("#settings-status")).to_have_text("Ajustes guardados.")
    assert call(stack, "GET", "/account", key=key)["name"] == "Teclado S.L."
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # And back to the invoices from the nav.
    page.get_by_role("link", name="Facturas").click()
    expect(page.locator("#list-title")).to_be_focused()
    expect(page.locator("#settings")).to_be_hidden()


def test_mark_paid_then_the_paid_filter_and_a_refused_void(
    stack: LocalStack, dashboard: Opener
) -> None:
    key = new_account(stack, "paid-e2e", "billing@example.com")
    first = call(stack, "POST", "/invoices", invoice_body("PAY-1", "pay1@customer.example"), key)
    second = call(stack, "POST", "/invoices", invoice_body("PAY-2", "pay2@customer.example"), key)
    view = dashboard()
    view.expected.append(REFUSED_LOAD)
    view.sign_in(key)
    page = view.page
    expect(page.locator("#rows tr.row")).to_have_count(2)
    expect(page.locator("#rows .badge-payment")).to_have_count(0)  # no badge while unpaid
    view.row("PAY-1").click()
    expect(page.locator("#detail-title")).to_have_text("PAY-1")
    page.get_by_role("button", name="Mark as paid").click()
    expect(page.locator("#pay-reference")).to_be_focused()
    page.keyboard.type("TR-2026-77")
    expect(page.locator("#pay-amount")).to_have_attribute("placeholder", "25.00")
    page.get_by_role("button", name="Confirm: mark as paid").click()
    expect(page.locator('#detail [data-field="payment-result"]')).to_have_text("Marked as paid.")
    expect(page.locator("#detail .detail-status [data-payment]")).to_have_text("Paid")
    assert view.detail_field("paid-reference") == "TR-2026-77"
    assert view.detail_field("paid-amount") == "$25.00"
    paid = call(stack, "GET", f"/invoices/{first['id']}", key=key)
    assert paid["payment_status"] == "paid"
    assert paid["payment"]["amount"] == "25.00"
    assert paid["payment"]["reference"] == "TR-2026-77"
    assert view.detail_field("paid-at").startswith(ny_time(paid["payment"]["paid_at"]))
    expect(page.get_by_role("button", name="Mark as paid")).to_have_count(0)
    expect(view.row("PAY-1").locator('[data-payment="paid"]')).to_have_text("Paid")
    expect(view.row("PAY-2").locator(".badge-payment")).to_have_count(0)

    # "Paid" asks the API for paid invoices only.
    view.chip("Paid")
    expect(page.locator("#rows tr.row")).to_have_count(1)
    assert view.numbers() == ["PAY-1"]
    assert any("payment_status=paid" in url for url in view.requested)
    view.chip("All")
    expect(page.locator("#rows tr.row")).to_have_count(2)

    # Voiding, confirmed while someone else marks it paid: the API's 409 is shown, and
    # the detail then shows the invoice as it is.
    view.row("PAY-2").click()
    expect(page.locator("#detail-title")).to_have_text("PAY-2")
    page.get_by_role("button", name="Void", exact=True).click()
    page.fill("#void-reason", "Sent twice")
    call(stack, "POST", f"/invoices/{second['id']}/paid", {}, key)
    with page.expect_response(lambda r: r.url.endswith("/void")) as answer:
        page.get_by_role("button", name="Confirm: void").click()
    assert answer.value.status == 409
    result = page.locator('#detail [data-field="payment-result"]')
    expect(result).to_have_text("Not voided: A paid invoice cannot be voided.")
    expect(result).to_have_attribute("role", "alert")
    expect(page.locator("#detail .detail-status [data-payment]")).to_have_text("Paid")
    expect(view.row("PAY-2").locator('[data-payment="paid"]')).to_be_visible()
    assert call(stack, "GET", f"/invoices/{second['id']}", key=key)["payment_status"] == "paid"
    view.screenshot("dashboard-paid.png")

    # In Spanish.
    page.get_by_label("Language").select_option("es")
    expect(page.locator("#detail .detail-status [data-payment]")).to_have_text("Pagada")
    expect(page.get_by_role("button", name="Pagadas")).to_be_visible()


def test_void_badge_in_spanish(stack: LocalStack, dashboard: Opener) -> None:
    key = new_account(stack, "void-e2e", "billing@example.com")
    call(stack, "POST", "/invoices", invoice_body("VOID-1", "void1@customer.example"), key)
    view = dashboard(locale="es-ES")
    view.sign_in(key)
    page = view.page
    view.row("VOID-1").click()
    page.get_by_role("button", name="Anular", exact=True).click()
    page.fill("#void-reason", "Duplicada")
    page.keyboard.press("Enter")
    expect(page.locator('#detail [data-field="payment-result"]')).to_have_text("Anulada.")
    expect(page.locator("#detail .detail-status [data-payment]")).to_have_text("Anulada")
    expect(view.row("VOID-1").locator('[data-payment="void"]')).to_have_text("Anulada")
    assert view.detail_field("void-reason") == "Duplicada"
    # A void invoice is neither paid nor sent to anyone new.
    expect(page.get_by_role("button", name="Marcar como pagada")).to_have_count(0)
    expect(page.locator("#detail .add-recipient")).to_have_count(0)


def test_server_search_finds_invoices_not_loaded(stack: LocalStack, dashboard: Opener) -> None:
    key = new_account(stack, "search-e2e", "billing@example.com")
    numbers = [f"SRCH-{n:03d}" for n in range(27)]
    for number in numbers:
        call(stack, "POST", "/invoices", invoice_body(number, "search@customer.example"), key)

    # Once every delivery is in, nothing moves in the list while it is paged (an invoice
    # moving between index partitions mid-read can be left for the next refresh, and
    # "the first page holds 25 of 27" would not hold on a loaded machine).
    def delivered() -> bool | None:
        listed = call(stack, "GET", "/invoices?status=delivered&limit=100", key=key)["items"]
        return True if len(listed) == len(numbers) else None

    eventually(delivered, timeout=30)
    view = dashboard()
    view.sign_in(key)
    page = view.page
    expect(page.locator("#rows tr.row")).to_have_count(25)
    missing = sorted(set(numbers) - set(view.numbers()))
    assert len(missing) == 2  # not loaded: older than the first page
    searches = len([u for u in view.requested if "number_prefix=" in u])
    search = page.get_by_label("Search by invoice number")
    search.press_sequentially(missing[0].lower(), delay=30)  # typed, not pasted
    expect(page.locator("#rows tr.row")).to_have_count(1)
    assert view.numbers() == [missing[0]]
    expect(page.locator("#count")).to_have_text(
        f"1 invoice whose number starts with “{missing[0].lower()}”"
    )
    expect(page.locator("#load-more")).to_be_hidden()
    asked = [u for u in view.requested if "number_prefix=" in u][searches:]
    # Debounced: far fewer requests than the 8 keys typed, the last for the whole number.
    assert 1 <= len(asked) <= 2, asked
    assert parse_qs(urlsplit(asked[-1]).query)["number_prefix"] == [missing[0].lower()]
    # The detail opens from a found row.
    view.row(missing[0]).click()
    expect(page.locator("#detail-title")).to_have_text(missing[0])
    page.get_by_role("button", name="Close details").click()

    search.fill("SRCH-00")
    expect(page.locator("#rows tr.row")).to_have_count(10)
    assert view.numbers() == numbers[:10]  # in number order, as the API answers
    search.fill("NOPE")
    expect(page.locator("#empty")).to_have_text("No invoice number starts with “NOPE”.")
    expect(page.locator("#rows tr.row")).to_have_count(0)
    search.fill("")
    expect(page.locator("#rows tr.row")).to_have_count(25)
    expect(page.locator("#load-more")).to_be_visible()


def test_add_a_recipient(stack: LocalStack, dashboard: Opener) -> None:
    key = new_account(stack, "recipients-e2e", "billing@example.com")
    created = call(stack, "POST", "/invoices", invoice_body("ADD-1", "first@customer.example"), key)
    view = dashboard()
    view.expected.append(REFUSED_LOAD)
    view.sign_in(key)
    page = view.page
    view.row("ADD-1").click()
    expect(page.locator("#detail table.recipients tbody tr")).to_have_count(1)
    page.get_by_label("Email address").fill("accounts@customer.example")
    page.get_by_label("Name", exact=True).fill("Accounts Payable")
    page.get_by_role("button", name="Add and send").click()
    result = page.locator('#detail [data-field="add-result"]')
    expect(result).to_have_text("Queued for accounts@customer.example: it goes out in a moment.")
    added = page.locator('#detail [data-field="added"] li')
    expect(added).to_have_count(1)
    # The API answers once the send is queued; the detail's refresh shows it go out.
    expect(added.locator(".badge")).to_have_text(re.compile("^(Queued|Sent|Delivered)$"))
    expect(page.locator("#detail table.recipients tbody tr")).to_have_count(2)
    new_row = page.locator(
        "#detail table.recipients tbody tr", has_text="accounts@customer.example"
    )
    expect(new_row.locator(".name")).to_have_text("Accounts Payable")
    expect(new_row.locator(".badge")).to_have_text(
        re.compile("^(Sent|Delivered)$"), timeout=UPDATE_WITHIN_MS
    )
    detail = call(stack, "GET", f"/invoices/{created['id']}", key=key)
    assert [r["email"] for r in detail["recipients"]] == [
        "first@customer.example",
        "accounts@customer.example",
    ]
    expect(page.get_by_label("Email address")).to_have_value("")  # ready for another

    # The same address again is the API's 409; a bad one is its field error.
    page.get_by_label("Email address").fill("accounts@customer.example")
    page.get_by_role("button", name="Add and send").click()
    expect(result).to_have_text("Not added: That address already receives this invoice.")
    page.get_by_label("Email address").fill("not-an-address")
    page.keyboard.press("Enter")
    expect(page.locator("#add-email-error")).not_to_be_empty()
    expect(page.locator("#add-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#add-email")).to_be_focused()
    expect(result).to_have_text("Not added: check the fields marked below.")
    assert len(call(stack, "GET", f"/invoices/{created['id']}", key=key)["recipients"]) == 2
