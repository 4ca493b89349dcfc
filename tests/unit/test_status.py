"""Status rules (chalicelib/core/status.py): precedence, idempotency, order-independence,
open merging, verdicts of fetches (person and machine opens, ``viewed``) and timeline
archiving. Pure: no I/O."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core.classification import (
    BURST_WINDOW,
    PERSON_VERDICTS,
    SCANNER_NETWORK_WINDOW,
    TOO_FAST_AFTER_DELIVERY,
    TOO_FAST_LINK_AFTER_DELIVERY,
    VERDICTS,
)
from chalicelib.core.model import (
    FETCH_TYPES,
    PROBLEM_STATUSES,
    STATUSES,
    EventType,
    Invoice,
    Recipient,
    RecipientStatus,
    TimelineEvent,
    iso,
    parse_iso,
)
from chalicelib.core.privacy import MAX_USER_AGENT
from chalicelib.core.status import (
    INLINE_EVENT_LIMIT,
    OPEN_MERGE_WINDOW,
    PROGRESS_PRECEDENCE,
    RECIPIENT_PRECEDENCE,
    Fact,
    apply_fact,
    counted_opens,
    has_seen,
    invoice_status,
    pair_opens,
    recipient_status,
    refresh,
    split_for_archive,
)
from chalicelib.ids import TrackingTarget
from chalicelib.tracking.ses_events import parse_notification
from tests.fakes import pixel_open

pytestmark = pytest.mark.disable_socket

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
CREATED = iso(T0 - timedelta(minutes=5))
# Real user agents: rows of tests/fixtures/user-agents.tsv (checked below).
UA_IPHONE = (  # iOS Mail (WKWebView)
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
UA_OUTLOOK = (
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), "
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
)
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36"
)
UA_GMAIL = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
UA_MPP = "Mozilla/5.0"  # Apple Mail Privacy Protection's prefetch
UA_BARRACUDA = "Barracuda Sentinel (EE)"
MICROSOFT_NETWORK = "40.94.89.0/24"  # Safe Links detonations, gophish/gophish#2646
# A person reads their mail well after it arrived: opens in the tests that mean "a
# person opened" come this long after a delivery reported at PERSON_LATER before t=0.
PERSON_LATER = 2 * 3600


def at(seconds: float) -> str:
    return iso(T0 + timedelta(seconds=seconds))


def make_invoice(recipients: int = 1) -> Invoice:
    invoice = Invoice(
        id="inv_" + "a" * 26,
        account_id="acme",
        number="INV-1",
        customer_name="Globex",
        currency="EUR",
        total="100.00",
        due_date="2026-04-01",
        created_at=CREATED,
        last_activity_at=CREATED,
        recipients=[
            Recipient(id=f"rcp_{i}", email=f"person{i}@example.com") for i in range(recipients)
        ],
    )
    refresh(invoice)
    return invoice


def fact(
    type_: EventType,
    seconds: float,
    recipient: str = "rcp_0",
    *,
    key: str | None = None,
    source: str = "ses",
    **details: Any,
) -> Fact:
    return Fact(
        key=key or f"{source}-{type_}-{recipient}-{seconds}",
        type=type_,
        at=at(seconds),
        recipient_id=recipient,
        source=source,
        details=details,
    )


def open_fact(
    source: str, seconds: float, ua: str | None, key: str, recipient: str = "rcp_0"
) -> Fact:
    return fact("open", seconds, recipient, key=key, source=source, user_agent=ua)


def delivered_earlier(recipient: str = "rcp_0") -> Fact:
    """The delivery, two hours before the opens at t=0 and after."""
    return fact("delivery", -PERSON_LATER, recipient, smtp_response="250 ok")


def applied(facts: list[Fact], recipients: int = 1) -> Invoice:
    invoice = make_invoice(recipients)
    for item in facts:
        apply_fact(invoice, item)
    return invoice


def verdicts(invoice: Invoice) -> dict[str, str]:
    return {e.key: e.details["verdict"] for e in invoice.events if e.type in FETCH_TYPES}


def snapshot(invoice: Invoice) -> dict[str, Any]:
    """Everything the status rules promise is order-independent."""
    fields = (
        "status",
        "message_id",
        "sent_at",
        "delivered_at",
        "first_opened_at",
        "last_opened_at",
        "open_count",
        "machine_open_count",
        "viewed_at",
        "click_count",
        "bounced_at",
        "bounce",
        "complained_at",
        "complaint",
        "rejected_at",
        "reject_reason",
        "delayed_at",
    )
    return {
        "status": invoice.status,
        "last_activity_at": invoice.last_activity_at,
        "event_keys": sorted(e.key for e in invoice.events),
        "open_count": invoice.open_count,
        "first_opened_at": invoice.first_opened_at,
        "last_opened_at": invoice.last_opened_at,
        "delivered_at": invoice.delivered_at,
        "machine_open_count": invoice.machine_open_count,
        "viewed_at": invoice.viewed_at,
        "recipients": [{f: getattr(r, f) for f in fields} for r in invoice.recipients],
        "verdicts": {
            e.key: (e.details["verdict"], e.details["confidence"], e.details["reasons"])
            for e in invoice.events
            if e.type in FETCH_TYPES
        },
    }


def full_snapshot(invoice: Invoice) -> dict[str, Any]:
    """``snapshot`` and the fields it leaves out until their bugs are fixed."""
    return {
        **snapshot(invoice),
        "first_machine_open_at": [r.first_machine_open_at for r in invoice.recipients],
    }


# -- recipient_status ------------------------------------------------------------------

# The recipient fact that makes each status true.
STATUS_FACT: dict[RecipientStatus, str | None] = {
    "complained": "complained_at",
    "bounced": "bounced_at",
    "rejected": "rejected_at",
    "viewed": "viewed_at",
    "opened": "first_opened_at",
    "delivered": "delivered_at",
    "sent": "sent_at",
    "failed": "failed_at",
    "pending": None,
}


def recipient_with(*statuses: RecipientStatus) -> Recipient:
    recipient = Recipient(id="rcp_x", email="x@example.com")
    for status in statuses:
        attribute = STATUS_FACT[status]
        if attribute is not None:
            setattr(recipient, attribute, at(0))
    return recipient


def test_precedence_lists_every_status_once() -> None:
    assert sorted(RECIPIENT_PRECEDENCE) == sorted(STATUS_FACT) == sorted(STATUSES)
    assert RECIPIENT_PRECEDENCE == (
        "complained",
        "bounced",
        "rejected",
        "viewed",
        "opened",
        "delivered",
        "sent",
        "failed",
        "pending",
    )


def test_progress_precedence_is_the_recipient_order_without_problems() -> None:
    assert PROGRESS_PRECEDENCE == ("viewed", "opened", "delivered", "sent", "pending")
    assert (
        tuple(s for s in RECIPIENT_PRECEDENCE if s not in PROBLEM_STATUSES) == PROGRESS_PRECEDENCE
    )


def test_recipient_without_facts_is_pending() -> None:
    assert recipient_status(Recipient(id="rcp_x", email="x@example.com")) == "pending"


@pytest.mark.parametrize("status", list(STATUS_FACT))
def test_each_fact_alone_gives_its_status(status: RecipientStatus) -> None:
    assert recipient_status(recipient_with(status)) == status


@pytest.mark.parametrize(
    ("higher", "lower"), list(itertools.combinations(RECIPIENT_PRECEDENCE[:-1], 2))
)
def test_higher_status_wins_over_every_lower_one(
    higher: RecipientStatus, lower: RecipientStatus
) -> None:
    assert recipient_status(recipient_with(lower, higher)) == higher
    assert recipient_status(recipient_with(higher, lower)) == higher


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (["sent", "delivered", "opened", "bounced"], "bounced"),  # problem beats progress
        (["sent", "delivered", "complained"], "complained"),
        (["sent", "rejected"], "rejected"),
        (["failed", "sent"], "sent"),  # a retry that went out is no longer a failure
        (["opened"], "opened"),  # an open before its delivery was reported
        (["sent", "delivered", "opened", "bounced", "complained", "rejected"], "complained"),
        (["sent", "delivered", "opened", "viewed"], "viewed"),
        (["viewed"], "viewed"),  # the hosted invoice seen, the pixel blocked
        (["sent", "delivered", "viewed", "bounced"], "bounced"),
        (["viewed", "rejected"], "rejected"),
    ],
)
def test_recipient_status_examples(facts: list[RecipientStatus], expected: str) -> None:
    assert recipient_status(recipient_with(*facts)) == expected


# -- invoice_status --------------------------------------------------------------------


def recipients_in(*statuses: RecipientStatus) -> list[Recipient]:
    return [
        Recipient(id=f"rcp_{i}", email=f"p{i}@example.com", status=s)
        for i, s in enumerate(statuses)
    ]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["bounced", "failed"], "bounced"),
        (["failed", "bounced"], "bounced"),
        (["rejected", "bounced"], "bounced"),
        (["complained", "bounced", "rejected", "failed"], "complained"),
        (["rejected", "failed"], "rejected"),
        (["failed", "failed"], "failed"),
        (["bounced"], "bounced"),
    ],
)
def test_all_recipients_with_problems_give_the_most_severe_problem(
    statuses: list[RecipientStatus], expected: str
) -> None:
    assert set(statuses) <= PROBLEM_STATUSES
    assert invoice_status(recipients_in(*statuses)) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["bounced", "delivered"], "delivered"),
        (["complained", "opened"], "opened"),
        (["opened", "sent", "failed"], "opened"),
        (["viewed", "opened", "delivered"], "viewed"),
        (["bounced", "viewed"], "viewed"),
        (["opened", "viewed", "complained", "failed"], "viewed"),
        (["sent", "viewed", "pending"], "viewed"),
        (["delivered", "sent"], "delivered"),
        (["sent", "failed"], "sent"),
        (["pending", "bounced"], "pending"),
        (["sent", "pending"], "sent"),
        (["pending", "pending"], "pending"),
        (["rejected", "complained", "sent"], "sent"),
    ],
)
def test_mixed_recipients_give_the_furthest_progress(
    statuses: list[RecipientStatus], expected: str
) -> None:
    assert invoice_status(recipients_in(*statuses)) == expected
    assert invoice_status(recipients_in(*reversed(statuses))) == expected


# -- apply_fact ------------------------------------------------------------------------


def test_apply_fact_records_the_event_and_refreshes_statuses() -> None:
    invoice = make_invoice(2)
    assert [r.status for r in invoice.recipients] == ["pending", "pending"]
    assert apply_fact(invoice, fact("delivery", 5, "rcp_1", smtp_response="250 ok"))
    assert invoice.recipients[1].status == "delivered"
    assert invoice.recipients[1].delivered_at == at(5)
    assert invoice.recipients[0].status == "pending"
    assert invoice.status == "delivered"
    assert invoice.last_activity_at == at(5)
    [event] = [e for e in invoice.events if e.type == "delivery"]
    assert (event.recipient_id, event.source, event.details) == (
        "rcp_1",
        "ses",
        {"smtp_response": "250 ok"},
    )


@pytest.mark.parametrize(
    "item",
    [
        fact("sent", 1, source="api", message_id="m-1"),
        fact("delivery", 2),
        fact("bounce", 3, type="Permanent", subtype="General", diagnostic="550"),
        fact("complaint", 4, feedback_type="abuse"),
        fact("reject", 5, reason="Bad content"),
        fact("delivery_delay", 6, delay_type="MailboxFull"),
        fact("click", 7, link="https://example.com"),
        fact("send_failed", 8, source="api", reason="MessageRejected"),
        open_fact("pixel", 9, UA_IPHONE, "px-1"),
        open_fact("ses", 9, UA_IPHONE, "ses-open-1"),
    ],
    ids=lambda f: f.key,
)
def test_same_key_twice_is_refused_and_changes_nothing(item: Fact) -> None:
    invoice = make_invoice()
    assert apply_fact(invoice, item) is True
    before = copy.deepcopy(invoice)
    assert apply_fact(invoice, item) is False
    # The same key with different content is still the same fact.
    assert apply_fact(invoice, Fact(item.key, "bounce", at(99), "rcp_0", "ses", {})) is False
    assert invoice == before


def test_fact_for_an_unknown_recipient_is_refused() -> None:
    invoice = make_invoice()
    before = copy.deepcopy(invoice)
    assert apply_fact(invoice, fact("delivery", 1, "rcp_nobody")) is False
    assert invoice == before


def test_bounce_after_delivery_keeps_delivered_at() -> None:
    invoice = applied(
        [fact("sent", 0, source="api"), fact("delivery", 10), fact("bounce", 20, type="Permanent")]
    )
    recipient = invoice.recipients[0]
    assert recipient.status == "bounced"
    assert recipient.delivered_at == at(10)
    assert recipient.bounced_at == at(20)
    assert invoice.delivered_at == at(10)
    assert invoice.status == "bounced"


def test_open_reported_before_its_delivery_still_leaves_the_recipient_opened() -> None:
    invoice = applied([open_fact("pixel", 0, UA_IPHONE, "px-1"), delivered_earlier()])
    recipient = invoice.recipients[0]
    assert recipient.status == "opened"
    assert recipient.delivered_at == at(-PERSON_LATER)
    assert recipient.first_opened_at == at(0)
    assert invoice.status == "opened"
    assert verdicts(invoice) == {"px-1": "human"}


def test_a_late_delivery_report_rejudges_an_instant_open() -> None:
    """An open one second after delivery is a gateway's, however the reports arrive."""
    instant = open_fact("pixel", 1, UA_CHROME, "px-1")
    invoice = applied([instant])
    assert verdicts(invoice) == {"px-1": "human"}  # nothing says it was instant yet
    assert invoice.recipients[0].open_count == 1
    apply_fact(invoice, fact("delivery", 0))
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"px-1": "scanner"}
    [event] = [e for e in invoice.events if e.type == "open"]
    assert event.details["reasons"][0] == "timing:too-fast"
    assert (recipient.open_count, recipient.machine_open_count) == (0, 1)
    assert (recipient.first_opened_at, recipient.last_opened_at) == (None, None)
    assert recipient.first_machine_open_at == at(1)
    assert (recipient.status, invoice.status) == ("delivered", "delivered")
    assert snapshot(invoice) == snapshot(applied([fact("delivery", 0), instant]))


