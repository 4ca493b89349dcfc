"""Verdicts of fetches and what they count (chalicelib/core/status.py): ``judge`` over a
window of one recipient's fetches (bursts across the pixel and the link, too fast
after delivery, repeats after a person's fetch), ``verdict_changed``, ``Counts``,
``count_change`` and ``Tally``. Pure: no I/O."""

from __future__ import annotations

import copy
import csv
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.core.classification import (
    BURST_WINDOW,
    PERSON_VERDICTS,
    REPLAY_WINDOW,
    SCANNER_NETWORK_WINDOW,
    TOO_FAST_AFTER_DELIVERY,
    TOO_FAST_LINK_AFTER_DELIVERY,
    VERDICTS,
)
from chalicelib.core.model import FETCH_TYPES, EventType, Recipient, TimelineEvent, parse_iso
from chalicelib.core.status import (
    Counts,
    Tally,
    apply_to_summary,
    count_change,
    judge,
    verdict_changed,
)
from tests.unit.test_status import at, make_invoice

pytestmark = pytest.mark.disable_socket

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
EXCHANGE_NETWORK = "52.96.12.0/24"  # Exchange Online's endpoints (Microsoft 365 IDs 1-2)
# A person reads their mail well after it arrived.
PERSON_LATER = 2 * 3600
SOURCE = {"open": "pixel", "click": "ses", "view": "pixel", "viewed": "pixel"}


def ev(
    type_: EventType,
    seconds: float,
    key: str | None = None,
    ua: str | None = UA_CHROME,
    **details: Any,
) -> TimelineEvent:
    if type_ == "viewed" and "page" not in details and "render" not in details:
        # A beacon is judged on its page load's signals (core/beacon.py): here the
        # load's are its own, so it is judged as before beacons had a page.
        details["page"] = {"key": "view-p", "user_agent": ua, "ip": details.get("ip")}
    return TimelineEvent(
        key or f"{type_}-{seconds}",
        at(seconds),
        type_,
        "rcp_0",
        SOURCE.get(type_, "ses"),  # type: ignore[arg-type]
        {"user_agent": ua, **details},
    )


def person(delivered: float | None = 0, sent: float | None = -3) -> Recipient:
    return Recipient(
        id="rcp_0",
        email="person0@example.com",
        sent_at=at(sent) if sent is not None else None,
        delivered_at=at(delivered) if delivered is not None else None,
    )


def judged(
    events: list[TimelineEvent],
    recipient: Recipient | None = None,
    person_before: str | None = None,
) -> dict[str, TimelineEvent]:
    return {e.key: e for e in judge(events, recipient or person(), person_before)}


def verdicts(events: list[TimelineEvent], **kwargs: Any) -> dict[str, str]:
    return {k: e.details["verdict"] for k, e in judged(events, **kwargs).items()}


# -- one fetch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "ua", "details", "verdict"),
    [
        (PERSON_LATER, UA_OUTLOOK, {}, "human"),
        (PERSON_LATER, UA_IPHONE, {"ip": "203.0.113.0/24"}, "human"),
        (45, UA_CHROME, {}, "human"),  # a person can be quick
        (720, UA_GMAIL, {"ip": "66.249.84.0/24"}, "proxy"),
        (1, UA_MPP, {"ip": "17.58.63.0/24"}, "privacy_prefetch"),
        (1, UA_CHROME, {}, "scanner"),  # too fast
        (30, UA_CHROME, {"ip": MICROSOFT_NETWORK}, "scanner"),  # Defender
        (PERSON_LATER, UA_BARRACUDA, {}, "scanner"),
        (PERSON_LATER, UA_OUTLOOK, {"method": "HEAD"}, "scanner"),
        (PERSON_LATER, None, {}, "unknown"),
        (PERSON_LATER, UA_OUTLOOK, {"from_sender": True}, "sender"),
    ],
)
def test_only_a_persons_open_counts_as_opened(
    seconds: float, ua: str | None, details: dict[str, Any], verdict: str
) -> None:
    [event] = judge([ev("open", seconds, "f", ua, **details)], person(), None)
    assert event.details["verdict"] == verdict
    assert 0 < event.details["confidence"] <= 1
    assert f"after-delivery:{int(seconds)}s" in event.details["reasons"]
    counts = Counts.of(event)
    invoice = make_invoice()
    invoice.recipients[0] = person()
    apply_to_summary(invoice, event)
    recipient = invoice.recipients[0]
    if verdict in PERSON_VERDICTS:
        assert counts == Counts(open_count=1)
        assert (recipient.first_opened_at, recipient.first_machine_open_at) == (at(seconds), None)
        assert recipient.status == "opened"
    elif verdict == "sender":  # the account's own preview counts nowhere
        assert counts == Counts()
        assert (recipient.first_opened_at, recipient.first_machine_open_at) == (None, None)
        assert recipient.status == "delivered"
    else:  # machine opens are counted apart
        assert counts == Counts(machine_open_count=1)
        assert (recipient.first_opened_at, recipient.first_machine_open_at) == (None, at(seconds))
        assert recipient.status == "delivered"


