"""Who fetched it (chalicelib/core/classification.py): every verdict, every reason code and
confidence, the rules on networks, bursts and timing, and every row of
tests/fixtures/user-agents.tsv at a person's timing. What user agents say is in
test_agents.py, the network table in test_networks.py."""

from __future__ import annotations

import ast
import csv
import inspect
import ipaddress
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core import classification
from chalicelib.core.classification import (
    BURST_SIZE,
    CLOUD_NETWORK_WINDOW,
    PERSON_VERDICTS,
    REPLAY_WINDOW,
    SCANNER_NETWORK_WINDOW,
    TOO_FAST_AFTER_DELIVERY,
    VERDICTS,
    FetchSignals,
    Judgement,
    classify,
)
from chalicelib.core.networks import families

pytestmark = pytest.mark.disable_socket

ROOT = Path(__file__).resolve().parents[2]
USER_AGENTS_TSV = ROOT / "tests" / "fixtures" / "user-agents.tsv"

SENT = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
DELIVERED = SENT + timedelta(seconds=2)
PERSON_LATER = 2 * 3600.0  # seconds after delivery: a person reading their mail

# Real user agents, all rows of tests/fixtures/user-agents.tsv (see its SOURCES.md).
UA_OUTLOOK = (
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), "
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
)
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36"
)
UA_THUNDERBIRD = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Thunderbird/24.4.0 Lightning/2.6.4"
)
UA_APPLE_MAIL = "Mail/3445.4.7 CFNetwork/889.9 Darwin/17.2.0 (x86_64)"
UA_GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
UA_MPP = "Mozilla/5.0"
UA_FAKE_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
UA_DEFENDER = (  # gophish/gophish#2646: known by its 40.94.x networks, not by this UA
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/101.0.4951.54 Safari/537.36"
)


def fetch(
    user_agent: str | None,
    after: float = PERSON_LATER,
    *,
    network: str | None = None,
    method: str | None = "GET",
    burst: int = 1,
    repeat: bool = False,
    from_sender: bool = False,
    kind: Any = "open",
    delivered: bool = True,
    sent: bool = True,
    since_person: float | None = None,
    person_network: str | None = None,
) -> FetchSignals:
    """A fetch ``after`` seconds after delivery (after sending when not delivered)."""
    anchor = DELIVERED if delivered else SENT
    return FetchSignals(
        kind=kind,
        at=anchor + timedelta(seconds=after),
        user_agent=user_agent,
        network=network,
        method=method,
        sent_at=SENT if sent else None,
        delivered_at=DELIVERED if delivered else None,
        burst=burst,
        repeat=repeat,
        from_sender=from_sender,
        since_person=None if since_person is None else timedelta(seconds=since_person),
        person_network=person_network,
    )


def context(judgement: Judgement) -> tuple[str, ...]:
    return tuple(r for r in judgement.reasons if r.endswith("-fetch") or r.startswith("after-"))


# -- verdicts ---------------------------------------------------------------------------


def test_the_verdicts_are_the_documented_six() -> None:
    assert VERDICTS == ("human", "proxy", "privacy_prefetch", "scanner", "sender", "unknown")
    assert {"human", "proxy"} == PERSON_VERDICTS


@pytest.mark.parametrize("verdict", VERDICTS)
def test_is_person_only_for_human_and_proxy(verdict: Any) -> None:
    assert Judgement(verdict, 0.5, ()).is_person is (verdict in ("human", "proxy"))


# -- the catalogue: one example of every decisive reason, with verdict and confidence -------