def test_earliest_bounce_details_win_whatever_the_order() -> None:
    first = fact("bounce", 10, type="Transient", subtype="MailboxFull", diagnostic="452")
    second = fact("bounce", 20, type="Permanent", subtype="General", diagnostic="550")
    for order in ([first, second], [second, first]):
        recipient = applied(order).recipients[0]
        assert recipient.bounced_at == at(10)
        assert recipient.bounce == {
            "type": "Transient",
            "subtype": "MailboxFull",
            "diagnostic": "452",
        }


def test_sent_keeps_the_first_message_id() -> None:
    recipient = applied(
        [fact("sent", 1, source="api", message_id="m-api"), fact("send", 0, message_id="m-api")]
    ).recipients[0]
    assert recipient.message_id == "m-api"
    assert recipient.sent_at == at(0)


# -- open merging ------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0, 30, 60])
@pytest.mark.parametrize("pixel_first", [True, False])
def test_pixel_and_ses_open_same_agent_within_window_count_once(
    gap: int, pixel_first: bool
) -> None:
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 100 + gap, UA_IPHONE, "ses-1")
    invoice = applied([delivered_earlier(), *([pixel, ses] if pixel_first else [ses, pixel])])
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"px-1": "human", "ses-1": "human"}
    assert (recipient.open_count, recipient.machine_open_count) == (1, 0)
    assert len([e for e in invoice.events if e.type == "open"]) == 2  # both on the timeline
    counted = counted_opens(invoice.events)
    assert [e.key for e in counted] == ["px-1"]  # the pixel open counts, SES's repeats it
    assert pair_opens(invoice.events) == {"px-1": None, "ses-1": "px-1"}