def test_a_verdict_comes_with_its_confidence_and_reasons_and_keeps_the_signals() -> None:
    original = ev("open", PERSON_LATER, "px-1", UA_OUTLOOK, ip="203.0.113.0/24")
    original.revision = 2
    before = copy.deepcopy(original)
    [event] = judge([original, ev("delivery", 0), ev("bounce", 5)], person(), None)
    assert original == before  # judged copies, the input untouched
    assert (event.key, event.at, event.source, event.revision) == (
        "px-1",
        at(PERSON_LATER),
        "pixel",
        2,
    )
    assert (event.details["user_agent"], event.details["ip"]) == (UA_OUTLOOK, "203.0.113.0/24")
    assert event.details["verdict"] == "human"
    assert isinstance(event.details["confidence"], float)
    reasons = event.details["reasons"]
    assert reasons[0] == "ua:client:outlook"
    assert "first-fetch" in reasons
    assert f"after-delivery:{PERSON_LATER}s" in reasons


def test_judge_returns_every_fetch_once_in_time_order() -> None:
    times: list[tuple[EventType, float]] = [
        ("viewed", 900),
        ("open", 600),
        ("click", 700),
        ("view", 800),
    ]
    events = [ev(t, s, f"{t}-{s}", UA_OUTLOOK) for t, s in times]
    events += [ev("delivery", 0), ev("reminder", 650)]
    out = judge(events, person(), None)
    assert [e.type for e in out] == ["open", "click", "view", "viewed"]
    assert {e.type for e in out} == set(FETCH_TYPES)


# -- too fast after delivery ------------------------------------------------------------

OPEN_LIMIT = TOO_FAST_AFTER_DELIVERY.total_seconds()
LINK_LIMIT = TOO_FAST_LINK_AFTER_DELIVERY.total_seconds()


@pytest.mark.parametrize(
    ("type_", "seconds", "verdict"),
    [
        ("open", OPEN_LIMIT, "scanner"),
        ("open", OPEN_LIMIT + 0.001, "human"),
        ("click", OPEN_LIMIT + 1, "scanner"),  # following a link takes longer
        ("click", LINK_LIMIT, "scanner"),
        ("click", LINK_LIMIT + 0.001, "human"),
        ("view", LINK_LIMIT, "scanner"),
        ("view", LINK_LIMIT + 0.001, "human"),
        ("viewed", LINK_LIMIT, "scanner"),
    ],
)
def test_a_fetch_too_soon_after_delivery_is_a_gateways(
    type_: EventType, seconds: float, verdict: str
) -> None:
    [event] = judge([ev(type_, seconds, "f")], person(delivered=0), None)
    assert event.details["verdict"] == verdict
    assert (event.details["reasons"][0] == "timing:too-fast") == (verdict == "scanner")


def test_too_fast_is_measured_from_delivery_only() -> None:
    [event] = judge([ev("open", 1, "f")], person(delivered=None, sent=0), None)
    assert event.details["verdict"] == "human"
    assert "after-send:1s" in event.details["reasons"]


def test_a_late_delivery_report_rejudges_an_instant_open() -> None:
    """An open one second after delivery is a gateway's, however the reports arrive."""
    stored = judge([ev("open", 1, "px-1")], person(delivered=None, sent=None), None)
    assert [e.details["verdict"] for e in stored] == ["human"]  # nothing says it was instant
    [again] = judge(stored, person(delivered=0), None)
    assert again.details["verdict"] == "scanner"
    assert again.details["reasons"][0] == "timing:too-fast"
    assert verdict_changed(stored[0], again)
    assert Counts.of(again).minus(Counts.of(stored[0])) == Counts(-1, 1, 0)
    assert not verdict_changed(again, judge([again], person(delivered=0), None)[0])


