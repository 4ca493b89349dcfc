"""Status rules (chalicelib/status.py): precedence, idempotency, order-independence,
open merging and timeline archiving. Pure: no I/O."""

from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.ids import TrackingTarget
from chalicelib.model import (
    PROBLEM_STATUSES,
    EventType,
    Invoice,
    Recipient,
    RecipientStatus,
    iso,
)
from chalicelib.ses_events import parse_notification
from chalicelib.status import (
    INLINE_EVENT_LIMIT,
    OPEN_MERGE_WINDOW,
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
from chalicelib.tracking import MAX_USER_AGENT, pixel_open

pytestmark = pytest.mark.disable_socket

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
CREATED = iso(T0 - timedelta(minutes=5))
UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
UA_GMAIL = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


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


def applied(facts: list[Fact], recipients: int = 1) -> Invoice:
    invoice = make_invoice(recipients)
    for item in facts:
        apply_fact(invoice, item)
    return invoice


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
        "recipients": [{f: getattr(r, f) for f in fields} for r in invoice.recipients],
    }


# -- recipient_status ------------------------------------------------------------------

# The recipient fact that makes each status true.
STATUS_FACT: dict[RecipientStatus, str | None] = {
    "complained": "complained_at",
    "bounced": "bounced_at",
    "rejected": "rejected_at",
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
    assert sorted(RECIPIENT_PRECEDENCE) == sorted(STATUS_FACT)
    assert RECIPIENT_PRECEDENCE[0] == "complained"
    assert RECIPIENT_PRECEDENCE[-1] == "pending"


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


def test_open_before_its_delivery_still_leaves_the_recipient_opened() -> None:
    invoice = applied([open_fact("pixel", 5, UA_IPHONE, "px-1"), fact("delivery", 10)])
    recipient = invoice.recipients[0]
    assert recipient.status == "opened"
    assert recipient.delivered_at == at(10)
    assert recipient.first_opened_at == at(5)
    assert invoice.status == "opened"


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
    invoice = applied([pixel, ses] if pixel_first else [ses, pixel])
    recipient = invoice.recipients[0]
    assert recipient.open_count == 1
    assert len([e for e in invoice.events if e.type == "open"]) == 2  # both on the timeline
    counted = counted_opens(invoice.events)
    assert [e.key for e in counted] == ["px-1"]  # the pixel open counts, SES's repeats it
    assert pair_opens(invoice.events) == {"px-1": None, "ses-1": "px-1"}


@pytest.mark.parametrize("pixel_first", [True, False])
def test_pixel_and_ses_open_with_different_agents_count_twice(pixel_first: bool) -> None:
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 110, UA_GMAIL, "ses-1")
    recipient = applied([pixel, ses] if pixel_first else [ses, pixel]).recipients[0]
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
    recipient = applied([pixel, ses] if pixel_first else [ses, pixel]).recipients[0]
    assert recipient.open_count == 2


def test_two_pixel_opens_never_merge() -> None:
    recipient = applied(
        [open_fact("pixel", 1, UA_IPHONE, "px-1"), open_fact("pixel", 2, UA_IPHONE, "px-2")]
    ).recipients[0]
    assert recipient.open_count == 2


def test_open_of_another_recipient_never_merges() -> None:
    invoice = applied(
        [
            open_fact("pixel", 1, UA_IPHONE, "px-1", "rcp_0"),
            open_fact("ses", 2, UA_IPHONE, "ses-1", "rcp_1"),
        ],
        recipients=2,
    )
    assert [r.open_count for r in invoice.recipients] == [1, 1]


def test_one_ses_open_absorbs_only_one_pixel_open() -> None:
    invoice = applied(
        [
            open_fact("pixel", 1, UA_IPHONE, "px-1"),
            open_fact("pixel", 2, UA_IPHONE, "px-2"),
            open_fact("ses", 3, UA_IPHONE, "ses-1"),
        ]
    )
    assert invoice.recipients[0].open_count == 2


def test_merged_open_times_do_not_depend_on_arrival_order() -> None:
    pixel = open_fact("pixel", 100, UA_IPHONE, "px-1")
    ses = open_fact("ses", 130, UA_IPHONE, "ses-1")
    pixel_first = applied([pixel, ses]).recipients[0]
    ses_first = applied([ses, pixel]).recipients[0]
    assert pixel_first.open_count == ses_first.open_count == 1
    assert pixel_first.first_opened_at == ses_first.first_opened_at
    assert pixel_first.last_opened_at == ses_first.last_opened_at