@pytest.mark.parametrize("pixel_first", [True, False])
def test_pixel_and_ses_open_with_different_agents_count_twice(pixel_first: bool) -> None:
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 110, UA_GMAIL, "ses-1")
    invoice = applied([delivered_earlier(), *([pixel, ses] if pixel_first else [ses, pixel])])
    assert verdicts(invoice) == {"px-1": "human", "ses-1": "proxy"}
    recipient = invoice.recipients[0]
    assert recipient.open_count == 2
    assert (recipient.first_opened_at, recipient.last_opened_at) == (at(100), at(110))


@pytest.mark.parametrize("gap", [60.001, 61, 3600])
@pytest.mark.parametrize("pixel_first", [True, False])
def test_pixel_and_ses_open_more_than_a_minute_apart_count_twice(
    gap: float, pixel_first: bool
) -> None:
    assert timedelta(seconds=gap) > OPEN_MERGE_WINDOW
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 100 + gap, UA_IPHONE, "ses-1")
    invoice = applied([delivered_earlier(), *([pixel, ses] if pixel_first else [ses, pixel])])
    assert set(verdicts(invoice).values()) == {"human"}
    assert invoice.recipients[0].open_count == 2


@pytest.mark.parametrize("pixel_first", [True, False])
def test_a_machine_open_reported_twice_counts_once_as_a_machine(pixel_first: bool) -> None:
    """Apple's relay fetches our pixel and SES's at once: one prefetch, not a person."""
    pixel = open_fact("pixel", 1, UA_MPP, "px-1")
    ses = open_fact("ses", 13, UA_MPP, "ses-1")
    invoice = applied([fact("delivery", 0), *([pixel, ses] if pixel_first else [ses, pixel])])
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"px-1": "privacy_prefetch", "ses-1": "privacy_prefetch"}
    assert (recipient.open_count, recipient.machine_open_count) == (0, 1)
    assert recipient.first_machine_open_at == at(1)
    assert recipient.status == "delivered"


def test_two_pixel_opens_never_merge() -> None:
    invoice = applied(
        [
            delivered_earlier(),
            open_fact("pixel", 1, UA_IPHONE, "px-1"),
            open_fact("pixel", 2, UA_IPHONE, "px-2"),
        ]
    )
    assert verdicts(invoice) == {"px-1": "human", "px-2": "human"}
    assert invoice.recipients[0].open_count == 2