# -- a person fetched before ------------------------------------------------------------


def test_a_person_before_the_window_makes_a_later_fetch_a_repeat() -> None:
    instant = ev("open", 1, "px-1")  # too fast for a first fetch
    [alone] = judge([instant], person(), None)
    [repeat] = judge([instant], person(), at(0.5))
    assert (alone.details["verdict"], repeat.details["verdict"]) == ("scanner", "human")
    assert "first-fetch" in alone.details["reasons"]
    assert "repeat-fetch" in repeat.details["reasons"]
    assert (
        repeat.details["confidence"]
        > judge([ev("open", 60)], person(), None)[0].details["confidence"]
    )


@pytest.mark.parametrize("person_seconds", [1, 2])
def test_a_person_at_or_after_the_fetch_makes_no_repeat(person_seconds: float) -> None:
    [event] = judge([ev("open", 1, "px-1")], person(), at(person_seconds))
    assert event.details["verdict"] == "scanner"
    assert "first-fetch" in event.details["reasons"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_persons_fetch_in_the_window_makes_later_ones_repeats(shuffle: bool) -> None:
    """A gateway would be too fast; a webmail proxy's fetch a moment before says a
    person opened the mail, so the next fetch is that person's."""
    events = [ev("open", 1, "px-g", UA_GMAIL), ev("open", 2, "px-a", UA_CHROME)]
    result = judged(events[::-1] if shuffle else events)
    assert {k: e.details["verdict"] for k, e in result.items()} == {
        "px-g": "proxy",
        "px-a": "human",
    }
    assert "repeat-fetch" in result["px-a"].details["reasons"]
    assert "first-fetch" in result["px-g"].details["reasons"]
    tally = Tally()
    for event in result.values():
        tally.add(event)
    assert (tally.open_count, tally.machine_open_count, tally.first_machine_open_at) == (2, 0, None)


def test_a_machines_fetch_makes_no_repeat() -> None:
    events = [ev("open", 1, "px-mpp", UA_MPP), ev("open", 2, "px-a", UA_CHROME)]
    assert verdicts(events) == {"px-mpp": "privacy_prefetch", "px-a": "scanner"}


# -- bursts: a gateway sweeps the pixel and the links at once ------------------------------

WINDOW = BURST_WINDOW.total_seconds()


@pytest.mark.parametrize("gap", [0, 1, WINDOW])
@pytest.mark.parametrize("link", ["click", "view"])
def test_the_pixel_and_a_link_within_the_burst_window_are_a_gateways(
    gap: float, link: EventType
) -> None:
    events = [ev("open", 60, "px"), ev(link, 60 + gap, "link")]
    result = judged(events)
    assert {e.details["verdict"] for e in result.values()} == {"scanner"}
    assert all(e.details["reasons"][0] == "burst:2" for e in result.values())
    assert judged(events[::-1]) == result


@pytest.mark.parametrize(
    "events",
    [
        [ev("open", 60, "a"), ev("click", 60 + WINDOW + 0.001, "b")],  # pixel, then link apart
        [ev("open", 60, "a"), ev("open", 61, "b")],  # one display fetching the pixel twice
        [ev("click", 60, "a"), ev("view", 60.6, "b")],  # a click and the page it leads to
        [ev("open", 60, "a"), ev("viewed", 61, "b")],  # the page's beacon is no target
    ],
    ids=["apart", "pixel-twice", "click-and-page", "open-and-beacon"],
)
def test_fetches_of_one_target_or_apart_are_no_burst(events: list[TimelineEvent]) -> None:
    assert set(verdicts(events).values()) == {"human"}


def test_a_gateway_sweeping_the_pixel_and_the_link_is_no_person() -> None:
    """Well after delivery, unknown network: only the sweep gives it away."""
    events = [ev("open", 40, "px"), ev("click", 41, "click"), ev("view", 41.5, "view")]
    result = judged(events)
    assert {e.details["verdict"] for e in result.values()} == {"scanner"}
    assert [Counts.of(result[k]) for k in ("px", "click", "view")] == [
        Counts(machine_open_count=1),
        Counts(),
        Counts(),
    ]


def test_a_defender_detonation_is_no_person_at_any_time() -> None:
    events = [
        ev("click", 30, "click-1", ip=MICROSOFT_NETWORK),
        ev("view", 31, "view-1", ip=MICROSOFT_NETWORK),
    ]
    result = judged(events)
    assert {k: e.details["verdict"] for k, e in result.items()} == {
        "click-1": "scanner",
        "view-1": "scanner",
    }
    assert all(e.details["reasons"][0] == "net:microsoft" for e in result.values())
    later = SCANNER_NETWORK_WINDOW.total_seconds() + 1
    assert verdicts([ev("click", later, "c", ip=MICROSOFT_NETWORK)]) == {"c": "scanner"}
    # Exchange Online's service endpoints decide within the window only.
    assert verdicts([ev("click", 30, "c", ip=EXCHANGE_NETWORK)]) == {"c": "scanner"}
    assert verdicts([ev("click", later, "c", ip=EXCHANGE_NETWORK)]) == {"c": "human"}


# -- verdict_changed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ({"verdict": "scanner"}, True),
        ({"confidence": 0.5}, True),
        ({"reasons": ["ua:client:browser", "repeat-fetch"]}, True),
        ({"user_agent": UA_OUTLOOK}, False),
        ({}, False),
    ],
)
def test_verdict_changed_looks_at_the_verdict_only(change: dict[str, Any], changed: bool) -> None:
    [old] = judge([ev("open", 60, "f")], person(), None)
    new = copy.deepcopy(old)
    new.details.update(change)
    new.revision += 1
    assert verdict_changed(old, new) is changed