CLOUD = "52.28.114.0/24"  # AWS (tests/fixtures/opens/public.jsonl, pub-scanner-repeats-click-aws)
# Replays are clicks that follow a person's: the templates the kind and repeat tests skip.
REPLAYS = {"replay-from:{}", "replay-of-person"}
# template -> (signals, verdict, confidence, first reason)
CATALOGUE: dict[str, tuple[FetchSignals, str, float, str]] = {
    "sender-preview": (fetch(UA_CHROME, from_sender=True), "sender", 0.95, "sender-preview"),
    "method:head": (fetch(UA_CHROME, method="HEAD"), "scanner", 0.9, "method:head"),
    "ua:apple-mail-privacy-protection": (
        fetch(UA_MPP, 1),
        "privacy_prefetch",
        0.9,
        "ua:apple-mail-privacy-protection",
    ),
    "ua:image-proxy:{}": (fetch(UA_GMAIL_PROXY), "proxy", 0.95, "ua:image-proxy:gmail"),
    "ua:scanner:{}": (fetch("Mimecast URL Protect"), "scanner", 0.95, "ua:scanner:mimecast"),
    "ua:missing": (fetch(None), "unknown", 0.5, "ua:missing"),
    "ua:bot:{}:{}": (
        fetch("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"),
        "scanner",
        0.9,
        "ua:bot:crawler-user-agents:ahrefsbot",
    ),
    "net:{}": (fetch(UA_DEFENDER, 30, network="40.94.89.0/24"), "scanner", 0.85, "net:microsoft"),
    "net:cloud:{}": (fetch(UA_CHROME, 30, network=CLOUD), "scanner", 0.85, "net:cloud:aws"),
    "replay-from:{}": (
        fetch(UA_CHROME, network=CLOUD, repeat=True, kind="click", since_person=12),
        "scanner",
        0.85,
        "replay-from:aws",
    ),
    "replay-of-person": (
        fetch(
            UA_CHROME,
            network="198.18.91.0/24",
            repeat=True,
            kind="click",
            since_person=12,
            person_network="203.0.113.0/24",
        ),
        "scanner",
        0.8,
        "replay-of-person",
    ),
    "burst:{}": (fetch(UA_CHROME, burst=BURST_SIZE), "scanner", 0.8, f"burst:{BURST_SIZE}"),
    "timing:too-fast": (fetch(UA_CHROME, 1), "scanner", 0.7, "timing:too-fast"),
    "ua:unrecognised": (fetch("UA"), "unknown", 0.5, "ua:unrecognised"),
    "ua:client:{}": (fetch(UA_OUTLOOK), "human", 0.85, "ua:client:outlook"),
}


@pytest.mark.parametrize("template", list(CATALOGUE))
def test_catalogue_example_gives_its_verdict_confidence_and_reason(template: str) -> None:
    signals, verdict, confidence, reason = CATALOGUE[template]
    judgement = classify(signals)
    assert (judgement.verdict, judgement.confidence) == (verdict, confidence)
    assert judgement.reasons[0] == reason
    assert reason.startswith(template.split("{}")[0])
    assert judgement.is_person is (verdict in PERSON_VERDICTS)


def test_every_verdict_is_reachable() -> None:
    assert {classify(s).verdict for s, *_ in CATALOGUE.values()} == set(VERDICTS)


def _template(node: ast.expr, assigned: dict[str, ast.expr]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
            for v in node.values
        )
    if isinstance(node, ast.Name) and node.id in assigned:
        value = assigned[node.id]
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            return value.func.id  # a helper's reason: its own returns are read below
        return _template(value, assigned)
    raise AssertionError(f"a reason the test cannot read: {ast.dump(node)}")


def test_the_catalogue_covers_every_reason_classify_can_give() -> None:
    """Reads the rules' source: a new rule must come with its catalogue example. Every
    rule returns (verdict, confidence, reasons)."""
    rules = (classification._announced, classification._named, classification._by_behaviour)
    tree = ast.Module(
        body=[
            statement
            for rule in rules
            for statement in ast.parse(textwrap.dedent(inspect.getsource(rule))).body
        ],
        type_ignores=[],
    )
    assigned = {
        target.id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    emitted = {
        _template(reason, assigned)
        for node in ast.walk(tree)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Tuple)
        and len(node.value.elts) == 3
        and isinstance(node.value.elts[2], ast.Tuple)
        for reason in node.value.elts[2].elts
    }
    helper = ast.parse(textwrap.dedent(inspect.getsource(classification._machine_network)))
    helpers = {
        _template(node.value, {})
        for node in ast.walk(helper)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.JoinedStr)
    }
    assert "_machine_network" in emitted
    assert (emitted - {"_machine_network"}) | helpers == set(CATALOGUE)