def test_open_of_another_recipient_never_merges() -> None:
    invoice = applied(
        [
            delivered_earlier("rcp_0"),
            delivered_earlier("rcp_1"),
            open_fact("pixel", 1, UA_IPHONE, "px-1", "rcp_0"),
            open_fact("ses", 2, UA_IPHONE, "ses-1", "rcp_1"),
        ],
        recipients=2,
    )
    assert verdicts(invoice) == {"px-1": "human", "ses-1": "human"}
    assert [r.open_count for r in invoice.recipients] == [1, 1]


def test_one_ses_open_absorbs_only_one_pixel_open() -> None:
    invoice = applied(
        [
            delivered_earlier(),
            open_fact("pixel", 0, UA_IPHONE, "px-1"),
            open_fact("pixel", 20, UA_IPHONE, "px-2"),
            open_fact("ses", 30, UA_IPHONE, "ses-1"),
        ]
    )
    assert set(verdicts(invoice).values()) == {"human"}
    assert pair_opens(invoice.events) == {"px-1": None, "px-2": None, "ses-1": "px-1"}
    assert invoice.recipients[0].open_count == 2


def test_merged_open_times_do_not_depend_on_arrival_order() -> None:
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 130, UA_IPHONE, "ses-1")
    pixel_first = applied([delivered_earlier(), pixel, ses]).recipients[0]
    ses_first = applied([ses, delivered_earlier(), pixel]).recipients[0]
    assert pixel_first.open_count == ses_first.open_count == 1
    assert pixel_first.first_opened_at == ses_first.first_opened_at
    assert pixel_first.last_opened_at == ses_first.last_opened_at


def test_open_count_of_a_chain_does_not_depend_on_arrival_order() -> None:
    p1 = open_fact("pixel", 0, UA_IPHONE, "px-1")
    s1 = open_fact("ses", 50, UA_IPHONE, "ses-1")
    p2 = open_fact("pixel", 100, UA_IPHONE, "px-2")
    s2 = open_fact("ses", 150, UA_IPHONE, "ses-2")
    in_time_order = applied([delivered_earlier(), p1, s1, p2, s2]).recipients[0]
    shuffled = applied([s1, p2, delivered_earlier(), p1, s2]).recipients[0]
    assert in_time_order.open_count == 2
    assert shuffled.open_count == in_time_order.open_count
    assert shuffled.last_opened_at == in_time_order.last_opened_at


def _ses_open_fact(user_agent: str, seconds: float) -> Fact:
    message = {
        "eventType": "Open",
        "mail": {
            "timestamp": at(0),
            "messageId": "0100-long-ua-000000",
            "destination": ["person0@example.com"],
        },
        "open": {"timestamp": at(seconds), "userAgent": user_agent, "ipAddress": "198.51.100.7"},
    }
    [event] = parse_notification(json.dumps(message)).events
    return Fact(event.key, event.type, event.at, "rcp_0", "ses", event.details)


def test_pixel_and_ses_open_built_by_the_parsers_merge() -> None:
    target = TrackingTarget("inv_" + "a" * 26, "rcp_0")
    pixel = pixel_open(
        target, T0 + timedelta(seconds=10), UA_IPHONE, "198.51.100.7", "GET", "req-1"
    )
    invoice = applied([delivered_earlier(), pixel, _ses_open_fact(UA_IPHONE, 12)])
    assert invoice.recipients[0].open_count == 1
    assert set(verdicts(invoice).values()) == {"human"}


def test_same_open_with_a_long_user_agent_counts_once() -> None:
    long_ua = UA_IPHONE + " FBAN/FBIOS;" + "x" * MAX_USER_AGENT
    target = TrackingTarget("inv_" + "a" * 26, "rcp_0")
    pixel = pixel_open(target, T0 + timedelta(seconds=10), long_ua, "198.51.100.7", "GET", "req-1")
    invoice = applied([delivered_earlier(), pixel, _ses_open_fact(long_ua, 12)])
    assert invoice.recipients[0].open_count == 1
    assert set(verdicts(invoice).values()) == {"human"}


# -- order-independence (hypothesis) ----------------------------------------------------

NON_OPEN_TYPES: tuple[EventType, ...] = (
    "send",
    "delivery",
    "bounce",
    "complaint",
    "delivery_delay",
    "reject",
)
RARE_TYPES = frozenset({"bounce", "complaint", "reject"})
# People, a webmail proxy, Apple's prefetch, no user agent; a browser user agent is a
# person or, from Microsoft's network or in a sweep, a gateway.
USER_AGENTS = (UA_IPHONE, UA_GMAIL, UA_MPP, UA_CHROME, None)
NETWORKS = (None, None, "203.0.113.0/24", MICROSOFT_NETWORK)
# Opens are the most common fetch. "viewed" only in the full variant (see its xfail).
FETCHES: tuple[EventType, ...] = ("open", "open", "open", "click", "view")
FETCHES_WITH_VIEWED: tuple[EventType, ...] = (*FETCHES, "viewed")
FETCH_SOURCE = {"click": "ses", "view": "pixel", "viewed": "pixel"}


@dataclass(frozen=True)
class Scenario:
    recipients: int
    facts: list[Fact]


def _details(kind: str, recipient: str) -> dict[str, Any]:
    return {
        "send": {"message_id": f"msg-{recipient}"},
        "delivery": {"smtp_response": "250 ok"},
        "bounce": {"type": "Permanent", "subtype": "General", "diagnostic": "550 5.1.1"},
        "complaint": {"feedback_type": "abuse"},
        "delivery_delay": {"delay_type": "MailboxFull"},
        "reject": {"reason": "Bad content"},
    }[kind]