# -- Counts and count_change ----------------------------------------------------------------


def _counted(type_: EventType, verdict: str | None, counted: bool = True) -> TimelineEvent:
    event = ev(type_, 60, f"{type_}-{verdict}")
    if verdict is not None:
        event.details["verdict"] = verdict
    if not counted:
        event.details["counted"] = False
    return event


@pytest.mark.parametrize("verdict", VERDICTS)
@pytest.mark.parametrize("type_", sorted(FETCH_TYPES))
def test_counts_of_a_fetch(type_: EventType, verdict: str) -> None:
    counts = Counts.of(_counted(type_, verdict))
    is_person = verdict in PERSON_VERDICTS
    if type_ == "open":
        assert counts.open_count == int(is_person)
        assert counts.machine_open_count == int(not is_person and verdict != "sender")
        assert counts.click_count == 0
    elif type_ == "click":  # clicks by a person only
        assert counts == Counts(click_count=int(is_person))
    else:  # views of the hosted page are not opens
        assert counts == Counts()
    # SES's report of a display the invoice's own pixel tracks: kept, counted nowhere.
    assert Counts.of(_counted(type_, verdict, counted=False)) == Counts()


def test_an_unjudged_open_counts_as_a_machines() -> None:
    assert Counts.of(_counted("open", None)) == Counts(machine_open_count=1)


def test_counts_minus() -> None:
    assert Counts(1, 0, 2).minus(Counts(0, 1, 2)) == Counts(1, -1, 0)
    assert Counts(1, 2, 3).minus(Counts(1, 2, 3)) == Counts()


def test_count_change_of_a_persons_open() -> None:
    event = _counted("open", "human")
    change = count_change("op-1", event, Counts.of(event))
    assert (change.recipient_id, change.op) == ("rcp_0", "op-1")
    assert (change.open_count, change.machine_open_count, change.click_count) == (1, 0, 0)
    assert change.last_opened_at == change.first_person_at == event.at
    assert not change.empty
    # A re-judge passes its own difference: the times are the event's all the same.
    zero = count_change("op-1@1", event, Counts())
    assert (zero.open_count, zero.last_opened_at, zero.first_person_at) == (0, event.at, event.at)


@pytest.mark.parametrize(
    ("type_", "verdict", "counted", "last_opened", "first_person"),
    [
        ("open", "proxy", True, True, True),
        ("open", "human", False, False, True),  # SES's report: a person seen, not counted
        ("open", "scanner", True, False, False),
        ("open", "sender", True, False, False),
        ("click", "human", True, False, True),
        ("viewed", "human", True, False, True),
        ("click", "scanner", True, False, False),
    ],
)
def test_count_change_times(
    type_: EventType, verdict: str, counted: bool, last_opened: bool, first_person: bool
) -> None:
    event = _counted(type_, verdict, counted)
    change = count_change(event.key, event, Counts.of(event))
    assert change.last_opened_at == (event.at if last_opened else None)
    assert change.first_person_at == (event.at if first_person else None)
    counts = Counts.of(event)
    assert change.empty == (counts == Counts() and not first_person)