# -- each rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signals",
    [
        fetch(UA_CHROME, from_sender=True),
        fetch(UA_CHROME, 1, from_sender=True, method="HEAD"),
        fetch(UA_MPP, from_sender=True),
        fetch(None, from_sender=True, network="40.94.89.0/24", burst=5),
    ],
)
def test_the_senders_own_preview_wins_over_everything(signals: FetchSignals) -> None:
    judgement = classify(signals)
    assert (judgement.verdict, judgement.confidence) == ("sender", 0.95)
    assert judgement.reasons[0] == "sender-preview"


@pytest.mark.parametrize("method", ["HEAD", "head", "Head"])
@pytest.mark.parametrize("user_agent", [UA_OUTLOOK, UA_GMAIL_PROXY, UA_MPP, None])
def test_a_head_request_is_a_scanner_whatever_it_says(method: str, user_agent: str | None) -> None:
    judgement = classify(fetch(user_agent, method=method))
    assert (judgement.verdict, judgement.confidence) == ("scanner", 0.9)
    assert judgement.reasons[0] == "method:head"


@pytest.mark.parametrize("method", ["GET", "get", None])
def test_get_or_no_method_is_judged_on_the_rest(method: str | None) -> None:
    assert classify(fetch(UA_OUTLOOK, method=method)).verdict == "human"


@pytest.mark.parametrize("after", [1, 60, PERSON_LATER, 5 * 86400])
@pytest.mark.parametrize("user_agent", [UA_MPP, " Mozilla/5.0 ", "Mozilla/5.0\t"])
def test_mpp_is_a_prefetch_at_any_time(user_agent: str, after: float) -> None:
    judgement = classify(fetch(user_agent, after))
    assert (judgement.verdict, judgement.confidence) == ("privacy_prefetch", 0.9)
    assert judgement.reasons[0] == "ua:apple-mail-privacy-protection"


def test_mpp_from_apples_network_is_surer() -> None:
    judgement = classify(fetch(UA_MPP, 1, network="17.58.63.0/24"))
    assert (judgement.verdict, judgement.confidence) == ("privacy_prefetch", 0.97)
    assert judgement.reasons[0] == "ua:apple-mail-privacy-protection"
    assert "net:apple" in judgement.reasons


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (Macintosh)",  # more than the bare token: not Apple's relay
        "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148",
    ],
)
def test_only_the_bare_token_is_mpp(user_agent: str) -> None:
    judgement = classify(fetch(user_agent))
    assert judgement.verdict != "privacy_prefetch"
    assert "ua:apple-mail-privacy-protection" not in judgement.reasons


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (UA_GMAIL_PROXY, "gmail"),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "yahoo"),
        ("RamblerMail/6.0 (incompatible; ImageProxy/6.0)", "webmail"),
    ],
)
def test_webmail_image_proxies_count_as_a_person(user_agent: str, name: str) -> None:
    judgement = classify(fetch(user_agent))
    assert (judgement.verdict, judgement.confidence) == ("proxy", 0.95)
    assert judgement.reasons[0] == f"ua:image-proxy:{name}"
    assert judgement.is_person


def test_gmail_proxy_from_googles_network_names_the_network() -> None:
    judgement = classify(fetch(UA_GMAIL_PROXY, network="66.249.84.0/24"))
    assert judgement.verdict == "proxy"
    assert "net:google" in judgement.reasons


@pytest.mark.parametrize("user_agent", [None, "", "   ", "\t"])
def test_no_user_agent_is_unknown(user_agent: str | None) -> None:
    judgement = classify(fetch(user_agent))
    assert (judgement.verdict, judgement.confidence) == ("unknown", 0.5)
    assert judgement.reasons[0] == "ua:missing"


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        (UA_OUTLOOK, "outlook"),
        (UA_THUNDERBIRD, "thunderbird"),
        (UA_APPLE_MAIL, "apple-mail"),
        (UA_CHROME, "browser"),
        ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)", "internet-explorer"),
    ],
)
def test_mail_clients_and_browsers_are_people(user_agent: str, family: str) -> None:
    first = classify(fetch(user_agent))
    assert (first.verdict, first.confidence) == ("human", 0.85)
    assert first.reasons == (f"ua:client:{family}", "first-fetch", "after-delivery:7200s")
    again = classify(fetch(user_agent, repeat=True))
    assert (again.verdict, again.confidence) == ("human", 0.9)
    assert again.reasons == (f"ua:client:{family}", "repeat-fetch", "after-delivery:7200s")