@st.composite
def scenarios(
    draw: st.DrawFn,
    open_seconds: st.SearchStrategy[float],
    fetch_types: tuple[EventType, ...] = FETCHES,
) -> Scenario:
    count = draw(st.integers(1, 3))
    facts: list[Fact] = []
    for index in range(count):
        recipient = f"rcp_{index}"
        for kind in NON_OPEN_TYPES:
            # Problems are rarer, so that progress statuses are common too.
            if draw(st.integers(0, 3 if kind in RARE_TYPES else 1)) == 0:
                # Deliveries land just before a fetch slot at times, so that some
                # fetches are too fast to be a person's.
                seconds = draw(
                    st.integers(0, 7200)
                    if kind != "delivery"
                    else st.one_of(
                        st.integers(0, 7200), st.integers(0, 8).map(lambda s: s * 61 - 1)
                    )
                )
                key = f"{kind}-{recipient}"
                details = _details(kind, recipient)
                facts.append(Fact(key, kind, at(seconds), recipient, "ses", details))
        fetches = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(fetch_types),
                    st.sampled_from(("pixel", "ses")),
                    st.sampled_from(USER_AGENTS),
                    st.sampled_from(NETWORKS),
                    open_seconds,
                ),
                max_size=5,
            )
        )
        for number, (type_, source, ua, network, when) in enumerate(fetches):
            facts.append(
                fact(
                    type_,
                    when,
                    recipient,
                    key=f"{type_}-{recipient}-{number}",
                    source=source if type_ == "open" else FETCH_SOURCE[type_],
                    user_agent=ua,
                    ip=network,
                )
            )
    return Scenario(count, facts)


# Fetches on a grid 61 s apart: a pixel and an SES open merge only when they are reported
# at the same instant. ANY_OPENS below also covers merges at different instants.
GRID_OPENS = st.integers(0, 8).map(lambda slot: slot * 61.0)
ANY_OPENS = st.integers(0, 600).map(float)


def _arrivals(facts: list[Fact], seed: int) -> list[Fact]:
    """A shuffled arrival order with every fact delivered once and some up to 3 times."""
    rng = random.Random(seed)
    arrivals = [f for f in facts for _ in range(rng.choice((1, 1, 2, 3)))]
    rng.shuffle(arrivals)
    return arrivals


def _assert_order_independent(
    scenario: Scenario, seed: int, view: Callable[[Invoice], dict[str, Any]] = snapshot
) -> None:
    expected = view(applied(scenario.facts, scenario.recipients))
    for order in (list(reversed(scenario.facts)), _arrivals(scenario.facts, seed)):
        invoice = make_invoice(scenario.recipients)
        accepted = [apply_fact(invoice, item) for item in order]
        assert sum(accepted) == len(scenario.facts)  # each duplicate refused
        assert view(invoice) == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(GRID_OPENS), seed=st.integers(0, 2**32))
def test_any_arrival_order_and_duplication_gives_the_same_state(
    scenario: Scenario, seed: int
) -> None:
    _assert_order_independent(scenario, seed)


def _within(event: TimelineEvent, anchor: str | None, seconds: float) -> bool:
    return anchor is None or (parse_iso(event.at) - parse_iso(anchor)).total_seconds() <= seconds


def _assert_verdict_follows_the_rules(
    event: TimelineEvent, recipient: Recipient, fetches: list[TimelineEvent]
) -> None:
    """The documented rules, as far as the scenario's user agents go."""
    verdict, reasons = event.details["verdict"], event.details["reasons"]
    assert verdict in VERDICTS
    assert 0 < event.details["confidence"] <= 1
    assert reasons
    assert all(isinstance(r, str) for r in reasons)
    assert ("repeat-fetch" in reasons) != ("first-fetch" in reasons)
    ua = event.details["user_agent"]
    if ua is None:
        assert (verdict, reasons[0]) == ("unknown", "ua:missing")
    elif ua == UA_GMAIL:
        assert verdict == "proxy"
    elif ua == UA_MPP:
        assert verdict == "privacy_prefetch"
    else:
        assert verdict in ("human", "scanner")
        anchor = recipient.delivered_at or recipient.sent_at
        gateway = event.details["ip"] == MICROSOFT_NETWORK and _within(
            event, anchor, SCANNER_NETWORK_WINDOW.total_seconds()
        )
        alone = not any(
            other is not event and abs(parse_iso(other.at) - parse_iso(event.at)) <= BURST_WINDOW
            for other in fetches
        )
        limit = TOO_FAST_AFTER_DELIVERY if event.type == "open" else TOO_FAST_LINK_AFTER_DELIVERY
        too_fast = recipient.delivered_at is not None and _within(
            event, recipient.delivered_at, limit.total_seconds()
        )
        if gateway:
            assert (verdict, reasons[0]) == ("scanner", "net:microsoft")
        elif alone and not too_fast:
            assert verdict == "human", reasons
        if verdict == "scanner":
            assert (
                reasons[0] == "net:microsoft"
                or reasons[0].startswith("burst:")
                or (reasons[0] == "timing:too-fast" and too_fast)
            ), reasons


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios(GRID_OPENS))
def test_state_derives_from_facts(scenario: Scenario) -> None:
    """Statuses, verdicts and counts agree with the facts and the rules, whatever
    happened: opens count for a person only with a person's verdict."""
    invoice = applied(scenario.facts, scenario.recipients)
    pairs = pair_opens(invoice.events)
    for recipient in invoice.recipients:
        assert recipient.status == recipient_status(recipient)
        mine = [f for f in scenario.facts if f.recipient_id == recipient.id]
        delivered = [f.at for f in mine if f.type == "delivery"]
        assert recipient.delivered_at == (min(delivered) if delivered else None)
        events = [e for e in invoice.events if e.recipient_id == recipient.id]
        fetches = [e for e in events if e.type in FETCH_TYPES]
        for event in events:
            if event.type in FETCH_TYPES:
                _assert_verdict_follows_the_rules(event, recipient, fetches)
            else:
                assert "verdict" not in event.details
        counted = [e for e in fetches if e.type == "open" and pairs[e.key] is None]
        person = [e.at for e in counted if e.details["verdict"] in PERSON_VERDICTS]
        machine = [
            e.at
            for e in counted
            if e.details["verdict"] not in PERSON_VERDICTS and e.details["verdict"] != "sender"
        ]
        assert recipient.open_count == len(person)
        assert recipient.machine_open_count == len(machine)
        assert recipient.first_opened_at == (min(person) if person else None)
        assert recipient.last_opened_at == (max(person) if person else None)
        if recipient.status not in PROBLEM_STATUSES:
            assert (recipient.status == "opened") == bool(person)
        assert recipient.click_count == sum(
            1 for e in fetches if e.type == "click" and e.details["verdict"] in PERSON_VERDICTS
        )
        assert recipient.viewed_at is None  # no "viewed" facts in these scenarios
    assert invoice.status == invoice_status(invoice.recipients)
    assert invoice.open_count == sum(r.open_count for r in invoice.recipients)