# -- Tally ------------------------------------------------------------------------------------


def test_tally_recounts_a_recipients_fetches() -> None:
    events = [
        _at(_counted("open", "privacy_prefetch"), 1),
        _at(_counted("open", "human"), 120),
        _at(_counted("open", "proxy"), 900),
        _at(_counted("open", "human", counted=False), 50),  # SES's copy
        _at(_counted("open", "sender"), 5),
        _at(_counted("click", "human"), 400),
        _at(_counted("click", "scanner"), 2),
        _at(_counted("viewed", "scanner"), 3),
        _at(_counted("viewed", "human"), 450),
    ]
    tally = Tally()
    for event in events:
        tally.add(event)
    assert (tally.open_count, tally.machine_open_count, tally.click_count) == (2, 1, 1)
    assert (tally.first_opened_at, tally.last_opened_at) == (at(120), at(900))
    assert tally.first_machine_open_at == at(1)
    assert tally.viewed_at == at(450)
    assert tally.first_person_at == at(50)


def _at(event: TimelineEvent, seconds: float) -> TimelineEvent:
    event.at = at(seconds)
    event.key = f"{event.key}-{seconds}"
    return event


JUDGED = st.lists(
    st.tuples(
        st.sampled_from(sorted(FETCH_TYPES)),
        st.sampled_from((*VERDICTS, None)),
        st.sampled_from((True, True, False)),
        st.integers(0, 600),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(fetches=JUDGED, seed=st.integers(0, 2**32))
def test_tally_agrees_with_counts_count_changes_and_the_summary(
    fetches: list[tuple[EventType, str | None, bool, int]], seed: int
) -> None:
    events = [
        _at(_counted(type_, verdict, counted), seconds)
        for type_, verdict, counted, seconds in fetches
    ]
    tally, shuffled = Tally(), Tally()
    for event in events:
        tally.add(event)
    for event in random.Random(seed).sample(events, len(events)):
        shuffled.add(event)
    assert shuffled == tally
    counts = [Counts.of(e) for e in events]
    assert (tally.open_count, tally.machine_open_count, tally.click_count) == (
        sum(c.open_count for c in counts),
        sum(c.machine_open_count for c in counts),
        sum(c.click_count for c in counts),
    )
    changes = [count_change(e.key, e, Counts.of(e)) for e in events]
    assert tally.last_opened_at == max(
        (c.last_opened_at for c in changes if c.last_opened_at), default=None
    )
    assert tally.first_person_at == min(
        (c.first_person_at for c in changes if c.first_person_at), default=None
    )
    invoice = make_invoice()
    for event in events:
        apply_to_summary(invoice, event)
    recipient = invoice.recipients[0]
    assert (tally.first_opened_at, tally.first_machine_open_at, tally.viewed_at) == (
        recipient.first_opened_at,
        recipient.first_machine_open_at,
        recipient.viewed_at,
    )


# -- judging, whatever the window (hypothesis) -----------------------------------------------

USER_AGENTS = (UA_IPHONE, UA_GMAIL, UA_MPP, UA_CHROME, None)
NETWORKS = (None, None, "203.0.113.0/24", MICROSOFT_NETWORK)
TARGET = {"open": "pixel", "click": "link", "view": "link"}
WINDOWS = st.lists(
    st.tuples(
        st.sampled_from(("open", "open", "click", "view", "viewed")),
        st.sampled_from(USER_AGENTS),
        st.sampled_from(NETWORKS),
        st.integers(0, 40).map(lambda tenth: tenth / 4),  # often within a burst window
    ),
    max_size=6,
)
DELIVERIES = st.one_of(st.none(), st.integers(-20, 10).map(float))


def _window(fetches: list[tuple[EventType, str | None, str | None, float]]) -> list[TimelineEvent]:
    return [
        ev(type_, seconds, f"{type_}-{n}", ua, ip=ip)
        for n, (type_, ua, ip, seconds) in enumerate(fetches)
    ]


def _assert_follows_the_rules(
    event: TimelineEvent, recipient: Recipient, all_judged: list[TimelineEvent], before: str | None
) -> None:
    verdict, reasons = event.details["verdict"], event.details["reasons"]
    assert verdict in VERDICTS
    assert 0 < event.details["confidence"] <= 1
    assert all(isinstance(r, str) for r in reasons)
    moment = parse_iso(event.at)
    repeat = (before is not None and before < event.at) or any(
        o.at < event.at and o.details["verdict"] in PERSON_VERDICTS for o in all_judged
    )
    assert ("repeat-fetch" in reasons) == repeat
    assert ("first-fetch" in reasons) != repeat
    ua = event.details["user_agent"]
    if ua is None:
        assert (verdict, reasons[0]) == ("unknown", "ua:missing")
        return
    if ua in (UA_GMAIL, UA_MPP):
        assert verdict == ("proxy" if ua == UA_GMAIL else "privacy_prefetch")
        return
    assert verdict in ("human", "scanner")
    gateway = event.details["ip"] == MICROSOFT_NETWORK  # Defender's ranges: at any time
    targets = {
        TARGET[o.type]
        for o in all_judged
        if o.type in TARGET and abs(parse_iso(o.at) - moment) <= BURST_WINDOW
    }
    limit = TOO_FAST_AFTER_DELIVERY if event.type == "open" else TOO_FAST_LINK_AFTER_DELIVERY
    too_fast = (
        not repeat
        and recipient.delivered_at is not None
        and moment - parse_iso(recipient.delivered_at) <= limit
    )
    earlier = sorted(
        (o.at, o.key, o.details["ip"])
        for o in all_judged
        if o.at < event.at and o.details["verdict"] in PERSON_VERDICTS
    )
    latest = (parse_iso(earlier[-1][0]), earlier[-1][2]) if earlier else None
    if latest is None and before is not None and before < event.at:
        latest = (parse_iso(before), None)
    replay = (  # a scanner following a person's link seconds later from another network
        repeat
        and event.type != "open"
        and latest is not None
        and moment - latest[0] <= REPLAY_WINDOW
        and event.details["ip"] is not None
        and latest[1] is not None
        and event.details["ip"] != latest[1]
    )
    if gateway:
        assert reasons[0] == "net:microsoft"
    elif replay:
        assert reasons[0] == "replay-of-person"
    elif len(targets) >= 2:
        assert reasons[0] == f"burst:{len(targets)}"
    elif too_fast:
        assert reasons[0] == "timing:too-fast"
    assert (verdict == "scanner") == (gateway or replay or len(targets) >= 2 or too_fast), reasons


@settings(max_examples=300, deadline=None)
@given(
    fetches=WINDOWS,
    delivered=DELIVERIES,
    before=st.sampled_from((None, -1.0, 5.0)),
    seed=st.integers(0, 2**32),
)
@example(  # a gateway sweep, then the person
    fetches=[
        ("open", UA_CHROME, None, 1),
        ("click", UA_CHROME, None, 2),
        ("open", UA_IPHONE, None, 9),
    ],
    delivered=0.0,
    before=None,
    seed=0,
)
def test_verdicts_follow_the_rules_whatever_the_order(
    fetches: list[tuple[EventType, str | None, str | None, float]],
    delivered: float | None,
    before: float | None,
    seed: int,
) -> None:
    recipient = person(delivered=delivered, sent=None if delivered is None else delivered - 1)
    person_before = at(before) if before is not None else None
    window = _window(fetches)
    result = judge(window, recipient, person_before)
    assert sorted(e.key for e in result) == sorted(e.key for e in window)
    for event in result:
        _assert_follows_the_rules(event, recipient, result, person_before)
    shuffled = random.Random(seed).sample(window, len(window))
    assert judge(shuffled, recipient, person_before) == result


@settings(max_examples=200, deadline=None)
@given(fetches=WINDOWS, delivered=DELIVERIES)
def test_person_before_stands_for_a_persons_fetch_outside_the_window(
    fetches: list[tuple[EventType, str | None, str | None, float]], delivered: float | None
) -> None:
    """What the counters' first_person_at tells a window equals reading that fetch."""
    recipient = person(delivered=delivered, sent=None)
    earlier = ev("open", -WINDOW - 60, "earlier", UA_GMAIL)  # a proxy: a person at any time
    window = _window(fetches)
    with_it = judged([earlier, *window], recipient)
    assert with_it["earlier"].details["verdict"] in PERSON_VERDICTS
    told = judged(window, recipient, person_before=earlier.at)
    assert told == {k: e for k, e in with_it.items() if k != "earlier"}


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