@pytest.mark.parametrize("user_agent", ["UA", "SomethingElse/1.0", "x"])
def test_an_unrecognised_agent_is_unknown(user_agent: str) -> None:
    judgement = classify(fetch(user_agent))
    assert (judgement.verdict, judgement.confidence) == ("unknown", 0.5)
    assert judgement.reasons[0] == "ua:unrecognised"
    # ... unless the timing already says machine.
    fast = classify(fetch(user_agent, 1))
    assert (fast.verdict, fast.reasons[0]) == ("scanner", "timing:too-fast")
    assert fast.reasons[1].startswith("ua:client:")


# -- networks ------------------------------------------------------------------------------


def _first_network(label: str) -> str:
    """The first /24 (or /48) of a family's ranges, as the pixel stores networks."""
    family = next(f for f in families() if f.label == label)
    if family.v4_starts:
        return str(
            ipaddress.ip_network(f"{ipaddress.IPv4Address(family.v4_starts[0])}/24", strict=False)
        )
    return str(
        ipaddress.ip_network(f"{ipaddress.IPv6Address(family.v6_starts[0] << 64)}/48", strict=False)
    )


def _labels(*kinds: str) -> list[str]:
    return [f.label for f in families() if f.kind in kinds]


@pytest.mark.parametrize("label", _labels("gateway"))
def test_exchange_onlines_endpoints_soon_after_delivery_are_a_scanner(label: str) -> None:
    network = _first_network(label)
    window = SCANNER_NETWORK_WINDOW.total_seconds()
    for after in (0, 30, window):
        judgement = classify(fetch(UA_DEFENDER, after, network=network))
        assert (judgement.verdict, judgement.confidence) == ("scanner", 0.85), after
        assert judgement.reasons[:2] == (f"net:{label}", "ua:client:browser")
        assert judgement.reasons.count(f"net:{label}") == 1
    # Past the window they no longer decide: Exchange Online's endpoints also serve
    # Outlook's own services, which may fetch for a person reading the mail.
    later = classify(fetch(UA_DEFENDER, window + 1, network=network))
    assert later.verdict == "human"
    assert f"net:{label}" in later.reasons


@pytest.mark.parametrize("label", _labels("security", "crawler"))
def test_a_security_vendors_or_crawlers_network_is_a_machine_at_any_time(label: str) -> None:
    network = _first_network(label)
    for after in (30, PERSON_LATER, 9 * 86400):
        judgement = classify(fetch(UA_CHROME, after, network=network, kind="click"))
        assert (judgement.verdict, judgement.reasons[0]) == ("scanner", f"net:{label}"), after


@pytest.mark.parametrize("label", _labels("cloud"))
def test_a_first_fetch_from_a_cloud_soon_after_delivery_is_a_scanner(label: str) -> None:
    network = _first_network(label)
    window = CLOUD_NETWORK_WINDOW.total_seconds()
    for after in (14, 45, window):
        judgement = classify(fetch(UA_CHROME, after, network=network))
        assert (judgement.verdict, judgement.reasons[0]) == ("scanner", f"net:cloud:{label}")
    # A person can read mail from a cloud desktop or a VPN: later, or again, it is them.
    assert classify(fetch(UA_CHROME, window + 1, network=network)).verdict == "human"
    assert classify(fetch(UA_CHROME, 30, network=network, repeat=True)).verdict == "human"