@settings(max_examples=300, deadline=None, database=None)
@given(scenario=scenarios(ANY_OPENS), seed=st.integers(0, 2**32))
@example(
    scenario=Scenario(
        1, [open_fact("pixel", 100, UA_IPHONE, "px-1"), open_fact("ses", 130, UA_IPHONE, "ses-1")]
    ),
    seed=0,
)
@example(  # a gateway sweep, then the person: the verdicts decide the counts
    scenario=Scenario(
        1,
        [
            fact("delivery", 0),
            open_fact("pixel", 1, UA_CHROME, "px-gateway"),
            fact("click", 2, key="click-gateway", user_agent=UA_CHROME, ip=MICROSOFT_NETWORK),
            open_fact("pixel", 300, UA_IPHONE, "px-person"),
            open_fact("ses", 310, UA_IPHONE, "ses-person"),
        ],
    ),
    seed=1,
)
def test_any_arrival_order_gives_the_same_state_with_opens_at_any_time(
    scenario: Scenario, seed: int
) -> None:
    _assert_order_independent(scenario, seed)


# What an open that was a machine's and became a person's (or the reverse) leaves behind.
_STICKY_FIRST_MACHINE_OPEN = Scenario(
    1,
    [
        fact("delivery", 0),
        open_fact("pixel", 2, UA_CHROME, "px-a"),  # too fast for a person...
        open_fact("pixel", 1, UA_GMAIL, "px-g"),  # ...until a person's open precedes it
    ],
)
_STICKY_VIEWED = Scenario(
    1,
    [
        fact("viewed", 2, key="viewed-1", source="pixel", user_agent=UA_CHROME),
        fact("delivery", 0),  # makes the display above too fast for a person
    ],
)


@settings(max_examples=300, deadline=None, database=None)
@given(scenario=scenarios(GRID_OPENS, FETCHES_WITH_VIEWED), seed=st.integers(0, 2**32))
@example(scenario=_STICKY_FIRST_MACHINE_OPEN, seed=0)
@example(scenario=_STICKY_VIEWED, seed=0)
def test_the_full_state_including_viewed_is_order_independent(
    scenario: Scenario, seed: int
) -> None:
    """The promise of the tests above, with "viewed" facts and first_machine_open_at."""
    _assert_order_independent(scenario, seed, full_snapshot)


def test_first_machine_open_at_forgets_an_open_judged_a_person_after_all() -> None:
    invoice = applied(_STICKY_FIRST_MACHINE_OPEN.facts)
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"px-g": "proxy", "px-a": "human"}
    assert (recipient.open_count, recipient.machine_open_count) == (2, 0)
    assert recipient.first_machine_open_at is None


def test_viewed_at_forgets_a_display_judged_a_machines_after_all() -> None:
    invoice = applied(_STICKY_VIEWED.facts)
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"viewed-1": "scanner"}
    assert recipient.viewed_at is None
    assert recipient.status == "delivered"


# -- verdicts: who counts as having opened -------------------------------------------------


def _one_fetch(type_: EventType, seconds: float, **details: Any) -> Invoice:
    source = "pixel" if type_ != "click" else "ses"
    return applied(
        [
            fact("sent", -3, source="api"),
            fact("delivery", 0),
            fact(type_, seconds, key="f", source=source, **details),
        ]
    )


@pytest.mark.parametrize(
    ("seconds", "details", "verdict"),
    [
        (PERSON_LATER, {"user_agent": UA_OUTLOOK}, "human"),
        (PERSON_LATER, {"user_agent": UA_IPHONE, "ip": "203.0.113.0/24"}, "human"),
        (45, {"user_agent": UA_CHROME}, "human"),  # a person can be quick
        (720, {"user_agent": UA_GMAIL, "ip": "66.249.84.0/24"}, "proxy"),
        (1, {"user_agent": UA_MPP, "ip": "17.58.63.0/24"}, "privacy_prefetch"),
        (1, {"user_agent": UA_CHROME}, "scanner"),  # too fast
        (30, {"user_agent": UA_CHROME, "ip": MICROSOFT_NETWORK}, "scanner"),  # Defender
        (PERSON_LATER, {"user_agent": UA_BARRACUDA}, "scanner"),
        (PERSON_LATER, {"user_agent": UA_OUTLOOK, "method": "HEAD"}, "scanner"),
        (PERSON_LATER, {"user_agent": None}, "unknown"),
        (PERSON_LATER, {"user_agent": UA_OUTLOOK, "from_sender": True}, "sender"),
    ],
)
def test_only_a_persons_open_counts_as_opened(
    seconds: float, details: dict[str, Any], verdict: str
) -> None:
    invoice = _one_fetch("open", seconds, **details)
    recipient = invoice.recipients[0]
    [event] = [e for e in invoice.events if e.type == "open"]
    assert event.details["verdict"] == verdict
    assert isinstance(event.details["confidence"], float)
    assert event.details["reasons"][-1].startswith("after-delivery:") or event.details["reasons"][
        -1
    ].startswith("net:")
    if verdict in PERSON_VERDICTS:
        assert (recipient.open_count, recipient.machine_open_count) == (1, 0)
        assert recipient.first_opened_at == recipient.last_opened_at == at(seconds)
        assert recipient.first_machine_open_at is None
        assert (recipient.status, invoice.status) == ("opened", "opened")
    elif verdict == "sender":  # the account's own preview counts nowhere
        assert (recipient.open_count, recipient.machine_open_count) == (0, 0)
        assert recipient.first_machine_open_at is None
        assert (recipient.status, invoice.status) == ("delivered", "delivered")
    else:
        assert (recipient.open_count, recipient.machine_open_count) == (0, 1)
        assert (recipient.first_opened_at, recipient.last_opened_at) == (None, None)
        assert recipient.first_machine_open_at == at(seconds)
        assert (recipient.status, invoice.status) == ("delivered", "delivered")
    assert invoice.open_count == recipient.open_count