def test_open_count_of_a_chain_does_not_depend_on_arrival_order() -> None:
    p1 = open_fact("pixel", 0, UA_IPHONE, "px-1")
    s1 = open_fact("ses", 50, UA_IPHONE, "ses-1")
    p2 = open_fact("pixel", 100, UA_IPHONE, "px-2")
    s2 = open_fact("ses", 150, UA_IPHONE, "ses-2")
    in_time_order = applied([p1, s1, p2, s2]).recipients[0]
    shuffled = applied([s1, p2, p1, s2]).recipients[0]
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
    invoice = applied([pixel, _ses_open_fact(UA_IPHONE, 12)])
    assert invoice.recipients[0].open_count == 1


def test_same_open_with_a_long_user_agent_counts_once() -> None:
    long_ua = UA_IPHONE + " FBAN/FBIOS;" + "x" * MAX_USER_AGENT
    target = TrackingTarget("inv_" + "a" * 26, "rcp_0")
    pixel = pixel_open(target, T0 + timedelta(seconds=10), long_ua, "198.51.100.7", "GET", "req-1")
    invoice = applied([pixel, _ses_open_fact(long_ua, 12)])
    assert invoice.recipients[0].open_count == 1


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
USER_AGENTS = (UA_IPHONE, UA_GMAIL, None)


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
def scenarios(draw: st.DrawFn, open_seconds: st.SearchStrategy[float]) -> Scenario:
    count = draw(st.integers(1, 3))
    facts: list[Fact] = []
    for index in range(count):
        recipient = f"rcp_{index}"
        for kind in NON_OPEN_TYPES:
            # Problems are rarer, so that progress statuses are common too.
            if draw(st.integers(0, 3 if kind in RARE_TYPES else 1)) == 0:
                seconds = draw(st.integers(0, 7200))
                key = f"{kind}-{recipient}"
                details = _details(kind, recipient)
                facts.append(Fact(key, kind, at(seconds), recipient, "ses", details))
        opens = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(("pixel", "ses")), st.sampled_from(USER_AGENTS), open_seconds
                ),
                max_size=4,
            )
        )
        for number, (source, ua, when) in enumerate(opens):
            facts.append(open_fact(source, when, ua, f"open-{recipient}-{number}", recipient))
    return Scenario(count, facts)


# Opens on a grid 61 s apart: a pixel and an SES open merge only when they are reported
# at the same instant. ANY_OPENS below also covers merges at different instants.
GRID_OPENS = st.integers(0, 8).map(lambda slot: slot * 61.0)
ANY_OPENS = st.integers(0, 600).map(float)


def _arrivals(facts: list[Fact], seed: int) -> list[Fact]:
    """A shuffled arrival order with every fact delivered once and some up to 3 times."""
    rng = random.Random(seed)
    arrivals = [f for f in facts for _ in range(rng.choice((1, 1, 2, 3)))]
    rng.shuffle(arrivals)
    return arrivals


def _assert_order_independent(scenario: Scenario, seed: int) -> None:
    expected = snapshot(applied(scenario.facts, scenario.recipients))
    for order in (list(reversed(scenario.facts)), _arrivals(scenario.facts, seed)):
        invoice = make_invoice(scenario.recipients)
        accepted = [apply_fact(invoice, item) for item in order]
        assert sum(accepted) == len(scenario.facts)  # each duplicate refused
        assert snapshot(invoice) == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(GRID_OPENS), seed=st.integers(0, 2**32))
def test_any_arrival_order_and_duplication_gives_the_same_state(
    scenario: Scenario, seed: int
) -> None:
    _assert_order_independent(scenario, seed)


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios(GRID_OPENS))
def test_state_derives_from_facts(scenario: Scenario) -> None:
    """Statuses agree with the recipient facts and the invoice rule, whatever happened."""
    invoice = applied(scenario.facts, scenario.recipients)
    for recipient in invoice.recipients:
        assert recipient.status == recipient_status(recipient)
        mine = [f for f in scenario.facts if f.recipient_id == recipient.id]
        delivered = [f.at for f in mine if f.type == "delivery"]
        assert recipient.delivered_at == (min(delivered) if delivered else None)
        opens = [f.at for f in mine if f.type == "open"]
        assert (recipient.open_count == 0) == (not opens)
        assert recipient.first_opened_at == (min(opens) if opens else None)
        assert recipient.last_opened_at == (max(opens) if opens else None)
    assert invoice.status == invoice_status(invoice.recipients)


@settings(max_examples=300, deadline=None, database=None)
@given(scenario=scenarios(ANY_OPENS), seed=st.integers(0, 2**32))
@example(
    scenario=Scenario(
        1, [open_fact("pixel", 100, UA_IPHONE, "px-1"), open_fact("ses", 130, UA_IPHONE, "ses-1")]
    ),
    seed=0,
)
def test_any_arrival_order_gives_the_same_state_with_opens_at_any_time(
    scenario: Scenario, seed: int
) -> None:
    _assert_order_independent(scenario, seed)


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