@pytest.mark.parametrize("label", _labels("gateway", "security", "cloud"))
def test_a_click_from_a_machine_network_right_after_a_persons_is_a_replay(label: str) -> None:
    network = _first_network(label)
    replay = fetch(UA_CHROME, network=network, repeat=True, kind="click", since_person=12)
    judgement = classify(replay)
    assert judgement.verdict == "scanner"
    assert judgement.reasons[0] in (f"replay-from:{label}", f"net:{label}")
    if label not in _labels("security"):
        late = replace(replay, since_person=REPLAY_WINDOW + timedelta(seconds=1))
        assert classify(late).verdict == "human"
        assert classify(replace(replay, kind="open")).verdict == "human"


def test_a_click_seconds_after_a_persons_from_another_network_is_a_replay() -> None:
    replay = fetch(
        UA_CHROME,
        network="198.18.91.0/24",
        repeat=True,
        kind="click",
        since_person=12,
        person_network="203.0.113.0/24",
    )
    assert classify(replay).reasons[0] == "replay-of-person"
    # The same network is the person clicking again; later, or unknown networks, too.
    assert classify(replace(replay, person_network="198.18.91.0/24")).verdict == "human"
    assert classify(replace(replay, since_person=timedelta(minutes=2))).verdict == "human"
    assert classify(replace(replay, person_network=None)).verdict == "human"
    assert classify(replace(replay, kind="view")).verdict == "scanner"


def test_a_machine_network_with_no_send_or_delivery_time_is_a_scanner() -> None:
    for label in ("microsoft", "proofpoint", "aws"):
        signals = fetch(UA_DEFENDER, network=_first_network(label))
        assert classify(replace(signals, sent_at=None, delivered_at=None)).verdict == "scanner"


def test_the_gateway_window_counts_from_the_send_when_there_is_no_delivery() -> None:
    network = _first_network("microsoft-365")
    assert classify(fetch(UA_DEFENDER, 30, network=network, delivered=False)).verdict == "scanner"
    window = SCANNER_NETWORK_WINDOW.total_seconds()
    late = fetch(UA_DEFENDER, window + 1, network=network, delivered=False)
    assert classify(late).verdict == "human"
    # Defender's own ranges are a machine at any time: detonations on forwards, checks
    # at the time of a person's click (public.jsonl, pub-defender-after-forward).
    defender = fetch(UA_DEFENDER, window + 1, network="40.94.89.0/24", delivered=False)
    assert classify(defender).reasons[0] == "net:microsoft"


@pytest.mark.parametrize("label", _labels("webmail", "relay"))
def test_webmail_and_relay_networks_only_inform(label: str) -> None:
    network = _first_network(label)
    judgement = classify(fetch(UA_CHROME, 30, network=network))
    assert (judgement.verdict, judgement.confidence) == ("human", 0.85)
    assert judgement.reasons == (
        "ua:client:browser",
        "first-fetch",
        "after-delivery:30s",
        f"net:{label}",
    )


# -- bursts and timing ---------------------------------------------------------------------


@pytest.mark.parametrize("burst", [BURST_SIZE, BURST_SIZE + 1, 5])
def test_a_burst_is_a_scanner(burst: int) -> None:
    judgement = classify(fetch(UA_CHROME, burst=burst))
    assert (judgement.verdict, judgement.confidence) == ("scanner", 0.8)
    assert judgement.reasons[:2] == (f"burst:{burst}", "ua:client:browser")
    # A person seen before does not excuse a burst.
    assert classify(fetch(UA_CHROME, burst=burst, repeat=True)).verdict == "scanner"


def test_less_than_a_burst_is_not() -> None:
    assert BURST_SIZE >= 2
    assert classify(fetch(UA_CHROME, burst=BURST_SIZE - 1)).verdict == "human"


def test_a_gateway_network_outranks_a_burst() -> None:
    judgement = classify(fetch(UA_CHROME, 20, network="40.94.89.0/24", burst=BURST_SIZE))
    assert judgement.reasons[0] == "net:microsoft"


def test_a_burst_outranks_timing() -> None:
    assert classify(fetch(UA_CHROME, 1, burst=BURST_SIZE)).reasons[0] == f"burst:{BURST_SIZE}"