def test_verdicts_are_kept_on_fetches_only_and_follow_every_change() -> None:
    invoice = _one_fetch("open", PERSON_LATER, user_agent=UA_OUTLOOK)
    [event] = [e for e in invoice.events if e.type == "open"]
    assert event.details == {
        "user_agent": UA_OUTLOOK,
        "verdict": "human",
        "confidence": 0.85,
        "reasons": ["ua:client:outlook", "first-fetch", f"after-delivery:{PERSON_LATER}s"],
    }
    assert all("verdict" not in e.details for e in invoice.events if e.type not in FETCH_TYPES)
    apply_fact(invoice, open_fact("pixel", PERSON_LATER + 600, UA_OUTLOOK, "px-again"))
    assert event.details["reasons"][1] == "first-fetch"
    [again] = [e for e in invoice.events if e.key == "px-again"]
    assert (again.details["verdict"], again.details["confidence"]) == ("human", 0.9)
    assert again.details["reasons"][1] == "repeat-fetch"
    assert invoice.recipients[0].open_count == 2


def test_machine_opens_then_a_person_open() -> None:
    """Apple's prefetch at delivery, a gateway a few seconds later, the person at last."""
    invoice = applied(
        [
            fact("sent", -2, source="api"),
            fact("delivery", 0),
            open_fact("ses", 1, UA_MPP, "ses-mpp"),
            open_fact("pixel", 2, UA_CHROME, "px-gateway"),
            open_fact("pixel", PERSON_LATER, UA_OUTLOOK, "px-person"),
        ]
    )
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {
        "ses-mpp": "privacy_prefetch",
        "px-gateway": "scanner",
        "px-person": "human",
    }
    assert (recipient.open_count, recipient.machine_open_count) == (1, 2)
    assert recipient.first_opened_at == recipient.last_opened_at == at(PERSON_LATER)
    assert recipient.first_machine_open_at == at(1)
    assert recipient.status == "opened"


def test_a_gateway_sweeping_the_pixel_and_the_link_is_no_person() -> None:
    """Well after delivery, unknown network: only the sweep gives it away."""
    invoice = applied(
        [
            fact("delivery", 0),
            open_fact("pixel", 40, UA_CHROME, "px-sweep"),
            fact("click", 41, key="click-sweep", user_agent=UA_CHROME),
            fact("view", 41.5, key="view-sweep", source="pixel", user_agent=UA_CHROME),
        ]
    )
    assert set(verdicts(invoice).values()) == {"scanner"}
    recipient = invoice.recipients[0]
    assert (recipient.open_count, recipient.machine_open_count) == (0, 1)
    assert recipient.status == "delivered"


def test_a_defender_detonation_is_no_person() -> None:
    invoice = applied(
        [
            fact("delivery", 0),
            fact("click", 30, key="click-1", user_agent=UA_CHROME, ip=MICROSOFT_NETWORK),
            fact(
                "view", 31, key="view-1", source="pixel", user_agent=UA_CHROME, ip=MICROSOFT_NETWORK
            ),
        ]
    )
    assert verdicts(invoice) == {"click-1": "scanner", "view-1": "scanner"}
    for event in invoice.events:
        if event.type in FETCH_TYPES:
            assert event.details["reasons"][0] == "net:microsoft"
    assert invoice.recipients[0].status == "delivered"


# -- viewed ------------------------------------------------------------------------------


def _viewing(*facts: Fact) -> Invoice:
    return applied([delivered_earlier(), *facts])


def test_a_person_viewing_the_hosted_invoice_makes_the_recipient_viewed() -> None:
    invoice = _viewing(
        open_fact("pixel", 0, UA_IPHONE, "px-1"),
        # Opened later from the browser's history: the page, then its beacon.
        fact("view", 600, key="view-1", source="pixel", user_agent=UA_CHROME),
        fact("viewed", 601, key="viewed-1", source="pixel", user_agent=UA_CHROME),
    )
    recipient = invoice.recipients[0]
    assert verdicts(invoice) == {"px-1": "human", "view-1": "human", "viewed-1": "human"}
    assert recipient.viewed_at == at(601)
    assert (recipient.status, invoice.status) == ("viewed", "viewed")
    assert recipient.open_count == 1  # views are not opens
    assert invoice.viewed_at == at(601)


def test_viewed_without_an_open_is_viewed() -> None:
    """The pixel was blocked but the page was seen."""
    invoice = _viewing(
        fact("view", 0, key="view-1", source="pixel", user_agent=UA_CHROME),
        fact("viewed", 1, key="viewed-1", source="pixel", user_agent=UA_CHROME),
    )
    recipient = invoice.recipients[0]
    assert (recipient.status, recipient.open_count, recipient.first_opened_at) == (
        "viewed",
        0,
        None,
    )


def test_the_page_fetch_alone_is_not_viewed() -> None:
    invoice = _viewing(fact("view", 0, key="view-1", source="pixel", user_agent=UA_CHROME))
    assert verdicts(invoice) == {"view-1": "human"}
    assert invoice.recipients[0].viewed_at is None
    assert invoice.recipients[0].status == "delivered"


@pytest.mark.parametrize(
    ("seconds", "details"),
    [
        (1 - PERSON_LATER, {"user_agent": UA_CHROME}),  # a second after delivery
        (0, {"user_agent": UA_BARRACUDA}),
        (0, {"user_agent": UA_CHROME, "method": "HEAD"}),
        (0, {"user_agent": None}),
        (0, {"user_agent": UA_CHROME, "from_sender": True}),
        (30 - PERSON_LATER, {"user_agent": UA_CHROME, "ip": MICROSOFT_NETWORK}),
    ],
)
def test_a_machines_viewed_beacon_is_not_viewed(seconds: float, details: dict[str, Any]) -> None:
    invoice = _viewing(fact("viewed", seconds, key="viewed-1", source="pixel", **details))
    assert verdicts(invoice)["viewed-1"] not in PERSON_VERDICTS
    assert invoice.recipients[0].viewed_at is None
    assert invoice.recipients[0].status == "delivered"