def test_too_fast_after_delivery_is_a_scanner() -> None:
    limit = TOO_FAST_AFTER_DELIVERY.total_seconds()
    for after in (-5, 0, 1, limit):
        judgement = classify(fetch(UA_OUTLOOK, after))
        assert (judgement.verdict, judgement.confidence) == ("scanner", 0.7), after
        assert judgement.reasons[:2] == ("timing:too-fast", "ua:client:outlook")
    assert classify(fetch(UA_OUTLOOK, limit + 1)).verdict == "human"


@pytest.mark.parametrize("after", [4, 10, 45, 90])
def test_a_person_can_open_within_a_minute_of_delivery(after: float) -> None:
    assert after > TOO_FAST_AFTER_DELIVERY.total_seconds()
    assert classify(fetch(UA_CHROME, after)).verdict == "human"


def test_a_repeat_is_never_too_fast() -> None:
    judgement = classify(fetch(UA_OUTLOOK, 1, repeat=True))
    assert (judgement.verdict, judgement.confidence) == ("human", 0.9)


def test_the_send_time_alone_never_makes_a_fetch_too_fast() -> None:
    judgement = classify(fetch(UA_OUTLOOK, 1, delivered=False))
    assert judgement.verdict == "human"
    assert judgement.reasons == ("ua:client:outlook", "first-fetch", "after-send:1s")


# -- context reasons -------------------------------------------------------------------------


@pytest.mark.parametrize(("signals", "_verdict", "_confidence", "_reason"), CATALOGUE.values())
def test_every_verdict_carries_the_context(
    signals: FetchSignals, _verdict: str, _confidence: float, _reason: str
) -> None:
    seconds = int((signals.at - DELIVERED).total_seconds())
    first = "repeat-fetch" if signals.repeat else "first-fetch"
    assert context(classify(signals)) == (first, f"after-delivery:{seconds}s")
    assert context(classify(replace(signals, repeat=True))) == (
        "repeat-fetch",
        f"after-delivery:{seconds}s",
    )


def test_context_anchors_on_delivery_then_send_then_nothing() -> None:
    assert context(classify(fetch(UA_OUTLOOK, 600))) == ("first-fetch", "after-delivery:600s")
    assert context(classify(fetch(UA_OUTLOOK, 600, delivered=False))) == (
        "first-fetch",
        "after-send:600s",
    )
    bare = replace(fetch(UA_OUTLOOK), sent_at=None, delivered_at=None)
    assert classify(bare).reasons == ("ua:client:outlook", "first-fetch")


def test_reasons_never_repeat_and_the_decisive_one_comes_first() -> None:
    for signals, *_ in CATALOGUE.values():
        for variant in (signals, replace(signals, network="40.94.89.0/24")):
            reasons = classify(variant).reasons
            assert len(reasons) == len(set(reasons)), reasons
            assert not reasons[0].endswith("-fetch")
            assert not reasons[0].startswith("after-")


@pytest.mark.parametrize("kind", ["open", "click", "view"])
def test_the_kind_of_fetch_does_not_change_the_verdict(kind: str) -> None:
    for template, (signals, verdict, *_) in CATALOGUE.items():
        if template in REPLAYS and kind == "open":
            continue  # a replay is of a link: an open is no replay
        assert classify(replace(signals, kind=kind)).verdict == verdict  # type: ignore[arg-type]


def test_confidences_are_rounded_probabilities() -> None:
    for signals, *_ in CATALOGUE.values():
        confidence = classify(signals).confidence
        assert 0 < confidence <= 1
        assert round(confidence, 2) == confidence


# -- tests/fixtures/user-agents.tsv ------------------------------------------------------------


def _tsv_rows() -> list[dict[str, str]]:
    with USER_AGENTS_TSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


TSV_ROWS = _tsv_rows()
KIND_VERDICT = {
    "human": "human",
    "proxy": "proxy",
    "privacy-prefetch": "privacy_prefetch",
    "security-scanner": "scanner",
    # Preview bots and headless browsers: "scanner" in the module's own docstring.
    "unknown": "scanner",
}


def _is_generic_microsoft_scanner(row: dict[str, str]) -> bool:
    """Microsoft's scanners use ordinary browser user agents (see SOURCES.md)."""
    return row["kind"] == "security-scanner" and row["client"].startswith("Microsoft")


def test_the_tsv_is_well_formed() -> None:
    assert len(TSV_ROWS) >= 30
    for row in TSV_ROWS:
        assert set(row) == {"user_agent", "client", "kind", "source"}
        assert all(row.values()), row
        assert row["kind"] in KIND_VERDICT
    assert len({r["user_agent"] for r in TSV_ROWS}) == len(TSV_ROWS)
    assert sum(map(_is_generic_microsoft_scanner, TSV_ROWS)) == 2


@pytest.mark.parametrize("row", TSV_ROWS, ids=[r["client"] for r in TSV_ROWS])
def test_every_tsv_row_at_a_persons_timing(row: dict[str, str]) -> None:
    """Two hours after delivery, network unknown: only the user agent can tell."""
    judgement = classify(fetch(row["user_agent"]))
    if _is_generic_microsoft_scanner(row):
        # The documented limit: by user agent alone, Microsoft's scanners are people.
        assert (judgement.verdict, judgement.reasons[0]) == ("human", "ua:client:browser")
    else:
        assert judgement.verdict == KIND_VERDICT[row["kind"]], judgement.reasons
    assert judgement.is_person is (judgement.verdict in ("human", "proxy"))


@pytest.mark.parametrize(
    "row",
    [r for r in TSV_ROWS if _is_generic_microsoft_scanner(r)],
    ids=lambda r: r["client"],
)
def test_microsofts_scanners_are_caught_only_by_network_or_timing(row: dict[str, str]) -> None:
    ua = row["user_agent"]
    by_network = classify(fetch(ua, 30, network="40.94.89.0/24", kind="click"))
    assert (by_network.verdict, by_network.reasons[0]) == ("scanner", "net:microsoft")
    by_ipv6_network = classify(fetch(ua, 30, network="2a01:111:f403:c000::/48", kind="click"))
    assert (by_ipv6_network.verdict, by_ipv6_network.reasons[0]) == ("scanner", "net:microsoft")
    by_timing = classify(fetch(ua, 1, kind="click"))
    assert (by_timing.verdict, by_timing.reasons[0]) == ("scanner", "timing:too-fast")
    assert classify(fetch(ua, 30, kind="click")).verdict == "human"
    assert classify(fetch(ua, 30, network="203.0.113.0/24", kind="click")).verdict == "human"


# -- the detection libraries stay off the pixel's cold start ---------------------------------

_LAZY_IMPORT_PROBE = """
import json
import sys
from datetime import UTC, datetime
import chalicelib.core.status  # what the pixel handler loads
from chalicelib.core.classification import FetchSignals, classify

LIBRARIES = ("device_detector", "crawleruseragents", "crawlerdetect")

def judge(ua):
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    return classify(FetchSignals("open", at, ua, None, "GET", None, None, 1, False))

def loaded():
    return [name for name in LIBRARIES if name in sys.modules]

for ua in json.loads(sys.argv[1]):
    judge(ua)
assert loaded() == [], f"loaded for a common mail client: {loaded()}"
judge(sys.argv[2])
assert loaded() == [], f"a plain browser needs only the kept pattern list: {loaded()}"
judge("SomethingElse/1.0")
assert "device_detector" in loaded(), "never loaded for an unrecognised agent"
print("ok")
"""


def test_common_mail_clients_load_no_detection_library() -> None:
    common = [
        UA_OUTLOOK,
        UA_THUNDERBIRD,
        UA_APPLE_MAIL,
        UA_GMAIL_PROXY,
        UA_MPP,
        UA_FAKE_EDGE,
        "Outlook-iOS/711.2304115.prod.iphone (3.26.0)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148",
        "Mimecast URL Protect",
        "",
    ]
    result = subprocess.run(
        [sys.executable, "-c", _LAZY_IMPORT_PROBE, json.dumps(common), UA_CHROME],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