def test_a_problem_still_outranks_viewed_and_viewed_outranks_opened_on_the_invoice() -> None:
    invoice = applied(
        [
            delivered_earlier("rcp_0"),
            delivered_earlier("rcp_1"),
            fact("view", 0, "rcp_0", key="view-0", source="pixel", user_agent=UA_CHROME),
            fact("viewed", 1, "rcp_0", key="viewed-0", source="pixel", user_agent=UA_CHROME),
            fact("bounce", 5, "rcp_0", type="Transient"),
            open_fact("pixel", 0, UA_OUTLOOK, "px-1", "rcp_1"),
        ],
        recipients=2,
    )
    assert [r.status for r in invoice.recipients] == ["bounced", "opened"]
    assert invoice.status == "opened"
    assert invoice.recipients[0].viewed_at == at(1)  # kept, like delivered_at


def test_a_persons_click_through_to_the_hosted_invoice_is_a_persons() -> None:
    invoice = _viewing(
        open_fact("pixel", 0, UA_OUTLOOK, "px-1"),
        fact("click", 600, key="click-1", user_agent=UA_CHROME, link="https://sobre.test/v/t"),
        fact("view", 600.6, key="view-1", source="pixel", user_agent=UA_CHROME),
        fact("viewed", 601.5, key="viewed-1", source="pixel", user_agent=UA_CHROME),
    )
    assert verdicts(invoice) == {
        "px-1": "human",
        "click-1": "human",
        "view-1": "human",
        "viewed-1": "human",
    }
    assert invoice.recipients[0].status == "viewed"


def test_the_tests_user_agents_are_real_and_of_their_kind() -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "user-agents.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        kinds = {
            row["user_agent"]: row["kind"]
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        }
    assert [kinds[ua] for ua in (UA_IPHONE, UA_OUTLOOK, UA_CHROME)] == ["human"] * 3
    assert kinds[UA_GMAIL] == "proxy"
    assert kinds[UA_MPP] == "privacy-prefetch"
    assert kinds[UA_BARRACUDA] == "security-scanner"


# -- archiving --------------------------------------------------------------------------


def _with_events(count: int) -> Invoice:
    invoice = make_invoice()
    for number in range(count):
        assert apply_fact(invoice, fact("click", number, key=f"click-{number:04d}"))
    return invoice


def test_no_archive_up_to_the_inline_limit() -> None:
    invoice = _with_events(INLINE_EVENT_LIMIT - 1)
    assert len(invoice.events) == INLINE_EVENT_LIMIT - 1
    assert split_for_archive(invoice) == []
    apply_fact(invoice, fact("click", 10_000, key="click-last"))
    assert len(invoice.events) == INLINE_EVENT_LIMIT
    assert split_for_archive(invoice) == []
    assert invoice.archive_pages == 0
    assert invoice.archived_keys == []


def test_split_moves_the_oldest_half_once_over_the_limit() -> None:
    invoice = _with_events(INLINE_EVENT_LIMIT)
    # One more event, reported late: its time is the oldest of all.
    assert apply_fact(invoice, fact("click", -50, key="late-click"))
    assert len(invoice.events) == INLINE_EVENT_LIMIT + 1
    all_keys = {e.key for e in invoice.events}
    moved = split_for_archive(invoice)
    assert len(moved) == INLINE_EVENT_LIMIT // 2
    assert moved[0].key == "late-click"
    assert max(e.at for e in moved) <= min(e.at for e in invoice.events)
    assert len(invoice.events) == INLINE_EVENT_LIMIT + 1 - INLINE_EVENT_LIMIT // 2
    assert {e.key for e in moved} | {e.key for e in invoice.events} == all_keys
    assert invoice.archived_keys == [e.key for e in moved]
    assert invoice.archive_pages == 1
    # Nothing more to move until the timeline fills up again.
    assert split_for_archive(invoice) == []
    assert invoice.archive_pages == 1


def test_an_archived_duplicate_is_still_refused() -> None:
    invoice = _with_events(INLINE_EVENT_LIMIT + 1)
    clicks_before = invoice.recipients[0].click_count
    moved = split_for_archive(invoice)
    archived_key = moved[0].key
    assert all(e.key != archived_key for e in invoice.events)
    assert has_seen(invoice, archived_key)
    before = copy.deepcopy(invoice)
    assert apply_fact(invoice, fact("click", 0, key=archived_key)) is False
    assert invoice == before
    assert invoice.recipients[0].click_count == clicks_before


def test_archived_opens_stay_counted_as_person_and_machine_opens() -> None:
    invoice = applied([delivered_earlier(), open_fact("ses", 1 - PERSON_LATER, UA_MPP, "ses-mpp")])
    for number in range(INLINE_EVENT_LIMIT):
        apply_fact(invoice, open_fact("pixel", number * 61, UA_OUTLOOK, f"px-{number:04d}"))
    recipient = invoice.recipients[0]
    assert (recipient.open_count, recipient.machine_open_count) == (INLINE_EVENT_LIMIT, 1)
    moved = split_for_archive(invoice)
    assert {"ses-mpp", "px-0000"} <= {e.key for e in moved}
    last = INLINE_EVENT_LIMIT * 61
    apply_fact(invoice, open_fact("pixel", last, UA_OUTLOOK, "px-last"))
    recipient = invoice.recipients[0]
    assert (recipient.open_count, recipient.machine_open_count) == (INLINE_EVENT_LIMIT + 1, 1)
    assert (recipient.first_opened_at, recipient.last_opened_at) == (at(0), at(last))
    assert recipient.first_machine_open_at == at(1 - PERSON_LATER)
    assert recipient.status == "opened"


def test_archived_clicks_stay_counted() -> None:
    # A person's clicks, spread over hours (no burst, never too fast).
    invoice = make_invoice()
    for number in range(INLINE_EVENT_LIMIT + 1):
        click = fact("click", 7200 + 60 * number, key=f"click-{number:04d}", user_agent=UA_OUTLOOK)
        assert apply_fact(invoice, click)
    assert invoice.recipients[0].click_count == INLINE_EVENT_LIMIT + 1
    assert split_for_archive(invoice)
    apply_fact(invoice, fact("click", 10**6, key="click-last", user_agent=UA_OUTLOOK))
    assert invoice.recipients[0].click_count == INLINE_EVENT_LIMIT + 2
